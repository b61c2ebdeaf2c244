"""Progress of a long build: a bar per stage on a terminal, a plain log line per stage elsewhere.

A build of thousands of partners takes long enough that an editor wonders whether it hangs;
a CI log, on the other hand, must stay readable, so it gets one line per stage (and a line
every `heartbeat` seconds for a stage that runs long) instead of carriage-return animations.

    progress = Progress()                      # stderr; bars only if stderr is a terminal
    progress.stage("render", len(partners))
    for partner in partners:
        ...
        progress.advance()
    progress.stage("index")                    # ends "render", starts "index" (total unknown)
    progress.done()                            # ends the last stage

Drawing is rate-limited, so calling advance() once per partner costs next to nothing.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TextIO

BAR_WIDTH = 24
REDRAW_SECONDS = 0.1


class Progress:
    def __init__(self, stream: TextIO | None = None, *, interactive: bool | None = None,
                 enabled: bool = True, heartbeat: float = 30.0,
                 clock: Callable[[], float] = time.monotonic):
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.interactive = _is_terminal(self.stream) if interactive is None else interactive
        self.heartbeat = heartbeat
        self.clock = clock
        self.name: str | None = None
        self.total = 0
        self.count = 0
        self._started = 0.0
        self._drawn_at = 0.0
        self._logged_at = 0.0
        self._width = 0
        encoding = (getattr(self.stream, "encoding", None) or "").lower().replace("-", "")
        self._fill, self._empty = ("█", "░") if encoding in ("utf8", "utf8sig") else ("#", "-")
        self.timings: list[tuple[str, int, float]] = []  # (stage, items, seconds), for the caller

    @classmethod
    def quiet(cls) -> Progress:
        """A Progress that shows nothing: for tests and for `serve`, which reports its own way."""
        return cls(enabled=False)

    # -- the interface the pipeline calls -----------------------------------------------------

    def stage(self, name: str, total: int = 0) -> Progress:
        """End the current stage (if any) and start `name` with `total` items (0: unknown)."""
        self._finish()
        self.name, self.total, self.count = name, max(int(total), 0), 0
        self._started = self._drawn_at = self._logged_at = self.clock()
        if self.enabled and self.interactive:
            self._draw()
        return self

    def advance(self, n: int = 1) -> None:
        self.count += n
        if not self.enabled:
            return
        now = self.clock()
        if self.interactive:
            if now - self._drawn_at >= REDRAW_SECONDS:
                self._drawn_at = now
                self._draw()
        elif self.heartbeat and now - self._logged_at >= self.heartbeat:
            self._logged_at = now
            self._write(f"{self.name}: {self._counts()} ...\n")

    def done(self) -> None:
        """End the last stage."""
        self._finish()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self._finish()
        elif self.enabled and self.interactive and self.name is not None:
            self._write("\n")  # leave the half-drawn bar on its line so the error starts clean
            self.name = None

    # -- drawing ------------------------------------------------------------------------------

    def _counts(self) -> str:
        if self.total:
            return f"{min(self.count, self.total):,}/{self.total:,}"
        return f"{self.count:,}"

    def _draw(self) -> None:
        elapsed = self.clock() - self._started
        if self.total:
            share = min(self.count / self.total, 1.0)
            filled = round(share * BAR_WIDTH)
            bar = self._fill * filled + self._empty * (BAR_WIDTH - filled)
            line = f"{self.name:<10} {bar} {share:4.0%} {self._counts()} {elapsed:5.1f}s"
        else:
            line = f"{self.name:<10} {self._counts()} {elapsed:5.1f}s"
        pad = max(self._width - len(line), 0)
        self._width = len(line)
        self._write("\r" + line + " " * pad)

    def _finish(self) -> None:
        if self.name is None:
            return
        elapsed = self.clock() - self._started
        self.timings.append((self.name, self.count, elapsed))
        if self.enabled:
            if self.interactive:
                if self.total:
                    self.count = max(self.count, self.total)
                self._draw()
                self._write("\n")
            else:
                self._write(f"{self.name}: {self._counts()} done in {elapsed:.2f}s\n")
        self.name = None
        self._width = 0

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed pipe must not fail the build
            self.enabled = False


def _is_terminal(stream: TextIO) -> bool:
    if os.environ.get("TERM") == "dumb" or os.environ.get("CI"):
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
