"""Stage 3: status levels from evidence. Pure functions of (partner, rules, as-of date): no I/O.

The program promises that status levels are awarded objectively, so every level comes with
the evidence that earned it, what is missing for the next one, and when it would lapse.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Gap:
    """One metric short of a level's minimum."""

    metric: str  # certified_engineers | successful_projects | subscription_sales
    have: float
    need: float

    @property
    def missing(self) -> float:
        return max(self.need - self.have, 0)


@dataclass(frozen=True)
class ProgramAward:
    """The level a partner earns under one of its programs (implied programs included)."""

    program: str
    level: str  # level id
    counted: tuple[str, ...]  # metrics this program counts
    next_level: str | None
    missing: tuple[Gap, ...]  # gaps to next_level under this program; empty at the top level


@dataclass(frozen=True)
class Award:
    """A partner's status on one as-of date, with everything needed to explain it."""

    slug: str
    as_of: dt.date
    level: str  # highest level earned under any program: provisional, bronze, ..., platinum
    program: str | None  # the program that earned it (None when provisional)
    metrics: dict[str, float]  # every metric's value on as_of
    by_program: tuple[ProgramAward, ...]
    next_level: str | None  # next level above `level`, None at the top
    missing: tuple[Gap, ...]  # smallest set of gaps to next_level over the partner's programs
    drops_on: dt.date | None  # first future day on which the level falls if nothing changes
    drop_reason: str  # e.g. "2 certifications expire" ("" when drops_on is None)
    removed: bool  # left out of the public site by the January review
    review_date: dt.date  # latest review on or before as_of
    history: tuple[tuple[dt.date, str], ...]  # (review date, level) for past reviews, then (as_of, level)
