"""Recommendations: the partners that suit a visitor's project, ranked, each with its reasons.

The same ranking runs in two places: in the visitor's browser on /recommend/ (answers update the
list instantly on a static site) and here, at build time, for the country pages and the tests.
To keep "one ranking, not two" honest, the work is split:

- `recommend_data` (Python only) boils each partner down once to a small evidence summary:
  programs with implied ones, where it works, status level, and per expertise area how many
  relevant successful projects and currently certified engineers it has. Everything that needs
  the records, the awards or the as-of date happens here, and it is written to recommend.json.
- `rank` (here and in templates/static/recommend-rank.js) is a short, integer-only formula over
  that summary: hard requirements as tiers, a weighted score, reasons in words, a deterministic
  order. Both versions must produce exactly the results in tests/recommend_vectors.json.

Scores are whole numbers, so the two languages cannot disagree through rounding, and ties break
on each partner's position in the data, which Python sorts by name, then slug.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from .award import Award, add_months
from .rules import Rules, country_name, language_name

Data = dict[str, Any]
Query = dict[str, Any]
Result = dict[str, Any]

HELP_KINDS = ("buy", "deliver", "both")
LOCATION = "location"


# --------------------------------------------------------------------------------------------
# Evidence summary (build time only)


def _noun(name: str) -> str:
    """'Integration' reads as 'integration' mid-sentence; 'API management' and 'DevOps' stay."""
    first = name.split(" ", 1)[0]
    return name[:1].lower() + name[1:] if first[1:] == first[1:].lower() else name


def _window_words(months: int) -> str:
    if months % 12 == 0:
        years = months // 12
        return "the last year" if years == 1 else f"the last {years} years"
    return f"the last {months} months"


def summary(partner, award: Award, rules: Rules, as_of: dt.date) -> dict:
    """One partner's evidence, reduced to what the ranking weighs, counted as the award counts it.

    A project counts for an expertise area when one of its products belongs to that area and it
    was successful, on a supported distribution and completed inside the metrics window. An
    engineer counts once per area however many of the area's certifications they hold.
    """
    months = rules.metrics["successful_projects"].window_months or 36
    start = add_months(as_of, -months)
    supported = rules.supported_distributions
    area_of_product = {p.id: p.expertise for p in rules.products}
    area_of_cert = {c.id: area_of_product[c.product] for c in rules.certifications}
    projects: dict[str, int] = {}
    for project in partner.projects:
        if (project.outcome == "successful" and project.distribution in supported
                and start <= project.completed <= as_of):
            for area in {area_of_product[p] for p in project.products if p in area_of_product}:
                projects[area] = projects.get(area, 0) + 1
    holders: dict[str, set[str]] = {}
    for cert in partner.certifications:
        if cert.issued <= as_of <= cert.expires and cert.certification in area_of_cert:
            holders.setdefault(area_of_cert[cert.certification], set()).add(cert.holder)
    order = [e.id for e in rules.expertise]
    hq = partner.headquarters.country
    return {
        "slug": partner.slug,
        "name": partner.name,
        "city": partner.headquarters.city,
        "hq": hq,
        "hq_region": rules.region_of_country.get(hq, ""),
        "level": award.level,
        "programs": rules.implied_programs(list(partner.programs)),
        "countries": sorted(set(partner.countries_served)),
        "regions": [r.id for r in rules.regions if r.id in partner.regions_served],
        "remote": partner.remote_delivery,
        "languages": sorted({code.lower() for code in partner.languages}),
        "industries": [i.id for i in rules.industries if i.id in partner.industries],
        "expertise": [e for e in order if e in partner.expertise],
        "projects": {e: projects[e] for e in order if e in projects},
        "engineers": {e: len(holders[e]) for e in order if e in holders},
    }


def summary_order(name: str, slug: str) -> tuple:
    """Where a partner's summary stands in recommend.json: by name without case, name, slug."""
    return name.casefold(), name, slug


