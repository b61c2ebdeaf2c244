"""Checked records and rendered partner pieces kept on disk, so a new `build` process redoes
only the records that changed.

Everything is keyed by content: a record's key is a hash of its path and bytes, and the folder
it is kept in is named after what checking depends on (`Memo.record_key`: programs.yaml, the
as-of date, the code; not the logos, see `cache.LogoCheck`) or, for rendered pieces, what
rendering depends on as well (`Memo.render_key`). A changed input therefore never meets a
stale entry: it looks in another folder. Under .cache/records/:

* `r-<record key>/files.bin`: each record file's metadata and content key, so unchanged files
  are not even read (files changed in the last two seconds always are, as in `cache`);
* `r-<record key>/logos.bin`: each logo file that passed the check, with its metadata then: a
  record kept is reused only while its logo file has it (`cache.LogoCheck`);
* `r-<record key>/checked-XX.bin`: by content key, the checked partner, its award, its card's
  view and the digest of what listing pages show of it (`plain_data` form, marshal);
* `p-<render key>/rendered-XX.bin`: by content key, the partner's card and page hash;
  `p-<render key>/opendata-XX.bin`: its partners.json entry and partners.csv row, apart, as
  a rebuild that patches those files (`snapshot`) needs only the changed partners' (they are
  nine tenths of the bytes); `p-<render key>/listing.bin`: the listing pages last made;
* `p-<render key>/pages/<hash>`: partner pages and listing files by content hash, hard links
  to the files the build wrote (and linked into a new site the same way, never copied);
  `p-<render key>/pages.bin`: their sizes and modification times when kept, so an unchanged
  one is trusted without being read;
* `p-<render key>/site-<output>.bin`: what the last build into an output folder made
  (`snapshot`), for a new process's quick rebuild of an edit.
* `p-<render key>/templates.bin`: the templates as Jinja compiled them, so a new process
  does not compile them again (Jinja checks each against its source before using it).

Entries are spread over 256 shards by key, so an edit rewrites two small files, not the whole
cache. Every file starts with the length and CRC-32 of the rest and is written to a temporary
name and renamed into place: a truncated, corrupted or half-written file is ignored (its records
are checked again), never trusted. A checksum, not a cryptographic hash: it guards against
accidents (a failing disk, a cut-off copy), and only this tool writes the cache. CRC-32 reads
4 GB/s here, BLAKE2b 0.9 GB/s; a rebuild after an edit to listed data reads 95 MB of the cache,
and a cold build writes 190 MB.
Entries for records that no longer exist are dropped when their shard is written, pages no
entry names are deleted, and only the two most recent key folders of each kind are kept. A
build for a new as-of date finds the record folder of the day before (`Store.earlier`): what
was checked then holds on every later day (`cache._earlier_checks`).
"""

from __future__ import annotations

import gc
import hashlib
import marshal
import os
import shutil
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .write import remove_behind, replace

FORMAT = 2
_HEADER = b"pdc2"  # then the body's CRC-32 (4 bytes) and length (8 bytes), little-endian
KEEP = 2  # key folders of each kind kept: a site built with two settings does not thrash


def content_key(path: str, data: bytes) -> str:
    """A record file's identity (SHA-256, as `write.content_hash`)."""
    return hashlib.sha256(path.encode() + b"\0" + data).hexdigest()[:32]


def folder_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:20]


