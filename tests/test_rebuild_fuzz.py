"""Random edits, each rebuild compared with a build from nothing: in one process, and each in
a new process.

A process that keeps its builds (`serve`) redoes only the partners whose records changed, told
apart by identity from the last build's (`partnerdir.delta`): the check, awards, directory,
recommendations, open data entries and kept listing pages each bring their last result up to
date. Hypothesis draws a sequence of edits to a small directory (names that move a partner in
the order, places, languages, expertise, industries, remote delivery, programs, certifications
that change a status, joining dates that take a partner off the site at the January review,
several records at once, a record saved just now) and every rebuild must be byte for byte the
site a cold build makes.

A new `build` process after each edit takes the quick rebuilds where it can (`snapshot` when
no listing changes, `relist` when listings change but the partners keep their places) and the
ordinary one otherwise: the same drawn edits hold all three to the site a cold build makes.
Two of the partners edited have no record until their first edit adds one; an edit may delete
a record (and a later one add it again). Logos change too: a record names a logo file or
none, and a step may replace a logo file's bytes (with another picture, or with one the check
refuses) or delete it, which only the records naming it are checked again for
(`cache.LogoCheck`). And days pass: a step may build for the next day (its first build, which
checks no record it checked the day before: `cache._rechecked`) or for one past the January
review.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from partnerdir.pipeline import build_site, wait_persisted
from partnerdir.project import ROOT

from .site_records import AS_OF, certifications, projects, record, write_records
from .test_incremental import paths_for, settle, tree
from .test_record_cache import as_new_process

SLUGS = [f"partner-{i}" for i in range(8)]
NEW = 6  # the partners from here on have no record until an edit adds one (a partner joining)
COUNTRIES = ["DE", "FR", "US", "JP", "IS", "BR"]

EDITS = {
    "name": st.sampled_from(["Aalto Systems", "Borealis Data", "Cedar Works", "Zenith Labs", "cedar works"]),
    "countries_served": st.lists(st.sampled_from(COUNTRIES), unique=True, max_size=4),
    "regions_served": st.lists(st.sampled_from(["emea", "apac", "north-america"]), unique=True, max_size=2),
    "languages": st.lists(st.sampled_from(["en", "de", "fr", "ja"]), unique=True, min_size=1, max_size=3),
    "programs": st.sampled_from([["certified-integration-partner"], ["value-added-reseller"],
                                 ["fulfillment-reseller"], ["integration-partner"]]),
    "certifications": st.integers(0, 9).map(certifications),
    "projects": st.integers(0, 7).map(projects),
    "joined": st.sampled_from([dt.date(2023, 1, 1), dt.date(2026, 2, 1)]),
    "headquarters": st.sampled_from(COUNTRIES).map(lambda c: {"city": "Somewhere", "country": c}),
    "description": st.sampled_from(["Builds integrations.", "Sells subscriptions.", "New text."]),
    "expertise": st.lists(st.sampled_from(["integration", "api-management", "identity-access-management",
                                           "devops"]), unique=True, min_size=1, max_size=3),
    "industries": st.lists(st.sampled_from(["banking", "healthcare"]), unique=True, max_size=2),
    "deleted": st.just(True),  # (the record deleted: its other fields drawn are not written)
    "remote_delivery": st.booleans(),
    "logo": st.sampled_from([None, "logos/a.svg", "logos/b.svg"]),
}

# What a step may do to a logo file: another picture, one the check refuses, or none.
_SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="48" height="48">{}</svg>'
LOGOS = {
    "square": _SVG.format('<rect width="48" height="48" fill="#036"/>'),
    "circle": _SVG.format('<circle cx="24" cy="24" r="20" fill="#603"/>'),
    "script": _SVG.format("<script>alert(1)</script>"),
    "gone": None,
}
logo_files = st.dictionaries(st.sampled_from(["a.svg", "b.svg"]), st.sampled_from(sorted(LOGOS)), max_size=2)

# How many days the as-of date moves on before a step's build: none mostly, the next day (the
# first build of a day), or past the January review, which may remove partners.
days = st.sampled_from([0, 0, 0, 1, 50])

# One step: some partners' fields replaced and logo files changed, saved a while ago or just now.
step = st.tuples(
    st.dictionaries(st.sampled_from(SLUGS), st.fixed_dictionaries({}, optional=EDITS),
                    min_size=1, max_size=3),
    st.booleans(),
    logo_files,
    days,
)


# Edits to what listings show that a new process rebuilds from the listing state (`relist`)
# (a status earned or a new name moves the partner; a head office or region served may make a
# page appear, which the ordinary rebuild then makes).
IN_PLACE = ("countries_served", "languages", "expertise", "industries", "remote_delivery", "description",
            "certifications", "projects", "headquarters", "regions_served", "name", "deleted", "logo")
in_place_step = st.tuples(
    st.dictionaries(st.sampled_from(SLUGS),
                    st.fixed_dictionaries({}, optional={key: EDITS[key] for key in IN_PLACE}),
                    min_size=1, max_size=3),
    st.booleans(),
    logo_files,
    days,
)


def start(anchor: bool = False) -> dict[str, dict]:
    """The directory before the edits; with `anchor`, a partner never edited serves, speaks and
    knows every value the edits draw, so that their pages never appear or go."""
    records = {slug: record(f"Partner {i} Consulting", countries_served=[COUNTRIES[i % 6]],
                            certifications=certifications(i % 5), joined=dt.date(2025, 3, 1),
                            logo="logos/a.svg" if i in (0, 3) else None)
               for i, slug in enumerate(SLUGS[:NEW])}
    if anchor:
        records["anchor"] = record("Anchor Partners", countries_served=COUNTRIES,
                                   regions_served=["emea", "apac", "north-america"],
                                   languages=["en", "de", "fr", "ja"], industries=["banking", "healthcare"],
                                   expertise=["integration", "api-management", "identity-access-management",
                                              "devops"])
    return records


@settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "10")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=2, max_size=4))
def test_random_edits_in_one_process_rebuild_as_a_cold_build_does(steps):
    _rebuilds_match_cold_builds(steps, new_processes=False)


@settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "10")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(step, in_place_step, in_place_step), min_size=2, max_size=4))
def test_random_edits_each_built_by_a_new_process_rebuild_as_a_cold_build_does(steps):
    _rebuilds_match_cold_builds(steps, new_processes=True)


def _rebuilds_match_cold_builds(steps: list, new_processes: bool) -> None:
    in_place = not new_processes

    as_of = AS_OF

    def rebuild(paths):
        if new_processes:
            as_new_process()
        return build_site(paths, as_of, search=False, in_place=in_place, remember=in_place)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copytree(ROOT / "templates", root / "templates")
        shutil.copy(ROOT / "data" / "programs.yaml", root / "programs.yaml")
        records = start(anchor=new_processes)
        write_records(root / "content", records)
        (root / "content" / "logos").mkdir()
        (root / "content" / "logos" / "a.svg").write_text(LOGOS["square"], encoding="utf-8")
        settle(root / "content", root / "templates", root / "programs.yaml")
        paths = paths_for(root, root / "preview")
        assert rebuild(paths).ok
        for number, (changes, just_now, logos, later) in enumerate(steps, start=1):
            as_of += dt.timedelta(days=later)
            for name, picture in logos.items():
                logo = root / "content" / "logos" / name
                if LOGOS[picture] is None:
                    logo.unlink(missing_ok=True)
                    continue
                logo.write_text(LOGOS[picture], encoding="utf-8")
                if not just_now:
                    settle(logo, offset=number)
            for slug, fields in changes.items():
                if fields.get("deleted"):
                    records.pop(slug, None)
                    (root / "content" / f"{slug}.yaml").unlink(missing_ok=True)
                else:
                    newcomer = record(f"Newcomer {slug[-1]}", countries_served=["FR"])
                    records[slug] = {**records.get(slug, newcomer), **fields}
            written = [slug for slug in changes if slug in records]
            write_records(root / "content", {slug: records[slug] for slug in written})
            if not just_now:
                for slug in written:
                    settle(root / "content" / f"{slug}.yaml", offset=number)
            warm = rebuild(paths)
            wait_persisted()
            cold_out = root / "cold" / str(number)
            cold = build_site(paths_for(root, cold_out / "site", cold_out / ".cache"), as_of, search=False)
            assert warm.ok == cold.ok, (changes, [p.text() for p in warm.problems + cold.problems])
            if not warm.ok:
                continue
            got, expected = tree(root / "preview"), tree(cold_out / "site")
            assert sorted(got) == sorted(expected), changes
            assert [p for p in got if got[p] != expected[p]] == [], changes
            assert (warm.listed, warm.review) == (cold.listed, cold.review)
