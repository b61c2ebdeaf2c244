"""Stage 4a: what every public page shows, as plain data: (path, template, context) per page.

The render stage only fills templates with these contexts, so a new page type (the
recommendation page, a search page) is one more function in `PAGE_MAKERS` and a template.
Paths are relative to the site root; templates prefix links with the site's root path.
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from markupsafe import Markup

from .award import Award, describe, evidence_counts, project_evidence, quantity
from .facets import (
    FACET_BY_KEY,
    FACETS,
    FacetValue,
    counts_changed,
    facet_values,
    memberships,
    value_path,
)
from .markdown_text import plain_text, render_markdown
from .recommend import country_recommendations, page_context
from .rules import Rules, country_name, language_name
from .validate import Partner

# Cards per directory page: small enough for a fast first page on a phone, large enough that
# most visitors never need the next one.
PAGE_SIZE = 24
# How many places and expertise a card names before "N more".
CARD_PLACES = 4
CARD_EXPERTISE = 3
# Legal forms are not what people remember a company by, so initials skip them.
_LEGAL_FORMS = {"ab", "ag", "as", "bv", "co", "corp", "gmbh", "inc", "kg", "kk", "llc", "llp", "ltd",
                "nv", "oy", "plc", "pte", "pty", "sa", "sarl", "sas", "spa", "srl", "the"}
HUES = 6


@dataclass(frozen=True)
class PartnerView:
    """Everything a card, a list entry or the directory's JavaScript shows of one listed partner."""

    slug: str
    name: str
    path: str  # "partners/<slug>/"
    level: str
    level_name: str
    level_rank: int
    joined: dt.date
    logo: str | None  # site path of the logo file, e.g. "logos/northwind.svg"
    initials: str
    hue: int
    programs: tuple[str, ...]  # short names of the programs the partner lists
    hq_city: str
    hq_country: str
    hq_country_name: str
    places: tuple[str, ...]  # regions then countries served, shortened with "N more"
    expertise: tuple[str, ...]  # first expertise names, shortened with "N more"
    member: dict[str, list[str]] = field(default_factory=dict)  # facet key -> values matched
    # as the record lists them (directory.json's "rs" and "cs", the regions' lists of who serves them)
    # (made by a factory: a field with a plain default is a class attribute, which a view made
    # by `lazy_view` would answer instead of its own value)
    regions_served: tuple[str, ...] = field(default_factory=tuple)
    countries_served: tuple[str, ...] = field(default_factory=tuple)

    def __getattr__(self, name: str) -> Any:
        """A field of a view made by `lazy_view`, which has only its slug until any other is
        asked for: then all of them, made by its `fill`."""
        fill = self.__dict__.get("_fill") if not name.startswith("__") else None
        if fill is None:
            raise AttributeError(name)
        del self.__dict__["_fill"]
        self.__dict__.update(fill().__dict__)
        return self.__dict__[name] if name in self.__dict__ else object.__getattribute__(self, name)


def lazy_view(slug: str, fill: Callable[[], PartnerView]) -> PartnerView:
    """A partner's view that knows its slug and makes the rest when first asked (`relist`: the
    lists of a page made again name 1,600 partners, whose table rows are kept, by slug)."""
    view = PartnerView.__new__(PartnerView)
    view.__dict__.update(slug=slug, _fill=fill)
    return view


@dataclass(frozen=True)
class Page:
    path: str  # file path in the site, e.g. "partners/northwind/index.html"
    template: str
    context: dict
    title: str
    description: str = ""
    in_sitemap: bool = True
    # Context keys the template only hands to `fragment` (render.py): a rebuild in which
    # nothing else of the page changed puts the new fragment between the page's kept pieces
    # instead of rendering it again (the directory's facet counts, on each of its 400 pages).
    fragment_only: tuple[str, ...] = ()

    @property
    def url_path(self) -> str:
        return url_path(self.path)


def url_path(path: str) -> str:
    """The path visitors see of a site path: folders end in '/', index.html is implied."""
    if path == "index.html":
        return ""
    return path.removesuffix("index.html")


