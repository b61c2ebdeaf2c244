"""The `diff` command: what a change does to every partner's status, before it is merged.

A pull request that edits one certification date can move a partner from Gold to Silver, and
one that edits data/programs.yaml can move hundreds. Reviewers see the records' text diff;
this shows the consequence. Both sides are checked and awarded with the same code and the same
as-of date, so the only differences are the ones the change makes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from .award import Award
from .check import check
from .problems import Problem
from .project import Paths
from .rules import Rules
from .validate import Partner


class DiffError(Exception):
    """The comparison cannot be made at all: not a repository, an unknown revision."""


@dataclass
class Side:
    """The records and rules at one revision (or the working tree), checked and awarded."""

    label: str
    rules: Rules | None = None
    partners: dict[str, Partner] = field(default_factory=dict)
    awards: dict[str, Award] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    invalid: dict[str, int] = field(default_factory=dict)  # slug (file stem) -> number of problems


@dataclass(frozen=True)
class Change:
    kind: str  # added | changed | removed | invalid
    slug: str
    name: str
    before: str  # status at base ("" when added)
    after: str  # status at head ("" when removed)
    reason: str


@dataclass
class StatusDiff:
    base: Side
    head: Side
    as_of: dt.date
    changes: list[Change]
    edited: list[str]  # slugs whose record changed without changing their status

    @property
    def complete(self) -> bool:
        return not self.base.problems and not self.head.problems


_KIND_ORDER = {"added": 0, "changed": 1, "removed": 2, "invalid": 3}


# ---------------------------------------------------------------------------------------------
# Reading a revision


def git(repo: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise DiffError("git is not installed; the diff compares git revisions") from None
    if done.returncode != 0:
        raise DiffError(done.stderr.strip() or f"git {' '.join(args)} failed")
    return done.stdout


def repository_of(path: Path) -> Path:
    """The work tree holding `path` (which may have been deleted in the working tree)."""
    probe = path.resolve()
    while not probe.exists():
        probe = probe.parent
    if probe.is_file():
        probe = probe.parent
    try:
        return Path(git(probe, "rev-parse", "--show-toplevel").strip()).resolve()
    except DiffError:
        raise DiffError(f"{path} is not inside a git repository; the diff compares git revisions") from None


def commit_of(repo: Path, rev: str) -> str:
    if rev.startswith("-"):
        raise DiffError(f"'{rev}' is not a git revision")
    try:
        return git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}").strip()
    except DiffError:
        hint = ""
        if "/" in rev:
            remote, _, branch = rev.partition("/")
            hint = f" (if it is a branch of a remote, fetch it first: git fetch {remote} {branch})"
        raise DiffError(f"unknown git revision '{rev}'{hint}") from None


def export(repo: Path, commit: str, rel_paths: list[str], dest: Path) -> None:
    """Write the given files and folders as they are at `commit` under `dest`."""
    present = [p for p in rel_paths if git(repo, "ls-tree", "--name-only", commit, "--", p).strip()]
    if not present:
        return
    archive = subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", commit, "--", *present],
                             capture_output=True, check=False)
    if archive.returncode != 0:
        raise DiffError(archive.stderr.decode(errors="replace").strip())
    with tempfile.TemporaryFile() as buf:
        buf.write(archive.stdout)
        buf.seek(0)
        with tarfile.open(fileobj=buf, mode="r:") as tar:
            # The "data" filter refuses links out of dest and device files: a hostile pull
            # request cannot write outside the temporary folder.
            tar.extractall(dest, filter="data")


def evaluate(label: str, paths: Paths, as_of: dt.date, shown_root: Path | None = None) -> Side:
    """Check and award one side. Problems name files as they are in the repository."""
    from .award import award_all

    checked = check(paths, as_of)
    problems = checked.problems
    if shown_root is not None:
        problems = [replace(p, path=_repo_path(p.path, shown_root)) for p in problems]
    side = Side(label, checked.rules, {p.slug: p for p in checked.partners}, {}, problems)
    if checked.rules is None:
        return side
    for p in problems:  # with readable rules, every problem is about a file in the records folder
        if Path(p.path).suffix.lower() in (".yaml", ".md"):
            stem = Path(p.path).stem
            side.invalid[stem] = side.invalid.get(stem, 0) + 1
    side.awards = award_all(checked.partners, checked.rules, as_of)
    return side


def _repo_path(path: str, root: Path) -> str:
    for prefix in {str(root), str(root.resolve()), os.path.relpath(root)}:
        if path.startswith(prefix + os.sep):
            return path[len(prefix) + 1:]
    return path


# ---------------------------------------------------------------------------------------------
# Comparing


def status_label(award: Award, rules: Rules) -> str:
    if award.removed:
        return "not listed"
    level = rules.level_by_id.get(award.level)
    return level.name if level else award.level


def metric_text(metric: str, value: float, rules: Rules) -> str:
    rule = rules.metrics.get(metric)
    name = rule.name if rule else metric.replace("_", " ")
    if rule is not None and rule.unit.upper() == "USD":
        return f"${value:,.0f} of {name}"
    count = int(value) if float(value).is_integer() else value
    if count == 1 and name.endswith("s"):
        name = name[:-1]
    return f"{count} {name}"


def _counted(award: Award, rules: Rules) -> list[str]:
    """The metrics that decide `award`: those of the program that earned it, or all of them."""
    for pa in award.by_program:
        if pa.program == award.program:
            return list(pa.counted)
    return list(rules.metrics)


def evidence_text(award: Award, rules: Rules) -> str:
    return ", ".join(metric_text(m, award.metrics.get(m, 0), rules) for m in _counted(award, rules))


def reason(before: Award, after: Award, old: Partner, new: Partner, base_rules: Rules,
           head_rules: Rules) -> str:
    """Why a status changed, in the terms an editor reviews: evidence, programs, rules."""
    reasons: list[str] = []
    if after.removed and not before.removed:
        reasons.append(f"no level earned by the {after.review_date.isoformat()} review, "
                       "a year or more after joining")
    up = head_rules.level_rank.get(after.level, 0) >= base_rules.level_rank.get(before.level, 0)
    deciding = _counted(after if up else before, head_rules if up else base_rules)
    for metric in deciding:
        was, now = before.metrics.get(metric, 0), after.metrics.get(metric, 0)
        if was != now:
            now_text = metric_text(metric, now, head_rules)
            reasons.append(f"{now_text} now (was {_number(was, metric, base_rules)})")
    # A partner moving up to a program that includes its old one has not left the old one.
    joined = [p for p in new.programs if p not in base_rules.implied_programs(old.programs)]
    left = [p for p in old.programs if p not in head_rules.implied_programs(new.programs)]
    for pid in joined:
        prog = head_rules.program_by_id.get(pid)
        reasons.append(f"joined the {prog.name if prog else pid} program")
    for pid in left:
        prog = base_rules.program_by_id.get(pid)
        reasons.append(f"left the {prog.name if prog else pid} program")
    if [lv.model_dump() for lv in base_rules.levels] != [lv.model_dump() for lv in head_rules.levels]:
        reasons.append("the level minimums in data/programs.yaml changed")
    elif base_rules.model_dump() != head_rules.model_dump():
        reasons.append("the program rules in data/programs.yaml changed")
    if old.joined != new.joined:
        reasons.append(f"joined date now {new.joined.isoformat()} (was {old.joined.isoformat()})")
    if not reasons and before.removed and not after.removed:
        reasons.append("listed again with " + evidence_text(after, head_rules))
    return "; ".join(reasons) or "the evidence changed"


def _number(value: float, metric: str, rules: Rules) -> str:
    rule = rules.metrics.get(metric)
    if rule is not None and rule.unit.upper() == "USD":
        return f"${value:,.0f}"
    return str(int(value) if float(value).is_integer() else value)


def _record(partner: Partner) -> dict:
    return partner.model_dump(exclude={"source"})


def compare(base: Side, head: Side) -> tuple[list[Change], list[str]]:
    """Partners added, removed, changing status or unreadable; and those edited without effect."""
    changes: list[Change] = []
    edited: list[str] = []
    slugs = sorted(set(base.partners) | set(head.partners) | set(head.invalid))
    for slug in slugs:
        old, new = base.partners.get(slug), head.partners.get(slug)
        b, h = base.awards.get(slug), head.awards.get(slug)
        if slug in head.invalid:
            n = head.invalid[slug]
            changes.append(Change(
                "invalid", slug, (old.name if old else slug),
                status_label(b, base.rules) if b and base.rules else "", "",
                f"the record has {n} problem{'s' if n != 1 else ''} in {head.label}; "
                "run `python build.py check`"))
            continue
        if new is None or h is None:
            if old is not None and b is not None:
                changes.append(Change("removed", slug, old.name, status_label(b, base.rules), "",
                                      "record deleted"))
            continue
        after = status_label(h, head.rules)
        if old is None or b is None:
            if slug in base.invalid:
                why = f"the record had problems in {base.label}; now {evidence_text(h, head.rules)}"
                changes.append(Change("changed", slug, new.name, "invalid record", after, why))
            else:
                why = "new record" if h.program is None else "new record: " + evidence_text(h, head.rules)
                changes.append(Change("added", slug, new.name, "", after, why))
            continue
        before = status_label(b, base.rules)
        if before != after:
            changes.append(Change("changed", slug, new.name, before, after,
                                  reason(b, h, old, new, base.rules, head.rules)))
        elif _record(old) != _record(new):
            edited.append(slug)
    changes.sort(key=lambda c: (_KIND_ORDER[c.kind], c.name.casefold(), c.slug))
    return changes, edited


def status_diff(base_rev: str, head_rev: str | None, paths: Paths, as_of: dt.date) -> StatusDiff:
    """Check and award both revisions with the same as-of date and compare them."""
    repo = repository_of(paths.content)
    rel = []
    for path in (paths.content, paths.rules):
        try:
            rel.append(path.resolve().relative_to(repo).as_posix())
        except ValueError:
            raise DiffError(f"{path} is not inside the git repository {repo}") from None
    content_rel, rules_rel = rel
    base_commit = commit_of(repo, base_rev)
    head_commit = commit_of(repo, head_rev) if head_rev else None
    with tempfile.TemporaryDirectory(prefix="partnerdir-diff-") as tmp:
        sides = []
        for name, rev, commit in (("base", base_rev, base_commit), ("head", head_rev, head_commit)):
            if commit is None:
                sides.append(evaluate("the working tree", paths, as_of))
                continue
            root = Path(tmp) / name
            root.mkdir()
            export(repo, commit, [content_rel, rules_rel], root)
            label = f"{rev} ({commit[:7]})" if not commit.startswith(rev) else commit[:7]
            rev_paths = Paths(content=root / content_rel, rules=root / rules_rel)
            if not rev_paths.rules.exists():
                sides.append(Side(label, None, problems=[Problem(
                    rules_rel, message=f"does not exist in {label}",
                    hint="the status diff needs the program rules on both sides")]))
                continue
            if not rev_paths.content.exists():
                rev_paths.content.mkdir(parents=True)  # no records yet at this revision
            sides.append(evaluate(label, rev_paths, as_of, shown_root=root))
    base, head = sides
    if base.rules is None or head.rules is None:
        return StatusDiff(base, head, as_of, [], [])
    changes, edited = compare(base, head)
    return StatusDiff(base, head, as_of, changes, edited)


# ---------------------------------------------------------------------------------------------
# Reporting

_SYMBOL = {"added": "+", "changed": "~", "removed": "-", "invalid": "!"}


def _status_text(c: Change) -> str:
    if c.kind == "added":
        return f"added, {c.after}"
    if c.kind == "removed":
        return f"removed, was {c.before}"
    if c.kind == "invalid":
        return "cannot be checked" + (f", was {c.before}" if c.before else "")
    return f"{c.before} → {c.after}"


def _unreadable(diff: StatusDiff) -> list[Side]:
    return [s for s in (diff.base, diff.head) if s.rules is None]


def format_text(diff: StatusDiff) -> str:
    out = [f"Partner status changes from {diff.base.label} to {diff.head.label}, "
           f"as of {diff.as_of.isoformat()}:", ""]
    for side in _unreadable(diff):
        out.append(f"The program rules in {side.label} cannot be read, so no status can be compared:")
        out += ["  " + p.text() for p in side.problems] + [""]
    if not _unreadable(diff):
        if diff.changes:
            for c in diff.changes:
                out.append(f"  {_SYMBOL[c.kind]} {c.name} ({c.slug}): {_status_text(c)}: {c.reason}")
        else:
            out.append("  No partner is added, removed or changes status.")
        if diff.edited:
            n = len(diff.edited)
            out += ["", f"{n} other record{'s' if n != 1 else ''} edited without a status change: "
                    + ", ".join(diff.edited)]
        for side in (diff.base, diff.head):
            if side.problems:
                out += ["", f"Records with problems in {side.label} (fix them, then compare again):"]
                out += ["  " + p.text() for p in side.problems]
    return "\n".join(out) + "\n"


# Emphasis, links, images, table cells, headings, strikethrough, math ($); ':' and '.' stop autolinks.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]!#|~:.$])")


def md(text: str) -> str:
    """Partner text shown as plain text in a Markdown comment: no links, images, HTML or @mentions."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = " ".join(text.split())
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return text.replace("@", "@\u2060")  # a word joiner: shown as '@', never notifies anyone


