"""The `check` command: load and validate everything, report every problem, change nothing."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

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