def recommend_data(partners: Iterable, awards: Mapping[str, Award], rules: Rules, as_of: dt.date,
                   known: dict[str, tuple] | None = None) -> Data:
    """Everything the ranking needs, as JSON-ready data: names, weights and one summary per partner.

    Removed partners are left out, so no page can recommend them. Partners are in tie-break
    order (name, then slug); a partner's page is partners/<slug>/. `known` holds the summaries
    an earlier build under the same rules and as-of date made (slug -> (partner, award,
    summary)): one whose partner and award are the same objects is reused (`serve` rebuilds
    after one edit), and the summaries made are put there.
    """
    partners = list(partners)
    edits = _data_edits(partners, awards, rules, as_of) if known is not None else None
    if edits is not None:
        # A few partners changed since the last call, none of them renamed (a `serve` rebuild):
        # the last call's lists, with theirs put in their places.
        _, _, _, _, listed, summaries, places, languages = _LAST_DATA[0]
        listed, summaries = list(listed), list(summaries)
        for p, _ in edits:
            i = places[p.slug]
            award = awards[p.slug]
            hit = known.get(p.slug)  # type: ignore[union-attr]
            fresh = hit is None or hit[0] is not p or hit[1] is not award
            made = summary(p, award, rules, as_of) if fresh else hit[2]
            if made["languages"] != summaries[i]["languages"]:
                languages = None
            listed[i], summaries[i] = p, made
            known[p.slug] = (p, award, made)  # type: ignore[index]
        return _data(rules, as_of, partners, awards, listed, summaries, places, languages, known)
    listed = [p for p in partners if p.slug in awards and not awards[p.slug].removed]

    def tie_break(p) -> tuple:
        """`summary_order`, by the name from a summary made from this very partner if there is
        one (a partner read from the cache then decodes none of its fields: `cache.StoredPartner`)."""
        hit = known.get(p.slug) if known is not None else None
        name = hit[2]["name"] if hit is not None and hit[0] is p and hit[1] is awards[p.slug] else p.name
        return summary_order(name, p.slug)

    listed.sort(key=tie_break)
    if known is None:
        summaries = [summary(p, awards[p.slug], rules, as_of) for p in listed]
    else:
        summaries = []
        for p in listed:
            hit = known.get(p.slug)
            award = awards[p.slug]
            if hit is not None and hit[0] is p and hit[1] is award:
                summaries.append(hit[2])
            else:
                made = summary(p, award, rules, as_of)
                summaries.append(made)
                known[p.slug] = (p, award, made)
        if len(known) != len(listed):  # (kept entries of partners no longer listed: made again)
            known.clear()
            known.update((p.slug, (p, awards[p.slug], made))
                         for p, made in zip(listed, summaries, strict=True))
    return _data(rules, as_of, partners, awards, listed, summaries, None, None, known)


_SLUG = attrgetter("slug")

# The last `recommend_data` call with summaries kept (`known`): its rules, as-of date, partners
# as given and their awards, listed partners and their summaries in order, each slug's place
# and the languages.
_LAST_DATA: list[tuple] = []


def _awards_of(partners: list, awards: Mapping[str, Award]) -> list:
    return list(map(awards.get, map(_SLUG, partners)))


def _data_edits(partners: list, awards: Mapping[str, Award], rules: Rules, as_of: dt.date) -> list | None:
    """(new, old) of the partners that are not the last call's at their places (`delta`), if
    all the others are and the changed ones are still listed, with the same names; else None."""
    from .delta import edited_with

    if not _LAST_DATA:
        return None
    last_rules, last_as_of, last, last_awards, _, _, places, _ = _LAST_DATA[0]
    if last_as_of != as_of or not (last_rules is rules or last_rules == rules):
        return None
    pairs = edited_with(partners, last, _awards_of(partners, awards), last_awards)
    if pairs is None or any(new.slug != old.slug or new.name != old.name or new.slug not in places
                            or new.slug not in awards or awards[new.slug].removed for new, old in pairs):
        return None
    return pairs


def _data(rules: Rules, as_of: dt.date, partners: list, awards: Mapping[str, Award], listed: list,
          summaries: list[dict],
          places: dict[str, int] | None, languages: list[str] | None, known: dict | None) -> Data:
    """`recommend_data`'s answer, from the listed partners' summaries in order."""
    if languages is None:
        languages = sorted({code for s in summaries for code in s["languages"]})
    if known is not None:
        if places is None:
            places = {p.slug: i for i, p in enumerate(listed)}
        _LAST_DATA[:] = [(rules, as_of, partners, _awards_of(partners, awards), listed, summaries, places,
                          languages)]
    months = rules.metrics["successful_projects"].window_months or 36
    return {
        "as_of": as_of.isoformat(),
        "weights": rules.recommend.weights.model_dump(),
        "help": rules.recommend.help.model_dump(),
        "shortlist": rules.recommend.shortlist,
        "project_window": _window_words(months),
        "levels": [{"id": lv.id, "name": lv.name} for lv in rules.levels],
        "regions": {r.id: {"name": r.name, "neighbours": list(r.neighbours)} for r in rules.regions},
        "countries": {
            code: {"name": country_name(code), "region": region}
            for code, region in sorted(rules.region_of_country.items())
        },
        "expertise": {e.id: {"name": e.name, "noun": _noun(e.name)} for e in rules.expertise},
        "industries": {i.id: {"name": i.name, "noun": _noun(i.name)} for i in rules.industries},
        "languages": {code: language_name(code) for code in languages},
        "partners": summaries,
    }


