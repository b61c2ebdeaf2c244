"""Build progress: bars on a terminal, a readable log in CI."""

from __future__ import annotations

import io

from partnerdir.progress import Progress


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_ci_log_has_one_plain_line_per_stage_with_counts_and_time():
    out, clock = io.StringIO(), Clock()
    progress = Progress(out, interactive=False, clock=clock)
    progress.stage("validate", 3)
    for _ in range(3):
        clock.now += 0.25
        progress.advance()
    progress.stage("index")
    progress.advance(40)
    clock.now += 1
    progress.done()
    assert out.getvalue() == "validate: 3/3 done in 0.75s\nindex: 40 done in 1.00s\n"
    assert [(name, n) for name, n, _ in progress.timings] == [("validate", 3), ("index", 40)]


def test_ci_log_shows_a_heartbeat_during_a_long_stage():
    out, clock = io.StringIO(), Clock()
    progress = Progress(out, interactive=False, heartbeat=30, clock=clock)
    progress.stage("render", 1000)
    for _ in range(1000):
        clock.now += 0.125  # 125 s in all
        progress.advance()
    progress.done()
    lines = out.getvalue().splitlines()
    assert lines == ["render: 240/1,000 ...", "render: 480/1,000 ...", "render: 720/1,000 ...",
                     "render: 960/1,000 ...", "render: 1,000/1,000 done in 125.00s"]
    assert "\r" not in out.getvalue()


def test_terminal_shows_a_bar_that_fills_and_ends_on_its_own_line():
    out, clock = io.StringIO(), Clock()
    progress = Progress(out, interactive=True, clock=clock)
    progress.stage("render", 4)
    for _ in range(2):
        clock.now += 0.2
        progress.advance()
    frames = out.getvalue().split("\r")[1:]
    assert "  0%" in frames[0] and "0/4" in frames[0]
    assert " 50%" in frames[-1] and "2/4" in frames[-1] and "##" in frames[-1]
    progress.done()
    last = out.getvalue().split("\r")[-1]
    assert "100%" in last and "4/4" in last and last.endswith("\n")
    assert "-" not in last.split()[1], "the bar is full"


def test_redraws_are_rate_limited():
    out, clock = io.StringIO(), Clock()
    progress = Progress(out, interactive=True, clock=clock)
    progress.stage("render", 100_000)
    for _ in range(100_000):
        progress.advance()  # the clock does not move: no redraw after the first frame
    assert out.getvalue().count("\r") == 1


def test_quiet_progress_writes_nothing_but_still_times_stages():
    progress = Progress.quiet()
    progress.stage("load", 2)
    progress.advance(2)
    progress.done()
    assert progress.timings[0][:2] == ("load", 2)


def test_a_closed_output_does_not_fail_the_build():
    out = io.StringIO()
    progress = Progress(out, interactive=False)
    out.close()
    progress.stage("load", 1)
    progress.advance()
    progress.done()
    assert not progress.enabled


def test_an_error_leaves_the_bar_line_and_starts_a_new_one():
    out = io.StringIO()
    try:
        with Progress(out, interactive=True) as progress:
            progress.stage("render", 10)
            progress.advance(3)
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert out.getvalue().endswith("\n") and "100%" not in out.getvalue()
