"""What the last build into an output folder made, in one small file, so that a new `build`
process can rebuild an edit to a few records without reading any other record.

The ordinary rebuild (`cache`) gets every unchanged partner back from the record cache, which
at 10,000 partners means decoding 10,000 partners, awards and cards and 100 MB of open data
entries: seconds, where the edit itself takes milliseconds. Most edits change what only the
partner's own page, partners.json entry and partners.csv row show (a description, a project
or certification that leaves the status as it was is not one of them: those change listed
data). For those, a new process needs to know only:

* which record file made which partner (path -> metadata, content key, slug), to see which
  files changed without reading the others;
* each partner's listing digest (`cache.listing_key`'s per-partner part), to see that the
  change leaves every listing page, facet count and listing file as it was;
* the pieces of partners.json and partners.csv (their hashes and lengths, in file order), to
  patch the changed entries into the files where they are and know the files' new hashes;
* pycountry's language names (`rules.languages`), which it would read all 7,900 ISO 639-3
  languages to give;
* which record files name each logo, so that a logo file changed has only those records
  checked again (`cache.LogoCheck`) and only its copy in the site written.

`save` writes that after every build without a search index; `plan` and `apply` use it. The
snapshot names the build it describes (`build` in the build record's summary), so a snapshot
that is not the last build's is never used, and anything unexpected (a slug changed, a
problem in a record, listed data changed that `relist` cannot rebuild, a damaged file) makes
the caller do the ordinary rebuild instead, which is always right. A record added or deleted
is a partner `relist` puts in its places or takes out of them: its entry and row go in
between the others' here, or out; so is a partner the January review now removes, or no
longer removes. One it removes and still removes is on no page: an edit to it, or its
record added or deleted, changes the review's report alone.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path

from .write import _copy_range
from .write import joined_hash as _joined
from .write import piece_hash as _piece_hash

FORMAT = 2  # (2: the logos' users)
# More changed records than this go the ordinary way, which checks them on every core.
MOST_CHANGED = 40
JSON = "partners.json"
CSV = "partners.csv"


def _path(store, out: Path) -> Path:
    name = hashlib.sha256(str(out.resolve()).encode()).hexdigest()[:16]
    return store.render_folder / f"site-{name}.bin"


# The last snapshot loaded, with its file and build: the quick rebuild and, when it cannot be
# done, the ordinary rebuild's open data (`open_data_plan`) both ask for it.
_LOADED: list[tuple[Path, str, dict]] = []


def load(store, out: Path, build: str | None) -> dict | None:
    """The snapshot of the build `build` (from the last build's record), if it is on disk whole."""
    from .record_cache import read

    if store is None or not build:
        return None
    path = _path(store, out)
    if _LOADED and _LOADED[0][:2] == (path, build):
        return _LOADED[0][2]  # (never changed in place: `update` makes a new one)
    data = read(path, store.render_key)
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("build") != build:
        return None
    _LOADED[:] = [(path, build, data)]
    return data


def _pieces(out: Path, path: str, digest: str | None, make) -> tuple[list[bytes], list[int]] | None:
    """The hashes and lengths of the pieces the file at `path` was just written from: taken
    from the writer when it wrote it in this process, else made again from `make()`; None if
    they do not give the file's hash."""
    from . import write

    if digest is None:
        return None
    written = getattr(write, "_PIECES", {}).get(str((out / path).resolve()))
    try:
        if written is not None and _joined(written[1]) == digest:
            return list(written[1]), [len(piece) for piece in written[0]]
    except Exception:  # not in the shape expected: make them again
        pass
    pieces = list(make())
    hashes = [_piece_hash(piece) for piece in pieces]
    if _joined(hashes) != digest:
        return None
    return hashes, [len(piece) for piece in pieces]


def save(memo, state, d, site, out: Path, hashes: dict[str, str], pieces: dict | None = None,
         listing: str | None = None) -> str | None:
    """Write the snapshot of the build that just made `hashes` (site path -> hash) into `out`;
    the build's name to keep in its record, or None when there is none to trust (a record
    file changed while the build read it, say). `pieces` holds partners.json's and
    partners.csv's pieces when the build patched them (`patch_open_data`); `listing` names
    the listing state kept of this build (`relist`), if one was."""
    from . import export
    from .pages import partner_path
    from .record_cache import write
    from .rules import languages

    store = memo.store
    if store is None:
        return None
    records: dict[str, tuple] = {}
    partners: dict[str, tuple] = {}
    logos: dict[str, list[str]] = {}
    for name, meta in state.records.items():
        # A file changed in the last moments (`cache.RACY_NS`) may change again without its
        # metadata changing: it is kept without metadata, so that the next build reads it
        # again and compares its content key (`plan`), as git does with "racily clean" files.
        # Refusing the whole snapshot instead sent every build made right after an edit, and
        # the next one too, down the ordinary rebuild: 1.3-1.7 s instead of 0.36 s at 10,000.
        kept_meta = None if name in state.racy else meta
        keyed = memo.content_keys.get(name)
        if keyed is None:
            records[name] = (kept_meta, None, None)  # not a record file
            continue
        if keyed[0] != meta:
            return None  # changed while the build read it
        partner = memo.checked_from(name, meta, state.racy)
        if partner is None:
            return None
        slug = partner.slug
        listed = memo.listed.get(slug)
        award = memo.awards.get(slug)
        if listed is None or listed[0] is not partner or award is None or award[0] is not partner:
            return None
        removed = bool(award[1].removed)
        page = None if removed else hashes.get(partner_path(slug))
        if not removed and page is None:
            return None
        records[name] = (kept_meta, keyed[1], slug)
        partners[slug] = (keyed[1], listed[2], page, removed)
        if partner.logo is not None:
            logos.setdefault(partner.logo, []).append(name)
    order = sorted(d.partners)
    if pieces is not None:
        json_pieces, csv_pieces = pieces[JSON], pieces[CSV]
        if _joined(json_pieces[0]) != hashes.get(JSON) or _joined(csv_pieces[0]) != hashes.get(CSV):
            return None
    else:
        try:
            entries = {slug: memo.pages[slug][1][2] for slug in order}
            rows = {slug: memo.pages[slug][1][3] for slug in order}
        except (KeyError, IndexError):
            return None
        json_pieces = _pieces(out, JSON, hashes.get(JSON),
                              lambda: export.partners_json_chunks(d, site, entries))
        csv_pieces = _pieces(out, CSV, hashes.get(CSV), lambda: export.partners_csv_chunks(d, site, rows))
    if json_pieces is None or csv_pieces is None or len(json_pieces[0]) != 2 * len(order) + 2 \
            or len(csv_pieces[0]) != len(order) + 1:
        return None
    build = secrets.token_hex(8)
    data = {"format": FORMAT, "build": build, "records": records, "partners": partners, "order": order,
            "json": json_pieces, "csv": csv_pieces, "languages": languages(), "listing": listing,
            "logos": logos}
    return build if write(_path(store, out), store.render_key, data) else None


# ----------------------------------------------------------------------------------------------
# A rebuild from the snapshot


@dataclass
class Plan:
    """The record files that changed since the snapshot's build, and nothing else did."""

    changed: list[str]  # record file paths to check again: their bytes changed, or their logo
    keys: dict[str, str] = field(default_factory=dict)  # their new content keys
    suspects: list[str] = field(default_factory=list)  # those whose metadata changed, or is racy
    added: list[str] = field(default_factory=list)  # record files the snapshot's build had not
    deleted: list[str] = field(default_factory=list)  # record files it had that are gone
    logos: list[str] = field(default_factory=list)  # logos changed since they passed the check


def _record_file(name: str) -> bool:
    """Whether a file new in the records folder is a record file, as `load.record_names` tells
    them apart (a regular file named <slug>.yaml or <slug>.md, not README.md)."""
    import stat

    from .load import RECORD_SUFFIXES

    base = os.path.basename(name)
    stem, dot, suffix = base.rpartition(".")
    if base.startswith(".") or not stem or (dot + suffix).lower() not in RECORD_SUFFIXES or \
            base.lower() == "readme.md":
        return False
    try:
        return stat.S_ISREG(os.lstat(name).st_mode)
    except OSError:
        return False


def plan(snap: dict, state, stale_logo) -> Plan | None:
    """Which record files changed, were added or were deleted, if nothing else did (and not
    too many); None when the ordinary rebuild must run (a file that is no record changed, or
    one added that is not a record file: the ordinary rebuild says what it is). A record
    whose logo changed since it passed the check (`stale_logo`) is checked again like a
    changed one."""
    from .record_cache import content_key

    records = snap["records"]
    added = [name for name in state.records if name not in records]
    deleted = [name for name in records if name not in state.records]
    if any(not _record_file(name) for name in added) or any(records[name][1] is None for name in deleted):
        return None
    suspects = [name for name, meta in state.records.items()
                if name in state.racy or name not in records or records[name][0] != meta]
    if len(suspects) + len(deleted) > MOST_CHANGED:
        return None
    changed = Plan([], suspects=suspects, added=added, deleted=deleted)
    for name in suspects:
        _, key, slug = records.get(name, (None, "", None))
        if key is None:
            return None
        try:
            with open(name, "rb") as f:
                new = content_key(name, f.read())
        except OSError:
            return None
        if new != key:
            changed.changed.append(name)
            changed.keys[name] = new
    gone = set(deleted)
    for logo, names in snap["logos"].items():
        if stale_logo(logo):
            changed.logos.append(logo)
            for name in names:
                if name not in gone and name not in changed.keys:
                    changed.changed.append(name)
                    changed.keys[name] = records[name][1]  # (its bytes as they were)
    if len(changed.changed) + len(deleted) > MOST_CHANGED:
        return None
    return changed


def logo_files(snap: dict, plan: Plan, made: list) -> tuple[dict[str, list[str]], list[str], list[str]]:
    """After a quick rebuild that checked the records `made` ([(file, partner, award, cache
    entry)]): the record files that name each logo; the logos to copy into the site (new in
    it, or changed); and those to delete from it (no listed partner shows them any more). The
    site has the logos of the listed partners, as `pages.directory` gives them."""
    records, partners = snap["records"], snap["partners"]
    now = {name: (partner.logo, not granted.removed) for name, partner, granted, _ in made}
    redone = set(now) | set(plan.deleted)

    def listed_then(name: str) -> bool:
        return not partners[records[name][2]][3]

    def listed_now(name: str) -> bool:
        return now[name][1] if name in now else listed_then(name)

    users = {logo: [name for name in names if name not in redone] for logo, names in snap["logos"].items()}
    for name, (logo, _) in now.items():
        if logo is not None:
            users.setdefault(logo, []).append(name)
    users = {logo: sorted(names) for logo, names in sorted(users.items()) if names}
    before = {logo for logo, names in snap["logos"].items() if any(map(listed_then, names))}
    after = {logo for logo, names in users.items() if any(map(listed_now, names))}
    changed = set(plan.logos)
    copied = sorted(logo for logo in after if logo not in before or logo in changed)
    return users, copied, sorted(before - after)


def patch_file(source: Path, target: Path, pieces: list[tuple[int, int, bytes]]) -> None:
    """`target` made as `source` with byte ranges replaced: (offset, old length, new bytes) in
    file order; the unchanged ranges are copied by the kernel where it can."""
    segments: list = []
    at = 0
    for offset, length, data in pieces:
        segments += [(at, offset - at), data]
        at = offset + length
    segments.append((at, os.stat(source).st_size - at))
    _write_segments(source, target, segments)


def replaced(pieces: tuple[list[bytes], list[int]], new: dict[int, bytes]) -> tuple:
    """The pieces' hashes and lengths with the pieces at some indexes replaced, the file's new
    hash, and the byte ranges to patch (`patch_file`)."""
    hashes, lengths = list(pieces[0]), list(pieces[1])
    offsets = list(accumulate(pieces[1], initial=0))  # (the last: the old file's size)
    patches = []
    for i in sorted(new):
        patches.append((offsets[i], lengths[i], new[i]))
        hashes[i] = _piece_hash(new[i])
        lengths[i] = len(new[i])
    return (hashes, lengths), _joined(hashes), patches, offsets[-1]


@dataclass
class OpenData:
    """The last build's partners.json and partners.csv (its snapshot), to patch into this
    build's: the entries and rows of the partners that changed or joined the list since are
    made, those of partners that left it dropped, the others copied from the files."""

    snap: dict
    order: list[str]  # the listed partners now, by slug (the files' order)
    changed: set[str]  # slugs whose entries and rows are made or loaded: edited, or new in the list
    dropped: set[str]  # slugs listed by the last build and not by this one


# More changed partners than this: the files are made whole, from every entry.
MOST_PATCHED = 1000


def open_data_plan(store, out: Path, build: str | None, manifest: dict, listed: list[str],
                   slug_keys: dict[str, str]) -> OpenData | None:
    """Whether a build listing the partners `listed` (by slug) can patch the last build's open
    data files: they are as the snapshot describes them, both builds list someone, and few
    records changed (by their content keys, `slug_keys`); None when they must be made whole."""
    snap = load(store, out, build)
    order = sorted(listed)
    if snap is None or not order or not snap["order"]:
        return None
    for name, (hashes, lengths) in ((JSON, snap["json"]), (CSV, snap["csv"])):
        try:
            if manifest.get(name) != _joined(hashes) or os.stat(out / name).st_size != sum(lengths):
                return None
        except OSError:
            return None
    partners = snap["partners"]
    before = set(snap["order"])
    changed = {slug for slug in order if slug not in before or slug_keys.get(slug) != partners[slug][0]}
    if len(changed) > MOST_PATCHED:
        return None
    return OpenData(snap, order, changed, before - set(order))


def patch_open_data(plan: OpenData, out: Path, stage: Path, entries: dict[str, bytes],
                    rows: dict[str, str]) -> tuple[dict[str, tuple[str, bool]], dict[str, tuple]]:
    """partners.json and partners.csv written into `stage` as the last build's with the changed
    partners' `entries` and `rows` in their places and the dropped partners' taken out (or left
    as they are, when they come out the same): (site path -> (hash, written)), and the files'
    new pieces for the next snapshot."""
    files, pieces = {}, {}
    for name, (made, segments) in open_data_pieces(plan, entries, rows).items():
        digest = _joined(made[0])
        written = digest != _joined((plan.snap["json"] if name == JSON else plan.snap["csv"])[0])
        if written:
            _write_segments(out / name, stage / name, segments)
        files[name] = (digest, written)
        pieces[name] = made
    return files, pieces


def open_data_pieces(plan: OpenData, entries: dict[str, bytes],
                     rows: dict[str, str]) -> dict[str, tuple[tuple, list]]:
    """partners.json's and partners.csv's new pieces (`_pieced`): each file's pieces' hashes
    and lengths, and the segments to write it from."""
    last = {slug: i for i, slug in enumerate(plan.snap["order"])}
    # Each file as pieces, each either the last file's piece at an index or new bytes:
    # partners.json is its head, then a separator ("\n" before the first entry, ",\n" before
    # the others) and an entry per partner, then its tail; partners.csv its head and a row each.
    json_parts: list[int | bytes] = [0]
    csv_parts: list[int | bytes] = [0]
    for i, slug in enumerate(plan.order):
        j = last.get(slug)
        if j is not None and (i == 0) == (j == 0):
            json_parts.append(1 + 2 * j)
        else:
            json_parts.append(b"\n" if i == 0 else b",\n")
        if slug in plan.changed:
            json_parts.append(entries[slug])
            csv_parts.append(rows[slug].encode("utf-8"))
        else:
            json_parts.append(2 + 2 * last[slug])  # (unchanged: listed before)
            csv_parts.append(1 + last[slug])
    json_parts.append(len(plan.snap["json"][0]) - 1)
    return {JSON: _pieced(plan.snap["json"], json_parts), CSV: _pieced(plan.snap["csv"], csv_parts)}


def with_listed(snap: dict, order: list[str], entries: dict[str, bytes],
                rows: dict[str, str]) -> list[tuple] | None:
    """`replaced` of partners.json and partners.csv for a rebuild that lists other partners than
    the snapshot's build (`order`, the listed partners now; `entries` and `rows` are the
    changed and added partners'): for each file its new pieces, hash, patches and old size;
    None if it cannot be patched so."""
    if not snap["order"] or not order:
        return None
    dropped = set(snap["order"]).difference(order)
    made = open_data_pieces(OpenData(snap, order, set(entries), dropped), entries, rows)
    answer = []
    for name in (JSON, CSV):
        pieces, segments = made[name]
        size = sum(snap["json" if name == JSON else "csv"][1])
        patches = segment_patches(segments, size)
        if patches is None:
            return None
        answer.append((pieces, _joined(pieces[0]), patches, size))
    return answer


def segment_patches(segments: list, size: int) -> list[tuple[int, int, bytes]] | None:
    """`_pieced`'s segments of a new file as `patch_file`'s patches of the old one (of `size`
    bytes): (offset, old length, new bytes); None if they take the old file's ranges out of
    order (never for partners only added, changed or dropped)."""
    patches = []
    at = 0
    pending: list[bytes] = []
    for segment in segments:
        if type(segment) is tuple:
            start, length = segment
            if start < at:
                return None
            if pending or start > at:
                patches.append((at, start - at, b"".join(pending)))
                pending = []
            at = start + length
        else:
            pending.append(segment)
    if pending or at < size:
        patches.append((at, size - at, b"".join(pending)))
    return patches


def _pieced(old: tuple[list[bytes], list[int]], parts: list) -> tuple[tuple, list]:
    """The new file's pieces' hashes and lengths, and how to write it: (offset, length) ranges
    of the old file, runs of old pieces joined into one, and new bytes."""
    hashes, lengths = old
    offsets = []
    at = 0
    for length in lengths:
        offsets.append(at)
        at += length
    new_hashes, new_lengths, segments = [], [], []
    for part in parts:
        if isinstance(part, int):
            new_hashes.append(hashes[part])
            new_lengths.append(lengths[part])
            start, length = offsets[part], lengths[part]
            if segments and type(segments[-1]) is tuple and sum(segments[-1]) == start:
                segments[-1] = (segments[-1][0], segments[-1][1] + length)
            else:
                segments.append((start, length))
        else:
            new_hashes.append(_piece_hash(part))
            new_lengths.append(len(part))
            segments.append(part)
    return (new_hashes, new_lengths), segments


def _write_segments(source: Path, target: Path, segments: list) -> None:
    """`target` made of ranges of `source` (copied by the kernel where it can) and new bytes."""
    with open(source, "rb") as src, open(target, "wb") as dst:
        for segment in segments:
            if type(segment) is tuple:
                _copy_range(src, dst, *segment)
            else:
                dst.write(segment)


def update(store, out: Path, snap: dict, records: dict[str, tuple], partners: dict[str, tuple],
           json_pieces: tuple, csv_pieces: tuple, listing: str | None = None,
           order: list[str] | None = None, deleted: tuple[list[str], list[str]] = ([], []),
           logos: dict[str, list[str]] | None = None) -> str | None:
    """Write the snapshot again with these entries changed (and, with partners added or
    deleted, the listed partners' `order`, and the `deleted` record files and slugs left out),
    the name of the listing state (`relist`) that describes its listings, and the record files
    that name each logo now (`logo_files`); the new build's name."""
    from .record_cache import write

    build = secrets.token_hex(8)
    data = dict(snap)
    data["build"] = build
    data["listing"] = listing
    names, slugs = map(set, deleted)
    data["records"] = {name: known for name, known in {**snap["records"], **records}.items()
                       if name not in names}
    data["partners"] = {slug: known for slug, known in {**snap["partners"], **partners}.items()
                        if slug not in slugs}
    data["json"], data["csv"] = json_pieces, csv_pieces
    if order is not None:
        data["order"] = order
    if logos is not None:
        data["logos"] = logos
    return build if write(_path(store, out), store.render_key, data) else None
