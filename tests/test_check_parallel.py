"""The cold check on every core gives what it gives on one: same partners, order and problems."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from partnerdir import parallel
from partnerdir.check import check, check_files
from partnerdir.load import record_files
from partnerdir.project import Paths
from partnerdir.rules import load_rules
from tests.test_incremental import tree
from tests.test_validate import AS_OF, content_folder, record

PLAIN = (("projects:\n  - title: Open banking gateway\n    completed: 2025-06-30\n    country: DE\n"
          "    products: [api-manager]\n    distribution: supported\n    outcome: successful\n",
          "projects:\n  - {title: Open banking gateway, completed: 2025-06-30, country: DE, "
          "products: [api-manager], distribution: supported, outcome: successful}\n"),)


def many_records() -> dict[str, str]:
    """450 records (over parallel.MIN_PARTNERS), both formats, both YAML readers, and problems
    of every kind spread over many batches."""
    files = {}
    for i in range(450):
        fmt = "md" if i % 2 else "yaml"
        # Most take the plain-subset reader; every third the fixture's block-style project (libyaml).
        files[f"p{i:03d}.{fmt}"] = record(fmt, PLAIN if i % 3 else ())
    files["p007.md"] = record("md", (("[emea]", "[europe]"),))  # unknown region
    files["p100.yaml"] = record("yaml", (("joined: 2021-03-15", "joined: 2021-02-30"),))  # no such date
    files["p101.yaml"] = record("yaml", (("name: Northwind", "name: [Northwind"),))  # broken YAML
    files["p203.md"] = record("md", (("countries_served: [DE, AT, CH]", "countries_served: [DE, AT, DE]"),))
    files["p300.yaml"] = record("yaml", (("industries: [banking, telecom]", "industry: [banking]"),))
    files["p301.yaml"] = "\x00"  # a control character
    files["p302.md"] = "no front matter\n"
    # The same slug twice: p024.md and p024.yaml, where one batch of 25 ends and the next begins.
    files["p024.md"] = record("md", PLAIN)
    files["p449.yaml"] = record("yaml", (("headquarters: {city: Berlin", "headquarters: {city: ' '"),))
    return files


def outcome(checked):
    return ([(p.slug, p.source, p.model_dump()) for p in checked.partners],
            [p.text() for p in checked.problems])


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return content_folder(tmp_path_factory.mktemp("many"), many_records())


def test_the_check_on_every_core_is_the_check_on_one(folder, monkeypatch):
    serial = check(Paths(content=folder), AS_OF, workers=1)
    parallel_ = check(Paths(content=folder), AS_OF, workers=2)
    monkeypatch.setenv("PARTNERDIR_WORKERS", "1")
    by_environment = check(Paths(content=folder), AS_OF)
    assert outcome(parallel_) == outcome(serial) == outcome(by_environment)
    assert len(serial.partners) == len(many_records()) - 9  # 455 files, 9 with a problem
    assert [(p.path.rsplit("/", 1)[1], p.line, p.field) for p in serial.problems] == [
        ("p007.md", 9, "regions_served[0]"),
        ("p024.yaml", 1, "slug"),
        ("p100.yaml", 4, "joined"),
        ("p101.yaml", 2, ""),
        ("p203.md", 8, "countries_served[2]"),
        ("p300.yaml", 11, "industry"),
        ("p301.yaml", 1, ""),
        ("p302.md", 1, ""),
        ("p449.yaml", 6, "headquarters.city"),
    ]
    assert "already used by" in serial.problems[1].message
    assert [p.slug for p in serial.partners] == sorted(p.slug for p in serial.partners)


def test_check_files_gives_every_batch_in_file_order_whoever_read_it(folder):
    rules = load_rules(Paths().rules)
    files, problems = record_files(folder)
    one = check_files(folder, files, problems, rules, AS_OF, workers=1)
    two = check_files(folder, files, problems, rules, AS_OF, workers=2)
    assert [p.model_dump() for p in one[0]] == [p.model_dump() for p in two[0]]
    assert [p.text() for p in one[1]] == [p.text() for p in two[1]]


def _pid_after(seconds: float):
    def job(item):
        time.sleep(seconds)
        return item, os.getpid()
    return job


def test_fork_share_gives_every_result_once_and_this_process_works_too():
    if not parallel.can_fork():
        pytest.skip("no fork on this system")
    got = dict(parallel.fork_share(_pid_after(0.01), list(range(40)), 1))
    assert sorted(got) == list(range(40))
    assert all(got[i][0] == i for i in got)
    pids = {pid for _, pid in got.values()}
    assert os.getpid() in pids and len(pids) == 2  # this process and one worker


def test_fork_share_does_here_what_a_worker_failed_or_died_on():
    if not parallel.can_fork():
        pytest.skip("no fork on this system")
    parent = os.getpid()

    def job(item):
        if os.getpid() != parent:
            if item == 3:
                raise ValueError("only in the worker")
            if item == 5:
                os._exit(1)  # the worker dies with the item it took
        time.sleep(0.005)
        return item * 2

    got = dict(parallel.fork_share(job, list(range(30)), 1))
    assert got == {i: i * 2 for i in range(30)}


def test_fork_share_raises_what_fails_here_too():
    def job(item):
        if item == 2:
            raise ValueError(f"item {item} is broken")
        return item

    with pytest.raises(ValueError, match="item 2 is broken"):
        list(parallel.fork_share(job, list(range(10)), 1))
    with pytest.raises(ValueError, match="item 2 is broken"):
        list(parallel.fork_share(job, list(range(10)), 0))


@pytest.mark.parametrize("processes", [0, 1])
def test_share_map_keeps_the_order_and_does_meanwhile_once_before_its_own_share(processes):
    """The render stage hands its list of work to share_map: results must come back in the
    list's order whoever did each item, and the cache saving it does meanwhile must happen
    once, in this process, after the workers are forked (a worker never sees it half done)."""
    parent = os.getpid()
    calls = []

    def meanwhile():
        calls.append(("meanwhile", os.getpid()))

    def job(item):
        if os.getpid() == parent:
            calls.append(("job", item))
        time.sleep(0.005)
        return item * 3, os.getpid()

    got = parallel.share_map(job, list(range(25)), processes, meanwhile)
    assert [value for value, _ in got] == [i * 3 for i in range(25)]
    assert calls[0] == ("meanwhile", parent) and calls.count(("meanwhile", parent)) == 1
    pids = {pid for _, pid in got}
    if processes and parallel.can_fork():
        assert len(pids) == 2  # a worker and this process


def test_shown_paths_are_the_paths_messages_print(tmp_path, monkeypatch):
    from partnerdir.load import shown_paths
    from partnerdir.problems import relative

    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "a")
    paths = [tmp_path / "a" / "x.yaml", tmp_path / "a" / "b" / "y.md", tmp_path / "link" / "z.yaml",
             tmp_path / "a" / "w.yaml", tmp_path / "elsewhere.md"]
    for cwd in (tmp_path, tmp_path / "a", tmp_path / "a" / "b"):
        monkeypatch.chdir(cwd)
        assert shown_paths(paths) == [relative(p) for p in paths]
    assert shown_paths([Path("x.yaml")]) == [relative(Path("x.yaml"))] == ["x.yaml"]


BROKEN = ("p007.md", "p100.yaml", "p101.yaml", "p203.md", "p300.yaml", "p301.yaml", "p302.md", "p024.md",
          "p449.yaml")


def _build(content: Path, out: Path, workers: str, monkeypatch):
    """A build from nothing on `workers` cores (its own cache), and how many partners this
    process adopted from the check's worker (`cache._adopt`: a cold build reads none from the
    cache)."""
    from partnerdir import cache
    from partnerdir.pipeline import build_site

    adopted = []
    adopt = cache._adopt
    monkeypatch.setattr(cache, "_adopt", lambda memo, entry, decoders: adopted.append(1) or
                        adopt(memo, entry, decoders))
    monkeypatch.setenv("PARTNERDIR_WORKERS", workers)
    cache._MEMOS.clear()  # a new process
    result = build_site(Paths(content=content, out=out, cache=out.parent / ".cache"), AS_OF, search=False)
    monkeypatch.undo()
    return result, len(adopted)


def test_a_build_on_two_cores_takes_the_workers_checked_partners_as_its_own(tmp_path, folder, monkeypatch):
    """A build's check on two cores: the worker validates its batches itself and sends their
    cache entries (`check.HandOver`), which this process adopts. The site is a one-core build's,
    byte for byte, and so are the problems, on the lines they are on."""
    if not parallel.can_fork():
        pytest.skip("no fork on this system")
    from benchmarks.generate import generate

    good = tmp_path / "good" / "partners"
    generate(450, good, seed=3)  # (both formats, partners at every status, some removed at the review)
    one, none_adopted = _build(good, tmp_path / "one" / "site", "1", monkeypatch)
    two, adopted = _build(good, tmp_path / "two" / "site", "2", monkeypatch)
    assert one.ok and two.ok, [p.text() for p in one.problems + two.problems]
    assert none_adopted == 0 and 50 < adopted < 400 and two.listed == one.listed > 400  # both checked some

    files = tree(tmp_path / "one" / "site")
    assert len(files) > 450 and files == tree(tmp_path / "two" / "site")

    broken_one, _ = _build(folder, tmp_path / "b1" / "site", "1", monkeypatch)
    broken_two, adopted = _build(folder, tmp_path / "b2" / "site", "2", monkeypatch)
    assert adopted > 50 and not broken_two.ok
    assert [p.text() for p in broken_two.problems] == [p.text() for p in broken_one.problems]
    assert [(p.path.rsplit("/", 1)[1], p.line) for p in broken_two.problems] == [
        ("p007.md", 9), ("p024.yaml", 1), ("p100.yaml", 4), ("p101.yaml", 2), ("p203.md", 8),
        ("p300.yaml", 11), ("p301.yaml", 1), ("p302.md", 1), ("p449.yaml", 6)]