@dataclass
class Directory:
    """The listed partners and what every page derives from them, computed once per build."""

    rules: Rules
    as_of: dt.date
    partners: dict[str, Partner]  # listed partners (removed ones excluded), by slug
    awards: dict[str, Award]
    views: dict[str, PartnerView]
    order: list[str]  # slugs by status then name: the default order everywhere
    facets: dict[str, list[FacetValue]]
    logos: dict[str, str]  # site path -> source path of every logo to copy
    counts: dict[str, Counter] | None = None  # facet_counts of the views, for the next build's
    # recommend.recommend_data's summaries (slug -> (partner, award, summary)), for the next build's
    summaries: dict[str, tuple] = field(default_factory=dict)
    # open data entries as encoded for this directory's partners (file -> its kept entries, see
    # export.directory_json and recommend.recommend_json), for the next build's
    encoded: dict[str, dict] = field(default_factory=dict)
    # (facet key, value) -> its `matching_views`, made once; the next build's directory in this
    # process takes over those that none of its changed partners is or was in (`directory`),
    # so a rebuild after one edit does not make a million cards' lists again, and the pages
    # that show them find them the same objects as before (render.KeptPages.views)
    listed_views: dict[tuple[str, str], list[PartnerView]] = field(default_factory=dict)
    # the listed partners' headquarters countries (each has a page), for the next build's
    hq_countries: frozenset[str] = frozenset()
    # the only pages the page makers make, when not None (`relist`: a new process's rebuild of
    # an edit to listed data makes the pages that list a changed partner, not the other 700)
    wanted: frozenset[str] | None = None

    def wants(self, path: str) -> bool:
        return self.wanted is None or path in self.wanted

    @cached_property
    def matching(self) -> dict[str, dict[str, list[str]]]:
        """Facet key -> value -> the slugs matching it, in `order`.

        Made in one pass over the partners: asking every country page's question of every
        partner (is this country among the ~100 it serves?) took seconds at 10,000 partners.
        """
        return _matching(self.order, self.views)

    def matching_views(self, key: str, value: str) -> list[PartnerView]:
        """The views of the partners matching a facet value, in `order` (the same list for every
        page that asks: none changes it)."""
        made = self.listed_views.get((key, value))
        if made is None:
            made = self.listed_views[(key, value)] = [self.views[s] for s in
                                                      self.matching.get(key, {}).get(value, ())]
        return made


def matching_counts(matching: dict[str, dict[str, list[str]]]) -> dict[str, Counter]:
    """`facets.facet_counts` of the partners in `Directory.matching`'s lists: each value's
    list's length."""
    counts = {f.key: Counter() for f in FACETS}
    for key, by_value in matching.items():
        counts.setdefault(key, Counter()).update({value: len(slugs) for value, slugs in by_value.items()})
    return counts


def _matching(order: list[str], views: dict[str, PartnerView]) -> dict[str, dict[str, list[str]]]:
    """`Directory.matching` of these views in this order."""
    out: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for slug in order:
        for key, values in views[slug].member.items():
            by_value = out[key]
            for value in values:
                by_value[value].append(slug)
    return {key: dict(by_value) for key, by_value in out.items()}


def initials(name: str) -> str:
    words = re.findall(r"[^\W_]+", name)
    kept = [w for w in words if w.casefold() not in _LEGAL_FORMS] or words
    return "".join(w[0] for w in kept[:2]).upper() or "?"


def shorten(items: list[str], limit: int) -> tuple[str, ...]:
    """At most `limit` entries: the first ones and "N more" for the rest."""
    if len(items) <= limit:
        return tuple(items)
    return (*items[: limit - 1], f"{len(items) - limit + 1} more")


def name_order(name: str, slug: str) -> tuple:
    """Where a partner's name sorts in the directory's order within a status, and directory.json's."""
    return (name.casefold(), slug)


def name_key(partner: Partner) -> tuple:
    return name_order(partner.name, partner.slug)


def view_name_key(view: PartnerView) -> tuple:
    """`name_key` from the partner's card view (a partner read from the cache then decodes none
    of its fields: `cache.StoredPartner`)."""
    return name_order(view.name, view.slug)


def logo_site_path(partner: Partner) -> str | None:
    # Validation guarantees logos are files under content/partners/logos/.
    return partner.logo if partner.logo else None


def partner_view(partner: Partner, award: Award, rules: Rules) -> PartnerView:
    programs = rules.program_by_id
    places = [rules.region_by_id[r].name for r in partner.regions_served if r in rules.region_by_id]
    places += [country_name(c) for c in partner.countries_served]
    return PartnerView(
        slug=partner.slug,
        name=partner.name,
        path=f"partners/{partner.slug}/",
        level=award.level,
        level_name=rules.level_by_id[award.level].name,
        level_rank=rules.level_rank[award.level],
        joined=partner.joined,
        logo=logo_site_path(partner),
        initials=initials(partner.name),
        hue=zlib.crc32(partner.slug.encode()) % HUES,
        programs=tuple(programs[p].short_name for p in partner.programs if p in programs),
        hq_city=partner.headquarters.city,
        hq_country=partner.headquarters.country,
        hq_country_name=country_name(partner.headquarters.country),
        places=shorten(places, CARD_PLACES),
        expertise=shorten([rules.expertise_by_id[e].name for e in partner.expertise
                           if e in rules.expertise_by_id], CARD_EXPERTISE),
        member=memberships(partner, award, rules),
        regions_served=tuple(partner.regions_served),
        countries_served=tuple(partner.countries_served),
    )


