"""Rebuilding only what changed: what a build can reuse from the previous one, and how it knows.

Every input that can change the site is part of a key: the record files, logos, programs.yaml,
the templates and static files, the code itself, the as-of date, the base URL and whether
search is on. Two levels of reuse follow from it:

* `InputState`: a fingerprint of all inputs taken from file metadata (size, modification time,
  inode), cheap enough to take on every build. When it equals the last successful build's and
  the output folder is still the one that build swapped in, nothing needs doing at all; that
  record lives in .cache/build/ so it works across separate `build` commands too.
* `Memo`: within one process (`serve`, or a program calling `build_site` repeatedly), the
  checked partner of every record file whose bytes did not change, its award, and its rendered
  page and card, so an edit re-reads, re-checks and re-renders one partner, not all of them.
  When nothing listing pages show changed (`listing_key`), the directory and the listing pages
  are kept too.
* On disk, between processes (`record_cache`): the same per-record results keyed by each
  record's content, which the first build of a process loads instead of checking and rendering
  every record again; a new `build` after an edit, or CI with a restored .cache/, redoes only
  the records that changed. Unchanged partners stay undecoded (`StoredPartner`) unless a
  listing needs them, and stored pages go into a new site as hard links.
* A snapshot of the last build into an output folder (`snapshot`), with which a new process
  rebuilds an edit that changes no listing without reading any other record.

A reused value is always one that a cold build would compute again byte for byte; the tests
build cold and warm after edits to records, programs.yaml and templates and compare the trees.
"""

from __future__ import annotations

import ast
import datetime as dt
import gc
import hashlib
import json
import marshal
import os
import sys
import time
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING

from . import delta
from .project import Paths

if TYPE_CHECKING:  # the stages load pydantic and more: only builds with work to do need them
    from collections.abc import Callable, Iterable

    from .award import Award
    from .check import Checked
    from .rules import Rules
    from .validate import Partner

CODE = Path(__file__).resolve().parent
FORMAT = 2  # of the files in .cache/build/; a change makes old ones unreadable, not wrong


