"""Open data: partners.json and partners.csv hold every listed partner, its status and the as-of date."""

from __future__ import annotations

import csv
import io
import json

import pytest

from partnerdir.export import CSV_COLUMNS, safe_cell
from tests.site_records import SMALL, build, record

LEVELS = {"provisional", "bronze", "silver", "gold", "platinum"}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("export")
    records = dict(SMALL)
    records["formula-co"] = record(
        "=HYPERLINK(\"https://evil.example\",\"click\")", headquarters={"city": "@SUM(A1)", "country": "DE"},
        description="-2+3 is a formula too",
    )
    result, paths = build(tmp, records)
    assert result.ok, [p.text() for p in result.problems]
    return paths.out


def test_json_has_the_as_of_date_and_every_listed_partner_with_its_status(small):
    data = json.loads((small / "partners.json").read_text(encoding="utf-8"))
    assert data["as_of"] == "2026-11-15"
    slugs = [p["slug"] for p in data["partners"]]
    assert slugs == sorted(["alpha-var", "beta-integration", "gamma-reseller", "delta-new", "formula-co"])
    alpha = next(p for p in data["partners"] if p["slug"] == "alpha-var")
    assert alpha["name"] == "Alpha Systems GmbH"
    assert alpha["programs"] == ["value-added-reseller"]
    assert alpha["headquarters"] == {"city": "Munich", "country": "DE"}
    assert alpha["regions_served"] == ["emea"] and alpha["countries_served"] == ["DE", "AT"]
    assert alpha["contact"] == {"email": "hello@alpha.example", "url": "https://alpha.example/contact"}
    assert alpha["joined"] == "2020-05-04"
    assert alpha["url"] == "https://partners.example.org/partners/alpha-var/"
    assert len(alpha["certifications"]) == 8 and len(alpha["projects"]) == 6
    assert alpha["subscription_sales"] == [{"year": 2025, "amount_usd": 400000}]
    status = alpha["status"]
    assert status["level"] == "gold" and status["program"] == "value-added-reseller"
    assert status["as_of"] == "2026-11-15"
    assert status["metrics"] == {"certified_engineers": 8, "successful_projects": 6,
                                 "subscription_sales": 400000}
    assert status["next_level"] == "platinum"
    assert status["history"][-1] == {"date": "2026-11-15", "level": "gold"}
    assert "removed" not in status and "source" not in alpha and "format" not in alpha
    for partner in data["partners"]:
        assert partner["status"]["level"] in LEVELS


def test_json_is_one_partner_a_line_with_every_public_field_in_record_order(small):
    """Compact, so a build writes it fast, and one partner a line, so a diff of two builds shows
    which partners changed."""
    from partnerdir.schema import FIELD_ORDER

    lines = (small / "partners.json").read_text(encoding="utf-8").split("\n")
    assert lines[0] == '{"as_of":"2026-11-15","partners":['
    assert lines[-2:] == ["]}", ""]
    entries = [json.loads(line.removesuffix(",")) for line in lines[1:-2]]
    assert [e["slug"] for e in entries] == sorted(e["slug"] for e in entries) and len(entries) == 5
    expected = ["slug", *(f for f in FIELD_ORDER if f not in ("slug", "logo")), "logo", "url", "status"]
    for entry in entries:
        assert list(entry) == expected
    formula = next(e for e in entries if e["slug"] == "formula-co")
    assert formula["description"] == "-2+3 is a formula too"
    assert formula["headquarters"] == {"city": "@SUM(A1)", "country": "DE"}
    assert formula["logo"] is None and formula["contact"] is None


def test_json_of_no_partner_is_an_empty_list(tmp_path):
    result, paths = build(tmp_path, {})
    assert result.ok, [p.text() for p in result.problems]
    text = (paths.out / "partners.json").read_text(encoding="utf-8")
    assert text == '{"as_of":"2026-11-15","partners":[]}\n'


def test_removed_partners_are_not_in_the_open_data(small):
    for name in ("partners.json", "partners.csv", "directory.json"):
        assert "omega" not in (small / name).read_text(encoding="utf-8").lower(), name


def test_csv_has_one_row_per_partner_with_status_and_as_of(small):
    rows = list(csv.DictReader(io.StringIO((small / "partners.csv").read_text(encoding="utf-8"))))
    assert list(rows[0].keys()) == list(CSV_COLUMNS)
    by_slug = {r["slug"]: r for r in rows}
    assert set(by_slug) == {"alpha-var", "beta-integration", "gamma-reseller", "delta-new", "formula-co"}
    alpha = by_slug["alpha-var"]
    assert alpha["status_level"] == "gold" and alpha["as_of"] == "2026-11-15"
    assert alpha["member_of_programs"] == (
        "value-added-reseller; fulfillment-reseller; certified-integration-partner")
    assert alpha["countries_served"] == "DE; AT" and alpha["subscription_sales_usd"] == "400000"
    assert alpha["remote_delivery"] == "false"
    assert by_slug["gamma-reseller"]["status_level"] == "bronze"
    assert {r["status_level"] for r in rows} <= LEVELS


def test_csv_cells_that_a_spreadsheet_would_run_are_escaped(small):
    raw = (small / "partners.csv").read_text(encoding="utf-8")
    rows = {r["slug"]: r for r in csv.DictReader(io.StringIO(raw))}
    row = rows["formula-co"]
    assert row["name"] == "'=HYPERLINK(\"https://evil.example\",\"click\")"
    assert row["headquarters_city"] == "'@SUM(A1)"
    assert row["description"] == "'-2+3 is a formula too"
    for r in rows.values():
        for column, value in r.items():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), (column, value)
    # the JSON keeps the text as written: it is data, not a spreadsheet
    partners = json.loads((small / "partners.json").read_text(encoding="utf-8"))["partners"]
    assert next(p for p in partners if p["slug"] == "formula-co")["name"].startswith("=HYPERLINK")


@pytest.mark.parametrize("value, cell", [
    ("=1+1", "'=1+1"), ("+49 30", "'+49 30"), ("-x", "'-x"), ("@me", "'@me"),
    ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("plain", "plain"), ("a=b", "a=b"), (None, ""), (True, "true"), (3.0, "3"), (2.5, "2.5"), (0, "0"),
])
def test_safe_cell(value, cell):
    assert safe_cell(value) == cell


def _csv_writer_line(cells) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue()


@pytest.mark.parametrize("cells", [
    ["plain", "two words", ""], ["a,b", 'say "hi"', "line\nbreak", "cr\rhere", "crlf\r\n"], [""], ["", ""],
    ['"', ",", "\n", " lead", "trail ", "'=quoted", "tab\there", "é ünïcödé, 北京"], [],
])
def test_csv_lines_are_what_the_csv_module_writes(cells):
    """Rows are joined by hand for speed; a spreadsheet must read them as csv.writer's."""
    from partnerdir.export import _csv_line

    assert _csv_line(cells) == _csv_writer_line(cells)
    if cells:
        assert next(csv.reader(io.StringIO(_csv_line(cells), newline=""))) == cells


def test_csv_lines_match_the_csv_module_on_random_text():
    import random

    from partnerdir.export import _csv_line

    rng = random.Random(8)
    alphabet = 'ab ,"\r\n\t\'=é'
    for _ in range(2000):
        cells = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(6)))
                 for _ in range(rng.randrange(1, 5))]
        assert _csv_line(cells) == _csv_writer_line(cells), cells
