"""Open data: every listed partner as JSON and CSV, and the compact index the directory's script filters.

Removed partners are never in these files: they come from the same `Directory` as the pages.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from .award import award_json
from .pages import CARD_EXPERTISE, CARD_PLACES, PAGE_SIZE, Directory, name_key, view_name_key, whole
from .rules import country_name, language_name

if TYPE_CHECKING:
    from .render import Site

# Spreadsheets run a cell that starts with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_STATUS_DROPPED = ("slug", "removed")


def compact(data) -> str:
    """JSON without spaces, with non-ASCII text kept as it is (fewer bytes to send)."""
    return _COMPACT(data)


# (json.dumps makes an encoder for each call with options: 0.65 us of the 0.8 a slug takes, in
# 40,000 calls of a build at 10,000 partners)
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def compact_with_list(head: dict, name: str, items: list[str]) -> bytes:
    """The compact JSON of `head` (not empty) with `name`: a list of `items`, each already
    compact JSON, as its last member: the bytes `json.dumps` gives for the whole, put together
    from items a rebuild kept (directory.json, recommend.json)."""
    return "".join((compact(head)[:-1], f',"{name}":[', ",".join(items), "]}\n")).encode("utf-8")


# The record's fields as pydantic writes them; the logo follows as a full address instead.
_RECORD_EXCLUDE = frozenset({"slug", "logo", "source", "format"})


def partner_json(d: Directory, slug: str, site: Site) -> str:
    """One partner's entry in partners.json, on one line: its slug, the record's public fields in
    record order, its logo and page addresses, and its status.

    Entries are made apart, so a build makes them on every core and a rebuild keeps those of
    unchanged partners. The record's fields come straight from pydantic's JSON writer: making
    a dict of them and indenting it with the standard library's pure-Python encoder took
    half a millisecond a partner.
    """
    partner = whole(d.partners[slug])
    fields = partner.model_dump_json(exclude=_RECORD_EXCLUDE)
    status = award_json(whole(d.awards[slug]))
    for key in _STATUS_DROPPED:
        del status[key]
    logo = site.url(partner.logo) if partner.logo else None
    return (f'{{"slug":{compact(slug)},{fields[1:-1]},"logo":{compact(logo)},'
            f'"url":{compact(site.url(d.views[slug].path))},"status":{compact(status)}}}')


def partners_json(d: Directory, site: Site, entries: Mapping[str, str | bytes] | None = None) -> bytes:
    """Every listed partner, by slug, one a line.

    `entries` holds `partner_json` results (as text or UTF-8) already made; the others are
    made here.
    """
    return b"".join(partners_json_chunks(d, site, entries))


def partners_json_chunks(d: Directory, site: Site,
                         entries: Mapping[str, str | bytes] | None = None) -> Iterator[bytes]:
    """partners.json piece by piece: 100 MB at 10,000 partners need not be in memory whole."""
    entries = entries or {}
    yield _json_head(d.as_of.isoformat())
    slugs = sorted(d.partners)
    if not slugs:
        yield b"]}\n"
        return
    for i, slug in enumerate(slugs):
        entry = entries[slug] if slug in entries else partner_json(d, slug, site)
        yield b"\n" if i == 0 else b",\n"
        yield entry if isinstance(entry, bytes) else entry.encode("utf-8")
    yield b"\n]}\n"


CSV_COLUMNS = (
    "slug", "name", "url", "website", "joined", "programs", "member_of_programs", "headquarters_city",
    "headquarters_country", "countries_served", "regions_served", "remote_delivery", "expertise",
    "industries", "languages", "contact_email", "contact_url", "status_level", "status_program",
    "as_of", "certified_engineers", "successful_projects", "subscription_sales_usd", "next_level",
    "level_holds_until", "level_drops_to", "review_date", "certifications", "projects", "description",
)


def safe_cell(value) -> str:
    """Text a spreadsheet shows as text: a leading formula character is escaped with a quote."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(int(value)) if float(value).is_integer() else str(value)
    text = str(value)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


@functools.lru_cache(maxsize=4)
def _json_head(as_of: str) -> bytes:
    """The same bytes object for the same date, so `write.SiteWriter.put_chunks` sees the file's
    start unchanged and copies it instead of writing it again."""
    return ('{"as_of":' + compact(as_of) + ',"partners":[').encode("utf-8")


def partners_csv(d: Directory, site: Site, rows: Mapping[str, str] | None = None) -> bytes:
    """Every listed partner, by slug. `rows` holds `partner_csv_row` results already made."""
    return b"".join(partners_csv_chunks(d, site, rows))


# Each partner's partners.csv row as last encoded in this process: (the row, its UTF-8), by slug.
_ROW_BYTES: dict[str, tuple[str, bytes]] = {}