def code(slug: str) -> str:
    """A slug as code; an invalid record's file name could hold a backtick that ends the code span."""
    return f"`{slug}`" if _SLUG.fullmatch(slug) else md(slug)


_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def format_markdown(diff: StatusDiff) -> str:
    out = ["### Partner status changes", "",
           f"Comparing {md(diff.base.label)} with {md(diff.head.label)}, as of {diff.as_of.isoformat()}.", ""]
    for side in _unreadable(diff):
        out += [f"**The program rules in {md(side.label)} cannot be read**, "
                "so no status can be compared:", ""]
        out += [f"- {md(p.text())}" for p in side.problems] + [""]
    if not _unreadable(diff):
        if diff.changes:
            out += ["| | Partner | Status | Why |", "|---|---|---|---|"]
            for c in diff.changes:
                out.append(f"| {c.kind.capitalize()} | {md(c.name)} ({code(c.slug)}) | {md(_status_text(c))} "
                           f"| {md(c.reason)} |")
        else:
            out.append("No partner is added, removed or changes status.")
        if diff.edited:
            n = len(diff.edited)
            out += ["", f"{n} other record{'s' if n != 1 else ''} edited without a status change: "
                    + ", ".join(f"`{s}`" for s in diff.edited) + "."]
        for side in (diff.base, diff.head):
            if side.problems:
                out += ["", f"**Records with problems in {md(side.label)}** "
                        "(run `python build.py check`):", ""]
                out += [f"- {md(p.text())}" for p in side.problems]
    return "\n".join(out) + "\n"


def format_json(diff: StatusDiff) -> str:
    def side(s: Side) -> dict:
        return {"label": s.label, "partners": len(s.partners), "problems": [p.as_json() for p in s.problems]}

    return json.dumps({
        "as_of": diff.as_of.isoformat(),
        "complete": diff.complete,
        "base": side(diff.base),
        "head": side(diff.head),
        "changes": [c.__dict__ for c in diff.changes],
        "edited": diff.edited,
    }, indent=2, ensure_ascii=False) + "\n"


FORMATS = {"text": format_text, "markdown": format_markdown, "json": format_json}


def run(args, paths: Paths, as_of: dt.date) -> int:
    try:
        diff = status_diff(args.base, args.head, paths, as_of)
    except DiffError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    sys.stdout.write(FORMATS[args.format](diff))
    if not diff.complete:
        print("The comparison is incomplete: some records or rules have problems (listed above).",
              file=sys.stderr)
        return 1
    return 0
