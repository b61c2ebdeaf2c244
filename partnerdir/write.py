"""Stage 6: the site on disk, all or nothing.

A build writes into a fresh folder next to the output and swaps it in only once everything,
the search index included, is there, so visitors and `serve` never see half a site and a
failed build leaves the previous one untouched. A lock next to the output keeps two builds
from swapping at the same time.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import os
import re
import shutil
import stat
import sys
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

# (concurrent.futures, subprocess and ctypes are imported where they are used: a build with
# nothing to do, which imports this module, needs none of them, and they took 7 ms of its 0.12 s.)


class WriteError(Exception):
    """The output folder cannot be written; the message says why and what to do."""


def lock_path(out: Path) -> Path:
    return out.parent / f".{out.name}.lock"


@contextmanager
def locked(out: Path) -> Iterator[None]:
    """Hold the output folder's lock, or fail at once with who holds it.

    The operating system releases the lock when its holder exits, even if it crashed, so a
    stale lock file never blocks the next build.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    path = lock_path(out)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.read(fd, 100).decode("ascii", "replace").strip()
                who = f" (process {holder})" if holder.isdigit() else ""
                raise WriteError(
                    f"another build is writing {out}{who}; wait for it to finish and build again"
                ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        try:
            _writes_done()  # a build that failed may have left files being written by threads
        finally:
            os.close(fd)  # closing releases the lock


def _check_output(out: Path) -> None:
    """Refuse output folders whose replacement would destroy something that is not a built site."""
    resolved = out.resolve()
    cwd = Path.cwd().resolve()
    if resolved == cwd or resolved in cwd.parents or (resolved / ".git").exists():
        raise WriteError(f"refusing to replace {out}: it holds the project itself; choose another --out")
    if resolved.exists() and not resolved.is_dir():
        raise WriteError(f"{out} is a file, not a folder; choose another --out")
    if resolved.is_dir() and any(resolved.iterdir()) and not (resolved / ".nojekyll").exists():
        raise WriteError(f"refusing to replace {out}: it is not empty and was not written by a build; "
                         "choose a new folder or empty it")


def _safe_relative(path: str) -> PurePosixPath:
    rel = PurePosixPath(path)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise ValueError(f"refusing to write outside the site: {path!r}")
    return rel


_PLAIN_PATH = re.compile(r"[^/\\\x00]+(?:/[^/\\\x00]+)*")
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def _joined(folder: Path, path: str) -> str:
    """str(folder.joinpath(*_safe_relative(path).parts)), without pathlib for the usual site
    path (no empty, '.' or '..' part, nothing for pathlib to tidy)."""
    if _PLAIN_PATH.fullmatch(path) and os.sep == "/":
        parts = path.split("/")
        if "." not in parts and ".." not in parts:
            return f"{folder}/{path}"
    return str(folder.joinpath(*_safe_relative(path).parts))


def write_tree(folder: Path, files: Mapping[str, bytes]) -> int:
    """Write every file under `folder`; returns how many."""
    made: set[Path] = set()
    for path, data in files.items():
        target = folder.joinpath(*_safe_relative(path).parts)
        if target.parent not in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.add(target.parent)
        target.write_bytes(data)
    return len(files)


def new_stage(out: Path) -> Path:
    """An empty folder next to `out` for `sparse_staged`, which a build killed before it was
    done leaves to the next build to delete."""
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.build-", dir=out.parent))


def _clear_leftovers(out: Path, keep: Path | None = None) -> None:
    """Folders left by builds that were killed before cleaning up; the lock says none is running
    (`keep`: this build's own, begun before it held the lock)."""
    for pattern in (f".{out.name}.build-*", f".{out.name}.old-*"):
        for leftover in out.parent.glob(pattern):
            if leftover.is_dir() and leftover != keep:
                shutil.rmtree(leftover, ignore_errors=True)


@contextmanager
def staged(out: Path, reuse: bool = False, background: bool = False) -> Iterator[Path]:
    """A fresh folder next to `out`; it replaces `out` when the block ends without an error.

    On an error the folder is deleted and `out` is left exactly as it was. Call it while
    holding `locked(out)`. With `reuse`, the folder starts as a copy of `out` made of hard
    links (for `sync_tree` to change only what differs) and the old tree is deleted in the
    background after the swap: deleting ten thousand pages takes seconds on a slow disk
    (`background`: so is the old tree of a folder that starts empty).
    """
    _check_output(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _clear_leftovers(out)
    stage = new_stage(out)
    os.chmod(stage, 0o755)  # mkdtemp makes it private; a web server must read the site
    try:
        if reuse and out.is_dir():
            _link_copy(out, stage)
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    swap(stage, out, background=reuse or background)


@contextmanager
def sparse_staged(out: Path, whole: tuple[str, ...] = (),
                  stage: Path | None = None) -> Iterator[tuple[Path, list[SiteWriter]]]:
    """An empty folder next to `out` for the files that changed; when the block ends without an
    error they are moved into `out` one atomic rename each, and the files the writer (appended
    to the list by the caller) found removed are deleted. A folder named in `whole` (the search
    index) that the block made in the stage replaces the one in `out` whole, with two renames.

    For a rebuild that changes a few files of a large site, copying the whole tree to swap it
    in (`staged`) costs seconds; this costs the changed files. A failure before the end leaves
    `out` untouched. Visitors may see some files new and others not yet for the moments the
    renames take, and a build killed during them leaves `out` half updated: the caller forgets
    the last build's record first, so the next build makes every file again. Call it while
    holding `locked(out)`. `stage`: a folder `new_stage(out)` made, which the caller began to
    fill before it held the lock (the block then owns it).
    """
    try:
        _check_output(out)
        _clear_leftovers(out, keep=stage)
    except BaseException:
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
        raise
    if stage is None:
        stage = new_stage(out)
    writers: list[SiteWriter] = []
    try:
        yield stage, writers
    except BaseException:
        for writer in writers:  # (files still being written by its threads)
            try:
                writer.written()
            except OSError:
                pass
        shutil.rmtree(stage, ignore_errors=True)
        raise
    try:
        for writer in writers:
            writer.written()
        kept = apply_changes(stage, out, set().union(*(w.removed for w in writers)), aside=stage,
                             whole=whole)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    if not kept:
        shutil.rmtree(stage, ignore_errors=True)
        return
    # `stage` holds the large files replaced (partners.json's 100 MB): freeing them takes the
    # kernel a noticeable part of a small rebuild, so a thread deletes it (or the next build's
    # `_clear_leftovers`, if this process ends first)
    threading.Thread(target=shutil.rmtree, args=(stage,), kwargs={"ignore_errors": True},
                     name="free replaced files").start()


def apply_changes(stage: Path, out: Path, removed: set[str], aside: Path | None = None,
                  whole: tuple[str, ...] = ()) -> bool:
    """Move every file of `stage` to the same place in `out` and delete `removed` from `out`;
    the folders `whole` (at the top of `stage`) replace those of `out` whole.

    Large files replaced are kept in the folder `aside` (for the caller to delete later) if
    given; whether any was.
    """
    kept = False
    moves = []
    for root, dirs, names in os.walk(stage):
        if root == str(stage):
            dirs[:] = [d for d in dirs if d not in whole]
        moves.extend((root, name) for name in names)
    for n, (root, name) in enumerate(moves):
        rel = os.path.relpath(root, stage)
        path = name if rel == "." else os.path.join(rel, name)
        target = out / path
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)  # an old folder where the new site has a file
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            for parent in reversed(target.parents):  # old files where the new site has folders
                if parent.is_file() or parent.is_symlink():
                    parent.unlink()
            target.parent.mkdir(parents=True, exist_ok=True)
        keep = aside / f".replaced-{n}" if aside is not None else None
        replace(Path(root, name), target, keep)
        kept = kept or (keep is not None and os.path.lexists(keep))
    for name in whole:
        if (stage / name).is_dir():
            old = (aside or stage) / f".replaced-{name}"
            if os.path.lexists(out / name):
                os.rename(out / name, old)
                kept = True
            os.rename(stage / name, out / name)
    emptied: set[str] = set()
    for path in removed:
        try:
            os.unlink(out / path)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            continue
        emptied.add(os.path.dirname(path))
    for rel in sorted(emptied, key=lambda p: -p.count("/")):
        while rel:
            try:
                os.rmdir(out / rel)
            except OSError:
                break
            rel = os.path.dirname(rel)
    return kept


def _link_copy(source: Path, target: Path) -> None:
    """`target` (an empty folder) made to hold the same files as `source`, as hard links."""
    for root, dirs, names in os.walk(source):
        rel = os.path.relpath(root, source)
        here = target if rel == "." else target / rel
        for name in dirs:
            os.mkdir(here / name, 0o755)
        for name in names:
            os.link(os.path.join(root, name), here / name, follow_symlinks=False)


def content_hash(data: bytes) -> str:
    """A file's identity (128 bits): SHA-256, which processors' SHA instructions make twice as
    fast as BLAKE2b here (a build hashes every file it writes: 470 MB at 10,000 partners, and
    the 28 MB of directory pages an edit to listed data changes)."""
    return hashlib.sha256(data).hexdigest()[:32]


class SiteWriter:
    """Writes a site into a staging folder file by file, skipping files that are already right.

    The folder may start as a `_link_copy` of the last build, whose file hashes are
    `previous`: a file with an unchanged hash is left alone, every other one is written as a
    new file (never into the old one, which the live site shares), and `finish` deletes what
    the new site does not have, with folders left empty. `put` may be called from forked
    workers, each for its own paths.

    `in_place` updates a live folder that holds exactly `previous` instead (serve's preview):
    each changed file is replaced in one step, so no reader sees half a file, but a build that
    fails half way leaves some files new, so the caller forgets `previous` while it writes.
    Nothing is walked or copied, which on a slow disk is most of a small rebuild. Those files
    are written by threads while the build goes on (creating and replacing a file is mostly
    the kernel's work: 450 of them after an edit to listed data); `finish` waits for them and
    raises the first error.
    """

    def __init__(self, folder: Path, previous: Mapping[str, str] | None = None,
                 in_place: bool = False, base: Path | None = None, site: Path | None = None,
                 keep: Path | None = None) -> None:
        self.folder = folder
        # Where each new file is hard-linked by its hash the moment it is written, by whichever
        # process writes it (the record cache's pages, `Store.keep_pages`): linking 10,000
        # pages after a cold build took a third of a second on one core, while the render
        # keeps both busy. A file that cannot be linked there is linked (or not) later.
        self.keep = str(keep) if keep is not None else None
        self.site = site or base or folder  # the live site's folder, whatever is being written
        self.previous = previous or {}
        self.in_place = in_place
        # where the files of `previous` are: `folder` itself, or the live site when `folder`
        # is a sparse staging folder that receives only what changed (see `sparse_staged`)
        self.base = base or folder
        self.removed: set[str] = set()
        self._writing: list[Future] = []  # in-place writes still being done by `_pool`
        self._pool: ThreadPoolExecutor | None = None
        self._pid = os.getpid()  # (a forked worker writes its files itself)
        self.present: set[str] = set(self.previous) if in_place else set()
        for root, _dirs, names in ([] if in_place else os.walk(folder)):
            rel = os.path.relpath(root, folder)
            prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
            self.present.update(prefix + name for name in names)

    def put(self, path: str, data: bytes | Callable[[], bytes],
            digest: str | None = None) -> tuple[str, bool]:
        """Write one file if it differs from what is there; its hash, and whether it was written.

        `digest`, when the caller knows it (a page kept from the last build), saves hashing it;
        `data` may then be a function that returns the bytes, called only if they are written.
        """
        known = digest is not None
        digest = digest or content_hash(data)
        if path in self.present and self.previous.get(path) == digest:
            if not self.in_place or known or self.base.joinpath(*_safe_relative(path).parts).is_file():
                return digest, False
        if callable(data):  # a page kept in the cache, read only when it must be written
            data = data()
        if not self.in_place and path not in self.present:
            name = self._write_new(path, data)
            if self.keep is not None:
                try:
                    os.link(name, os.path.join(self.keep, digest))
                except OSError:
                    pass
            return digest, True
        target = self.folder.joinpath(*_safe_relative(path).parts)
        if self.in_place:
            if os.getpid() != self._pid:
                _write_replacing(str(target), data)
                return digest, True
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(WRITERS, thread_name_prefix="write")
                _WRITING.add(self)
            self._writing.append(self._pool.submit(_write_replacing, str(target), data))
            return digest, True
        os.unlink(target)
        target.write_bytes(data)
        return digest, True

    def put_known(self, files: Iterable[tuple[str, bytes | Callable[[], bytes], str | None]]
                  ) -> dict[str, tuple[str, bool]]:
        """`put` for each (path, data, digest) of `files`, most of them unchanged with their
        hashes known (a rebuild's reused partner pages: 10,000 calls of `put` took 10 ms)."""
        present, previous = self.present, self.previous
        done = {}
        for path, data, digest in files:
            if digest is not None and path in present and previous.get(path) == digest:
                done[path] = (digest, False)  # (as `put` answers: a known hash, the same file)
            else:
                done[path] = self.put(path, data, digest)
        return done

    def _write_new(self, path: str, data: bytes) -> str:
        """A file where the folder had none: opened with one call, its folder made only when
        the opening fails for want of it, an old folder in its way deleted. A cold build
        writes 10,000 pages; checking for a folder and making the parent before each, and
        Python's buffered file, took eight system calls a file instead of three."""
        name = _joined(self.folder, path)
        try:
            fd = os.open(name, _NEW_FILE, 0o666)
        except (FileNotFoundError, NotADirectoryError):
            try:
                os.makedirs(os.path.dirname(name), exist_ok=True)
            except (FileExistsError, NotADirectoryError):
                self._clear_way(Path(name))  # old files where the new site needs folders
            fd = os.open(name, _NEW_FILE, 0o666)
        except IsADirectoryError:
            if os.path.islink(name):
                raise
            shutil.rmtree(name)  # an old folder where the new site has a file
            fd = os.open(name, _NEW_FILE, 0o666)
        _write_all(fd, data)
        return name

    def put_chunks(self, path: str, chunks: Iterable[bytes]) -> tuple[str, bool]:
        """`put` for a file made piece by piece (partners.json: 100 MB at 10,000 partners).

        Its hash is made from the pieces' hashes, and a piece this process wrote before into the
        same file (the same bytes object: an unchanged partner's entry) is not hashed again.
        When the file on disk is still the one this process wrote, the pieces before the first
        and after the last changed one are copied from it by the kernel instead of written
        again, so an edit to one partner writes one entry, not the whole file.
        """
        pieces = list(chunks)  # references: the pieces already exist
        target = self.folder.joinpath(*_safe_relative(path).parts)
        existing = self.base.joinpath(*_safe_relative(path).parts)
        key = str(self.site.joinpath(*_safe_relative(path).parts).resolve())
        last = _PIECES.get(key)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        ahead = None
        if path not in self.present and last is None:
            # A new file, nothing to compare or copy from (a build from nothing): written by a
            # thread while this one hashes the pieces, both mostly outside the interpreter
            # (0.15 s each for partners.json at 10,000 partners).
            target.parent.mkdir(parents=True, exist_ok=True)
            ahead = _Writing(temporary, pieces)
        try:
            hashes = _piece_hashes(pieces, last)
        except BaseException:
            if ahead is not None:
                ahead.discard()
            raise
        hexdigest = joined_hash(hashes)
        if path in self.present and self.previous.get(path) == hexdigest and \
                (not self.in_place or existing.is_file()):
            return hexdigest, False
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            if ahead is not None:
                ahead.wait()
            else:
                with open(temporary, "wb") as f:
                    if last is None or not _patch(f, existing, last, pieces):
                        f.seek(0)
                        f.truncate()
                        _write_pieces(f, pieces)
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)  # an old folder where the new site has a file
            replace(temporary, target)  # a new file: never into one the live site shares
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        _PIECES.pop(key, None)
        try:
            st = os.stat(target)  # the same file once the build is swapped or moved in
            _PIECES[key] = (pieces, hashes, (st.st_size, st.st_mtime_ns, st.st_ino))
        except OSError:
            pass
        return hexdigest, True

    def _clear_way(self, target: Path) -> None:
        """Old files where the new site needs folders."""
        for parent in reversed(target.parents):
            if parent.is_file() or parent.is_symlink():
                parent.unlink()
        target.parent.mkdir(parents=True, exist_ok=True)

    def written(self) -> None:
        """Wait for the files being written by threads (see `in_place`); raise the first error."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
            _WRITING.discard(self)
        writing, self._writing = self._writing, []
        for done in writing:
            done.result()

    def finish(self, paths: set[str] | Mapping[str, object]) -> None:
        """Delete the files the new site does not have, and folders that leaves empty."""
        self.written()
        if self.base != self.folder:  # sparse staging: deleted from the live site when it is applied
            self.removed = self.present - set(paths)
            return
        emptied: set[str] = set()
        for path in self.present - set(paths):
            try:
                os.unlink(self.folder / path)
            except FileNotFoundError:
                continue
            except IsADirectoryError:
                continue  # a folder the new site put where this file was
            emptied.add(os.path.dirname(path))
        for rel in sorted(emptied, key=lambda p: -p.count("/")):
            while rel:
                try:
                    os.rmdir(self.folder / rel)
                except OSError:
                    break
                rel = os.path.dirname(rel)


BIG = 4 << 20  # a replaced file this large is freed in the background
WRITERS = 2  # threads that write an in-place rebuild's files
_WRITING: weakref.WeakSet[SiteWriter] = weakref.WeakSet()  # writers whose threads may be writing


def _writes_done() -> None:
    """Wait for every writer's threads (their errors are the build's, which has ended)."""
    for writer in list(_WRITING):
        try:
            writer.written()
        except OSError:
            pass


def _write_all(fd: int, data: bytes) -> None:
    """All of `data` written to a new file's descriptor, which is then closed (os.write may
    write less than it is given)."""
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _write_replacing(target: str, data: bytes) -> None:
    """A live site's file replaced in one step by a new one, never written into (the cache may
    share it), its folder made if there is none."""
    folder, name = os.path.split(target)
    temporary = os.path.join(folder, f".{name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        fd = os.open(temporary, _NEW_FILE, 0o666)
    except FileNotFoundError:
        os.makedirs(folder, exist_ok=True)
        fd = os.open(temporary, _NEW_FILE, 0o666)
    _write_all(fd, data)
    replace(Path(temporary), Path(target))


def _swapped(source: str | Path, target: str | Path) -> bool:
    """Whether `source` and `target`, a file, were swapped (renameat2 with RENAME_EXCHANGE).

    A rename onto an existing file makes ext4 allocate and start writing out the new file's
    data there and then: putting a rebuilt partners.json (78 MB) in place waited 4-30 ms for it,
    a cache shard 10 ms, a tenth of a quick rebuild all told, for data the kernel's flusher
    writes out in the background anyway. Swapping skips that. False, with nothing done, when
    swapping is unavailable (another system or file system)."""
    try:
        return _exchange(Path(source), Path(target))
    except OSError:  # the target went meanwhile, or this file system says no: renameat2 either
        return False  # swaps or changes nothing, and os.replace then says what it thinks


def replace(source: Path, target: Path, keep: Path | None = None) -> None:
    """os.replace, without the write-out ext4 starts there and then (see `_swapped`). A large
    file it replaces (partners.json's 100 MB) is let go by a thread, as freeing its pages takes
    the kernel a noticeable part of a small rebuild. With `keep`, it is kept there instead, for
    the caller to delete later."""
    try:
        found = os.lstat(target)
    except OSError:
        found = None
    big = found is not None and found.st_size >= BIG
    if found is not None and stat.S_ISREG(found.st_mode) and _swapped(source, target):
        # (the old file is at `source` now)
        if big and keep is not None:
            os.rename(source, keep)
        elif big:
            threading.Thread(target=_unlink, args=(source,), name="free replaced file").start()
        else:
            _unlink(source)
        return
    aside = None
    try:
        if big:
            aside = keep or target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.old")
            os.link(target, aside)
    except OSError:
        aside = None
    os.replace(source, target)
    if aside is not None and keep is None:
        threading.Thread(target=_unlink, args=(aside,), name="free replaced file").start()


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _piece_hashes(pieces: list[bytes], last: tuple | None) -> list[bytes]:
    """Each piece's hash, taken from `last` (what was written before) for a piece that is the
    same object: by position first (an edit leaves all but a few pieces where they were), then
    by identity anywhere (a partner added or removed shifts the rest)."""
    old, old_hashes = (last[0], last[1]) if last else ([], [])
    if len(old) == len(pieces):
        hashes = [h if piece is before else None
                  for piece, before, h in zip(pieces, old, old_hashes, strict=True)]
        if hashes.count(None) <= 16:
            # As many pieces as before and a few new ones (an edit): they are new bytes, not
            # pieces moved, and hashing them beats mapping 20,000 old pieces by identity.
            return [h or piece_hash(piece) for h, piece in zip(hashes, pieces, strict=True)]
    else:
        hashes = [None] * len(pieces)
    known: dict[int, bytes] | None = None
    for i, h in enumerate(hashes):
        if h is None:
            if known is None:
                known = {id(piece): hashed for piece, hashed in zip(old, old_hashes, strict=True)}
            hashes[i] = known.get(id(pieces[i])) or piece_hash(pieces[i])
    return hashes  # type: ignore[return-value]


def piece_hash(piece: bytes) -> bytes:
    """A piece of a file written in pieces (a partner's partners.json entry): SHA-256, as
    `content_hash`, for the same reason (100 MB of pieces at 10,000 partners)."""
    return hashlib.sha256(piece).digest()[:16]


def pieces_hash(pieces: Iterable[bytes]) -> str:
    """The hash `put_chunks` gives a file made of these pieces."""
    return joined_hash([piece_hash(piece) for piece in pieces])


def joined_hash(hashes: list[bytes]) -> str:
    return hashlib.sha256(b"".join(hashes)).hexdigest()[:32]


# The pieces of each file `put_chunks` wrote in this process, their hashes and the file's
# metadata then, by the path the file has in the live site.
_PIECES: dict[str, tuple[list[bytes], list[bytes], tuple[int, int, int]]] = {}


def _patch(f, existing: Path, last: tuple, pieces: list[bytes]) -> bool:
    """Write `pieces` to `f` copying the unchanged start and end from `existing`, the file made
    of `last`'s pieces; False (nothing useful written) if that file is not it any more."""
    old, _, identity = last
    try:
        source = open(existing, "rb")
    except OSError:
        return False
    with source:
        st = os.fstat(source.fileno())
        if (st.st_size, st.st_mtime_ns, st.st_ino) != identity:
            return False
        limit = min(len(old), len(pieces))
        head = 0
        while head < limit and pieces[head] is old[head]:
            head += 1
        tail = 0
        while tail < limit - head and pieces[-1 - tail] is old[-1 - tail]:
            tail += 1
        head_bytes = sum(len(piece) for piece in old[:head])
        tail_bytes = sum(len(piece) for piece in old[len(old) - tail:])
        try:
            _copy_range(source, f, 0, head_bytes)
            f.write(b"".join(pieces[head:len(pieces) - tail]))
            _copy_range(source, f, st.st_size - tail_bytes, tail_bytes)
        except OSError:
            return False
    return True


class _Writing:
    """A new file written from its pieces by a thread (`SiteWriter.put_chunks`)."""

    def __init__(self, path: Path, pieces: list[bytes]) -> None:
        self.path = path
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(pieces,), name=f"write {path.name}")
        self.thread.start()

    def _run(self, pieces: list[bytes]) -> None:
        try:
            with open(self.path, "wb") as f:
                _write_pieces(f, pieces)
        except BaseException as e:  # noqa: BLE001 - raised by `wait`, in the thread that asks
            self.error = e

    def wait(self) -> None:
        self.thread.join()
        if self.error is not None:
            raise self.error

    def discard(self) -> None:
        self.thread.join()
        self.path.unlink(missing_ok=True)


def _write_pieces(f, pieces: list[bytes]) -> None:
    """`pieces` written one after the other to the (binary, buffered) file `f`, a thousand at a
    time with os.writev where there is one: 20,000 writes through the file's buffer took half
    the time of putting partners.json together at 10,000 partners."""
    f.flush()
    fd = f.fileno()
    writev = getattr(os, "writev", None)
    step = 1024
    for start in range(0, len(pieces), step):
        batch = pieces[start:start + step]
        if writev is None:
            f.write(b"".join(batch))
            f.flush()
            continue
        total = sum(map(len, batch))
        done = writev(fd, batch)
        if done < total:  # (a short write: the rest, as plain writes)
            rest = memoryview(b"".join(batch))[done:]
            while rest:
                rest = rest[os.write(fd, rest):]
    f.seek(0, os.SEEK_END)


def _copy_range(source, target, offset: int, count: int) -> None:
    """`count` bytes of `source` from `offset` appended to `target`, in the kernel where it can."""
    target.flush()
    done = 0
    while done < count:
        try:
            n = os.copy_file_range(source.fileno(), target.fileno(), count - done, offset + done)
        except (AttributeError, OSError):
            n = 0
        if n <= 0:  # not supported here: through this process
            source.seek(offset + done)
            target.write(source.read(count - done))
            return
        done += n
    target.seek(0, os.SEEK_END)


def sync_tree(folder: Path, files: Mapping[str, bytes],
              previous: Mapping[str, str] | None = None) -> tuple[dict[str, str], int]:
    """Make `folder` hold exactly `files` (see `SiteWriter`); their hashes, and how many were written."""
    for path in files:
        _safe_relative(path)
    writer = SiteWriter(folder, previous)
    writer.finish(files)
    hashes: dict[str, str] = {}
    written = 0
    for path, data in files.items():
        hashes[path], changed = writer.put(path, data)
        written += changed
    return hashes, written


def remove_behind(folder: Path) -> None:
    """Delete a folder nothing uses any more without waiting for it, where the platform allows."""
    _remove(folder, True)


def _remove(folder: Path, background: bool) -> None:
    """Delete a replaced site; in the background if asked, where the platform allows it."""
    if background and os.name == "posix" and shutil.which("rm"):
        import subprocess

        try:
            subprocess.Popen(["rm", "-rf", "--", str(folder)], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            return
        except OSError:
            pass
    shutil.rmtree(folder, ignore_errors=True)


def swap(stage: Path, out: Path, background: bool = False) -> None:
    """Put `stage` where `out` is, keeping the old site until the new one is in place.

    Where the system can exchange two folders in one step (Linux), `out` is at every instant
    the whole old site or the whole new one, even for a build killed mid-swap; elsewhere the
    old site is moved aside first, and a kill between the two renames leaves no `out`.
    """
    if out.exists() and _exchange(stage, out):
        _remove(stage, background)  # it holds the old site now
        return
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.rmdir(old)
        os.rename(out, old)
    try:
        os.rename(stage, out)
    except OSError:
        if old is not None:
            os.rename(old, out)
        shutil.rmtree(stage, ignore_errors=True)
        raise
    if old is not None:
        _remove(old, background)


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


@functools.cache
def _renameat2():
    """The C library's renameat2, or None where there is none (not Linux, an old C library)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    renameat2.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
    return renameat2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically with renameat2(RENAME_EXCHANGE); False where that is unavailable."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    import ctypes

    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):  # old kernel or file system
        return False
    raise OSError(code, os.strerror(code), str(b))
