"""The `check` command: load and validate everything, report every problem, change nothing."""

from __future__ import annotations

import datetime as dt
import gc
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


@dataclass(frozen=True)
class HandOver:
    """How `check_files`'s forked workers finish the partners they checked themselves.

    `encode` runs in a worker on each batch's partners and gives what it sends back, plain
    data that pickles fast (the build's cache entries); `adopt` runs in this process on that
    and gives the partners to use in their place, in the same order."""

    encode: Callable[[list[Partner]], Any]
    adopt: Callable[[Any], list[Partner]]


@dataclass(frozen=True)
class _Handed:
    """A batch a worker read, parsed and validated: its partners as `HandOver.encode` made
    them, its problems, and the key `read_record` made of each record file read."""

    made: Any
    problems: list[Problem]
    keys: list[tuple[str, str]]


def check_files(content: Path, files: list[Path], problems: list, rules: Rules,
                as_of: dt.date, workers: int | None = None,
                each: Callable[[list[Partner]], None] | None = None,
                key: Callable[[str, bytes], str] | None = None,
                keys: dict[str, str] | None = None,
                hand_over: HandOver | None = None) -> tuple[list[Partner], list]:
    """Every record read, parsed and validated, on every core.

    `each` is called with every batch's partners as soon as they are validated, in this
    process: work on checked partners done there (the build's awards) overlaps the workers'
    reading instead of waiting for the whole check on one core.

    Forked workers take batches of records from the front of the list while this process
    takes batches from the back whenever no worker's batch is waiting. Batches are contiguous
    runs of files in name order and their results are joined in that order, so partners and
    problems come out the same whoever did each batch. With `key` (see `load.read_record`),
    what it makes of each file read is put in `keys` by str(path).

    Without `hand_over`, workers read and parse and send the parsed data, and this process
    validates every batch. With it, workers validate their batches too and finish their
    partners as it says (the build: awards, cards and cache entries, which `each` makes here),
    sending back those plain bytes: validating and finishing every batch here left this
    process a second behind the worker at 10,000 partners, with one core idle meanwhile, and
    unpickling what the worker had parsed took a tenth of this process's time.

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
        return [read_record(path, max_bytes, name, key) for path, name in zip(batch, shown, strict=True)]

    def job(index: int) -> Any:
        results = read(batches[index])
        if os.getpid() == here:
            return results
        if hand_over is not None:
            partners, found = validated(index, results)
            return _Handed(hand_over.encode(partners), found,
                           [(str(r.path), r.key) for r in results if isinstance(r, RawRecord) and r.key])
        for result in results:
            if isinstance(result, RawRecord):
                # Put back by `validated`, which has the same paths: pickle would make a Path
                # again from its parts for each of them. Only a problem's line needs the text
                # (`validated` reads such a batch again): more than half of what pickle
                # carried, and of the time this process took to unpickle it.
                result.path = None  # type: ignore[assignment]
                result.text = None  # type: ignore[assignment]
        return results

    def validated(index: int, results: list) -> tuple[list[Partner], list[Problem]]:
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
            return validated(index, read(batch))
        if keys is not None and os.getpid() == here:
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
        for index, results in parallel.fork_share(job, range(len(batches)), count):
            got = time.perf_counter()
            if type(results) is _Handed:
                partners, batch_problems = hand_over.adopt(results.made), results.problems  # type: ignore[union-attr]
                if keys is not None:
                    keys.update(results.keys)
            else:
                partners, batch_problems = validated(index, results)
                if each is not None:
                    each(partners)
            found[index] = (partners, batch_problems)
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
