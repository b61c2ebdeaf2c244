"""The `build` command: load → validate → award → render → write → index, then swap the site in.

`build_site` runs the stages and returns what happened (problems included) without printing,
so `serve` can rebuild on every change and show problems its own way; `run` is the command
line around it. Stages hand plain data to each other: partners, awards, a `Directory`, and
the site's files as {path: bytes}.

The search index is the one stage that works on files: if the module `partnerdir.index`
exists it is called as `index.build_index(folder, directory)` on the finished staging folder
before the swap, and anything it raises fails the build like any other stage.
"""

from __future__ import annotations

import datetime as dt
import gc
import importlib
import importlib.util
import os
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from . import cache
from .problems import Problem, format_problems, relative
from .progress import Progress
from .project import Paths
from .write import SiteWriter, WriteError, locked, sparse_staged, staged

INDEX_MODULE = "partnerdir.index"


@dataclass
class BuildResult:
    ok: bool
    out: Path
    as_of: dt.date
    problems: list[Problem] = field(default_factory=list)
    listed: int = 0
    review: list[str] = field(default_factory=list)  # review report: partners removed, one line each
    files: int = 0
    pages: int = 0
    timings: list[tuple[str, float]] = field(default_factory=list)  # (stage, seconds) in order
    index: object | None = None  # what the search index stage reports (has .text()), if it ran
    written: int = 0  # files written; the others were already as they should be
    unchanged: bool = False  # no input changed since the last build, so nothing was done

    @property
    def seconds(self) -> float:
        return sum(t for _, t in self.timings)


def search_available() -> bool:
    return importlib.util.find_spec(INDEX_MODULE) is not None


def build_site(paths: Paths, as_of: dt.date, base_url: str | None = None, search: bool = True,
               out: Path | None = None, changed: list[Path] | None = None,
               progress: Progress | None = None, remember: bool = True,
               in_place: bool = False) -> BuildResult:
    """Build the site into `out` (default paths.out), or leave it untouched and say why not.

    Builds are incremental (see `cache`): nothing is done when no input changed since the last
    successful build into `out`, and otherwise only changed records are read, checked and
    rendered again (within one process, such as `serve`, and across processes through the
    record cache in .cache/records/) and only files whose bytes changed are written.
    `changed` names files known to have changed, which are always read again;
    `remember=False` keeps no rendered pages for a next build in this process (the command
    line builds once, and a large site's pages need not stay in memory). `in_place=True`
    (serve's preview) rewrites changed files where they are, one atomic replace each, instead
    of swapping in a whole new folder, which takes seconds for a large site on a slow disk; a
    failed build may then leave the folder half updated, and the next build rewrites it.
    The result is the same site a build from nothing makes.
    """
    if not (remember and cache.memo_for(out or paths.out).records):
        return _build_site(paths, as_of, base_url, search, out, changed, progress, remember, in_place)
    # A rebuild in a process that keeps its last build (serve): the collector's full passes
    # over everything kept took a quarter of a second at 10,000 partners, so they wait until
    # the build is done, when nobody waits for it.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _build_site(paths, as_of, base_url, search, out, changed, progress, remember, in_place)
    finally:
        if collecting:
            gc.enable()


