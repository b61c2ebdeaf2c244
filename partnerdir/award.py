"""Stage 3: status levels from evidence. Pure functions of (partner, rules, as-of date): no I/O.

The program promises that status levels are awarded objectively, so every level comes with
the evidence that earned it, what is missing for the next one, and when it would lapse.

Every threshold, window and review date comes from programs.yaml (`Rules`); this module only
knows how to measure. Evidence dated after the day being measured is ignored, so the level at
a past review is computed exactly as it would have been on that day.
"""

from __future__ import annotations

import calendar
import datetime as dt
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from .rules import METRICS, Rules

ENGINEERS = "certified_engineers"
PROJECTS = "successful_projects"
SALES = "subscription_sales"
_ONE_DAY = dt.timedelta(days=1)


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
    # Added after the interface was agreed; defaults keep older constructors working.
    drops_to: str | None = None  # the level held from drops_on (None when drops_on is None)
    missing_program: str | None = None  # the program whose route `missing` describes
    project_window: tuple[dt.date, dt.date] | None = None  # first and last completion day that counts
    sales_years: tuple[int, int] | None = None  # first and last calendar year whose sales count


@dataclass(frozen=True)
class EvidenceLine:
    """Whether one certification, project or sales year in a record counts on the as-of date, and why."""

    kind: str  # certifications | projects | subscription_sales (the record's list it indexes)
    index: int  # position in that list
    counts: bool
    note: str  # e.g. "current until 2027-03-31", "community distribution is not supported"


@dataclass(frozen=True)
class Removal:
    """A partner the January review takes off the public site; editors see it in check and build."""

    slug: str
    source: str
    review_date: dt.date
    joined: dt.date

    def text(self, rules: Rules) -> str:
        return (f"Removed at the {self.review_date.isoformat()} review ({_removal_cause(rules)}): "
                f"{self.slug} ({self.source})")


# --------------------------------------------------------------------------------------------
# Dates


@lru_cache(maxsize=65536)
def add_months(day: dt.date, months: int) -> dt.date:
    """The same calendar day `months` later (or earlier); a day the month lacks becomes its last day.

    That is how "36 months before 29 February 2028" becomes 28 February 2025.
    """
    total = day.year * 12 + day.month - 1 + months
    year, month = divmod(total, 12)
    month += 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@lru_cache(maxsize=65536)
def _leaves_window(completed: dt.date, months: int) -> dt.date:
    """First day on which a project completed on `completed` no longer counts."""
    day = add_months(completed, months) + _ONE_DAY
    while add_months(day, -months) <= completed:  # month-end clamping can keep it a day or two longer
        day += _ONE_DAY
    return day


def latest_review(rules: Rules, day: dt.date) -> dt.date:
    review = dt.date(day.year, rules.review.month, rules.review.day)
    return review if review <= day else review.replace(year=day.year - 1)


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return dt.date(day.year - years, 2, 28)


# --------------------------------------------------------------------------------------------
# Rules compiled once into tuples, so measuring 10,000 partners does no pydantic lookups.


@dataclass(frozen=True)
class _Plan:
    levels: tuple[str, ...]
    minimums: tuple[dict[str, float], ...]
    # program id -> counted metrics and (rank, minimums of counted metrics) from the top level down
    programs: dict[str, tuple[tuple[str, ...], tuple[tuple[int, tuple[tuple[str, float], ...]], ...]]]
    program_order: dict[str, int]
    implies: dict[str, tuple[str, ...]]
    supported: frozenset[str]
    months: int
    years: int
    review_month: int
    review_day: int
    provisional_years: int
    history_years: int
    amounts: dict[tuple[str, float], str] = field(default_factory=dict)  # see `amount`


_PLANS: dict[int, tuple[Rules, _Plan]] = {}


def _plan(rules: Rules) -> _Plan:
    cached = _PLANS.get(id(rules))
    if cached is not None and cached[0] is rules:
        return cached[1]
    levels = tuple(lv.id for lv in rules.levels)
    minimums = tuple(dict(lv.minimums) for lv in rules.levels)
    programs = {}
    for prog in rules.programs:
        counted = tuple(m for m in METRICS if m in prog.counts)
        ladder = tuple((rank, tuple((m, minimums[rank][m]) for m in counted))
                       for rank in range(len(levels) - 1, 0, -1))
        programs[prog.id] = (counted, ladder)
    plan = _Plan(
        levels=levels,
        minimums=minimums,
        programs=programs,
        program_order={p.id: i for i, p in enumerate(rules.programs)},
        implies={p.id: tuple(p.implies) for p in rules.programs},
        supported=rules.supported_distributions,
        months=rules.metrics[PROJECTS].window_months or 36,
        years=rules.metrics[SALES].window_years or 3,
        review_month=rules.review.month,
        review_day=rules.review.day,
        provisional_years=rules.review.provisional_years,
        history_years=rules.review.history_years,
    )
    if len(_PLANS) > 16:
        _PLANS.clear()
    _PLANS[id(rules)] = (rules, plan)
    return plan