# --------------------------------------------------------------------------------------------
# The ranking (mirrored line for line in templates/static/recommend-rank.js)


def normalize(data: Data, raw: Mapping[str, Any]) -> Query:
    """A query with unknown or repeated answers dropped, so a hand-edited link still works."""
    country = str(raw.get("country") or "").upper()
    seen: list[str] = []
    for area in raw.get("expertise") or []:
        if area in data["expertise"] and area not in seen:
            seen.append(area)
    industry = raw.get("industry") or ""
    language = str(raw.get("language") or "").lower()
    kind = raw.get("help") or ""
    return {
        "country": country if country in data["countries"] else "",
        "expertise": seen,
        "industry": industry if industry in data["industries"] else "",
        "language": language if language in data["languages"] else "",
        "help": kind if kind in HELP_KINDS else "",
    }


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _score(data: Data, q: Query, p: dict, index: int) -> Result | None:
    """One partner against one query: None if it fails a hard requirement, else its result."""
    w = data["weights"]
    sells = any(pid in p["programs"] for pid in data["help"]["buy"])
    delivers = any(pid in p["programs"] for pid in data["help"]["deliver"])
    if q["help"] == "buy" and not sells:
        return None
    if q["help"] == "deliver" and not delivers:
        return None
    if q["help"] == "both" and not (sells or delivers):
        return None
    if q["expertise"] and not any(
        area in p["expertise"] or p["projects"].get(area, 0) > 0 or p["engineers"].get(area, 0) > 0
        for area in q["expertise"]
    ):
        return None

    reasons: list[str] = []
    lacks: list[str] = []
    gaps: list[str] = []
    score = 0

    help_tier = 0
    if q["help"] == "buy":
        reasons.append("sells subscriptions")
    elif q["help"] == "deliver":
        reasons.append("delivers projects")
    elif q["help"] == "both":
        if sells and delivers:
            reasons.append("sells subscriptions and delivers projects")
        elif sells:
            help_tier = 1
            reasons.append("sells subscriptions")
            lacks.append("doesn't deliver projects")
            gaps.append("help")
        else:
            help_tier = 1
            reasons.append("delivers projects")
            lacks.append("doesn't sell subscriptions")
            gaps.append("help")

    reach = ""
    reach_tier = 0
    if q["country"]:
        country = q["country"]
        place = data["countries"][country]["name"]
        region = data["countries"][country]["region"]
        served = country in p["countries"]
        region_served = region in p["regions"]
        if served or p["hq"] == country:
            score += w["serves_country"]
            reasons.append(f"serves {place}" if served else f"headquartered in {place}")
        else:
            if p["hq_region"] == region:
                score += w["headquartered_in_region"]
                reasons.append("headquartered in your region")
            elif region_served:
                score += w["serves_region"]
            if region_served:
                reasons.append(f"serves {data['regions'][region]['name']}")
        if served or region_served or p["hq"] == country:
            reach = "local"
        elif p["remote"]:
            reach, reach_tier = "remote", 1
            reasons.append("delivers remotely")
            lacks.append(f"doesn't serve {place} on site")
            gaps.append(LOCATION)
        else:
            reach, reach_tier = "none", 2
            lacks.append(f"doesn't serve {place} or deliver remotely")
            gaps.append(LOCATION)

    for area in q["expertise"]:
        noun = data["expertise"][area]["noun"]
        listed = area in p["expertise"]
        projects = p["projects"].get(area, 0)
        engineers = p["engineers"].get(area, 0)
        if listed:
            score += w["expertise_listed"]
        score += w["project"] * min(projects, w["project_cap"])
        score += w["certified_engineer"] * min(engineers, w["certified_engineer_cap"])
        if projects > 0:
            reasons.append(
                f"{_plural(projects, 'successful ' + noun + ' project')} in {data['project_window']}"
            )
        if engineers > 0:
            reasons.append(f"{_plural(engineers, 'engineer')} certified in {noun}")
        if listed and projects == 0 and engineers == 0:
            reasons.append(f"lists {noun} expertise")
        if not listed and projects == 0 and engineers == 0:
            lacks.append(f"no {noun} experience listed")
            gaps.append("expertise")

    rank = next((i for i, lv in enumerate(data["levels"]) if lv["id"] == p["level"]), 0)
    score += w["level_step"] * rank
    if rank > 0:
        reasons.append(f"{data['levels'][rank]['name']} status")

    if q["industry"]:
        noun = data["industries"][q["industry"]]["noun"]
        if q["industry"] in p["industries"]:
            score += w["industry"]
            reasons.append(f"works in {noun}")
        else:
            lacks.append(f"no {noun} experience listed")
            gaps.append("industry")

    if q["language"]:
        name = data["languages"][q["language"]]
        if q["language"] in p["languages"]:
            score += w["language"]
            reasons.append(f"works in {name}")
        else:
            lacks.append(f"doesn't work in {name}")
            gaps.append("language")

    return {
        "slug": p["slug"],
        "name": p["name"],
        "city": p["city"],
        "hq": p["hq"],
        "level": p["level"],
        "reach": reach,
        "score": score,
        "reasons": reasons,
        "lacks": lacks,
        "gaps": gaps,
        "order": [help_tier, reach_tier, -score, index],
    }


