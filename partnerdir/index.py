"""Stage 6b: the search index, written by Pagefind into the staging folder before the swap.

Pagefind reads the finished pages, so what it indexes is decided where the pages are written:
the templates mark the main content of partner pages and of program and status pages with
`data-pagefind-body` (every other page stays out of the index), keep navigation and filter
chrome out with `data-pagefind-ignore`, and tag partner pages with the directory's facet values
as Pagefind filters. Indexing the staging folder means a failed index fails the build and the
previous site stays as it was.

The binary comes from the `pagefind-bin` package; nothing is downloaded at build time. It runs
through Pagefind's Python API, around which this stage adds what a build needs: the whole folder
in one request (the API answers one request per poll), an error instead of a hang when the
binary dies, complete files (the binary answers before its last writes land), and the same bytes
from the same pages (Pagefind writes some lists in hash-map order).

Partner pages are split over several indexes of at most PARTNERS_PER_INDEX pages each
(pagefind/partners/0/, 1/, ...; `partner_index_count`), merged in the browser with Pagefind's
mergeIndex. Pagefind's search compares every page that matches a word with every (word, page)
pair found, so its time grows with the square of the pages an index holds: at 10,000 partners a
broad word took 0.3 to 1.5 s in one index and takes a fraction of that in twenty. Each index is
given every word the others hold (with no pages), because Pagefind falls back to a shorter word
when an index has no word starting with the one searched: a partner's own name would otherwise
find unrelated partners in the indexes that lack it.

The directory does not ask Pagefind for every matching partner page, though: its time grows
with the pages found (0.1 to 0.3 s for a word on 5,000 partner pages), and the directory only
needs the set of partners, which it sorts itself. PartnerWords (below) gives the main index an
unpublished page of every partner word and writes pagefind/words/, the partners of each word:
Pagefind, searching the main index alone, still decides which words a query matches, and is
asked for the excerpts of the partners shown only.
"""

from __future__ import annotations

import asyncio
import bisect
import concurrent.futures
import gzip
import hashlib
import json
import logging
import marshal
import os
import shutil
import threading
import zlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import cbor2

# Pagefind's Python API logs its own troubles; ours are reported as problems, once.
logging.getLogger("pagefind").addHandler(logging.NullHandler())

SEARCH_FOLDER = "pagefind"
# Partner pages per index, at most: Pagefind's time per search grows with the square of this
# (see above), and each index costs a request and a little work per search, so a few hundred is
# the balance at 10,000 partners (38 indexes of 250 put the slowest typed search past 100 ms).
PARTNERS_PER_INDEX = 500
# A smaller directory is split into up to PARTNER_INDEXES groups of at most SMALL_INDEX pages
# rather than into a few full ones: an edit makes its partner's whole group again, and at 1,000
# partners ten groups of 100 halve an edit's index (0.6-0.9 s, against 1.4-1.9 s with two of
# 500) with the same search times (benchmarks/README.md, sessions 14 and 15).
SMALL_INDEX = 100
PARTNER_INDEXES = 10
PARTNER_FOLDER = "partners"  # partner indexes: pagefind/partners/0/, 1/, ...
# What a merged index needs; the scripts and WebAssembly come from the main index.
SHARD_FILES = ("pagefind-entry.json", "fragment", "index", "filter")
# Pagefind writes its ready-made search interfaces too; the directory uses the JavaScript API
# with its own markup and styles, so these would only be dead weight on the site.
UNUSED_FILES = (
    "pagefind-ui.js", "pagefind-ui.css",
    "pagefind-modular-ui.js", "pagefind-modular-ui.css",
    "pagefind-component-ui.js", "pagefind-component-ui.css",
    "pagefind-highlight.js",
)
# Long enough for a directory of many thousand partners; a binary that stops answering must
# not hang a build (or `serve`) for ever.
TIMEOUT_SECONDS = 600
ATTEMPTS = 2  # a second run when the first left incomplete files
# Pagefind's compressed files start, once unzipped, with this signature.
SIGNATURE = b"pagefind_dcd"

INSTALL_HINT = ("install it with `python3 -m pip install 'pagefind[bin]'`, "
                "or build without search with --no-search")
RETRY_HINT = "build again; if it happens again, build with --no-search and report it"
FORMAT_HINT = ("this Pagefind writes its index differently from Pagefind 1.5; install 1.5 with "
               "`python3 -m pip install 'pagefind[bin]>=1.5,<1.6'`, or build with --no-search")


class SearchIndexError(Exception):
    """The search index could not be written; the message says why and the hint what to do."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.hint = hint


class IndexCancelled(Exception):
    """`build_index` was told to stop (`serve`: a newer save makes this index out of date); the
    site's index is left as it was."""


@dataclass(frozen=True)
class IndexReport:
    """What the build summary says about the index."""

    pages: int  # pages in the index (those marked data-pagefind-body)
    files: int  # files in the site's pagefind/ folder
    bytes: int  # their total size

    def text(self) -> str:
        return (f"{self.pages} page{'s' if self.pages != 1 else ''} indexed, "
                f"{self.files} files, {self.bytes / 1024:.0f} KiB")


def pagefind_binary() -> Path:
    """The Pagefind executable the Python API will start, or a clear error when there is none.

    The API looks in PAGEFIND_BINARY_PATH, then the pagefind-bin package, then PATH; it only
    notices a missing binary deep inside a subprocess call, so look first.
    """
    if os.environ.get("PAGEFIND_BINARY_PATH") == "":
        raise SearchIndexError("PAGEFIND_BINARY_PATH is set but empty",
                               "unset it to use the pagefind-bin package, or set it to a Pagefind binary")
    try:
        from pagefind.service import get_executable
    except ImportError:
        raise SearchIndexError("the pagefind Python package is not installed", INSTALL_HINT) from None
    try:
        found = get_executable()
    except OSError:
        found = None
    if found is None:
        raise SearchIndexError("the Pagefind binary was not found (package pagefind-bin)", INSTALL_HINT)
    found = Path(found)
    if not found.is_file() or not os.access(found, os.X_OK):
        source = " (from PAGEFIND_BINARY_PATH)" if os.environ.get("PAGEFIND_BINARY_PATH") else ""
        raise SearchIndexError(f"the Pagefind binary {found}{source} does not exist or cannot be run",
                               INSTALL_HINT)
    return found


def build_index(folder: Path, directory=None, cancel: threading.Event | None = None,
                pages: Mapping[str, str] | list[str] | None = None, keep: Path | None = None,
                base: Path | None = None) -> IndexReport:
    """Index the built site in `folder` into `folder/pagefind/`.

    `directory` (the pages' plain data) is accepted for the pipeline's sake; what is indexed
    is read from the pages themselves, as a visitor's browser will search them. Setting
    `cancel` stops Pagefind and raises IndexCancelled, with the old index in place. `pages`,
    the site's files as the build wrote them (with their content hashes, when it knows them),
    spares looking through its folders for them. With hashes and a `keep` folder, what
    Pagefind wrote is kept there for the next index of the same site, in this process or
    another, which then indexes again only the groups of pages that changed (`_Kept`). With
    `base`, `folder` holds only the files that changed (`write.sparse_staged`) and `pages`
    those of the whole site, the others being read from `base`.
    """
    binary = pagefind_binary()
    folder = Path(folder).resolve()
    output = folder / SEARCH_FOLDER
    # Written beside the old index and swapped in whole, so a site updated in place (serve's
    # preview) never serves a half-written index.
    fresh = folder / f".{SEARCH_FOLDER}.new"
    sources = folder / f".{SEARCH_FOLDER}.pages"
    broken: list[str] = []
    try:
        groups = page_groups(folder, pages)
        keys = digests = last = None
        if keep is not None and isinstance(pages, Mapping):
            stamp = _binary_stamp(binary, keep)
            last = _KEPT.get(str(keep)) or _Kept.load(keep, stamp)
            # Indexes are kept by what Pagefind reads of their pages, not by the pages' bytes
            # (`SearchDigests`): a new day's pages all show the new date, where it ignores it.
            digests = SearchDigests(folder, base, pages, last.digests if last is not None else {})
            digests.fill([path for group in groups[1:] for path in group])
            # (the main index's key is made of the pages it indexes once they are known: `main_key`)
            keys = [*_group_keys(groups[:1], pages), *_group_keys(groups[1:], digests)]
            if last is not None and (len(last.keys) != len(keys) or not last.whole()):
                last = None
        prefill = True
        for _ in range(ATTEMPTS):
            shutil.rmtree(fresh, ignore_errors=True)
            shutil.rmtree(sources, ignore_errors=True)
            jobs = index_jobs(groups, sources, fresh)
            words = PartnerWords(sources / "words")
            given: dict[Path, list[str]] | None = {} if prefill else None
            made = _index_pages(folder, groups, jobs, words, cancel, last, keys, base, digests, given)
            if given and not all(_drop_unreferenced(output, given[output]) for output in sorted(given)):
                prefill = False  # (a fragment name Pagefind lengthened: see `_prefill`)
                continue
            if 0 in made:
                for name in UNUSED_FILES:
                    (fresh / name).unlink(missing_ok=True)
            for number in made:
                if number:
                    shard = jobs[number][1]
                    for extra in sorted(shard.iterdir()):
                        if extra.name not in SHARD_FILES and not extra.name.endswith(".pf_meta"):
                            extra.unlink()
            _stop_if(cancel)
            broken = incomplete_files(fresh, [jobs[number][1] for number in made])
            if not broken:
                break
            last = None  # (the second time, everything from the pages)
        else:
            raise SearchIndexError(f"Pagefind left incomplete files: {', '.join(broken[:3])}", RETRY_HINT)
        indexes = [out for _, out in jobs]
        for number in made:
            stable_order(indexes[number])
        hashes = {path: digests[path] for group in groups[1:] for path in group if path in pages} \
            if digests is not None else None
        kept = _keep(keep, keys, indexes, made, words, last, stamp, hashes) if keys is not None else None
        if kept is not None and digests is not None:
            kept.digests = digests.made()
        before = _LastIndex(fresh, (base or folder) / SEARCH_FOLDER)
        shard_ids = write_partner_index(fresh, indexes[1:], words,
                                        None if last is None else [None if n + 1 in made else ids
                                                                   for n, ids in enumerate(last.ids)],
                                        before)
        shared = share_vocabulary(indexes, words.chunks, last.shared if last is not None else None, before)
        _stop_if(cancel)
        count = sum(indexed_pages(index) for index in indexes) - words.pages
        files, size = _files_and_bytes(str(fresh))
        report = IndexReport(pages=count, files=files, bytes=size)
        _replace(fresh, output)
        if kept is not None:
            kept.ids, kept.shared, kept.lines = shard_ids, shared, words.lines
            _KEPT[str(keep)] = kept
            kept.tidy()
            kept.save(stamp)
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
        shutil.rmtree(sources, ignore_errors=True)
    return report