def _member_programs(plan: _Plan, listed: Iterable[str]) -> list[str]:
    member = set()
    for pid in listed:
        if pid in plan.programs:
            member.add(pid)
            member.update(plan.implies[pid])
    return sorted(member, key=plan.program_order.__getitem__)


# --------------------------------------------------------------------------------------------
# Measuring


class _Evidence:
    """A partner's evidence reduced to what the metrics need, prepared once per partner."""

    __slots__ = ("certs", "projects", "sales")

    def __init__(self, partner, plan: _Plan):
        self.certs = [(c.issued, c.expires, c.holder) for c in partner.certifications]
        self.projects = sorted(p.completed for p in partner.projects
                               if p.outcome == "successful" and p.distribution in plan.supported)
        sales: dict[int, float] = {}
        for s in partner.subscription_sales:
            sales[s.year] = sales.get(s.year, 0.0) + s.amount_usd
        self.sales = sales

    def measure(self, plan: _Plan, day: dt.date, cutoff: dt.date | None = None,
                sales_through: int | None = None) -> dict[str, float]:
        """Every metric on `day`, using only evidence dated on or before `cutoff` (default: `day`).

        `sales_through` caps the sales years counted: a past review only knew the years already
        closed, while the as-of date counts the current year as reported so far.
        """
        cutoff = day if cutoff is None else cutoff
        engineers = len({h for issued, expires, h in self.certs if issued <= cutoff and expires >= day})
        last = min(day, cutoff)
        start = add_months(day, -plan.months)
        projects = bisect_right(self.projects, last) - bisect_left(self.projects, start)
        sales = self.sales
        top = min(day.year, cutoff.year, sales_through if sales_through is not None else day.year)
        total = sum(sales.get(y, 0.0) for y in range(day.year - plan.years + 1, top + 1))
        return {ENGINEERS: engineers, PROJECTS: max(projects, 0), SALES: total}


def _program_level(plan: _Plan, program: str, metrics: dict[str, float]) -> int:
    for rank, needs in plan.programs[program][1]:
        for metric, need in needs:
            if metrics[metric] < need:
                break
        else:
            return rank
    return 0


def _level(plan: _Plan, programs: list[str], metrics: dict[str, float]) -> tuple[int, str | None]:
    best, by = 0, None
    for pid in programs:
        rank = _program_level(plan, pid, metrics)
        if rank > best:
            best, by = rank, pid
    return best, by


def _gaps(plan: _Plan, program: str, metrics: dict[str, float], rank: int) -> tuple[Gap, ...]:
    needs = plan.minimums[rank]
    return tuple(Gap(m, metrics[m], needs[m]) for m in plan.programs[program][0] if metrics[m] < needs[m])