def _results(data: Data, q: Query) -> list[Result]:
    results = []
    for index, partner in enumerate(data["partners"]):
        result = _score(data, q, partner, index)
        if result is not None:
            results.append(result)
    results.sort(key=lambda r: r["order"])
    for result in results:
        del result["order"]
    return results


def _is_local_to(data: Data, p: dict, region: str) -> bool:
    return (region in p["regions"] or p["hq_region"] == region
            or any(data["countries"].get(c, {}).get("region") == region for c in p["countries"]))


def _advice(data: Data, q: Query, results: list[Result]) -> dict | None:
    """When nobody nearby has everything asked for: say so, and what would widen the search.

    Each suggestion is only offered if it finds at least one partner with nothing lacking.
    """
    if any(not r["gaps"] for r in results):
        return None
    place = data["countries"][q["country"]]["name"] if q["country"] else ""
    if not results:
        message = "No partner in the directory matches these answers yet."
    elif place:
        message = f"No partner serving {place} has everything you asked for; the closest matches are below."
    else:
        message = "No partner has everything you asked for; the closest matches are below."
    suggestions: list[dict] = []

    def offer(text: str, wider: Query) -> None:
        n = sum(1 for r in _results(data, wider) if not r["gaps"])
        if n > 0:
            matches = "1 partner matches" if n == 1 else f"{n} partners match"
            suggestions.append({"text": f"{text}: {matches} everything else.", "query": wider,
                                "partners": []})

    if q["industry"]:
        offer(f"Leave out the industry ({data['industries'][q['industry']]['name']})",
              {**q, "industry": ""})
    if q["language"]:
        offer(f"Leave out the language ({data['languages'][q['language']]})", {**q, "language": ""})
    if q["help"]:
        offer("Ask for any kind of help", {**q, "help": ""})
    for area in q["expertise"]:
        offer(f"Leave out {data['expertise'][area]['noun']}",
              {**q, "expertise": [e for e in q["expertise"] if e != area]})
    if q["country"]:
        by_id = {p["slug"]: p for p in data["partners"]}
        for neighbour in data["regions"][data["countries"][q["country"]]["region"]]["neighbours"]:
            near = [r for r in results if r["gaps"] == [LOCATION]
                    and _is_local_to(data, by_id[r["slug"]], neighbour)][: data["shortlist"]]
            if near:
                suggestions.append({
                    "text": f"In the neighbouring region {data['regions'][neighbour]['name']}, "
                            f"{'this partner has' if len(near) == 1 else 'these partners have'} "
                            "everything else you asked for:",
                    "query": None,
                    "partners": [{"slug": r["slug"], "name": r["name"]} for r in near],
                })
    return {"message": message, "suggestions": suggestions}


