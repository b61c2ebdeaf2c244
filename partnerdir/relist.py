"""A new process's rebuild of an edit to what listings show, from what the last build kept of
its listings and the changed records alone.

`snapshot` lets a new process rebuild an edit that changes only a partner's own page and open
data entries. An edit to what listings show (a country served added, a card's city, an
expertise) went the ordinary way: every partner read back from the cache, the directory and
every listing page's signature made again, 1.6 s at 10,000 partners, where `serve`, which
keeps all that in memory, takes 0.4 s. `save` keeps, with each build the snapshot describes,
what its listings were made of:

* the order, and each listed partner's card view (marshalled apart: 0.6 KB, where its cache
  entry head holds 2 KB), decoded only for the partners on the pages made again that ask
  more of it than its slug;
* each facet value's partners (`Directory.matching`) and the place pages' lists of partners
  headquartered in a country or a region, or serving a region (`pages.place_pages`);
* each country page's recommendations, and what their ranking was made from (its order,
  lists and candidates: `recommend.kept_ranking`).

`rebuild` takes the changed partners out of those lists and puts them back where they belong
now, as `serve`'s rebuild does (`pages._changed_from`); makes only the pages a changed partner
joins or leaves, those that show its card or table row if that changed (or may show more of
it: a page the last build did not keep in pieces), and those that show a count or a
recommendation that changed (the page makers restricted by `Directory.wanted`), against the
last build's kept pages like any rebuild (`render.KeptPages`); puts the changed partners'
entries in directory.json and recommend.json in place of their old ones; and ranks again the
countries whose candidates a changed partner is or was among, taking up the last build's
ranking (`recommend.Resumed`) and reading from recommend.json only the summaries that needs.
At 10,000 partners a country served added takes 0.48 s in the build (two pages made) instead
of 1.72 s.

It answers for changed partners that stay listed, for new partners (listed, or listed again
as the January review no longer removes them) and for listed partners whose records were
deleted or whom the review now removes (the site's logo files go in and out with them:
`snapshot.logo_files`), none of them making a facet value appear or disappear (its page
would appear or go) or changing which regions anybody serves (directory.json's head names
their countries). A partner of another status or name moves in the order, its lists and the
sitemap, and every directory page between its old and new places is made (0.85-0.95 s at
10,000 partners instead of 2.2 s); a new name also moves its entries in directory.json and
recommend.json, and the kept ranking's places with them (0.6 s instead of 2 s). A new
partner is put in its places in all of those (its entries between the others', the kept
ranking's places after it moved up by one), a deleted one taken out of them, and every
directory page is made, as each says how many partners are listed (0.8-1.0 s instead of
1.2-2.3 s); a directory page added or taken away with them gets or loses its line in the
sitemap. For anything else, or anything unexpected, None, and the ordinary rebuild runs,
which is always right.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import json
import marshal
import secrets
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

FORMAT = 4  # (2: card views apart, not cache entry heads; 3: the countries' ranking kept;
# 4: how many partners serve each region)
LISTING_FILES = ("directory.json", "recommend.json")


def _path(store, out: Path) -> Path:
    name = hashlib.sha256(str(out.resolve()).encode()).hexdigest()[:16]
    return store.render_folder / f"relist-{name}.bin"


def save(memo, d, out: Path, name: str) -> bool:
    """Keep what the listings of the build of `d` were made of, under `name` (which its
    snapshot will give), when this process has all of it: the kept pages and the
    recommendations, made here (not only in a worker)."""
    from . import recommend
    from .pages import PartnerView, _serves_region
    from .plain_data import codec
    from .record_cache import write

    store = memo.store
    made = recommend.made_for(d)
    if store is None or memo.kept_pages is None or made is None:
        return False
    views = d.views
    encode, dumps = codec(PartnerView)[0], marshal.dumps
    view_data = {slug: dumps(encode(views[slug])) for slug in d.order}
    places: dict[tuple[str, str], list[str]] = {("hq-region", region.id): [] for region in d.rules.regions}
    regions_of: dict[str, list[tuple[str, str]]] = {}
    for region in d.rules.regions:
        for code in set(region.countries):
            regions_of.setdefault(code, []).append(("hq-region", region.id))
    for slug in d.order:
        hq = views[slug].hq_country
        places.setdefault(("hq", hq), []).append(slug)
        for key in regions_of.get(hq, ()):
            places[key].append(slug)
    for region in d.rules.regions:
        countries = set(region.countries)
        places[("serving-region", region.id)] = [
            slug for slug in d.matching.get("region", {}).get(region.id, ())
            if _serves_region(views[slug], region.id, countries)]
    served = Counter(region for slug in d.order for region in views[slug].regions_served)
    state = {"id": name, "order": list(d.order), "views": view_data, "matching": d.matching,
             "places": places, "by_country": made[1], "ranking": recommend.kept_ranking(made[1]),
             "served_regions": dict(served)}
    return write(_path(store, out), store.render_key, (FORMAT, state))


def load(store, out: Path, snap: dict) -> dict | None:
    """The listing state the snapshot `snap` names, if it is on disk whole."""
    from .record_cache import read

    wanted = snap.get("listing")
    if store is None or not wanted:
        return None
    data = read(_path(store, out), store.render_key)
    if not (isinstance(data, tuple) and len(data) == 2 and data[0] == FORMAT and isinstance(data[1], dict)):
        return None
    state = data[1]
    return state if state.get("id") == wanted else None


class _Views(dict):
    """The listed partners' card views by slug: the changed partners' as made, the others'
    knowing their slug alone until a page asks more of them (`pages.lazy_view`), decoded then:
    a page made again may list 1,600 partners, whose table rows the last build kept. A dict
    whose views are made as first asked for (`__missing__`): after a new status the pages made
    again ask for 270,000 views of 9,400 partners at 10,000, each then a lookup in C."""

    def __init__(self, data: dict[str, bytes], decode, known: dict) -> None:
        from .pages import lazy_view

        super().__init__(known)
        self._data = data
        self._decode = decode
        self._lazy = lazy_view

    def __missing__(self, slug: str):
        data, decode = self._data[slug], self._decode
        made = self[slug] = self._lazy(slug, lambda: decode(marshal.loads(data)))
        return made

    def get(self, slug: str, default=None):  # type: ignore[override]
        return self[slug] if slug in self._data else default

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, slug: object) -> bool:
        return slug in self._data

    def keys(self):  # type: ignore[override]
        return self._data.keys()

    def values(self):  # type: ignore[override]
        return [self[slug] for slug in self._data]

    def items(self):  # type: ignore[override]
        return [(slug, self[slug]) for slug in self._data]


class _Summaries(Sequence):
    """recommend.json's partners (the listed partners' summaries, in name order), each decoded
    from the last build's file when first asked for, the changed ones as made now (`made`):
    ranking the countries again reads a few hundred of 10,000 (the whole file took 0.05 s)."""

    def __init__(self, blob: bytes, rows: list, made: dict[int, dict]) -> None:
        self._blob = blob
        self._rows = rows
        self._made = made

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self._rows)))]
        if i < 0:
            i += len(self._rows)
        found = self._made.get(i)
        if found is None:
            _, _, start, length = self._rows[i]
            found = self._made[i] = json.loads(self._blob[start:start + length])
        return found


@dataclass
class _Collected:
    """What the renderer puts (`render.relisted`): path -> (bytes or a function that makes them,
    hash), against the last build's files (`previous`)."""

    previous: dict[str, str]
    files: dict[str, tuple[Any, str]] = field(default_factory=dict)

    def put(self, path: str, data: Any, digest: str | None = None) -> tuple[str, bool]:
        from .write import content_hash

        if callable(data) and (digest is None or self.previous.get(path) != digest):
            data = data()  # (made now, before anything is written, as any mistake in it stops the build)
        if digest is None:
            digest = content_hash(data)
        self.files[path] = (data, digest)
        return digest, self.previous.get(path) != digest


