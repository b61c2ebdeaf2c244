"""The `check` command: load and validate everything, report every problem, change nothing."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path

from .award import Removal, award_all, removals
from .load import load
from .problems import Problem, ProblemError
from .project import Paths
from .rules import Rules, load_rules
from .validate import Partner, validate


@dataclass
class Checked:
    rules: Rules | None
    partners: list[Partner] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.rules is not None and not self.problems


def check(paths: Paths, as_of: dt.date, workers: int | None = None) -> Checked:
    """Rules first (records cannot be checked without them), then every record."""
    try:
        rules = load_rules(paths.rules)
    except ProblemError as e:
        return Checked(None, [], e.problems)
    raws, problems = load(paths.content, rules.limits.record_max_bytes, workers)
    partners, found = validate(raws, rules, as_of, paths.content)
    problems = sorted(problems + found, key=lambda p: (p.path, p.line, p.column))
    return Checked(rules, partners, problems)


def review(checked: Checked, as_of: dt.date) -> list[Removal]:
    """Partners the January review takes off the public site, for editors after a clean check."""
    if not checked.ok:
        return []
    return removals(checked.partners, award_all(checked.partners, checked.rules, as_of))


# How the last cold check spent its time in this process: waiting for records to be read and
# parsed, and validating them (which overlaps with the reading). For benchmarks.
last_check: dict[str, float] = {}


def check_files(content: Path, files: list[Path], problems: list, rules: Rules,
                as_of: dt.date) -> tuple[list[Partner], list]:
    """Every record read and parsed on every core, and validated here as batches arrive.

    `check.check` reads everything, then validates everything; overlapping the two keeps both
    cores busy. Batches are contiguous runs of files in name order, so `validate` sees them in
    the same order as one call over all of them would.
    """
    from . import parallel
    from .load import read_record

    max_bytes = rules.limits.record_max_bytes
    # This process validates while the workers read: one core for it, the others for reading
    # (on two cores reading and validating a record take about as long).
    cores = parallel.workers()
    count = cores - 1 if len(files) >= parallel.MIN_PARTNERS and cores > 1 else 0
    batches = parallel.chunks(files, max(count, 1) * 16)
    partners: list[Partner] = []
    problems = list(problems)
    waiting = validating = 0.0
    start = time.perf_counter()
    def read(batch: list[Path]) -> list:
        return [read_record(path, max_bytes) for path in batch]

    for results in parallel.fork_imap(read, batches, count):
        got = time.perf_counter()
        waiting += got - start
        raws = [r for r in results if not isinstance(r, Problem)]
        problems += [r for r in results if isinstance(r, Problem)]
        found, found_problems = validate(raws, rules, as_of, content)
        partners += found  # a slug used twice within a batch is reported by validate, across batches below
        problems += found_problems
        start = time.perf_counter()
        validating += start - got
    last_check.clear()
    last_check.update(load=waiting, validate=validating)
    return partners, problems