def rank(data: Data, raw_query: Mapping[str, Any]) -> dict:
    """The ranked partners for a query, best first, with reasons, and advice if nothing fits well.

    Order: partners offering every kind of help asked for, then those offering part of it; within
    that, those serving the location, then those delivering remotely, then the rest; then by score,
    highest first; then by name and slug (the partners' order in `data`).
    """
    q = normalize(data, raw_query)
    results = _results(data, q)
    return {"query": q, "results": results, "advice": _advice(data, q, results)}


@dataclass
class Resumed:
    """A ranking a new process takes up (`relist`): what `kept_ranking` gave in the process that
    made `out`, the positions whose summaries changed since, and their summaries then."""

    kept: tuple
    out: dict[str, list[Result]]
    changed: list[int]
    last: dict[int, dict]
    added: frozenset[int] = frozenset()  # changed positions of partners the kept ranking had not


def kept_ranking(out: dict[str, list[Result]]) -> tuple | None:
    """What the `for_countries` call that answered `out` ranked from (its limit, order, lists and
    candidates: plain data), for a new process to take up (`Resumed`); None if it was not the
    last call here."""
    if not _LAST_RANKING or _LAST_RANKING[0][6] is not out:
        return None
    (_, limit), _, order, at_country, groups, picks, _ = _LAST_RANKING[0]
    return limit, order, at_country, groups, picks


def for_countries(data: Data, countries: Iterable[str], limit: int,
                  resumed: Resumed | None = None) -> dict[str, list[Result]]:
    """The partners each country page recommends: the country-only query's best `limit` of those
    who work there or deliver remotely.

    Exactly `rank`'s order, without ranking every partner for every country (thousands of each
    would take seconds). For a country-only query, partners fall into five groups whose members
    share their location points and reach: serving the country (or headquartered there); serving
    its region from a head office inside it, or outside it; delivering remotely from inside the
    region, or from outside it. Within a group only status and the tie-break differ, so the best
    `limit` of each group, sorted once, are the only candidates that can make the top.

    `resumed` (same data but the summaries at `changed`) reads only the summaries of the changed
    partners and of the countries' candidates that change, so `data["partners"]` may decode
    each when asked (`relist` reads them from recommend.json one at a time).
    """
    partners = data["partners"]
    step = data["weights"]["level_step"]
    level_rank = {lv["id"]: i for i, lv in enumerate(data["levels"])}
    head = {key: value for key, value in data.items() if key != "partners"}
    regions = list(data["regions"])
    added: frozenset[int] = frozenset()
    if resumed is not None and resumed.kept[0] == limit and len(resumed.changed) <= _MOST_CHANGED:
        changed: list[int] | None = resumed.changed
        last_of: Mapping[int, dict] = resumed.last
        added = resumed.added
        _, last_order, last_at_country, last_groups, last_picks = resumed.kept
        last_out = resumed.out
    else:
        changed = _changed_since_last(head, partners, limit)
        if changed is not None:
            _, last_of, last_order, last_at_country, last_groups, last_picks, last_out = _LAST_RANKING[0]
    if changed is None:
        order = [(-step * level_rank.get(p["level"], 0), i) for i, p in enumerate(partners)]
        at_country: dict[str, list[int]] = {}
        groups: dict[tuple[str, bool, bool], list[int]] = {}
        # Partners taken in that order, so every list is made in order (sorting the 300 lists
        # instead took a third of this at 10,000 partners).
        for i in sorted(range(len(partners)), key=order.__getitem__):
            codes, keys = _memberships(partners[i], regions)
            for code in codes:
                at_country.setdefault(code, []).append(i)
            for key in keys:
                groups.setdefault(key, []).append(i)
    else:
        # A few partners' summaries changed since the last call (a `serve` rebuild): the last
        # lists with those partners taken out and put back where they now belong.
        order, at_country, groups = list(last_order), dict(last_at_country), dict(last_groups)
        for i in changed:
            order[i] = (-step * level_rank.get(partners[i]["level"], 0), i)
        # Every changed partner is taken out before any is put back: a list still holding one
        # at its old place is out of order under the new keys, and bisecting it put the next
        # one in the wrong place (found by hypothesis, after two partners' levels swapped).
        for i in changed:
            if i in added:  # (new: in no list yet)
                continue
            for lists, keys in zip((at_country, groups), _memberships(last_of[i], regions), strict=True):
                for key in keys:
                    lists[key] = [j for j in lists[key] if j != i]
        for i in changed:
            for lists, keys in zip((at_country, groups), _memberships(partners[i], regions), strict=True):
                for key in keys:
                    made = list(lists.get(key, ()))
                    bisect.insort(made, i, key=order.__getitem__)
                    lists[key] = made
    out: dict[str, list[Result]] = {}
    picks: dict[str, list[int]] = {}
    unchanged = set(range(len(partners))).difference(changed) if changed is not None else set()
    if changed is None:
        last_picks, last_out = {}, {}
    for code in countries:
        if code not in data["countries"]:
            out[code] = []
            continue
        region = data["countries"][code]["region"]
        home = at_country.get(code, [])
        here = set(home)
        picked = home[:limit]
        for serves, inside in ((True, True), (True, False), (False, True), (False, False)):
            best = 0
            for i in groups.get((region, serves, inside), []):
                if best == limit:
                    break
                if i not in here:
                    picked.append(i)
                    best += 1
        picks[code] = picked
        if last_picks.get(code) == picked and code in last_out and unchanged.issuperset(picked):
            out[code] = last_out[code]  # the same candidates, none of them changed
            continue
        subset = {**data, "partners": [partners[i] for i in sorted(set(picked))]}
        found = _results(subset, normalize(subset, {"country": code}))
        out[code] = [r for r in found if r["reach"] in ("local", "remote")][:limit]
    # (a list taken up is read lazily: kept as it is, the next call's comparison reads it whole)
    last = list(partners) if type(partners) is list else partners
    _LAST_RANKING[:] = [((head, limit), last, order, at_country, groups, picks, out)]
    return out


