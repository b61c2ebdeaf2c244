"""The hostile-record corpus (cases.yaml, records/, logos/) turned into content folders and sites.

Cases that need the file system itself (symbolic links, file names that git or another operating
system would normalise, files too large to commit) are made here, by the function named in the
case's `make`.
"""

from __future__ import annotations

import datetime as dt
import shutil
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import yaml

HERE = Path(__file__).parent
RECORDS = HERE / "records"
LOGOS = HERE / "logos"
AS_OF = dt.date(2026, 11, 15)


@dataclass(frozen=True)
class Expected:
    file: str
    line: int
    field: str
    message: str


@dataclass(frozen=True)
class Case:
    id: str
    attack: str
    files: tuple[str, ...]
    make: str | None
    expect: tuple[Expected, ...] | None  # None: a safe build
    shows: tuple[str, ...] = ()
    csv: dict[str, str] = field(default_factory=dict)

    @property
    def safe(self) -> bool:
        return self.expect is None


def load_cases() -> list[Case]:
    cases = []
    for entry in yaml.safe_load((HERE / "cases.yaml").read_text(encoding="utf-8")):
        files = tuple(entry.get("files") or (() if entry.get("make") else (f"{entry['id']}.yaml",)))
        expect = entry["expect"]
        cases.append(Case(
            id=entry["id"],
            attack=entry["attack"],
            files=files,
            make=entry.get("make"),
            expect=None if expect == "safe" else tuple(
                Expected(e.get("file", files[0] if files else f"{entry['id']}.yaml"), e["line"], e["field"],
                         e["message"]) for e in expect),
            shows=tuple(entry.get("shows", ())),
            csv=dict(entry.get("csv", {})),
        ))
    return cases


CASES = load_cases()
SAFE = [c for c in CASES if c.safe]


def base_record(attack: str, name: str = "Case made") -> str:
    """A valid record to put a file-system trick around."""
    text = (RECORDS / "twin.yaml").read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    lines[0] = f"# Hostile case: {attack}\n"
    lines[1] = f"name: {name}\n"
    return "".join(lines).replace("description: |\n  The YAML twin.", "description: |\n  Made by corpus.py.")


def _with_line(text: str, number: int, line: str) -> str:
    lines = text.splitlines(keepends=True)
    lines[number - 1] = line + "\n"
    return "".join(lines)


def _make(case: Case, content: Path, outside: Path) -> None:
    how = case.make
    record = base_record(case.attack)
    if how == "unicode-twins":
        for name in (unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")):
            (content / f"{name}.yaml").write_text(record, encoding="utf-8")
    elif how == "bidi-file-name":
        (content / "acme\u202egnp.yaml").write_text(record, encoding="utf-8")
    elif how == "deep-flow":
        (content / f"{case.id}.yaml").write_text(
            _with_line(record, 2, "name: " + "[" * 100_000 + "]" * 100_000), encoding="utf-8")
    elif how == "deep-block":
        (content / f"{case.id}.yaml").write_text(f"# {case.attack}\n" + "- " * 50_000 + "x\n",
                                                 encoding="utf-8")
    elif how == "deep-mapping":
        (content / f"{case.id}.yaml").write_text(
            _with_line(record, 2, "name: " + "{a: " * 20_000 + "x" + "}" * 20_000), encoding="utf-8")
    elif how == "huge-file":
        (content / f"{case.id}.yaml").write_text(record + "  " + "word " * 400_000 + "\n", encoding="utf-8")
    elif how == "long-name":
        (content / f"{case.id}.yaml").write_text(_with_line(record, 2, "name: " + "A" * 100_000),
                                                 encoding="utf-8")
    elif how == "long-description-line":
        (content / f"{case.id}.yaml").write_text(record + "  " + "word " * 12_000 + "\n", encoding="utf-8")
    elif how == "description-flood":
        body = {"desc-bracket-flood": "[" * 49_000, "desc-tag-flood": ("<a " * 16_333)[:49_000],
                "desc-deep-list": "- " * 1_000 + "x"}[case.id]
        text = record.replace("Case made", f"Case {case.id}").replace("  Made by corpus.py.", "  " + body)
        (content / f"{case.id}.yaml").write_text(text, encoding="utf-8")
    elif how == "record-symlink-outside":
        target = outside / "real-record.yaml"
        target.write_text(record, encoding="utf-8")
        (content / f"{case.id}.yaml").symlink_to(target)
    elif how == "logo-symlink-outside":
        target = outside / "logo.svg"
        shutil.copy(LOGOS / "plain.svg", target)
        (content / "logos" / "escape.svg").symlink_to(target)
        shutil.copy(RECORDS / f"{case.id}.yaml", content / f"{case.id}.yaml")
    else:
        raise ValueError(f"cases.yaml: no way to make {how!r}")


def content_folder(root: Path, cases: list[Case]) -> Path:
    """content/partners for these cases, with every corpus logo; a sibling folder plays 'outside'."""
    content = root / "content" / "partners"
    outside = root / "outside"
    outside.mkdir(parents=True, exist_ok=True)
    shutil.copytree(LOGOS, content / "logos")
    for case in cases:
        for name in case.files:
            shutil.copy(RECORDS / name, content / name)
        if case.make:
            _make(case, content, outside)
    return content


def build_safe_site(root: Path, search: bool = False):
    """Every safe case built together into one site, in-process; returns (BuildResult, site folder)."""
    from partnerdir.pipeline import build_site
    from partnerdir.project import Paths

    content = content_folder(root, SAFE)
    out = root / "site"
    result = build_site(Paths(content=content, out=out, cache=root / ".cache"), AS_OF, search=search, out=out)
    return result, out


def slug_of(case: Case) -> str:
    return Path(case.files[0]).stem if case.files else case.id
