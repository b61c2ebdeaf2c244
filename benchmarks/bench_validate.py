#!/usr/bin/env python3
"""Time the check stage on many records: `python benchmarks/bench_validate.py [N]`.

Generates N synthetic records (default 10,000; benchmarks/generate.py) into a temporary folder,
or uses --content (for example benchmarks/out/records-10000-seed1), then times the check as the
build runs it (`check.check_files`: every core reads and parses, this process validates) and,
on one core, its parts: reading and parsing, and validating. Not a test: numbers depend on the
machine; run it before and after changing load, source, validate or check.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.generate import generate  # noqa: E402
from partnerdir.check import check_files, last_check  # noqa: E402
from partnerdir.load import read_record, record_files  # noqa: E402
from partnerdir.problems import Problem  # noqa: E402
from partnerdir.rules import load_rules  # noqa: E402
from partnerdir.validate import validate  # noqa: E402

AS_OF = dt.date(2026, 11, 15)


def cpu() -> float:
    """CPU seconds of this process and of its finished children (the check's workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def timed(fn, repeat: int):
    """Best of `repeat` runs (the least disturbed by other work on the machine), by wall time,
    and the CPU seconds of that run."""
    runs = []
    for _ in range(repeat):
        wall, used = time.perf_counter(), cpu()
        result = fn()
        runs.append((time.perf_counter() - wall, cpu() - used, result))
    best = min(runs, key=lambda run: run[0])
    return best[2], best[0], best[1], statistics.median(run[0] for run in runs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", type=int, nargs="?", default=10_000)
    ap.add_argument("--content", type=Path, help="time these records instead of generating N")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=None, help="processes for the check (default: every core)")
    args = ap.parse_args(argv)

    rules = load_rules(ROOT / "data" / "programs.yaml")
    max_bytes = rules.limits.record_max_bytes
    with tempfile.TemporaryDirectory() as tmp:
        content = args.content
        if content is None:
            content = Path(tmp) / "partners"
            start = time.perf_counter()
            generate(args.n, content, args.seed, "mixed", rules)
            print(f"generated {args.n:,} records in {time.perf_counter() - start:.1f} s")
        files, file_problems = record_files(content)
        n = len(files)
        size = sum(p.stat().st_size for p in files)
        print(f"{n:,} records, {size / n / 1024:.1f} KB each, "
              f"{len(os.sched_getaffinity(0))} cores, Python {sys.version.split()[0]}")

        def check() -> tuple:
            return check_files(content, files, file_problems, rules, AS_OF, args.workers), dict(last_check)

        ((partners, problems), spent), wall, used, median = timed(check, args.repeat)
        print(f"check, as the build runs it: {wall:6.2f} s wall ({n / wall:7,.0f} records/s; median "
              f"{median:.2f} s), {used:.2f} s CPU ({used / n * 1000:.2f} ms a record); this process "
              f"read {spent['load']:.2f} s, validated {spent['validate']:.2f} s")

        # Its parts on one core, without the cyclic garbage collector, as check_files runs them.
        gc.disable()
        raws, wall, used, _ = timed(lambda: [read_record(p, max_bytes) for p in files], args.repeat)
        print(f"  read and parse, one core:  {wall:6.2f} s wall, {used / n * 1000:.3f} ms CPU a record")
        raws = [r for r in raws if not isinstance(r, Problem)]
        _, wall, used, _ = timed(lambda: validate(raws, rules, AS_OF, content), args.repeat)
        print(f"  validate, one core:        {wall:6.2f} s wall, {used / n * 1000:.3f} ms CPU a record")
        gc.enable()
    print(f"{len(partners):,} valid, {len(problems)} problems")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