def _drop(plan: _Plan, ev: _Evidence, as_of: dt.date, metrics: dict[str, float], rank: int,
          earners: list[str]) -> tuple[dt.date | None, dict[str, tuple]]:
    """The first future day the level falls, assuming no new evidence, and what changes on it.

    Without new evidence every metric only falls, so each program loses the level on the
    first day any of its counted metrics falls below the minimum, and the partner loses it when
    the last program that earns it does. Each metric's falling days are sorted once.
    """
    needs = plan.minimums[rank]
    counted = {m for pid in earners for m in plan.programs[pid][0]}
    falls: dict[str, list] = {ENGINEERS: [], PROJECTS: []}
    if ENGINEERS in counted:
        holder_end: dict[str, dt.date] = {}
        for issued, expires, holder in ev.certs:
            if issued <= as_of <= expires and expires > holder_end.get(holder, dt.date.min):
                holder_end[holder] = expires
        falls[ENGINEERS] = sorted(end + _ONE_DAY for end in holder_end.values())
    if PROJECTS in counted:
        # Projects are sorted by completion, and leaving the window keeps that order.
        current = ev.projects[bisect_left(ev.projects, add_months(as_of, -plan.months)):
                              bisect_right(ev.projects, as_of)]
        falls[PROJECTS] = [_leaves_window(c, plan.months) for c in current]
    sales_steps = []  # (1 January, year leaving, value from then)
    if SALES in counted:
        for k in range(1, plan.years + 1):
            year = as_of.year + k
            leaving = year - plan.years
            value = sum(ev.sales.get(y, 0.0) for y in range(leaving + 1, as_of.year + 1))
            sales_steps.append((dt.date(year, 1, 1), leaving, value))

    def falls_below(metric: str) -> dt.date | None:
        need = needs[metric]
        if metric == SALES:
            return next((day for day, _, value in sales_steps if value < need), None)
        steps = falls[metric]
        k = int(metrics[metric] - need) + 1  # how many must go before it is below the minimum
        return steps[k - 1] if 0 < k <= len(steps) else None

    cache: dict[str, dt.date | None] = {}
    drops_on: dt.date | None = dt.date.min
    for pid in earners:
        lost: dt.date | None = None
        for metric in plan.programs[pid][0]:
            if metric not in cache:
                cache[metric] = falls_below(metric)
            day = cache[metric]
            if day is not None and (lost is None or day < lost):
                lost = day
        if lost is None:
            return None, {}
        drops_on = max(drops_on, lost)
    changes: dict[str, tuple] = {}
    for metric in (ENGINEERS, PROJECTS):
        if metric in counted:
            n = bisect_right(falls[metric], drops_on) - bisect_left(falls[metric], drops_on)
            if n:
                changes[metric] = (n,)
    if SALES in counted:
        for day, leaving, _ in sales_steps:
            if day == drops_on and ev.sales.get(leaving, 0.0) > 0:
                changes[SALES] = (leaving, ev.sales[leaving])
    return drops_on, changes


def _history(plan: _Plan, ev: _Evidence, programs: list[str], joined: dt.date, as_of: dt.date,
             review: dt.date, level_now: str) -> tuple[tuple[dt.date, str], ...]:
    out = []
    for k in range(plan.history_years - 1, -1, -1):
        day = review.replace(year=review.year - k)
        if day < joined or day == as_of:
            continue
        rank, _ = _level(plan, programs, ev.measure(plan, day, sales_through=day.year - 1))
        out.append((day, plan.levels[rank]))
    if as_of >= joined:
        out.append((as_of, level_now))
    return tuple(out)


def _award(plan: _Plan, rules: Rules, partner, as_of: dt.date) -> Award:
    ev = _Evidence(partner, plan)
    programs = _member_programs(plan, partner.programs)
    metrics = ev.measure(plan, as_of)
    ranks = {pid: _program_level(plan, pid, metrics) for pid in programs}
    rank, by = 0, None
    for pid in programs:
        if ranks[pid] > rank:
            rank, by = ranks[pid], pid
    levels = plan.levels
    top = len(levels) - 1

    by_program = []
    for pid in programs:
        r = ranks[pid]
        by_program.append(ProgramAward(
            program=pid,
            level=levels[r],
            counted=plan.programs[pid][0],
            next_level=levels[r + 1] if r < top else None,
            missing=_gaps(plan, pid, metrics, r + 1) if r < top else (),
        ))

    missing: tuple[Gap, ...] = ()
    missing_program = None
    if rank < top and programs:
        routes = []
        for pid in programs:
            gaps = _gaps(plan, pid, metrics, rank + 1)
            shortfall = sum(g.missing / g.need for g in gaps if g.need)
            routes.append((len(gaps), shortfall, plan.program_order[pid], pid, gaps))
        _, _, _, missing_program, missing = min(routes)

    drops_on = drops_to = None
    reason = ""
    if rank > 0:
        earners = [pid for pid in programs if ranks[pid] == rank]
        drops_on, changes = _drop(plan, ev, as_of, metrics, rank, earners)
        if drops_on is not None:
            after = ev.measure(plan, drops_on, as_of)
            drops_to = levels[_level(plan, programs, after)[0]]
            reason = _drop_reason(rules, plan, changes, after, rank)

    review = latest_review(rules, as_of)
    removed = rank == 0 and partner.joined <= _years_before(review, plan.provisional_years)
    return Award(
        slug=partner.slug,
        as_of=as_of,
        level=levels[rank],
        program=by,
        metrics=metrics,
        by_program=tuple(by_program),
        next_level=levels[rank + 1] if rank < top else None,
        missing=missing,
        drops_on=drops_on,
        drop_reason=reason,
        removed=removed,
        review_date=review,
        history=_history(plan, ev, programs, partner.joined, as_of, review, levels[rank]),
        drops_to=drops_to,
        missing_program=missing_program,
        project_window=(add_months(as_of, -plan.months), as_of),
        sales_years=(as_of.year - plan.years + 1, as_of.year),
    )


