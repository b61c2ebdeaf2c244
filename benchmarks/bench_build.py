#!/usr/bin/env python3
"""Time every build stage on N generated partners: `python benchmarks/bench_build.py [N ...]`.

For each N (default 100, 1,000 and 10,000) the seeded generator (benchmarks/generate.py) writes
N Markdown records once into benchmarks/out/records-N/ (git-ignored), then each measurement
runs in a fresh Python process, as the `build` command does:

  cold     nothing to reuse: no output folder, an empty cache; times load, validate, award,
           render, write (and index with --search), the whole build and its peak memory
  no-op    the same build again in a new process, nothing changed
  edit     one listed partner's record edited (a sentence added to its description), rebuilt
           in a new process (what `build` does after a save)
  edit evidence  a project's title edited in one listed partner's record: part of its listed
           data, though no listing shows it (its page and open data entries change)
  edit listed  the same with a country served added or removed too: listing pages change
  edit renamed  one listed partner renamed ("Renamed " put before its name, or taken off): it
           moves in the order, past most of its status's partners, and in every list
  logo added  a logo file added that no record names yet (an editor adding the newcomer's
           logo first): no record is checked again, no page changes
  added    a new partner's record added (a listed partner's under another name and file, with
           that logo): every directory page changes (each says how many partners are listed)
  logo replaced  the newcomer's logo file replaced by another picture: its record checked
           again, the logo copied into the site
  deleted  that record deleted again (its logo leaves the site)
  edit at once  a description edited and built the moment it is saved, as an editor running
           `build` from their editor does, right after an edit to listed data built the same
           way (`edit listed at once`): the files are then too new for their metadata to vouch
           for them (git's racy-file rule), which the edits above, dated a while back, skip
  warm cache   the output folder deleted, the cache kept (CI restoring .cache/ with actions/cache)
  ci       what CI really gets: that, from a fresh checkout (every record, template and
           programs.yaml written again with the same bytes: new inodes and times) and, with
           --search, Pagefind installed again (copied)
  serve    in one process that built the site first (what `serve` does): nothing changed,
           then the two edits above

With --rounds K, each measurement is made K times, the rebuilds round by round (the edits
alternate, so every round edits the record again), and the table shows the median; the JSON
keeps every round's wall times. On a noisy machine one measurement can be a third off.

The code, templates and programs.yaml are copied to benchmarks/out/project/ first and built
from there, so edits made in the working tree while it runs do not turn a no-op into a rebuild.
Peak memory is the largest resident size of the build process or any of its workers. Not a
test: numbers depend on the machine and what else runs on it; CPU seconds (user + system, all
processes) are printed beside wall seconds because they are steadier on a busy machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "benchmarks" / "out"
STAGES = ("check", "load", "validate", "award", "cache", "render", "write", "index")

# Runs in a child process: builds with the real pipeline and prints one JSON line.
DRIVER = r'''
import datetime as dt, json, os, resource, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
content, out, cache_dir = (Path(a) for a in sys.argv[2:5])
mode, search = sys.argv[5], sys.argv[6] == "1"
if mode != "serve":  # as build.py runs a build (serve, which runs on, keeps the collector)
    import gc
    gc.disable()
# (only what build.py imports before it builds: the check's module, with pydantic, is imported
# by the builds that check a record, and a no-op's process would otherwise wait for it too)
from partnerdir import pipeline
from partnerdir.pipeline import build_site
from partnerdir.project import Paths

def cpu():
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

def listed_record(having: str = "") -> Path:
    """A record in the middle whose partner is listed (has a page), so the edit shows, and
    whose text holds `having`."""
    records = sorted(content.glob("*.md"))
    for record in records[len(records) // 2:] + records[:len(records) // 2]:
        if (out / "partners" / record.stem / "index.html").is_file() and \
                having in record.read_text(encoding="utf-8"):
            return record
    raise SystemExit("no listed partner to edit")

def edit_project(step: int) -> None:
    """The first project's title changed (the generator writes projects as {title: ..., ...})."""
    import re
    record = listed_record("- {title: ")
    before = record.read_text(encoding="utf-8")
    for version in (step, step + 100):  # (the records stay from an earlier run, maybe edited alike)
        text = re.sub(r"(\n  - \{title: [^,(]*?)( \(v\d+\))?,", lambda m: f"{m.group(1)} (v{version}),",
                      before, count=1)
        if text != before:
            break
    record.write_text(text, encoding="utf-8")
    later = time.time() - 3600 + step
    os.utime(record, (later, later))

