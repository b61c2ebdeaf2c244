#!/usr/bin/env python3
"""Time the load and validate stages on many records: `python benchmarks/bench_validate.py [N]`.

Generates N synthetic records (default 10,000; benchmarks/generate.py) into a temporary folder,
or uses --content, then times each stage on its own and prints records per second. Not a test:
numbers depend on the machine; run it before and after changing load, source or validate.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.generate import generate  # noqa: E402
from partnerdir.load import load  # noqa: E402
from partnerdir.rules import load_rules  # noqa: E402
from partnerdir.validate import validate  # noqa: E402

AS_OF = dt.date(2026, 11, 15)


def timed(fn, repeat: int):
    """Best of `repeat` runs: the least disturbed by other work on the machine."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return result, min(times), statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", type=int, nargs="?", default=10_000)
    ap.add_argument("--content", type=Path, help="time these records instead of generating N")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=None, help="processes for parsing (default: every core)")
    args = ap.parse_args(argv)

    rules = load_rules(ROOT / "data" / "programs.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        content = args.content
        if content is None:
            content = Path(tmp) / "partners"
            start = time.perf_counter()
            generate(args.n, content, args.seed, "mixed", rules)
            print(f"generated {args.n:,} records in {time.perf_counter() - start:.1f} s")
        files = [p for p in content.iterdir() if p.suffix in (".yaml", ".md")]
        size = sum(p.stat().st_size for p in files)
        print(f"{len(files):,} records, {size / len(files) / 1024:.1f} KB each, "
              f"{os.cpu_count()} cores, Python {sys.version.split()[0]}")

        (raws, load_problems), load_best, load_median = timed(
            lambda: load(content, rules.limits.record_max_bytes, args.workers), args.repeat)
        (partners, problems), check_best, check_median = timed(
            lambda: validate(raws, rules, AS_OF, content), args.repeat)
    n = len(files)
    print(f"load:     {load_best:6.2f} s  ({n / load_best:9,.0f} records/s; median {load_median:.2f} s)")
    print(f"validate: {check_best:6.2f} s  ({n / check_best:9,.0f} records/s; median {check_median:.2f} s)")
    total = load_best + check_best
    print(f"total:    {total:6.2f} s  ({n / total:9,.0f} records/s)")
    print(f"{len(partners):,} valid, {len(load_problems) + len(problems)} problems")
    return 0 if not load_problems and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
