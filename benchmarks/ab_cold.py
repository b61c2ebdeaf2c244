#!/usr/bin/env python3
"""Cold builds of a git revision against the working tree, alternating, in memory.

    python3 benchmarks/ab_cold.py REV [--records 10000] [--rounds 3] [--where /dev/shm] [--search]

On this machine's disk a cold build at 10,000 partners varies by a quarter from one run to
the next (creating files soon after a large deletion is slow, and the harness deletes before
every run), so a change worth 3 % cannot be seen in `peers.py`. Built into a RAM-backed
folder (/dev/shm when there is one), the same two builds vary by 2-4 %, and what is left is
the CPU the build spends, which is what a code change changes.

REV is checked out into a temporary git worktree (removed at the end), both sides' code is
compiled first, and each round builds REV, then the working tree, each from nothing (no
output folder, no cache), as `build.py build` does. The table gives each side's median wall
time, user and system CPU seconds (of the build and its workers) and the median of each stage
the build prints; every round is printed as it ends.
"""

from __future__ import annotations

import argparse
import compileall
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STAGE = re.compile(r"(\w+) ([\d.]+) s")


def children_cpu() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime, usage.ru_stime


def cold_build(code: Path, records: Path, where: Path, search: bool) -> dict[str, float]:
    """One build from nothing with the code in `code`: wall, user and system seconds and the
    stages of its "Time:" line (a stage printed twice, such as the cache, added up)."""
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    command = [sys.executable, str(code / "build.py"), "build", "--content", str(records),
               "--out", str(where / "site"), "--cache", str(where / "cache"), "--as-of", "2026-11-15"]
    if not search:
        command.append("--no-search")
    user, system = children_cpu()
    start = time.perf_counter()
    done = subprocess.run(command, cwd=code, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"the build with {code} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    after_user, after_system = children_cpu()
    report = {"wall": wall, "user": after_user - user, "system": after_system - system}
    line = next((text for text in done.stdout.splitlines() if text.startswith("Time:")), "")
    for stage, seconds in STAGE.findall(line.split(";")[0]):
        report[stage] = report.get(stage, 0.0) + float(seconds)
    shutil.rmtree(where, ignore_errors=True)
    return report


def table(sides: dict[str, list[dict[str, float]]]) -> str:
    columns = ["wall", "user", "system"]
    for reports in sides.values():
        columns += [key for key in reports[0] if key not in columns]
    lines = ["| side | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for side, reports in sides.items():
        medians = [statistics.median(r.get(key, 0.0) for r in reports) for key in columns]
        lines.append(f"| {side} | " + " | ".join(f"{m:.2f}" for m in medians) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rev", help="the git revision to compare the working tree with")
    parser.add_argument("--records", type=int, default=10_000, help="generated records (default 10,000)")
    parser.add_argument("--rounds", type=int, default=3)
    memory = Path("/dev/shm")
    parser.add_argument("--where", type=Path,
                        default=memory if memory.is_dir() else Path(tempfile.gettempdir()),
                        help="where to build (default /dev/shm, held in memory)")
    parser.add_argument("--search", action="store_true", help="with the Pagefind index stage")
    args = parser.parse_args(argv)

    from benchmarks.bench_build import records

    content = records(args.records, 1)
    base = Path(tempfile.mkdtemp(prefix="ab-cold-", dir=args.where))
    old = base / "old"
    try:
        subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(old), args.rev], cwd=ROOT,
                       check=True)
        for code in (old, ROOT):
            compileall.compile_dir(code / "partnerdir", quiet=1)
        sides: dict[str, list[dict[str, float]]] = {args.rev: [], "working tree": []}
        for number in range(1, args.rounds + 1):
            for side, code in ((args.rev, old), ("working tree", ROOT)):
                report = cold_build(code, content, base / "build", args.search)
                sides[side].append(report)
                print(f"round {number}, {side}: {report['wall']:.2f} s wall, {report['user']:.2f} s user, "
                      f"{report['system']:.2f} s system", file=sys.stderr)
        print(f"{args.records:,} records, {args.rounds} rounds each, alternating, in {args.where}; medians:")
        print(table(sides))
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