def edit_name(step: int) -> None:
    """A listed partner's name with "Renamed " put before it, or taken off again."""
    import re
    record = listed_record()
    before = record.read_text(encoding="utf-8")
    name = re.search(r"(?m)^name: (.*)$", before)
    was = name.group(1)
    now = was[len("Renamed "):] if was.startswith("Renamed ") else "Renamed " + was
    record.write_text(before.replace(name.group(0), "name: " + now, 1), encoding="utf-8")
    later = time.time() - 3600 + step
    os.utime(record, (later, later))

NEWCOMER = "zz-benchmark-newcomer.md"
LOGO = "logos/zz-benchmark-newcomer.svg"

def add_partner(step: int) -> None:
    """A new record: a listed partner's, renamed, in a file of its own, naming the logo."""
    import re
    source = listed_record()
    text = re.sub(r"(?m)^name: .*$", f"name: Benchmark Newcomer\nlogo: {LOGO}",
                  source.read_text(encoding="utf-8"), count=1)
    record = content / NEWCOMER
    record.write_text(text, encoding="utf-8")
    later = time.time() - 3600 + step
    os.utime(record, (later, later))

def write_logo(step: int) -> None:
    """The newcomer's logo, in another colour than it had."""
    logo = content / LOGO
    logo.parent.mkdir(exist_ok=True)
    colour = "a06" if logo.is_file() and "0a6" in logo.read_text(encoding="utf-8") else "0a6"
    logo.write_text('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect width="10" '
                    f'height="10" fill="#{colour}"/></svg>', encoding="utf-8")
    later = time.time() - 3600 + step
    os.utime(logo, (later, later))

def edit(step: int, listed: bool = False, at_once: bool = False) -> None:
    """A sentence added to the description; with `listed`, a country served added or removed
    too, which changes listing pages, facet counts and directory.json; with `at_once`, built
    the moment it is saved."""
    record = listed_record()
    before = record.read_text(encoding="utf-8")
    marker = "\nEdited for the benchmark"
    text = before.split(marker)[0].rstrip("\n") + f"{marker} ({step}).\n"
    if text == before:  # (the records stay from an earlier run, which may have ended with this edit)
        text = before.split(marker)[0].rstrip("\n") + f"{marker} ({step}, again).\n"
    if listed:
        added = "countries_served: [IS, "
        text = text.replace(added, "countries_served: [", 1) if added in text else \
            text.replace("countries_served: [", added, 1)
    record.write_text(text, encoding="utf-8")
    if not at_once:
        later = time.time() - 3600 + step  # settled: as a file saved a while ago
        os.utime(record, (later, later))

paths = Paths(content=content, out=out, cache=cache_dir)
# (the date every mode builds for, until "next day" moves it on: kept beside the cache)
day_file = cache_dir.parent / "as-of.txt"
as_of = dt.date.fromisoformat(day_file.read_text()) if day_file.is_file() else dt.date(2026, 11, 15)
if mode == "next day":  # the first build of a day: every page shows the new date
    as_of += dt.timedelta(days=1)
    day_file.write_text(as_of.isoformat())