# The last `for_countries` call's data (but its partners) and limit, partners, order, lists,
# candidates and answer, for the next call to bring up to date when only a few summaries changed.
_LAST_RANKING: list[tuple] = []
# More partners changed than this: the lists are made again from every partner.
_MOST_CHANGED = 50


def _changed_since_last(head: dict, partners: list, limit: int) -> list[int] | None:
    """The positions whose summary is not the same object as in the last call's data, when the
    rest of the data is equal and the same partners are in the same places; else None."""
    from .delta import changed_places

    if not _LAST_RANKING:
        return None
    asked, last, *_ = _LAST_RANKING[0]
    if asked != (head, limit):
        return None
    changed = changed_places(partners, last, _MOST_CHANGED)
    if changed is None or any(last[i]["slug"] != partners[i]["slug"] for i in changed):
        return None
    return changed


def _memberships(p: dict, regions: list[str]) -> tuple[set[str], set[tuple[str, bool, bool]]]:
    """The countries whose candidates a partner is among, and its groups (see `for_countries`):
    a partner not delivering remotely is in the groups of the regions it serves only."""
    home = p["hq_region"]
    served = p["regions"]
    countries = {*p["countries"], p["hq"]}
    if p["remote"]:
        return countries, {(region, region in served, home == region) for region in regions}
    return countries, {(region, True, home == region) for region in served if region in regions}


# --------------------------------------------------------------------------------------------
# The site: recommend.json, the /recommend/ page and the country pages' recommendations

_BUILT: dict[int, tuple[object, Data, dict[str, list[Result]]]] = {}


def _for_directory(d) -> tuple[Data, dict[str, list[Result]]]:
    """The data and every country page's recommendations, computed once per build (Directory `d`)."""
    cached = _BUILT.get(id(d))
    if cached is not None and cached[0] is d:
        return cached[1], cached[2]
    data = recommend_data(d.partners.values(), d.awards, d.rules, d.as_of, getattr(d, "summaries", None))
    countries = [v.id for v in d.facets["country"]]
    by_country = for_countries(data, countries, d.rules.recommend.country_page)
    _BUILT.clear()  # one build at a time; `serve` rebuilds with a new Directory
    _BUILT[id(d)] = (d, data, by_country)
    return data, by_country


def made_for(d) -> tuple[Data, dict[str, list[Result]]] | None:
    """The data and country recommendations `_for_directory` made for `d`, if it made them."""
    cached = _BUILT.get(id(d))
    return (cached[1], cached[2]) if cached is not None and cached[0] is d else None