@contextmanager
def no_gc() -> Iterator[None]:
    """Decoding ten thousand records makes millions of tuples; collecting in between is wasted
    (and made loading twenty times slower)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def read(path: Path, key: str) -> object | None:
    """The data of a cache file written by `write` under `key`, or None if it is missing,
    truncated, corrupted or from another format or key."""
    whole = _load(path)
    return whole[2] if whole is not None and whole[1] == key else None


def key_of(path: Path) -> str | None:
    """The key a cache file was written under (`write`), or None if it cannot be read whole."""
    whole = _load(path)
    return whole[1] if whole is not None and isinstance(whole[1], str) else None


def _load(path: Path) -> tuple | None:
    """(format, key, data) of a cache file of this format, if it is whole."""
    try:
        blob = path.read_bytes()
    except OSError:
        return None
    body = memoryview(blob)[16:]
    if len(blob) < 16 or blob[:16] != _header(body):
        return None
    try:
        with no_gc():
            data = marshal.loads(body)
    except Exception:  # marshal raises several kinds on bad input
        return None
    return data if isinstance(data, tuple) and len(data) == 3 and data[0] == FORMAT else None


def write(path: Path, key: str, data: object) -> bool:
    """Atomically: readers see the old file or the new one, never half of one."""
    body = marshal.dumps((FORMAT, key, data))
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(temporary, "wb") as f:
            f.write(_header(body))
            f.write(body)
        replace(temporary, path)
        return True
    except OSError:
        try:
            temporary.unlink()
        except OSError:
            pass
        return False


def _header(body) -> bytes:
    return _HEADER + zlib.crc32(body).to_bytes(4, "little") + len(body).to_bytes(8, "little")


def shard_of(key: str) -> str:
    return key[:2]


class Shelf:
    """Entries by content key in 256 shard files of one folder, all under one `key`."""

    def __init__(self, folder: Path, name: str, key: str) -> None:
        self.folder = folder
        self.name = name
        self.key = key
        self.shards: dict[str, dict[str, object]] = {}  # shard -> its entries, as on disk
        self.scanned = False
        self.saved: set[str] | None = None  # the keys of the last save, if all its shards were written

    def _path(self, shard: str) -> Path:
        return self.folder / f"{self.name}-{shard}.bin"

    def empty(self) -> bool:
        """Whether no shard of this shelf is on disk."""
        prefix = self.name + "-"
        try:
            with os.scandir(self.folder) as entries:
                return not any(e.name.startswith(prefix) and e.name.endswith(".bin") for e in entries)
        except OSError:
            return True

    def load(self, keys: Iterable[str]) -> dict[str, object]:
        """The stored entries among `keys`."""
        wanted: dict[str, list[str]] = {}
        for key in keys:
            wanted.setdefault(shard_of(key), []).append(key)
        found: dict[str, object] = {}
        for shard, members in wanted.items():
            if shard not in self.shards:
                data = read(self._path(shard), self.key)
                self.shards[shard] = data if isinstance(data, dict) else {}
            entries = self.shards[shard]
            for key in members:
                if key in entries:
                    found[key] = entries[key]
        return found

    def save(self, entries: dict[str, object], encode: Callable[[str], object] | None = None) -> None:
        """Make the shelf hold exactly `entries` (by key; values as stored, or None for "encode
        this key now" with `encode`), rewriting only shards whose keys changed."""
        if self.saved is not None and encode is None:  # since the last save: only what differs
            keys = entries.keys()
            added, removed = keys - self.saved, self.saved - keys
            touched: dict[str, dict[str, object]] = {}
            for key in removed | added:
                shard = shard_of(key)
                if shard not in touched:
                    touched[shard] = dict(self.shards.get(shard) or {})
                if key in added:
                    touched[shard][key] = entries[key]
                else:
                    touched[shard].pop(key, None)
            self.saved = None  # until every shard below is written
            for shard, new in touched.items():
                self._store(shard, new)
            if all(shard in self.shards for shard in touched):
                self.saved = set(keys)
            return
        by_shard: dict[str, dict[str, object]] = {}
        for key, value in entries.items():
            by_shard.setdefault(shard_of(key), {})[key] = value
        self.load(entries)  # the shards of these entries, as on disk (once per shelf)
        if not self.scanned:  # shards holding only entries of records that are gone
            self.scanned = True
            try:
                prefix = self.name + "-"
                for name in os.listdir(self.folder):
                    if name.startswith(prefix) and name.endswith(".bin"):
                        self.shards.setdefault(name[len(prefix):-4], {"": None})  # stale: rewrite
            except OSError:
                pass
        for shard in set(self.shards) | set(by_shard):
            new = by_shard.get(shard, {})
            old = self.shards.get(shard)
            if old is not None and old.keys() == new.keys():
                continue
            for key, value in new.items():
                if value is None:
                    new[key] = old[key] if old and key in old else encode(key) if encode else None
            self._store(shard, new)
        if all(shard in self.shards for shard in by_shard):
            self.saved = set(entries)
        try:
            os.utime(self.folder)  # most recently used: `prune_folders` keeps it
        except OSError:
            pass

    def update(self, added: dict[str, object], removed: Iterable[str] = ()) -> None:
        """Add some entries and drop others, rewriting only their shards (a new process's
        rebuild of one edit, which loads nothing else). A shard that cannot be read loses its
        other entries, whose records are then checked again: slower, never wrong."""
        removed = list(removed)
        touched: dict[str, dict[str, object]] = {}
        for key in [*removed, *added]:
            shard = shard_of(key)
            if shard not in touched:
                self.load([key])
                touched[shard] = dict(self.shards.get(shard) or {})
        for key in removed:
            touched[shard_of(key)].pop(key, None)
        for key, value in added.items():
            touched[shard_of(key)][key] = value
        self.saved = None
        for shard, new in touched.items():
            self._store(shard, new)
        try:
            os.utime(self.folder)
        except OSError:
            pass

    def _store(self, shard: str, new: dict[str, object]) -> None:
        if new:
            if write(self._path(shard), self.key, new):
                self.shards[shard] = new
            else:
                self.shards.pop(shard, None)
        else:
            try:
                self._path(shard).unlink()
            except OSError:
                pass
            self.shards[shard] = {}


class Store:
    """The record cache of one project, for one record key and one render key."""

    def __init__(self, cache: Path, record_key: str, render_key: str) -> None:
        self.root = cache / "records"
        self.record_folder = self.root / f"r-{folder_key(record_key)}"
        self.render_folder = self.root / f"p-{folder_key(render_key)}"
        self.record_key, self.render_key = record_key, render_key
        self.checked = Shelf(self.record_folder, "checked", record_key)
        self.rendered = Shelf(self.render_folder, "rendered", render_key)
        self.open_data = Shelf(self.render_folder, "opendata", render_key)
        self.files: dict[str, tuple] | None = None  # path -> (metadata, content key), as on disk
        self.logos: tuple[str | None, dict[str, tuple]] | None = None  # logos.bin, as on disk
        self.pages = self.render_folder / "pages"
        self.listing_seen: object = None
        self.compiled_seen: dict[str, bytes] | None = None  # templates.bin as last read or written
        self.kept_pages: set[str] | None = None  # what `keep_pages` left in `pages`, once known
        self.stats: dict[str, tuple[int, int]] | None = None  # page hash -> (size, mtime) when kept
        self.stats_changed = False
        self.earlier_found: tuple[Store, ...] | None = None  # see `earlier`

    # --- record files -----------------------------------------------------------------------

    def known_files(self) -> dict[str, tuple]:
        if self.files is None:
            data = read(self.record_folder / "files.bin", self.record_key)
            self.files = data if isinstance(data, dict) else {}
        return self.files

    def earlier(self, rank: Callable[[str], object | None]) -> Store | None:
        """The store of the other record folder whose key `rank` ranks highest (None: not
        usable), if there is one: for a new day's first build, the checks of the day before
        (`cache._rechecked`). Read-only: only this store's own folders are written."""
        if self.earlier_found is None:
            best: tuple | None = None
            try:
                folders = [p for p in self.root.iterdir()
                           if p.name.startswith("r-") and p != self.record_folder]
            except OSError:
                folders = []
            for folder in folders:
                # (a shard's, a quarter of files.bin at 10,000 partners; files.bin's if it has
                # none, as no file could vouch for its bytes after a checkout)
                shards = sorted(folder.glob("checked-*.bin"))[:1]
                key = (key_of(shards[0]) if shards else None) or key_of(folder / "files.bin")
                order = rank(key) if key is not None else None
                if order is not None and (best is None or order > best[0]):  # type: ignore[operator]
                    best = (order, key)
            self.earlier_found = (Store(self.root.parent, best[1], ""),) if best is not None else ()
        return self.earlier_found[0] if self.earlier_found else None

    def save_files(self, files: dict[str, tuple]) -> None:
        if files != self.files and write(self.record_folder / "files.bin", self.record_key, files):
            self.files = dict(files)

    def known_logos(self, content: str) -> dict[str, tuple]:
        """Each logo that passed the check of the records folder `content` -> its metadata
        then (`cache.LogoCheck`)."""
        if self.logos is None:
            data = read(self.record_folder / "logos.bin", self.record_key)
            ok = isinstance(data, tuple) and len(data) == 2 and isinstance(data[1], dict)
            self.logos = data if ok else (None, {})  # type: ignore[assignment]
        return dict(self.logos[1]) if self.logos[0] == content else {}

    def save_logos(self, content: str, verified: dict[str, tuple]) -> None:
        data = (content, verified)
        if data != self.logos and write(self.record_folder / "logos.bin", self.record_key, data):
            self.logos = (content, dict(verified))

    # --- listing ------------------------------------------------------------------------------

    def load_listing(self) -> object | None:
        return read(self.render_folder / "listing.bin", self.render_key)

    def save_listing(self, data: object) -> None:
        if data != self.listing_seen and write(self.render_folder / "listing.bin", self.render_key, data):
            self.listing_seen = data

    # --- pages --------------------------------------------------------------------------------

    def page_path(self, digest: str) -> Path:
        return self.pages / digest

    def page(self, digest: str, check: Callable[[bytes], str]) -> bytes | None:
        """A stored page, if its bytes still have the hash it is stored under."""
        try:
            data = self.page_path(digest).read_bytes()
        except OSError:
            return None
        return data if check(data) == digest else None

    def page_stats(self) -> dict[str, tuple[int, int]]:
        """Each kept page's size and modification time when it was kept (pages.bin): a page
        that still has them was not written to since (nothing writes into a page in place:
        every build writes new files and renames them), so it can be linked into a new site
        without reading it; any other is read and its hash checked first (`intact`)."""
        if self.stats is None:
            data = read(self.render_folder / "pages.bin", self.render_key)
            self.stats = data if isinstance(data, dict) else {}
        return self.stats

    def _note(self, digest: str, written: Path | None = None) -> None:
        """Note a page as kept; with `written`, only if it is that very file (the same inode):
        a file already there under its hash may be anything."""
        try:
            st = os.stat(self.pages / digest)
            if written is not None:
                same = os.stat(written)
                if (same.st_ino, same.st_dev) != (st.st_ino, st.st_dev):
                    return
        except OSError:
            return
        self._kept_as(digest, st)

    def _note_written(self, digest: str, written: str, inode: int | None, device: int) -> None:
        """`_note` of a page that may be the file `written` (by its inode, from the folder's
        listing): one system call, not two. A cold build notes 10,000 pages linked as they
        were written (`SiteWriter.keep`), on one core at its end: 0.24 s, with two calls and
        paths made with pathlib each."""
        if inode is None:
            self._note(digest, Path(written))
            return
        try:
            st = os.stat(written)
        except OSError:
            return
        if (st.st_ino, st.st_dev) == (inode, device):
            self._kept_as(digest, st)

    def _kept_as(self, digest: str, st: os.stat_result) -> None:
        self.page_stats()[digest] = (st.st_size, st.st_mtime_ns)
        self.stats_changed = True

    def _forget(self, digest: str) -> None:
        if self.page_stats().pop(digest, None) is not None:
            self.stats_changed = True

    def save_stats(self) -> None:
        if self.stats is not None and self.stats_changed and \
                write(self.render_folder / "pages.bin", self.render_key, self.stats):
            self.stats_changed = False

    def intact(self, digest: str, check: Callable[[bytes], str]) -> bool:
        """Whether the stored page `digest` still has that hash: by its metadata when it has
        the same as when it was kept, else by reading it."""
        try:
            st = os.stat(self.page_path(digest))
        except OSError:
            return False
        if self.page_stats().get(digest) == (st.st_size, st.st_mtime_ns):
            return True
        if self.page(digest, check) is None:
            return False
        self._note(digest)
        return True

    def link_into(self, folder: Path, files: dict[str, str]) -> dict[str, str]:
        """Hard-link stored pages into a new site folder (site path -> hash): no bytes copied.
        Safe because no build writes into a file in place, in the site or here. Those that
        could not be linked are left out of the answer (and are written as usual)."""
        wait_deleted()
        linked = {}
        made: set[str] = set()
        for path, digest in files.items():
            parent = os.path.dirname(path)
            try:
                if parent not in made:
                    os.makedirs(folder / parent, exist_ok=True)
                    made.add(parent)
                os.link(self.pages / digest, folder / path)
            except OSError:
                continue
            linked[path] = digest
        return linked

    def keep_pages(self, written: dict[str, str], folder: Path) -> None:
        """Keep the pages just written (site path -> hash) by hard-linking them from `folder`;
        delete stored pages that no page has any more. A page that cannot be linked is simply
        not kept (a later build renders it again)."""
        wait_deleted()
        wanted = set(written.values())
        if self.kept_pages is not None and wanted == self.kept_pages:
            return  # (the common case in `serve`: pages are stored, not listed again)
        try:
            self.pages.mkdir(parents=True, exist_ok=True)
            inodes: dict[str, int] = {}
            if self.kept_pages is None:
                with os.scandir(self.pages) as entries:  # (each entry's inode comes with its name)
                    inodes = {entry.name: entry.inode() for entry in entries}
                stored = set(inodes)
            else:
                stored = set(self.kept_pages)
            device = os.stat(self.pages).st_dev
        except OSError:
            return
        stats = self.page_stats()
        base = str(folder)
        for path, digest in written.items():
            if digest in stored:
                if digest not in stats:  # linked as it was written (`SiteWriter.keep`), or not
                    self._note_written(digest, os.path.join(base, path), inodes.get(digest), device)
                continue
            try:
                os.link(folder / path, self.pages / digest)
                stored.add(digest)
                self._note(digest)
            except FileExistsError:
                stored.add(digest)
            except OSError:
                continue
        stale = stored - wanted
        for name in stale:
            self._forget(name)
        self.kept_pages = wanted & stored
        self.save_stats()
        _delete_later(self.pages, stale)

    def link_page(self, source: Path, digest: str, note: bool = True) -> None:
        """Keep one page just written (see `keep_pages`). `note=False` leaves pages.bin as it
        is (loading and saving it took a quick rebuild 15 ms): a build that uses the page
        then reads it once to check it (`intact`)."""
        wait_deleted()
        try:
            self.pages.mkdir(parents=True, exist_ok=True)
            os.link(source, self.pages / digest)
        except OSError:  # already kept, or cannot be: a later build renders it again
            return
        if note:
            self._note(digest)

    def drop_page(self, digest: str) -> None:
        try:
            os.unlink(self.pages / digest)
        except OSError:
            pass
        self._forget(digest)

    def prune_folders(self) -> None:
        """Only the most recent key folders of each kind, so the cache does not grow without end."""
        try:
            folders = [p for p in self.root.iterdir() if p.is_dir() and p.name[:2] in ("r-", "p-")]
        except OSError:
            return
        for kind, current in (("r-", self.record_folder), ("p-", self.render_folder)):
            mine = sorted((p for p in folders if p.name.startswith(kind) and p != current),
                          key=lambda p: p.stat().st_mtime_ns, reverse=True)
            for old in mine[KEEP - 1:]:
                # (renamed out of the way at once, and deleted behind the build: a folder of the
                # pages of 10,000 partners took a third of a second, on each new day's build)
                aside = self.root / f".pruned-{old.name}-{os.getpid()}"
                try:
                    os.rename(old, aside)
                except OSError:
                    shutil.rmtree(old, ignore_errors=True)
                    continue
                remove_behind(aside)
        for leftover in self.root.glob(".pruned-*"):  # (a deletion cut short)
            if leftover.is_dir() and not leftover.name.endswith(f"-{os.getpid()}"):
                remove_behind(leftover)
        stale = time.time() - 3600  # temporary files of builds killed while writing
        for folder in (self.record_folder, self.render_folder):
            for leftover in folder.glob(".*.tmp"):
                try:
                    if leftover.stat().st_mtime < stale:
                        leftover.unlink()
                except OSError:
                    pass


# The thread deleting pages no entry names any more (`_delete_later`), if one is running.
_DELETING: list[threading.Thread] = []


def _delete_later(folder: Path, names: set[str]) -> None:
    """Delete these stored pages behind the build: each is the last link to a page the site
    replaced, and freeing 450 of them (the directory pages after an edit to listed data) took
    the file system up to a second. The process waits for the thread before it ends (a daemon
    thread, cut short at every exit, left thousands behind); what a killed process leaves, the
    next build finds among the pages (`keep_pages` lists them) and deletes. Anything that links
    pages waits for it first (`wait_deleted`), so it never deletes a page kept again meanwhile."""
    if not names:
        return

    def run() -> None:
        for name in names:
            try:
                os.unlink(folder / name)
            except OSError:
                pass

    wait_deleted()
    thread = threading.Thread(target=run, name="delete stale pages")
    _DELETING.append(thread)
    thread.start()


def wait_deleted() -> None:
    """Until the stale pages a build of this process left to delete are deleted."""
    while _DELETING:
        _DELETING.pop().join()
