"""The `build` command: load → validate → award → render → write → index, then swap the site in.

`build_site` runs the stages and returns what happened (problems included) without printing,
so `serve` can rebuild on every change and show problems its own way; `run` is the command
line around it. Stages hand plain data to each other: partners, awards, a `Directory`, and
the site's files as {path: bytes}.

The search index is the one stage that works on files: if the module `partnerdir.index`
exists it is called as `index.build_index(folder, directory, cancel, pages, keep)` on the
finished staging folder before the swap, and anything it raises fails the build like any other
stage.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import importlib
import importlib.util
import os
import secrets
import sys
import threading
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
_WHOLE = ("pagefind",)  # the index's folder (index.SEARCH_FOLDER): a rebuild replaces it whole


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
    search_later: SearchLater | None = None  # the index still to make (`search_later=True`)

    @property
    def seconds(self) -> float:
        return sum(t for _, t in self.timings)


@dataclass
class SearchLater:
    """The search index of a site `serve` built, made behind the preview.

    A save shows its pages as soon as they are written, and `serve` its first preview: indexing
    the whole site took 1.4 s for the 43 sample partners and 3.5 s for 1,000, on every save.
    Until `run` is done the site keeps its last index, and its build record says so
    (`cache.save_last`), so no later build takes the site for finished.
    """

    paths: Paths
    out: Path
    digest: str  # the inputs' digest of the build whose pages are indexed
    stamp: list[int] | None  # the folder's `cache.out_stamp` as that build left it
    directory: object
    files: dict[str, str]  # the site's files and their content hashes

    def run(self, cancel: threading.Event | None = None) -> tuple[object | None, list[Problem]]:
        """The index's report, or the problems that stopped it; `index.IndexCancelled` when
        `cancel` was set first."""
        report, problems = None, []
        # (without the collector, as a build: its passes over all that serve keeps in memory
        # took 4 of the 5 s this index took at 10,000 partners)
        collecting = gc.isenabled()
        gc.disable()
        try:
            keep = _search_keep(self.paths, self.out)
            report = _index_stage(self.out, self.directory, cancel, self.files, keep)
        except _StageFailed as e:
            problems = [e.problem]
        except OSError as e:
            problems = [Problem(relative(Path(e.filename or self.out)),
                                message=f"cannot write the search index: {e.strerror or e}")]
        finally:
            saving = _PERSISTING.get(self.out)
            if saving is not None:  # (the record to update is written by that thread)
                saving.join()
            text = report.text() if report is not None and hasattr(report, "text") else None
            # Indexing adds and renames folders in the site, which its stamp notices: whatever
            # happened, the record must still know the folder as the one its build wrote.
            stamp = cache.after_search(self.paths, self.out, self.digest, self.stamp,
                                       done=report is not None, index=text)
            if stamp is not None:  # (so that a run after a stopped one still finds its record)
                self.stamp = stamp
            if collecting:
                gc.enable()
        return report, problems


def search_available() -> bool:
    return importlib.util.find_spec(INDEX_MODULE) is not None


def build_site(paths: Paths, as_of: dt.date, base_url: str | None = None, search: bool = True,
               out: Path | None = None, changed: list[Path] | None = None,
               progress: Progress | None = None, remember: bool = True,
               in_place: bool = False, search_later: bool = False) -> BuildResult:
    """Build the site into `out` (default paths.out), or leave it untouched and say why not.

    Builds are incremental (see `cache`): nothing is done when no input changed since the last
    successful build into `out`, and otherwise only changed records are read, checked and
    rendered again (within one process, such as `serve`, and across processes through the
    record cache in .cache/records/; a new process whose edits change no listing reads no other
    record at all, see `snapshot`) and only files whose bytes changed are written.
    `changed` names files known to have changed, which are always read again;
    `remember=False` keeps no rendered pages for a next build in this process (the command
    line builds once, and a large site's pages need not stay in memory). `in_place=True`
    (serve's preview) rewrites changed files where they are, one atomic replace each, instead
    of swapping in a whole new folder, which takes seconds for a large site on a slow disk; a
    failed build may then leave the folder half updated, and the next build rewrites it.
    `search_later=True` leaves the search index to the caller (`BuildResult.search_later`),
    to be made in `out` once the site is there. The result is the same site a build from nothing makes.
    """
    wait_persisted()  # (a `serve` rebuild's cache, saved behind it)
    # The cyclic garbage collector waits until the build is done, when nobody waits for it.
    # A build makes millions of objects that live as long as it does and next to no cycles:
    # at 10,000 partners the collector's passes took 0.2-0.35 s of a cold build's main process,
    # most of it while the other core had nothing to do, and as much again in the workers,
    # which inherit its state, to free almost nothing (8 MB more at the peak without them); in
    # a rebuild in a process that keeps its last build (serve), its full passes over everything
    # kept took a quarter of a second.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _build_site(paths, as_of, base_url, search, out, changed, progress, remember, in_place,
                           search_later=search_later)
    finally:
        if collecting:
            gc.enable()


def _build_site(paths: Paths, as_of: dt.date, base_url: str | None, search: bool, out: Path | None,
                changed: list[Path] | None, progress: Progress | None, remember: bool,
                in_place: bool, patching: bool = True, search_later: bool = False) -> BuildResult:
    out = out or paths.out
    progress = progress or Progress.quiet()
    result = BuildResult(ok=False, out=out, as_of=as_of)
    search = search and search_available()

    @contextmanager
    def clock(stage: str, total: int = 0) -> Iterator[None]:
        """Time a stage and show it; its items are all done when it ends (workers do them). A
        stage timed in several steps (each step of the build is in one, so that the stages add
        up to the build) is shown once."""
        if progress.name != stage:
            progress.stage(stage, total)
        with _timed(result.timings, stage):
            yield
        progress.advance(total)

    with clock("check"):
        state = cache.input_state(paths, as_of, base_url, search)
        last = cache.load_last(paths, out)
        if last is not None and last["digest"] == state.digest and last.get("settled") and state.settled \
                and not last.get("search_pending"):
            _restore(result, last["summary"])
            progress.done()
            return result
    if last is not None and not remember and not in_place and \
            _quick_build(paths, out, as_of, base_url, state, last, result, clock, search):
        progress.done()
        return result
    with clock("check"):
        # Loaded only now: a build with nothing to do answers before these libraries load.
        from .render import BaseUrlError, Site, compile_beside, render_site

        memo = cache.memo_for(out)
        memo.start(state, as_of, base_url, search)
        memo.forget(list(changed or []))
        # (the templates the cache holds compiled, else compiled on another core meanwhile)
        cache.load_compiled(memo.store_for(paths.cache))
        compile_beside(paths.templates)
        checked = cache.check_reusing(paths, as_of, memo, state)
        if remember and checked.ok:
            # A process that keeps its builds (serve) decodes the partners read from the cache
            # now, at once, rather than in the first rebuild whose listings change.
            cache._materialise(checked.partners, memo)
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
        cache.encode_new(checked.partners, awards, rules, as_of, memo)
        listing_key = cache.listing_key(checked.partners, awards, memo)
        cache.load_listing(memo)  # the last build's directory, if its listing key is this one
        d = cache.directory_reusing(checked.partners, awards, rules, as_of, memo, listing_key)
        result.listed = len(d.partners)
        result.review = cache.review_reusing(checked.partners, awards, rules, memo)

    previous = (last or {}).get("manifest")
    with clock("cache"):
        # A build from nothing writes the checked partners while its workers render, when this
        # process only waits, and serve's preview with the rest of its cache, behind the
        # preview; any other rebuild's next steps read what is saved here.
        saved_later = in_place and previous is not None
        save_checked = cache.save_checked(memo, checked.partners, awards, state,
                                          later=previous is None or saved_later)
        # A new process whose listed partners are the last build's patches partners.json and
        # partners.csv around the changed partners (`snapshot.OpenData`): the others' entries
        # and rows, nine tenths of the cache's bytes, are not even read.
        patch = None
        if patching and previous is not None and not (remember or in_place):
            from . import snapshot

            patch = snapshot.open_data_plan(memo.store, out, (last or {}).get("summary", {}).get("build"),
                                            previous, list(d.partners), memo.slug_keys)
        cache.pages_from_disk(checked.partners, memo, previous, patch.changed if patch is not None else None)
        cache.load_compiled(memo.store)
    with clock("cache"):  # (what the render takes from the last build)
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
        if listing is None and restore is None and previous is not None and not (remember or in_place):
            # (a new process after an edit to listed data: unchanged partners' entries in the
            # listing files are taken from the last build's files, not encoded again)
            cache.seed_exports(memo, d, out, previous)
        listings: list = []
        # (A build from nothing keeps its listing pages too, with search as without, so that the
        # next build after an edit to listed data, in a new process, renders only the pages that
        # change (`relist`): at 10,000 partners the first edit to listed data after `python
        # build.py` takes 1.5 s, its search index included, instead of 3 s, for about 0.3 s and
        # 50 MB more in that build; one with its output folder deleted, as CI restores .cache/,
        # keeps those of the cache.)
        cache.load_kept_pages(memo)
        # what listings show of each partner now (see `cache.listing_key`)
        memo.kept_pages.tokens = {slug: made[2] for slug, made in memo.listed.items()}  # type: ignore[attr-defined]
    in_place = in_place and previous is not None
    search_later = search and search_later
    # The listing state a new process rebuilds edits to listed data from (`relist`), under a
    # name the snapshot will give (not kept in place: serve keeps its listings in memory).
    listing_id = secrets.token_hex(8) if not in_place else None
    listing_kept: list[bool] = []

    def while_rendering() -> None:
        """What this process does while the workers render, before its share of the pages:
        the checked partners saved (a build from nothing), and the listing state, once the
        recommendations it keeps are made (in a build from nothing, 0.1-0.15 s at 10,000
        partners that the end of the build no longer waits for)."""
        if not saved_later and save_checked is not None:
            save_checked()
        if listing_id is not None:
            from . import relist

            listing_kept.append(relist.save(memo, d, out, listing_id))

    # A rebuild stages only the files that change and moves them in (`write.sparse_staged`)
    # instead of copying the site to swap it; the search index reads the other pages from the
    # site, and its folder is swapped in whole.
    # Every page shows the as-of date, so a build for a new one (the first of a day) changes
    # every file: written into an empty folder that is swapped in, with the old site deleted
    # behind the build, as a build from nothing is. (Staged as a rebuild, each of 10,000 files
    # was written by a thread, moved in with a rename and its old one deleted: 2.5 s more CPU.)
    new_day = previous is not None and not in_place and \
        (last or {}).get("summary", {}).get("as_of") != as_of.isoformat()
    if new_day:
        previous = None
    sparse = not in_place and previous is not None
    if in_place:
        cache.forget_last(paths, out)  # until it is whole again
    try:
        # Pages go straight from whichever process renders them into the staging folder, which
        # replaces `out` only once everything, the search index included, is in it.
        folder = nullcontext(out) if in_place else sparse_staged(out, _WHOLE if search else ()) if sparse \
            else staged(out, reuse=previous is not None, background=new_day)
        with _holding(out, last), folder as stage:
            if sparse:
                stage, writers = stage
            # A site made from nothing (CI with a restored cache) gets the stored pages as links.
            linked: dict[str, str] = {}
            with clock("cache"):  # (timed with the stage before: pages taken from the cache)
                if previous is None and not in_place:
                    linked = cache.link_pages(memo, stage, restore)
                writer = SiteWriter(stage, previous or linked, in_place=in_place or sparse,
                                    base=out if sparse else None, site=out, keep=cache.keep_folder(memo))
                if sparse:
                    writers.append(writer)
                if restore is not None and cache.restore_listing(restore, memo, writer, previous or linked):
                    listing = restore
            try:
                with clock("render", len(d.partners)):
                    files = render_site(d, paths.templates, paths.static, paths.content, site,
                                        search=search, reuse=reused, rendered=rendered, sink=writer,
                                        listing=listing, listing_out=listings, keep_pages=remember,
                                        kept_pages=memo.kept_pages, open_data=patch is None,
                                        meanwhile=while_rendering)
                if patch is not None:
                    with clock("write"):  # (partners.json and partners.csv, patched)
                        open_files, open_pieces = _patch_open_data(patch, out, stage, rendered, memo)
                    files.update(open_files)
            except Exception as e:  # a mistake in a template, reported like a mistake in a record
                problem = _template_problem(e, paths.templates)
                if problem is None:
                    raise
                raise _StageFailed(problem) from e
            with clock("write", len(files)):
                writer.finish(files)
            for path, digest in linked.items():
                if files.get(path) == (digest, False):
                    files[path] = (digest, True)  # linked: new in this site, as if written
            if search and not search_later:
                with clock("index"):
                    hashes = {path: digest for path, (digest, _) in files.items()}
                    result.index = _index_stage(stage, d, pages=hashes, keep=_search_keep(paths, out),
                                                base=out if sparse else None)
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
    except _PatchFailed:  # nothing was moved into `out`: the ordinary way, from nothing kept
        cache.forget_memo(out)
        return _build_site(paths, as_of, base_url, search, out, changed, progress, remember, in_place,
                           patching=False, search_later=search_later)
    hashes = {path: digest for path, (digest, _) in files.items()}
    cache.remember_pages(checked.partners, rendered, reused, memo, hashes)
    open_changes = _open_data_changes(patch, memo) if patch is not None else None
    if listings:
        unchanged = {path: (digest, False) for path, (digest, _) in listings[0].files.items()}
        memo.listing = (listing_key, type(listings[0])(listings[0].pages, unchanged))
    result.files = len(files)
    result.pages = sum(1 for p in files if p.endswith(".html"))
    result.written = sum(1 for _, written in files.values() if written)

    def persist() -> None:
        """The cache and the build record on disk, for later builds."""
        if saved_later and save_checked is not None:
            save_checked()
        cache.save_rendered(d.order, memo, out, hashes, open_changes)
        cache.save_listing(memo)
        cache.save_kept_pages(memo)
        cache.save_compiled(memo.store)
        build = None
        if not in_place:  # what a new process needs to rebuild an edit quickly
            from . import relist, snapshot

            # (kept while rendering, or now: its recommendations were made after the workers forked)
            kept = any(listing_kept) or relist.save(memo, d, out, listing_id)  # type: ignore[arg-type]
            build = snapshot.save(memo, state, d, site, out, hashes,
                                  open_pieces if patch is not None else None, listing_id if kept else None)
            cache.save_export_layout(memo, d, out, hashes)
        if not remember:  # their pages were not kept: a later build takes them from the disk
            memo.pages.clear()
            memo.seen.pop("pages", None)
        cache.save_last(paths, out, state, {**_summary_data(result), "build": build}, hashes,
                        search_pending=search_later, stamp=stamp)

    progress.done()
    result.ok = True
    # (taken now: the index made behind the preview changes it while the cache is saved)
    stamp = cache.out_stamp(out) if search_later else None
    if search_later:
        result.search_later = SearchLater(paths, out, state.digest, stamp, d, hashes)
    if in_place:  # serve's preview is right now: the disk is brought up to date behind it
        _persist_later(out, persist)
    else:
        with clock("cache"):
            persist()
    return result


# Each output folder's cache still being saved by a thread (`_persist_later`).
_PERSISTING: dict[Path, threading.Thread] = {}


def _persist_later(out: Path, persist) -> None:
    """Save the cache and build record after `serve` rebuilt its preview in place, in a thread,
    so the browser reloads without waiting for it: the next build in this process waits for it
    (`wait_persisted`), and another process finds no build record (`cache.forget_last` at the
    start of an in-place build) until it is all saved, and so rebuilds everything, as after a
    failed save, which only costs time."""

    def run() -> None:
        try:
            persist()
        except Exception:  # the next build finds no build record, and makes everything again
            traceback.print_exc()

    thread = threading.Thread(target=run, name="save the build's cache")
    _PERSISTING[out] = thread
    thread.start()


def wait_persisted() -> None:
    """Wait until every cache a build in this process is saving is saved (`_persist_later`)."""
    while _PERSISTING:
        _PERSISTING.popitem()[1].join()


def _quick_build(paths: Paths, out: Path, as_of: dt.date, base_url: str | None, state, last: dict,
                 result: BuildResult, clock, search: bool = False) -> bool:
    """A new process's rebuild of a few edited records that change nothing listing pages show
    (`snapshot`): only their pages, partners.json entries and partners.csv rows are made and
    written, and no other record is read. False, with nothing written, when the ordinary
    rebuild must run: anything but that kind of edit, a problem in a record (which the
    ordinary rebuild reports), or a snapshot or cache file missing or damaged. With `search`,
    the search index is made again for the pages that changed (`index._Kept`) before any file
    is moved into `out`."""
    # Without the collector: it finds nothing to free here, yet its passes over what the
    # libraries' imports and the snapshot leave took a tenth of the whole command. What was
    # made meanwhile is then frozen out of it (gc.freeze), or its first pass afterwards goes
    # over all of that at once.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _quick_rebuild(paths, out, as_of, base_url, state, last, result, clock, search)
    finally:
        if collecting:
            gc.freeze()
            gc.enable()


def _quick_rebuild(paths: Paths, out: Path, as_of: dt.date, base_url: str | None, state, last: dict,
                   result: BuildResult, clock, search: bool = False) -> bool:
    from . import snapshot

    summary = last.get("summary") or {}
    manifest = last.get("manifest")
    memo = cache.memo_for(out)
    if not isinstance(manifest, dict) or memo.records:
        return False
    ahead: _PatchingAhead | None = None
    relisted = None
    try:
        with clock("check"):
            memo.start(state, as_of, base_url, search)
            store = memo.store_for(paths.cache)
            snap = snapshot.load(store, out, summary.get("build"))
            logos = cache.logo_check(memo, store, paths.content)
            plan = snapshot.plan(snap, state, logos.stale_in(state)) if snap is not None else None
            made = None
            if plan is not None and (plan.changed or plan.deleted):
                from .rules import know_languages

                know_languages(snap.get("languages"))
                made = _check_changed(paths, as_of, base_url, snap, plan, store)
            elif plan is not None:
                made = ([], None, None, False, [])  # files touched, their bytes the same
        if made is None:
            return False
        partners, rules, site, relisting, gone = made
        review = _review_after(snap, plan, partners, rules, list(summary.get("review", [])))
        if review is None:
            return False
        with clock("render"):
            pages = {}
            relisted = None
            if partners:  # (the compiled templates take 0.15 s to load: not for files only touched)
                cache.load_compiled(store)
                pages = _render_changed(paths, partners, rules, as_of, site, search)
            logo_users, logos_in, logos_out = snapshot.logo_files(snap, plan, partners)
            changes = bool(pages or gone or logos_in or logos_out)
            new_order = _order_after(snap, plan, partners)
            if new_order is not None:  # (new partners' entries and rows go into their places in the files)
                patched_in = snapshot.with_listed(snap, new_order,
                                                  {slug: it[2] for slug, it in pages.items()},
                                                  {slug: it[3] for slug, it in pages.items()})
                if patched_in is None:
                    return False
                (json_pieces, json_digest, json_patches, json_size), \
                    (csv_pieces, csv_digest, csv_patches, csv_size) = patched_in
            else:
                json_new, csv_new = {}, {}
                index = {slug: i for i, slug in enumerate(snap["order"])} if pages else {}
                for slug, (_, _, entry, row) in pages.items():
                    json_new[2 + 2 * index[slug]] = entry
                    csv_new[1 + index[slug]] = row.encode("utf-8")
                json_pieces, json_digest, json_patches, json_size = snapshot.replaced(snap["json"], json_new)
                csv_pieces, csv_digest, csv_patches, csv_size = snapshot.replaced(snap["csv"], csv_new)
            for name, size, digest in ((snapshot.JSON, json_size, json_digest),
                                       (snapshot.CSV, csv_size, csv_digest)):
                if changes and manifest.get(name) != digest and os.stat(out / name).st_size != size:
                    return False  # not the file the snapshot describes
            patched = [(name, patches) for name, digest, patches in (
                (snapshot.JSON, json_digest, json_patches), (snapshot.CSV, csv_digest, csv_patches))
                if changes and manifest.get(name) != digest]
            if relisting:  # what listings show changed: their pages that change, from the listing state
                from . import relist

                ahead = _PatchingAhead(out, patched) if patched else None
                shown = [checked for checked in partners if not checked[2].removed]
                relisted = relist.rebuild(paths, out, rules, as_of, site, snap, store, shown, plan.keys,
                                          manifest, search, gone)
                if relisted is None:
                    return False
    except Exception:  # anything unexpected before a file is written: the ordinary rebuild says what
        return False
    finally:
        if ahead is not None and relisted is None:
            ahead.discard()
    written = 0
    new_manifest = dict(manifest)
    if not changes:  # nothing to write; the lock still keeps another build's record from being overwritten
        try:
            with _holding(out, last):
                return _quick_done(paths, out, state, result, summary, snap, store, plan, partners, pages,
                                   manifest, new_manifest, json_pieces, csv_pieces, 0, clock, None,
                                   (logos, logo_users), review, new_order)
        except WriteError as e:
            result.problems = [Problem(relative(out), message=str(e))]
            return True
    with clock("render"):
        from .pages import partner_path

        try:
            with _holding(out, last):
                patched_stage = ahead.done() if ahead is not None else None
                ahead = None  # (that stage, and what is in it, is the block's below)
                with sparse_staged(out, _WHOLE if search else (), patched_stage) as (stage, writers):
                    writer = SiteWriter(stage, manifest, in_place=True, base=out, site=out)
                    writers.append(writer)
                    for name, digest, patches in ((snapshot.JSON, json_digest, json_patches),
                                                  (snapshot.CSV, csv_digest, csv_patches)):
                        if manifest.get(name) != digest:
                            if patched_stage is None:
                                snapshot.patch_file(out / name, stage / name, patches)
                            new_manifest[name] = digest
                            written += 1
                    for slug, (html, _, _, _) in pages.items():
                        path = partner_path(slug)
                        new_manifest[path], changed = writer.put(path, html)
                        written += changed
                    for path, (data, digest) in (relisted.files if relisted is not None else {}).items():
                        new_manifest[path], changed = writer.put(path, data, digest)
                        written += changed
                    for path in logos_in:  # (checked just now, with the records that name them)
                        new_manifest[path], changed = writer.put(path, (paths.content / path).read_bytes())
                        written += changed
                    for path in logos_out:
                        new_manifest.pop(path, None)
                    # (pages gone, deleted partners' among them, are deleted as the changes move in)
                    for path in relisted.removed if relisted is not None else ():
                        new_manifest.pop(path, None)
                    writer.finish(new_manifest)
                    if search:
                        started = time.perf_counter()
                        result.index = _index_stage(stage, None, pages=new_manifest,
                                                    keep=_search_keep(paths, out), base=out)
                        indexed = time.perf_counter() - started
                    cache.forget_last(paths, out)  # until the changes are all moved in
        except _StageFailed as e:  # (nothing was moved into `out`)
            result.problems = [e.problem]
            return True
        except WriteError as e:
            result.problems = [Problem(relative(out), message=str(e))]
            return True
        except OSError as e:
            result.problems = [Problem(relative(Path(e.filename or out)),
                                       message=f"cannot write the site: {e.strerror or e}")]
            return True
        finally:
            if ahead is not None:  # (the lock was not to be had)
                ahead.discard()
    if search:  # (indexed inside the render stage's clock, as the files are moved in after it)
        stage_name, seconds = result.timings.pop()
        result.timings += [(stage_name, seconds - indexed), ("index", indexed)]
    return _quick_done(paths, out, state, result, summary, snap, store, plan, partners, pages, manifest,
                       new_manifest, json_pieces, csv_pieces, written, clock, relisted, (logos, logo_users),
                       review, new_order)


class _PatchingAhead:
    """partners.json and partners.csv patched (`snapshot.patch_file`) by a thread into a new
    stage while `relist` makes the listing pages: the kernel copies their 98 MB at 10,000
    partners (0.05-0.07 s) on the other core. The rebuild moves them in from that stage
    (`write.sparse_staged`) once it holds the lock, which also makes sure no other build
    replaced the files read meanwhile; or discards it."""

    def __init__(self, out: Path, patched: list[tuple[str, list]]) -> None:
        from .write import new_stage

        self.stage = new_stage(out)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._patch, args=(out, patched), name="patch open data")
        self.thread.start()

    def _patch(self, out: Path, patched: list[tuple[str, list]]) -> None:
        from . import snapshot

        try:
            for name, patches in patched:
                snapshot.patch_file(out / name, self.stage / name, patches)
        except BaseException as e:  # (raised where the files are wanted: `done`)
            self.error = e

    def done(self) -> Path:
        """The stage with the patched files, once they are written."""
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.stage

    def discard(self) -> None:
        import shutil

        self.thread.join()
        shutil.rmtree(self.stage, ignore_errors=True)


def _quick_done(paths: Paths, out: Path, state, result: BuildResult, summary: dict, snap: dict, store, plan,
                partners: list, pages: dict, manifest: dict, new_manifest: dict, json_pieces: tuple,
                csv_pieces: tuple, written: int, clock, relisted, logos: tuple, review: list[str],
                order: list[str] | None) -> bool:
    """The quick rebuild's record cache, snapshot, result (`review`: the January review's
    report; `order`: the listed partners', if partners joined or left the listing: `_order_after`)
    and build record."""
    with clock("cache"):
        build = _remember_quick(store, out, snap, state, plan, partners, pages, manifest, new_manifest,
                                json_pieces, csv_pieces, relisted, logos, order)
    # (the site's files are the new manifest's, a partner's page or a directory page more or
    # less among them)
    result.listed = len(order) if order is not None else summary.get("listed", 0)
    result.review = review
    result.files = len(new_manifest)
    result.pages = sum(1 for path in new_manifest if path.endswith(".html"))
    result.written = written
    result.ok = True
    cache.save_last(paths, out, state, {**_summary_data(result), "build": build}, new_manifest)
    return True


def _check_changed(paths: Paths, as_of: dt.date, base_url: str | None, snap: dict, plan, store=None):
    """The changed and added records checked and awarded: [(file, partner, award, cache
    entry)], the rules, the site, whether any changes what a listing shows (`relist`) and the
    slugs of the partners that leave the listing (their records deleted, or the January review
    removes them now); None if any has a problem or a new slug, or is added with a slug
    taken. A partner the review removed is on no page: its record edited, added or deleted
    changes only the review's report (`_review_after`); one the review no longer removes joins
    the listing as a new partner does."""
    from .award import award
    from .load import read_record
    from .problems import Problem, ProblemError
    from .render import BaseUrlError, Site
    from .rules import load_rules
    from .validate import validate

    try:
        rules = load_rules(paths.rules)
        site = Site.from_base_url(base_url or rules.site.base_url)
    except (ProblemError, BaseUrlError):
        return None
    made = []
    relisting = False
    added = set(plan.added)
    gone = []
    deleted = set()
    for name in plan.deleted:
        slug = snap["records"][name][2]
        if slug not in snap["partners"]:
            return None
        deleted.add(slug)
        if not snap["partners"][slug][3]:  # a listed partner leaves the listing (`relist` takes it out)
            gone.append(slug)
            relisting = True
    for name in plan.changed:
        raw = read_record(Path(name), rules.limits.record_max_bytes)
        if isinstance(raw, Problem):
            return None
        found, problems = validate([raw], rules, as_of, paths.content)
        if problems or len(found) != 1:
            return None
        partner = found[0]
        if name in added:  # a new partner (listed: `relist` puts it in its places)
            if partner.slug in snap["partners"] or any(partner.slug == p.slug for _, p, _, _ in made):
                return None  # a slug taken: the ordinary rebuild reports it
            granted = award(partner, rules, as_of)
            made.append((name, partner, granted, cache._entry(partner, granted, rules, as_of)))
            relisting = relisting or not granted.removed
            continue
        _, _, slug = snap["records"][name]
        if partner.slug != slug:
            return None
        granted = award(partner, rules, as_of)
        entry = cache._entry(partner, granted, rules, as_of)
        old_key, listed, _, removed = snap["partners"][slug]
        if bool(granted.removed) != removed:  # it joins the listing or leaves it
            relisting = True
            if granted.removed:
                gone.append(slug)
        # (a partner the review removed, and still removes, is in no listing, page or file:
        # only the cache, the snapshot and the review's report learn of the edit)
        elif entry[1] != listed and not removed and not _listings_alike(store, old_key, entry, rules):
            relisting = True  # what listing pages show changed
        made.append((name, partner, granted, entry))
    if any(partner.slug in deleted for _, partner, _, _ in made):
        return None  # (a record renamed, its slug kept: the ordinary rebuild)
    return made, rules, site, relisting, gone


def _order_after(snap: dict, plan, made: list) -> list[str] | None:
    """The listed partners' slugs in partners.json's order (the slugs') after a quick rebuild
    that puts partners into the listing or takes them out of it (records added or deleted,
    partners the January review removes or no longer removes; `made` as `_check_changed`
    gives it); None if it does neither."""
    listed = set(snap["order"])
    now = {partner.slug: not granted.removed for _, partner, granted, _ in made}
    joining = {slug for slug, shown in now.items() if shown and slug not in listed}
    leaving = {slug for slug, shown in now.items() if not shown and slug in listed}
    leaving |= {snap["records"][name][2] for name in plan.deleted} & listed
    return sorted((listed | joining) - leaving) if joining or leaving else None


def _review_after(snap: dict, plan, made: list, rules, lines: list[str]) -> list[str] | None:
    """The January review's report after a quick rebuild: the last build's lines (one per
    partner it removed, in slug order), those of the partners checked now made again, those of
    deleted records gone; None if the last lines are not one per removed partner."""
    from .award import removals

    removed = sorted(slug for slug, known in snap["partners"].items() if known[3])
    if len(removed) != len(lines):
        return None
    by_slug = dict(zip(removed, lines, strict=True))
    for name in plan.deleted:
        by_slug.pop(snap["records"][name][2], None)
    for _, partner, granted, _ in made:
        by_slug.pop(partner.slug, None)
        if granted.removed:
            by_slug[partner.slug] = removals([partner], {partner.slug: granted})[0].text(rules)
    return [by_slug[slug] for slug in sorted(by_slug)]


def _listings_alike(store, old_key: str, entry: tuple, rules) -> bool:
    """Whether a listed partner's new cache entry shows every listing what its last one did,
    though its listed digest (all of the record but its description, and its award) changed:
    a project's title, a renewed certification, a website. Listing pages, facet counts and
    directory.json are made of partners' card views and the fields of directory.json's entries
    (its places served are also what place pages ask), and recommend.json and the
    recommendations of the pages of partners' summaries: the same three things, the same
    listings."""
    import marshal

    from .cache import StoredPartner
    from .export import _directory_row, _indexes
    from .pages import PartnerView
    from .plain_data import codec
    from .validate import Partner as PartnerType

    if store is None:
        return False
    try:
        last = store.checked.load([old_key]).get(old_key)
        if last is None:
            return False
        before, now = marshal.loads(last[2]), marshal.loads(entry[2])
        if before[3] is None or before[3] != now[3] or before[5] != now[5]:  # (views, summaries)
            return False
        decode_partner, decode_view = codec(PartnerType)[1], codec(PartnerView)[1]
        index = _indexes(rules)
        rows = [_directory_row(StoredPartner(slug, source, b"", decode_partner, shallow, logo),
                               decode_view(view), index)
                for slug, source, _, view, shallow, _, _, logo in (before, now)]
        return rows[0] == rows[1]
    except Exception:  # not in the shape expected: the ordinary rebuild
        return False


def _render_changed(paths: Paths, made: list, rules, as_of: dt.date, site,
                    search: bool = False) -> dict | None:
    """slug -> (page, card, partners.json entry, partners.csv row) of each changed listed partner."""
    from .pages import Directory, partner_view
    from .render import partner_pieces

    listed = [(partner, granted) for _, partner, granted, _ in made if not granted.removed]
    if not listed:
        return {}
    d = Directory(rules, as_of, {p.slug: p for p, _ in listed}, {p.slug: a for p, a in listed},
                  {p.slug: partner_view(p, a, rules) for p, a in listed}, [p.slug for p, _ in listed], {}, {})
    files, extra = partner_pieces(d, paths.templates, paths.static, site, search)
    return {slug: (html, *extra[slug][:3]) for (_, html), slug in zip(files, d.order, strict=True)}


def _remember_quick(store, out: Path, snap: dict, state, plan, made: list, pages: dict, manifest: dict,
                    new_manifest: dict, json_pieces: tuple, csv_pieces: tuple, relisted=None,
                    logos: tuple = (None, None), order: list[str] | None = None) -> str | None:
    """The record cache and snapshot brought up to date with a quick rebuild (and `logos`: the
    `cache.LogoCheck` and the record files that name each logo now; `order`: as `_quick_done`);
    the new build's name, or None (then the next build is an ordinary one)."""
    from . import snapshot

    if made:  # (not for files only touched: with the rules' models, it takes 0.25 s to import)
        from .pages import partner_path
    try:
        # (files.bin is left as it is: an ordinary build reads the few files whose metadata
        # differs from it again, to know their content keys)
        records: dict[str, tuple] = {}
        partners: dict[str, tuple] = {}
        slug_of = {name: partner.slug for name, partner, _, _ in made}
        for name in plan.suspects:  # (the files whose metadata changed, or is racy; or new)
            old = snap["records"].get(name) or (None, None, slug_of[name])
            records[name] = (None if name in state.racy else state.records[name], plan.keys.get(name, old[1]),
                             old[2])
        checked, rendered, open_data, dropped = {}, {}, {}, []
        for name, partner, granted, entry in made:
            slug = partner.slug
            old_key = (snap["partners"].get(slug) or (None,))[0]
            removed = bool(granted.removed)
            key = plan.keys[name]
            if old_key is not None:
                dropped.append(old_key)
            checked[key] = entry
            page = new_manifest.get(partner_path(slug)) if not removed else None
            partners[slug] = (key, entry[1], page, removed)
            if slug in pages:
                _, card, json_entry, row = pages[slug]
                rendered[key] = (str(card), page)
                open_data[key] = (json_entry, row)
                store.link_page(out / partner_path(slug), page, note=False)
                # The page it replaces stays among the stored pages until the next ordinary
                # build deletes the pages no partner has (`record_cache.Store.keep_pages`):
                # deleting it here waited 15-30 ms on the file system, which was just then
                # freeing the old partners.json.
        gone = [snap["records"][name][2] for name in plan.deleted]
        dropped += [snap["partners"][slug][0] for slug in gone]  # (partners deleted)
        store.checked.update(checked, dropped)
        store.rendered.update(rendered, dropped)
        store.open_data.update(open_data, dropped)
        store.save_stats()
        cache.save_compiled(store)
        check, logo_users = logos
        if check is not None:  # (the logos of the records checked passed)
            check.passed((partner.logo for _, partner, _, _ in made), state)
            store.save_logos(check.content, check.kept(state))
        listing = snap.get("listing")
        if relisted is not None:  # (its listings are not the state's any more: the new one, or none)
            from . import relist

            listing = relist.saved(store, out, relisted)
        return snapshot.update(store, out, snap, records, partners, json_pieces, csv_pieces, listing,
                               order, (plan.deleted, gone), logo_users)
    except Exception:  # a cache that cannot be brought up to date only makes the next build slower
        return None


@dataclass(frozen=True)
class _IndexText:
    """The index stage's report as the last build printed it."""

    line: str

    def text(self) -> str:
        return self.line


def _summary_data(result: BuildResult) -> dict:
    index = result.index.text() if result.index is not None and hasattr(result.index, "text") else None
    return {"listed": result.listed, "review": result.review, "files": result.files,
            "pages": result.pages, "index": index, "as_of": result.as_of.isoformat()}


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


class _PatchFailed(Exception):
    """Patching the open data files went wrong: the build is made again the ordinary way."""


def _patch_open_data(patch, out: Path, stage: Path, rendered: dict, memo) -> tuple[dict, dict]:
    """partners.json and partners.csv patched around the changed partners' entries and rows,
    which this build rendered or took from the cache (`cache.pages_from_disk`)."""
    from . import snapshot

    entries, rows = {}, {}
    for slug in patch.changed:
        made = rendered.get(slug)
        if made is not None:
            entries[slug], rows[slug] = made[2], made[3]
            continue
        kept = memo.pages.get(slug)
        if kept is None or kept[1][2] is None or kept[1][3] is None:
            raise _PatchFailed(slug)
        entries[slug], rows[slug] = kept[1][2], kept[1][3]
    try:
        return snapshot.patch_open_data(patch, out, stage, entries, rows)
    except (KeyError, IndexError, ValueError, TypeError) as e:  # not the shape expected
        raise _PatchFailed(str(e)) from e


def _open_data_changes(patch, memo) -> tuple[dict[str, tuple], list[str]]:
    """The changed partners' entries and rows by content key, and the keys of those they
    replace, for the record cache (`cache.save_rendered`)."""
    added = {}
    for slug in patch.changed:
        key = memo.slug_keys.get(slug)
        made = memo.pages.get(slug)
        if key is not None and made is not None and made[1][2] is not None:
            added[key] = (made[1][2], made[1][3])
    partners = patch.snap["partners"]
    return added, [partners[slug][0] for slug in patch.changed | patch.dropped if slug in partners]


class _StageFailed(Exception):
    def __init__(self, problem: Problem):
        super().__init__(problem.text())
        self.problem = problem


def _index_stage(stage: Path, d, cancel: threading.Event | None = None,
                 pages: dict[str, str] | None = None, keep: Path | None = None,
                 base: Path | None = None) -> object:
    """Any failure of the search index stops the build with its message; the old site stays."""
    module = importlib.import_module(INDEX_MODULE)
    try:
        if base is not None:
            return module.build_index(stage, d, cancel, pages, keep, base)
        return module.build_index(stage, d, cancel, pages, keep)
    except OSError:
        raise
    except Exception as e:
        if isinstance(e, getattr(module, "IndexCancelled", ())):
            raise
        raise _StageFailed(Problem("search index", message=str(e) or type(e).__name__,
                                   hint=getattr(e, "hint", ""))) from e


def _search_keep(paths: Paths, out: Path) -> Path:
    """Where the search index of `out` is kept for the next one (`index._Kept`)."""
    return paths.cache / "search" / hashlib.sha256(str(out.resolve()).encode()).hexdigest()[:16]


@contextmanager
def _timed(timings: list[tuple[str, float]], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds = time.perf_counter() - start
        if timings and timings[-1][0] == stage:  # a stage timed in two steps
            seconds += timings.pop()[1]
        timings.append((stage, seconds))


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
                     f"{result.written} file{'s' if result.written != 1 else ''} written, "
                     "the others were unchanged.")
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
