"""The recommendation ranking: shared vectors (Python and JavaScript), evidence summaries, rules,
country-page recommendations and properties that must hold for any directory."""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from partnerdir import award as award_stage
from partnerdir.problems import ProblemError
from partnerdir.project import ROOT
from partnerdir.recommend import for_countries, rank, recommend_data, summary
from partnerdir.rules import load_rules
from partnerdir.validate import Partner

AS_OF = dt.date(2026, 11, 15)
VECTORS = json.loads((ROOT / "tests" / "recommend_vectors.json").read_text(encoding="utf-8"))
FIELDS = ("slug", "reach", "score", "reasons", "lacks", "gaps")


@pytest.fixture(scope="module")
def rules():
    return load_rules(ROOT / "data" / "programs.yaml")


# --------------------------------------------------------------------------------------------
# One ranking, two implementations: both must return the vectors' expected results


@pytest.mark.parametrize("case", VECTORS["cases"], ids=[c["name"] for c in VECTORS["cases"]])
def test_python_ranking_matches_shared_vector(case):
    data = {**VECTORS["data"], "partners": case["partners"]}
    out = rank(data, case["query"])
    got = {
        "query": out["query"],
        "results": [{f: r[f] for f in FIELDS} for r in out["results"]],
        "advice": out["advice"],
    }
    assert got == case["expected"]


