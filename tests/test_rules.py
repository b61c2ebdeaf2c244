"""programs.yaml: its problems are reported like a record's, with path, line and field.

Each case edits a temporary copy of the real data/programs.yaml; the expected line is the line
of the edited text, so the cases keep working as the program's rules grow.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from partnerdir.check import check
from partnerdir.cli import main
from partnerdir.problems import ProblemError
from partnerdir.project import Paths
from partnerdir.rules import did_you_mean, load_rules

RULES_TEXT = Paths().rules.read_text(encoding="utf-8")


def edited(tmp_path: Path, old: str, new: str) -> tuple[Path, str]:
    assert RULES_TEXT.count(old) == 1, f"data/programs.yaml has no single {old!r}"
    text = RULES_TEXT.replace(old, new)
    path = tmp_path / "programs.yaml"
    path.write_text(text, encoding="utf-8")
    return path, text


def line_of(text: str, needle: str, nth: int = 1) -> int:
    at = -1
    for _ in range(nth):
        at = text.index(needle, at + 1)
    return text.count("\n", 0, at) + 1


CASES = [
    # id, old, new, needle marking the expected line (nth occurrence), field, message, hint
    ("implied program does not exist",
     "implies: [certified-integration-partner, fulfillment-reseller]",
     "implies: [certified-integration-partner, fulfilment-reseller]",
     ("fulfilment-reseller", 1), "programs[0].implies[1]", "unknown program 'fulfilment-reseller'",
     "did you mean 'fulfillment-reseller'?"),
    ("successor does not exist",
     "successor: certified-integration-partner", "successor: premier-partner",
     ("successor: premier-partner", 1), "retired_programs[0].successor", "unknown program 'premier-partner'",
     ""),
    ("duplicate id",
     "  - id: integration-partner\n", "  - id: fulfillment-reseller\n",
     ("- id: fulfillment-reseller", 2), "programs[3].id", "the id 'fulfillment-reseller' is used twice", ""),
    ("country in two regions",
     "countries: [US, CA,", "countries: [US, CA, DE,",
     ("DE,", 2), "regions[2].countries[17]", "DE is already in north-america",
     "a country belongs to one region"),
    ("country that is not ISO",
     "countries: [US, CA,", "countries: [US, XX, CA,",
     ("XX", 1), "regions[0].countries[1]", "'XX' is not an ISO 3166-1 alpha-2 code", ""),
    ("unknown neighbour",
     "neighbours: [apac]", "neighbours: [asia]",
     ("neighbours: [asia]", 1), "regions[2].neighbours[0]", "unknown region 'asia'", ""),
    ("certification of an unknown product",
     "    product: streaming-integrator", "    product: streaming",
     ("product: streaming\n", 1), "certifications[4].product", "unknown product 'streaming'", ""),
    ("level without a minimum",
     "minimums: {certified_engineers: 2, successful_projects: 1, subscription_sales: 25000}",
     "minimums: {certified_engineers: 2, successful_projects: 1}",
     ("minimums: {certified_engineers: 2, successful_projects: 1}", 1), "levels[1].minimums",
     "no minimum for subscription_sales", ""),
    ("misspelt setting",
     "annual_fee_usd: 500", "annual_fee: 500",
     ("annual_fee: 500", 1), "annual_fee", "unknown setting 'annual_fee'", "did you mean 'annual_fee_usd'?"),
    ("misspelt nested setting",
     "    short_name: VAR\n", "    short_name: VAR\n    implied: []\n",
     ("implied: []", 1), "programs[0].implied", "unknown setting 'implied'", "did you mean 'implies'?"),
    ("wrong type",
     "  record_max_bytes: 262144", "  record_max_bytes: lots",
     ("record_max_bytes: lots", 1), "limits.record_max_bytes", "valid integer", ""),
    ("unknown metric",
     "counts: [subscription_sales]\n", "counts: [subscription_sale]\n",
     ("counts: [subscription_sale]", 1), "programs[1].counts[0]", "'subscription_sales'", ""),
    ("invalid YAML",
     "annual_fee_usd: 500", "annual_fee_usd: [500",
     ("limits:", 1), "", "invalid YAML", ""),
    ("duplicate key",
     "annual_fee_usd: 500", "annual_fee_usd: 500\nannual_fee_usd: 600",
     ("annual_fee_usd: 600", 1), "annual_fee_usd", "duplicate field 'annual_fee_usd'", ""),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_problems_in_programs_yaml(tmp_path, case):
    _, old, new, (needle, nth), field, message, hint = case
    path, text = edited(tmp_path, old, new)
    with pytest.raises(ProblemError) as e:
        load_rules(path)
    # Other problems may follow from the same edit (a duplicate id also leaves a reference dangling).
    [problem] = [p for p in e.value.problems if p.field == field]
    assert problem.path.endswith("programs.yaml")
    assert problem.line == line_of(text, needle, nth)
    assert problem.field == field
    assert message in problem.message
    assert hint in problem.hint


def test_missing_setting(tmp_path):
    path, _ = edited(tmp_path, "annual_fee_usd: 500\n", "")
    with pytest.raises(ProblemError) as e:
        load_rules(path)
    [problem] = e.value.problems
    assert (problem.line, problem.field, problem.message) == (1, "annual_fee_usd", "is required")


def test_all_problems_in_programs_yaml_at_once(tmp_path):
    text = RULES_TEXT.replace("neighbours: [apac]", "neighbours: [asia]").replace(
        "    product: streaming-integrator", "    product: streaming")
    path = tmp_path / "programs.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProblemError) as e:
        load_rules(path)
    assert {p.field for p in e.value.problems} == {"regions[2].neighbours[0]", "certifications[4].product"}


def test_check_reports_broken_rules_and_the_cli_exits_1(tmp_path, capsys, monkeypatch):
    path, text = edited(tmp_path, "neighbours: [apac]", "neighbours: [asia]")
    result = check(Paths(rules=path), dt.date(2026, 11, 15), workers=1)
    assert result.rules is None and not result.ok
    [problem] = result.problems
    monkeypatch.chdir(tmp_path)
    code = main(["check", "--data", str(path), "--as-of", "2026-11-15"])
    err = capsys.readouterr().err
    assert code == 1
    line = line_of(text, "neighbours: [asia]")
    assert f"programs.yaml:{line}:18: regions[2].neighbours[0]: unknown region 'asia'" in err
    assert "Traceback" not in err


def test_missing_rules_file(tmp_path, capsys):
    code = main(["check", "--data", str(tmp_path / "nope.yaml"), "--as-of", "2026-11-15"])
    err = capsys.readouterr().err
    assert code == 1
    assert "nope.yaml: cannot read the program rules: No such file or directory" in err


def test_the_real_rules_load():
    rules = load_rules(Paths().rules)
    assert rules.implied_programs(["value-added-reseller"]) == [
        "value-added-reseller", "fulfillment-reseller", "certified-integration-partner"]
    assert rules.region_of_country["NO"] == "emea"
    assert rules.retired_by_id["premier-certified-integration-partner"].successor == (
        "certified-integration-partner")


@pytest.mark.parametrize("value, choices, hint", [
    ("emae", ["emea", "apac"], "did you mean 'emea'?"),
    ("xyz", ["emea", "apac"], ""),
])
def test_did_you_mean(value, choices, hint):
    assert did_you_mean(value, choices) == hint


def test_the_language_names_read_from_pycountrys_file_are_pycountrys_own(monkeypatch):
    """The two-letter languages and their names, read from pycountry's data file as its database
    reads it, are exactly what pycountry answers; with the file unreadable, pycountry answers."""
    import pycountry

    from partnerdir import rules

    expected = {lang.alpha_2: lang.name for lang in pycountry.languages if hasattr(lang, "alpha_2")}
    assert rules._read_languages() == expected
    assert len(expected) > 150 and expected["de"] == "German"
    monkeypatch.setattr(rules, "_languages", None)
    monkeypatch.setattr(pycountry.languages, "filename", "/no/such/file.json")
    assert rules._read_languages() is None
    assert rules.languages() == expected