report = {}
def build(label):
    checking = sys.modules.get("partnerdir.check")
    if checking is not None:
        checking.last_check.clear()
    # serve saves a rebuild's cache behind its preview, while the editor types the next change
    getattr(pipeline, "wait_persisted", lambda: None)()
    start, before = time.perf_counter(), cpu()
    # (serve rebuilds its preview in place, and shows it before its search index is made behind
    # it; its first build, into a new folder, is a whole one)
    # (the `build` command keeps nothing for a next build in its process: remember=False, which
    # is also what lets it take the quick rebuild from the snapshot)
    serving = {"remember": True, "in_place": True, "search_later": True} if mode == "serve" else \
        {"remember": False}
    result = build_site(paths, as_of, search=search, **serving)
    wall = time.perf_counter() - start
    assert result.ok, [p.text() for p in result.problems[:5]]
    stages = {}
    for name, seconds in result.timings:  # "cache" comes twice: before and after rendering
        stages[name] = stages.get(name, 0.0) + seconds
    # the check stage reads and parses on every core while it validates what has arrived
    checking = sys.modules.get("partnerdir.check")
    if checking is not None:
        stages.update(checking.last_check)
    report[label] = {"wall": wall, "cpu": cpu() - before, "stages": stages, "files": result.files,
                     "written": result.written, "unchanged": result.unchanged, "listed": result.listed}
    later = getattr(result, "search_later", None)
    if later is not None:  # the search catching up: the index made behind the preview
        _, problems = later.run()
        assert not problems, [p.text() for p in problems]
        report[label]["search_ready"] = time.perf_counter() - start

if mode == "edit":
    edit(1)
if mode == "edit evidence":
    edit_project(5)
if mode == "edit listed":
    edit(2, listed=True)
if mode == "edit renamed":
    edit_name(8)
if mode == "logo added":
    write_logo(10)
if mode == "added":
    add_partner(9)
if mode == "logo replaced":
    write_logo(11)
if mode == "deleted":
    (content / NEWCOMER).unlink()
if mode == "edit listed at once":
    edit(6, listed=True, at_once=True)
if mode == "edit at once":
    edit(7, at_once=True)
if mode == "warm cache":  # what CI gets from actions/cache: .cache/ restored, no output folder
    import shutil
    shutil.rmtree(out)
if mode == "ci":  # and from a fresh checkout: the same bytes in new files, Pagefind installed again
    import shutil
    shutil.rmtree(out)
    project = Path(sys.argv[1])
    for folder in (content, project / "templates", project / "data"):
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            data = path.read_bytes()
            path.unlink()
            path.write_bytes(data)
            os.utime(path, (time.time() - 600, time.time() - 600))
    if search:
        from partnerdir.index import pagefind_binary
        installed = cache_dir.parent / "pagefind-ci"
        installed.unlink(missing_ok=True)
        shutil.copy(pagefind_binary(), installed)
        os.environ["PAGEFIND_BINARY_PATH"] = str(installed)
build(mode)
if mode == "serve":
    build("serve no-op")
    edit(3)
    build("serve edit")
    edit(4, listed=True)
    build("serve edit listed")
peak = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
for value in report.values():
    value["peak_mib"] = peak / 1024
print(json.dumps(report))
# As build.py ends: the threads still freeing replaced files finish, and the process ends
# without taking its objects apart (which took a rebuild's driver up to half a second).
import threading
for thread in threading.enumerate():
    if thread is not threading.main_thread() and not thread.daemon:
        thread.join()