def use_for(d, data: Data, by_country: dict[str, list[Result]]) -> None:
    """Take `data` and `by_country` as what `_for_directory` makes for `d` (`relist`, which
    makes them from recommend.json's summaries instead of from every partner)."""
    _BUILT.clear()
    _BUILT[id(d)] = (d, data, by_country)


def recommend_json(d) -> bytes:
    """/recommend.json: what the page's script ranks, compact and byte-identical for the same input.

    Each partner's summary is encoded apart and kept with the directory by the summary object
    (`Directory.encoded`, which the next build's directory in this process takes over, as it
    does the summaries `recommend_data` reuses for unchanged partners): a `serve` rebuild after
    an edit to listed data encodes one summary, not 10,000, and puts the same bytes together.
    """
    from .delta import changed_places
    from .export import compact, compact_with_list  # (export imports pages, which imports this)

    data, _ = _for_directory(d)
    head = {key: value for key, value in data.items() if key != "partners"}
    # id of a summary -> (the summary, kept so its id stays its own; its JSON), in file order
    kept = d.encoded.setdefault("recommend.json", {}) if hasattr(d, "encoded") else {}
    summaries = data["partners"]
    last = _LAST_JSON[0] if _LAST_JSON and _LAST_JSON[0][0] is kept else None
    edits = changed_places(summaries, last[1]) if last is not None else None
    if edits is not None:  # (a few summaries changed since the last call: see `delta`)
        parts = list(last[2])  # type: ignore[index]
        for i in edits:
            parts[i] = compact(summaries[i])
        kept.clear()
        kept.update(zip(map(id, summaries), zip(summaries, parts, strict=True), strict=True))
    else:
        now: dict[int, tuple[dict, str]] = {}
        parts = []
        for made in summaries:
            known = kept.get(id(made))
            if known is None or known[0] is not made:
                known = (made, compact(made))
            now[id(made)] = known
            parts.append(known[1])
        kept.clear()
        kept.update(now)
    _LAST_JSON[:] = [(kept, list(summaries), parts)]
    if list(data)[-1] != "partners":  # (the pieces below are the whole when "partners" comes last)
        return (compact(data) + "\n").encode("utf-8")
    return compact_with_list(head, "partners", parts)


# The last `recommend_json`'s kept entries (`Directory.encoded`), summaries and their JSON.
_LAST_JSON: list[tuple] = []


def keep_encoded(d, known: Mapping[str, str]) -> None:
    """Partners' summaries as JSON known from the last recommend.json (slug -> text, for
    partners whose records did not change: `cache.seed_exports`), kept with this build's
    summaries in `Directory.encoded` for `recommend_json` to use instead of encoding them."""
    data, _ = _for_directory(d)
    kept = d.encoded.setdefault("recommend.json", {})
    for made in data["partners"]:
        text = known.get(made["slug"])
        if text is not None:
            kept[id(made)] = (made, text)


def page_context(d) -> dict:
    """The questionnaire's choices, and the country pages to fall back on without JavaScript."""
    data, _ = _for_directory(d)
    rules = d.rules
    pages = {v.id: v for v in d.facets["country"]}
    by_region: list[tuple[str, list[tuple[str, str]]]] = []
    with_pages: list[tuple[str, list]] = []
    for region in rules.regions:
        names = sorted(((code, data["countries"][code]["name"]) for code in region.countries),
                       key=lambda pair: (pair[1].casefold(), pair[0]))
        by_region.append((region.name, names))
        linked = [pages[code] for code, _ in names if code in pages]
        if linked:
            with_pages.append((region.name, linked))
    return {
        "countries": by_region,
        "country_pages": with_pages,
        "expertise": rules.expertise,
        "industries": rules.industries,
        "languages": sorted(data["languages"].items(), key=lambda pair: (pair[1].casefold(), pair[0])),
        "help": [
            ("", "Not sure yet", "Show every kind of partner."),
            ("buy", "Buy subscriptions", "Resellers who sell and renew subscriptions."),
            ("deliver", "Get the project delivered", "Integration partners who deliver projects."),
            ("both", "Both", "Value-added resellers who do both come first."),
        ],
        "shortlist": rules.recommend.shortlist,
        "partner_count": len(data["partners"]),
    }


def country_recommendations(d, country: str) -> list[dict]:
    """The cards a country page recommends: each partner's card data with the ranking's reasons."""
    _, by_country = _for_directory(d)
    return [{"view": d.views[r["slug"]], "result": r} for r in by_country.get(country, [])]