def award(partner, rules: Rules, as_of: dt.date) -> Award:
    """The partner's status on `as_of`, from its evidence dated on or before that day.

    A partner is measured under each of its programs (implied ones included) and holds the
    highest level any of them earns; one that earns none is Provisional, and is removed once it
    has been in the program `review.provisional_years` at the latest review.
    """
    return _award(_plan(rules), rules, partner, as_of)


def award_all(partners: Iterable, rules: Rules, as_of: dt.date) -> dict[str, Award]:
    plan = _plan(rules)
    return {p.slug: _award(plan, rules, p, as_of) for p in partners}


def public(partners: Iterable, awards: dict[str, Award]) -> list:
    """The partners every public page, the search index and the data exports show."""
    return [p for p in partners if not awards[p.slug].removed]


def removals(partners: Iterable, awards: dict[str, Award]) -> list[Removal]:
    """The review report: partners kept in the repository but left off the site, in slug order."""
    out = [Removal(p.slug, p.source, awards[p.slug].review_date, p.joined)
           for p in partners if awards[p.slug].removed]
    return sorted(out, key=lambda r: r.slug)


def review_report(partners: Iterable, awards: dict[str, Award], rules: Rules) -> list[str]:
    """The lines `check` and `build` print for editors after a clean run (empty when nobody is removed)."""
    return [r.text(rules) for r in removals(partners, awards)]


def evidence_counts(partner, rules: Rules, as_of: dt.date) -> tuple[list[bool], list[bool]]:
    """Which certifications and which projects of a record count on `as_of` (`evidence` says
    why each does or does not): certifications issued by then and not expired, successful
    projects on a supported distribution completed within the window, as `_Evidence` measures."""
    plan = _plan(rules)
    start = add_months(as_of, -plan.months)
    supported = plan.supported
    return ([c.issued <= as_of <= c.expires for c in partner.certifications],
            [p.outcome == "successful" and p.distribution in supported and start <= p.completed <= as_of
             for p in partner.projects])


def project_evidence(partner, indexes: Iterable[int], rules: Rules, as_of: dt.date,
                     counts: list[bool]) -> list[EvidenceLine]:
    """The evidence lines of some of a record's projects (`counts` from `evidence_counts`)."""
    plan = _plan(rules)
    start = add_months(as_of, -plan.months)
    out = []
    for i in indexes:
        p = partner.projects[i]
        if counts[i]:
            last = _leaves_window(p.completed, plan.months) - _ONE_DAY
            out.append(EvidenceLine("projects", i, True, f"counts until {last.isoformat()}"))
        elif p.outcome != "successful":
            out.append(EvidenceLine("projects", i, False, f"outcome {p.outcome}"))
        elif p.distribution not in plan.supported:
            dist = rules.distribution_by_id.get(p.distribution)
            name = dist.name if dist else p.distribution
            out.append(EvidenceLine("projects", i, False, f"{name} is not a supported distribution"))
        elif p.completed > as_of:
            out.append(EvidenceLine("projects", i, False, f"completed after {as_of.isoformat()}"))
        else:
            out.append(EvidenceLine("projects", i, False,
                                    f"completed before the {plan.months}-month window ({start.isoformat()})"))
    return out


def evidence(partner, rules: Rules, as_of: dt.date) -> tuple[EvidenceLine, ...]:
    """Which items of a record count on `as_of`, with a short reason for each, for pages and explain."""
    plan = _plan(rules)
    certs, projects = evidence_counts(partner, rules, as_of)
    out: list[EvidenceLine] = []
    for i, c in enumerate(partner.certifications):
        if certs[i]:
            out.append(EvidenceLine("certifications", i, True, f"current until {c.expires.isoformat()}"))
        elif c.issued > as_of:
            out.append(EvidenceLine("certifications", i, False, f"issued after {as_of.isoformat()}"))
        else:
            out.append(EvidenceLine("certifications", i, False, f"expired {c.expires.isoformat()}"))
    out += project_evidence(partner, range(len(partner.projects)), rules, as_of, projects)
    first = as_of.year - plan.years + 1
    for i, s in enumerate(partner.subscription_sales):
        if s.year > as_of.year:
            out.append(EvidenceLine("subscription_sales", i, False, f"after {as_of.year}"))
        elif s.year < first:
            out.append(EvidenceLine("subscription_sales", i, False,
                                    f"before the {plan.years}-year window ({first}–{as_of.year})"))
        else:
            out.append(EvidenceLine("subscription_sales", i, True,
                                    f"counts until the end of {s.year + plan.years - 1}"))
    return tuple(out)