def partners_csv_chunks(d: Directory, site: Site, rows: Mapping[str, str] | None = None) -> Iterator[bytes]:
    """partners.csv piece by piece, for `write.SiteWriter.put_chunks`.

    A row that is the same object as last time (an unchanged partner's, kept by `serve`) gives
    the same bytes object as last time, so the file is patched around the changed rows instead
    of 20 MB being joined, hashed and written again.
    """
    rows = rows or {}
    yield _CSV_HEAD
    last = _ROW_BYTES
    now: dict[str, tuple[str, bytes]] = {}
    for slug in sorted(d.partners):
        row = rows[slug] if slug in rows else partner_csv_row(d, slug, site)
        known = last.get(slug)
        if known is None or known[0] is not row:
            known = (row, row.encode("utf-8"))
        now[slug] = known
        yield known[1]
    _ROW_BYTES.clear()
    _ROW_BYTES.update(now)


def _csv_line(cells: list[str] | tuple[str, ...]) -> str:
    """The line `csv.writer` writes for these text cells (a quote around a cell holding a
    comma, a quote or a line break, and its quotes doubled): made here, as a csv.writer and a
    buffer a row took two thirds of making a row, 0.3 s of a build of 10,000 partners. The
    tests hold it to csv.writer's bytes."""
    if len(cells) == 1 and not cells[0]:
        return '""\r\n'  # (as csv.writer, which would otherwise write an empty line)
    return ",".join([cell if _CSV_QUOTED.search(cell) is None else '"' + cell.replace('"', '""') + '"'
                     for cell in cells]) + "\r\n"


_CSV_QUOTED = re.compile('[,"\r\n]')


_CSV_HEAD = _csv_line(CSV_COLUMNS).encode("utf-8")


def partner_csv_row(d: Directory, slug: str, site: Site) -> str:
    """One partner's line of partners.csv: made apart, like `partner_json`, for the same reasons."""
    p = whole(d.partners[slug])
    a = whole(d.awards[slug])
    row = {
        "slug": slug,
        "name": p.name,
        "url": site.url(d.views[slug].path),
        "website": p.website,
        "joined": p.joined.isoformat(),
        "programs": "; ".join(p.programs),
        "member_of_programs": "; ".join(d.views[slug].member["program"]),
        "headquarters_city": p.headquarters.city,
        "headquarters_country": p.headquarters.country,
        "countries_served": "; ".join(p.countries_served),
        "regions_served": "; ".join(p.regions_served),
        "remote_delivery": p.remote_delivery,
        "expertise": "; ".join(p.expertise),
        "industries": "; ".join(p.industries),
        "languages": "; ".join(p.languages),
        "contact_email": p.contact.email if p.contact else None,
        "contact_url": p.contact.url if p.contact else None,
        "status_level": a.level,
        "status_program": a.program,
        "as_of": d.as_of.isoformat(),
        "certified_engineers": a.metrics.get("certified_engineers"),
        "successful_projects": a.metrics.get("successful_projects"),
        "subscription_sales_usd": a.metrics.get("subscription_sales"),
        "next_level": a.next_level,
        "level_holds_until": (a.drops_on - dt.timedelta(days=1)).isoformat() if a.drops_on else None,
        "level_drops_to": a.drops_to,
        "review_date": a.review_date.isoformat(),
        "certifications": len(p.certifications),
        "projects": len(p.projects),
        "description": p.description.strip(),
    }
    return _csv_line([safe_cell(row[c]) for c in CSV_COLUMNS])


