"""The `explain` command: how one partner's status level is earned, in the terminal or as JSON.

Editors and partners use it to answer "why are we Silver?" and "what do we need for Gold?"
with the same sentences the partner page shows, before a pull request is merged.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from dataclasses import asdict

from .award import Award, EvidenceLine, award, award_json, describe, evidence, number, quantity
from .check import check
from .problems import format_problems, relative
from .project import Paths, as_of_date
from .rules import Rules, did_you_mean
from .validate import Partner


def run(args, paths: Paths, as_of: dt.date) -> int:
    # Records are checked against today (evidence cannot be in the future), while the award is
    # computed for the requested day, leaving out any evidence dated after it.
    checked = check(paths, max(as_of_date(), as_of))
    if not checked.ok:
        print(format_problems(checked.problems), file=sys.stderr)
        n = len(checked.problems)
        print(f"\n{n} problem{'s' if n != 1 else ''} found; fix them, then run explain again.",
              file=sys.stderr)
        return 1
    partners = {p.slug: p for p in checked.partners}
    partner = partners.get(args.slug)
    if partner is None:
        hint = did_you_mean(args.slug, partners)
        print(f"no partner '{args.slug}' in {relative(paths.content)}" + (f"; {hint}" if hint else ""),
              file=sys.stderr)
        return 1
    result = award(partner, checked.rules, as_of)
    if args.format == "json":
        print(json.dumps(as_json(partner, result, checked.rules), indent=2, ensure_ascii=False))
    else:
        print(as_text(partner, result, checked.rules))
    return 0


def as_json(partner: Partner, result: Award, rules: Rules) -> dict:
    return {
        "slug": partner.slug,
        "name": partner.name,
        "source": partner.source,
        "joined": partner.joined.isoformat(),
        "programs": list(partner.programs),
        "measured_under": rules.implied_programs(list(partner.programs)),
        "award": award_json(result),
        "text": describe(result, rules),
        "evidence": [asdict(line) for line in evidence(partner, rules, result.as_of)],
    }


def as_text(partner: Partner, result: Award, rules: Rules) -> str:
    words = describe(result, rules)
    level = rules.level_by_id
    programs = rules.program_by_id
    out = [f"{partner.name} ({partner.slug})", f"Record: {partner.source}"]
    listed = [programs[p].name for p in partner.programs]
    implied = [programs[p].name for p in rules.implied_programs(list(partner.programs))
               if p not in partner.programs]
    line = f"Programs: {', '.join(listed)}"
    if implied:
        line += f" (also measured as {_and(implied)})"
    out += [line, f"Joined: {partner.joined.isoformat()}", "",
            f"Status on {result.as_of.isoformat()}: {words['level_name']}", ""]
    out += [s for s in (words["status"] + ".", words["next"], words["holds"], words["removed"]) if s]

    if words["metrics"]:
        # The entry level has no minimums, so its column would be empty.
        here = words["level_name"] if result.program else ""
        there = level[result.next_level].name if result.next_level else ""
        header = ["", "Now"] + [h for h in (here, there) if h]
        table = [header]
        for row in words["metrics"]:
            cells = [row["name"], row["value_text"]]
            if here:
                cells.append(row["level_minimum_text"] or "-")
            if there:
                cells.append(row["next_minimum_text"] or "-")
            table.append(cells)
        widths = [max(len(r[i]) for r in table) for i in range(len(header))]
        out.append("")
        for r in table:
            first = r[0].ljust(widths[0])
            rest = "  ".join(c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True))
            out.append(f"  {first}  {rest}".rstrip())

    if words["by_program"]:
        out += ["", "Under each program:"] + [f"  {s}" for s in words["by_program"]]

    out += ["", "Status history:"]
    if words["history"]:
        for h in words["history"]:
            label = "review" if h["review"] else "now"
            out.append(f"  {h['date']} {label:<6}  {h['level_name']}")
    else:
        out.append(f"  none: joined {partner.joined.isoformat()}, after {result.as_of.isoformat()}")

    out += ["", f"Evidence on {result.as_of.isoformat()}:"]
    out += _evidence_text(partner, result, rules, evidence(partner, rules, result.as_of))
    return "\n".join(out)


def _evidence_text(partner: Partner, result: Award, rules: Rules,
                   lines: tuple[EvidenceLine, ...]) -> list[str]:
    by_kind: dict[str, list[EvidenceLine]] = {}
    for line in lines:
        by_kind.setdefault(line.kind, []).append(line)
    out = []

    def mark(line: EvidenceLine) -> str:
        return "[counts]" if line.counts else "[      ]"

    counted = {m for pa in result.by_program for m in pa.counted}

    def heading(metric: str, text: str, items: list) -> str:
        if not items:
            return f"  {text}: none"
        return f"  {text}" + ("" if metric in counted else ", not counted by its programs") + ":"

    certs = by_kind.get("certifications", [])
    out.append(heading("certified_engineers", "Certifications "
                       f"({quantity(rules, 'certified_engineers', result.metrics['certified_engineers'])})",
                       certs))
    for line in certs:
        c = partner.certifications[line.index]
        kind = rules.certification_by_id.get(c.certification)
        out.append(f"    {mark(line)} {c.holder}  {kind.name if kind else c.certification}, "
                   f"issued {c.issued.isoformat()}: {line.note}")

    projects = by_kind.get("projects", [])
    start, end = result.project_window or (result.as_of, result.as_of)
    out.append(heading("successful_projects",
                       f"Projects (completed {start.isoformat()} to {end.isoformat()} count)", projects))
    for line in projects:
        p = partner.projects[line.index]
        out.append(f"    {mark(line)} {p.completed.isoformat()}  {p.title}: {line.note}")

    sales = by_kind.get("subscription_sales", [])
    first, last = result.sales_years or (result.as_of.year, result.as_of.year)
    out.append(heading("subscription_sales", f"Subscription sales ({first} to {last} count)", sales))
    unit = rules.metrics["subscription_sales"].unit
    for line in sales:
        s = partner.subscription_sales[line.index]
        out.append(f"    {mark(line)} {s.year}  {unit} {number(s.amount_usd)}: {line.note}")
    return out


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