def _build_site(paths: Paths, as_of: dt.date, base_url: str | None, search: bool, out: Path | None,
                changed: list[Path] | None, progress: Progress | None, remember: bool,
                in_place: bool) -> BuildResult:
    out = out or paths.out
    progress = progress or Progress.quiet()
    result = BuildResult(ok=False, out=out, as_of=as_of)
    search = search and search_available()

    @contextmanager
    def clock(stage: str, total: int = 0) -> Iterator[None]:
        """Time a stage and show it; its items are all done when it ends (workers do them)."""
        progress.stage(stage, total)
        with _timed(result.timings, stage):
            yield
        progress.advance(total)

    with clock("check"):
        state = cache.input_state(paths, as_of, base_url, search)
        last = cache.load_last(paths, out)
        if last is not None and last["digest"] == state.digest and last.get("settled") and state.settled:
            _restore(result, last["summary"])
            progress.done()
            return result
        # Loaded only now: a build with nothing to do answers before these libraries load.
        from .award import review_report
        from .render import BaseUrlError, Site, render_site

        memo = cache.memo_for(out)
        memo.start(state, as_of, base_url, search)
        memo.forget(list(changed or []))
        checked = cache.check_reusing(paths, as_of, memo, state)
    if not checked.ok:
        progress.done()
        result.problems = checked.problems
        return result
    rules = checked.rules
    try:
        site = Site.from_base_url(base_url or rules.site.base_url)
    except BaseUrlError as e:
        progress.done()
        where = "--base-url" if base_url else relative(paths.rules)
        result.problems = [Problem(where, field="" if base_url else "site.base_url", message=str(e))]
        return result

    with clock("award", len(checked.partners)):
        awards = cache.award_reusing(checked.partners, rules, as_of, memo)
        cache.encode_new(checked.partners, awards, rules, memo)
        listing_key = cache.listing_key(checked.partners, awards, memo)
        d = cache.directory_reusing(checked.partners, awards, rules, as_of, memo, listing_key)
    result.listed = len(d.partners)
    result.review = review_report(checked.partners, awards, rules)

    previous = (last or {}).get("manifest")
    with clock("cache"):
        cache.save_checked(memo, checked.partners, awards, state)
        cache.pages_from_disk(checked.partners, memo, previous)
        cache.load_listing(memo)
    reused = cache.pages_to_reuse(checked.partners, memo)
    rendered: dict[str, tuple[bytes, str, str, str]] = {}
    listing = restore = None
    if memo.listing is not None and memo.listing[0] == listing_key:
        kept = memo.listing[1]
        if previous is not None and \
                all(previous.get(path) == digest for path, (digest, _) in kept.files.items()):
            listing = kept  # nothing listed changed, and the files are still there
        else:
            restore = kept  # nothing listed changed: its files may be in the cache
    listings: list = []
    in_place = in_place and previous is not None
    # With no search index to make from the whole tree, a rebuild stages only the files that
    # change and moves them in (`write.sparse_staged`) instead of copying the site to swap it.
    sparse = not in_place and previous is not None and not search
    if in_place:
        cache.forget_last(paths, out)  # until it is whole again
    try:
        # Pages go straight from whichever process renders them into the staging folder, which
        # replaces `out` only once everything, the search index included, is in it.
        folder = nullcontext(out) if in_place else sparse_staged(out) if sparse else \
            staged(out, reuse=previous is not None)
        with _holding(out, last), folder as stage:
            if sparse:
                stage, writers = stage
            writer = SiteWriter(stage, previous, in_place=in_place or sparse, base=out if sparse else None,
                                site=out)
            if sparse:
                writers.append(writer)
            if restore is not None and cache.restore_listing(restore, memo, writer, previous):
                listing = restore
            try:
                with clock("render", len(d.partners)):
                    files = render_site(d, paths.templates, paths.static, paths.content, site,
                                        search=search, reuse=reused, rendered=rendered, sink=writer,
                                        listing=listing, listing_out=listings, keep_pages=remember)
            except Exception as e:  # a mistake in a template, reported like a mistake in a record
                problem = _template_problem(e, paths.templates)
                if problem is None:
                    raise
                raise _StageFailed(problem) from e
            with clock("write", len(files)):
                writer.finish(files)
            if search:
                with clock("index"):
                    result.index = _index_stage(stage, d)
            if sparse:
                cache.forget_last(paths, out)  # until the changes are all moved in
    except WriteError as e:
        progress.done()
        result.problems = [Problem(relative(out), message=str(e))]
        return result
    except OSError as e:
        progress.done()
        result.problems = [Problem(relative(Path(e.filename or out)),
                                   message=f"cannot write the site: {e.strerror or e}")]
        return result
    except _StageFailed as e:
        progress.done()
        result.problems = [e.problem]
        return result
    hashes = {path: digest for path, (digest, _) in files.items()}
    cache.remember_pages(checked.partners, rendered, reused, memo, hashes)
    if listings:
        unchanged = {path: (digest, False) for path, (digest, _) in listings[0].files.items()}
        memo.listing = (listing_key, type(listings[0])(listings[0].pages, unchanged))
    with clock("cache"):
        cache.save_rendered(d.order, memo, out, hashes)
        cache.save_listing(memo)
    if not remember:  # their pages were not kept: a later build takes them from the disk
        memo.pages.clear()
    result.files = len(files)
    result.pages = sum(1 for p in files if p.endswith(".html"))
    result.written = sum(1 for _, written in files.values() if written)
    manifest = hashes
    progress.done()
    result.ok = True
    cache.save_last(paths, out, state, _summary_data(result), manifest)
    return result


