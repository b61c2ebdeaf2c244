"""Stage 6b: the search index, written by Pagefind into the staging folder before the swap.

Pagefind reads the finished pages, so what it indexes is decided where the pages are written:
the templates mark the main content of partner pages and program and status pages with
`data-pagefind-body` (every other page stays out of the index), keep navigation and filter chrome
out with `data-pagefind-ignore`, and tag partner pages with the same facet values the directory
filters by. Indexing the staging folder means a failed index fails the build and the previous
site stays as it was.

The binary comes from the `pagefind-bin` package; nothing is downloaded at build time. The
index runs through Pagefind's Python API, whose service answers one request per poll, so the
whole folder is handed over in one request rather than page by page.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
from dataclasses import dataclass
from pathlib import Path

SEARCH_FOLDER = "pagefind"
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
INSTALL_HINT = ("install it with `python3 -m pip install 'pagefind[bin]'`, "
                "or build without search with --no-search")


class SearchIndexError(Exception):
    """The search index could not be written; the message says why and the hint what to do."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class IndexReport:
    """What the build summary says about the index."""

    pages: int  # pages Pagefind indexed
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
    try:
        from pagefind.service import get_executable
    except ImportError:
        raise SearchIndexError("the pagefind Python package is not installed", INSTALL_HINT) from None
    try:
        found = get_executable()
    except (FileNotFoundError, OSError):
        found = None
    if found is None:
        raise SearchIndexError("the Pagefind binary was not found (package pagefind-bin)", INSTALL_HINT)
    found = Path(found)
    if not found.is_file() or not os.access(found, os.X_OK):
        source = " (from PAGEFIND_BINARY_PATH)" if os.environ.get("PAGEFIND_BINARY_PATH") else ""
        raise SearchIndexError(f"the Pagefind binary {found}{source} does not exist or cannot be run",
                               INSTALL_HINT)
    return found


def build_index(folder: Path, directory=None) -> IndexReport:
    """Index the built site in `folder` into `folder/pagefind/`.

    `directory` (the pages' plain data) is accepted for the pipeline's sake; what is indexed
    is read from the pages themselves, as a visitor's browser will search them.
    """
    pagefind_binary()
    folder = Path(folder).resolve()
    output = folder / SEARCH_FOLDER
    try:
        _run(_index(folder, output))
    except SearchIndexError:
        raise
    except TimeoutError:
        raise SearchIndexError(f"Pagefind did not finish indexing within {TIMEOUT_SECONDS} s",
                               "build again; if it happens again, build with --no-search and report it")
    except Exception as e:  # the service reports its failures as bare Exceptions
        raise SearchIndexError(f"Pagefind could not index the site: {e}",
                               "build with --no-search to publish without search") from e
    for name in UNUSED_FILES:
        (output / name).unlink(missing_ok=True)
    files = [p for p in output.rglob("*") if p.is_file()]
    return IndexReport(pages=indexed_pages(output), files=len(files), bytes=sum(p.stat().st_size for p in files))


def indexed_pages(output: Path) -> int:
    """Pages in the index: those with data-pagefind-body, not every page Pagefind read."""
    try:
        entry = json.loads((output / "pagefind-entry.json").read_text(encoding="utf-8"))
        return sum(int(lang["page_count"]) for lang in entry["languages"].values())
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SearchIndexError(f"Pagefind wrote no readable {SEARCH_FOLDER}/pagefind-entry.json ({e})",
                               "build again; if it happens again, build with --no-search and report it")


async def _index(folder: Path, output: Path) -> None:
    from pagefind.index import PagefindIndex

    async def work() -> None:
        # Leaving the block without an error writes the files to output_path.
        async with PagefindIndex(config={"output_path": str(output)}) as index:
            await index.add_directory(str(folder))

    await asyncio.wait_for(work(), TIMEOUT_SECONDS)


def _run(coroutine):
    """asyncio.run, also from a thread that already runs an event loop (a web server's)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