def _index_pages(folder: Path, groups: list[list[str]], jobs: list[tuple[Path, Path]], words: PartnerWords,
                 cancel: threading.Event | None, last: _Kept | None, keys: list[str] | None,
                 base: Path | None = None, hashes: Mapping[str, str] | None = None,
                 given: dict[Path, list[str]] | None = None) -> list[int]:
    """Run Pagefind for each index whose pages are not those `last` kept, and link the kept
    ones' files in; returns the numbers of the indexes Pagefind wrote (0 is the main one).
    With `given`, a partner index made again is first given the last one's fragments of its
    pages that did not change (`_prefill`), and `given` maps its folder to their names.

    `keys[0]` is then made of the main index's pages that mark a body for Pagefind, the only
    ones it indexes (`_link_marked`): a country or directory page changes with almost any
    edit to listed data, and Pagefind then made the main index again, the same, for 1.2 s at
    10,000 partners (its trial pages included)."""
    shards = jobs[1:]
    reused: list[int] = []
    if last is not None and keys is not None:
        reused = [n for n in range(1, len(jobs)) if keys[n] == last.keys[n]]
    for number in reused:
        output = jobs[number][1]
        words.given[output] = last.reads[number - 1].rebased(output)
    words.last = last
    todo = [job for n, job in enumerate(shards, 1) if n not in reused]
    made = [n for n in range(1, len(jobs)) if n not in reused]
    words.shards = [out for _, out in shards]
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="link pages") as pool, \
            concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="read words") as reader:
        more = () if base is None else (base,)
        # The pages of the partner indexes to make first (Pagefind waits for them), then the
        # main index's, then the kept indexes' files, which nothing needs until Pagefind is
        # done (at 10,000 partners, linking 19 kept indexes took 0.15-0.2 s before it started).
        # An index made again gets the fragments of its pages that did not change (`_prefill`).
        prefilled = given is not None and last is not None and hashes is not None and bool(last.hashes) and \
            len(last.ids) == len(shards)
        linked = {}
        for n in [*range(1, len(jobs)), 0]:
            if n in reused:
                continue
            linked[jobs[n][0]] = pool.submit(link_group if n else _link_marked, folder, groups[n], jobs[n][0],
                                             *more)
            if n and prefilled:  # (the pool's one thread: after the pages' links, before the next index's)
                fragments = _unchanged_fragments(last.ids[n - 1], groups[n], hashes, last.hashes)  # type: ignore
                linked[jobs[n][0]] = pool.submit(_after, linked[jobs[n][0]], _prefill, jobs[n][1],
                                                 last.folders[n], fragments)  # type: ignore[union-attr]
                given[jobs[n][1]] = fragments  # type: ignore[index]
        relinked = [pool.submit(_link_tree, last.folders[n], jobs[n][1]) for n in reused]
        words.pool = reader

        def before(source: Path, output: Path) -> None:
            made = linked.get(source)
            if made is not None and made.exception() is not None:  # (waits for it)
                raise _LinkFailed(made.exception())
            words.before(source, output)

        def main_key() -> str | None:
            if keys is not None and hashes is not None:
                marked = linked[jobs[0][0]]
                if marked.exception() is not None:  # (waits for it)
                    raise _LinkFailed(marked.exception())
                keys[0] = _group_keys([marked.result()], hashes)[0]
            return keys[0] if keys is not None else None

        wrote: list[int] | None = None
        try:
            # The partner indexes first, on every core: the word page the main index holds is
            # made from theirs. Each index's folder of links is made by a thread while Pagefind
            # indexes the ones before it (10,000 links and folders took 5 s before any started).
            if reused:
                if todo:
                    _run(_index(todo, before, apart=len(todo), after=words.after, cancel=cancel))
                words.collect()
                if words.stems == last.stems:
                    # The same partner words: the trial pages would read them as they did last
                    # time (0.45 s at 10,000 partners), and the main index's word page is the same.
                    words.tokens, words.misread, words.known = last.tokens, last.misread, True
                    if main_key() == last.keys[0]:  # and the same pages: the same main index
                        _link_tree(last.folders[0], jobs[0][1])
                        words.pages = 1
                        wrote = made
                    else:
                        _run(_index([jobs[0]], before, after=words.after, cancel=cancel))
                        wrote = [0, *made]
                else:
                    todo = []
            if wrote is None:
                _run(_index([*todo, *words.probes(shards), jobs[0]], before, apart=len(todo),
                            after=words.after, cancel=cancel))
                main_key()
                wrote = [0, *made]
        except _LinkFailed as e:  # (the disk's error, as when the pages are written)
            raise e.error from None
        except (SearchIndexError, IndexCancelled):
            raise
        except TimeoutError:
            raise SearchIndexError(f"Pagefind did not finish indexing within {TIMEOUT_SECONDS} s",
                                   RETRY_HINT) from None
        except Exception as e:  # the service reports its failures as bare Exceptions
            raise SearchIndexError(f"Pagefind could not index the site: {e}",
                                   "build with --no-search to publish without search") from e
        finally:
            for future in [*linked.values(), *words.reading.values()]:
                future.cancel()
        for linking in relinked:  # (what follows goes through every index)
            linking.result()
    return wrote


# --------------------------------------------------------------------------------------------
# Indexes kept for the next index of the same site (serve, CI)


@dataclass
class _Kept:
    """The last index of a site, for the next one.

    After a save, `serve` indexes the site again, and at 10,000 partners that took 30 s, most
    of it Pagefind going through 10,000 partner pages of which one changed; so did CI after
    each commit. This is kept in memory and on disk (`save`, in .cache/, which CI restores).
    Pagefind writes the same files from the same pages, so an index whose pages (paths and
    content hashes: `keys`) are those of last time is taken as it was written then, linked
    from the `keep` folder, and only the groups of pages that changed are indexed again. The
    main index is taken as well when its other pages and every partner word are the same (its
    word page is made of them). What follows Pagefind (the word lists, the ids, the shared
    vocabulary) is done as ever, so the index is the same as one made from nothing.
    """

    keep: Path
    keys: list[str]  # each index's pages, hashed (main first, then the partner indexes)
    folders: list[Path]  # each index's files as Pagefind wrote them (stable_order'ed), in `keep`
    reads: list[ShardRead]  # each partner index's words
    stems: list[str]  # the partner words (the main index's word page is made of them)
    tokens: list[str]
    misread: list[int]
    ids: list[dict[str, str]] = field(default_factory=list)  # each partner index's ids and slugs
    shared: dict = field(default_factory=dict)  # what share_vocabulary wrote
    lines: tuple = ()  # the partners of each word, as PartnerWords.write made them (`PartnerWords.lines`)
    made: list[int] = field(default_factory=list)  # the indexes Pagefind wrote this time (not saved)
    hashes: dict[str, str] = field(default_factory=dict)  # each partner page's search digest (`_prefill`)
    # each indexed page's content hash and search digest, so that an unchanged page is not read
    digests: dict[str, tuple[str, str]] = field(default_factory=dict)

    def whole(self) -> bool:
        return all(folder.is_dir() for folder in self.folders)

    def tidy(self) -> None:
        """Remove the kept indexes no index uses any more, and their words."""
        used = {folder.name for folder in self.folders}
        for old in sorted(self.keep.iterdir()) if self.keep.is_dir() else []:
            if old.is_dir() and old.name not in used:
                shutil.rmtree(old, ignore_errors=True)
            elif old.name.endswith(READ_SUFFIX) and old.name[:-len(READ_SUFFIX)] not in used:
                old.unlink(missing_ok=True)

    def save(self, binary: list) -> None:
        """Write what the next index needs into `keep`, for another process: CI, which restores
        .cache/ before it builds. A failure only costs that index its time.

        Each partner index's words go beside its folder, written when Pagefind wrote the index
        (or if missing), since they change only with it: rewriting all 20 indexes' words, 27 MB
        at 10,000 partners, took 0.1-0.2 s of every index after an edit to one."""
        for number, (folder, read) in enumerate(zip(self.folders[1:], self.reads, strict=True), 1):
            path = folder.with_name(folder.name + READ_SUFFIX)
            if number in self.made or not path.is_file():
                _write_kept(path, [binary, read.page_ids,
                                   [(chunk.name, held, payload) for chunk, held, payload, _ in read.chunks],
                                   read.postings])
        _write_kept(self.keep / KEPT_FILE,
                    {"format": KEPT_FORMAT, "binary": binary, "keys": self.keys,
                     "folders": [folder.name for folder in self.folders], "stems": self.stems,
                     "tokens": self.tokens, "misread": self.misread, "ids": self.ids, "shared": self.shared,
                     "lines": self.lines, "hashes": self.hashes, "digests": self.digests})

    @staticmethod
    def load(keep: Path, binary: list) -> _Kept | None:
        """What `save` wrote, if the same Pagefind wrote it and it is whole; else None."""
        try:
            data = marshal.loads((keep / KEPT_FILE).read_bytes())
            if not isinstance(data, dict) or data.get("format") != KEPT_FORMAT:
                return None
            if data.get("binary") != binary:
                return None
            reads = []
            for name in data["folders"][1:]:
                stamp, page_ids, chunks, postings = marshal.loads((keep / (name + READ_SUFFIX)).read_bytes())
                if stamp != binary:
                    return None
                reads.append(ShardRead(page_ids, [(Path(chunk), held, payload, [])
                                                  for chunk, held, payload in chunks], postings))
            lines = data.get("lines", ())
            if not (isinstance(lines, tuple) and len(lines) == 2 and isinstance(lines[1], dict)):
                lines = ()
            hashes, digests = data.get("hashes"), data.get("digests")
            kept = _Kept(keep, data["keys"], [keep / name for name in data["folders"]], reads, data["stems"],
                         data["tokens"], data["misread"], data["ids"], data["shared"], lines,
                         hashes=hashes if isinstance(hashes, dict) else {},
                         digests=digests if isinstance(digests, dict) else {})
        except (OSError, EOFError, ValueError, TypeError, KeyError):
            return None
        return kept if len(kept.folders) == len(kept.keys) == len(kept.reads) + 1 else None


