"""Spreading a build's independent pieces of work over every core.

Workers are forked, so they start with everything the build has computed so far (partners,
awards, compiled templates) without copying it through pickle, and send back only bytes and
small values. Each piece of work is a pure function of that inherited state, and results come
back in the order the work was given, so a parallel build writes the same bytes as a serial one.
Where fork is unavailable, or for small jobs, the work runs in this process instead.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from typing import Any

# Below this many partners a pool costs more than it saves.
MIN_PARTNERS = 400

_job: Callable[[Any], Any] | None = None


def workers(requested: int | None = None) -> int:
    if requested is not None:
        return max(1, requested)
    env = os.environ.get("PARTNERDIR_WORKERS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def _call(item):
    assert _job is not None
    return _job(item)


def fork_map(job: Callable[[Any], Any], items: Sequence, processes: int) -> list:
    """[job(item) for item in items], spread over `processes` forked workers.

    `job` may use anything this process holds when fork_map is called. An exception in a
    worker is raised here; callers that need the original traceback (a template mistake) run
    the work again in-process.
    """
    global _job
    if processes <= 1 or len(items) <= 1 or not can_fork():
        return [job(item) for item in items]
    _job = job
    try:
        with multiprocessing.get_context("fork").Pool(min(processes, len(items))) as pool:
            return pool.map(_call, items, chunksize=1)
    finally:
        _job = None


def chunks(items: Sequence, count: int) -> list[list]:
    """`items` in `count` nearly equal, contiguous slices (order kept when they are joined)."""
    count = max(1, min(count, len(items)))
    size, extra = divmod(len(items), count)
    out, start = [], 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        out.append(list(items[start:end]))
        start = end
    return [c for c in out if c]


def fork_imap(job: Callable[[Any], Any], items: Sequence, processes: int):
    """Like fork_map, but yields each result as soon as it and those before it are ready, so
    this process can work on the first results while `processes` workers (one is enough) make
    the rest; with 0, or without fork, the work is done here as it is asked for."""
    global _job
    if processes < 1 or not items or not can_fork():
        for item in items:
            yield job(item)
        return
    _job = job
    try:
        with multiprocessing.get_context("fork").Pool(min(processes, len(items))) as pool:
            yield from pool.imap(_call, items, chunksize=1)
    finally:
        _job = None