# --------------------------------------------------------------------------------------------
# Words: one set of sentences for the partner page, the data exports and `explain`.


def number(value: float) -> str:
    """Thousands separators; cents only when there are any."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"


def _is_money(rules: Rules, metric: str) -> bool:
    unit = rules.metrics[metric].unit
    return len(unit) == 3 and unit.isalpha() and unit.isupper()


def amount(rules: Rules, metric: str, value: float) -> str:
    """A metric value with its unit: '9' or 'USD 450,000'."""
    made = _plan(rules).amounts
    key = (metric, value)
    text = made.get(key)
    if text is None:  # (a page shows a dozen: levels' minimums and values that repeat)
        text = f"{rules.metrics[metric].unit} {number(value)}" if _is_money(rules, metric) else number(value)
        if len(made) < 100_000:
            made[key] = text
    return text


def quantity(rules: Rules, metric: str, value: float) -> str:
    """A metric value in words: '9 certified engineers', '1 successful project', 'USD 450,000 ...'."""
    name = rules.metrics[metric].name
    if _is_money(rules, metric):
        return f"{amount(rules, metric, value)} {name}"
    if value == 1 and name.endswith("s"):
        name = name[:-1]
    return f"{number(value)} {name}"


def _removal_cause(rules: Rules) -> str:
    years = rules.review.provisional_years
    span = "a year" if years == 1 else f"{years} years"
    first = rules.levels[1].name if len(rules.levels) > 1 else "a level"
    return f"no level after {span} in the program" if years else f"has not earned {first}"


def _drop_reason(rules: Rules, plan: _Plan, changes: dict[str, tuple], after: dict[str, float],
                 rank: int) -> str:
    level = rules.levels[rank]
    parts = []
    for metric, change in changes.items():
        need = plan.minimums[rank][metric]
        if after[metric] >= need:
            continue  # changed, but not why the level falls
        if metric == ENGINEERS:
            n = change[0]
            what = (f"{n} engineer's certification expires" if n == 1
                    else f"{n} engineers' certifications expire")
        elif metric == PROJECTS:
            n = change[0]
            verb = "leaves" if n == 1 else "leave"
            what = f"{n} {'project' if n == 1 else 'projects'} {verb} the {plan.months}-month window"
        else:
            year, value = change
            what = f"the {year} sales ({amount(rules, metric, value)}) leave the {plan.years}-year window"
        parts.append(f"{what}, leaving {quantity(rules, metric, after[metric])} "
                     f"({level.name} needs {amount(rules, metric, need)})")
    return " and ".join(parts)


def describe(award: Award, rules: Rules) -> dict:
    """Plain-language sentences and table rows explaining an award; JSON-ready.

    Keys: level, level_name, as_of, status, next, holds, removed (sentences, "" when not
    applicable), metrics (rows with the value and the minimums of the level and the next level),
    by_program and history (lists of sentences/rows).
    """
    plan = _plan(rules)
    levels = rules.levels
    rank = plan.levels.index(award.level)
    level = levels[rank]
    nxt = levels[rank + 1] if rank + 1 < len(levels) else None
    programs = rules.program_by_id
    counted = [m for m in METRICS if any(m in pa.counted for pa in award.by_program)]

    if award.program:
        shown = [m for m in METRICS if m in programs[award.program].counts]
        pieces = []
        for i, m in enumerate(shown):
            need = amount(rules, m, plan.minimums[rank][m])
            pieces.append(f"{quantity(rules, m, award.metrics[m])} "
                          f"({f'{level.name} needs ' if i == 0 else ''}{need})")
        status = f"{level.name} under {programs[award.program].name}: {', '.join(pieces)}"
    else:
        status = f"{level.name}: no status level earned yet"
        if counted:
            status += " (" + ", ".join(quantity(rules, m, award.metrics[m]) for m in counted) + ")"

    if nxt is None:
        next_text = f"{level.name} is the highest level."
    elif award.missing_program:
        wants = [_more(rules, gap) for gap in award.missing]
        next_text = f"For {nxt.name} under {programs[award.missing_program].name}: {', '.join(wants)}."
    else:
        next_text = ""

    if award.drops_on is not None:
        until = award.drops_on - _ONE_DAY
        to = rules.level_by_id[award.drops_to].name if award.drops_to else ""
        holds = (f"Holds {level.name} until {until.isoformat()} if nothing changes: on "
                 f"{award.drops_on.isoformat()} {award.drop_reason}"
                 + (f"; {to} from then." if to else "."))
    elif rank > 0:
        holds = f"Holds {level.name} without a date: none of its evidence expires."
    else:
        holds = ""

    removed = (f"Removed at the {award.review_date.isoformat()} review ({_removal_cause(rules)})."
               if award.removed else "")

    rows = []
    for m in counted:
        here = plan.minimums[rank].get(m) if rank > 0 else None
        there = plan.minimums[rank + 1].get(m) if nxt is not None else None
        rows.append({
            "metric": m,
            "name": rules.metrics[m].name,
            "value": award.metrics[m],
            "value_text": amount(rules, m, award.metrics[m]),
            "level_minimum": here,
            "level_minimum_text": amount(rules, m, here) if here is not None else "",
            "next_minimum": there,
            "next_minimum_text": amount(rules, m, there) if there is not None else "",
            "explanation": " ".join(rules.metrics[m].explanation.split()),
        })

    by_program = []
    for pa in award.by_program:
        name = rules.level_by_id[pa.level].name
        text = f"{programs[pa.program].name}: {name}"
        if pa.next_level:
            gaps = ", ".join(_more(rules, g) for g in pa.missing)
            text += f" (for {rules.level_by_id[pa.next_level].name}: {gaps})" if gaps else ""
        by_program.append(text)

    return {
        "level": award.level,
        "level_name": level.name,
        "as_of": award.as_of.isoformat(),
        "status": status,
        "next": next_text,
        "holds": holds,
        "removed": removed,
        "metrics": rows,
        "by_program": by_program,
        "history": [{"date": day.isoformat(), "level": lv, "level_name": rules.level_by_id[lv].name,
                     "review": (day.month, day.day) == (rules.review.month, rules.review.day)}
                    for day, lv in award.history],
    }


def _more(rules: Rules, gap: Gap) -> str:
    """'2 more certified engineers', '1 more successful project', 'USD 550,000 more subscription sales'."""
    name = rules.metrics[gap.metric].name
    if not _is_money(rules, gap.metric) and gap.missing == 1 and name.endswith("s"):
        name = name[:-1]
    return f"{amount(rules, gap.metric, gap.missing)} more {name}"


def award_json(award: Award) -> dict:
    """The award as JSON-ready data (dates as YYYY-MM-DD), for data exports and `explain --format json`.

    Fields in declaration order, whole numbers as ints, each gap with its `missing` amount.
    Written out field by field: `dataclasses.asdict` and a generic walk over its result took
    a tenth of a millisecond per partner, once for every partner of a build.
    """
    a = award
    return {
        "slug": a.slug,
        "as_of": a.as_of.isoformat(),
        "level": a.level,
        "program": a.program,
        "metrics": {k: _json_number(v) for k, v in a.metrics.items()},
        "by_program": [{"program": pa.program, "level": pa.level, "counted": list(pa.counted),
                        "next_level": pa.next_level, "missing": [_gap_json(g) for g in pa.missing]}
                       for pa in a.by_program],
        "next_level": a.next_level,
        "missing": [_gap_json(g) for g in a.missing],
        "drops_on": a.drops_on.isoformat() if a.drops_on is not None else None,
        "drop_reason": a.drop_reason,
        "removed": a.removed,
        "review_date": a.review_date.isoformat(),
        "history": [{"date": day.isoformat(), "level": lv} for day, lv in a.history],
        "drops_to": a.drops_to,
        "missing_program": a.missing_program,
        "project_window": ([day.isoformat() for day in a.project_window]
                           if a.project_window is not None else None),
        "sales_years": list(a.sales_years) if a.sales_years is not None else None,
    }


def _json_number(value):
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _gap_json(gap: Gap) -> dict:
    return {"metric": gap.metric, "have": _json_number(gap.have), "need": _json_number(gap.need),
            "missing": _json_number(float(gap.missing))}
