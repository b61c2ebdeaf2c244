"""Shared browser-test plumbing: Debian's Chromium driven by Playwright, and a static file server.

Playwright's own browser download does not work on these machines, so tests launch the system
Chromium by path. Under CI (CI=true) a missing browser fails the run instead of skipping.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import socket
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def require_chromium() -> str:
    path = chromium_path()
    if path:
        return path
    message = "Debian's chromium is not installed (apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(message + ": browser tests cannot be skipped in CI", pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output readable
        pass

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


class QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # A browser cancelling a request it no longer needs is normal, not a test failure.
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


@contextmanager
def serve_folder(folder: Path):
    """Serve a folder on 127.0.0.1; yields the root URL (ending in /)."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = QuietServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def follow(page, link) -> None:
    """Click a link to another page and wait until that page has loaded.

    A click only starts the navigation: reading the page straight after it can catch the old
    document, or none, and a test that counts what it sees then stops early (CI saw this happen).
    """
    from urllib.parse import urljoin

    target = urljoin(page.url, link.get_attribute("href"))
    link.click()
    page.wait_for_url(target)


def open_live(page, url: str, timeout_ms: int = 10_000):
    """Open `url` in `page` (a page of `serve`'s preview) and return its live-reload socket once
    the client has subscribed to reloads (its "info" frame, sent after the handshake).

    The frames are recorded from the moment the socket opens: the client can subscribe before the
    page's load event, and waiting for the frame only after `goto` returns then misses it (CI saw
    this happen).
    """
    import time

    sent: list[str] = []
    sockets: list = []

    def opened(socket) -> None:
        sockets.append(socket)
        socket.on("framesent", lambda payload: sent.append(str(payload)))

    page.on("websocket", opened)
    try:
        page.goto(url)
        deadline = time.monotonic() + timeout_ms / 1000
        while not any('"info"' in frame for frame in sent):
            assert time.monotonic() < deadline, f"the page did not subscribe to reloads: {sent}"
            page.wait_for_timeout(50)
    finally:
        page.remove_listener("websocket", opened)
    return sockets[0]


def watch_page(page, origin: str) -> dict:
    """Record console errors, page errors, dialogs and requests leaving `origin` on a page."""
    seen: dict[str, list] = {"console": [], "pageerror": [], "dialog": [], "external": []}
    page.on("console", lambda m: seen["console"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen["pageerror"].append(str(e)))

    def on_dialog(d):
        seen["dialog"].append(d.message)
        d.dismiss()

    page.on("dialog", on_dialog)

    def on_request(r):
        if not (r.url.startswith(origin) or r.url.startswith("data:") or r.url.startswith("blob:")):
            seen["external"].append(r.url)

    page.on("request", on_request)
    return seen


def axe_violations(page, impacts=("serious", "critical")) -> list[dict]:
    """Run axe-core (bundled with axe-playwright-python) and return serious/critical violations."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [v for v in results.response["violations"] if v.get("impact") in impacts]