def directory_json(d: Directory, site: Site) -> bytes:
    """Facet memberships and card fields of every listed partner, compact enough for 10,000 partners.

    Ids repeated on every partner are indexes into the tables at the top; countries and
    languages are short codes already. Partners come in name order; the script sorts by
    status or joining date from there, with the same ties as the pre-rendered pages.

    Each partner's entry is encoded apart and kept with the directory (`Directory.encoded`,
    which the next build's directory in this process takes over), so a rebuild in `serve`
    after an edit to listed data encodes only the changed partners' entries: the same bytes as
    encoding the whole file at once.
    """
    rules = d.rules
    index = _indexes(rules)
    kept = d.encoded.setdefault("directory.json", {})
    if kept.get("") != index:  # made with other tables
        kept.clear()
    # The countries listed partners serve or have their head office in, and the languages they
    # speak, are the country and language facets' values (`facets.facet_values`).
    countries = {value.id for value in d.facets["country"]}
    languages = {value.id for value in d.facets["language"]}
    partners = list(d.partners.values())
    views = list(map(d.views.__getitem__, d.partners))
    edits = _directory_edits(kept, partners, views)
    if edits is not None:  # (a few partners changed since the last call, none renamed: see `delta`)
        _, _, _, places, rows, served_regions = _LAST_DIRECTORY[0]
        rows = list(rows)
        for partner, old in edits:
            slug = partner.slug
            view = d.views[slug]
            kept[slug] = (partner, view, compact(_directory_row(partner, view, index)))
            rows[places[slug]] = kept[slug][2]  # type: ignore[index]
            if partner.regions_served != old.regions_served:
                served_regions = None
        if served_regions is None:
            served_regions = {region for view in views for region in view.regions_served}
    else:
        served_regions = set()
        rows = []
        now: dict[str, object] = {"": index}
        # (the views' names and regions served, which are the partners': a partner read from the
        # cache whose entry is kept then decodes no field)
        in_order = sorted(zip(views, partners, strict=True), key=lambda pair: view_name_key(pair[0]))
        for view, partner in in_order:
            slug = partner.slug
            known = kept.get(slug)
            if known is None or known[0] is not partner or known[1] is not view:  # type: ignore[index]
                known = (partner, view, compact(_directory_row(partner, view, index)))
            now[slug] = known
            rows.append(known[2])  # type: ignore[index]
            served_regions.update(view.regions_served)
        kept.clear()
        kept.update(now)
        places = {slug: i - 1 for i, slug in enumerate(now) if slug}
    _LAST_DIRECTORY[:] = [(kept, partners, views, places, rows, served_regions)]

    data = {
        "as_of": d.as_of.isoformat(),
        "page_size": PAGE_SIZE,
        "card_places": CARD_PLACES,
        "card_expertise": CARD_EXPERTISE,
        "levels": [[lv.id, lv.name] for lv in rules.levels],
        "programs": [[p.id, p.short_name, p.name] for p in rules.programs],
        "regions": [[r.id, r.name] for r in rules.regions],
        "expertise": [[e.id, e.name] for e in rules.expertise],
        "industries": [[i.id, i.name] for i in rules.industries],
        "countries": {c: country_name(c) for c in sorted(countries)},
        "languages": {c: language_name(c) for c in sorted(languages)},
        "region_countries": {r.id: list(r.countries) for r in rules.regions if r.id in served_regions},
    }
    # json.dumps of `data` with "partners": rows last, put together from its pieces (kept:
    # slug -> (partner, view, its entry), and "" -> the tables' indexes they were made with)
    return compact_with_list(data, "partners", rows)


# The last `directory_json`'s kept entries (`Directory.encoded`), partners as given, each
# slug's place in the file, its entries in file order and the regions served.
_LAST_DIRECTORY: list[tuple] = []


def _directory_edits(kept: dict, partners: list, views: list) -> list[tuple] | None:
    """(new, old) of the partners that are not the last call's at their places, or whose views
    are not, if the others are, the last call kept its entries in `kept` and the changed ones
    keep their names (and so their places); else None."""
    from .delta import edited_with

    if not _LAST_DIRECTORY or _LAST_DIRECTORY[0][0] is not kept or "" not in kept:
        return None  # (no last call, or its entries were made with other tables)
    _, last, last_views, places, _, _ = _LAST_DIRECTORY[0]
    pairs = edited_with(partners, last, views, last_views)
    if pairs is None or any(name_key(new) != name_key(old) or new.slug not in places for new, old in pairs):
        return None
    return pairs


def _indexes(rules) -> dict[str, dict[str, int]]:
    """Each table's position of an id (programs, regions, expertise, industries)."""
    return {name: {v: i for i, v in enumerate(ids)} for name, ids in
            (("p", [p.id for p in rules.programs]), ("r", [r.id for r in rules.regions]),
             ("e", [e.id for e in rules.expertise]), ("i", [i.id for i in rules.industries]))}


def _directory_row(partner, view, index: dict[str, dict[str, int]]) -> dict:
    """One partner's entry in directory.json."""
    member = view.member
    row = {
        "s": partner.slug,
        "n": partner.name,
        "l": view.level_rank,
        "j": partner.joined.isoformat(),
        "i": view.initials,
        "h": view.hue,
        "c": partner.headquarters.city,
        "q": partner.headquarters.country,
        "p": [index["p"][x] for x in partner.programs if x in index["p"]],
        "m": [index["p"][x] for x in member["program"]],
        "r": [index["r"][x] for x in member["region"]],
        "cs": list(partner.countries_served),
        "rs": [index["r"][x] for x in partner.regions_served if x in index["r"]],
        "e": [index["e"][x] for x in partner.expertise if x in index["e"]],
        "d": [index["i"][x] for x in partner.industries if x in index["i"]],
        "a": list(partner.languages),
    }
    if view.logo:
        row["g"] = view.logo
    return row