def test_javascript_ranking_matches_the_same_vectors():
    node = shutil.which("node")
    if node is None:
        message = "node is not installed; the browser's ranking cannot be checked"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    run = subprocess.run([node, "--test", "tests/js/"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert f"# pass {len(VECTORS['cases']) + 2}" in run.stdout


def test_vectors_cover_what_the_issue_asks_for():
    """Guard against someone trimming the shared file down to easy cases."""
    names = " | ".join(c["name"] for c in VECTORS["cases"])
    for topic in ("another continent", "remote delivery ranks between", "equal scores", "empty results",
                  "neighbouring region", "status cannot buy", "help both"):
        assert topic in names


# --------------------------------------------------------------------------------------------
# Evidence summaries (Python only)


def make_partner(slug: str = "acme", name: str = "Acme Integration", **fields) -> Partner:
    record = {
        "name": name,
        "slug": slug,
        "website": "https://acme.example",
        "joined": dt.date(2020, 1, 1),
        "programs": ["certified-integration-partner"],
        "headquarters": {"city": "Berlin", "country": "DE"},
        "countries_served": ["DE"],
        "expertise": ["api-management"],
        "languages": ["de"],
        "description": "Text.",
    }
    record.update(fields)
    return Partner.model_validate(record)


def make_award(slug: str, level: str = "provisional", removed: bool = False) -> award_stage.Award:
    return award_stage.Award(
        slug=slug, as_of=AS_OF, level=level, program=None, metrics={}, by_program=(), next_level=None,
        missing=(), drops_on=None, drop_reason="", removed=removed, review_date=dt.date(2026, 1, 1),
        history=(),
    )


def project(completed, products=("api-manager",), distribution="supported", outcome="successful"):
    return {"title": "P", "completed": completed, "country": "DE", "products": list(products),
            "distribution": distribution, "outcome": outcome}


def cert(certification, holder, issued, expires):
    return {"certification": certification, "holder": holder, "issued": issued, "expires": expires}


EVIDENCE = dict(
    projects=[
        project(dt.date(2025, 6, 30), ("api-manager", "integrator")),  # counts in both areas
        project(dt.date(2023, 11, 15)),  # first day of the 36-month window: counts
        project(dt.date(2023, 11, 14)),  # a day too old
        project(dt.date(2026, 11, 16)),  # after the as-of date
        project(dt.date(2025, 1, 1), outcome="unsuccessful"),
        project(dt.date(2025, 1, 1), distribution="community"),
        project(dt.date(2026, 1, 1), ("identity-server",), distribution="cloud"),
    ],
    certifications=[
        cert("api-manager-developer", "E1", dt.date(2024, 1, 1), dt.date(2027, 1, 1)),
        cert("api-manager-architect", "E1", dt.date(2025, 1, 1), dt.date(2028, 1, 1)),  # same engineer
        cert("api-manager-developer", "E2", dt.date(2023, 1, 1), dt.date(2026, 11, 15)),  # expires today
        cert("api-manager-developer", "E3", dt.date(2022, 1, 1), dt.date(2026, 11, 14)),  # expired
        cert("integration-developer", "E4", dt.date(2026, 11, 16), dt.date(2029, 1, 1)),  # not yet
        cert("streaming-developer", "E5", dt.date(2026, 1, 1), dt.date(2028, 1, 1)),
    ],
)


def test_summary_counts_projects_and_engineers_per_expertise_area(rules):
    partner = make_partner(programs=["value-added-reseller"], regions_served=["emea"], remote_delivery=True,
                           languages=["en", "DE"], industries=["telecom", "banking"], **EVIDENCE)
    got = summary(partner, make_award("acme", "silver"), rules, AS_OF)
    assert got["projects"] == {"api-management": 2, "integration": 1, "identity-access-management": 1}
    assert got["engineers"] == {"api-management": 2, "event-streaming": 1}
    assert got["programs"] == [
        "value-added-reseller", "fulfillment-reseller", "certified-integration-partner"]
    assert got["hq"] == "DE" and got["hq_region"] == "emea" and got["regions"] == ["emea"]
    assert got["languages"] == ["de", "en"]
    assert got["industries"] == ["banking", "telecom"]  # programs.yaml order
    assert got["level"] == "silver" and got["remote"] is True


def test_summary_counts_exactly_what_the_award_counts(rules):
    """Recommendations and status levels must never disagree about which evidence is current."""
    partner = make_partner(**EVIDENCE)
    lines = award_stage.evidence(partner, rules, AS_OF)
    counted_projects = [partner.projects[e.index] for e in lines if e.kind == "projects" and e.counts]
    counted_holders = {partner.certifications[e.index].holder for e in lines
                       if e.kind == "certifications" and e.counts}
    got = summary(partner, make_award("acme"), rules, AS_OF)
    area = {p.id: p.expertise for p in rules.products}
    for expertise in (e.id for e in rules.expertise):
        assert got["projects"].get(expertise, 0) == sum(
            1 for p in counted_projects if expertise in {area[x] for x in p.products})
    assert sum(got["engineers"].values()) == len(counted_holders)


def test_recommend_data_leaves_out_removed_partners_and_orders_by_name(rules):
    partners = [make_partner("zeta", "alpha Works"), make_partner("beta", "Gone Ltd"),
                make_partner("alpha", "Alpha Works"), make_partner("omega", "Zulu")]
    awards = {"zeta": make_award("zeta"), "beta": make_award("beta", removed=True),
              "alpha": make_award("alpha"), "omega": make_award("omega", "gold")}
    data = recommend_data(partners, awards, rules, AS_OF)
    assert [p["slug"] for p in data["partners"]] == ["alpha", "zeta", "omega"]
    assert data["languages"] == {"de": "German"}
    assert data["countries"]["DE"] == {"name": "Germany", "region": "emea"}
    assert data["expertise"]["integration"]["noun"] == "integration"
    assert data["expertise"]["api-management"]["noun"] == "API management"
    assert data["project_window"] == "the last 3 years"
    assert data["weights"]["serves_country"] == rules.recommend.weights.serves_country
    json.dumps(data)  # ready to be written as recommend.json
    assert "beta" not in json.dumps(rank(data, {"country": "DE"}))


def test_recommend_data_reusing_summaries_matches_a_fresh_build_after_edits_and_removals(rules):
    """`serve` keeps the summaries between rebuilds: after one partner is edited (new objects)
    and another removed at the review, the data is what a build from nothing makes, and the
    kept summaries are only the listed partners' own."""
    partners = [make_partner("alpha", "Alpha"), make_partner("beta", "Beta"), make_partner("gamma", "Gamma")]
    awards = {p.slug: make_award(p.slug) for p in partners}
    known: dict[str, tuple] = {}
    first = recommend_data(partners, awards, rules, AS_OF, known)
    assert set(known) == {"alpha", "beta", "gamma"}
    edited = make_partner("beta", "Beta", countries_served=["DE", "FR"], languages=["de", "fr"])
    partners = [partners[0], edited, partners[2]]
    awards = {**awards, "beta": make_award("beta", "gold"), "gamma": make_award("gamma", removed=True)}
    again = recommend_data(partners, awards, rules, AS_OF, known)
    assert again == recommend_data(partners, awards, rules, AS_OF)
    assert again["partners"][0] is first["partners"][0]  # (alpha's, kept)
    assert [p["slug"] for p in again["partners"]] == ["alpha", "beta"]
    assert again["partners"][1]["countries"] == ["DE", "FR"] and again["partners"][1]["level"] == "gold"
    assert set(known) == {"alpha", "beta"} and known["beta"][0] is edited


# --------------------------------------------------------------------------------------------
# Weights in programs.yaml


def rules_with(tmp_path: Path, old: str, new: str) -> Path:
    text = (ROOT / "data" / "programs.yaml").read_text(encoding="utf-8")
    assert text.count(old) == 1
    path = tmp_path / "programs.yaml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def test_rules_refuse_a_status_weight_that_could_buy_a_place(tmp_path):
    path = rules_with(tmp_path, "level_step: 2 ", "level_step: 3 ")
    with pytest.raises(ProblemError) as raised:
        load_rules(path)
    (problem,) = raised.value.problems
    assert problem.field == "recommend.weights.level_step"
    assert "12 points" in problem.message and "10 points between location grades" in problem.message
    line = path.read_text().splitlines()[problem.line - 1]
    assert line.strip().startswith("level_step: 3")


def test_rules_refuse_an_unknown_help_program(tmp_path):
    path = rules_with(tmp_path, "buy: [fulfillment-reseller]", "buy: [fulfilment-reseller]")
    with pytest.raises(ProblemError) as raised:
        load_rules(path)
    (problem,) = raised.value.problems
    assert problem.field == "recommend.help.buy[0]"
    assert "fulfillment-reseller" in problem.hint


# --------------------------------------------------------------------------------------------
# Properties for any directory


BASE = VECTORS["data"]
COUNTRIES = sorted(BASE["countries"])
REGIONS = sorted(BASE["regions"])
AREAS = sorted(BASE["expertise"])
LANGUAGES = sorted(BASE["languages"])
PROGRAMS = ["value-added-reseller", "fulfillment-reseller", "certified-integration-partner",
            "integration-partner"]


@st.composite
def summaries(draw):
    n = draw(st.integers(0, 12))
    names = sorted(draw(st.lists(st.sampled_from(["Ada", "Bo", "Cy", "Di", "Ed"]), min_size=n, max_size=n)))
    out = []
    for i, name in enumerate(names):
        hq = draw(st.sampled_from(COUNTRIES))
        counts = st.dictionaries(st.sampled_from(AREAS), st.integers(1, 9), max_size=3)
        out.append({
            "slug": f"p{i:02d}", "name": name, "city": "C", "hq": hq,
            "hq_region": BASE["countries"][hq]["region"],
            "level": draw(st.sampled_from([lv["id"] for lv in BASE["levels"]])),
            "programs": draw(st.lists(st.sampled_from(PROGRAMS), min_size=1, max_size=2, unique=True)),
            "countries": sorted(draw(st.sets(st.sampled_from(COUNTRIES), max_size=3))),
            "regions": sorted(draw(st.sets(st.sampled_from(REGIONS), max_size=1))),
            "remote": draw(st.booleans()),
            "languages": sorted(draw(st.sets(st.sampled_from(LANGUAGES), min_size=1, max_size=2))),
            "industries": sorted(draw(st.sets(st.sampled_from(sorted(BASE["industries"])), max_size=1))),
            "expertise": sorted(draw(st.sets(st.sampled_from(AREAS), max_size=2))),
            "projects": draw(counts),
            "engineers": draw(counts),
        })
    return out


queries = st.fixed_dictionaries({
    "country": st.sampled_from(["", *COUNTRIES]),
    "expertise": st.lists(st.sampled_from(AREAS), max_size=2),
    "industry": st.sampled_from(["", *sorted(BASE["industries"])]),
    "language": st.sampled_from(["", *sorted(BASE["languages"])]),
    "help": st.sampled_from(["", "buy", "deliver", "both"]),
})


@settings(max_examples=100, deadline=None)
@given(summaries(), queries)
def test_partners_that_cannot_serve_the_location_rank_below_every_one_that_can(partners, query):
    data = {**BASE, "partners": partners}
    before = copy.deepcopy(data)
    results = rank(data, query)["results"]
    assert data == before
    reach = {"": 0, "local": 0, "remote": 1, "none": 2}
    tiers = [("help" in r["gaps"], reach[r["reach"]]) for r in results]
    assert tiers == sorted(tiers)
    assert len({r["slug"] for r in results}) == len(results)


@settings(max_examples=100, deadline=None)
@given(summaries(), st.sampled_from(COUNTRIES))
def test_no_status_level_lifts_a_partner_over_one_serving_the_country(partners, country):
    data = {**BASE, "partners": partners}
    results = rank(data, {"country": country})["results"]
    grade = []
    for r in results:
        p = next(p for p in partners if p["slug"] == r["slug"])
        region = BASE["countries"][country]["region"]
        grade.append((r["reach"] == "local") * (3 if country in p["countries"] or p["hq"] == country
                                                  else 2 if p["hq_region"] == region else 1))
    # Among partners that serve the location, a better location grade always ranks higher.
    local = [g for g in grade if g]
    assert local == sorted(local, reverse=True)


@settings(max_examples=150, deadline=None)
@given(summaries(), st.integers(1, 4), st.sampled_from([0, 2]))
def test_country_pages_recommend_exactly_the_top_of_the_full_ranking(partners, limit, level_step):
    data = {**BASE, "weights": {**BASE["weights"], "level_step": level_step}, "partners": partners}
    fast = for_countries(data, COUNTRIES, limit)
    for country in COUNTRIES:
        full = [r for r in rank(data, {"country": country})["results"] if r["reach"] != "none"][:limit]
        assert fast[country] == full


@settings(max_examples=150, deadline=None)
@given(summaries(), summaries(), st.lists(st.integers(0, 11), max_size=4), st.integers(1, 4))
def test_country_pages_after_a_few_partners_changed_match_a_fresh_ranking(partners, others, edits, limit):
    """`serve` asks again after an edit: the lists of the last call are brought up to date for
    the partners whose summaries changed (new objects), and the answer is the one made from
    nothing."""
    from partnerdir import recommend

    data = {**BASE, "partners": partners}
    for_countries(data, COUNTRIES, limit)
    changed = list(partners)
    for i, j in zip(edits, range(len(others)), strict=False):
        if i < len(changed):
            changed[i] = {**others[j], "slug": changed[i]["slug"], "name": changed[i]["name"]}
    again = {**BASE, "partners": changed}
    got = for_countries(again, COUNTRIES, limit)
    recommend._LAST_RANKING.clear()
    assert got == for_countries(again, COUNTRIES, limit)
    assert got == for_countries(again, COUNTRIES, limit)  # (asked again with nothing changed)
    shorter = for_countries(again, COUNTRIES, limit % 4 + 1)  # (the same data, another length)
    recommend._LAST_RANKING.clear()
    assert shorter == for_countries(again, COUNTRIES, limit % 4 + 1)


def test_country_page_recommendations_skip_unknown_countries_and_unreachable_partners():
    case = VECTORS["cases"][0]
    data = {**BASE, "partners": case["partners"]}
    got = for_countries(data, ["DE", "ZZ"], 5)
    assert [r["slug"] for r in got["DE"]] == ["alpenrest", "cascade"]
    assert got["DE"][0]["reasons"] == ["serves Germany", "Silver status"]
    assert got["ZZ"] == []




def _summary_of(slug: str, level: str = "provisional", hq: str = "AU", countries: tuple = (),
                programs: tuple = ("value-added-reseller",), languages: tuple = ("de",)) -> dict:
    region = {"AU": "apac", "MX": "latin-america"}[hq]
    return {"slug": slug, "name": "Ada", "city": "C", "hq": hq, "hq_region": region, "level": level,
            "programs": list(programs), "countries": list(countries), "regions": [], "remote": False,
            "languages": list(languages), "industries": [], "expertise": [], "projects": {},
            "engineers": {}}


# Found by hypothesis (shrunk): two partners change level and place at once, and the second
# was bisected into a list where the first still stood at its old place.
_BEFORE = [
    _summary_of("p00"),
    _summary_of("p01", countries=("MX", "US"), programs=("value-added-reseller", "fulfillment-reseller")),
    _summary_of("p02", hq="MX"),
    _summary_of("p03", languages=("de", "en")),
    _summary_of("p04", programs=("value-added-reseller", "fulfillment-reseller"), languages=("de", "en")),
    _summary_of("p05", countries=("AU", "MX", "US"),
                programs=("value-added-reseller", "fulfillment-reseller")),
]
_AFTER = [*_BEFORE[:3], _summary_of("p03", "silver", countries=("MX",)),
          _summary_of("p04", "platinum", hq="MX"), _BEFORE[5]]


@settings(max_examples=100, deadline=None)
@given(summaries(), summaries(), st.integers(1, 4))
@example(_BEFORE, _AFTER, 1)
def test_country_pages_after_any_partners_changed_match_a_fresh_ranking(before, after, limit):
    """Whatever the last call's partners were (the same slugs in the same places), the answer
    brought up to date from it is the one made from nothing. Every changed partner must be taken
    out of the lists before any is put back (a list still holding one at its old place is out
    of order for the next one's bisection)."""
    from partnerdir import recommend

    n = min(len(before), len(after))
    before = before[:n]
    after = [a if (a["slug"], a["name"]) == (b["slug"], b["name"])  # (unchanged: the same object)
             else {**a, "slug": b["slug"], "name": b["name"]} for a, b in zip(after, before, strict=False)]
    recommend._LAST_RANKING.clear()
    for_countries({**BASE, "partners": before}, COUNTRIES, limit)
    got = for_countries({**BASE, "partners": after}, COUNTRIES, limit)
    recommend._LAST_RANKING.clear()
    assert got == for_countries({**BASE, "partners": after}, COUNTRIES, limit)


class _Reads(list):
    """Summaries that count which places were read: the ranking a new process takes up must
    not read them all (`relist` decodes each from recommend.json when asked)."""

    def __init__(self, items):
        super().__init__(items)
        self.read: set[int] = set()

    def __getitem__(self, i):
        self.read.add(i if i >= 0 else i + len(self))
        return super().__getitem__(i)

    def __iter__(self):
        self.read.update(range(len(self)))
        return super().__iter__()


def _taken_up(before: list[dict], after: list[dict], limit: int) -> tuple[dict, _Reads]:
    """The country pages after `after` replaced some of `before`, ranked in a 'new process' from
    what the last one kept (through marshal, as `relist` keeps it on disk)."""
    import marshal

    from partnerdir import recommend

    recommend._LAST_RANKING.clear()
    out = for_countries({**BASE, "partners": before}, COUNTRIES, limit)
    kept, out = marshal.loads(marshal.dumps((recommend.kept_ranking(out), out)))
    recommend._LAST_RANKING.clear()
    changed = [i for i, (a, b) in enumerate(zip(after, before, strict=True)) if a is not b]
    reads = _Reads(after)
    resumed = recommend.Resumed(kept, out, changed, {i: before[i] for i in changed})
    got = for_countries({**BASE, "partners": reads}, COUNTRIES, limit, resumed)
    recommend._LAST_RANKING.clear()
    return got, reads


@settings(max_examples=100, deadline=None)
@given(summaries(), summaries(), st.integers(1, 4))
@example(_BEFORE, _AFTER, 1)
def test_country_pages_ranked_from_a_kept_ranking_match_a_fresh_ranking(before, after, limit):
    """A new process after an edit (`relist`) takes up the last build's ranking, kept on disk,
    with the changed partners' summaries then and now: the answer is the one made from nothing."""
    n = min(len(before), len(after))
    before = before[:n]
    after = [a if (a["slug"], a["name"]) == (b["slug"], b["name"])
             else {**a, "slug": b["slug"], "name": b["name"]} for a, b in zip(after, before, strict=False)]
    after = [b if a == b else a for a, b in zip(after, before, strict=True)]  # (equal: not changed)
    got, _ = _taken_up(before, after, limit)
    assert got == for_countries({**BASE, "partners": after}, COUNTRIES, limit)


def test_a_kept_ranking_reads_only_the_candidates_of_the_countries_that_change():
    """One partner serving Mexico gains Silver status among 300 others: only the countries whose
    candidates it is among are ranked again, from their candidates' summaries."""
    before = [_summary_of(f"p{i:03d}", hq="AU" if i % 2 else "MX", countries=("AU",) if i % 2 else ("MX",))
              for i in range(300)]
    after = list(before)
    after[7] = _summary_of("p007", "silver", hq="AU", countries=("AU",))
    got, reads = _taken_up(before, after, 3)
    assert got == for_countries({**BASE, "partners": after}, COUNTRIES, 3)
    assert "p007" in [r["slug"] for r in got["AU"]]
    assert 0 < len(reads.read) < 60, len(reads.read)