def directory(partners: list[Partner], awards: dict[str, Award], rules: Rules, as_of: dt.date,
              known: dict[str, tuple[Partner, Award, PartnerView]] | None = None,
              last: Directory | None = None, edited: list[Partner] | None = None) -> Directory:
    """The public directory: partners the January review removed are left out of everything.

    `known` holds views made by an earlier build in this process, by slug with the partner and
    award they were made from; a view whose partner and award are the same objects is reused,
    and the views made are put there. `last`, the directory of an earlier build under the same
    rules, lets facet counts and memberships be brought up to date from it (`_changed_from`)
    instead of made again from every partner. `edited`, with `last` and `known` (which then
    holds the views of all of `last`), are the only partners that are not `last`'s: the others'
    views are `last`'s, and are not looked through.
    """
    listed, views = _listed_edited(last, edited, known, awards, rules)
    changed = None
    delta = listed is not None
    if delta:
        changed = [p.slug for p in edited if last.views.get(p.slug) is not views.get(p.slug)]  # type: ignore
    else:
        listed = {p.slug: p for p in partners if not awards[p.slug].removed}
        views = {}
        for slug, p in listed.items():
            hit = known.get(slug) if known is not None else None
            if hit is not None and hit[0] is p and hit[1] is awards[slug]:
                views[slug] = hit[2]
            else:
                views[slug] = view = partner_view(p, awards[slug], rules)
                if known is not None:
                    known[slug] = (p, awards[slug], view)
        if known is not None and len(known) != len(listed):  # (partners no longer listed were in it)
            known.clear()
            known.update((slug, (p, awards[slug], views[slug])) for slug, p in listed.items())
    if last is not None and changed is None:
        changed = [slug for slug in {**last.views, **views} if last.views.get(slug) is not views.get(slug)]
    if changed is not None and last.views.keys() == views.keys() and \
            all(name_key(last.partners[s]) == name_key(listed[s]) and
                last.views[s].level_rank == views[s].level_rank for s in changed):
        # The same partners, none of the changed ones with another name or status: the same
        # order (an unchanged view is the same partner's, see `known`), not sorted again.
        order = list(last.order)
    else:
        by_name = sorted(listed, key=lambda slug: view_name_key(views[slug]))
        order = sorted(by_name, key=lambda slug: -views[slug].level_rank)
    if delta and last.hq_countries and all(  # type: ignore[union-attr]
            last.partners[s].headquarters.country == listed[s].headquarters.country for s in changed):
        hq_countries = last.hq_countries
    else:
        hq_countries = frozenset(view.hq_country for view in views.values())
    matching = None
    if last is not None and last.counts is not None and changed is not None:
        counts = counts_changed(last.counts, [last.views[s].member for s in changed if s in last.views],
                                [views[s].member for s in changed if s in views])
    else:
        # Counted from the lists of who matches what, which the listing pages need anyway: a
        # second pass over every partner's memberships took 60 ms at 10,000.
        matching = _matching(order, views)
        counts = matching_counts(matching)
    facets = facet_values(rules, {}, extra_countries=hq_countries, counts=counts)  # (`counts` are theirs)
    if delta and all(last.partners[s].logo == listed[s].logo for s in changed):  # type: ignore[union-attr]
        logos = dict(last.logos)
    else:
        logos = {views[slug].logo: views[slug].logo for slug in listed if views[slug].logo}
    d = Directory(rules, as_of, listed, awards, views, order, facets, logos, counts,
                  last.summaries if last is not None else {}, last.encoded if last is not None else {},
                  hq_countries=hq_countries)
    if matching is not None:
        d.__dict__["matching"] = matching  # (the cached_property's value)
    elif last is not None and changed is not None and "matching" in last.__dict__ and last.order == order:
        d.__dict__["matching"] = _changed_from(last, views, changed)  # (the cached_property's value)
        # the lists of cards of values no changed partner is or was in: the same partners' same views
        touched = _touched(rules, [last.views.get(s) for s in changed] + [views.get(s) for s in changed])
        d.listed_views.update((made, cards) for made, cards in last.listed_views.items()
                              if made not in touched)
        _places_changed_from(d, last, changed, touched)
    return d


