"""`build.py explain` and the review report of `build.py check`, run as an editor runs them."""

from __future__ import annotations

import calendar
import datetime as dt
import json
import textwrap

import pytest

from partnerdir.cli import main

CERTS = "\n".join(
    f"  - {{certification: api-manager-developer, holder: AC-{i:02}, issued: 2025-01-01, "
    f"expires: {'2027-03-31' if i < 2 else '2029-06-30'}}}"
    for i in range(9)
)
PROJECTS = "\n".join(
    f"  - {{title: Gateway {i}, completed: 2025-0{i + 1}-15, country: DE, products: [api-manager], "
    f"distribution: supported, outcome: successful}}"
    for i in range(7)
)
GOLD = textwrap.dedent("""\
    name: Acme Integration
    website: https://acme.example
    joined: 2022-05-01
    programs: [value-added-reseller]
    headquarters: {city: Berlin, country: DE}
    countries_served: [DE]
    expertise: [integration]
    languages: [en]
    description: Integration projects.
    subscription_sales:
      - {year: 2024, amount_usd: 450000}
    """) + "certifications:\n" + CERTS + "\nprojects:\n" + PROJECTS + "\n"

NEWCOMER = textwrap.dedent("""\
    name: Old Newcomer
    website: https://newcomer.example
    joined: 2024-02-01
    programs: [certified-integration-partner]
    headquarters: {city: Oslo, country: NO}
    countries_served: [NO]
    expertise: [integration]
    languages: [en]
    description: Still starting out.
    certifications:
      - {certification: integration-developer, holder: ON-1, issued: 2026-11-20, expires: 2029-11-20}
    """)


@pytest.fixture
def content(tmp_path, monkeypatch):
    """A records folder, and a fixed 'today' (2026-11-28) so validation does not depend on the clock."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(calendar.timegm(dt.date(2026, 11, 28).timetuple())))
    folder = tmp_path / "partners"
    folder.mkdir()
    (folder / "acme-integration.yaml").write_text(GOLD, encoding="utf-8")
    (folder / "old-newcomer.yaml").write_text(NEWCOMER, encoding="utf-8")
    return folder


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_explain_prints_level_evidence_next_level_lapse_and_history(content, capsys):
    code, out, err = run(capsys, "explain", "acme-integration", "--content", str(content),
                         "--as-of", "2026-11-15")
    assert code == 0, err
    assert "Acme Integration (acme-integration)" in out
    assert ("Programs: Value Added Reseller (also measured as Fulfillment Reseller and "
            "Certified Integration Partner)") in out
    assert "Status on 2026-11-15: Gold" in out
    assert ("Gold under Value Added Reseller: 9 certified engineers (Gold needs 8), "
            "7 successful projects (6), USD 450,000 subscription sales (USD 400,000).") in out
    assert "For Platinum under Fulfillment Reseller: USD 550,000 more subscription sales." in out
    assert ("  Certified Integration Partner: Gold (for Platinum: 6 more certified engineers, "
            "5 more successful projects)") in out
    assert ("Holds Gold until 2027-03-31 if nothing changes: on 2027-04-01 2 engineers' certifications "
            "expire, leaving 7 certified engineers (Gold needs 8); Silver from then.") in out
    table = [line.split() for line in out.splitlines() if line.startswith("  subscription sales")]
    assert table == [["subscription", "sales", "USD", "450,000", "USD", "400,000", "USD", "1,000,000"]]
    assert "  2026-01-01 review  Gold" in out and "  2026-11-15 now     Gold" in out
    # No engineer was certified yet at the 2024 review, and the 2024 sales were still to come.
    assert "  2024-01-01 review  Provisional" in out
    assert ("[counts] AC-00  Certified API Manager Developer, issued 2025-01-01: "
            "current until 2027-03-31") in out


def test_explain_json_carries_the_award_sentences_and_evidence(content, capsys):
    code, out, _ = run(capsys, "explain", "acme-integration", "--content", str(content),
                       "--as-of", "2026-11-15", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["award"]["level"] == "gold"
    assert data["award"]["program"] == "value-added-reseller"
    assert data["award"]["drops_on"] == "2027-04-01"
    assert data["award"]["drops_to"] == "silver"
    assert data["award"]["metrics"] == {"certified_engineers": 9, "successful_projects": 7,
                                        "subscription_sales": 450000}
    assert data["award"]["history"][-1] == {"date": "2026-11-15", "level": "gold"}
    assert data["text"]["status"].startswith("Gold under Value Added Reseller: 9 certified engineers")
    assert sum(1 for e in data["evidence"] if e["kind"] == "certifications" and e["counts"]) == 9


def test_explain_leaves_out_evidence_dated_after_the_requested_day(content, capsys):
    # The certification issued 2026-11-20 is valid today but did not exist on 2026-11-15.
    code, out, err = run(capsys, "explain", "old-newcomer", "--content", str(content),
                         "--as-of", "2026-11-15")
    assert code == 0, err
    assert "Status on 2026-11-15: Provisional" in out
    assert "[      ] ON-1  Certified Integration Developer, issued 2026-11-20: issued after 2026-11-15" in out
    assert "Removed at the 2026-01-01 review (no level after a year in the program)." in out
    assert "2024-01-01 review" not in out  # it joined after that review


def test_explain_an_unknown_slug_suggests_the_closest(content, capsys):
    code, out, err = run(capsys, "explain", "acme-integrations", "--content", str(content))
    assert code == 1 and out == ""
    assert "no partner 'acme-integrations'" in err
    assert "did you mean 'acme-integration'?" in err


def test_explain_refuses_invalid_records_with_the_check_messages(content, capsys):
    (content / "acme-integration.yaml").write_text(GOLD.replace("programs: [value-added-reseller]",
                                                                "programs: [value-added-resseller]"))
    code, out, err = run(capsys, "explain", "acme-integration", "--content", str(content))
    assert code == 1 and out == ""
    assert "acme-integration.yaml:4:" in err
    assert "unknown program 'value-added-resseller' (did you mean 'value-added-reseller'?)" in err


def test_check_lists_partners_removed_at_the_review(content, capsys):
    code, out, err = run(capsys, "check", "--content", str(content), "--as-of", "2026-11-28")
    assert code == 0, err
    assert out.splitlines() == [
        "2 partner records are valid.",
        f"Removed at the 2026-01-01 review (no level after a year in the program): old-newcomer "
        f"({content / 'old-newcomer.yaml'})",
    ]
    code, out, _ = run(capsys, "check", "--content", str(content), "--as-of", "2026-11-28",
                       "--format", "json")
    assert json.loads(out)["removed"] == [{"slug": "old-newcomer",
                                           "source": str(content / "old-newcomer.yaml"),
                                           "review_date": "2026-01-01", "joined": "2024-02-01"}]


def test_check_removes_nobody_the_day_before_the_review_and_reports_on_the_day(content, capsys):
    (content / "old-newcomer.yaml").write_text(NEWCOMER.replace("issued: 2026-11-20", "issued: 2024-03-01"))
    code, out, err = run(capsys, "check", "--content", str(content), "--as-of", "2025-12-31")
    assert code == 0, err
    assert out.splitlines() == ["2 partner records are valid."]
    code, out, _ = run(capsys, "check", "--content", str(content), "--as-of", "2026-01-01")
    assert out.splitlines()[1].startswith("Removed at the 2026-01-01 review (no level after a year in the "
                                          "program): old-newcomer ")