_KEPT: dict[str, _Kept] = {}  # keep folder -> the last index kept there
KEPT_FILE = "kept.marshal"
BINARY_FILE = "pagefind.marshal"  # the Pagefind binary's metadata and digest (`_binary_stamp`)
KEPT_FORMAT = 3  # (3: indexes kept by their pages' search digests, no longer their bytes)
READ_SUFFIX = ".words"  # a kept partner index's words (`ShardRead`), beside its folder


def _write_kept(path: Path, data: object) -> None:
    """Write `data` to `path` whole or not at all."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        with open(temporary, "wb") as file:
            marshal.dump(data, file)
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)


def _binary_stamp(binary: Path, keep: Path) -> list:
    """The Pagefind binary, as far as a kept index depends on it (another one may write another
    index from the same pages): its size and the digest of its bytes. Not its path and
    modification time: CI installs Pagefind afresh for every run, and a stamp of those made
    every CI build index every page again. The digest (10 MB read, 25 ms) is kept in `keep`
    under the file's metadata, so each install is read once."""
    st = os.stat(binary)
    meta = [str(binary), st.st_size, st.st_mtime_ns, st.st_ino]
    known = keep / BINARY_FILE
    try:
        seen, digest = marshal.loads(known.read_bytes())
        if seen == meta and isinstance(digest, str):
            return [st.st_size, digest]
    except (OSError, EOFError, ValueError, TypeError):
        pass
    digest = hashlib.sha256(binary.read_bytes()).hexdigest()
    if keep.is_dir():
        _write_kept(known, [meta, digest])
    return [st.st_size, digest]


class SearchDigests(Mapping):
    """Each page's search digest: a digest of the page without the elements Pagefind leaves
    out of what it indexes (`searched`), by the page's path.

    Every page shows the as-of date, and many show other things that follow from it (the window
    a project must fall in to count), so the first build of each day changed the bytes of every
    page and CI's index of 10,000 partners took 12 s, all of it again. Those are all in
    elements marked `data-pagefind-ignore`: two pages that differ only there give Pagefind the
    same page to index. A page whose content hash is the one the digest was made from last time
    (`known`: path -> (hash, digest)) is not read again; the others are read from `folder` (or,
    when it holds only what changed, `base`)."""

    def __init__(self, folder: Path, base: Path | None, pages: Mapping[str, str],
                 known: Mapping[str, tuple[str, str]]):
        self.folder, self.base, self.pages, self.known = folder, base, pages, known
        self.digests: dict[str, str] = {}

    def __getitem__(self, path: str) -> str:
        digest = self.digests.get(path)
        if digest is None:
            digest = self.digests[path] = self._known(path) or search_digest(self._read(path))
        return digest

    def __iter__(self):
        return iter(self.pages)

    def __len__(self) -> int:
        return len(self.pages)

    def fill(self, paths: list[str]) -> None:
        """Make the digests of `paths` at once: on every core when there are many to read (a new
        day: 10,000 pages, 0.9 s on one)."""
        from . import parallel

        todo = [path for path in paths if path in self.pages and path not in self.digests
                and not self._known(path)]
        count = parallel.workers() if len(todo) >= parallel.MIN_PARTNERS else 1
        if count > 1 and threading.current_thread() is not threading.main_thread():
            count = 1  # (serve indexes behind its preview, in a thread: no fork there)

        def job(chunk: list[str]) -> list[str]:
            return [search_digest(self._read(path)) for path in chunk]

        chunks = parallel.chunks(todo, count * 4)
        made = parallel.fork_map(job, chunks, count) if count > 1 else [job(chunk) for chunk in chunks]
        for chunk, digests in zip(chunks, made, strict=True):
            self.digests.update(zip(chunk, digests, strict=True))
        for path in paths:
            if path in self.pages:
                self[path]  # (the known ones)

    def made(self) -> dict[str, tuple[str, str]]:
        """(content hash, search digest) of every page asked for, for the next index."""
        return {path: (self.pages[path], digest) for path, digest in self.digests.items()}

    def _known(self, path: str) -> str | None:
        hit = self.known.get(path)
        return hit[1] if hit is not None and hit[0] == self.pages[path] else None

    def _read(self, path: str) -> bytes:
        with open(_page_file(self.folder, path, self.base), "rb") as page:
            return page.read()


_IGNORED = b"data-pagefind-ignore"
_AFTER_NAME = (b" ", b">", b"\n")  # what follows a tag's name where the tag opens


def search_digest(page: bytes) -> str:
    """The digest of what Pagefind reads of a page (`searched`), or of the whole page when the
    elements it leaves out cannot be told apart for certain."""
    kept = searched(page)
    return hashlib.blake2b(kept if kept is not None else b"\0whole\0" + page, digest_size=20).hexdigest()


def searched(page: bytes) -> bytes | None:
    """The page without its elements marked `data-pagefind-ignore` (Pagefind indexes none of
    their text), or None when that is not certain (an element whose end is not found). One
    that holds filters, metadata or sort keys for Pagefind, which it reads even there, stays,
    as does one with an image or a first-level heading (which it may take as the page's).

    The pages are this project's: every tag is closed and every attribute value quoted and
    escaped (a value holds no quote or '>'), so the attribute is told from text that merely
    mentions it by the quotes before it in its tag, and an element's end by counting the
    same tag name opened and closed after it."""
    out: list[bytes] = []
    find, rfind = page.find, page.rfind
    pos = search = 0
    while (at := find(_IGNORED, search)) >= 0:
        search = at + len(_IGNORED)
        start = rfind(b"<", pos, at)
        if start < 0 or find(b">", start, at) >= 0 or page.count(b'"', start, at) % 2:
            continue  # (text, or inside an attribute's value)
        name_end = start + 1
        while page[name_end:name_end + 1].isalnum():
            name_end += 1
        tag = page[start + 1:name_end]
        if not tag or page[at - 1:at] not in (b" ", b"\n"):
            continue
        opening, closing = b"<" + tag, b"</" + tag + b">"
        depth, i = 1, find(b">", at) + 1
        if i == 0:
            return None
        while depth:
            end = find(closing, i)
            if end < 0:
                return None
            inner = find(opening, i, end)
            while inner >= 0 and page[inner + len(opening):inner + len(opening) + 1] not in _AFTER_NAME:
                inner = find(opening, inner + 1, end)
            if inner >= 0:
                depth, i = depth + 1, inner + len(opening)
            else:
                depth, i = depth - 1, end + len(closing)
        search = i
        inside = page[start:i]
        if inside.count(b"data-pagefind-") != inside.count(_IGNORED) or b"<img" in inside or b"<h1" in inside:
            continue  # (filters, metadata, sort keys, or a default image or title: kept, whole)
        out.append(page[pos:start])
        pos = i
    out.append(page[pos:])
    return b"".join(out)


def _group_keys(groups: list[list[str]], hashes: Mapping[str, str]) -> list[str]:
    return [hashlib.sha256("".join(f"{path}\0{hashes.get(path, '')}\n" for path in group).encode())
            .hexdigest() for group in groups]


def _keep(keep: Path, keys: list[str], indexes: list[Path], made: list[int], words: PartnerWords,
          last: _Kept | None, binary: list, hashes: dict[str, str] | None = None) -> _Kept:
    """Link what Pagefind wrote into `keep` (before the index is changed in place: the words
    shared among indexes, the word lists), and say what the next index may reuse.

    A kept folder is named after its pages and the Pagefind binary that indexed them
    (`_binary_stamp`): a folder already there is taken as this index's, and one written by
    another Pagefind (CI's cache, restored after an upgrade) would otherwise be linked into
    the next index beside this one's files."""
    stems = hashlib.sha256("\n".join(words.stems).encode()).hexdigest()
    tool = hashlib.sha256(repr(binary).encode()).hexdigest()
    names = [f"main-{hashlib.sha256((keys[0] + stems + tool).encode()).hexdigest()[:32]}",
             *(f"partners-{hashlib.sha256((key + tool).encode()).hexdigest()[:32]}" for key in keys[1:])]
    folders = []
    for number, index in enumerate(indexes):
        folder = keep / names[number]
        if number in made and not folder.is_dir():
            building = keep / f".{names[number]}.{os.getpid()}"
            shutil.rmtree(building, ignore_errors=True)
            _link_tree(index, building, skip=index / PARTNER_FOLDER if number == 0 else None)
            os.rename(building, folder)
        folders.append(folder if number in made or last is None else last.folders[number])
    return _Kept(keep, keys, folders, [words.read[index] for index in indexes[1:]], list(words.stems),
                 list(words.tokens), list(words.misread), made=list(made), hashes=hashes or {})


def _link_tree(source: Path, target: Path, skip: Path | None = None) -> None:
    """Every file under `source` at the same place under `target` (links; copies where the file
    system has none), but for those under `skip`."""
    for root, dirs, files in os.walk(source):
        if skip is not None:
            dirs[:] = [d for d in dirs if os.path.join(root, d) != str(skip)]
        place = os.path.join(target, os.path.relpath(root, source))
        os.makedirs(place, exist_ok=True)
        for name in files:
            try:
                os.link(os.path.join(root, name), os.path.join(place, name))
            except OSError:
                shutil.copyfile(os.path.join(root, name), os.path.join(place, name))


