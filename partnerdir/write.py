"""Stage 6: the site on disk, all or nothing.

A build writes into a fresh folder next to the output and swaps it in only once everything,
the search index included, is there, so visitors and `serve` never see half a site and a
failed build leaves the previous one untouched. A lock next to the output keeps two builds
from swapping at the same time.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None


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


def _clear_leftovers(out: Path) -> None:
    """Folders left by builds that were killed before cleaning up; the lock says none is running."""
    for pattern in (f".{out.name}.build-*", f".{out.name}.old-*"):
        for leftover in out.parent.glob(pattern):
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)


@contextmanager
def staged(out: Path) -> Iterator[Path]:
    """A fresh folder next to `out`; it replaces `out` when the block ends without an error.

    On an error the folder is deleted and `out` is left exactly as it was. Call it while
    holding `locked(out)`.
    """
    _check_output(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _clear_leftovers(out)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.build-", dir=out.parent))
    os.chmod(stage, 0o755)  # mkdtemp makes it private; a web server must read the site
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    swap(stage, out)


def swap(stage: Path, out: Path) -> None:
    """Put `stage` where `out` is, keeping the old site until the new one is in place."""
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
        shutil.rmtree(old, ignore_errors=True)