sys.stdout.flush()
os._exit(0)
'''


def records(n: int, seed: int) -> Path:
    from benchmarks.generate import generate

    folder = OUT / f"records-{n}-seed{seed}"
    done = folder / ".complete"
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        start = time.perf_counter()
        generate(n, folder, seed, "md")
        past = time.time() - 7200  # settled files, as a checked-out repository's are
        for path in folder.iterdir():
            os.utime(path, (past, past))
        done.write_text("")
        print(f"generated {n:,} records in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return folder


def snapshot(work: Path) -> Path:
    """A copy of the project's code and site sources, dated in the past like a checkout, and
    compiled as an installed package is: with PYTHONDONTWRITEBYTECODE set (as some shells and
    tools set it), every build process would otherwise compile the package again (a tenth of
    a second, which a one-record rebuild would mostly be)."""
    import compileall

    target = work / "project"
    shutil.rmtree(target, ignore_errors=True)
    for name in ("partnerdir", "templates", "data"):
        shutil.copytree(ROOT / name, target / name, ignore=shutil.ignore_patterns("__pycache__"))
    past = time.time() - 7200
    for path in target.rglob("*"):
        os.utime(path, (past, past))
    compileall.compile_dir(target / "partnerdir", quiet=1)
    return target


def run(project: Path, content: Path, out: Path, cache_dir: Path, mode: str, search: bool) -> dict:
    command = [sys.executable, "-c", DRIVER, str(project), str(content), str(out), str(cache_dir), mode,
               "1" if search else "0"]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=project)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{mode} build failed:\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    report[mode]["process_wall"] = wall  # with interpreter start-up and imports, as a user waits
    return report


def median_of(reports: list[dict]) -> dict:
    """The report of the round with the median wall time (the lower one of an even count),
    with every round's wall times beside it."""
    ranked = sorted(reports, key=lambda r: r["wall"])
    chosen = dict(ranked[(len(ranked) - 1) // 2])
    if len(reports) > 1:
        chosen["rounds"] = [r["wall"] for r in reports]
        chosen["process_rounds"] = [r.get("process_wall") for r in reports]
    return chosen


def measure_rounds(rounds: int, measure) -> dict:
    """`measure()` (one process's reports by label) `rounds` times, each label's median."""
    seen: dict[str, list[dict]] = {}
    for _ in range(rounds):
        for label, report in measure().items():
            seen.setdefault(label, []).append(report)
    return {label: median_of(reports) for label, reports in seen.items()}


def measure_size(project: Path, content: Path, work: Path, args: argparse.Namespace) -> dict:
    """Every measurement of one N, each the median of `args.rounds` (see `measure_rounds`)."""
    out, cache_dir, preview = work / "site", work / "cache", work / "preview"
    rounds = max(1, args.rounds)
    edits = ("no-op", "edit", "edit evidence", "edit listed", "edit renamed", "logo added", "added",
             "logo replaced", "deleted", "edit listed at once", "edit at once", "next day")

    def cold() -> dict:  # from nothing each time
        (content / "zz-benchmark-newcomer.md").unlink(missing_ok=True)  # (left by a run cut short)
        (content / "logos" / "zz-benchmark-newcomer.svg").unlink(missing_ok=True)
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(cache_dir, ignore_errors=True)
        return run(project, content, out, cache_dir, "cold", args.search)

    def rebuilds() -> dict:  # one round of the edits, in this order (see `edit at once`)
        made = {}
        for mode in edits:
            made.update(run(project, content, out, cache_dir, mode, args.search))
        return made

    def warm() -> dict:
        return run(project, content, out, cache_dir, "warm cache", args.search)

    def ci() -> dict:
        return run(project, content, out, cache_dir, "ci", args.search)

    def serve() -> dict:
        # serve's first build is a real one (a new preview folder), then it rebuilds in-process
        shutil.rmtree(preview, ignore_errors=True)
        return run(project, content, preview, cache_dir, "serve", args.search)

    measured = measure_rounds(rounds, cold)
    if not args.cold_only:
        for measure in (rebuilds, warm, ci, serve):
            measured.update(measure_rounds(rounds, measure))
    return measured


def folder_size(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sizes", type=int, nargs="*", default=[100, 1_000, 10_000])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--search", action="store_true", help="include the Pagefind index stage")
    ap.add_argument("--cold-only", action="store_true", help="measure cold builds only")
    ap.add_argument("--rounds", type=int, default=1,
                    help="measure everything this many times and report the medians (default 1)")
    ap.add_argument("--json", type=Path, help="also write the measurements to this file")
    ap.add_argument("--table", type=Path, help="only print the table of measurements saved with --json")
    ap.add_argument("--work", type=Path, default=OUT,
                    help="folder for the code's copy and the builds (default benchmarks/out; give your own "
                         "when someone else may be running this benchmark); records stay in benchmarks/out")
    args = ap.parse_args(argv)
    if args.table:
        print(table(json.loads(args.table.read_text(encoding="utf-8"))))
        return 0

    print(f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, "
          f"load average {os.getloadavg()[0]:.1f} at start", file=sys.stderr)
    project = snapshot(args.work)
    rows = []
    for n in args.sizes:
        content = records(n, args.seed)
        work = args.work / f"build-{n}"
        shutil.rmtree(work, ignore_errors=True)
        out, cache_dir = work / "site", work / "cache"
        measured = measure_size(project, content, work, args)
        files, size = folder_size(out)
        index = folder_size(out / "pagefind") if (out / "pagefind").is_dir() else None
        rows.append({"n": n, "files": files, "bytes": size, "index": index, **measured})
        shutil.rmtree(cache_dir, ignore_errors=True)
        print_row(rows[-1])
    print()
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


def print_row(row: dict) -> None:
    cold = row["cold"]
    print(f"N={row['n']:,}: cold {cold['wall']:.2f} s ({cold['cpu']:.1f} s CPU), "
          f"peak {cold['peak_mib']:.0f} MiB, {row['files']:,} files, {row['bytes'] / 2**20:.0f} MiB",
          file=sys.stderr)


def table(rows: list[dict]) -> str:
    head = ["N", *STAGES, "cold total", "cold CPU", "peak MiB", "no-op", "edit", "edit evidence",
            "edit listed", "edit renamed", "logo added", "added", "logo replaced", "deleted", "edit at once",
            "next day", "cold, warm cache", "CI", "serve no-op", "serve edit", "serve edit listed", "site"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cold = row["cold"]
        stages = [f"{cold['stages'][s]:.2f}" if s in cold["stages"] else "–" for s in STAGES]
        site = f"{row['files']:,} files, {row['bytes'] / 2**20:.0f} MiB"
        if row["index"]:
            site += f"; index {row['index'][0]:,} files, {row['index'][1] / 2**20:.1f} MiB"
        rebuilds = ["–"] * 16
        if "no-op" in row:
            def seconds(mode: str, digits: int = 2, row: dict = row) -> str:
                if mode not in row:
                    return "–"
                got = row[mode]
                shown = f"{got['wall']:.{digits}f}"
                if "search_ready" in got:
                    shown += f" (search {got['search_ready']:.2f})"
                return f"{shown} ({got['process_wall']:.2f})" if "process_wall" in got else shown
            rebuilds = [seconds("no-op", 3), seconds("edit"), seconds("edit evidence"),
                        seconds("edit listed"), seconds("edit renamed"), seconds("logo added"),
                        seconds("added"), seconds("logo replaced"), seconds("deleted"),
                        seconds("edit at once"), seconds("next day"), seconds("warm cache"), seconds("ci"),
                        seconds("serve no-op", 3), seconds("serve edit"), seconds("serve edit listed")]
        lines.append("| " + " | ".join([
            f"{row['n']:,}", *stages,
            f"{cold['wall']:.2f} ({cold['process_wall']:.2f})", f"{cold['cpu']:.1f}",
            f"{cold['peak_mib']:.0f}", *rebuilds, site]) + " |")
    lines.append("")
    counted = {len(got["rounds"]) for row in rows for got in row.values()
               if isinstance(got, dict) and "rounds" in got}
    lines.append((f"Medians of {'/'.join(map(str, sorted(counted)))} rounds. " if counted else "") +
                 "Seconds of wall time inside the build (in brackets: the whole process, with Python's "
                 "start-up and imports). check = load + validate, the build's process: load is the "
                 "time it spends reading and parsing records or waiting for the worker's, validate "
                 "the time it spends validating them (and taking over those the worker checked). "
                 "cold CPU: user + system seconds of all processes. serve with --search: the pages "
                 "are shown first, then (search N) is when its index, made behind them, is done.")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
