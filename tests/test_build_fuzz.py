"""Records made of arbitrary values, built for real: a validation error or a safe site, nothing else.

Hypothesis writes a record whose free-text fields mix arbitrary Unicode with fragments of HTML,
JavaScript, Markdown links, attribute breakouts and spreadsheet formulas, and whose addresses have
random schemes. The record is built in-process with the real pipeline. The build must either
stop with problems that name the file, or write pages that pass the audit of tests/hostile/audit
(no script but the site's own, no on*= attribute, no javascript: URL, nothing from elsewhere)
and show the partner's name as text. Any exception fails the test.
"""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from partnerdir.pipeline import build_site
from partnerdir.project import Paths
from tests.hostile.audit import audit_page, visible_text
from tests.hostile.corpus import AS_OF

# Fragments that land in text, attributes, URLs, Markdown and CSV cells.
FRAGMENTS = [
    "<script>alert(1)</script>", "</script>", "<img src=x onerror=alert(1)>", "<svg onload=alert(1)>",
    '" onmouseover="alert(1)', "' onfocus='alert(1)", "javascript:alert(1)", "JaVaScRiPt:",
    "jav&#x61;script:", "&#106;", "data:text/html,<script>alert(1)</script>", "vbscript:",
    "[x](javascript:alert(1))", "[x](", "](", "![x](https://tracker.example/p.gif)",
    "<https://evil.example/\">", "<a href=\"", "<iframe src=//evil.example>", "<style>", "<!--", "-->",
    "<math>", "{{ 7*7 }}", "{% raw %}", "=cmd|' /C calc'!A0", "+1", "-1", "@SUM(1)", "\n", "\n\n", "- ",
    "> ", "# ", "`", "*", "_", "&amp;", "&", "<", ">", "'", '"', "\u2028", "é", "e\u0301", "\U0001f600",
]
# Characters validation refuses; rare, so most examples get as far as the pages.
REFUSED = ["\u202e", "\u200b", "\x07", "\t", "\x1b[2J", "\u061c", "\U000e0041"]
SINGLE_LINE = [f for f in FRAGMENTS if "\n" not in f]


def mostly(usual, rare):
    """Usually `usual`: Hypothesis favours the first of the choices."""
    return st.sampled_from([usual] * 9 + [rare]).flatmap(lambda strategy: strategy)


def joined(pieces):
    return st.lists(pieces, min_size=1, max_size=8).map("".join)


printable = st.text(st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")),
                    max_size=12)
anything = joined(st.one_of(st.sampled_from(FRAGMENTS + REFUSED), st.text(max_size=12)))
line = mostly(joined(st.one_of(st.sampled_from(SINGLE_LINE), printable)), anything)
markdown = mostly(joined(st.one_of(st.sampled_from(FRAGMENTS), printable)), anything)
path = st.lists(st.sampled_from(["a", "%22", "'", '"', "<", ">", "(", ")", "script", "&", "#x", "?q=", "=",
                                 "onerror=alert(1)", "/"]), max_size=8).map("".join)
web = st.builds(lambda host, p: f"https://{host}.example/{p}", st.sampled_from(["acme", "evil", "x-y"]), path)
scheme = st.sampled_from(["http", "javascript", "JaVaScRiPt", "data", "vbscript", "ftp", "mailto", "",
                          " javascript", "java\tscript"])
odd = st.builds(lambda s, sep, rest: f"{s}{sep}{rest}", scheme, st.sampled_from(["://", ":", ":/"]),
                st.one_of(st.sampled_from(["example.org/", "a@b.example", "//x"]), anything))
url = mostly(web, odd)
local = st.text(st.sampled_from("abc.=+-&%!#{}|~/?"), min_size=1, max_size=10)
email = mostly(st.builds(lambda a: f"{a}@example.org", local),
               st.builds(lambda a, b: f"{a}@{b}", anything, line))


def _record(name, city, title, description, website, contact_url, contact_email) -> dict:
    return {
        "name": name, "website": website, "joined": "2026-06-01", "programs": ["integration-partner"],
        "headquarters": {"city": city, "country": "DE"}, "countries_served": ["DE"],
        "expertise": ["integration"], "languages": ["en"],
        "contact": {"email": contact_email, "url": contact_url},
        "projects": [{"title": title, "completed": "2026-07-01", "country": "DE", "products": ["api-manager"],
                      "distribution": "supported", "outcome": "successful"}],
        "description": description,
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=line, city=line, title=line, description=markdown, website=url, contact_url=url,
       contact_email=email, markdown_file=st.booleans())
def test_any_record_builds_safely_or_is_refused(name, city, title, description, website, contact_url,
                                                contact_email, markdown_file):
    data = _record(name, city, title, description, website, contact_url, contact_email)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        content = root / "partners"
        content.mkdir()
        if markdown_file:
            body = data.pop("description")
            front = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
            (content / "fuzzed.md").write_text(f"---\n{front}---\n{body}", encoding="utf-8")
        else:
            (content / "fuzzed.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        out = root / "site"
        paths = Paths(content=content, out=out, cache=root / ".cache")
        result = build_site(paths, AS_OF, search=False, out=out)

        event("built" if result.ok else "refused by validation")
        if not result.ok:
            assert result.problems
            for problem in result.problems:
                assert problem.path.endswith(("fuzzed.yaml", "fuzzed.md")) and problem.message, problem.text()
            assert not out.exists(), "a refused build wrote a site"
            return

        pages = {p.relative_to(out).as_posix(): p.read_text("utf-8") for p in out.rglob("*.html")}
        findings = {path: f for path, html in pages.items() if (f := audit_page(html))}
        assert not findings, findings
        shown = visible_text(pages["partners/fuzzed/index.html"])
        assert " ".join(name.split()) in shown
        rows = list(csv.reader(io.StringIO((out / "partners.csv").read_text("utf-8"))))
        for cell in rows[1]:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