@dataclass
class Relisted:
    """`rebuild`'s answer: the listing files to put in the site (path -> (bytes or a function
    that makes them, hash)), and what to keep for the next build once they are in."""

    files: dict[str, tuple[Any, str]]
    state: dict
    layouts: dict
    removed: list[str] = field(default_factory=list)  # pages the site no longer has (deleted partners')


def rebuild(paths, out: Path, rules, as_of: dt.date, site, snap: dict, store, made: list,
            keys: dict[str, str], manifest: dict[str, str], search: bool,
            deleted: Sequence[str] = ()) -> Relisted | None:
    """The listing pages, directory.json and recommend.json after the edits `made` ([(file,
    partner, award, cache entry)], `keys`: each file's new content key) and the listed partners
    `deleted` (by slug), or None when this
    rebuild cannot make them (see the module's docstring)."""
    from . import cache, recommend
    from .export import _directory_row, _indexes, compact, compact_with_list
    from .facets import FACET_BY_KEY, facet_values
    from .pages import (
        _PLACE_LISTS,
        PAGE_SIZE,
        Directory,
        PartnerView,
        _changed_from,
        _touched,
        directory_page,
        list_page,
        matching_counts,
        name_order,
        partner_path,
        view_name_key,
    )
    from .plain_data import codec
    from .record_cache import read
    from .render import Relisting

    state = load(store, out, snap)
    if state is None:
        return None
    order, view_data = state["order"], state["views"]
    decode_view = codec(PartnerView)[1]
    changed: list[str] = []
    old_views: dict[str, Any] = {}
    new_views: dict[str, Any] = {}
    summaries: dict[str, dict] = {}
    entries: dict[str, tuple] = {}
    added: list[str] = []  # (partners new in the listing: `pipeline._check_changed` made sure)
    for name, partner, granted, entry in made:
        slug = partner.slug
        if granted.removed:
            return None
        new = marshal.loads(entry[2])  # (the cache entry's head: its card's view, its summary)
        if new[3] is None or new[5] is None:
            return None
        after = decode_view(new[3])
        if slug in view_data:
            before = old_views[slug] = decode_view(marshal.loads(view_data[slug]))
        else:
            before = None
            added.append(slug)
        changed.append(slug)
        new_views[slug], summaries[slug] = after, new[5]
        entries[slug] = (partner, after, entry, keys[name])
    deleted = list(deleted)
    if any(slug not in view_data or slug in new_views for slug in deleted):
        return None
    for slug in deleted:
        old_views[slug] = decode_view(marshal.loads(view_data[slug]))
    # (the listed partners now, their views as the state keeps them: `_Views` answers for these,
    # the changed ones as made)
    listed_now = {**{slug: data for slug, data in view_data.items() if slug not in deleted},
                  **{slug: marshal.dumps(marshal.loads(entry[2])[3])
                     for slug, (_, _, entry, _) in entries.items()}}
    views = _Views(listed_now, decode_view, new_views)
    # A partner of another status or name moves in the order (by status, then name), and in
    # every list, as the directory's pages between its old and new places shift by one card.
    renamed = [slug for slug in changed if slug in old_views and old_views[slug].name != new_views[slug].name]
    moved = [slug for slug in changed if slug not in old_views
             or old_views[slug].level_rank != new_views[slug].level_rank
             or view_name_key(old_views[slug]) != view_name_key(new_views[slug])]
    before_order = order
    if moved or deleted:
        staying = set(order) - set(moved) - set(deleted)
        order = [slug for slug in order if slug in staying]

        def key(slug: str) -> tuple:
            view = views[slug]
            return -view.level_rank, view_name_key(view)

        for slug in moved:
            order.insert(bisect.bisect(order, key(slug), key=key), slug)

    # The facet values' lists and counts, as `pages.directory` makes them from the last directory.
    last = SimpleNamespace(matching=state["matching"], views=old_views, order=before_order)
    matching = _changed_from(last, new_views, changed + deleted, order if moved or deleted else None)
    counts, old_counts = matching_counts(matching), matching_counts(state["matching"])
    position = {slug: i for i, slug in enumerate(order)}

    # The place pages' lists that a changed partner is or was in, made again (`_places_changed_from`):
    # a country's list of partners headquartered there is kept only while it lists anybody.
    places = state["places"]
    touched = _touched(rules, [*old_views.values(), *new_views.values()])
    gone = {*changed, *deleted}
    new_places = dict(places)
    ruled = SimpleNamespace(rules=rules)  # (what the lists' tests ask of the directory)
    for key in touched:
        kind, value = key
        belongs = _PLACE_LISTS.get(kind)
        if belongs is None or (kind != "hq" and value not in rules.region_by_id):
            continue
        slugs = [s for s in places.get(key, ()) if s not in gone]
        for slug in changed:
            if belongs(ruled, value, new_views[slug]):  # type: ignore[arg-type]
                slugs.insert(bisect.bisect(slugs, position[slug], key=position.__getitem__), slug)
        if slugs or kind != "hq":
            new_places[key] = slugs
        else:
            new_places.pop(key, None)
    hq_before = frozenset(code for kind, code in places if kind == "hq")
    hq_countries = frozenset(code for kind, code in new_places if kind == "hq")
    facets = facet_values(rules, {}, extra_countries=hq_countries, counts=counts)
    before_facets = facet_values(rules, {}, extra_countries=hq_before, counts=old_counts)
    if any([v.id for v in facets[key]] != [v.id for v in before_facets[key]] for key in facets):
        return None  # a value's page appears or goes, and directory.json's tables change
    # The regions anybody serves name their countries in directory.json's head, which stays.
    served_before = state["served_regions"]
    served = Counter(served_before)
    for slug in [*changed, *deleted]:
        if slug in old_views:
            served.subtract(old_views[slug].regions_served)
        if slug in new_views:
            served.update(new_views[slug].regions_served)
    served = Counter({region: n for region, n in served.items() if n > 0})
    if served.keys() != served_before.keys():
        return None
    d = Directory(rules, as_of, {}, {}, views, order, facets, {}, counts, hq_countries=hq_countries)  # type: ignore[arg-type]
    d.__dict__["matching"] = matching

    # recommend.json's summaries, the changed partners' in their places (which a new name
    # moves), and the countries' recommendations ranked again where they can change.
    layouts = read(store.render_folder / cache.EXPORTS_LAYOUT, store.render_key)
    files = {name: _pieces(out, name, layouts, manifest.get(name)) for name in LISTING_FILES}
    if not isinstance(layouts, dict) or any(pieces is None for pieces in files.values()):
        return None
    blob, head_before, rows = files["recommend.json"]
    if any(row[0] not in view_data for row in rows) or len(rows) != len(view_data):
        return None  # (not the listed partners of the state)
    texts: dict[str, str] = {slug: compact(summaries[slug]) for slug in changed}  # (their entries below)
    slugs_before = [row[0] for row in rows]
    if renamed or added or deleted:  # (in both listing files, entries are in name order: those renamed move)
        # (an added partner's entry, made below, goes where its name sorts; a deleted one's goes)
        new_rows = [(slug, entries[slug][3], 0, 0) for slug in added]
        rows = _in_name_order([row for row in rows if row[0] not in deleted] + new_rows, renamed + added,
                              lambda slug: summaries[slug]["name"],
                              lambda row: json.loads(blob[row[2]:row[2] + row[3]])["name"],
                              recommend.summary_order)
        directory_rows = [row for row in files["directory.json"][2] if row[0] not in deleted]
        files["directory.json"] = (*files["directory.json"][:2], _in_name_order(
            directory_rows + new_rows, renamed + added, lambda slug: new_views[slug].name,
            lambda row: views[row[0]].name, name_order))
        files["recommend.json"] = (blob, head_before, rows)
    place_of = {row[0]: i for i, row in enumerate(rows)}
    made_summaries: dict[int, dict] = {}
    listed = _Summaries(blob, rows, made_summaries)
    last_summaries: dict[int, dict] = {}
    for slug in changed:
        i = place_of[slug]
        if slug not in added:
            last_summaries[i] = listed[i]  # (its entry in the last build's file)
        made_summaries[i] = json.loads(texts[slug])
    # The languages anybody listed speaks: the language pages', which stay the same (above).
    languages = sorted(v.id.lower() for v in facets["language"])
    if sorted(json.loads(head_before + b"]}").get("languages", ())) != languages:
        return None
    data = recommend._data(rules, as_of, [], {}, [], listed, None, languages, None)
    countries = [v.id for v in facets["country"]]
    before_country = state["by_country"]
    kept_ranking = state.get("ranking")
    if kept_ranking is not None and (renamed or added or deleted):  # (its places are recommend.json's)
        kept_ranking = _ranking_moved(kept_ranking, [place_of.get(slug) for slug in slugs_before], len(rows))
    new_places_of = frozenset(place_of[slug] for slug in added)
    # (the countries that recommended a deleted partner are ranked again, not taken as they were)
    last_out = {code: found for code, found in before_country.items()
                if not any(r["slug"] in deleted for r in found)} if deleted else before_country
    resumed = recommend.Resumed(kept_ranking, last_out, sorted([*last_summaries, *new_places_of]),
                                last_summaries, new_places_of) if kept_ranking is not None else None
    by_country = recommend.for_countries(data, countries, rules.recommend.country_page, resumed)
    recommend.use_for(d, data, by_country)

    # The pages to make: those a changed partner joins or leaves a list of, and those listing it
    # if its card or table row changed, or if they were not kept in pieces (their template may
    # show more of it); those that show a count that changed; the countries whose
    # recommendations changed or show a changed partner.
    kept = cache.kept_pages_from(store)
    kept.tokens = {slug: known[1] for slug, known in snap["partners"].items() if not known[3]}
    kept.tokens.update((slug, entry[1]) for slug, (_, _, entry, _) in entries.items())
    collected = _Collected(manifest)
    relisting = Relisting(d, paths.templates, paths.static, site, search, collected, kept)

    def shows_changed(path: str, cards_alike: bool, rows_alike: bool) -> bool:
        """Whether a page listing a partner may show it otherwise now: unless the last build
        kept it in pieces (its lists of partners shown by `card_lines` and `row_lines` alone),
        as it is in the site, and the partner's card or row, whichever it shows, is the same."""
        entry = kept.pages.get(path)
        if entry is None or entry[2] is None or manifest.get(path) != entry[1]:
            return True
        kinds = {call[0] for call in entry[3]}
        return (not cards_alike and "cards" in kinds) or (not rows_alike and "rows" in kinds)

    wanted = set()
    old_position = {slug: i for i, slug in enumerate(before_order)} if moved else position
    counts_of_pages = (_page_count(before_order), _page_count(order))
    if len(order) != len(before_order):  # every directory page shows how many partners are listed
        wanted.update(map(directory_page, range(1, counts_of_pages[1] + 1)))
    for slug in deleted:  # (every list it was in)
        wanted.update(list_page(kind, value) for kind, value in _touched(rules, [old_views[slug]]))
    for slug in changed:
        before, after = old_views.get(slug), new_views[slug]
        alike = relisting.alike(before, after) if before is not None else (False, False)
        page = directory_page(position[slug] // PAGE_SIZE + 1)
        if shows_changed(page, *alike):
            wanted.add(page)
        if before is not None:
            first, last_at = sorted((old_position[slug], position[slug]))
            if first != last_at:  # (every page between its old place and its new one)
                wanted.update(map(directory_page, range(first // PAGE_SIZE + 1, last_at // PAGE_SIZE + 2)))
        for kind, value in _touched(rules, [before, after] if before is not None else [after]):
            belongs = _PLACE_LISTS.get(kind)
            if before is None:
                was, now = False, belongs(d, value, after) if belongs is not None else \
                    value in after.member.get(kind, ())
            elif belongs is not None:
                was, now = belongs(d, value, before), belongs(d, value, after)
            else:
                was, now = value in before.member.get(kind, ()), value in after.member.get(kind, ())
            page = list_page(kind, value)
            if was != now or (was and slug in moved) or shows_changed(page, *alike):
                wanted.add(page)
    counted = {(key, value) for key in {*counts, *old_counts}
               for value in {*counts.get(key, ()), *old_counts.get(key, ())}
               if counts.get(key, Counter())[value] != old_counts.get(key, Counter())[value]}
    if counted:
        wanted.update(["index.html", "programs/index.html", "status/index.html", "regions/index.html",
                       "countries/index.html", "recommend/index.html"])
        wanted.update(f"{FACET_BY_KEY[key].folder}/index.html"
                      for key in ("expertise", "industry", "language"))
        wanted.update(list_page("region", region.id) for region in rules.regions
                      if any(("country", code) in counted for code in region.countries))
    for code in {*by_country, *before_country}:
        now, then = by_country.get(code, []), before_country.get(code, [])
        if (now is not then and now != then) or any(r["slug"] in gone for r in [*now, *then]):
            wanted.add(list_page("country", code))
    d.wanted = frozenset(wanted)
    if moved or deleted:  # (the directory's pages made again show the cards of the partners between)
        pages = [number for number in range(1, len(order) // PAGE_SIZE + 2)
                 if directory_page(number) in wanted]
        showing = {slug for number in pages for slug in order[(number - 1) * PAGE_SIZE:number * PAGE_SIZE]}
        relisting.renderer.reused.update(_cards_kept(store, snap, showing - gone))
    for key, slugs in new_places.items():  # (the lists of the place pages made: never from every partner)
        if list_page(*key) in wanted:
            d.listed_views[key] = [views[s] for s in slugs]
    for v in facets["country"]:
        if list_page("country", v.id) in wanted:
            d.listed_views.setdefault(("hq", v.id), [])
    for region in rules.regions:
        if list_page("region", region.id) in wanted:
            for kind in ("hq-region", "serving-region"):
                d.listed_views.setdefault((kind, region.id), [])
    relisting.put()

    # directory.json and recommend.json: the changed partners' entries in place of the old ones.
    index = _indexes(rules)
    new_layouts = dict(layouts)
    for name in LISTING_FILES:
        blob, head, rows = files[name]
        if name == "recommend.json":
            head = compact_with_list({k: v for k, v in data.items() if k != "partners"}, "partners", [])[:-3]
        parts, new_rows, at = [], [], len(head)
        for slug, key, start, length in rows:
            if slug in entries:
                partner, view, _, key = entries[slug]
                text = texts[slug] if name == "recommend.json" else \
                    compact(_directory_row(partner, view, index))
                piece = text.encode("utf-8")
            else:
                piece = blob[start:start + length]
            parts.append(piece)
            new_rows.append((slug, key, at, len(piece)))
            at += len(piece) + 1
        content = head + b",".join(parts) + b"]}\n"
        digest = collected.put(name, content)[0]
        new_layouts[name] = (digest, new_rows, layouts[name][2])
    if moved or deleted:  # (the sitemap lists partner pages in the order, and the directory's pages)
        sitemap = _moved_in_sitemap(out, manifest.get("sitemap.xml"), site, order, moved, added, as_of,
                                    deleted, counts_of_pages)
        if sitemap is None:
            return None
        collected.put("sitemap.xml", sitemap)
    new_state = {"id": secrets.token_hex(8), "order": order,
                 "views": listed_now,
                 "matching": matching, "places": new_places, "by_country": by_country,
                 "ranking": recommend.kept_ranking(by_country), "served_regions": dict(served)}
    return Relisted(collected.files, new_state, new_layouts,
                    [*map(partner_path, deleted),
                     *(directory_page(n) for n in range(counts_of_pages[1] + 1, counts_of_pages[0] + 1))])


def _cards_kept(store, snap: dict, slugs: set[str]) -> dict[str, tuple]:
    """The cards of `slugs` as the last build made them, from the cache's rendered shelf (by
    each record's content key, under this render key), as `_Renderer.reused` holds them: the
    directory pages between a moved partner's places show thousands of other partners' cards,
    which were rendered from their decoded views (0.1 s after a new status at 10,000)."""
    known = snap["partners"]  # (slug -> its record's content key, ...)
    wanted = {known[slug][0]: slug for slug in slugs if slug in known}
    found = {}
    for key, entry in store.rendered.load(wanted).items():
        if type(entry) is tuple and len(entry) == 2 and isinstance(entry[0], str):
            found[wanted[key]] = (None, entry[0])
    return found


def _page_count(order: list[str]) -> int:
    """How many directory pages list `order` (`pages.directory_pages`)."""
    from .pages import PAGE_SIZE

    return max(1, -(-len(order) // PAGE_SIZE))


def _ranking_moved(kept: tuple, place: list[int | None], size: int) -> tuple:
    """A kept ranking (`recommend.kept_ranking`) whose partners moved in recommend.json, the
    partner at `i` to `place[i]` (None: deleted, out of every list), among `size` partners now
    (the places no partner moved to are new partners'): the others keep their order, and the
    moved and new ones are among the changed partners its update takes out of every list
    (those it had) and puts back."""
    limit, order, at_country, groups, picks = kept
    moved_order: list = [None] * size
    for i, (key, _) in enumerate(order):
        if place[i] is not None:
            moved_order[place[i]] = (key, place[i])

    def moved(lists: dict) -> dict:
        return {name: [place[i] for i in members if place[i] is not None] for name, members in lists.items()}

    return limit, moved_order, moved(at_country), moved(groups), moved(picks)


def _in_name_order(rows: list, renamed: list[str], name_now, name_of_row, key) -> list:
    """A listing file's entry places (`_pieces`) with the `renamed` partners' moved to where
    their new names sort by the file's `key(name, slug)` (`pages.name_order` for
    directory.json, `recommend.summary_order`). Bisecting reads the names of a dozen entries."""
    gone = set(renamed)
    kept = [row for row in rows if row[0] not in gone]
    for slug in sorted(renamed, key=lambda s: key(name_now(s), s)):
        at = bisect.bisect(kept, key(name_now(slug), slug), key=lambda row: key(
            name_now(row[0]) if row[0] in gone else name_of_row(row), row[0]))
        kept.insert(at, next(row for row in rows if row[0] == slug))
    return kept


def _moved_in_sitemap(out: Path, digest: str | None, site, order: list[str], moved: list[str],
                      added: Sequence[str] = (), as_of: dt.date | None = None,
                      deleted: Sequence[str] = (), pages: tuple[int, int] = (0, 0)) -> bytes | None:
    """The last build's sitemap.xml (if it is the site's) with the partner pages of `moved`
    partners, one line each, in their new places in `order` (those `added` new lines, as
    `render.sitemap` writes them for `as_of`), those of `deleted` partners taken out, and the
    directory's pages as many as `pages` says (how many there were, how many there are); None
    if it is not laid out so."""
    from xml.sax.saxutils import escape

    from .pages import directory_page, partner_path, url_path
    from .render import sitemap_line
    from .write import content_hash

    try:
        blob = (out / "sitemap.xml").read_bytes()
    except OSError:
        return None
    if digest is None or content_hash(blob) != digest:
        return None
    lines = blob.split(b"\n")

    def line_at(path: str) -> int | None:
        loc = f"<loc>{escape(site.url(url_path(path)))}</loc>".encode()
        found = [i for i, line in enumerate(lines) if loc in line]
        return found[0] if len(found) == 1 else None

    def line_of(slug: str) -> int | None:
        return line_at(partner_path(slug))

    for number in range(pages[0], pages[1], -1):  # (a directory page gone)
        at = line_at(directory_page(number))
        if at is None:
            return None
        del lines[at]
    for number in range(pages[0] + 1, pages[1] + 1):  # (a new one, after the one before it)
        at = line_at(directory_page(number - 1))
        if at is None:
            return None
        lines.insert(at + 1, sitemap_line(url_path(directory_page(number)), site, as_of).encode())  # type: ignore[arg-type]

    taken = {slug: sitemap_line(url_path(partner_path(slug)), site, as_of).encode()  # type: ignore[arg-type]
             for slug in added}
    for slug in deleted:
        at = line_of(slug)
        if at is None:
            return None
        del lines[at]
    for slug in moved:
        if slug in taken:
            continue
        at = line_of(slug)
        if at is None:
            return None
        taken[slug] = lines.pop(at)
    place = {slug: order.index(slug) for slug in moved}
    for slug in sorted(moved, key=place.__getitem__):
        at = place[slug]
        if at > 0:
            before = line_of(order[at - 1])
            where = None if before is None else before + 1
        else:
            where = line_of(order[1]) if len(order) > 1 else None
        if where is None:
            return None
        lines.insert(where, taken[slug])
    return b"\n".join(lines)


def _pieces(out: Path, name: str, layouts: object, digest: str | None) -> tuple[bytes, bytes, list] | None:
    """The listing file `name` as the last build wrote it (its bytes, its head before the
    first entry, its entries' places: `cache.save_export_layout`), if it is that file."""
    from .write import content_hash

    if not isinstance(layouts, dict) or name not in layouts or digest is None:
        return None
    try:
        known, rows, _ = layouts[name]
        if known != digest:
            return None
        blob = (out / name).read_bytes()
        if content_hash(blob) != digest or not rows:
            return None
        start = rows[0][2]
        if blob[start - 1:start] != b"[":
            return None
        return blob, blob[:start], list(rows)
    except (OSError, ValueError, TypeError, IndexError):
        return None


def saved(store, out: Path, relisted: Relisted) -> str | None:
    """Keep the state and entry places `rebuild` made, once its files are in the site: the
    state's name for the snapshot, or None if they could not be kept (the next edit to listed
    data then goes the ordinary way)."""
    from . import cache
    from .record_cache import write

    if not write(store.render_folder / cache.EXPORTS_LAYOUT, store.render_key, relisted.layouts):
        return None
    if not write(_path(store, out), store.render_key, (FORMAT, relisted.state)):
        return None
    return relisted.state["id"]