@dataclass(frozen=True)
class _IndexText:
    """The index stage's report as the last build printed it."""

    line: str

    def text(self) -> str:
        return self.line


def _summary_data(result: BuildResult) -> dict:
    index = result.index.text() if result.index is not None and hasattr(result.index, "text") else None
    return {"listed": result.listed, "review": result.review, "files": result.files,
            "pages": result.pages, "index": index}


def _restore(result: BuildResult, data: dict) -> None:
    """A build that found nothing to do reports what the site it kept holds."""
    result.ok = True
    result.unchanged = True
    result.listed = data.get("listed", 0)
    result.review = list(data.get("review", []))
    result.files = data.get("files", 0)
    result.pages = data.get("pages", 0)
    if data.get("index"):
        result.index = _IndexText(data["index"])


@contextmanager
def _holding(out: Path, last: dict | None) -> Iterator[None]:
    """The output's lock, once sure no other build swapped a new site in since this one read
    `last`: files it would reuse as unchanged might then be the other build's."""
    with locked(out):
        if last is not None and cache.out_stamp(out) != last.get("out"):
            raise WriteError(f"another build replaced {relative(out)}/ while this one was running; "
                             "build again")
        yield


class _StageFailed(Exception):
    def __init__(self, problem: Problem):
        super().__init__(problem.text())
        self.problem = problem


def _index_stage(stage: Path, d) -> object:
    """Any failure of the search index stops the build with its message; the old site stays."""
    try:
        return importlib.import_module(INDEX_MODULE).build_index(stage, d)
    except OSError:
        raise
    except Exception as e:
        raise _StageFailed(Problem("search index", message=str(e) or type(e).__name__,
                                   hint=getattr(e, "hint", ""))) from e


@contextmanager
def _timed(timings: list[tuple[str, float]], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings.append((stage, time.perf_counter() - start))


def _template_problem(error: Exception, templates: Path) -> Problem | None:
    """A template mistake names the template file and line, like a record problem does."""
    from jinja2 import TemplateError, TemplateSyntaxError

    if isinstance(error, TemplateSyntaxError) and error.filename:
        return Problem(relative(Path(error.filename)), error.lineno or 0, 0, "", error.message or str(error))
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if frame.filename.startswith(str(templates)):
            return Problem(relative(Path(frame.filename)), frame.lineno or 0, 0, "",
                           f"{type(error).__name__}: {error}")
    if isinstance(error, TemplateError):
        return Problem(relative(templates), message=f"{type(error).__name__}: {error}")
    return None


def summary(result: BuildResult) -> str:
    lines = [f"Built {relative(result.out)}/ for {result.as_of.isoformat()}: "
             f"{result.listed} partner{'s' if result.listed != 1 else ''} listed, "
             f"{len(result.review)} removed at review."]
    lines += [f"  {line}" for line in result.review]
    if result.unchanged:
        lines.append(f"Nothing changed since the last build: {result.files} files, "
                     f"{result.pages} of them pages, left as they were.")
    else:
        lines.append(f"{result.files} files, {result.pages} of them pages; "
                     f"{result.written} files written, the others were unchanged.")
    if result.index is not None and hasattr(result.index, "text"):
        lines.append(f"Search: {result.index.text()}.")
    stages = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in result.timings)
    lines.append(f"Time: {stages}; total {result.seconds:.2f} s.")
    return "\n".join(lines)


def run(args, paths: Paths, as_of: dt.date) -> int:
    result = build_site(paths, as_of, base_url=getattr(args, "base_url", None),
                        search=not getattr(args, "no_search", False), out=paths.out, progress=Progress(),
                        remember=False)
    if not result.ok:
        print(format_problems(result.problems), file=sys.stderr)
        if os.environ.get("GITHUB_ACTIONS") == "true":
            for p in result.problems:
                print(p.github())
        n = len(result.problems)
        print(f"\nThe build stopped: {n} problem{'s' if n != 1 else ''}; "
              f"{relative(result.out)}/ was not changed.", file=sys.stderr)
        return 1
    print(summary(result))
    return 0