def _listed_edited(last: Directory | None, edited: list[Partner] | None, known: dict | None,
                   awards: dict[str, Award], rules: Rules) -> tuple[dict | None, dict | None]:
    """The listed partners and their views of a directory whose partners are `last`'s but the
    `edited` ones (see `directory`), if none of those joined or left the listing; else Nones."""
    if last is None or edited is None or known is None or \
            any((p.slug in last.partners) == awards[p.slug].removed for p in edited):
        return None, None
    listed = dict(last.partners)
    views = dict(last.views)
    for p in edited:
        if awards[p.slug].removed:
            continue
        slug = p.slug
        listed[slug] = p
        hit = known.get(slug)
        if hit is not None and hit[0] is p and hit[1] is awards[slug]:
            views[slug] = hit[2]
        else:
            views[slug] = view = partner_view(p, awards[slug], rules)
            known[slug] = (p, awards[slug], view)
    return listed, views


def _places_changed_from(d: Directory, last: Directory, changed: list[str],
                         touched: set[tuple[str, str]]) -> None:
    """The place pages' lists of partners headquartered in or serving a place that a changed
    partner is or was in (`touched`), from the last build's with the same order: the changed
    partners taken out and put back where they belong now, instead of every partner (or every
    partner serving a region) being asked again (`place_pages`)."""
    gone = set(changed)
    position: dict[str, int] | None = None
    for key in touched:
        kind, value = key
        belongs = _PLACE_LISTS.get(kind)
        cards = last.listed_views.get(key)
        if belongs is None or cards is None or (kind != "hq" and value not in d.rules.region_by_id):
            continue  # (made from every partner by `place_pages`)
        made = [view for view in cards if view.slug not in gone]
        for slug in changed:
            view = d.views.get(slug)
            if view is not None and belongs(d, value, view):
                if position is None:
                    position = {s: i for i, s in enumerate(d.order)}
                bisect.insort(made, view, key=lambda v: position[v.slug])  # type: ignore[index]
        d.listed_views[key] = made


def _touched(rules: Rules, views: list[PartnerView | None]) -> set[tuple[str, str]]:
    """The keys of `Directory.listed_views` whose lists hold any of `views`: the values they
    match, and the place pages' lists of partners headquartered in a country or region and
    serving a region (`place_pages`)."""
    touched = set()
    for view in views:
        if view is None:
            continue
        touched.update((key, value) for key, values in view.member.items() for value in values)
        touched.update(("serving-region", value) for value in view.member.get("region", ()))
        touched.add(("hq", view.hq_country))
        touched.update(("hq-region", r.id) for r in rules.regions if view.hq_country in r.countries)
    return touched


def _changed_from(last: Directory, views: dict[str, PartnerView], changed: list[str],
                  order: list[str] | None = None) -> dict:
    """`Directory.matching` of a directory with the same order as `last` whose `changed`
    partners' views differ: only the lists of the values they joined or left are made again.
    With `order`, the order now, in which the partners of another status or name than before
    moved (`relist`): they leave every list they were in and join every list they are in, in
    their new places."""
    matching = {key: dict(by_value) for key, by_value in last.matching.items()}
    position = None
    # Every partner leaves its lists before any joins them: a list still holding a moved
    # partner at its old place is out of order, and bisecting it put another in the wrong
    # place (found by hypothesis, two partners renamed at once).
    joins = []
    for slug in changed:
        old = last.views[slug].member if slug in last.views else {}
        new = views[slug].member if slug in views else {}
        moved = order is not None and bool(old) and bool(new) and (
            last.views[slug].level_rank != views[slug].level_rank
            or view_name_key(last.views[slug]) != view_name_key(views[slug]))
        for key in {*old, *new}:
            before, after = set(old.get(key, ())), set(new.get(key, ()))
            by_value = matching.setdefault(key, {})
            for value in before if moved else before - after:
                slugs = [s for s in by_value[value] if s != slug]
                if slugs:
                    by_value[value] = slugs
                else:
                    del by_value[value]
            joins += [(slug, by_value, value) for value in (after if moved else after - before)]
    for slug, by_value, value in joins:
        if position is None:
            position = {s: i for i, s in enumerate(order if order is not None else last.order)}
        slugs = list(by_value.get(value, ()))
        slugs.insert(bisect.bisect(slugs, position[slug], key=position.__getitem__), slug)
        by_value[value] = slugs
    return matching


# --------------------------------------------------------------------------------------------
# Pages


def directory_page(number: int) -> str:
    """The directory's page `number`: the home page first, then /page/N/."""
    return "index.html" if number == 1 else f"page/{number}/index.html"


