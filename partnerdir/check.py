"""The `check` command: load and validate everything, report every problem, change nothing."""

from __future__ import annotations

import datetime as dt
import gc
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .award import Removal, award_all, removals
from .load import record_files
from .problems import Problem, ProblemError
from .project import Paths
from .rules import Rules, load_rules
from .validate import Partner, one_per_slug, validate


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
    files, problems = record_files(paths.content)
    partners, problems = check_files(paths.content, files, problems, rules, as_of, workers)
    partners, found = one_per_slug(partners)
    problems = sorted(problems + found, key=lambda p: (p.path, p.line, p.column))
    return Checked(rules, partners, problems)


def review(checked: Checked, as_of: dt.date) -> list[Removal]:
    """Partners the January review takes off the public site, for editors after a clean check."""
    if not checked.ok:
        return []
    return removals(checked.partners, award_all(checked.partners, checked.rules, as_of))


# How the last cold check spent its time in this process: reading and parsing records, and
# validating them. For benchmarks.
last_check: dict[str, float] = {}


def check_files(content: Path, files: list[Path], problems: list, rules: Rules,
                as_of: dt.date, workers: int | None = None,
                each: Callable[[list[Partner]], None] | None = None,
                key: Callable[[str, bytes], str] | None = None,
                keys: dict[str, str] | None = None) -> tuple[list[Partner], list]:
    """Every record read, parsed and validated, on every core.

    `each` is called with every batch's partners as soon as they are validated, in this
    process: work on checked partners done there (the build's awards) overlaps the workers'
    reading instead of waiting for the whole check on one core.

    Forked workers read and parse batches of records from the front of the list while this
    process reads and parses batches from the back whenever no worker's batch is waiting, and
    validates every batch (the workers send plain parsed data, cheaper to pickle than checked
    partners). Batches are contiguous runs of files in name order and their results are joined
    in that order, so partners and problems come out the same whoever did each batch. With
    `key` (see `load.read_record`), what it makes of each file read is put in `keys` by str(path).

    The cyclic garbage collector is paused meanwhile: the check makes a million objects that
    all live to the end of the build (and next to no garbage), and a collector running again
    and again over the growing pile took more than half the time of validating. For a large
    check they are then frozen out of the collector for good (gc.freeze): otherwise its next
    passes spend a second going over them once more, and forked render workers would copy every
    memory page they touch doing so. Small checks (tests, a handful of records) are not frozen,
    so nothing a long-lived process made before lingers.
    """
    from . import parallel
    from .load import RawRecord, read_record, shown_paths

    max_bytes = rules.limits.record_max_bytes
    cores = parallel.workers(workers)
    count = cores - 1 if len(files) >= parallel.MIN_PARTNERS and cores > 1 else 0
    # Small batches: this process takes the next one only when no worker's batch is waiting.
    batches = parallel.chunks(files, (len(files) + BATCH - 1) // BATCH)

    here = os.getpid()

    def read(batch: list[Path]) -> list:
        shown = shown_paths(batch)
        results = [read_record(path, max_bytes, name, key) for path, name in zip(batch, shown, strict=True)]
        worker = os.getpid() != here
        for result in results:
            if isinstance(result, RawRecord):
                # Put back by the caller, which has the same paths: a worker's records come
                # through pickle, which made a Path again from its parts for each of them.
                result.path = None  # type: ignore[assignment]
                if worker:
                    # Only a problem's line needs the text (`checked` reads such a batch
                    # again): more than half of what pickle carried, and of the time this
                    # process took to unpickle it.
                    result.text = None  # type: ignore[assignment]
        return results

    def checked(index: int, results: list) -> tuple[list[Partner], list[Problem]]:
        """A batch's partners and problems. A batch from a worker with a problem in a record
        (its text not sent) is read again here, to say on which line: what is reported is then
        all of the files as read here."""
        batch = batches[index]
        raws = []
        for result, path in zip(results, batch, strict=True):
            if not isinstance(result, Problem):
                result.path = path
                raws.append(result)
        partners, batch_problems = validate(raws, rules, as_of, content)
        if batch_problems and any(raw.text is None for raw in raws):
            return checked(index, read(batch))
        if keys is not None:
            for raw in raws:
                if raw.key is not None:
                    keys[str(raw.path)] = raw.key
        return partners, [r for r in results if isinstance(r, Problem)] + batch_problems

    found: list[tuple[list[Partner], list[Problem]] | None] = [None] * len(batches)
    problems = list(problems)
    validating = 0.0
    start = time.perf_counter()
    collecting = gc.isenabled()
    gc.disable()
    try:
        for index, results in parallel.fork_share(read, batches, count):
            got = time.perf_counter()
            partners, batch_problems = checked(index, results)
            found[index] = (partners, batch_problems)
            if each is not None:
                each(partners)
            validating += time.perf_counter() - got
        if len(files) >= parallel.MIN_PARTNERS:
            gc.freeze()
    finally:
        if collecting:
            gc.enable()
    partners = []
    for batch_partners, batch_problems in found:  # type: ignore[misc]
        partners += batch_partners  # a slug used twice across batches is for the caller to report
        problems += batch_problems
    last_check.clear()
    last_check.update(load=time.perf_counter() - start - validating, validate=validating)
    return partners, problems


BATCH = 25  # records a batch; about 10 ms of reading and parsing
