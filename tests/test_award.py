"""Status awards: every boundary of the published rules, checked on partners built in memory."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from partnerdir.award import (
    Gap,
    award,
    award_all,
    award_json,
    describe,
    evidence,
    public,
    removals,
    review_report,
)
from partnerdir.project import ROOT
from partnerdir.rules import load_rules
from partnerdir.validate import Partner

RULES_PATH = ROOT / "data" / "programs.yaml"
RULES = load_rules(RULES_PATH)
D = dt.date(2026, 11, 15)
CIP = "certified-integration-partner"
VAR = "value-added-reseller"
FR = "fulfillment-reseller"


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def cert(holder: str, issued: str, expires: str, kind: str = "api-manager-developer") -> dict:
    return {"certification": kind, "holder": holder, "issued": day(issued), "expires": day(expires)}


def project(completed: str, distribution: str = "supported", outcome: str = "successful") -> dict:
    return {"title": f"Project {completed}", "completed": day(completed), "country": "DE",
            "products": ["api-manager"], "distribution": distribution, "outcome": outcome}


def sale(year: int, amount: float) -> dict:
    return {"year": year, "amount_usd": amount}


def partner(slug: str = "acme", *, joined: str = "2020-01-01", programs=(CIP,), certs=(), projects=(),
            sales=()) -> Partner:
    return Partner.model_validate({
        "name": slug.title(), "slug": slug, "source": f"content/partners/{slug}.yaml",
        "website": "https://example.com", "joined": day(joined), "programs": list(programs),
        "headquarters": {"city": "Berlin", "country": "DE"}, "countries_served": ["DE"],
        "expertise": ["integration"], "languages": ["en"], "description": "Text.",
        "certifications": list(certs), "projects": list(projects), "subscription_sales": list(sales),
    })


def engineers(n: int, issued: str = "2025-01-01", expires: str = "2029-12-31") -> list[dict]:
    return [cert(f"E{i}", issued, expires) for i in range(n)]


def projects_on(n: int, completed: str = "2025-06-01") -> list[dict]:
    return [project(completed) for _ in range(n)]


def modified_rules(tmp_path: Path, *replacements: tuple[str, str]):
    text = RULES_PATH.read_text(encoding="utf-8")
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / "programs.yaml"
    path.write_text(text, encoding="utf-8")
    return load_rules(path)


# ---------------------------------------------------------------------------------------------
# Certified engineers


def test_a_certification_expiring_on_the_as_of_date_still_counts():
    p = partner(certs=[cert("A", "2024-01-01", "2026-11-15"), cert("B", "2024-01-01", "2026-11-14")])
    assert award(p, RULES, D).metrics["certified_engineers"] == 1


def test_a_certification_issued_after_the_as_of_date_is_left_out_and_one_issued_on_it_counts():
    p = partner(certs=[cert("A", "2026-11-15", "2029-01-01"), cert("B", "2026-11-16", "2029-01-01")])
    assert award(p, RULES, D).metrics["certified_engineers"] == 1


def test_one_engineer_with_several_certifications_counts_once():
    p = partner(certs=[cert("A", "2024-01-01", "2027-01-01"),
                       cert("A", "2025-01-01", "2028-01-01", "integration-developer"),
                       cert("B", "2025-01-01", "2028-01-01")])
    assert award(p, RULES, D).metrics["certified_engineers"] == 2


# ---------------------------------------------------------------------------------------------
# Successful projects


def test_a_project_exactly_36_months_back_counts_and_one_a_day_earlier_does_not():
    p = partner(projects=[project("2023-11-15"), project("2023-11-14"), project("2026-11-15")])
    result = award(p, RULES, D)
    assert result.metrics["successful_projects"] == 2
    assert result.project_window == (day("2023-11-15"), D)


@pytest.mark.parametrize(("as_of", "completed", "counts"), [
    ("2028-02-29", "2025-02-28", True),   # 36 months before 29 February is 28 February
    ("2028-02-29", "2025-02-27", False),
    ("2028-02-28", "2025-02-28", True),
    ("2028-03-01", "2025-02-28", False),
    ("2027-02-28", "2024-02-28", True),
    ("2027-02-28", "2024-02-29", True),
    ("2027-02-28", "2024-02-27", False),
    ("2027-03-01", "2024-02-29", False),
])
def test_29_february_and_the_36_month_window(as_of, completed, counts):
    p = partner(projects=[project(completed)])
    assert award(p, RULES, day(as_of)).metrics["successful_projects"] == (1 if counts else 0)


def test_only_successful_projects_on_supported_distributions_count():
    p = partner(projects=[project("2025-01-01"), project("2025-01-01", distribution="cloud"),
                          project("2025-01-01", distribution="community"),
                          project("2025-01-01", outcome="unsuccessful")])
    assert award(p, RULES, D).metrics["successful_projects"] == 2
    notes = [line.note for line in evidence(p, RULES, D) if line.kind == "projects"]
    assert notes[2] == "Open-source community distribution is not a supported distribution"
    assert notes[3] == "outcome unsuccessful"


# ---------------------------------------------------------------------------------------------
# Subscription sales


@pytest.mark.parametrize(("as_of", "total"), [
    ("2026-11-15", 2024 + 2025 + 2026),
    ("2026-01-01", 2024 + 2025 + 2026),
    ("2025-12-31", 2023 + 2024 + 2025),
    ("2028-06-01", 2026),
])
def test_sales_count_over_calendar_years(as_of, total):
    p = partner(programs=[FR], sales=[sale(y, y) for y in range(2022, 2027)])
    assert award(p, RULES, day(as_of)).metrics["subscription_sales"] == total


# ---------------------------------------------------------------------------------------------
# Levels and programs


def test_a_reseller_with_sales_and_no_engineers_earns_its_level_from_sales():
    p = partner(programs=[FR], sales=[sale(2025, 60_000), sale(2026, 45_000)])
    result = award(p, RULES, D)
    assert (result.level, result.program) == ("silver", FR)
    assert result.metrics["certified_engineers"] == 0


def test_a_var_earns_its_level_through_its_implied_programs():
    p = partner(programs=[VAR], certs=engineers(8), projects=projects_on(6))
    result = award(p, RULES, D)
    assert (result.level, result.program) == ("gold", CIP)
    assert {pa.program: pa.level for pa in result.by_program} == {VAR: "provisional", FR: "provisional",
                                                                    CIP: "gold"}
    assert not result.removed


def test_the_highest_level_of_any_program_wins():
    p = partner(programs=[VAR], certs=engineers(2), projects=projects_on(1), sales=[sale(2026, 1_000_000)])
    result = award(p, RULES, D)
    assert (result.level, result.program) == ("platinum", FR)
    assert result.next_level is None and result.missing == ()


def test_an_integration_partner_is_not_measured_on_sales():
    p = partner(programs=["integration-partner"], sales=[sale(2026, 5_000_000)])
    assert award(p, RULES, D).level == "provisional"


# ---------------------------------------------------------------------------------------------
# Provisional partners and the January review


@pytest.mark.parametrize(("joined", "as_of", "removed"), [
    ("2025-01-01", "2025-12-31", False),  # before the review: still in its first year
    ("2025-01-01", "2026-01-01", True),   # a full year at the review
    ("2025-01-02", "2026-01-01", False),  # a day short of a year at the review
    ("2025-01-02", "2026-12-31", False),
    ("2025-01-02", "2027-01-01", True),
])
def test_a_provisional_partner_is_removed_at_the_first_review_after_a_full_year(joined, as_of, removed):
    p = partner(joined=joined)
    result = award(p, RULES, day(as_of))
    assert result.level == "provisional"
    assert result.removed is removed
    assert public([p], {p.slug: result}) == ([] if removed else [p])


def test_a_partner_with_a_level_is_never_removed():
    p = partner(joined="2010-01-01", certs=engineers(2), projects=projects_on(1))
    assert not award(p, RULES, D).removed


def test_the_review_report_lists_removed_partners_in_slug_order():
    ps = [partner("zeta", joined="2020-01-01"), partner("alpha", joined="2020-01-01"),
          partner("fresh", joined="2026-06-01"),
          partner("ranked", certs=engineers(2), projects=projects_on(1))]
    awards = award_all(ps, RULES, D)
    assert [r.slug for r in removals(ps, awards)] == ["alpha", "zeta"]
    assert review_report(ps, awards, RULES) == [
        "Removed at the 2026-01-01 review (no level after a year in the program): alpha "
        "(content/partners/alpha.yaml)",
        "Removed at the 2026-01-01 review (no level after a year in the program): zeta "
        "(content/partners/zeta.yaml)",
    ]


# ---------------------------------------------------------------------------------------------
# When the level lapses


def test_drops_when_a_certification_expires():
    p = partner(certs=[cert("A", "2025-01-01", "2027-03-31"), cert("B", "2025-01-01", "2029-01-01"),
                       cert("C", "2025-01-01", "2026-11-01")],
                projects=projects_on(1))
    result = award(p, RULES, D)
    assert result.level == "bronze"
    assert result.drops_on == day("2027-04-01")
    assert result.drops_to == "provisional"
    assert result.drop_reason == ("1 engineer's certification expires, leaving 1 certified engineer "
                                  "(Bronze needs 2)")
    assert describe(result, RULES)["holds"] == (
        "Holds Bronze until 2027-03-31 if nothing changes: on 2027-04-01 1 engineer's certification "
        "expires, leaving 1 certified engineer (Bronze needs 2); Provisional from then.")


def test_an_engineer_holds_until_the_last_of_their_certifications_expires():
    p = partner(certs=[cert("A", "2025-01-01", "2027-03-31"),
                       cert("A", "2025-01-01", "2027-09-30", "integration-developer"),
                       cert("B", "2025-01-01", "2029-01-01")],
                projects=projects_on(1))
    assert award(p, RULES, D).drops_on == day("2027-10-01")


def test_drops_when_a_project_leaves_the_window():
    p = partner(certs=engineers(4), projects=[project("2024-05-10"), project("2025-01-01"),
                                              project("2026-01-01")])
    result = award(p, RULES, D)
    assert result.level == "silver"
    assert result.drops_on == day("2027-05-11")
    assert result.drops_to == "bronze"
    assert result.drop_reason == ("1 project leaves the 36-month window, leaving 2 successful projects "
                                  "(Silver needs 3)")


def test_a_project_from_28_february_leaves_the_window_on_1_march_of_a_leap_year():
    p = partner(certs=engineers(2), projects=[project("2025-02-28")])
    assert award(p, RULES, D).drops_on == day("2028-03-01")


def test_drops_when_the_calendar_year_rolls_over():
    p = partner(programs=[FR], sales=[sale(2024, 20_000), sale(2025, 5_000), sale(2026, 1_000)])
    result = award(p, RULES, D)
    assert result.level == "bronze"
    assert result.drops_on == day("2027-01-01")
    assert result.drop_reason == ("the 2024 sales (USD 20,000) leave the 3-year window, leaving "
                                  "USD 6,000 subscription sales (Bronze needs USD 25,000)")


def test_a_level_earned_under_two_programs_holds_until_both_lose_it():
    p = partner(programs=[VAR],
                certs=[cert("A", "2025-01-01", "2027-03-31"), cert("B", "2025-01-01", "2030-01-01")],
                projects=projects_on(1), sales=[sale(2025, 30_000)])
    result = award(p, RULES, D)
    assert result.level == "bronze"
    assert result.drops_on == day("2028-01-01")  # the reseller route outlasts the certification
    assert result.drop_reason.startswith("the 2025 sales (USD 30,000) leave")


def test_provisional_has_no_drop_date():
    result = award(partner(), RULES, D)
    assert result.drops_on is None and result.drop_reason == ""
    assert describe(result, RULES)["holds"] == ""


def _oracle_level(p: Partner, on: dt.date, cutoff: dt.date) -> int:
    """The rules as the program describes them, written out naively, with evidence up to `cutoff`."""
    try:
        start = on.replace(year=on.year - 3)
    except ValueError:
        start = dt.date(on.year - 3, 2, 28)
    engineers_ = len({c.holder for c in p.certifications if c.issued <= cutoff and c.expires >= on})
    projects_ = sum(1 for x in p.projects if x.outcome == "successful" and x.distribution != "community"
                    and start <= x.completed <= min(on, cutoff))
    sales_ = sum(s.amount_usd for s in p.subscription_sales
                 if on.year - 2 <= s.year <= min(on.year, cutoff.year))
    have = {"certified_engineers": engineers_, "successful_projects": projects_, "subscription_sales": sales_}
    best = 0
    for pid in RULES.implied_programs(list(p.programs)):
        counts = RULES.program_by_id[pid].counts
        for rank, level in enumerate(RULES.levels):
            if rank and all(have[m] >= level.minimums[m] for m in counts):
                best = max(best, rank)
    return best


dates = st.dates(dt.date(2022, 1, 1), dt.date(2029, 12, 31))


@st.composite
def evidence_partners(draw):
    certs = []
    for i in range(draw(st.integers(0, 18))):
        a, b = sorted((draw(dates), draw(dates)))
        certs.append(cert(f"H{draw(st.integers(0, 12))}", a.isoformat(), b.isoformat()))
        certs[-1]["holder"] = f"H{i % 13}" if draw(st.booleans()) else certs[-1]["holder"]
    projects = [project(draw(dates).isoformat(), draw(st.sampled_from(["supported", "cloud", "community"])),
                        draw(st.sampled_from(["successful", "successful", "unsuccessful"])))
                for _ in range(draw(st.integers(0, 15)))]
    years = draw(st.lists(st.integers(2022, 2029), unique=True, max_size=6))
    sales = [sale(y, draw(st.sampled_from([0, 10_000, 30_000, 90_000, 300_000, 700_000]))) for y in years]
    programs = draw(st.sampled_from([[CIP], [VAR], [FR], ["integration-partner"], [CIP, FR]]))
    return partner(programs=programs, certs=certs, projects=projects, sales=sales)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(evidence_partners(), st.dates(dt.date(2024, 1, 1), dt.date(2028, 12, 31)))
def test_level_and_drop_date_agree_with_a_day_by_day_reading_of_the_rules(p, as_of):
    result = award(p, RULES, as_of)
    rank = _oracle_level(p, as_of, as_of)
    assert result.level == RULES.levels[rank].id
    if rank == 0:
        assert result.drops_on is None
        return
    last = result.drops_on or dt.date(2034, 1, 1)
    on = as_of + dt.timedelta(days=1)
    while on < last:  # the level holds every day before drops_on ...
        assert _oracle_level(p, on, as_of) == rank, on
        on += dt.timedelta(days=1)
    if result.drops_on is not None:  # ... and falls on it
        after = _oracle_level(p, result.drops_on, as_of)
        assert after < rank
        assert result.drops_to == RULES.levels[after].id
        assert result.drop_reason
    else:
        assert _oracle_level(p, last, as_of) == rank


# ---------------------------------------------------------------------------------------------
# History


def test_history_shows_each_review_with_the_evidence_known_then():
    p = partner(joined="2022-06-01",
                certs=[cert("A", "2022-01-01", "2029-01-01"), cert("B", "2022-01-01", "2029-01-01"),
                       cert("C", "2024-06-01", "2029-01-01"), cert("D", "2025-06-01", "2029-01-01")],
                projects=[project("2023-01-10"), project("2024-03-01"), project("2025-03-01")],
                sales=[sale(2026, 1_000_000)])
    result = award(p, RULES, D)
    assert result.history == (
        (day("2024-01-01"), "bronze"),   # 2 engineers, 1 project
        (day("2025-01-01"), "bronze"),   # 3 engineers: C was issued after the 2024 review
        (day("2026-01-01"), "silver"),   # 4 engineers, 3 projects
        (D, "bronze"),                   # the 2023-01-10 project has left the window since
    )


def test_history_counts_only_the_sales_years_closed_before_each_review():
    p = partner(programs=["fulfillment-reseller"], joined="2022-06-01",
                sales=[sale(2024, 30_000), sale(2025, 80_000)])
    assert award(p, RULES, D).history == (
        (day("2024-01-01"), "provisional"),  # the 2024 sales were not made yet
        (day("2025-01-01"), "bronze"),       # 2024 closed with USD 30,000
        (day("2026-01-01"), "silver"),       # 2024 and 2025: USD 110,000
        (D, "silver"),
    )


def test_history_leaves_out_reviews_before_the_partner_joined_and_does_not_repeat_the_review_day():
    p = partner(joined="2025-03-01", certs=engineers(2, issued="2025-03-01"), projects=projects_on(1))
    assert award(p, RULES, day("2026-01-01")).history == ((day("2026-01-01"), "bronze"),)
    assert award(p, RULES, day("2025-02-01")).history == ()


def test_history_years_come_from_the_rules(tmp_path):
    rules = modified_rules(tmp_path, ("history_years: 3", "history_years: 1"))
    p = partner(certs=engineers(2), projects=projects_on(1))
    assert [d for d, _ in award(p, rules, D).history] == [day("2026-01-01"), D]


# ---------------------------------------------------------------------------------------------
# What is missing, and the sentences pages and explain share


def test_missing_for_the_next_level_takes_the_shortest_route():
    p = partner(programs=[VAR], certs=engineers(2), projects=projects_on(1), sales=[sale(2026, 30_000)])
    result = award(p, RULES, D)
    assert result.level == "bronze" and result.next_level == "silver"
    assert result.missing_program == FR  # one gap beats two
    assert [(g.metric, g.missing) for g in result.missing] == [("subscription_sales", 70_000)]
    text = describe(result, RULES)
    assert text["next"] == "For Silver under Fulfillment Reseller: USD 70,000 more subscription sales."


def test_missing_names_each_metric_with_its_count():
    p = partner(certs=engineers(2), projects=projects_on(2))
    text = describe(award(p, RULES, D), RULES)
    assert text["next"] == ("For Silver under Certified Integration Partner: 2 more certified engineers, "
                            "1 more successful project.")
    assert text["status"] == ("Bronze under Certified Integration Partner: 2 certified engineers "
                              "(Bronze needs 2), 2 successful projects (1)")


def test_the_status_sentence_lists_metrics_against_the_level_and_money_with_separators():
    p = partner(programs=[VAR], certs=engineers(9), projects=projects_on(7), sales=[sale(2026, 450_000)])
    text = describe(award(p, RULES, D), RULES)
    assert text["status"] == ("Gold under Value Added Reseller: 9 certified engineers (Gold needs 8), "
                              "7 successful projects (6), USD 450,000 subscription sales (USD 400,000)")
    # The reseller route needs one thing, the integrator route two.
    assert text["next"] == "For Platinum under Fulfillment Reseller: USD 550,000 more subscription sales."
    assert "Certified Integration Partner: Gold (for Platinum: 6 more certified engineers, 5 more " \
           "successful projects)" in text["by_program"]
    rows = {r["metric"]: r for r in text["metrics"]}
    assert rows["subscription_sales"]["value_text"] == "USD 450,000"
    assert rows["subscription_sales"]["next_minimum_text"] == "USD 1,000,000"
    assert rows["certified_engineers"]["level_minimum"] == 8


def test_the_top_level_says_so():
    p = partner(certs=engineers(15), projects=projects_on(12))
    text = describe(award(p, RULES, D), RULES)
    assert text["next"] == "Platinum is the highest level."


def test_a_removed_partner_is_told_why():
    text = describe(award(partner(joined="2020-01-01"), RULES, D), RULES)
    assert text["removed"] == "Removed at the 2026-01-01 review (no level after a year in the program)."
    assert text["status"].startswith("Provisional: no status level earned yet")


# ---------------------------------------------------------------------------------------------
# The rules decide, not the code


def test_a_lower_threshold_in_programs_yaml_changes_the_award(tmp_path):
    old = "minimums: {certified_engineers: 2, successful_projects: 1, subscription_sales: 25000}"
    new = "minimums: {certified_engineers: 1, successful_projects: 1, subscription_sales: 25000}"
    rules = modified_rules(tmp_path, (old, new))
    p = partner(certs=engineers(1), projects=projects_on(1))
    assert award(p, RULES, D).level == "provisional"
    assert award(p, rules, D).level == "bronze"
    assert re.search(r"\(Bronze needs 1\)", describe(award(p, rules, D), rules)["status"])


def test_the_project_window_and_review_rules_come_from_programs_yaml(tmp_path):
    rules = modified_rules(tmp_path, ("window_months: 36", "window_months: 12"),
                           ("provisional_years: 1", "provisional_years: 2"),
                           ("counts: [subscription_sales]", "counts: [certified_engineers]"))
    p = partner(projects=[project("2025-11-15"), project("2025-11-14")])
    assert award(p, rules, D).metrics["successful_projects"] == 1
    assert not award(partner(joined="2024-06-01"), rules, D).removed
    assert award(partner(joined="2024-01-01"), rules, D).removed
    reseller = partner(programs=[FR], certs=engineers(2))
    assert award(reseller, rules, D).level == "bronze"


def _generic_json(value):
    """What award_json means, spelled out generically: every dataclass field, dates as text,
    whole floats as ints, tuples as lists; each gap also says how much is missing."""
    import dataclasses

    if dataclasses.is_dataclass(value):
        out = {f.name: _generic_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, Gap):
            out["missing"] = _generic_json(float(value.missing))
        return out
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _generic_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_generic_json(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(evidence_partners(), st.dates(dt.date(2024, 1, 1), dt.date(2028, 12, 31)))
def test_award_json_holds_every_field_of_the_award_in_order(p, as_of):
    result = award(p, RULES, as_of)
    expected = _generic_json(result)
    expected["history"] = [{"date": d, "level": lv} for d, lv in expected["history"]]
    got = award_json(result)
    assert got == expected
    assert list(got) == list(expected)
    assert [list(g) for g in got["missing"]] == [["metric", "have", "need", "missing"]] * len(got["missing"])