def _after(first: concurrent.futures.Future, then, *args) -> object:
    """`then(*args)` once `first` is done, failing as it failed."""
    first.result()
    return then(*args)


def _unchanged_fragments(ids: dict[str, str], group: list[str], hashes: Mapping[str, str],
                         last: dict[str, str]) -> list[str]:
    """The fragments of the last index of a group (`ids`: fragment -> slug) whose partner pages
    are in `group` as they were (the same content hash)."""
    pages = set(group)
    return [fragment for fragment, slug in ids.items()
            if (path := f"partners/{slug}/index.html") in pages and hashes.get(path) is not None
            and hashes.get(path) == last.get(path)]


def _prefill(output: Path, kept: Path, fragments: list[str]) -> None:
    """Links in `output`, before Pagefind writes there, to the fragments of a group's pages that
    did not change, from the group's last index: Pagefind writes no file of an index that is
    named after its content and already there, so it writes the edited pages' fragments alone.
    Writing 500 fragments took 0.45-0.5 s of Pagefind's 0.7-0.8 s on one group at 10,000
    partners (creating files on this disk is slow), and 0.20-0.23 s with them there.

    A fragment is named after the first 7 characters of its content's hash, unless another
    page of the index has the same 7 first: then Pagefind lengthens one name. A page that did
    not change makes the same fragment under the same name, so a file taken from the last index
    is one Pagefind would have written, unless an edited page's new fragment shares those 7
    characters with it; then two of the index's fragments do, one of them given, which
    `_drop_unreferenced` sees, and the index is made again with nothing given."""
    folder = output / "fragment"
    folder.mkdir(parents=True, exist_ok=True)
    for fragment in fragments:
        try:
            os.link(kept / "fragment" / f"{fragment}.pf_fragment", folder / f"{fragment}.pf_fragment")
        except OSError:  # not there: Pagefind writes it
            pass


FRAGMENT_NAME = 7  # characters of a fragment's hash in its name, unless two fragments share them


def _drop_unreferenced(index: Path, given: list[str]) -> bool:
    """Remove the fragments of a partner index that its pages do not name (of those `_prefill`
    gave it, one whose name was lengthened last time and is not now); False if a fragment it
    was given shares the first FRAGMENT_NAME characters of its name with another fragment of
    the index (see `_prefill`)."""
    folder = index / "fragment"
    if not folder.is_dir():
        return True
    meta = _read_index_file(_meta_path(index))
    if not (isinstance(meta, list) and len(meta) > 1 and isinstance(meta[1], list)
            and all(isinstance(page, list) and page and isinstance(page[0], str) for page in meta[1])):
        raise SearchIndexError(f"{_meta_path(index).name} does not list the pages where expected",
                               FORMAT_HINT)
    named = {page[0] for page in meta[1]}
    shared = Counter(name.partition("_")[2][:FRAGMENT_NAME] for name in named)
    if any(shared[name.partition("_")[2][:FRAGMENT_NAME]] > 1 for name in given if name in named):
        return False
    for path in folder.iterdir():
        if path.stem not in named:
            path.unlink()
    return True


