"""Random edits in one process, each rebuild compared with a build from nothing.

A process that keeps its builds (`serve`) redoes only the partners whose records changed, told
apart by identity from the last build's (`partnerdir.delta`): the check, awards, directory,
recommendations, open data entries and kept listing pages each bring their last result up to
date. Hypothesis draws a sequence of edits to a small directory (names that move a partner in
the order, places, languages, programs, certifications that change a status, joining dates
that take a partner off the site at the January review, several records at once, a record
saved just now) and every rebuild must be byte for byte the site a cold build makes.
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

from .site_records import AS_OF, certifications, record, write_records
from .test_incremental import paths_for, settle, tree

SLUGS = [f"partner-{i}" for i in range(8)]
COUNTRIES = ["DE", "FR", "US", "JP", "IS", "BR"]

EDITS = {
    "name": st.sampled_from(["Aalto Systems", "Borealis Data", "Cedar Works", "Zenith Labs", "cedar works"]),
    "countries_served": st.lists(st.sampled_from(COUNTRIES), unique=True, max_size=4),
    "regions_served": st.lists(st.sampled_from(["emea", "apac", "north-america"]), unique=True, max_size=2),
    "languages": st.lists(st.sampled_from(["en", "de", "fr", "ja"]), unique=True, min_size=1, max_size=3),
    "programs": st.sampled_from([["certified-integration-partner"], ["value-added-reseller"],
                                 ["fulfillment-reseller"], ["integration-partner"]]),
    "certifications": st.integers(0, 9).map(certifications),
    "joined": st.sampled_from([dt.date(2023, 1, 1), dt.date(2026, 2, 1)]),
    "headquarters": st.sampled_from(COUNTRIES).map(lambda c: {"city": "Somewhere", "country": c}),
    "description": st.sampled_from(["Builds integrations.", "Sells subscriptions.", "New text."]),
}

# One step: some partners' fields replaced, saved a while ago or just now.
step = st.tuples(
    st.dictionaries(st.sampled_from(SLUGS), st.fixed_dictionaries({}, optional=EDITS),
                    min_size=1, max_size=3),
    st.booleans(),
)


def start() -> dict[str, dict]:
    return {slug: record(f"Partner {i} Consulting", countries_served=[COUNTRIES[i % 6]],
                         certifications=certifications(i % 5), joined=dt.date(2025, 3, 1))
            for i, slug in enumerate(SLUGS)}


@settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "10")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=2, max_size=4))
def test_random_edits_in_one_process_rebuild_as_a_cold_build_does(steps):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copytree(ROOT / "templates", root / "templates")
        shutil.copy(ROOT / "data" / "programs.yaml", root / "programs.yaml")
        records = start()
        write_records(root / "content", records)
        settle(root / "content", root / "templates", root / "programs.yaml")
        paths = paths_for(root, root / "preview")
        assert build_site(paths, AS_OF, search=False, in_place=True).ok
        for number, (changes, just_now) in enumerate(steps, start=1):
            for slug, fields in changes.items():
                records[slug] = {**records[slug], **fields}
            write_records(root / "content", {slug: records[slug] for slug in changes})
            if not just_now:
                for slug in changes:
                    settle(root / "content" / f"{slug}.yaml", offset=number)
            warm = build_site(paths, AS_OF, search=False, in_place=True)
            wait_persisted()
            cold_out = root / "cold" / str(number)
            cold = build_site(paths_for(root, cold_out / "site", cold_out / ".cache"), AS_OF, search=False)
            assert warm.ok == cold.ok, (changes, [p.text() for p in warm.problems + cold.problems])
            if not warm.ok:
                continue
            got, expected = tree(root / "preview"), tree(cold_out / "site")
            assert sorted(got) == sorted(expected), changes
            assert [p for p in got if got[p] != expected[p]] == [], changes
            assert (warm.listed, warm.review) == (cold.listed, cold.review)