def _stat(path: Path | str) -> tuple[int, int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns, st.st_ino


def _tree(folder: Path) -> list[tuple[str, tuple[int, int, int]]]:
    """(relative path, metadata) of every file under folder, hidden ones included, in name order."""
    entries = []
    if not folder.is_dir():
        return entries
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            full = os.path.join(root, name)
            try:
                entries.append((os.path.relpath(full, folder), _stat(full)))
            except OSError:
                continue
    return entries


def _contents_digest(files: list[tuple[str, Path]]) -> str:
    """A digest of the files' names and bytes. The templates are keyed by what they hold, not
    by their metadata as the records folder is: a fresh checkout (CI restoring .cache/) gives
    every file new metadata, and a key made of it sent every page of every CI build to be
    rendered again. They are few and small (27 files, 116 KB: under a millisecond)."""
    digest = hashlib.sha256()
    for name, path in files:
        try:
            data = path.read_bytes()
        except OSError:
            data = b"\0unreadable"
        digest.update(f"{name}\0{len(data)}\0".encode() + data)
    return digest.hexdigest()


_code_version: str | None = None


# Libraries whose version can change a page's bytes (Markdown's HTML, the sanitizer, ...).
LIBRARIES = ("Jinja2", "MarkupSafe", "Markdown", "nh3", "pydantic", "PyYAML", "pycountry")


def code_version() -> str:
    """The package's own source, Python's and the libraries' versions: a change to any of them
    invalidates everything reused."""
    global _code_version
    if _code_version is None:
        digest = hashlib.sha256(sys.version.encode())
        for name, version in library_versions(LIBRARIES).items():
            digest.update(f"{name}={version}\0".encode())
        for path in sorted(CODE.glob("*.py")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        _code_version = digest.hexdigest()
    return _code_version


def library_versions(names: tuple[str, ...]) -> dict[str, str]:
    """Each library's installed version ("none" if it is not installed), as importlib.metadata
    gives it: from the name of its metadata folder (`Jinja2-3.1.4.dist-info`) in the first
    folder on sys.path that has one. importlib.metadata itself answers for one not found so
    (an egg, a zip file): importing it and asking it took 14 ms of a build with nothing to do,
    a tenth of it, where listing the folders takes a fraction of a millisecond."""
    wanted = {_project(name): name for name in names}
    found: dict[str, str] = {}
    for folder in sys.path:
        try:
            with os.scandir(folder or ".") as entries:
                for entry in entries:
                    stem, dot, kind = entry.name.rpartition(".")
                    if kind == "dist-info" and dot:
                        project, dash, version = stem.partition("-")
                        name = wanted.get(_project(project)) if dash else None
                        if name is not None and name not in found:
                            found[name] = version
        except OSError:
            continue
        if len(found) == len(wanted):
            break
    missing = [name for name in names if name not in found]
    if missing:
        from importlib.metadata import PackageNotFoundError, version

        for name in missing:
            try:
                found[name] = version(name)
            except PackageNotFoundError:
                found[name] = "none"
    return {name: found[name] for name in names}


def _project(name: str) -> str:
    """A project name as the packaging standards compare them (PEP 503)."""
    return "-".join(part for part in name.lower().replace("_", "-").replace(".", "-").split("-") if part)


@dataclass
class InputState:
    """What the inputs look like now, from metadata only."""

    digest: str  # changes whenever anything that affects the output may have changed
    records: dict[str, tuple[int, int, int]]  # record folder entries (top level): path -> metadata
    racy: set[str]  # record files changed so recently that metadata alone cannot vouch for them
    settled: bool  # no input at all changed that recently: the digest can vouch for the inputs
    logos: str  # digest of the logos folder's metadata
    rules: str  # digest of programs.yaml's bytes
    templates: str  # digest of the templates and static files' paths and bytes
    # each file in the logos folder as a record names it ("logos/<file>") -> metadata; those
    # changed so recently that their metadata cannot vouch for their bytes (see `LogoCheck`)
    logo_files: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    racy_logos: frozenset[str] = frozenset()


# A file modified this close to the moment its metadata is read may be modified again within the
# same clock tick without its metadata changing ("racy" in git's words); such files are read again.
RACY_NS = 2_000_000_000


def input_state(paths: Paths, as_of: dt.date, base_url: str | None, search: bool) -> InputState:
    now = time.time_ns()
    records: dict[str, tuple[int, int, int]] = {}
    try:
        with os.scandir(paths.content) as entries:
            for entry in entries:
                if entry.is_file():
                    st = entry.stat()
                    records[entry.path] = (st.st_size, st.st_mtime_ns, st.st_ino)
    except OSError:
        pass
    logo_entries = _tree(paths.content / "logos")
    logos = hashlib.sha256(repr(logo_entries).encode()).hexdigest()
    try:
        rules = hashlib.sha256(paths.rules.read_bytes()).hexdigest()
    except OSError:
        rules = ""
    template_entries = _tree(paths.templates)
    template_files = [(name, paths.templates / name) for name, _ in template_entries]
    if not paths.static.is_relative_to(paths.templates):
        static = _tree(paths.static)
        template_entries += [("static/" + name, meta) for name, meta in static]
        template_files += [("static/" + name, paths.static / name) for name, _ in static]
    templates = _contents_digest(template_files)
    racy = {path for path, meta in records.items() if meta[1] > now - RACY_NS}
    recent = racy or any(meta[1] > now - RACY_NS for _, meta in logo_entries + template_entries)
    try:
        recent = recent or os.stat(paths.rules).st_mtime_ns > now - RACY_NS
    except OSError:
        pass
    # (marshal, not repr: a third of the time at 10,000 records; version 2 writes no
    # back-references, so equal inputs always give the same bytes. The names sorted apart
    # from their metadata: a third of the time of sorting the pairs.)
    names = sorted(records)
    digest = hashlib.sha256(marshal.dumps((
        names, list(map(records.__getitem__, names)), logos, rules, templates, code_version(),
        as_of.isoformat(), base_url, search, str(paths.content), str(paths.templates), os.getcwd(),
    ), 2)).hexdigest()
    logo_files = {"logos/" + path.replace(os.sep, "/"): meta for path, meta in logo_entries}
    racy_logos = frozenset(path for path, meta in logo_files.items() if meta[1] > now - RACY_NS)
    return InputState(digest, records, racy, not recent, logos, rules, templates, logo_files, racy_logos)


def out_stamp(out: Path) -> list[int] | None:
    """Identifies the output folder a build swapped in; any later swap or removal changes it."""
    try:
        st = os.stat(out)
        marker = os.stat(out / ".nojekyll")
    except OSError:
        return None
    return [st.st_ino, st.st_mtime_ns, marker.st_ino, marker.st_mtime_ns]


# ----------------------------------------------------------------------------------------------
# What the last successful build left, on disk


def _record_path(paths: Paths, out: Path) -> Path:
    name = hashlib.sha256(str(out.resolve()).encode()).hexdigest()[:16]
    return paths.cache / "build" / f"{name}.json"


def load_last(paths: Paths, out: Path) -> dict | None:
    """The last successful build into `out`, if the folder is still the one it wrote."""
    try:
        data = json.loads(_record_path(paths, out).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("out") != out_stamp(out):
        return None
    return data


def save_last(paths: Paths, out: Path, state: InputState, summary: dict, manifest: dict[str, str],
              search_pending: bool = False, stamp: list[int] | None = None) -> None:
    """Remember a successful build; a failure to write the record only costs the next build time.

    A fingerprint taken while some input had just changed cannot vouch for it later (the file
    may have changed again within the same clock tick), so such a record never means "nothing
    changed" (`settled`); nor does one whose search index is still to be made
    (`search_pending`, until `after_search`). `stamp` is the folder's as the build left it.
    """
    data = {"format": FORMAT, "digest": state.digest, "settled": state.settled,
            "out": stamp if stamp is not None else out_stamp(out),
            "summary": summary, "manifest": manifest}
    if search_pending:
        data["search_pending"] = True
    _write_record(paths, out, data)


def after_search(paths: Paths, out: Path, digest: str, stamp: list[int] | None, done: bool,
                 index: str | None) -> list[int] | None:
    """Update the record of the build whose pages a search index was made for (`digest`),
    after indexing, finished (`done`) or not.

    Indexing adds and renames folders in `out`, which changes its stamp: the record, written
    with the stamp the build left (`stamp`), takes the new one, or the next rebuild would not
    know the folder and would make everything again. Only once the index is made may the
    record vouch for the whole site. A record of another build, or of a folder someone else
    changed meanwhile, is left as it is. Returns the stamp the record now holds, if updated.
    """
    try:
        data = json.loads(_record_path(paths, out).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or stamp is None:
        return None
    if data.get("out") != stamp or data.get("digest") != digest:
        return None
    data["out"] = out_stamp(out)
    if done:
        data.pop("search_pending", None)
        if isinstance(data.get("summary"), dict):
            data["summary"]["index"] = index
    _write_record(paths, out, data)
    return data["out"]


def _write_record(paths: Paths, out: Path, data: dict) -> None:
    target = _record_path(paths, out)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _ignore_cache_folder(paths.cache)
        temporary = target.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
        from .write import replace

        replace(temporary, target)
    except OSError:
        pass


def forget_last(paths: Paths, out: Path) -> None:
    try:
        _record_path(paths, out).unlink()
    except OSError:
        pass


def _ignore_cache_folder(cache: Path) -> None:
    """The cache is never committed, even in a project whose .gitignore does not mention it."""
    ignore = cache / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n", encoding="utf-8")


# ----------------------------------------------------------------------------------------------
# What one process keeps between builds


@dataclass
class Memo:
    """Reusable results of earlier builds in this process, valid under `record_key`/`render_key`."""

    record_key: str = ""  # rules, as-of date, code: what checking a record depends on (and its logo)
    record_parts: tuple = ()  # (the record key's parts: see `_earlier_checks`)
    render_key: str = ""  # that, and templates, base URL and search: what a partner page depends on
    # record path -> (metadata, partner); slug -> (partner, award);
    # slug -> (partner, (page, card, partners.json entry, partners.csv row, page hash))
    records: dict[str, tuple[tuple[int, int, int], object]] = field(default_factory=dict)
    awards: dict[str, tuple[object, object]] = field(default_factory=dict)
    pages: dict[str, tuple] = field(default_factory=dict)
    # slug -> (partner, award, what listing pages may show of them); see listing_key
    listed: dict[str, tuple[object, object, str]] = field(default_factory=dict)
    listing: tuple[str, object] | None = None  # (listing_key, render.Listing) of the last build
    directory: tuple[str, object] | None = None  # (listing_key, pages.Directory) of the last build
    kept_pages: object | None = None  # render.KeptPages: each listing page as the last build made it
    kept_saved: object | None = None  # the KeptPages.pages last written to or read from the disk
    # (folder listing, `load.record_names`' answer)
    record_files: tuple[object, tuple[list[str], list]] | None = None
    views: dict[str, tuple] = field(default_factory=dict)  # for pages.directory(known=)
    # On disk, between processes (record_cache): the store for the current keys, each record
    # file's (metadata, content key) and each checked partner's content key by slug
    store: object | None = None
    content_keys: dict[str, tuple] = field(default_factory=dict)
    slug_keys: dict[str, str] = field(default_factory=dict)
    stored: dict[str, object] = field(default_factory=dict)  # content key -> checked entry as stored
    encoded: dict[str, tuple] = field(default_factory=dict)  # slug -> (partner, award, plain forms)
    links: dict[str, str] = field(default_factory=dict)  # site path -> hash: stored pages to link
    # slug -> (partner, award, recommend.summary): made with the cache entry, for Directory.summaries
    summaries: dict[str, tuple] = field(default_factory=dict)
    # stage -> the list of partners it last went through whole (see `changed_since`)
    seen: dict[str, list] = field(default_factory=dict)
    awarded: dict[str, object] | None = None  # the last build's awards by slug (`award_reusing`)
    saved_files: dict[str, tuple] | None = None  # the record files `save_checked` last kept
    # the partners of the last check, if it found no problem, in slug order, and each slug's place
    checked: tuple[list, dict[str, int]] | None = None
    review: tuple[frozenset[str], list[str]] | None = None  # (slugs removed, report) of the last build
    logos: LogoCheck | None = None  # the logos that passed, for the records folder it names
    # the logos folder's files when the last check ran, if their metadata vouched for them all
    logo_state: dict[str, tuple] | None = None

    def start(self, state: InputState, as_of: dt.date, base_url: str | None, search: bool) -> None:
        """Drop whatever the changed shared inputs make stale."""
        self.record_parts = (state.rules, as_of.isoformat(), code_version(), os.getcwd())
        record_key = repr(self.record_parts)
        render_key = repr((record_key, state.templates, base_url, search))
        if record_key != self.record_key:
            self.records.clear()
            self.awards.clear()
            self.views.clear()
            self.listed.clear()
            self.content_keys.clear()
            self.slug_keys.clear()
            self.stored.clear()
            self.summaries.clear()
            self.logos = self.logo_state = None
        if record_key != self.record_key or render_key != self.render_key:
            self.seen.clear()
            self.awarded = self.review = self.saved_files = self.checked = None
        if render_key != self.render_key:
            self.pages.clear()
            self.listing = None
            self.directory = None
            self.kept_pages = None
            self.kept_saved = None
            self.store = None
        self.record_key, self.render_key = record_key, render_key

    def store_for(self, cache_folder: Path):
        """The on-disk record cache under the current keys (`record_cache.Store`)."""
        from .record_cache import Store

        if self.store is None or self.store.root != cache_folder / "records":
            self.store = Store(cache_folder, self.record_key, self.render_key)
        return self.store

    def forget(self, paths: list[Path]) -> None:
        for path in paths:
            self.records.pop(str(path), None)

    def checked_from(self, name: str, meta: tuple, racy: set[str]):
        """The partner this build checked from the record file `name` (whose metadata was
        `meta`), or None. A file changed in the last moments (`racy`) is read by every build and
        kept out of `records`, whose metadata must vouch for a file: its partner is the one
        awarded under its file's name (a file's slug is its name)."""
        hit = self.records.get(name)
        if hit is not None and hit[0] == meta:
            return hit[1]
        if name in racy:
            awarded = self.awards.get(Path(name).stem)
            return awarded[0] if awarded is not None else None
        return None

    def changed_since(self, stage: str, partners: list) -> list | None:
        """The partners of `partners` that are not the very objects `stage` last went through
        whole (`seen`), or None when it never did, a slug came or went, or many changed: then
        it goes through them all.

        In a process that keeps its builds (serve), an edit changes one partner of 10,000, yet
        each stage that looked at every partner to find the ones whose results it had not kept
        took 10-40 ms: together, most of a rebuild after an edit (see `delta`).
        """
        pairs = delta.edited(partners, self.seen.get(stage))
        if pairs is None or any(new.slug != old.slug for new, old in pairs):
            return None
        return [new for new, _ in pairs]

    def went_through(self, stage: str, partners: list) -> None:
        """`stage` has brought its part of the memo up to date for every partner of `partners`."""
        self.seen[stage] = partners


_MEMOS: dict[str, Memo] = {}


def memo_for(out: Path) -> Memo:
    return _MEMOS.setdefault(str(out.resolve()), Memo())


def forget_memo(out: Path) -> None:
    """Drop what this process kept of builds into `out`: the next one starts from the disk."""
    _MEMOS.pop(str(out.resolve()), None)


# ----------------------------------------------------------------------------------------------
# The check and award stages, reusing what the memo holds


class LogoCheck:
    """Whether a partner kept from an earlier check may be reused as far as its logo goes.

    Checking a record reads its logo file (`validate._logo`: its type, its size, an SVG's
    bytes), yet a partner whose logo passed holds nothing of the file's bytes, so the logos are
    not part of the key checked partners are kept under: while they were, adding any file to
    the logos folder had all 10,000 records checked and rendered again (9 s instead of 1 s).
    Instead each logo that passed is kept with the metadata and the digest of the bytes it had
    then (`verified`, in logos.bin beside files.bin), and a kept partner is reused only while
    its logo still has that metadata, or, with new metadata (a fresh checkout in CI), those
    bytes; otherwise its record is checked again, as if edited. A logo changed in the last
    moments (`RACY_NS`) is never taken as passed: it may change again unseen. Its bytes are
    read only when it passes and when its metadata changed, and taken only while the file's
    metadata is still the one the build started with (a file replaced meanwhile is not the
    one checked).
    """

    def __init__(self, content: str, verified: dict[str, tuple]) -> None:
        self.content = content  # the records folder, as logos are named from it
        self.verified = verified  # logo as records name it -> (metadata, digest) when it passed

    def _digest(self, logo: str, meta: tuple) -> str | None:
        """The digest of the logo's bytes, if the file still has the metadata `meta`."""
        path = os.path.join(self.content, logo)
        try:
            with open(path, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            return digest if _stat(path) == meta else None
        except OSError:
            return None

    def stale_in(self, state: InputState) -> Callable[[str | None], bool]:
        """Whether a partner with this logo (or None) must be checked again."""
        verified, files, racy = self.verified, state.logo_files, state.racy_logos

        def stale(logo: str | None) -> bool:
            if logo is None:
                return False
            known, meta = verified.get(logo), files.get(logo)
            if known is None or meta is None or logo in racy:
                return True
            if known[0] == meta:
                return False
            if self._digest(logo, meta) != known[1]:
                return True
            verified[logo] = (meta, known[1])  # (the same bytes: a fresh checkout)
            return False
        return stale

    def passed(self, logos: Iterable[str | None], state: InputState) -> None:
        """These logos passed the check of records read after `state` was taken."""
        files, racy = state.logo_files, state.racy_logos
        for logo in set(logos):
            if logo is None or logo in racy or (meta := files.get(logo)) is None:
                continue
            known = self.verified.get(logo)
            if known is None or known[0] != meta:
                digest = self._digest(logo, meta)
                if digest is not None:
                    self.verified[logo] = (meta, digest)

    def kept(self, state: InputState) -> dict[str, tuple]:
        """What to keep on disk: the logos that passed and have not changed since."""
        files = state.logo_files
        return {logo: known for logo, known in sorted(self.verified.items()) if files.get(logo) == known[0]}


def logo_check(memo: Memo, store, content: Path) -> LogoCheck:
    if memo.logos is None or memo.logos.content != str(content):
        verified = store.known_logos(str(content)) if store is not None else {}
        if not verified and store is not None and store.checked.empty():
            # (a new day's first build: the logos that passed the day before pass today, as
            # nothing about a logo's check depends on the date; see `_rechecked`)
            earlier = _earlier_checks(store, memo)
            verified = earlier.known_logos(str(content)) if earlier is not None else {}
        memo.logos = LogoCheck(str(content), verified)
    return memo.logos


def check_reusing(paths: Paths, as_of: dt.date, memo: Memo, state: InputState) -> Checked:
    """`check.check`, re-reading and re-checking only record files whose metadata changed.

    The first build of a process takes what it can from the on-disk record cache (records
    whose bytes were checked before under the same rules, logos, as-of date and code) and runs
    the ordinary (parallel) check on the rest; later ones check changed files one by one. Then
    the one check that spans records, that no two share a slug, exactly as `validate` words it.
    """
    from .check import Checked, check_files
    from .load import read_record, record_names, shown_paths
    from .problems import Problem, ProblemError
    from .record_cache import content_key
    from .rules import load_rules
    from .validate import validate

    try:
        rules = load_rules(paths.rules)
    except ProblemError as e:
        return Checked(None, [], e.problems)
    # (the folder's entries compared as sets, not sorted: 10,000 names)
    listing = (str(paths.content), state.records.keys())
    if memo.record_files is None or memo.record_files[0] != listing:
        memo.record_files = (listing, record_names(paths.content))
    names, problems = memo.record_files[1]
    problems = list(problems)
    partners: list[Partner] = []
    kept: dict[str, tuple[tuple[int, int, int], object]] = {}
    store = memo.store_for(paths.cache)
    logos = logo_check(memo, store, paths.content)
    # Kept partners are reused only with their logos as they passed (`LogoCheck`): all of them
    # asked when the logos folder changed, or the last check cannot vouch for it.
    stale_logo = logos.stale_in(state) \
        if not memo.records or memo.logo_state is None or memo.logo_state != state.logo_files else None
    memo.logo_state = None  # (until this check is done)
    fresh: list[Partner] = []  # the partners checked now, not kept
    if not memo.records:
        names = _from_disk(store, names, state, memo, partners, kept, stale_logo, rules, as_of)
        files = [Path(name) for name in names]
        if len(files) > 1:
            read_keys: dict[str, str] = {}
            found, problems = check_files(paths.content, files, problems, rules, as_of,
                                          each=_awarding(memo, rules, as_of), key=content_key, keys=read_keys,
                                          hand_over=_handing_over(memo, rules, as_of))
            for name, key in read_keys.items():  # (the keys of the bytes checked)
                memo.content_keys[name] = (state.records.get(name), key)
            by_source = {p.source: p for p in found}
            # shown_paths resolves each folder once: relative() on each of 10,000 files took a second
            for key, shown in zip(names, shown_paths(files), strict=True):
                partner = by_source.get(shown)
                if partner is not None and key in state.records and key not in state.racy:
                    kept[key] = (state.records[key], partner)
            partners += found
            fresh += found
            files, names = [], []
    else:
        files = names  # (a Path is made of those read below)
        content_keys(names, state, memo)
        edited = _check_edited(paths, rules, as_of, memo, state, names, stale_logo) if not problems else None
        if edited is not None:
            return edited
    meta_of, hit_of, racy = state.records.get, memo.records.get, state.racy
    for path, key in zip(files, names, strict=True):
        hit = hit_of(key)
        if hit is not None and hit[0] == meta_of(key) and key not in racy and \
                (stale_logo is None or not stale_logo(hit[1].logo)):  # (no metadata: not equal)
            partners.append(hit[1])  # type: ignore[arg-type]
            kept[key] = hit
            continue
        meta = meta_of(key)
        raw = read_record(Path(path), rules.limits.record_max_bytes, key=content_key)
        if isinstance(raw, Problem):
            problems.append(raw)
            continue
        memo.content_keys[key] = (meta, raw.key)  # (the key of the bytes checked)
        found, found_problems = validate([raw], rules, as_of, paths.content)
        problems += found_problems
        if found and meta is not None and key not in state.racy:
            kept[key] = (meta, found[0])
        partners += found
        fresh += found
    memo.records = kept
    _logos_checked(memo, logos, fresh, state)
    by_slug: dict[str, Partner] = {}
    for partner in partners:
        first = by_slug.get(partner.slug)
        if first is not None:
            problems.append(Problem(partner.source, 1, 1, "slug",
                                    f"the slug '{partner.slug}' is already used by {first.source}",
                                    "each partner needs its own slug and file name"))
        else:
            by_slug[partner.slug] = partner
    problems = sorted(problems, key=lambda p: (p.path, p.line, p.column))
    checked = Checked(rules, sorted(by_slug.values(), key=attrgetter("slug")), problems)
    memo.checked = None
    if checked.ok:
        memo.checked = (checked.partners, {p.slug: i for i, p in enumerate(checked.partners)})
    return checked


def _check_edited(paths: Paths, rules: Rules, as_of: dt.date, memo: Memo, state: InputState,
                  names: list[str], stale_logo: Callable[[str | None], bool] | None) -> Checked | None:
    """`check_reusing` for the same record files as the last check, which found no problem,
    a few of them edited: those are read and checked again and put in their partners' places,
    as each file's slug is its name's. None, with the memo as it was, for anything else (a
    file added, a slug or a problem in an edited file): the ordinary check says what."""
    from .check import Checked
    from .load import read_record
    from .problems import Problem
    from .record_cache import content_key
    from .validate import validate

    if memo.checked is None:
        return None
    last, place = memo.checked
    if len(last) != len(names):
        return None
    meta_of, records, racy = state.records.get, memo.records, state.racy
    # (a file too recent to vouch for by its metadata is never kept: it is read on every build)
    stale = [i for i, name in enumerate(names)
             if (hit := records.get(name)) is None or hit[0] != meta_of(name) or name in racy
             or (stale_logo is not None and stale_logo(hit[1].logo))]  # type: ignore[attr-defined]
    if len(stale) > delta.MOST_CHANGED:
        return None
    partners = list(last)
    kept = dict(records)
    keys = {}
    fresh = []
    for i in stale:
        name = names[i]
        meta = meta_of(name)
        path = Path(name)
        raw = read_record(path, rules.limits.record_max_bytes, key=content_key)
        if isinstance(raw, Problem):
            return None
        found, problems = validate([raw], rules, as_of, paths.content)
        if problems or len(found) != 1 or place.get(found[0].slug) is None or found[0].slug != path.stem:
            return None
        partners[place[found[0].slug]] = found[0]
        fresh.append(found[0])
        keys[name] = (meta, raw.key)
        if meta is not None and name not in racy:
            kept[name] = (meta, found[0])
        else:
            kept.pop(name, None)
    if len(kept) > len(names):  # (a file gone whose partner another file now gives: a.yaml to a.md)
        kept = {name: kept[name] for name in names if name in kept}
    memo.records = kept
    memo.content_keys.update(keys)  # (the keys of the bytes checked)
    memo.checked = (partners, place)
    _logos_checked(memo, memo.logos, fresh, state)  # type: ignore[arg-type]
    return Checked(rules, partners, [])


def _logos_checked(memo: Memo, logos: LogoCheck, fresh: list, state: InputState) -> None:
    """The logos of the partners just checked passed; every partner kept now passed with the
    logos as they are (when none is too recent to vouch for)."""
    logos.passed((partner.logo for partner in fresh), state)
    memo.logo_state = state.logo_files if not state.racy_logos else None


def _from_disk(store, names: list[str], state: InputState, memo: Memo, partners: list,
               kept: dict, stale_logo: Callable[[str | None], bool] | None, rules: Rules,
               as_of: dt.date) -> list[str]:
    """Partners of the record files the on-disk cache holds, added to `partners` and `kept`
    (and their awards, views and listing digests to the memo); the files still to check: not
    held, or their logos changed since they passed (`LogoCheck`)."""
    from .record_cache import no_gc

    if not memo.content_keys:
        memo.content_keys = {name: (tuple(meta), key) for name, (meta, key) in store.known_files().items()}
    if not memo.content_keys and store.checked.empty():
        earlier = _earlier_checks(store, memo)
        if earlier is not None:
            return _rechecked(earlier, names, state, memo, partners, kept, stale_logo, rules, as_of)
        # Nothing checked before under these keys: every file is read and checked, and its
        # key made from the bytes read then (`check_files`), not by reading it once more first.
        # (A build that read every file in the moment it was written keeps its records with no
        # file's metadata vouching for them: their keys are made by reading the files first.)
        return list(names)
    content_keys(names, state, memo)
    keys = {name: key for name, (_, key) in memo.content_keys.items()}
    decoders = _decoders()
    todo = []
    with no_gc():
        entries = store.checked.load(keys.values())
        for name in names:
            key = keys.get(name)
            entry = entries.get(key) if key is not None else None
            try:
                partner = _adopt(memo, entry, decoders)  # type: ignore[arg-type]
            except Exception:  # not stored, or stored in a shape this code cannot read: check it
                todo.append(name)
                continue
            if stale_logo is not None and stale_logo(partner.logo):
                todo.append(name)  # (what `_adopt` put in the memo is replaced as it is checked)
                continue
            _taken(memo, state, partners, kept, name, key, entry, partner)  # type: ignore[arg-type]
        if len(partners) > 1000:
            gc.freeze()  # millions of objects that live as long as the build: never scan them
    return todo


def _earlier_checks(store, memo: Memo):
    """The record cache of the latest earlier as-of date under the same rules and code, if the
    cache holds one (`record_cache.Store.earlier`).

    Every check that involves the date refuses a date after it (joined, issued, completed, a
    year of sales), so a record that passed on one day passes on every later one, and the
    partner it gives holds nothing of the date: only its award, card, summary and listing
    digest must be made again. A build on the next day (the as-of date defaults to today:
    CI's first build of the day, an editor's) then rechecks nothing it checked the day before.
    An earlier store is never used for an earlier as-of date than its own."""
    rules, as_of, code, cwd = memo.record_parts

    def rank(key: str) -> str | None:
        try:
            other = ast.literal_eval(key)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return None
        if not (isinstance(other, tuple) and len(other) == 4 and isinstance(other[1], str)):
            return None
        same = other[0] == rules and other[2] == code and other[3] == cwd
        return other[1] if same and len(other[1]) == len(as_of) and other[1] < as_of else None

    return store.earlier(rank)


def _rechecked(earlier, names: list[str], state: InputState, memo: Memo, partners: list, kept: dict,
               stale_logo: Callable[[str | None], bool] | None, rules: Rules, as_of: dt.date) -> list[str]:
    """`_from_disk` for a new as-of date: the partners an earlier date's check kept
    (`_earlier_checks`), each given a new award, card view, summary and cache entry, on every
    core (a fifth of the CPU of checking it from its file); the files still to check.

    At 10,000 partners the check of a new day's first build took 3.6 s, as on a build from
    nothing, and takes 2.0 s like this (half of it decoding the partners)."""
    from . import parallel
    from .record_cache import no_gc

    memo.content_keys = {name: (tuple(meta), key) for name, (meta, key) in earlier.known_files().items()}
    content_keys(names, state, memo)  # (files whose metadata changed are read for their keys)
    keys = {name: key for name, (_, key) in memo.content_keys.items()}
    with no_gc():
        entries = earlier.checked.load(keys.values())
    todo = []
    found: list[tuple[str, tuple]] = []
    for name in names:
        entry = entries.get(keys.get(name, ""))
        if entry is None or (stale_logo is not None and stale_logo(_logo_of(entry))):
            todo.append(name)
        else:
            found.append((name, entry))
    count = parallel.workers() if len(found) >= parallel.MIN_PARTNERS else 1
    spans = parallel.spans(len(found), count * 16)

    def job(span: tuple[int, int]) -> list:  # (workers get positions, not pickled entries)
        decode = _decoders()[0]
        made = []
        for _, (blob, _, _) in found[span[0]:span[1]]:
            try:
                data = marshal.loads(blob)
                partner = decode(data)
            except Exception:  # stored in a shape this code cannot read: check the file
                made.append(None)
                continue
            made.append(_finished(partner, rules, as_of, (blob, data))[3])
        return made

    decoders = _decoders()
    made_by_span: list = [None] * len(spans)
    with no_gc():
        for index, made in parallel.fork_share(job, spans, count - 1):
            made_by_span[index] = made
        # (in the files' order, as a check from nothing adds them: which of two files giving
        # one slug comes first decides which the slug problem names)
        unreadable = set()
        for (name, _), entry in zip(found, (entry for made in made_by_span for entry in made), strict=True):
            if entry is None:
                unreadable.add(name)
                continue
            _taken(memo, state, partners, kept, name, keys[name], entry, _adopt(memo, entry, decoders))
        if len(partners) > 1000:
            gc.freeze()
    if unreadable:
        unreadable.update(todo)
        todo = [name for name in names if name in unreadable]
    return todo


def _taken(memo: Memo, state: InputState, partners: list, kept: dict, name: str, key: str, entry: tuple,
           partner: StoredPartner) -> None:
    """A partner taken from a cache entry (`_adopt`) for the record file `name`: one of this
    build's, its entry kept under `key`, and its file vouched for by its metadata if it can be."""
    partners.append(partner)
    memo.stored[key] = entry
    meta = state.records.get(name)
    if meta is not None and name not in state.racy:
        kept[name] = (meta, partner)


def _logo_of(entry: tuple) -> str | None:
    """A cache entry's logo, read from its head alone (see `_entry`)."""
    try:
        return marshal.loads(entry[2])[7]
    except Exception:  # (its partner is decoded, or found unreadable, with the rest)
        return None


def _decoders() -> tuple:
    """The decoders of a cache entry's partner, award and card view (`plain_data.codec`)."""
    from .award import Award as AwardType
    from .pages import PartnerView
    from .plain_data import codec
    from .validate import Partner as PartnerType

    return tuple(codec(c)[1] for c in (PartnerType, AwardType, PartnerView))


def _adopt(memo: Memo, entry: tuple[bytes, str, bytes], decoders: tuple) -> StoredPartner:
    """The partner of a cache entry (read from the cache, or made by a worker of the check),
    with its award, card view, listing digest and summary put in the memo as if this process
    had checked it: the partner and award are decoded only when something asks for more of
    them (`StoredPartner`)."""
    blob, listed, head = entry
    slug, source, award_blob, view_data, shallow, summary, removed, logo = marshal.loads(head)
    partner = StoredPartner(slug, source, blob, decoders[0], shallow, logo)
    award = StoredAward(award_blob, decoders[1], removed)
    memo.awards[slug] = (partner, award)
    memo.listed[slug] = (partner, award, listed)
    memo.encoded[slug] = (partner, award, entry)
    if view_data is not None:
        memo.views[slug] = (partner, award, decoders[2](view_data))
    if summary is not None:
        memo.summaries[slug] = (partner, award, summary)
    return partner


class StoredPartner:
    """A checked partner read back from the record cache, decoded only when something needs
    more of it than its slug, file and listed fields (`StoredPartner.__getattr__`).

    Decoding 10,000 partners with their certifications and projects took most of a second; a
    build whose listings are unchanged (CI with a restored cache and no site, an edited
    description) needs no more of an unchanged partner than its slug, file, award, card and
    stored page, and a build whose listings changed needs only the fields listings show (its
    name, places, programs, ...: all but `_HEAVY`), which are kept apart and decoded alone.
    Anything else asked of it (its evidence, a pydantic method) is answered by the decoded
    partner, so it reads like one; only `isinstance` tells them apart.
    """

    # The listed fields get a slot each, empty until one is read (`__getattr__` fills them all):
    # read like any attribute after that, as the listings read 200,000 of them.
    __slots__ = ("slug", "source", "_blob", "_decode", "_partner", "_shallow",
                 "name", "website", "logo", "joined", "programs", "headquarters", "countries_served",
                 "regions_served", "remote_delivery", "expertise", "industries", "languages", "contact",
                 "format")

    def __init__(self, slug: str, source: str, blob: bytes, decode, shallow: bytes | None,
                 logo: str | None) -> None:
        self.slug = slug
        self.source = source
        self.logo = logo  # (every build asks it of every partner: `LogoCheck`)
        self._blob = blob
        self._decode = decode
        self._partner = None
        self._shallow = shallow  # the listed fields' plain values, in `_shallow_plan` order, marshalled

    def __getattr__(self, name: str):  # (only for what is not set: see __slots__)
        shallow = self._shallow
        if shallow is not None and self._partner is None:
            plan = _shallow_plan()
            if name in plan:
                self._shallow = None
                shallow = marshal.loads(shallow)
                for field_name, (i, decode) in plan.items():
                    object.__setattr__(self, field_name, decode(shallow[i]))
                return object.__getattribute__(self, name)
        return getattr(self._decoded(), name)

    def _decoded(self):
        partner = self._partner
        if partner is None:
            partner = self._partner = self._decode(marshal.loads(self._blob))
            self._blob = b""
            self._shallow = None
        return partner

    whole = _decoded  # (see `pages.whole`)

    def __repr__(self) -> str:
        return f"StoredPartner({self.slug!r})"


class StoredAward:
    """An award read back from the record cache, decoded when something asks more of it than
    whether the January review removed the partner (all a listing asks of an unchanged
    partner's award: its card's view, listing digest and summary are stored made). Decoding
    10,000 awards took a sixth of a second, and reading their plain values (kept apart, as a
    blob) 30 ms of an edit's rebuild."""

    __slots__ = ("removed", "_data", "_decode", "_award")

    def __init__(self, data: bytes, decode, removed: bool) -> None:
        self.removed = removed
        self._data = data  # the award's plain values, marshalled
        self._decode = decode
        self._award = None

    def __getattr__(self, name: str):
        return getattr(self.whole(), name)

    def whole(self):
        """The award decoded (see `pages.whole`)."""
        award = self._award
        if award is None:
            award = self._award = self._decode(marshal.loads(self._data))
            self._data = None
        return award

    def __repr__(self) -> str:
        return f"StoredAward({self.slug!r})"


# Fields a listing may read of every partner (cards, facets, place pages, directory.json, the
# review report) are kept apart: all but these, the description and the evidence, which only the
# partner's own page, its open data and its recommendation summary read (those are stored made).
_HEAVY = ("description", "certifications", "projects", "subscription_sales")
_SHALLOW_PLAN: list[dict[str, tuple[int, object]]] = []


def _shallow_plan() -> dict[str, tuple[int, object]]:
    """Listed field name -> (its place among the values kept apart, how to decode it); empty
    (every partner is then decoded whole) if the model's fields are not `StoredPartner`'s slots."""
    if not _SHALLOW_PLAN:
        from .plain_data import field_decoders
        from .validate import Partner as PartnerType

        decoders = field_decoders(PartnerType)
        names = [n for n in PartnerType.model_fields if n not in _HEAVY]
        slots = set(StoredPartner.__slots__) - {"_blob", "_decode", "_partner", "_shallow"}
        plan = {n: (i, decoders[n]) for i, n in enumerate(names) if n not in ("slug", "source")}
        _SHALLOW_PLAN.append(plan if set(names) == slots else {})
    return _SHALLOW_PLAN[0]


def _shallow_values(partner_data: tuple) -> list:
    """The plain values of the shallow fields, from a partner's `plain_data` form."""
    from .validate import Partner as PartnerType

    values = partner_data[0]
    return [v for n, v in zip(PartnerType.model_fields, values, strict=True) if n not in _HEAVY]


def _materialise(partners: list, memo: Memo) -> None:
    """Every `StoredPartner` among `partners` decoded and put in its place, in the list and in
    the memo, for a build that reads every partner (its listings changed): decoding them all at
    once, without the collector, is several times quicker than one by one as they are read."""
    from .record_cache import no_gc

    stored = [p for p in partners if type(p) is StoredPartner]
    if not stored:
        return
    with no_gc():
        real = {id(p): p._decoded() for p in stored}
        if len(stored) > 1000:
            gc.freeze()  # millions of objects that live as long as the build: never scan them
    partners[:] = [real.get(id(p), p) for p in partners]
    for kept in (memo.awards, memo.listed, memo.encoded, memo.views, memo.pages, memo.summaries):
        for slug, entry in kept.items():
            if id(entry[0]) in real:
                kept[slug] = (real[id(entry[0])], *entry[1:])
    memo.records = {name: (meta, real.get(id(p), p)) for name, (meta, p) in memo.records.items()}
    del stored  # (kept until here: their ids stay theirs)


def _meta(name: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(name)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino


def content_keys(names: list[str], state: InputState, memo: Memo) -> None:
    """Each record file's content key (by its name), reading again only files whose metadata changed."""
    known, meta_of, racy = memo.content_keys, state.records.get, state.racy
    todo = [name for name in names
            if (hit := known.get(name)) is None or hit[0] != meta_of(name) or name in racy]
    if len(known) == len(names) and all(name in known for name in todo):
        # The same files, a few changed (an edit): their keys made again in place.
        made = list(zip(todo, _read_keys(todo), strict=True))
        if all(key is not None for _, key in made):
            keys = dict(known)
            keys.update((name, (meta_of(name), key)) for name, key in made)
            memo.content_keys = keys
            return
    keys: dict[str, tuple | None] = {}
    for name in names:
        meta = state.records.get(name)
        hit = memo.content_keys.get(name)
        if hit is not None and meta is not None and hit[0] == meta and name not in state.racy:
            keys[name] = hit
        else:
            keys[name] = None  # read below, in this order
    todo = [name for name, hit in keys.items() if hit is None]
    for name, key in zip(todo, _read_keys(todo), strict=True):
        keys[name] = (state.records.get(name), key) if key is not None else None
    memo.content_keys = {name: hit for name, hit in keys.items() if hit is not None}


def _read_keys(names: list[str]) -> list[str | None]:
    """The content key of each file (None where it cannot be read). A cold build reads all
    10,000 records here before checking them: on every core, as one took 0.4 s."""
    from . import parallel
    from .record_cache import content_key

    def job(chunk: list[str]) -> list[str | None]:
        made: list[str | None] = []
        for name in chunk:
            try:
                with open(name, "rb") as f:
                    made.append(content_key(name, f.read()))
            except OSError:
                made.append(None)
        return made

    count = parallel.workers() if len(names) >= parallel.MIN_PARTNERS else 1
    return [key for made in parallel.fork_map(job, parallel.chunks(names, count * 4), count) for key in made]


def encode_new(partners: list[Partner], awards: dict[str, Award], rules: Rules, as_of: dt.date,
               memo: Memo) -> None:
    """The cache entry (and listing digest) of every partner not read from the cache or seen by
    an earlier build of this process, made by this process and a forked worker together when
    there are many (`parallel.fork_share`): a cold build of 10,000 partners would otherwise
    spend seconds here on one core. This process owns the partners' memory and does its share
    without the copy-on-write faults a forked worker pays on every page of them it touches:
    with forked workers only, the step took 1.2-1.35 s of a cold build at 10,000 partners, and
    1.0-1.15 s like this. Each entry is one marshal blob, far smaller in memory than the tuples
    it holds. The recommendation summaries made with them go to `memo.summaries` (the render
    stage needs them too)."""
    from . import parallel
    from .record_cache import no_gc

    encoded = memo.encoded
    changed = memo.changed_since("encode", partners)
    todo = [p for p in (partners if changed is None else changed)
            if (hit := encoded.get(p.slug)) is None or hit[0] is not p or hit[1] is not awards[p.slug]]
    if not todo:
        memo.went_through("encode", partners)
        return

    def view(p: Partner):  # made with the award as the record was checked (see `_awarding`)
        hit = memo.views.get(p.slug)
        return hit[2] if hit is not None and hit[0] is p and hit[1] is awards[p.slug] else None

    def job(span: tuple[int, int]) -> list:  # workers get positions, not pickled partners
        made = []
        for p in todo[span[0]:span[1]]:
            summary = _summary(p, awards[p.slug], rules, as_of)
            made.append((_entry(p, awards[p.slug], rules, as_of, view(p), summary), summary))
        return made

    count = parallel.workers() if len(todo) >= parallel.MIN_PARTNERS else 1
    if count == 1:  # (a few edited partners: their views are made here once, for the directory too)
        from .pages import partner_view

        for p in todo:
            if not awards[p.slug].removed and view(p) is None:
                memo.views[p.slug] = (p, awards[p.slug], partner_view(p, awards[p.slug], rules))
    spans = parallel.spans(len(todo), count * 16)
    with no_gc():
        for index, made in parallel.fork_share(job, spans, count - 1):
            first, end = spans[index]
            for p, (entry, summary) in zip(todo[first:end], made, strict=True):
                award = awards[p.slug]
                memo.encoded[p.slug] = (p, award, entry)
                if summary is not None:
                    memo.summaries[p.slug] = (p, award, summary)
    memo.went_through("encode", partners)


def _entry(partner: Partner, award: Award, rules: Rules, as_of: dt.date, view: object = None,
           summary: dict | None = None,
           stored: tuple[bytes, tuple] | None = None) -> tuple[bytes, str, bytes]:
    """What the cache keeps of a checked record: the partner in `plain_data` form as one marshal
    blob, the digest of what listings show of it, and as another its slug, file, award, card's
    view, the fields listings read (`StoredPartner`: most builds never need the rest) and its
    recommendation summary (listed partners only). `view` and `summary` are passed when made,
    and `stored`, the partner's blob and its plain data, when it was decoded from one."""
    from .pages import PartnerView, partner_view
    from .plain_data import codec

    partner_data, award_data, listed = _encode(partner, award, stored[1] if stored else None)
    view = None if award.removed else codec(PartnerView)[0](view or partner_view(partner, award, rules))
    if summary is None:
        summary = _summary(partner, award, rules, as_of)
    # The award and the listed fields are blobs of their own: a build reads every partner's
    # card view and summary, but the award and fields of those the January review removed only.
    return (stored[0] if stored else marshal.dumps(partner_data), listed,
            marshal.dumps((partner.slug, partner.source, marshal.dumps(award_data), view,
                           marshal.dumps(_shallow_values(partner_data)), summary, bool(award.removed),
                           partner.logo)))


def _summary(partner: Partner, award: Award, rules: Rules, as_of: dt.date) -> dict | None:
    """The partner's recommendation summary (`recommend.summary`), None if it is not listed."""
    from .recommend import summary

    return None if award.removed else summary(partner, award, rules, as_of)


def _encode(partner: Partner, award: Award, partner_data: tuple | None = None) -> tuple:
    from .award import Award as AwardType
    from .plain_data import codec
    from .validate import Partner as PartnerType

    if partner_data is None:
        partner_data = codec(PartnerType)[0](partner)
    award_data = codec(AwardType)[0](award)
    values = list(partner_data[0])
    values[_description_index()] = None  # listing pages never show it; see listing_key
    # (marshal's version 2 writes values alone, never references that depend on which objects
    # are shared, so the digest is the same in every process; repr took three times as long)
    listed = hashlib.blake2b(marshal.dumps((values, award_data), 2), digest_size=16).hexdigest()
    return partner_data, award_data, listed


def _description_index() -> int:
    from .validate import Partner as PartnerType

    return list(PartnerType.model_fields).index("description")


def save_checked(memo: Memo, partners: list[Partner], awards: dict[str, Award], state: InputState,
                 later: bool = False) -> Callable[[], None] | None:
    """Keep every checked partner of this build on disk, under its record file's content key.

    A file whose metadata changed since the build read it is not kept: the bytes checked may
    not be the bytes its key was made from. With `later`, the memo is brought up to date now
    and the files are written by the function returned (a build from nothing has it called
    while its workers render: 60 MB at 10,000 partners, a quarter of a second).
    """
    store = memo.store
    if store is None:
        return None
    changed = memo.changed_since("save", partners) if memo.saved_files is not None else None
    names = None
    if changed is not None:
        # Only the files of the partners that changed can be kept otherwise than the last
        # build kept them. (A file too recent to vouch for is read again by every build, so
        # its partner is always a changed one: `state.racy`.)
        ids = {id(p) for p in changed}
        names = [name for name, hit in memo.records.items() if id(hit[1]) in ids]
        if len(names) != len(changed):
            names = None
    by_slug = {p.slug: p for p in (partners if names is None else changed)}  # type: ignore[union-attr]
    if names is not None:
        entries = dict(memo.stored)
        files = dict(memo.saved_files)  # type: ignore[arg-type]
        slug_keys = dict(memo.slug_keys)
        for name in names:
            files.pop(name, None)
        for slug in by_slug:
            entries.pop(slug_keys.pop(slug, ""), None)
        visit = [(name, memo.content_keys[name]) for name in names if name in memo.content_keys]
    else:
        entries, files, slug_keys = {}, {}, {}
        visit = memo.content_keys.items()  # type: ignore[assignment]
    for name, (meta, key) in visit:
        # (A racy file's entry is kept too: it is good under the key of the bytes checked, and
        # only `files` must not map the file's metadata to that key. A build made at once after
        # every record was written, by a script that copies them, then leaves the next build
        # nothing to check.)
        partner = memo.checked_from(name, meta, state.racy) if meta is not None else None
        if partner is None or by_slug.get(partner.slug) is not partner:  # (or a slug two records claim)
            continue
        stored = memo.stored.get(key)
        if stored is None:
            if _meta(name) != meta:
                continue  # changed while this build read it
            made = memo.encoded.get(partner.slug)
            if made is None or made[0] is not partner or made[1] is not awards[partner.slug]:
                continue
            stored = made[2]
        slug_keys[partner.slug] = key
        entries[key] = stored
        if name not in state.racy:
            files[name] = (meta, key)
    memo.slug_keys = slug_keys
    memo.stored = entries
    if names is None:
        memo.encoded = {slug: made for slug, made in memo.encoded.items() if by_slug.get(slug) is made[0]}
    memo.saved_files = files
    memo.went_through("save", partners)

    check = memo.logos
    logos = check.kept(state) if check is not None else {}

    def write() -> None:
        store.checked.save(entries)
        store.save_files(files)
        if check is not None:
            store.save_logos(check.content, logos)

    if later:
        return write
    write()
    return None


def _handing_over(memo: Memo, rules: Rules, as_of: dt.date):
    """What a worker of the check makes of the partners it checked (`check.HandOver`): their
    cache entries, which hold their awards, card views and summaries too, as `_awarding` makes
    them here; this process adopts those as it does entries read from the cache."""
    from .check import HandOver

    def encode(partners: list[Partner]) -> list[tuple[bytes, str, bytes]]:
        return [_finished(partner, rules, as_of)[3] for partner in partners]

    def adopt(entries: list[tuple[bytes, str, bytes]]) -> list[Partner]:
        decoders = _decoders()
        return [_adopt(memo, entry, decoders) for entry in entries]  # type: ignore[misc]

    return HandOver(encode, adopt)


def _awarding(memo: Memo, rules: Rules, as_of: dt.date):
    """Awards, card views, summaries and cache entries made for each batch of records as it is
    checked (`check_files`), for `award_reusing`, `encode_new` and `directory_reusing` to find in
    the memo: the main process makes them while the workers read, instead of after the check on
    one core (two seconds at 10,000), or on two (`encode_new`: a second)."""
    def each(partners: list[Partner]) -> None:
        for partner in partners:
            slug = partner.slug
            made, view, summary, entry = _finished(partner, rules, as_of)
            memo.awards[slug] = (partner, made)
            if view is not None:
                memo.views[slug] = (partner, made, view)
            memo.encoded[slug] = (partner, made, entry)
            if summary is not None:
                memo.summaries[slug] = (partner, made, summary)
    return each


def _finished(partner: Partner, rules: Rules, as_of: dt.date,
              stored: tuple[bytes, tuple] | None = None) -> tuple:
    """A checked partner's award, card view (None if the review removed it), recommendation
    summary and cache entry, as a cold build's check makes them (`_awarding`, `_handing_over`)
    or a new day's (`_rechecked`, with the blob the partner was decoded from)."""
    from .award import award
    from .pages import partner_view

    made = award(partner, rules, as_of)
    view = None if made.removed else partner_view(partner, made, rules)
    summary = _summary(partner, made, rules, as_of)
    return made, view, summary, _entry(partner, made, rules, as_of, view, summary, stored)


def award_reusing(partners: list[Partner], rules: Rules, as_of: dt.date, memo: Memo) -> dict[str, Award]:
    """`award.award_all`, reusing the award of every partner whose record did not change."""
    from .award import award, award_all

    changed = memo.changed_since("award", partners) if memo.awarded is not None else None
    if changed is not None:  # (the same partners but these: the last build's awards, and theirs)
        awards = dict(memo.awarded)  # type: ignore[arg-type]
        for partner in changed:
            hit = memo.awards.get(partner.slug)
            made = hit[1] if hit is not None and hit[0] is partner else award(partner, rules, as_of)
            awards[partner.slug] = made
            memo.awards[partner.slug] = (partner, made)
        memo.awarded = awards
        memo.went_through("award", partners)
        return dict(awards)
    memo.awarded = None
    if not memo.awards:
        awards = award_all(partners, rules, as_of)
    else:
        awards = {}
        fresh = []
        last = memo.awards
        for partner in partners:
            hit = last.get(partner.slug)
            if hit is not None and hit[0] is partner:
                awards[partner.slug] = hit[1]  # type: ignore[index]
            else:
                awards[partner.slug] = award(partner, rules, as_of)
                fresh.append(partner)
        if len(awards) == len(last) and all(p.slug in last for p in fresh):
            # the same partners as last time but a few edited ones: only those change
            for partner in fresh:
                last[partner.slug] = (partner, awards[partner.slug])
            return _awarded(memo, partners, awards)
    memo.awards = {p.slug: (p, awards[p.slug]) for p in partners}
    return _awarded(memo, partners, awards)


def _awarded(memo: Memo, partners: list[Partner], awards: dict[str, Award]) -> dict[str, Award]:
    """`awards`, kept for the next build's `award_reusing` (a copy: the caller's may change)."""
    memo.awarded = dict(awards)
    memo.went_through("award", partners)
    return awards


def review_reusing(partners: list[Partner], awards: dict[str, Award], rules: Rules, memo: Memo) -> list[str]:
    """`award.review_report`, the last build's when no partner that changed is or was removed."""
    from .award import review_report

    changed = memo.changed_since("review", partners) if memo.review is not None else None
    if changed is not None and not any(p.slug in memo.review[0] or awards[p.slug].removed  # type: ignore[index]
                                       for p in changed):
        report = memo.review[1]  # type: ignore[index]
    else:
        report = review_report(partners, awards, rules)
        memo.review = (frozenset(p.slug for p in partners if awards[p.slug].removed), report)
    memo.went_through("review", partners)
    return list(report)


def pages_to_reuse(partners: list[Partner], memo: Memo) -> dict[str, tuple]:
    """Page, card, open data and page hash of each partner whose record (and so these) did not
    change."""
    changed = memo.changed_since("pages", partners)
    if changed is not None:  # (every other partner's kept page is its own: see `remember_pages`)
        reuse = {slug: hit[1] for slug, hit in memo.pages.items()}
        for partner in changed:
            hit = memo.pages.get(partner.slug)
            if hit is None or hit[0] is not partner:
                reuse.pop(partner.slug, None)
        return reuse
    reuse = {}
    for partner in partners:
        hit = memo.pages.get(partner.slug)
        if hit is not None and hit[0] is partner:
            reuse[partner.slug] = hit[1]
    return reuse


def remember_pages(partners: list[Partner], rendered: dict[str, tuple], reused: dict[str, tuple],
                   memo: Memo, hashes: dict[str, str]) -> None:
    """Keep this build's partner pages (and their hashes, from `hashes` by site path)."""
    changed = memo.changed_since("pages", partners)
    if changed is not None and set(rendered) <= {p.slug for p in changed}:
        # The same partners' pages as the last build's but the changed ones': those alone.
        kept = dict(memo.pages)
        for partner in changed:
            slug = partner.slug
            hit = kept.get(slug)
            if slug in rendered:
                kept[slug] = (partner, (*rendered[slug][:4], hashes.get(f"partners/{slug}/index.html")))
            elif hit is None or hit[0] is not partner or reused.get(slug) is not hit[1]:
                kept.pop(slug, None)
    else:
        by_slug = {p.slug: p for p in partners}
        kept = {}
        for slug, made in reused.items():  # the same objects as before: nothing new to allocate
            hit = memo.pages.get(slug)
            if hit is not None and hit[1] is made and by_slug.get(slug) is hit[0]:
                kept[slug] = hit
        for slug, made in rendered.items():
            if slug in by_slug:
                kept[slug] = (by_slug[slug], (*made[:4], hashes.get(f"partners/{slug}/index.html")))
    memo.pages = kept
    memo.went_through("pages", partners)


def listing_key(partners: list[Partner], awards: dict[str, Award], memo: Memo) -> str:
    """What the listing pages and listing open data show, as one digest: every partner's record
    but its description, and its award, under the same render key.

    A rebuild whose key is unchanged (an edit to descriptions only, the most common edit) keeps
    the last build's listing pages instead of making them again. Listing pages never show a
    description; if one ever did, the cold/warm comparison in tests/test_incremental.py, which
    edits a description alone, would fail.
    """
    last = memo.listed
    changed = memo.changed_since("listing key", partners)
    listed = {} if changed is None else dict(last)  # (then only the changed partners' are made again)
    for partner in partners if changed is None else changed:
        award = awards[partner.slug]
        hit = last.get(partner.slug)
        if hit is not None and hit[0] is partner and hit[1] is award:
            listed[partner.slug] = hit
            continue
        made = memo.encoded.get(partner.slug)
        if made is not None and made[0] is partner and made[1] is award:
            data = made[2][1]
        else:
            data = _encode(partner, award)[2]
        listed[partner.slug] = (partner, award, data)
    memo.listed = listed
    memo.went_through("listing key", partners)
    # (one hash of the whole, as the slugs and digests joined: the same digest as feeding them
    # one by one, without 10,000 calls)
    digest = hashlib.sha256(memo.render_key.encode())
    digest.update("".join([f"{slug}\0{made[2]}\0" for slug, made in listed.items()]).encode())
    return digest.hexdigest()


# ----------------------------------------------------------------------------------------------
# Rendered partner pieces and listing pages, on disk


def pages_from_disk(partners: list[Partner], memo: Memo, previous: dict | None,
                    open_data: set[str] | None = None) -> None:
    """Add to `memo.pages` the stored page, card, open data entry and row of each partner
    whose record the on-disk cache holds and that this process has not rendered; with
    `open_data`, the entry and row only of those slugs (None for the others: partners.json and
    partners.csv are patched around them, `snapshot`).

    A page the last build left in the output (same path, same hash) is only read if the
    output lost it after all; any other is read now and used only if its bytes still match
    its hash.
    """
    from .pages import partner_path
    from .write import WriteError, content_hash

    store = memo.store
    memo.links.clear()
    if store is None:
        return
    wanted = {}
    changed = memo.changed_since("pages", partners)
    for partner in partners if changed is None else changed:  # (see `pages_to_reuse`)
        hit = memo.pages.get(partner.slug)
        key = memo.slug_keys.get(partner.slug)
        if key is not None and (hit is None or hit[0] is not partner):
            wanted[key] = partner
    if not wanted:
        return
    previous = previous or {}
    entries = store.open_data.load(wanted if open_data is None else
                                   [key for key, partner in wanted.items() if partner.slug in open_data])
    for key, entry in store.rendered.load(wanted).items():
        partner = wanted[key]
        try:
            card, digest = entry  # type: ignore[misc]
            if open_data is None or partner.slug in open_data:
                json_entry, row = entries[key]  # type: ignore[misc]
                if not (isinstance(json_entry, bytes) and isinstance(row, str)):
                    continue
            else:
                json_entry = row = None
            if not (isinstance(card, str) and isinstance(digest, str)):
                continue
        except (TypeError, ValueError, KeyError):
            continue
        path = partner_path(partner.slug)
        if previous.get(path) != digest:
            if not store.intact(digest, content_hash):
                continue
            memo.links[path] = digest  # put into a new site as a hard link: see `link_pages`

        def page(digest: str = digest) -> bytes:  # read only if it must be written after all
            data = store.page(digest, content_hash)
            if data is None:
                raise WriteError("a page the last build wrote is missing from the site and from the "
                                 "cache; delete .cache/records and build again")
            return data
        memo.pages[partner.slug] = (partner, (page, card, json_entry, row, digest))


def link_pages(memo: Memo, folder: Path, listing) -> dict[str, str]:
    """Hard-link into `folder`, a new site being made from nothing, the stored partner pages
    found intact (`pages_from_disk`) and the stored files of `listing`, if any (CI with a
    restored .cache/ and no site: half a gigabyte at 10,000 partners, which copying took
    seconds of system time); site path -> hash of those linked."""
    from .write import content_hash

    store = memo.store
    wanted = dict(memo.links)
    memo.links.clear()
    if store is None:
        return {}
    if listing is not None:
        wanted.update((path, digest) for path, (digest, _) in listing.files.items()
                      if store.intact(digest, content_hash))
    linked = store.link_into(folder, wanted)
    store.save_stats()
    return linked


def restore_listing(listing, memo: Memo, writer, previous: dict | None) -> bool:
    """Put the listing pages and files of an earlier build with the same listing key into the
    site from the cache (CI with a restored .cache/ and no site); False if any is missing or
    no longer has its hash, and then they are all made again."""
    from .write import content_hash

    store = memo.store
    if store is None:
        return False
    previous = previous or {}
    for path, (digest, _) in listing.files.items():
        if previous.get(path) == digest:
            continue
        data = store.page(digest, content_hash)
        if data is None:
            return False
        listing.files[path] = writer.put(path, data, digest)  # counted as written
    return True


def keep_folder(memo: Memo) -> Path | None:
    """Where the pages this build writes are kept as they are written (`SiteWriter.keep`),
    if they are kept (`save_rendered`)."""
    store = memo.store
    if store is None:
        return None
    try:
        store.pages.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return store.pages


def save_rendered(order: list[str], memo: Memo, out: Path, hashes: dict[str, str],
                  open_data: tuple[dict[str, object], list[str]] | None = None) -> None:
    """Keep every listed partner's card, open data entry, row and page on disk, and the
    listing pages and files (for a build with no site to start from). `open_data`, from a
    build that patched partners.json and partners.csv, holds the only entries and rows that
    changed (by content key) and the keys of those they replace."""
    from . import parallel
    from .pages import partner_path

    store = memo.store
    if store is None:
        return
    entries: dict[str, object] = {}
    data: dict[str, object] = {}
    pages: dict[str, str] = {}
    for slug in order:
        key = memo.slug_keys.get(slug)
        made = memo.pages.get(slug)
        path = partner_path(slug)
        if key is None or made is None or hashes.get(path) is None:
            continue
        entries[key] = (str(made[1][1]), hashes[path])
        if open_data is None:
            if made[1][2] is None or made[1][3] is None:
                continue  # (not loaded: never the case without `open_data`)
            data[key] = (made[1][2], made[1][3])
        pages[path] = hashes[path]
    if memo.listing is not None:
        pages.update((path, hashes[path]) for path in memo.listing[1].files if path in hashes)
    # (100 MB of entries and rows at 10,000 partners, written while the pages are linked)
    saved = parallel.beside(store.open_data.save, data) if open_data is None else \
        parallel.beside(store.open_data.update, *open_data)
    try:
        store.rendered.save(entries)
        store.keep_pages(pages, out)
    finally:
        saved()
    store.prune_folders()


def load_listing(memo: Memo):
    """The listing pages the last build under these keys made, as `render.Listing`."""
    from .pages import Page
    from .render import Listing

    store = memo.store
    if store is None or memo.listing is not None:
        return
    data = store.load_listing()
    try:
        key, pages, files, made = data  # type: ignore[misc]
        listing = Listing({int(i): [Page(path, template, {}, title, description, bool(in_sitemap))
                                    for path, template, title, description, in_sitemap in made]
                           for i, made in pages.items()},
                          {str(path): (str(digest), False) for path, digest in files.items()})
    except Exception:  # missing or not in this shape
        return
    store.listing_seen = data
    memo.listing = (key, listing)
    if memo.directory is None and made is not None:
        memo.directory = (key, made)  # plain data: `directory_reusing` makes a Directory of it


def save_listing(memo: Memo) -> None:
    store = memo.store
    if store is None or memo.listing is None:
        return
    from .facets import FacetValue
    from .plain_data import codec

    key, listing = memo.listing
    pages = {i: [(p.path, p.template, p.title, p.description, p.in_sitemap) for p in made]
             for i, made in listing.pages.items()}
    made = None
    if memo.directory is not None and memo.directory[0] == key:
        d = memo.directory[1]
        if isinstance(d, tuple):
            made = d
        else:
            encode = codec(FacetValue)[0]
            made = (list(d.order), {facet: [encode(v) for v in values] for facet, values in d.facets.items()},
                    dict(d.logos))
    store.save_listing((key, pages, {path: digest for path, (digest, _) in listing.files.items()}, made))


COMPILED = "templates.bin"


def load_compiled(store) -> None:
    """The templates an earlier process compiled under these keys (`render.compiled_templates`),
    unless this process has compiled some already."""
    from .record_cache import read
    from .render import compiled_templates

    compiled = compiled_templates()
    if store is None or compiled:
        return
    data = read(store.render_folder / COMPILED, store.render_key)
    if isinstance(data, dict) and all(isinstance(k, str) and isinstance(v, bytes) for k, v in data.items()):
        compiled.update(data)
        store.compiled_seen = dict(data)


def save_compiled(store) -> None:
    """Keep the compiled templates on disk when this process compiled any new."""
    from .record_cache import write

    render = sys.modules.get(f"{__package__}.render")
    if render is None:  # nothing rendered, nothing compiled (and importing it takes 0.25 s)
        return
    compiled = render.compiled_templates()
    if store is None or not compiled or compiled == store.compiled_seen:
        return
    if write(store.render_folder / COMPILED, store.render_key, compiled):
        store.compiled_seen = dict(compiled)


KEPT_PAGES = "kept-pages.bin"
# `KeptPages.row_digests` and `.rows`: each partner's token, its table row's hash and bytes
KEPT_ROWS = "kept-rows.bin"


def load_kept_pages(memo: Memo) -> None:
    """`memo.kept_pages`, from the disk if this process has none: what the last build under
    these keys made of each listing page (`render.KeptPages`), so a new `build` after an edit
    to listed data, or `serve`'s first such rebuild, renders only the listing pages that change.
    Entries not in the expected shape are all dropped (then every listing page is made)."""
    if memo.kept_pages is not None:
        return
    memo.kept_pages = kept_pages_from(memo.store)
    memo.kept_saved = memo.kept_pages.pages


def kept_pages_from(store):
    """`render.KeptPages` as the last build under the store's keys kept them on disk."""
    from .record_cache import read
    from .render import KeptPages

    data = read(store.render_folder / KEPT_PAGES, store.render_key) if store is not None else None
    pages: dict[str, tuple] = {}
    if isinstance(data, dict):
        for path, entry in data.items():
            if not (isinstance(path, str) and type(entry) is tuple and len(entry) == 5
                    and isinstance(entry[0], str) and isinstance(entry[1], str)
                    and (entry[2] is None or type(entry[2]) is list) and type(entry[3]) is tuple
                    and type(entry[4]) is list):
                pages = {}
                break
            pages[path] = entry
    rows = read(store.render_folder / KEPT_ROWS, store.render_key) if store is not None and pages else None
    row_digests: dict[str, tuple[str, str]] = {}
    row_lines: dict[str, tuple[str, bytes]] = {}
    if isinstance(rows, dict):
        for slug, entry in rows.items():
            if not (isinstance(slug, str) and type(entry) is tuple and len(entry) == 3
                    and isinstance(entry[0], str) and isinstance(entry[1], str)
                    and (entry[2] is None or type(entry[2]) is bytes)):
                row_digests, row_lines = {}, {}  # (made and hashed again as their tables are)
                break
            row_digests[slug] = entry[:2]
            if entry[2] is not None:
                row_lines[slug] = (entry[0], entry[2])
    return KeptPages(pages=pages, row_digests=row_digests, rows=row_lines)


def save_kept_pages(memo: Memo) -> None:
    """Keep `memo.kept_pages` on disk when this build changed it; failing to only costs time."""
    from .record_cache import write

    kept, store = memo.kept_pages, memo.store
    if kept is None or store is None or kept.pages is memo.kept_saved:  # type: ignore[attr-defined]
        return
    # Each row's bytes go with its hash (3 MB at 10,000 partners): a new process that makes a
    # table again after an edit to listed data (a country page gaining a partner) takes the
    # other rows from here instead of rendering thousands of them (0.1 s for a region's).
    made = kept.rows
    rows = {slug: (token, digest, line[1] if (line := made.get(slug)) is not None and line[0] == token
                   else None) for slug, (token, digest) in kept.row_digests.items()}
    if write(store.render_folder / KEPT_ROWS, store.render_key, rows) and \
            write(store.render_folder / KEPT_PAGES, store.render_key, kept.pages):  # type: ignore[attr-defined]
        memo.kept_saved = kept.pages  # type: ignore[attr-defined]


EXPORTS_LAYOUT = "listing-exports.bin"
# The open data files listing every partner's entry (each made apart: `Directory.encoded`).
_LAYOUT_FILES = ("directory.json", "recommend.json")


def encoded_entries(d, name: str) -> list[tuple[str, str]] | None:
    """(slug, JSON text) of each partner's entry in the file `name` as `d` last made it, in
    file order (`export.directory_json` and `recommend.recommend_json` keep them in that order)."""
    kept = d.encoded.get(name)
    if not kept:
        return None
    if name == "directory.json":
        return [(slug, made[2]) for slug, made in kept.items() if slug != ""]
    return [(made[0]["slug"], made[1]) for made in kept.values()]


def save_export_layout(memo: Memo, d, out: Path, hashes: dict[str, str]) -> None:
    """Where each partner's entry is in directory.json and recommend.json as this build wrote
    them, with its record's content key, so that a new process after an edit to listed data
    takes the unchanged partners' entries from the files instead of encoding 10,000 of each
    again (`seed_exports`). Kept only when the file on disk is checked to be those entries."""
    from .record_cache import write
    from .write import content_hash

    store = memo.store
    if store is None:
        return
    layouts: dict[str, tuple] = {}
    for name in _LAYOUT_FILES:
        entries = encoded_entries(d, name)
        digest = hashes.get(name)
        if not entries or digest is None:
            continue
        try:
            data = (out / name).read_bytes()
        except OSError:
            continue
        encoded = [text.encode("utf-8") for _, text in entries]
        body = b",".join(encoded) + b"]}\n"
        if content_hash(data) != digest or not data.endswith(body) or data[-len(body) - 1:-len(body)] != b"[":
            continue  # not the file these entries made
        at = len(data) - len(body)
        rows = []
        for (slug, _), entry in zip(entries, encoded, strict=True):
            rows.append((slug, memo.slug_keys.get(slug), at, len(entry)))
            at += len(entry) + 1
        index = d.encoded[name].get("") if name == "directory.json" else None
        layouts[name] = (digest, rows, index)
    if layouts:
        write(store.render_folder / EXPORTS_LAYOUT, store.render_key, layouts)


def seed_exports(memo: Memo, d, out: Path, previous: dict[str, str]) -> None:
    """The unchanged partners' directory.json and recommend.json entries taken from the last
    build's files (`save_export_layout`) into `d.encoded`, where `export.directory_json` and
    `recommend.recommend_json` find them: an entry is taken only when the file is the one
    described (its hash, checked on its bytes) and the partner's record has the same content
    key (entries depend on nothing else under the same render key)."""
    from .record_cache import read
    from .write import content_hash

    store = memo.store
    layouts = read(store.render_folder / EXPORTS_LAYOUT, store.render_key) if store is not None else None
    if not isinstance(layouts, dict):
        return
    for name in _LAYOUT_FILES:
        try:
            digest, rows, index = layouts[name]
            if previous.get(name) != digest or d.encoded.get(name):
                continue
            data = (out / name).read_bytes()
            if content_hash(data) != digest:
                continue
            keys = memo.slug_keys
            known = {slug: data[at:at + length] for slug, key, at, length in rows
                     if key is not None and keys.get(slug) == key}
            if name == "directory.json":
                kept: dict = {"": index}
                for slug, partner in d.partners.items():
                    entry = known.get(slug)
                    if entry is not None:
                        kept[slug] = (partner, d.views[slug], entry.decode("utf-8"))
                d.encoded[name] = kept
            else:
                from .recommend import keep_encoded

                keep_encoded(d, {slug: entry.decode("utf-8") for slug, entry in known.items()})
        except Exception:  # missing or not in this shape: the entries are encoded again
            d.encoded.pop(name, None)


def directory_reusing(partners: list[Partner], awards: dict[str, Award], rules: Rules, as_of: dt.date,
                      memo: Memo, key: str):
    """`pages.directory`, or the last build's with this build's partners and awards in it when
    nothing it derives from changed (`listing_key`): its order, views and facets depend only on
    what listings show, which an edit to a description does not change."""
    from dataclasses import replace

    from .pages import directory

    if memo.directory is not None and memo.directory[0] == key and isinstance(memo.directory[1], tuple):
        stored = _stored_directory(partners, awards, rules, as_of, memo, memo.directory[1])
        memo.directory = (key, stored) if stored is not None else None
    # (the partners that are not the last directory's, when that is known: see `Memo.changed_since`)
    edited = memo.changed_since("directory", partners) \
        if memo.directory is not None and not isinstance(memo.directory[1], tuple) else None
    if memo.directory is not None and memo.directory[0] == key:
        last = memo.directory[1]
        if edited is not None and all(awards[p.slug].removed != (p.slug in last.partners) for p in edited):
            listed = dict(last.partners)  # type: ignore[attr-defined]
            listed.update((p.slug, p) for p in edited if p.slug in listed)
        else:
            edited = None
            listed = {p.slug: p for p in partners if not awards[p.slug].removed}
        if edited is not None or list(listed) == list(last.partners):  # type: ignore[attr-defined]
            d = replace(last, rules=rules, as_of=as_of, partners=listed, awards=awards)  # type: ignore[type-var]
            if "matching" in last.__dict__:  # the same views in the same order: the same memberships
                d.__dict__["matching"] = last.__dict__["matching"]
            for partner in edited if edited is not None else listed.values():
                slug = partner.slug
                if slug in listed:
                    memo.views[slug] = (partner, awards[slug], d.views[slug])
            return _directory_made(memo, key, d, partners, edited)
    # Every listing is made again. They read only the listed fields of unchanged partners read
    # from the cache, which a `StoredPartner` answers without decoding the rest.
    last = memo.directory[1] if memo.directory is not None and not isinstance(memo.directory[1], tuple) \
        else None
    d = directory(partners, awards, rules, as_of, known=memo.views, last=last, edited=edited)
    return _directory_made(memo, key, d, partners, edited)


def _directory_made(memo: Memo, key: str, d, partners: list[Partner], edited: list[Partner] | None):
    memo.directory = (key, d)
    _add_summaries(d, memo, edited)
    memo.went_through("directory", partners)
    return d


def _add_summaries(d, memo: Memo, edited: list[Partner] | None = None) -> None:
    """The recommendation summaries made with the cache entries, for `recommend.recommend_data`
    to reuse (`Directory.summaries`: it takes one only for the same partner and award objects);
    with `edited`, the last directory's summaries are `d`'s (see `directory_reusing`), and only
    those partners' can be missing."""
    summaries = d.summaries
    if edited is not None:  # (theirs, made with their cache entries, replace the last ones)
        for partner in edited:
            made = memo.summaries.get(partner.slug)
            if made is not None and made[0] is partner and partner.slug in d.partners:
                summaries[partner.slug] = made
        return
    for slug, made in memo.summaries.items():
        if slug not in summaries and slug in d.partners:
            summaries[slug] = made


def _stored_directory(partners: list[Partner], awards: dict[str, Award], rules: Rules, as_of: dt.date,
                      memo: Memo, made: tuple):
    """The Directory a build in another process made under the same listing key, from its order,
    facets and logos (listing.bin) and this build's partners, awards and views; None if it does
    not fit."""
    from .facets import FacetValue
    from .pages import Directory, partner_view
    from .plain_data import codec

    try:
        order, facets, logos = made
        decode = codec(FacetValue)[1]
        facets = {str(facet): [decode(v) for v in values] for facet, values in facets.items()}
        listed = {p.slug: p for p in partners if not awards[p.slug].removed}
        if sorted(order) != list(listed) or not isinstance(logos, dict):
            return None
        views = {}
        for slug, partner in listed.items():
            hit = memo.views.get(slug)
            views[slug] = hit[2] if hit is not None and hit[0] is partner and hit[1] is awards[slug] \
                else partner_view(partner, awards[slug], rules)
    except Exception:  # not in this shape: make it again
        return None
    return Directory(rules, as_of, listed, awards, views, list(order), facets, dict(logos))
