"""The hostile-record corpus against `check` and the real build.

Every case in tests/hostile/cases.yaml either gets exactly the problems it lists (file, line,
field, message) from one `check` of the whole corpus, or passes `check` and is built with the other
safe cases into one site whose every page is audited: nothing runs, nothing loads from elsewhere,
and the hostile text is visible as text where a visitor would read it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from partnerdir.check import check
from partnerdir.project import ROOT, Paths
from tests.hostile import corpus
from tests.hostile.audit import audit_page, visible_text
from tests.hostile.corpus import AS_OF, CASES, SAFE

CHECK_CASES = [c for c in CASES if not c.safe]


def test_the_corpus_is_large_and_consistent():
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES), "case ids repeat"
    listed = {name for c in CASES for name in c.files}
    on_disk = {p.name for p in corpus.RECORDS.iterdir()}
    made_from_records = {"twin.yaml", "logo-symlink-outside.yaml"}
    assert listed <= on_disk, f"cases.yaml names missing records: {sorted(listed - on_disk)}"
    assert on_disk <= listed | made_from_records, f"records no case uses: {sorted(on_disk - listed)}"
    assert len(SAFE) >= 30 and len(CHECK_CASES) >= 30


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    content = corpus.content_folder(tmp_path_factory.mktemp("corpus"), CASES)
    return check(Paths(content=content), AS_OF, workers=1)


def _problems_of(checked, names):
    return [p for p in checked.problems if Path(p.path).name in names]


@pytest.mark.parametrize("case", CHECK_CASES, ids=lambda c: c.id)
def test_check_reports_the_attack_precisely(checked, case):
    names = {e.file for e in case.expect} | set(case.files)
    found = _problems_of(checked, names)
    unmatched = list(found)
    for e in case.expect:
        match = next((p for p in unmatched if Path(p.path).name == e.file and p.line == e.line
                      and p.field == e.field and e.message in p.text()), None)
        assert match, f"{case.attack}: expected {e}, check said:\n" + "\n".join(p.text() for p in found)
        unmatched.remove(match)
    assert not unmatched, "problems cases.yaml does not expect:\n" + "\n".join(p.text() for p in unmatched)
    assert not {p.source for p in checked.partners} & {f"{Path(p).name}" for p in names}


@pytest.mark.parametrize("case", SAFE, ids=lambda c: c.id)
def test_safe_case_passes_check(checked, case):
    found = _problems_of(checked, set(case.files))
    assert not found, [p.text() for p in found]
    assert corpus.slug_of(case) in {p.slug for p in checked.partners}


def test_check_command_prints_hostile_values_inertly(tmp_path):
    """Problems quote what a record says; printed raw, escape sequences and bidi controls would
    rewrite the maintainer's terminal or reorder the line they read."""
    content = corpus.content_folder(tmp_path, CHECK_CASES)
    proc = subprocess.run([sys.executable, str(ROOT / "build.py"), "check", "--content", str(content),
                           "--as-of", AS_OF.isoformat()], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "GITHUB_ACTIONS": "true"}, timeout=60)
    assert proc.returncode == 1
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out
    files = {e.file for case in CHECK_CASES for e in case.expect}
    assert f"problems in {len(files)} files." in proc.stderr
    hidden = sorted({f"U+{ord(ch):04X}" for ch in out if unicodedata.category(ch) in ("Cc", "Cf")
                     and ch not in "\n"})
    assert not hidden, f"check printed raw control or format characters: {hidden}"
    assert "expertise[0]: unknown expertise '\\x1b]8;;https://evil.example" in proc.stderr


# --- the safe cases, built together into one site ---------------------------------------------

@pytest.fixture(scope="module")
def site(tmp_path_factory):
    result, out = corpus.build_safe_site(tmp_path_factory.mktemp("hostile-site"))
    assert result.ok, "\n".join(p.text() for p in result.problems)
    return out


def _pages(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): p.read_text(encoding="utf-8") for p in sorted(out.rglob("*.html"))}


def test_every_page_built_from_the_corpus_is_safe(site):
    pages = _pages(site)
    assert len(pages) > len(SAFE)
    findings = {path: f for path, html in pages.items() if (f := audit_page(html))}
    assert not findings, json.dumps(findings, indent=1)[:4000]


@pytest.mark.parametrize("case", [c for c in SAFE if c.shows], ids=lambda c: c.id)
def test_hostile_text_is_shown_as_text(site, case):
    html = (site / "partners" / corpus.slug_of(case) / "index.html").read_text(encoding="utf-8")
    text = visible_text(html)
    for value in case.shows:
        assert " ".join(value.split()) in text, f"{value!r} is not visible on the partner page"


