"""The `serve` command: the site on localhost, rebuilt and reloaded on every save.

An editor or partner keeps the browser next to the record they are writing. A save rebuilds
the site and the livereload client (served from the site's own origin, so the pages' CSP holds)
reloads the page. A record with a problem never stops the server: the terminal prints what
`check` would, and the browser keeps the last good site with the problems in a banner on top,
until the next good save takes the banner away.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
import html
import inspect
import mimetypes
import os
import re
import signal
import sys
import threading
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .pipeline import BuildResult, SearchLater, build_site, wait_persisted
from .problems import Problem, format_problems, relative
from .project import Paths

POLL_SECONDS = 0.3
POLL_COST_RATIO = 10  # wait ten times as long as a look at the files took
LIVERELOAD_JS = "/livereload.js"
PREVIEW_CSS = "/_serve/preview.css"

# Files editors' tools write next to the real ones: never a reason to rebuild.
_SCRATCH = re.compile(r"^(?:\..*|#.*#|.*~|.*\.sw[a-p]|.*\.tmp|4913)$")

_TYPES = {".wasm": "application/wasm", ".js": "text/javascript", ".mjs": "text/javascript",
          ".json": "application/json", ".svg": "image/svg+xml", ".webp": "image/webp",
          ".xml": "application/xml", ".csv": "text/csv", ".css": "text/css", ".html": "text/html"}
_TEXT = ("text/", "application/json", "application/xml", "image/svg+xml")

PREVIEW_STYLE = b"""\
/* Only in `build.py serve`: the banner that shows the problems of the last save. */
.serve-problems { position: sticky; top: 0; z-index: 2147483647; margin: 0; padding: 1rem 1.25rem;
  background: #fff1f1; color: #4d0008; border-bottom: 4px solid #b3001b;
  font: 1rem/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; box-shadow: 0 2px 8px #0004; }
.serve-problems p { margin: 0 0 .5rem; }
.serve-problems ul { margin: 0; padding-left: 1.25rem; }
.serve-problems li { margin: .25rem 0; }
.serve-problems code { font: .95em/1.4 ui-monospace, SFMono-Regular, Menlo, monospace;
  color: inherit; background: transparent; overflow-wrap: anywhere; }
.serve-empty { max-width: 40rem; margin: 3rem auto; padding: 0 1rem; font: 1rem/1.5 system-ui, sans-serif; }
.serve-searching { position: fixed; right: 1rem; bottom: 1rem; z-index: 2147483647; max-width: 22rem;
  margin: 0; padding: .5rem .75rem; background: #fff; color: #1a1a1a; border: 2px solid #1a1a1a;
  border-radius: .375rem; font: .875rem/1.4 system-ui, -apple-system, "Segoe UI", sans-serif;
  box-shadow: 0 2px 8px #0004; pointer-events: none; }
@media (prefers-color-scheme: dark) {
  .serve-problems { background: #2d0a0f; color: #ffdadd; border-bottom-color: #ff6b7a; }
  .serve-searching { background: #111; color: #eee; border-color: #eee; }
  .serve-empty { color: #eee; background: #111; }
}
"""


# ---------------------------------------------------------------------------------------------
# Watching


def scan(roots: list[Path], skip: list[Path]) -> dict[str, tuple[int, int, int]]:
    """Every watched file with what changes when it is saved: (mtime, size, inode)."""
    found: dict[str, tuple[int, int, int]] = {}
    skipped = {str(s) for s in skip}

    def note(path: str) -> None:
        try:
            st = os.stat(path)
        except OSError:
            return
        found[path] = (st.st_mtime_ns, st.st_size, st.st_ino)

    for root in roots:
        if root.is_file():
            note(str(root))
            continue
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs
                             if not _SCRATCH.match(d) and os.path.join(folder, d) not in skipped)
            for name in files:
                if not _SCRATCH.match(name):
                    note(os.path.join(folder, name))
    return found


def changed(before: dict, after: dict) -> list[str]:
    return sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))


# ---------------------------------------------------------------------------------------------
# Building and what the browser is shown


@dataclass
class Outcome:
    ok: bool
    problems: list[Problem]
    seconds: float
    listed: int = 0
    search_later: SearchLater | None = None  # the search index still to make for these pages


class Preview:
    """The state of the preview: the last good site on disk and the problems of the last save."""

    def __init__(self, paths: Paths, as_of: dt.date, port: int, search: bool):
        self.paths = paths
        self.as_of = as_of
        self.search = search
        self.base_url = f"http://localhost:{port}/"
        self.problems: list[Problem] = []
        self.searching = False  # the pages are newer than the search index (`Indexer`)
        self.lock = threading.Lock()

    @property
    def out(self) -> Path:
        return self.paths.out

    def build(self, changes: list[str] | None = None) -> Outcome:
        """One build; a crash inside a stage becomes a problem like any other, never an exit."""
        kwargs = {}
        if "search_later" in inspect.signature(build_site).parameters:
            kwargs["search_later"] = True  # pages first, the search index behind them (`Indexer`)
        if changes is not None and "changed" in inspect.signature(build_site).parameters:
            kwargs["changed"] = [Path(c) for c in changes]  # the pipeline's incremental path
            if "in_place" in inspect.signature(build_site).parameters:
                kwargs["in_place"] = True  # a preview: rewrite changed files, skip the folder swap
        start = time.perf_counter()
        later = None
        try:
            result: BuildResult = build_site(self.paths, self.as_of, base_url=self.base_url,
                                             search=self.search, out=self.out, **kwargs)
            ok, problems, listed = result.ok, list(result.problems), result.listed
            later = result.search_later
        except Exception as e:  # a bug must not end the editor's session; show it and go on
            traceback.print_exc()
            ok, listed = False, 0
            problems = [Problem("build", message=f"the build failed: {type(e).__name__}: {e}",
                                hint="the details are in the terminal")]
        with self.lock:
            self.problems = [] if ok else problems
        return Outcome(ok, problems, time.perf_counter() - start, listed, later)

    def search_behind(self) -> None:
        """The pages are newer than the search index, until `searched`."""
        with self.lock:
            self.searching = True

    def searched(self, problems: list[Problem]) -> None:
        """The search index caught up with the pages, or could not (its problems, in the banner)."""
        with self.lock:
            self.searching = False
            if problems:
                self.problems = problems

    # -- responses ----------------------------------------------------------------------------

    def respond(self, url_path: str) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body for a GET of /url_path, decorated for the preview."""
        if "\x00" in url_path or "\\" in url_path or ".." in PurePosixPath(url_path).parts:
            return 400, {"Content-Type": "text/plain; charset=utf-8"}, b"bad path\n"
        file, redirect = self._locate(url_path)
        if redirect:
            return 301, {"Location": redirect}, b""
        status = 200
        if file is None:
            status = 404
            file = self.out / "404.html"
            if not file.is_file():
                return 503 if self.problems else 404, _html_type(), self.placeholder()
        try:
            body = file.read_bytes()
        except OSError:
            return 404, _html_type(), self.placeholder()
        kind = (_TYPES.get(file.suffix.lower()) or mimetypes.guess_type(file.name)[0]
                or "application/octet-stream")
        if kind.startswith(_TEXT):
            kind += "; charset=utf-8"
        if kind.startswith("text/html"):
            body = self.decorate(body)
        return status, {"Content-Type": kind}, body

    def _locate(self, url_path: str) -> tuple[Path | None, str | None]:
        root = self.out
        for _ in range(20):  # a build swaps the new site in with two renames: wait out the gap
            if root.is_dir():
                break
            time.sleep(0.025)
        target = root.joinpath(*PurePosixPath(url_path).parts) if url_path else root
        if target.is_dir():
            if url_path and not url_path.endswith("/"):
                return None, "/" + url_path + "/"
            target = target / "index.html"
        try:
            if target.is_file() and target.resolve().is_relative_to(root.resolve()):
                return target, None
        except OSError:
            pass
        return None, None

    def decorate(self, page: bytes) -> bytes:
        """Add the livereload client, the banner's style sheet and, after a bad save, the banner."""
        head = (f'<link rel="stylesheet" href="{PREVIEW_CSS}">'
                f'<script src="{LIVERELOAD_JS}" defer></script>').encode()
        page = page.replace(b"</head>", head + b"</head>", 1) if b"</head>" in page else head + page
        with self.lock:
            problems = list(self.problems)
            searching = self.searching
        extra = self.banner(problems) if problems else ""
        if searching:
            extra += ('<p class="serve-searching" role="status">Updating search for your last change; '
                      "this page reloads when it is ready.</p>")
        if extra:
            match = re.search(rb"<body[^>]*>", page)
            at = match.end() if match else 0
            page = page[:at] + extra.encode() + page[at:]
        return page

    def banner(self, problems: list[Problem]) -> str:
        n = len(problems)
        shown = problems[:50]
        items = "".join(f"<li><code>{html.escape(_where(p))}</code> {html.escape(_what(p))}</li>"
                        for p in shown)
        more = f"<li>… and {n - len(shown)} more: run <code>python build.py check</code></li>" if n > len(
            shown) else ""
        state = ("You are looking at the last version that built." if (self.out / "index.html").is_file()
                 else "Nothing could be built yet.")
        return (f'<section class="serve-problems" id="serve-problems" role="alert" '
                f'aria-label="Problems in your last change">'
                f"<p><strong>Your last change has {n} problem{'s' if n != 1 else ''}.</strong> {state} "
                f"Fix {'them' if n != 1 else 'it'} and save: this page reloads by itself.</p>"
                f"<ul>{items}{more}</ul></section>")

    def placeholder(self) -> bytes:
        page = ('<!doctype html><html lang="en"><head><meta charset="utf-8">'
                '<meta name="viewport" content="width=device-width, initial-scale=1">'
                "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                "script-src 'self'; style-src 'self'; connect-src 'self'\">"
                "<title>Preview</title></head><body><main class=\"serve-empty\"><h1>Preview</h1>"
                "<p>There is no page here yet.</p></main></body></html>")
        return self.decorate(page.encode())


def _html_type() -> dict[str, str]:
    return {"Content-Type": "text/html; charset=utf-8"}


def _where(p: Problem) -> str:
    return p.path + (f":{p.line}:{p.column or 1}" if p.line else "")


def _what(p: Problem) -> str:
    what = f"{p.field}: {p.message}" if p.field else p.message
    return what + (f" ({p.hint})" if p.hint else "")


class Indexer:
    """The preview's search index, made behind it after each good save, one at a time.

    A save's pages are shown as soon as they are written. Indexing the whole site takes seconds
    (1.4 s for the 43 sample partners, 3.5 s for 1,000), so it runs in a thread, and a newer
    save stops it (`stop`) before changing the pages under it. The index of the last good
    pages is `pending` until made: after a save with problems, the pages it had not finished
    indexing are indexed again.
    """

    def __init__(self, done):
        self.pending: SearchLater | None = None
        self.done = done  # called from the thread with (job, report, problems, seconds)
        self.thread: threading.Thread | None = None
        self.cancel = threading.Event()

    def start(self) -> None:
        """Index the pending pages, unless that is already under way."""
        if self.pending is None or (self.thread is not None and self.thread.is_alive()):
            return
        job, cancel = self.pending, threading.Event()

        def work() -> None:
            from .index import IndexCancelled

            started = time.perf_counter()
            try:
                report, problems = job.run(cancel)
            except IndexCancelled:
                return
            except Exception as e:  # a bug must not end the editor's session
                traceback.print_exc()
                report, problems = None, [Problem("search index", message=f"{type(e).__name__}: {e}",
                                                  hint="the details are in the terminal")]
            self.done(job, report, problems, time.perf_counter() - started)

        self.cancel = cancel
        self.thread = threading.Thread(target=work, name="search index", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Stop the index under way, if any, and wait until Pagefind is gone and its folders too."""
        thread = self.thread
        if thread is not None:
            self.cancel.set()
            thread.join()


# ---------------------------------------------------------------------------------------------
# The command


def _stamp() -> str:
    return time.strftime("%H:%M:%S")


def report(outcome: Outcome, changes: list[str] | None, was_broken: bool) -> None:
    """What the terminal says after each build: the check messages, or one line when it is fine."""
    what = ""
    if changes:
        names = ", ".join(relative(Path(c)) for c in changes[:3]) + (" …" if len(changes) > 3 else "")
        what = f" after changes to {names}"
    if outcome.ok:
        fixed = "Fixed. " if was_broken else ""
        searching = " Updating search …" if outcome.search_later is not None else ""
        print(f"[{_stamp()}] {fixed}Built{what} in {outcome.seconds:.2f} s: "
              f"{outcome.listed} partner{'s' if outcome.listed != 1 else ''} listed.{searching}", flush=True)
        return
    n = len(outcome.problems)
    print(f"[{_stamp()}] The build{what} stopped: {n} problem{'s' if n != 1 else ''}.", file=sys.stderr)
    print(format_problems(outcome.problems), file=sys.stderr)
    print("The browser keeps the last good version, with these problems in a banner; "
          "fix them and save.", file=sys.stderr, flush=True)


def run(args, paths: Paths, as_of: dt.date) -> int:
    # A process that runs on: build.py turned the collector off for one-shot commands, and its
    # builds turn it off while they run (`pipeline.build_site`).
    gc.enable()
    from livereload.handlers import LiveReloadHandler, LiveReloadJSHandler
    from tornado import web
    from tornado.ioloop import IOLoop

    if getattr(args, "out", None) is None:
        # The preview is built for http://localhost: keep it away from site/, which may be published.
        paths = dataclasses.replace(paths, out=paths.cache / "preview")
    port = args.port
    preview = Preview(paths, as_of, port, search=not getattr(args, "no_search", False))
    roots = [r for r in (paths.content, paths.rules, paths.templates, paths.static) if r.exists()]
    roots = [r for r in roots if not any(r != o and r.is_relative_to(o) for o in roots)]
    skip = [paths.out, paths.cache]

    print(f"Building {relative(paths.out)}/ for {as_of.isoformat()} …", flush=True)
    state = {"snapshot": scan(roots, skip), "broken": False, "pending": [], "building": None}
    first = preview.build()
    report(first, None, False)
    state["broken"] = not first.ok

    class Site(web.RequestHandler):
        def get(self, path: str) -> None:
            status, headers, body = preview.respond(path)
            self.set_status(status)
            for k, v in headers.items():
                self.set_header(k, v)
            self.set_header("Cache-Control", "no-store")
            self.finish(body)

        def head(self, path: str) -> None:
            status, headers, _ = preview.respond(path)
            self.set_status(status)
            for k, v in headers.items():
                self.set_header(k, v)
            self.finish()

        def log_exception(self, *exc) -> None:  # keep the terminal for the editor's messages
            traceback.print_exception(*exc)

    class Style(web.RequestHandler):
        def get(self) -> None:
            self.set_header("Content-Type", "text/css; charset=utf-8")
            self.set_header("Cache-Control", "no-store")
            self.finish(PREVIEW_STYLE)

    # The livereload package's websocket and client; the client is loaded with a same-origin
    # <script src>, never the package's inline snippet, which the site's CSP would block.
    app = web.Application([
        (r"/livereload", LiveReloadHandler),
        (re.escape(LIVERELOAD_JS), LiveReloadJSHandler),
        (re.escape(PREVIEW_CSS), Style),
        (r"/(.*)", Site),
    ], log_function=lambda handler: None)
    try:
        server = app.listen(port, address="localhost")
    except OSError as e:
        print(f"error: cannot serve on port {port}: {e.strerror or e}; "
              "another program may be using it: choose another with --port", file=sys.stderr)
        return 1

    loop = IOLoop.current()
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rebuild")

    def indexed(job: SearchLater, report, problems: list[Problem], seconds: float) -> None:
        if indexer.pending is not job:  # a newer save's pages are on their way
            return
        indexer.pending = None
        preview.searched(problems)
        if problems:
            state["broken"] = True
            print(f"[{_stamp()}] The search index could not be updated:", file=sys.stderr)
            print(format_problems(problems), file=sys.stderr, flush=True)
        else:
            text = report.text() if hasattr(report, "text") else "done"
            print(f"[{_stamp()}] Search updated in {seconds:.2f} s: {text}.", flush=True)
        if state["building"] is None and not state["pending"]:
            reload_browsers()

    indexer = Indexer(lambda *args: loop.add_callback(indexed, *args))
    if first.search_later is not None:  # (the first preview too is shown before its index)
        indexer.pending = first.search_later
        preview.search_behind()
        indexer.start()

    def rebuild(changes: list[str]) -> Outcome:
        indexer.stop()  # its pages are about to change
        return preview.build(changes)

    def reload_browsers() -> None:
        """Tell every connected page to reload (livereload protocol 7's reload command)."""
        message = {"command": "reload", "path": "*", "liveCSS": False, "liveImg": False}
        for waiter in list(LiveReloadHandler.waiters):
            try:
                waiter.write_message(message)
            except Exception:  # a closed tab: forget it
                LiveReloadHandler.waiters.discard(waiter)

    def built(future: Future, changes: list[str]) -> None:
        try:
            outcome = future.result()
        except Exception:  # Preview.build already turns failures into problems
            traceback.print_exc()
            outcome = Outcome(False, [], 0.0)
        report(outcome, changes, state["broken"])
        state["broken"] = not outcome.ok
        state["building"] = None
        if outcome.search_later is not None:
            indexer.pending = outcome.search_later
            preview.search_behind()
        if not state["pending"]:  # (else the next build comes first)
            indexer.start()
        loop.add_callback(reload_browsers)

    def poll() -> None:
        started = time.perf_counter()
        now = scan(roots, skip)
        cost = time.perf_counter() - started
        state["pending"] += changed(state["snapshot"], now)
        state["snapshot"] = now
        if state["pending"] and state["building"] is None:
            changes, state["pending"] = sorted(set(state["pending"])), []
            future = executor.submit(rebuild, changes)
            state["building"] = future
            future.add_done_callback(lambda f: loop.add_callback(built, f, changes))
        # Looking costs a stat() per file: with thousands of records, look less often, so
        # watching never takes more than about a tenth of a core.
        state["timer"] = loop.call_later(max(POLL_SECONDS, cost * POLL_COST_RATIO), poll)

    state["timer"] = loop.call_later(POLL_SECONDS, poll)
    watched = ", ".join(relative(r) for r in roots)
    print(f"Serving http://localhost:{port}/ and watching {watched}.\n"
          "Save a record to rebuild; press Ctrl-C to stop.", flush=True)

    # Ctrl-C (or a terminal closing) stops the loop between requests, never inside one.
    signals = (signal.SIGINT, signal.SIGTERM)
    for s in signals:
        loop.asyncio_loop.add_signal_handler(s, loop.stop)
    try:
        loop.start()
    finally:
        for s in signals:  # from here on, a second Ctrl-C interrupts at once
            loop.asyncio_loop.remove_signal_handler(s)
        loop.remove_timeout(state["timer"])
        server.stop()
        indexer.stop()
        if state["building"] is not None:
            print("Waiting for the current build to finish …", flush=True)
        executor.shutdown(wait=True)
        wait_persisted()  # the last rebuild's cache, saved behind the preview, is whole on disk
    print("Stopped.", flush=True)
    return 0