def list_page(kind: str, value: str) -> str:
    """The page of a list of `Directory.listed_views`: a facet value's partners, or a place
    page's (headquartered in a country or region, serving a region)."""
    kind = {"hq": "country", "hq-region": "region", "serving-region": "region"}.get(kind, kind)
    if kind == "program":
        return f"programs/{value}/index.html"
    if kind == "status":
        return f"status/{value}/index.html"
    if kind == "region":
        return f"regions/{value}/index.html"
    return value_path(kind, value) + "index.html"


def directory_pages(d: Directory) -> Iterator[Page]:
    """The home page lists the first cards; /page/N/ the rest, for browsing without JavaScript."""
    total = len(d.order)
    pages = max(1, -(-total // PAGE_SIZE))
    # One list for every page, so the template renders its links once (see render.fragment).
    facets = [(f, [v for v in d.facets[f.key] if v.count or f.key in ("program", "status")]) for f in FACETS]
    page_paths = ["" if n == 1 else f"page/{n}/" for n in range(1, pages + 1)]
    level_names = {lv.id: lv.name for lv in d.rules.levels}
    for number in range(1, pages + 1):
        path = directory_page(number)
        if not d.wants(path):
            continue
        slugs = d.order[(number - 1) * PAGE_SIZE: number * PAGE_SIZE]
        context = {
            "cards": [d.views[s] for s in slugs],
            "total": total,
            "page_number": number,
            "page_count": pages,
            "first_index": (number - 1) * PAGE_SIZE + 1,
            "page_paths": page_paths,
            "level_names": level_names,
        }
        title = d.rules.site.title if number == 1 else f"{d.rules.site.title}, page {number}"
        if number == 1:
            # Only the first page lists every facet value with its count: it is where the
            # filters are. The later pages, for browsing without JavaScript, link to the pages
            # that list the values (with the same counts) instead of carrying 50 KB of links
            # each, which an edit changing one count would rewrite 400 times over.
            context["facets"] = facets
            yield Page(path, "directory.html", context, title, d.rules.site.description,
                       fragment_only=("facets",))
        else:
            context["browse"] = FACETS
            yield Page(path, "directory.html", context, title, d.rules.site.description)


def partner_pages(d: Directory) -> Iterator[Page]:
    for slug in d.order:
        if d.wants(partner_path(slug)):
            yield partner_page(d, slug)


def partner_path(slug: str) -> str:
    return f"partners/{slug}/index.html"


def whole(value: Any) -> Any:
    """A partner or award read from the cache (`cache.StoredPartner`, `cache.StoredAward`) as
    the object it decodes to, anything else as it is: a partner's page and open data entries
    read a hundred of its fields, each of which a stored one answers through a call."""
    unwrap = getattr(type(value), "whole", None)
    return unwrap(value) if unwrap is not None else value


def partner_page(d: Directory, slug: str, root: str) -> Page:
    """One partner's page: it depends on that partner alone, so builds render them in parallel.
    `root` is the site's root path, which its links start with."""
    partner = whole(d.partners[slug])
    context = partner_context(partner, whole(d.awards[slug]), d.views[slug], d.rules, d.as_of, root)
    return Page(partner_path(slug), "partner.html", context, partner.name, context["summary"])


class _Links(dict):
    """Key -> `<a href="{root}{folder}/{path}/">{name}</a>`, each made once for a build.

    A partner page links each region, country, expertise, industry and language it names; made
    by the template, those links were a third of its expressions (each an escape and a yield),
    and they are the same on every page that names the same place or topic.
    """

    def __init__(self, prefix: str, path: Callable[[str], str], name: Callable[[str], str]) -> None:
        super().__init__()
        self.prefix = prefix
        self.path = path
        self.name = name

    def __missing__(self, key: str) -> Markup:
        link = self[key] = _LINK.format(self.prefix, self.path(key), self.name(key))
        return link


_LINK = Markup('<a href="{}{}/">{}</a>')  # (format escapes what it is given)
_LINKS: dict[tuple[int, str], tuple[Rules, dict[str, _Links]]] = {}


def _links(rules: Rules, root: str) -> dict[str, _Links]:
    """The link tables of one set of rules under one root path (see `_Links`)."""
    kept = _LINKS.get((id(rules), root))
    if kept is not None and kept[0] is rules:
        return kept[1]

    def names(items: dict) -> Callable[[str], str]:
        return lambda key: items[key].name

    tables = {
        "regions": _Links(root + "regions/", str, names(rules.region_by_id)),
        "countries": _Links(root + "countries/", str.lower, country_name),
        "expertise": _Links(root + "expertise/", str, names(rules.expertise_by_id)),
        "industries": _Links(root + "industries/", str, names(rules.industry_by_id)),
        "languages": _Links(root + "languages/", str.lower, language_name),
    }
    if len(_LINKS) > 16:
        _LINKS.clear()
    _LINKS[(id(rules), root)] = (rules, tables)
    return tables


def _link_list(links: _Links, keys: list[str], known: dict | None = None) -> Markup:
    """The links of `keys` (those in `known`, if given), comma-separated."""
    return Markup(", ".join([links[k] for k in keys if known is None or k in known]))


def partner_context(partner: Partner, award: Award, view: PartnerView, rules: Rules,
                    as_of: dt.date, root: str) -> dict:
    programs = rules.program_by_id
    listed = [programs[p] for p in partner.programs if p in programs]
    member = rules.implied_programs(partner.programs)
    implied = []
    for pid in member:
        if pid in partner.programs:
            continue
        via = [programs[p].name for p in partner.programs if p in programs and pid in programs[p].implies]
        implied.append({"program": programs[pid], "via": via})
    explained = describe(award, rules)
    links = _links(rules, root)
    return {
        "partner": partner,
        "view": view,
        "award": award,
        "status": explained,
        "status_level": rules.level_by_id[award.level],
        "next_level": rules.level_by_id[award.next_level] if award.next_level else None,
        "has_level": award.level != rules.levels[0].id,  # (not provisional)
        "summary": plain_text(partner.description),
        "description_html": render_markdown(partner.description),
        "programs": listed,
        "implied": implied,
        # Links to the pages of the places and topics named, comma-separated (see `_Links`).
        "regions_served": _link_list(links["regions"], partner.regions_served, rules.region_by_id),
        "countries_served": _link_list(links["countries"], partner.countries_served),
        "expertise": _link_list(links["expertise"], partner.expertise, rules.expertise_by_id),
        "industries": _link_list(links["industries"], partner.industries, rules.industry_by_id),
        "languages": _link_list(links["languages"], partner.languages),
        "joined": partner.joined.isoformat(),
        **evidence_summary(partner, rules, as_of),
    }


def evidence_summary(partner: Partner, rules: Rules, as_of: dt.date) -> dict:
    """Certifications per product and a projects summary, from the same evidence rules as the award.

    Rows are tuples and lists joined here, in the order the page shows them, so the template
    does one expression per value and no lookups or filters.
    """
    cert_counts, project_counts = evidence_counts(partner, rules, as_of)
    per_product: dict[str, tuple[list[int], set[str]]] = {}
    certification_by_id = rules.certification_by_id
    for i, c in enumerate(partner.certifications):
        cert = certification_by_id.get(c.certification)
        if cert is None:
            continue
        row = per_product.get(cert.product)
        if row is None:
            row = per_product[cert.product] = ([0], set())
        if cert_counts[i]:
            row[0][0] += 1
            row[1].add(c.holder)
    # (product name, current certifications, certified engineers)
    certifications = [(prod.name, per_product[prod.id][0][0], len(per_product[prod.id][1]))
                      for prod in rules.products if prod.id in per_product]

    projects = partner.projects
    by_product = Counter(prod for i, p in enumerate(projects) if project_counts[i] for prod in p.products)
    recent = sorted(range(len(projects)), key=lambda i: (projects[i].completed, i), reverse=True)[:6]
    product_by_id = rules.product_by_id
    return {"certifications": certifications, "projects": {
        "total": len(projects),
        "counted": sum(project_counts),
        "successful": sum(1 for p in projects if p.outcome == "successful"),
        "by_product": ", ".join(f"{product_by_id[pid].name} {by_product[pid]}" for pid in product_by_id
                                if by_product[pid]),
        "countries": ", ".join(sorted({country_name(p.country) for p in projects}, key=str.casefold)),
        # (title, completed, country, products, counts, why not)
        "recent": [
            (projects[i].title, projects[i].completed.isoformat(), country_name(projects[i].country),
             ", ".join([product_by_id[x].name for x in projects[i].products if x in product_by_id]),
             line.counts, line.note)
            for i, line in zip(recent, project_evidence(partner, recent, rules, as_of, project_counts),
                               strict=True)
        ],
    }}


def criteria(rules: Rules, program_id: str, level_id: str) -> str:
    """A level's minimums under one program in plain words: 'at least 8 certified engineers and ...'."""
    level = rules.level_by_id[level_id]
    program = rules.program_by_id[program_id]
    parts = [quantity(rules, m, level.minimums[m]) for m in program.counts if m in level.minimums]
    if not parts:
        return ""
    joined = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"at least {joined}"


def program_pages(d: Directory) -> Iterator[Page]:
    rules = d.rules
    counts = {v.id: v.count for v in d.facets["program"]}
    levels = _level_counts(d)
    overview = {
        "programs": [{"program": p, "count": counts.get(p.id, 0),
                      "implies": [rules.program_by_id[i] for i in p.implies],
                      "counts": [rules.metrics[m] for m in p.counts]} for p in rules.programs],
        "levels": [{"level": lv, "count": levels.get(lv.id, 0),
                    "criteria": [(p, criteria(rules, p.id, lv.id)) for p in rules.programs]
                    if lv.minimums else []} for lv in rules.levels],
        "metrics": [(m, rules.metrics[m]) for m in rules.metrics],
        "retired": [{"program": r, "successor": rules.program_by_id[r.successor]}
                    for r in rules.retired_programs],
        "products": [{"product": prod, "certifications": [c for c in rules.certifications
                                                          if c.product == prod.id]}
                     for prod in rules.products],
    }
    if d.wants("programs/index.html"):
        yield Page("programs/index.html", "programs.html", overview, "Programs and status levels",
                   f"The {rules.site.vendor} partner programs, their status levels and how to earn them.")
    for p in rules.programs:
        if not d.wants(list_page("program", p.id)):
            continue
        context = {
            "program": p,
            "implies": [rules.program_by_id[i] for i in p.implies],
            "implied_by": [q for q in rules.programs if p.id in q.implies],
            "metrics": [(m, rules.metrics[m]) for m in p.counts],
            "levels": [(lv, criteria(rules, p.id, lv.id)) for lv in rules.levels if lv.minimums],
            "cards": d.matching_views("program", p.id),
            "retired": [r for r in rules.retired_programs if r.successor == p.id],
        }
        yield Page(list_page("program", p.id), "program.html", context, p.name, p.summary)
    for r in rules.retired_programs:
        if not d.wants(f"programs/{r.id}/index.html"):
            continue
        context = {"retired": r, "successor": rules.program_by_id[r.successor]}
        yield Page(f"programs/{r.id}/index.html", "retired.html", context, f"{r.name} (retired)",
                   f"The {r.name} program was retired in {r.retired}.")


def _level_counts(d: Directory) -> dict[str, int]:
    """How many listed partners hold each status level: the status facet's counts (a partner's
    status membership is its level), not 10,000 views looked through for each level."""
    if "status" in d.facets:
        return {v.id: v.count for v in d.facets["status"]}
    return Counter(v.level for v in d.views.values())


def status_pages(d: Directory) -> Iterator[Page]:
    rules = d.rules
    values = d.facets["status"]
    if d.wants("status/index.html"):
        yield Page("status/index.html", "browse.html",
                   {"facet": FACET_BY_KEY["status"], "groups": [("", values)]},
                   "Status levels", "Partners by status level.")
    for v in values:
        if not d.wants(list_page("status", v.id)):
            continue
        level = rules.level_by_id[v.id]
        context = {
            "level": level,
            "criteria": ([(p, criteria(rules, p.id, level.id)) for p in rules.programs]
                         if level.minimums else []),
            "cards": d.matching_views("status", level.id),
            "higher": [lv for lv in rules.levels if rules.level_rank[lv.id] > rules.level_rank[level.id]],
        }
        yield Page(list_page("status", level.id), "status.html", context, f"{level.name} partners",
                   f"Partners holding {level.name} status, and what it takes to earn it.")


def place_pages(d: Directory) -> Iterator[Page]:
    """Regions and countries: partners headquartered there and partners serving it, apart."""
    rules = d.rules
    region_values = d.facets["region"]
    country_values = d.facets["country"]
    by_region: dict[str, list[FacetValue]] = defaultdict(list)
    for v in country_values:
        by_region[rules.region_of_country.get(v.id, "")].append(v)
    hq: dict[str, list[str]] = {}

    def headquartered(code: str) -> list[PartnerView]:
        if not hq:  # (made only when a list is not kept from the last build's directory)
            for slug in d.order:
                hq.setdefault(d.views[slug].hq_country, []).append(slug)
        return [d.views[s] for s in hq.get(code, [])]

    region_names = {r.id: r.name for r in rules.regions}
    # One dict for every place page (its templates only read it): signed once, not 215 times,
    # by a rebuild that keeps its listing pages (render.KeptPages).
    region_paths = {r.id: value_path("region", r.id) for r in region_values}

    if d.wants("regions/index.html"):
        yield Page("regions/index.html", "browse.html",
                   {"facet": FACET_BY_KEY["region"], "groups": [("", region_values)]},
                   "Regions", "Partners by region.")
    if d.wants("countries/index.html"):
        yield Page("countries/index.html", "browse.html",
                   {"facet": FACET_BY_KEY["country"],
                    "groups": [(region_names.get(r.id, ""), by_region[r.id]) for r in rules.regions
                               if by_region.get(r.id)]},
                   "Countries", "Partners by country.")

    for v in region_values:
        if not d.wants(list_page("region", v.id)):
            continue
        region = rules.region_by_id[v.id]
        countries = set(region.countries)
        context = {
            "kind": "region",
            "region": region,
            "name": region.name,
            "hq": _kept(d, ("hq-region", v.id),
                        lambda c=countries: [d.views[s] for s in d.order if d.views[s].hq_country in c]),
            "serving": _kept(d, ("serving-region", v.id), lambda r=region.id, c=countries: [
                view for view in d.matching_views("region", r) if _serves_region(view, r, c)]),
            "countries": by_region.get(region.id, []),
            "neighbours": [rules.region_by_id[n] for n in region.neighbours if n in rules.region_by_id],
            "region_paths": region_paths,
        }
        yield Page(list_page("region", region.id), "place.html", context, f"Partners in {region.name}",
                   f"Partners headquartered in or serving {region.name}.")
    for v in country_values:
        if not d.wants(list_page("country", v.id)):
            continue
        region_id = rules.region_of_country.get(v.id)
        context = {
            "kind": "country",
            "code": v.id,
            "name": v.name,
            "region": rules.region_by_id.get(region_id) if region_id else None,
            "hq": _kept(d, ("hq", v.id), lambda code=v.id: headquartered(code)),
            "serving": d.matching_views("country", v.id),
            "region_paths": region_paths,
            "recommended": country_recommendations(d, v.id),
        }
        yield Page(list_page("country", v.id), "place.html", context,
                   f"Partners in {v.name}", f"Partners headquartered in or serving {v.name}.")


# Whether a partner is in a place page's list (`place_pages`, kept in `Directory.listed_views`
# under (kind, value)): headquartered in a country or region, serving a region.
_PLACE_LISTS: dict[str, Callable[[Directory, str, PartnerView], bool]] = {
    "hq": lambda d, code, view: view.hq_country == code,
    "hq-region": lambda d, region, view: view.hq_country in d.rules.region_by_id[region].countries,
    "serving-region": lambda d, region, view: region in view.member.get("region", ()) and _serves_region(
        view, region, set(d.rules.region_by_id[region].countries)),
}


def _kept(d: Directory, key: tuple[str, str], make: Callable[[], list[PartnerView]]) -> list[PartnerView]:
    """A list of cards of a place page, made once and kept like `Directory.matching_views`'s."""
    made = d.listed_views.get(key)
    if made is None:
        made = d.listed_views[key] = make()
    return made


def _serves_region(view: PartnerView, region_id: str, countries: set[str]) -> bool:
    """(From the card's view, which a partner read from the cache has made: asking the partner
    decoded its fields, 0.08 s for a rebuild of 10,000 partners in a new process.)"""
    return region_id in view.regions_served or any(c in countries for c in view.countries_served)


def topic_pages(d: Directory) -> Iterator[Page]:
    """Expertise, industries and languages: one page per value, and an index of them."""
    names = {"expertise": "Expertise", "industry": "Industries", "language": "Languages"}
    for key in ("expertise", "industry", "language"):
        facet = FACET_BY_KEY[key]
        values = d.facets[key]
        if d.wants(f"{facet.folder}/index.html"):
            yield Page(f"{facet.folder}/index.html", "browse.html",
                       {"facet": facet, "groups": [("", values)]}, names[key],
                       f"Partners by {facet.label.lower()}.")
        for v in values:
            if not d.wants(list_page(key, v.id)):
                continue
            context = {"facet": facet, "value": v, "index_title": names[key],
                       "cards": d.matching_views(key, v.id)}
            yield Page(list_page(key, v.id), "topic.html", context, f"{v.name} partners",
                       f"Partners with {facet.label.lower()} {v.name}.")


def recommend_page(d: Directory) -> Iterator[Page]:
    if d.wants("recommend/index.html"):
        yield Page("recommend/index.html", "recommend.html", page_context(d), "Find a partner",
                   "The right partners for your project's location and needs, ranked, with the reasons.")


def not_found_page(d: Directory) -> Iterator[Page]:
    if d.wants("404.html"):
        yield Page("404.html", "404.html", {}, "Page not found", in_sitemap=False)


# The page makers, in the order their pages are listed in the sitemap. A new page type adds
# its function here.
PAGE_MAKERS: list[Callable[[Directory], Iterator[Page]]] = [
    directory_pages,
    partner_pages,
    program_pages,
    status_pages,
    place_pages,
    topic_pages,
    recommend_page,
    not_found_page,
]
