"""What a visitor can filter the directory by, and which partners each filter value matches.

One definition serves the pre-rendered pages (a page per value, counts next to every facet
link), the open data and the directory's JavaScript, which receives the same memberships in
directory.json, so the counts a visitor sees are the same with and without JavaScript.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .award import Award
from .rules import Rules, country_name, language_name
from .validate import Partner


@dataclass(frozen=True)
class Facet:
    key: str  # URL query parameter, e.g. ?program=value-added-reseller
    label: str  # heading of its filter group
    folder: str  # its values' pages live under /<folder>/<value>/
    lowercase_path: bool = False  # country and language codes are upper/lowercase ids in data


FACETS: tuple[Facet, ...] = (
    Facet("program", "Program", "programs"),
    Facet("status", "Status", "status"),
    Facet("region", "Region", "regions"),
    Facet("country", "Country served", "countries", lowercase_path=True),
    Facet("expertise", "Expertise", "expertise"),
    Facet("industry", "Industry", "industries"),
    Facet("language", "Language", "languages", lowercase_path=True),
)
FACET_BY_KEY = {f.key: f for f in FACETS}


@dataclass(frozen=True)
class FacetValue:
    facet: str
    id: str
    name: str
    path: str  # site-relative folder of its page, e.g. "countries/de/"
    count: int  # listed partners matching it


def value_path(facet: str, value: str) -> str:
    f = FACET_BY_KEY[facet]
    return f"{f.folder}/{value.lower() if f.lowercase_path else value}/"


def served_countries(partner: Partner, rules: Rules) -> list[str]:
    """A country is served by a partner that lists it, or lists the region it belongs to."""
    served = set(partner.countries_served)
    for region_id in partner.regions_served:
        region = rules.region_by_id.get(region_id)
        if region:
            served.update(region.countries)
    return sorted(served)


def regions_of(partner: Partner, rules: Rules) -> list[str]:
    """Regions a partner is in: its headquarters' region, regions it serves, those of countries it serves."""
    member = set(partner.regions_served)
    for code in [partner.headquarters.country, *partner.countries_served]:
        region = rules.region_of_country.get(code)
        if region:
            member.add(region)
    return [r.id for r in rules.regions if r.id in member]


def memberships(partner: Partner, award: Award, rules: Rules) -> dict[str, list[str]]:
    """The facet values a partner matches; a program's implied programs are matched too."""
    return {
        "program": rules.implied_programs(partner.programs),
        "status": [award.level],
        "region": regions_of(partner, rules),
        "country": served_countries(partner, rules),
        "expertise": list(partner.expertise),
        "industry": list(partner.industries),
        "language": list(partner.languages),
    }


def facet_counts(members: Iterable[Mapping[str, list[str]]]) -> dict[str, Counter]:
    """Facet key -> value -> how many of `members` (each partner's memberships) match it."""
    counts = {f.key: Counter() for f in FACETS}
    for member in members:
        for key, values in member.items():
            counts[key].update(values)
    return counts


def counts_changed(counts: Mapping[str, Counter], removed: Iterable[Mapping[str, list[str]]],
                   added: Iterable[Mapping[str, list[str]]]) -> dict[str, Counter]:
    """`facet_counts` of a few partners' memberships changed, from the counts before: a
    rebuild after one edit need not count 10,000 partners' memberships again. `counts` is
    left as it was."""
    made = {key: Counter(counter) for key, counter in counts.items()}
    for member in removed:
        for key, values in member.items():
            made[key].subtract(values)
    for member in added:
        for key, values in member.items():
            made[key].update(values)
    return {key: +counter for key, counter in made.items()}  # (values nobody matches any more go)


def facet_values(rules: Rules, members: Mapping[str, Mapping[str, list[str]]],
                 extra_countries: Iterable[str] = (),
                 counts: dict[str, Counter] | None = None) -> dict[str, list[FacetValue]]:
    """Every facet's values in display order, with how many listed partners match each.

    Programs and statuses are listed even when nobody matches (their pages explain the
    program); other values only when a partner matches, or for countries, is headquartered
    there (`extra_countries`), since those are the pages that exist. `counts`, when known,
    are `facet_counts` of `members`.
    """
    if counts is None:
        counts = facet_counts(members.values())

    def make(key: str, pairs: Iterable[tuple[str, str]]) -> list[FacetValue]:
        return [FacetValue(key, vid, name, value_path(key, vid), counts[key][vid]) for vid, name in pairs]

    countries = set(counts["country"]) | set(extra_countries)
    languages = set(counts["language"])
    return {
        "program": make("program", ((p.id, p.name) for p in rules.programs)),
        # Highest level first: that is the order visitors look for.
        "status": make("status", ((lv.id, lv.name) for lv in reversed(rules.levels))),
        "region": make("region", ((r.id, r.name) for r in rules.regions if counts["region"][r.id])),
        "country": make("country", sorted(((c, country_name(c)) for c in countries),
                                          key=lambda pair: (pair[1].casefold(), pair[0]))),
        "expertise": make("expertise", ((e.id, e.name) for e in rules.expertise
                                        if counts["expertise"][e.id])),
        "industry": make("industry", ((i.id, i.name) for i in rules.industries if counts["industry"][i.id])),
        "language": make("language", sorted(((c, language_name(c)) for c in languages),
                                            key=lambda pair: (pair[1].casefold(), pair[0]))),
    }