def _stop_if(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise IndexCancelled


def page_groups(folder: Path, files: list[str] | None = None) -> list[list[str]]:
    """The site's pages as indexes will hold them: other pages first, then partner pages in groups.

    Partner pages are split in order of their paths, so the same pages give the same indexes.
    `files` (the site's files, when the build knows them) spares walking 10,000 folders, which
    took 1.9 s at 10,000 partners.
    """
    if files is None:
        files = []
        for root, dirs, names in os.walk(folder):
            rel = Path(root).relative_to(folder).as_posix()
            if rel == ".":
                dirs[:] = [d for d in dirs if d != SEARCH_FOLDER and not d.startswith(".")]
            files.extend(names if rel == "." else (f"{rel}/{name}" for name in names))
    partners: list[str] = []
    others: list[str] = []
    for path in files:
        if not path.endswith(".html"):
            continue
        parts = path.split("/")
        if len(parts) > 1 and (parts[0] == SEARCH_FOLDER or parts[0].startswith(".")):
            continue
        is_partner = len(parts) == 3 and parts[0] == "partners" and parts[2] == "index.html"
        (partners if is_partner else others).append(path)
    others.sort(key=_walk_order)
    partners.sort()
    count = partner_index_count(len(partners))
    groups = [others]
    for number in range(count):  # even groups: 9,419 pages are 19 of 495 or 496, 1,000 are 10 of 100
        groups.append(partners[number * len(partners) // count:(number + 1) * len(partners) // count])
    return groups


def partner_index_count(pages: int) -> int:
    """How many indexes `pages` partner pages are split into: groups of at most SMALL_INDEX
    pages while PARTNER_INDEXES of them hold every page, then PARTNER_INDEXES groups until they
    would pass PARTNERS_PER_INDEX, then as many as groups of that many need (see there)."""
    return max(min(-(-pages // SMALL_INDEX), PARTNER_INDEXES), -(-pages // PARTNERS_PER_INDEX))


def _walk_order(path: str) -> list[tuple[int, str]]:
    """A folder's pages before its folders', each in name order, as a sorted walk finds them."""
    *folders, name = path.split("/")
    return [*((1, folder) for folder in folders), (0, name)]


def index_jobs(groups: list[list[str]], sources: Path, fresh: Path) -> list[tuple[Path, Path]]:
    """Each index's folder of pages (`link_group`) and its output."""
    return [(sources / str(number), fresh if number == 0 else fresh / PARTNER_FOLDER / str(number - 1))
            for number in range(len(groups))]


def link_group(folder: Path, group: list[str], source: Path, base: Path | None = None) -> None:
    """A folder of links to an index's pages (the pages themselves, at their own paths); those
    not in `folder` are in `base`, when given."""
    root = str(source)
    made: set[str] = set()
    os.makedirs(root, exist_ok=True)
    for path in group:
        target = os.path.join(root, path)
        parent = os.path.dirname(target)
        if parent not in made:
            os.makedirs(parent, exist_ok=True)
            made.add(parent)
        page = _page_file(folder, path, base)
        try:
            os.link(page, target)
        except OSError:  # a file system without hard links
            shutil.copyfile(page, target)


def _page_file(folder: Path, path: str, base: Path | None) -> str:
    page = os.path.join(folder, path)
    return page if base is None or os.path.lexists(page) else os.path.join(base, path)


BODY_MARK = b"data-pagefind-body"


def _link_marked(folder: Path, group: list[str], source: Path, base: Path | None = None) -> list[str]:
    """`link_group` for the pages that mark what Pagefind indexes of them, which it returns.

    Once any page marks its body, Pagefind indexes no page that does not, but still reads and
    parses each: the main index's 680 other pages at 10,000 partners (listing pages, most of
    them long) took it 3.6 s, for the dozen program and status pages it indexes.
    """
    marked = []
    for path in group:
        with open(_page_file(folder, path, base), "rb") as page:
            if BODY_MARK in page.read():
                marked.append(path)
    link_group(folder, marked, source, *(() if base is None else (base,)))
    return marked


class _LinkFailed(Exception):
    """Linking an index's pages failed (`link_group`): the error is the disk's, not Pagefind's."""

    def __init__(self, error: BaseException):
        super().__init__(str(error))
        self.error = error


def _replace(fresh: Path, output: Path) -> None:
    old = output.with_name(f".{output.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if output.exists():
        os.rename(output, old)
    os.rename(fresh, output)
    shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Running Pagefind


async def _index(jobs: list[tuple[Path, Path]], before=None, apart: int = 0, after=None,
                 cancel: threading.Event | None = None) -> None:
    """Index each (pages folder, output) of `jobs` in order; the first `apart` do not depend on
    each other (the partner indexes) and are shared out between two Pagefind processes.

    Pagefind indexes a folder on about one core, and most of a large site's pages are partner
    pages: at 1,000 partners indexing took 5.1 s of wall time for 5.5 s of CPU. Two
    processes on two cores each take every other partner index, then one does the rest, whose
    word pages are made from the partner indexes (`PartnerWords.before`).
    """
    from . import parallel

    if apart > 1 and parallel.workers() > 1:
        ahead = jobs[:apart]
        await asyncio.gather(*(_index_one(ahead[start::2], before, after, cancel) for start in (0, 1)))
        jobs = jobs[apart:]
    await _index_one(jobs, before, after, cancel)


async def _index_one(jobs: list[tuple[Path, Path]], before=None, after=None,
                     cancel: threading.Event | None = None) -> None:
    """`_index` on one Pagefind process; `after` is called when each job's files are written,
    and the process is killed as soon as `cancel` is set."""
    from pagefind.service import PagefindService

    _answer_promptly()
    service = PagefindService()
    await service.launch()
    # The API waits for ever for an answer from a binary that crashed or hangs, so every
    # request races the binary's exit and a deadline.
    process = getattr(service, "_backend", None)
    exited = asyncio.ensure_future(process.wait()) if process is not None else None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT_SECONDS
    stop = asyncio.ensure_future(_set(cancel)) if cancel is not None else None

    def stopped() -> SearchIndexError:
        code = process.returncode
        return SearchIndexError(f"the Pagefind binary stopped while indexing (exit code {code})", RETRY_HINT)

    async def answer(request):
        job = asyncio.ensure_future(request)
        done, _ = await asyncio.wait({job, exited, stop} - {None}, timeout=max(deadline - loop.time(), 0),
                                     return_when=asyncio.FIRST_COMPLETED)
        if stop is not None and stop in done:
            job.cancel()
            await asyncio.gather(job, return_exceptions=True)
            raise IndexCancelled
        if job in done:
            if job.exception() is not None and exited is not None:
                await asyncio.wait({exited}, timeout=1)  # a lost connection is usually a dead binary
                if exited.done():
                    raise stopped()
            return job.result()
        job.cancel()
        if exited is not None and exited.done():
            raise stopped()
        raise TimeoutError

    try:
        for folder, output in jobs:
            _stop_if(cancel)
            if before is not None:
                before(folder, output)
            index = await answer(service.create_index({"output_path": str(output)}))
            await answer(index.add_directory(str(folder)))
            await answer(index.write_files())
            # Pagefind answers before its last writes reach the disk, and the API's close()
            # kills it at once: wait for the writes to land, then let it exit at the end of
            # its input.
            await answer(_written(output, getattr(process, "pid", None)))
            if after is not None:
                after(folder, output)
        if process is not None and process.stdin is not None:
            process.stdin.close()
            await answer(process.wait())
    finally:
        if process is None or process.returncode is None:
            try:
                await asyncio.wait_for(service.close(), 10)
            except BaseException:  # a failed or cancelled request fails close() too; the process must go
                pass
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()
        for task in (exited, stop, getattr(service, "_poll_task", None)):
            if isinstance(task, asyncio.Future):
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)  # retrieved: no "never retrieved" noise


# The pause Pagefind's Python service takes before it reads each answer of the binary.
SERVICE_POLL_SECONDS = 0.1


class _PromptAsyncio:
    """`asyncio` as Pagefind's service module sees it, but for the pause its loop takes before
    reading each answer (`SERVICE_POLL_SECONDS`): the read waits for the answer anyway, so the
    pause only delays it. Every request (three an index) waited up to that long after Pagefind
    had answered, which after an edit bringing a new word (four indexes) was 0.5 s of 3.4."""

    def __getattr__(self, name: str):
        return getattr(asyncio, name)

    @staticmethod
    async def sleep(delay: float, result=None):
        return await asyncio.sleep(0 if delay == SERVICE_POLL_SECONDS else delay, result)


def _answer_promptly() -> None:
    """Have Pagefind's service read each answer as it comes (`_PromptAsyncio`); its module
    uses `asyncio` for nothing else that this changes."""
    import pagefind.service as service_module

    if getattr(service_module, "asyncio", None) is asyncio:
        service_module.asyncio = _PromptAsyncio()


async def _set(event: threading.Event, interval: float = 0.05) -> None:
    """Return once `event` is set (by another thread)."""
    while not event.is_set():
        await asyncio.sleep(interval)


# How often to look whether Pagefind still has files of an index open (`_written`).
OPEN_FILES_POLL_SECONDS = 0.002


async def _written(output: Path, pid: int | None) -> None:
    """Return once Pagefind's writes into `output` have landed.

    Pagefind creates every file before it answers `write_files`, but writes each through
    tokio, which hands the bytes to a background thread and answers at once; the file is
    closed when its write is done. So where the system lists a process's open files (Linux's
    /proc), no file under `output` open means every write has landed, a few milliseconds after
    the answer; elsewhere, the files' sizes must stay the same between two looks 50 ms apart
    (`_settled`), which took 50-60 ms of each index (one to four after an edit).
    """
    descriptors = f"/proc/{pid}/fd"
    if pid is None or not os.path.isdir(descriptors):
        await _settled(output)
        return
    prefix = os.path.realpath(output) + os.sep
    while True:
        try:
            names = os.listdir(descriptors)
        except OSError:  # the process has ended: nothing of it is open
            return
        for name in names:
            try:
                if os.readlink(os.path.join(descriptors, name)).startswith(prefix):
                    break
            except OSError:  # closed meanwhile
                continue
        else:
            return
        await asyncio.sleep(OPEN_FILES_POLL_SECONDS)


async def _settled(folder: Path, interval: float = 0.05) -> None:
    """Return once the files under `folder` keep the same sizes for two looks in a row (the
    main index's own: the partner indexes in it were written before)."""

    def sizes() -> dict[str, int]:
        return {path: os.stat(path).st_size for path in _files_in(folder)}

    before = sizes()
    while True:
        await asyncio.sleep(interval)
        now = sizes()
        if now == before:
            return
        before = now


def _files_and_bytes(folder: str) -> tuple[int, int]:
    """How many files `folder` holds, at any depth, and their total size: for the report, of
    an index of 10,000 files, where pathlib's rglob and a stat of each took 0.2 s of every
    index update after an edit."""
    files = size = 0
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                more, more_size = _files_and_bytes(entry.path)
                files += more
                size += more_size
            elif entry.is_file():
                files += 1
                size += entry.stat().st_size
    return files, size


GZIP_WBITS = 31  # zlib reads a gzip file's header and checks its length and CRC (a cut file fails)


def _files_in(index: Path) -> list[str]:
    """The files of an index, without the partner indexes inside the main one."""
    found = []
    for root, dirs, files in os.walk(index):
        if root == str(index):
            dirs[:] = [d for d in dirs if d != PARTNER_FOLDER]
        found.extend(os.path.join(root, name) for name in files)
    return found


def _run(coroutine):
    """asyncio.run, also from a thread that already runs an event loop (a web server's)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


# --------------------------------------------------------------------------------------------
# Checking and settling the files


def incomplete_files(output: Path, indexes: list[Path] | None = None) -> list[str]:
    """Files cut short: compressed ones that do not unzip whole, scripts that stop mid-way.

    `indexes` (default: all) are the index folders to look at: those Pagefind just wrote."""
    shards = output / PARTNER_FOLDER
    if indexes is None:
        indexes = [output, *(sorted(shards.iterdir()) if shards.is_dir() else [])]
    bad = [(index / "pagefind-entry.json").relative_to(output).as_posix()
           for index in indexes if not (index / "pagefind-entry.json").is_file()]
    if bad:
        return bad
    # (paths as text, and zlib's one call: 10,000 files after a cold index at 10,000 partners,
    # where pathlib and gzip's reading of each header took half of the 0.53 s)
    for index in indexes:
        for path in sorted(_files_in(index)):
            suffix = os.path.splitext(path)[1]
            try:
                if suffix.startswith(".pf_") or suffix == ".pagefind":
                    with open(path, "rb") as f:
                        whole = zlib.decompress(f.read(), GZIP_WBITS).startswith(SIGNATURE)
                elif suffix == ".js":
                    with open(path, "rb") as f:
                        whole = f.read().rstrip().endswith(b";")
                elif suffix == ".json":
                    with open(path, encoding="utf-8") as f:
                        json.load(f)
                    whole = True
                else:
                    whole = True
            except (OSError, zlib.error, ValueError):
                whole = False
            if not whole:
                bad.append(Path(path).relative_to(output).as_posix())
    return bad


PARTNER_INDEX = "partner-index.json"


def write_partner_index(output: Path, shards: list[Path], words: PartnerWords | None = None,
                        known: list[dict[str, str] | None] | None = None,
                        before: _LastIndex | None = None) -> list[dict[str, str]]:
    """List the partner indexes to merge, and map each partner page's Pagefind id to its slug.

    The directory narrows its own list by the partners a query matches. Asking Pagefind for
    counts per slug filter would make it count 10,000 filter values on every search; reading
    the slugs from this small file instead keeps a search as fast as Pagefind's own. `known`
    gives each index's ids as read before (None: read them); returns them all.
    """
    found = [(known[number] if known is not None and number < len(known) else None) or _shard_ids(shard)
             for number, shard in enumerate(shards)]
    ids: dict[str, str] = {}
    for shard_ids in found:
        ids.update(shard_ids)
    manifest: dict = {"indexes": [f"{shard.relative_to(output).as_posix()}/" for shard in shards],
                      "partners": ids}
    if words is not None:
        listed = words.write(output, ids, before)
        if listed is not None:
            manifest["words"] = listed
    text = json.dumps(manifest, sort_keys=True, separators=(",", ":"))
    (output / PARTNER_INDEX).write_text(text, encoding="utf-8")
    return found


def _shard_ids(shard: Path) -> dict[str, str]:
    """A partner index's page ids, each with its partner's slug (pages of type partner only).

    Read from the index's `slug` and `type` filters, which list the pages holding each value
    by their place in the index file's list of pages, rather than from every page's fragment:
    unzipping and parsing the 9,430 fragments of a cold index at 10,000 partners took 0.45 s
    on one core, after Pagefind, where two files a partner index take a millisecond."""
    meta = _read_index_file(_meta_path(shard))
    try:
        page_ids = [page[0] for page in meta[1]]
        filters = {name: file for name, file in meta[3]}
    except (TypeError, ValueError, IndexError) as e:
        raise SearchIndexError(f"{_meta_path(shard).name} does not list pages and filters where "
                               f"expected: {e}", FORMAT_HINT) from None
    values = {}
    for name in ("slug", "type"):
        if name not in filters:
            return {}  # (no page has the filter)
        read = _read_index_file(shard / "filter" / f"{filters[name]}.pf_filter")
        try:
            if read[0] != name:
                raise ValueError(f"it is the filter {read[0]!r}")
            values[name] = {value: pages for value, pages in read[1]}
        except (TypeError, ValueError, IndexError) as e:
            raise SearchIndexError(f"Pagefind's {name} filter is not in the expected format: {e}",
                                   FORMAT_HINT) from None
    partners = set(values["type"].get("partner", ()))
    found = {page_ids[page]: slug for slug, pages in values["slug"].items() for page in pages
             if page in partners}
    return dict(sorted(found.items()))


def _read_fragment(path: Path) -> dict:
    try:
        raw = gzip.decompress(path.read_bytes())
        return json.loads(raw[len(SIGNATURE):])
    except (OSError, EOFError, ValueError) as e:
        raise SearchIndexError(f"cannot read Pagefind's {path.name}: {e}", FORMAT_HINT) from None


# --------------------------------------------------------------------------------------------
# The partners each word finds, for the directory's list


WORD_PAGE = "search-words"  # the page of partner words, in the main index only (never published)
WORD_FOLDER = "words"  # pagefind/words/: the partners of each word, in files of about WORD_CHUNK_BYTES
WORD_CHUNK_BYTES = 32_000
# Endings tried when Pagefind reads a word of its own index as another word ("chines", from
# "chinese", reads as "chine"): a word with one of these endings that reads as the word is put
# on the word page instead.
ENDINGS = ("e", "ing", "ion", "s", "es", "ed", "y", "al", "ation", "ic", "ise", "ize", "er", "ly")


class PartnerWords:
    """Which partners each word of the partner indexes finds, for the directory's list of matches.

    The directory only needs the set of partners a query matches (it sorts them itself), and
    Pagefind's search time grows with the matches: a word on 9,000 partner pages took 0.3 s
    however the pages were split. Which words a query matches is still Pagefind's to say (its
    stemming, prefixes and fallback to a shorter word): the main index holds one extra page
    whose text is every word of the partner indexes, one after the other, so searching the
    main index alone for a query word gives, in that page's word locations, the partner words
    Pagefind matched. pagefind/words/ lists the partners holding each word by its location on
    that page, and Pagefind is asked for excerpts of the partners shown only.

    A few words are read by Pagefind as other words when written on their own (a stem of a
    stem); those are replaced by a word that reads as them, found by indexing trial pages.
    Words for which none is found are listed as unsafe: queries near them are searched by
    Pagefind in every index, as before.
    """

    def __init__(self, folder: Path):
        self.folder = folder
        self.shards: list[Path] = []
        self.stems: list[str] = []  # every word partner pages hold, sorted
        self.postings: dict[str, list[tuple[int, list[int]]]] = {}  # word -> (partner index, its pages)
        self.page_ids: list[list[str]] = []  # per partner index, its pages' ids in Pagefind's order
        self.tokens: list[str] = []  # what the word page says at each location
        self.unsafe: set[str] = set()
        self.misread: list[int] = []  # stems Pagefind reads as another word when written alone
        self.chunks: dict[Path, list] = {}  # each partner index's word chunks, as read
        self.pages = 0  # pages this adds to the main index
        self.pool: concurrent.futures.Executor | None = None  # reads partner indexes as they are written
        self.reading: dict[Path, concurrent.futures.Future] = {}  # see `after`
        self.given: dict[Path, ShardRead] = {}  # partner indexes read before (kept: `_Kept`)
        self.read: dict[Path, ShardRead] = {}  # each partner index's words, as collected
        self.collected = False
        self.known = False  # tokens and misread taken from the last index, whose stems were these
        self.last: _Kept | None = None  # the last index of the site, if kept (see `write`, `_plan`)
        self.new: list[int] | None = None  # the stems the trial pages read (`_plan`)
        self.trialed: list[int] = []  # the misread stems whose endings the trial page tries
        # (the partners' slugs, hashed; word -> its list of partners): for the next index's `write`
        self.lines: tuple[str, dict[str, str]] | tuple[()] = ()

    def probes(self, shard_jobs: list[tuple[Path, Path]]) -> list[tuple[Path, Path]]:
        """Indexing jobs for the trial pages, run after the partner indexes and before the main one."""
        self.shards = [out for _, out in shard_jobs]
        if not self.shards:
            return []
        if self.collected:
            self._plan()
            if not self.new:  # every word was read before: no trial pages
                return []
        return [(self.folder / "plain", self.folder / "plain-out"),
                (self.folder / "endings", self.folder / "endings-out")]

    def _plan(self) -> None:
        """Which stems the trial pages must read (`new`): all of them, or, with the last index's
        readings, only those it lacked. Pagefind reads each word of a page at the word's own
        location, whatever is written around it, so a stem the last index had reads as it did
        then: its token and whether it was misread are taken from there. After an edit that
        brings a new word, the trial pages then hold that word instead of all 20,000 at 10,000
        partners (0.8 s of Pagefind)."""
        if self.new is not None:
            return
        self.tokens = list(self.stems)
        self.misread = []
        last = self.last
        if last is None or len(last.tokens) != len(last.stems) or \
                not all(0 <= i < len(last.stems) for i in last.misread):
            self.new = list(range(len(self.stems)))
            return
        token = dict(zip(last.stems, last.tokens, strict=True))
        misread = {last.stems[i] for i in last.misread}
        self.new = []
        for i, stem in enumerate(self.stems):
            if stem not in token:
                self.new.append(i)
                continue
            self.tokens[i] = token[stem]
            if stem in misread:
                self.misread.append(i)

    def before(self, source: Path, output: Path) -> None:
        """Write the page a job is about to index: the trial pages, then the main index's word page."""
        if not self.shards:
            return
        if source == self.folder / "plain":
            self.collect()
            self._plan()
            _word_page(source, [self.stems[i] for i in self.new] or [self.stems[0]])  # type: ignore[union-attr]
        elif source == self.folder / "endings":
            probed = self.new or []
            read = _page_words(self.folder / "plain-out", len(probed))
            self.trialed = [i for n, i in enumerate(probed) if read[n] != [self.stems[i]]]
            self.misread = sorted(self.misread + self.trialed)
            trials = [self.stems[i] + ending for i in self.trialed for ending in ENDINGS]
            _word_page(source, trials or [self.stems[0]])
        elif output not in self.shards:  # the main index
            if self.trialed and not self.known:
                read = _page_words(self.folder / "endings-out", len(self.trialed) * len(ENDINGS))
                for n, i in enumerate(self.trialed):
                    first = n * len(ENDINGS)
                    fits = [k for k in range(len(ENDINGS)) if read[first + k] == [self.stems[i]]]
                    if fits:
                        self.tokens[i] = self.stems[i] + ENDINGS[fits[0]]
            _word_page(source / WORD_PAGE, self.tokens)
            self.pages = 1

    def after(self, source: Path, output: Path) -> None:
        """A partner index is written: its words are read by `pool` (when there is one) while
        Pagefind writes the next ones, instead of all of them after the last (7 s at 10,000
        partners, with both cores idle)."""
        if self.pool is not None and output in self.shards:
            self.reading[output] = self.pool.submit(_read_shard, self.shards.index(output), output)

    def collect(self) -> None:
        """Every partner index's words (once): the stems, and the pages that hold each."""
        if self.collected:
            return
        self.collected = True
        postings: dict[str, list[tuple[int, list[int]]]] = {}
        for number, shard in enumerate(self.shards):
            made = self.reading.pop(shard, None)
            read = self.given.get(shard) or (made.result() if made is not None
                                             else _read_shard(number, shard))
            self.read[shard] = read
            self.page_ids.append(read.page_ids)
            # Read once: share_vocabulary needs them too (not their entries, which take room).
            self.chunks[shard] = read.chunks
            for word, pages in read.postings.items():  # (shard by shard: each word's pages in index order)
                known = postings.get(word)
                if known is None:
                    postings[word] = [(number, pages)]
                else:
                    known.append((number, pages))
        self.postings = postings
        self.stems = sorted(postings)

    def write(self, output: Path, ids: dict[str, str], before: _LastIndex | None = None) -> dict | None:
        """Write pagefind/words/ and return what partner-index.json says about it."""
        if not self.pages:
            return None
        main = output
        page_id, read = _word_page_in(main, len(self.tokens))
        # A location must read as its own word and nothing else: Pagefind also files the joined
        # parts of some words ("24×7" as "247") at another location, which would then answer
        # for the wrong word. Every word involved is unsafe; queries near it search every index.
        for location, found in read.items():
            expected = [self.stems[location]] if location < len(self.stems) else []
            if found != expected:
                self.unsafe.update(found)
                self.unsafe.update(expected)
        slugs = sorted(set(ids.values()))
        number = {slug: n for n, slug in enumerate(slugs)}
        partners_key = hashlib.sha256("\n".join(slugs).encode()).hexdigest()
        kept, changed = self._kept_lines(partners_key, ids)
        made: dict[str, str] = {}
        folder = output / WORD_FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        chunks = []
        lines: list[str] = []
        size = 0
        start = 0

        def flush(end: int) -> None:
            body = "[" + ",".join(lines) + "]"
            name = f"{start}_{hashlib.sha256(body.encode()).hexdigest()[:10]}.json"
            _write_anew(folder / name, body.encode("utf-8"), before)
            chunks.append([start, name])

        # Each page's partner number (-1: not a partner page), looked up once, not per word.
        numbers = [[number[ids[page_id]] if page_id in ids else -1 for page_id in page_ids]
                   for page_ids in self.page_ids]
        for i, stem in enumerate(self.stems):
            line = kept.get(stem) if stem not in changed else None
            if line is None:
                found: set[int] = set()
                for shard, pages in self.postings[stem]:
                    found.update(map(numbers[shard].__getitem__, pages))
                found.discard(-1)
                partners = sorted(found)
                deltas = [b - a for a, b in zip([0, *partners], partners, strict=False)]
                line = "[" + ",".join(map(str, deltas)) + "]"
            made[stem] = line
            lines.append(line)
            size += len(line) + 1
            if size >= WORD_CHUNK_BYTES:
                flush(i + 1)
                start, lines, size = i + 1, [], 0
        if lines:
            flush(len(self.stems))
        self.lines = (partners_key, made)
        return {"page": page_id, "chunks": chunks, "count": len(self.stems), "unsafe": sorted(self.unsafe)}

    def _kept_lines(self, partners_key: str, ids: dict[str, str]) -> tuple[dict[str, str], set[str]]:
        """The last index's list of partners for each word, and the words whose list may differ
        now: those whose partners differ in an index Pagefind wrote again. A word's list is the
        same if the same partners hold it (numbered in the same order, `partners_key`), and an
        index taken as it was (`given`) holds the same words on the same partners' pages; so
        after an edit only the edited partner's index is compared, word by word, where every
        word's list of all 20 indexes was made again (0.3 s at 10,000 partners)."""
        last = self.last
        if last is None or len(last.lines) != 2 or last.lines[0] != partners_key \
                or len(last.reads) != len(self.shards) or len(last.ids) != len(self.shards):
            return {}, set()
        changed: set[str] = set()
        for n, shard in enumerate(self.shards):
            if shard in self.given:
                continue
            old, new = last.reads[n], self.read[shard]
            old_ids = last.ids[n]
            old_slugs = [old_ids.get(page_id) for page_id in old.page_ids]
            new_slugs = [ids.get(page_id) for page_id in new.page_ids]
            for word in old.postings.keys() | new.postings.keys():
                before = {old_slugs[page] for page in old.postings.get(word, ())}
                now = {new_slugs[page] for page in new.postings.get(word, ())}
                before.discard(None)
                now.discard(None)
                if before != now:
                    changed.add(word)
        return last.lines[1], changed


@dataclass(frozen=True)
class ShardRead:
    """What a partner index holds, as PartnerWords and share_vocabulary need it."""

    page_ids: list[str]  # its pages' ids in Pagefind's order
    chunks: list[tuple[Path, set[str], bytes, list]]  # its word chunks (file, words, payload, [])
    postings: dict[str, list[int]]  # word -> the number of each page holding it

    def rebased(self, index: Path) -> ShardRead:
        """The same, for the same files linked into another folder."""
        return ShardRead(self.page_ids, [(index / "index" / path.name, held, payload, entries)
                                         for path, held, payload, entries in self.chunks], self.postings)


def _read_shard(number: int, shard: Path) -> ShardRead:
    """Partner index `number`'s page ids, word chunks (without their entries) and postings
    (word -> the number of each page holding it)."""
    meta = _read_index_file(_meta_path(shard))
    page_ids = [page[0] for page in meta[1]]
    chunks = _word_chunks(shard)
    postings: dict[str, list[int]] = {}
    for _, _, _, entries in chunks:
        for word, pages, *variants in entries:
            # A word with accents is filed under its plain form ("bogota": "bogotá"), which a
            # query finds it by, with or without the accents.
            for listed in [pages, *(v[1] for v in (variants[0] if variants else []))]:
                page = 0
                held = postings.setdefault(word, [])
                for entry in listed:
                    page += entry[0]
                    held.append(page)
    return ShardRead(page_ids, [(path, held, payload, []) for path, held, payload, _ in chunks], postings)


def _word_page(folder: Path, tokens: list[str]) -> None:
    """A page whose indexed text is `tokens`, one word at each location from 0."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index.html").write_text(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>-</title></head><body>'
        f'<main data-pagefind-body><p>{" ".join(tokens)}</p></main></body></html>', encoding="utf-8")


def _page_words(index: Path, count: int) -> dict[int, list[str]]:
    """The words Pagefind indexed at each location 0..count-1 of an index's only page."""
    return _word_page_in(index, count)[1]


def _word_page_in(index: Path, count: int) -> tuple[str, dict[int, list[str]]]:
    """The word page's Pagefind id, and the words Pagefind indexed at each of its locations."""
    meta = _read_index_file(_meta_path(index))
    page_ids = [page[0] for page in meta[1]]
    page = None
    for number, page_id in enumerate(page_ids):
        fragment = _read_fragment(index / "fragment" / f"{page_id}.pf_fragment")
        if fragment.get("url", "").strip("/") in (WORD_PAGE, ""):
            page = number
            break
    if page is None:
        raise SearchIndexError("Pagefind did not index the page of partner words", RETRY_HINT)
    read: dict[int, list[str]] = {i: [] for i in range(count)}
    for _, _, _, entries in _word_chunks(index):
        for word, pages, *_ in entries:
            at = 0
            for entry in pages:
                at += entry[0]
                if at == page:
                    for location in entry[1]:
                        if location >= 0:
                            read.setdefault(location, []).append(word)
                elif at > page:
                    break
    return page_ids[page], read


def share_vocabulary(indexes: list[Path], read: dict | None = None, done: dict | None = None,
                     before: _LastIndex | None = None) -> dict:
    """Give every index every word of the others, with no pages.

    When no word in an index starts with a searched word, Pagefind searches the longest word
    it has that the searched word starts with instead ("kestrelx" finds "kestrel"). In one
    index that only happens to words the site lacks; in a split index it would happen in every
    index that lacks a partner's name, finding unrelated partners ("kestrel" finding "k...").
    With the same words everywhere, the split indexes find exactly what one index would.

    `done` holds what was made before (serve's or the last build's index: `_Kept`): the word
    chunks, by the chunk as Pagefind wrote it and the words added, and what became of each
    whole index, by the index as Pagefind wrote it and the words of all indexes. An index
    found there is written as it was, without placing its missing words again (at 10,000
    partners, 17,000 in each of 21 indexes, most of this function's 0.35-0.65 s); after an
    edit that brings no new word, that is every index but the edited one. Returns what was
    made or taken from `done`, for the next index.
    """
    if len(indexes) < 2:
        return {}
    from . import parallel

    done = done or {}
    chunks = {index: (read or {}).get(index) or _word_chunks(index) for index in indexes}
    everything = set().union(*(words for listed in chunks.values() for _, words, _, _ in listed))
    ordered = sorted(everything)
    every = hashlib.sha256("\n".join(ordered).encode()).digest()
    encoded: dict[str, bytes] = {}  # each word, with no pages, as CBOR (once, not once per index)

    def share(index: Path) -> dict:
        made: dict = {}
        key = (WHOLE_INDEX, _as_written(index, chunks[index]), every)
        if key in done and _apply_words(index, done[key], done, made, before):
            made[key] = done[key]
            return made
        own = set().union(*(words for _, words, _, _ in chunks[index]))
        missing = [word for word in ordered if word not in own]
        made[key] = _add_words(index, chunks[index], missing, encoded, done, made, before) or ()
        return made

    # Each index is rewritten apart, by threads: most of the work is compressing its word chunks
    # with their new words, which zlib does without holding the interpreter (at 10,000
    # partners, 1 s of a cold index's 1.25 s here, on one core).
    made: dict = {}
    with concurrent.futures.ThreadPoolExecutor(parallel.workers(), thread_name_prefix="share words") as pool:
        for made_here in pool.map(share, indexes):
            made.update(made_here)
    return made


WHOLE_INDEX = "index"  # `share_vocabulary`'s key for what became of a whole index


def _as_written(index: Path, chunks: list) -> bytes:
    """An index as Pagefind wrote it: its entry, its index file and its word chunks."""
    digest = hashlib.sha256((index / "pagefind-entry.json").read_bytes())
    digest.update(_meta_path(index).read_bytes())
    for path, _, payload, _ in chunks:
        digest.update(f"\0{path.name}\0".encode())
        digest.update(payload)
    return digest.digest()


def _apply_words(index: Path, wrote: tuple, done: dict, made: dict, before: _LastIndex | None = None) -> bool:
    """Write what `_add_words` wrote into an index before (`wrote`: its chunks replaced, by
    their keys in `done`, its index file and its entry); False, with nothing changed, if
    anything it needs is missing."""
    if wrote == ():
        return True  # (it lacked no word)
    try:
        replaced, (meta_name, meta_data), entry = wrote
        chunks = [(old, done[chunk], chunk) for old, chunk in replaced]
        meta_path = _meta_path(index)
        if not all((index / "index" / old).is_file() for old, _, _ in chunks):
            return False
    except (KeyError, TypeError, ValueError, OSError, SearchIndexError):
        return False
    for old, (name, data), chunk in chunks:
        _write_anew(index / "index" / f"{name}.pf_index", data, before)
        (index / "index" / old).unlink()
        made[chunk] = (name, data)
    target = meta_path.with_name(meta_name)
    if target != meta_path:
        meta_path.unlink()
    _write_anew(target, meta_data, before)
    _write_anew(index / "pagefind-entry.json", entry, before)
    return True


def _word_chunks(index: Path) -> list[tuple[Path, set[str], bytes, list]]:
    """Each word chunk of an index: its file, its words, its CBOR payload and its entries
    ([word, pages, accented forms] each)."""
    meta = _read_index_file(_meta_path(index))
    if not (isinstance(meta, list) and len(meta) > 2 and isinstance(meta[2], list)
            and all(isinstance(c, list) and len(c) == 3 for c in meta[2])):
        raise SearchIndexError(f"{_meta_path(index).name} does not list the word chunks where expected",
                               FORMAT_HINT)
    out = []
    for _, _, chunk in meta[2]:
        path = index / "index" / f"{chunk}.pf_index"
        try:
            payload = gzip.decompress(path.read_bytes())[len(SIGNATURE):]
            value = cbor2.loads(payload)
        except (OSError, EOFError, cbor2.CBORDecodeError, ValueError) as e:
            raise SearchIndexError(f"cannot read Pagefind's {path.name}: {e}", FORMAT_HINT) from None
        if not (isinstance(value, list) and len(value) == 1 and isinstance(value[0], list)
                and all(isinstance(w, list) and len(w) == 3 and isinstance(w[0], str) for w in value[0])
                and payload[:1] == b"\x81"):
            raise SearchIndexError(f"{path.name} is not a word index as expected", FORMAT_HINT)
        out.append((path, {w[0] for w in value[0]}, payload, value[0]))
    return out


def _add_words(index: Path, chunks: list[tuple[Path, set[str], bytes]], missing: list[str],
               encoded: dict[str, bytes] | None = None, done: dict | None = None,
               made: dict | None = None, before: _LastIndex | None = None) -> tuple | None:
    """Put each missing word (sorted), with no pages, in the chunk Pagefind would look in for it.

    Pagefind fetches the chunks whose range holds the word searched. A word that falls between
    two chunks' ranges goes into the later chunk, whose range is lowered to start at it: the
    words that range now takes in were in no range before, so no search loses a chunk.
    A chunk in `done` (see `share_vocabulary`) is taken from there; each chunk is put in `made`.
    Returns what was written, for `_apply_words` (None: nothing was missing).
    """
    if not missing:
        return None
    entry_path = index / "pagefind-entry.json"
    entry = json.loads(entry_path.read_text(encoding="utf-8"))
    language = _only_language(entry, index)
    prefix = language["hash"].partition("_")[0]
    meta_path = _meta_path(index)
    meta = _read_index_file(meta_path)
    ranges = meta[2]
    added = _placed(missing, ranges)
    replaced = []
    for number, words in added.items():
        path, present, payload, _ = chunks[number]
        key = (path.name, hashlib.sha256("\n".join(words).encode()).digest())
        name, data = (done or {}).get(key) or _with_words(prefix, payload, words, encoded)
        if made is not None:
            made[key] = (name, data)
        _write_anew(path.with_name(f"{name}.pf_index"), data, before)
        path.unlink()
        ranges[number][2] = name
        replaced.append((path.name, key))
    language["hash"] = _write_index_file(meta_path, prefix, meta, ".pf_meta", 10, stem="pagefind.",
                                         before=before)
    meta_file = _meta_path_named(index, language["hash"])
    entry_bytes = json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode()
    _write_anew(entry_path, entry_bytes, before)
    return replaced, (meta_file.name, meta_file.read_bytes()), entry_bytes


def _placed(missing: list[str], ranges: list[list]) -> dict[int, list[str]]:
    """Which chunk each missing word (sorted) goes in, by chunk number, with the chunks' ranges
    ([start, end, name] each) widened as `_add_words` says.

    Word by word, a word goes in the last chunk whose start is at most the word, or in the
    first chunk (lowering its start) if there is none; if it is past that chunk's end (compared
    on the end's length: an end may be a prefix), it goes in the next chunk instead, lowering
    that chunk's start to it, or, past the last chunk, raises the last chunk's end. After each
    word, the words that follow it in the same chunk without changing a range are a run (both
    tests are monotone in sorted words), taken at once: 17,000 missing words in each of 20
    indexes took 0.2 s one by one."""
    starts = [r[0] for r in ranges]
    added: dict[int, list[str]] = {}
    count = len(missing)
    i = 0
    while i < count:
        word = missing[i]
        number = bisect.bisect_right(starts, word) - 1
        if number < 0:
            number = 0
            ranges[0][0] = starts[0] = word
        elif word[:len(ranges[number][1])] > ranges[number][1]:
            if number + 1 < len(ranges):
                number += 1
                ranges[number][0] = starts[number] = word
            else:
                ranges[number][1] = word
        taken = added.setdefault(number, [])
        taken.append(word)
        i += 1
        end = ranges[number][1]
        size = len(end)
        below = bisect.bisect_left(missing, starts[number + 1], i) if number + 1 < len(starts) else count
        run_end = bisect.bisect_right(missing, end, i, below, key=lambda w: w[:size])  # noqa: B023 - used here
        taken.extend(missing[i:run_end])
        i = run_end
    return added


def _with_words(prefix: str, payload: bytes, words: list[str],
                encoded: dict[str, bytes] | None) -> tuple[str, bytes]:
    """A word chunk with `words` added, with no pages: its name and its file's bytes."""
    # [[word, ...]]: keep the words' bytes as they are, count the new ones in, add them after.
    count, rest = _array_head(payload[1:])
    encoded = {} if encoded is None else encoded
    for word in words:
        if word not in encoded:
            encoded[word] = cbor2.dumps([word, [], []])
    body = (SIGNATURE + b"\x81" + _array_header(count + len(words)) + rest
            + b"".join(encoded[w] for w in words))
    return f"{prefix}_{hashlib.sha256(body).hexdigest()[:7]}", gzip.compress(body, compresslevel=6, mtime=0)


def _write_anew(path: Path, data: bytes, before: _LastIndex | None = None) -> None:
    """Write a file as a new file: the old one may be a link to a kept index (`_Kept`).

    If the last index (`before`) has the same file with the same bytes, the new one is a link
    to it (`_LastIndex`)."""
    path.unlink(missing_ok=True)
    last = before.of(path) if before is not None else None
    if last is not None:
        try:
            with open(last, "rb") as f:
                same = f.read(len(data) + 1) == data
            if same:
                os.link(last, path)
                return
        except OSError:  # not there, or not to be linked to: written
            pass
    path.write_bytes(data)


@dataclass(frozen=True)
class _LastIndex:
    """The index a new one (in `fresh`) replaces, whose files it may link to (`_write_anew`).

    After an edit, the files the index stage writes into the indexes Pagefind did not make
    again (their word chunks with every other index's words, their entries, the word lists)
    are mostly the same bytes as last time, and a file created on this disk, where the last
    build deleted a few thousand, took 0.45-0.7 ms, against 0.01 ms for a link: 400-500 of them
    after each edit at 10,000 partners. A link is made only to a file of the same bytes, and
    the stage only ever replaces an index's files, never changes one in place (Pagefind writes
    only into folders it makes again, where the only links are fragments that it does not write
    when they are there: `_prefill`), so a link shares nothing that changes."""

    fresh: Path
    last: Path

    def of(self, path: Path) -> Path | None:
        """The file at `path`'s place in the last index."""
        try:
            return self.last / path.relative_to(self.fresh)
        except ValueError:
            return None


def _array_header(length: int) -> bytes:
    if length < 24:
        return bytes([0x80 | length])
    info, size = next((24 + n, 1 << n) for n in range(4) if length < 1 << (8 << n))
    return bytes([0x80 | info]) + length.to_bytes(size, "big")


def _array_head(data: bytes) -> tuple[int, bytes]:
    """A CBOR array's length and what follows its head."""
    info = data[0] & 0x1F
    if data[0] >> 5 != 4 or info > 27:
        raise SearchIndexError("a Pagefind word chunk does not start with a list of words", FORMAT_HINT)
    if info < 24:
        return info, data[1:]
    size = 1 << (info - 24)
    return int.from_bytes(data[1:1 + size], "big"), data[1 + size:]


def _meta_path(index: Path) -> Path:
    entry = json.loads((index / "pagefind-entry.json").read_text(encoding="utf-8"))
    return _meta_path_named(index, _only_language(entry, index)["hash"])


def _meta_path_named(index: Path, language_hash: str) -> Path:
    return index / f"pagefind.{language_hash}.pf_meta"


def _only_language(entry: dict, index: Path) -> dict:
    """The site's pages share one language (base.html's); split indexes rely on it."""
    languages = list(entry.get("languages", {}).values())
    if len(languages) != 1:
        raise SearchIndexError(f"{index.name}: Pagefind indexed the pages in {len(languages)} languages, "
                               "expected one", "give every page one <html lang>, or build with --no-search")
    return languages[0]


def stable_order(output: Path) -> None:
    """Put Pagefind's lists in a stable order, so the same pages give the same bytes.

    Pagefind 1.5 writes the values of each filter, and the lists of filters and sort orders in
    its metadata file, in hash-map order, which changes from run to run (Pagefind issue #638);
    fragments and word indexes are already stable. The rewritten files are named after their
    content, as Pagefind names them, and the references to them updated.
    """
    entry_path = output / "pagefind-entry.json"
    try:
        entry = json.loads(entry_path.read_text(encoding="utf-8"))
        languages = entry["languages"]
    except (OSError, ValueError, KeyError) as e:
        raise SearchIndexError(f"Pagefind wrote no readable {SEARCH_FOLDER}/pagefind-entry.json ({e})",
                               FORMAT_HINT) from None
    for language in languages.values():
        prefix = language["hash"].partition("_")[0]
        meta_path = output / f"pagefind.{language['hash']}.pf_meta"
        meta = _read_index_file(meta_path)
        if not (isinstance(meta, list) and len(meta) > 3 and isinstance(meta[3], list)
                and all(isinstance(f, list) and len(f) == 2 and all(isinstance(x, str) for x in f)
                        for f in meta[3])):
            raise SearchIndexError(f"{meta_path.name} does not list the filters where expected", FORMAT_HINT)
        filters = []
        for name, chunk in sorted(meta[3]):
            path = output / "filter" / f"{chunk}.pf_filter"
            index = _read_index_file(path)
            if not (isinstance(index, list) and len(index) == 2 and isinstance(index[1], list)):
                raise SearchIndexError(f"{path.name} is not a filter index as expected", FORMAT_HINT)
            index[1].sort(key=lambda value: value[0])
            filters.append([name, _write_index_file(path, prefix, index, ".pf_filter", 7)])
        meta[3] = filters
        if len(meta) > 4 and isinstance(meta[4], list):  # the sort orders, [name, pages] each
            meta[4].sort(key=lambda order: order[0])
        language["hash"] = _write_index_file(meta_path, prefix, meta, ".pf_meta", 10, stem="pagefind.")
    _write_anew(entry_path, json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode())


def _read_index_file(path: Path) -> object:
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError) as e:
        raise SearchIndexError(f"cannot read Pagefind's {path.name}: {e}", FORMAT_HINT) from None
    if not raw.startswith(SIGNATURE):
        raise SearchIndexError(f"Pagefind's {path.name} lacks its signature", FORMAT_HINT)
    payload = raw[len(SIGNATURE):]
    try:
        value = cbor2.loads(payload)
        same = cbor2.dumps(value) == payload
    except (cbor2.CBORDecodeError, ValueError) as e:
        raise SearchIndexError(f"Pagefind's {path.name} is not in the expected format: {e}",
                               FORMAT_HINT) from None
    if not same:
        raise SearchIndexError(f"Pagefind's {path.name} is not encoded as expected", FORMAT_HINT)
    return value


def _write_index_file(old: Path, prefix: str, value: object, suffix: str, digits: int,
                      stem: str = "", before: _LastIndex | None = None) -> str:
    """Write `value` in Pagefind's form, named after its content; returns the name's hash part."""
    payload = SIGNATURE + cbor2.dumps(value)
    name = f"{prefix}_{hashlib.sha256(payload).hexdigest()[:digits]}"
    target = old.with_name(f"{stem}{name}{suffix}")
    if target != old:
        old.unlink(missing_ok=True)
    _write_anew(target, gzip.compress(payload, compresslevel=9, mtime=0), before)
    return name


def indexed_pages(output: Path) -> int:
    """Pages in the index: those with data-pagefind-body, not every page Pagefind read."""
    entry = json.loads((output / "pagefind-entry.json").read_text(encoding="utf-8"))
    return sum(int(language["page_count"]) for language in entry["languages"].values())