def test_every_description_renders_without_markup_that_could_run(site):
    """The descriptions' own HTML, as the pipeline renders it, holds only the allowed elements."""
    allowed = {"p", "br", "hr", "strong", "em", "b", "i", "code", "pre", "blockquote", "ul", "ol", "li", "a",
               "h3", "h4", "h5", "h6", "abbr", "sub", "sup", "del", "dl", "dt", "dd"}
    for case in SAFE:
        html = (site / "partners" / corpus.slug_of(case) / "index.html").read_text(encoding="utf-8")
        prose = html.split('<div class="prose">', 1)[1].split("</div>\n</section>", 1)[0]
        tags = _tags(prose)
        assert tags <= allowed, f"{case.id}: {sorted(tags - allowed)}"


def _tags(html: str) -> set[str]:
    from html.parser import HTMLParser

    seen: set[str] = set()

    class Tags(HTMLParser):
        def handle_starttag(self, tag, attrs):
            seen.add(tag)

    Tags().feed(html)
    return seen


def test_csv_cells_cannot_start_a_formula(site):
    text = (site / "partners.csv").read_text("utf-8")
    rows = {row["slug"]: row for row in csv.DictReader(io.StringIO(text))}
    for case in SAFE:
        for column, cell in case.csv.items():
            assert rows[corpus.slug_of(case)][column] == cell, case.id
    for row in rows.values():
        for column, cell in row.items():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (row["slug"], column, cell)


def test_open_data_is_strict_json_with_the_values_intact(site):
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    data = json.loads((site / "partners.json").read_text("utf-8"), parse_constant=refuse)
    names = {p["slug"]: p["name"] for p in data["partners"]}
    assert names["name-closes-script"] == "</script><script>alert(1)</script>"
    assert names["name-line-separator"] == "Acme\u2028alert(1)//"
    json.loads((site / "directory.json").read_text("utf-8"), parse_constant=refuse)


def test_only_allowed_logo_files_are_published(site):
    logos = sorted(p.name for p in (site / "logos").iterdir()) if (site / "logos").exists() else []
    referenced = {"plain.svg", "disguised.png"}
    assert set(logos) <= referenced, logos


@pytest.mark.parametrize("unit", ["[", "![", "[a](", "[](", "([)<]", "<a ", "<http://", "- - x\n",
                                  "<a!><!--> ", "(_> <!----><a"])
def test_a_hostile_description_cannot_stall_the_build(unit):
    """Markdown's cost grew with the square (and with comments, the cube) of these descriptions:
    49,000 characters of '[' took seven minutes, of '(_> <!----><a' two, of '[a](' ninety seconds,
    of '<a ' thirty; 20,000 characters of '[' took seventy seconds. The bound is far above the
    time they take now and far below that."""
    import time

    from partnerdir.markdown_text import plain_text, render_markdown

    text = (unit * (20_000 // len(unit) + 1))[:20_000]
    start = time.perf_counter()
    html = render_markdown(text)
    plain_text(text)
    assert time.perf_counter() - start < 10
    assert "<script" not in html and "onerror" not in html


def test_a_description_too_deep_for_markdown_is_text_and_the_next_one_still_renders():
    from partnerdir.markdown_text import render_markdown

    deep = render_markdown("- " * 1_000 + "deepest")
    assert deep.startswith("<p>- - -") and deep.endswith("deepest</p>")
    assert render_markdown("*after* the deep one") == "<p><em>after</em> the deep one</p>"


def test_the_pull_request_summary_shows_a_hostile_file_name_as_text():
    """`build.py diff --format markdown` goes into the pull request's job summary, which GitHub
    renders: an invalid record is named by its file, and a file name can hold anything."""
    from partnerdir.diff import Side, StatusDiff, compare, format_markdown
    from partnerdir.project import Paths
    from partnerdir.rules import load_rules

    rules = load_rules(Paths().rules)
    stem = "x` <img src=https://tracker.example/p.png> | ![a](https://tracker.example/q.png) `y"
    base, head = Side("origin/main", rules), Side("working tree", rules, invalid={stem: 1})
    changes, edited = compare(base, head)
    summary = format_markdown(StatusDiff(base, head, AS_OF, changes, edited))
    (row,) = [line for line in summary.splitlines() if line.startswith("| Invalid")]
    assert "<" not in row and not re.search(r"(?<!\\)\]\(", row), row  # no HTML, no link
    assert len(re.findall(r"(?<!\\)\|", row)) == 5, row  # the table's own four columns only
