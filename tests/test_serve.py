"""`build.py serve`: save a record, see the page; make a mistake, see it in the page; never crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from partnerdir.project import ROOT
from tests.browser import free_port, open_live, watch_page

AS_OF = "2026-11-15"


def record(name: str, website: str = "https://example.org") -> str:
    return (
        f"name: {name}\nwebsite: {website}\njoined: 2021-03-15\nprograms: [certified-integration-partner]\n"
        "headquarters: {city: Berlin, country: DE}\ncountries_served: [DE]\nexpertise: [integration]\n"
        "languages: [en]\ndescription: |\n  Builds integrations.\ncertifications:\n"
        "  - {certification: api-manager-developer, holder: E-01, issued: 2024-01-10, expires: 2028-01-10}\n"
        "  - {certification: api-manager-developer, holder: E-02, issued: 2024-01-10, expires: 2028-01-10}\n"
        "projects:\n  - {title: Gateway, completed: 2025-06-30, country: DE, products: [api-manager], "
        "distribution: supported, outcome: successful}\n"
    )


class Server:
    def __init__(self, tmp: Path, search: bool = False, env: dict[str, str] | None = None):
        self.content = tmp = tmp / "partners"  # the site is built inside it, as the issue describes
        tmp.mkdir()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.stdout = tmp.parent / "serve.out"
        self.stderr = tmp.parent / "serve.err"
        (tmp / "alpha.yaml").write_text(record("Alpha Systems"), encoding="utf-8")
        (tmp / "beta.yaml").write_text(record("Beta Works"), encoding="utf-8")
        with open(self.stdout, "wb") as out, open(self.stderr, "wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, str(ROOT / "build.py"), "serve", "--port", str(self.port),
                 *([] if search else ["--no-search"]),
                 "--content", str(tmp), "--out", str(tmp / "site"), "--as-of", AS_OF],
                stdout=out, stderr=err, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
        wait_for(lambda: self.get("partners/alpha/")[0] == 200, what="the first build to be served",
                 server=self)

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as r:
                return r.status, r.read().decode("utf-8")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace")
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return 0, ""

    def write(self, slug: str, text: str) -> None:
        path = self.content / f"{slug}.yaml"
        path.write_text(text, encoding="utf-8")
        # Some file systems keep whole-second times: make sure the save is seen as a change.
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))

    def stop(self) -> tuple[int, str, str]:
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=20)
        return code, self.stdout.read_text(), self.stderr.read_text()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def wait_for(condition: Callable[[], bool], what: str, server: Server, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if server.process.poll() is not None:
            pytest.fail(f"the server exited while waiting for {what}:\n{server.stderr.read_text()}")
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}:\n{server.stdout.read_text()}\n{server.stderr.read_text()}")


@pytest.fixture
def server(tmp_path):
    s = Server(tmp_path)
    yield s
    s.kill()


def test_saves_rebuild_the_page_and_problems_show_in_a_banner_until_fixed(server):
    status, page = server.get("partners/alpha/")
    assert status == 200 and "Alpha Systems" in page
    assert '<script src="/livereload.js" defer></script>' in page, "the reload client is a same-origin file"
    assert "serve-problems" not in page
    assert server.get("livereload.js")[0] == 200 and server.get("_serve/preview.css")[0] == 200

    server.write("alpha", record("Alpha Systems Renamed"))
    wait_for(lambda: "Alpha Systems Renamed" in server.get("partners/alpha/")[1], "the edit", server)

    server.write("beta", record("Beta Works", website="ftp://beta.example"))
    wait_for(lambda: "serve-problems" in server.get("partners/alpha/")[1], "the error banner", server)
    status, page = server.get("partners/alpha/")
    assert status == 200 and "Alpha Systems Renamed" in page, "the last good page stays under the banner"
    banner = page[page.index('id="serve-problems"'):page.index("</section>")]
    assert "beta.yaml:2:1" in banner and "website" in banner and "https://" in banner
    assert "1 problem" in banner
    assert server.get("partners/beta/")[0] == 200, "the previous good version of the broken record"

    server.write("beta", record("Beta Works", website="https://beta.example"))
    wait_for(lambda: "serve-problems" not in server.get("partners/alpha/")[1], "the banner to go", server)

    # Writing the site (inside the records folder here) must not count as a change.
    builds = server.stdout.read_text().count("Built")
    time.sleep(1.5)
    assert server.stdout.read_text().count("Built") == builds, "no rebuild without a change"

    code, out, err = server.stop()
    assert code == 0, err
    assert "Stopped." in out and "Traceback" not in err
    assert "beta.yaml:2:1: website:" in err, "the terminal shows the check message"
    assert "Fixed." in out


def test_broken_first_build_still_serves_a_page_with_the_problem(server):
    server.write("alpha", "name: [unclosed\n")
    wait_for(lambda: "serve-problems" in server.get("")[1], "the error banner", server)
    code, out, err = server.stop()
    assert code == 0 and "Traceback" not in err


def test_unknown_paths_and_traversal_are_refused(server):
    assert server.get("no/such/page/")[0] == 404
    assert server.get("../alpha.yaml")[0] in (400, 404)
    assert server.get("%2e%2e/alpha.yaml")[0] in (400, 404)
    status, _ = server.get("partners/alpha")
    assert status == 200  # redirected to partners/alpha/


@pytest.mark.browser
def test_the_browser_reloads_by_itself_and_shows_then_clears_the_banner(server, page):
    seen = watch_page(page, server.url.rstrip("/"))
    socket = open_live(page, server.url + "partners/alpha/")  # (subscribed to reloads)
    # Same origin, so the site's CSP (connect-src 'self') allows it.
    assert socket.url == f"ws://127.0.0.1:{server.port}/livereload"

    server.write("beta", record("Beta Works", website="javascript:alert(1)"))
    banner = page.locator("#serve-problems")
    banner.wait_for(state="visible", timeout=20_000)
    assert "beta.yaml" in banner.inner_text()
    # (laid out with its style sheet: the reloaded page can show the banner a moment before the
    # sheet has arrived, as a browser does while a slow sheet loads)
    page.wait_for_load_state("load")
    box = banner.bounding_box()
    assert box is not None and box["y"] <= 1 and box["height"] > 20, "the banner is on top, in view"
    assert page.locator("h1").first.inner_text().strip() != "", "the last good page is still there"

    server.write("beta", record("Beta Works"))
    banner.wait_for(state="detached", timeout=20_000)
    assert seen["pageerror"] == [] and seen["dialog"] == [] and seen["external"] == []
    assert not [m for m in seen["console"] if "Content Security Policy" in m], seen["console"]
    code, _, err = server.stop()
    assert code == 0, err


def slow_pagefind(tmp: Path, seconds: float = 1) -> dict[str, str]:
    """Pagefind that starts `seconds` late, so that a save's pages are surely shown before its
    search index is made, as on a large site."""
    from partnerdir.index import pagefind_binary

    wrapper = tmp / "slow-pagefind"
    wrapper.write_text(f'#!/bin/sh\nsleep {seconds}\nexec "{pagefind_binary()}" "$@"\n')
    wrapper.chmod(0o755)
    return {"PAGEFIND_BINARY_PATH": str(wrapper)}


def with_word(name: str, word: str) -> str:
    return record(name).replace("Builds integrations.", f"Builds {word} integrations.")


@pytest.fixture
def search_server(tmp_path, request):
    s = Server(tmp_path, search=True, env=slow_pagefind(tmp_path, getattr(request, "param", 1)))
    # The first preview is shown before its index too: wait for it.
    wait_for(lambda: "Search updated" in s.stdout.read_text(), "the first index", s)
    yield s
    s.kill()


# (Pagefind 3 s late: with 1 s, a busy machine running the tests in two processes once let the
# first save's index end before the test looked at the page it says is behind.)
@pytest.mark.parametrize("search_server", [3], indirect=True)
def test_with_search_quick_saves_show_at_once_and_the_last_one_is_indexed(search_server, tmp_path):
    """Indexing the whole site takes seconds: a save's pages are shown first, the index follows,
    and a newer save stops the index of the one before."""
    import datetime as dt

    from partnerdir.pipeline import build_site
    from partnerdir.project import Paths
    from tests.test_index import fragments

    server = search_server
    started = server.stdout.read_text()
    assert started.index("Built in") < started.index("Serving") < started.index("Search updated"), \
        "the first preview is served before its index is made"
    server.write("alpha", with_word("Alpha Systems", "quetzalcoatlite"))
    wait_for(lambda: "quetzalcoatlite" in server.get("partners/alpha/")[1], "the first save", server)
    page = server.get("partners/alpha/")[1]
    assert 'class="serve-searching" role="status"' in page, "the page says its search is behind"
    assert "Updating search" in server.stdout.read_text()
    server.write("alpha", with_word("Alpha Systems", "xiphosuran"))
    wait_for(lambda: server.stdout.read_text().count("Search updated") == 2, "the index", server)
    page = server.get("partners/alpha/")[1]
    assert "xiphosuran" in page and "serve-searching" not in page
    indexed = " ".join(f["content"] for f in fragments(server.content / "site"))
    assert "xiphosuran" in indexed and "quetzalcoatlite" not in indexed
    time.sleep(3.5)  # (the first save's index, had it not been stopped, would have ended by now)
    code, out, err = server.stop()
    assert code == 0 and "Traceback" not in err
    assert out.count("Search updated") == 2, out  # the first preview's, then the last save's

    cold = build_site(Paths(content=server.content, out=tmp_path / "cold", cache=tmp_path / "cold-cache"),
                      dt.date.fromisoformat(AS_OF), base_url=f"http://localhost:{server.port}/")
    assert cold.ok
    site = server.content / "site"
    assert {p.relative_to(site): p.read_bytes() for p in site.rglob("*") if p.is_file()} == \
        {p.relative_to(cold.out): p.read_bytes() for p in cold.out.rglob("*") if p.is_file()}


@pytest.mark.browser
@pytest.mark.parametrize("search_server", [3], indirect=True)  # (time for axe while the note shows)
def test_with_search_the_page_reloads_with_the_save_then_again_when_search_finds_it(search_server, page):
    from tests.browser import axe_violations
    from tests.test_search_browser import search, shown_slugs

    server = search_server
    seen = watch_page(page, server.url.rstrip("/"))
    open_live(page, server.url)
    server.write("alpha", with_word("Alpha Systems Renamed", "quetzalcoatlite"))
    page.get_by_text("Alpha Systems Renamed").first.wait_for(timeout=20_000)
    note = page.get_by_role("status").filter(has_text="Updating search")
    assert note.is_visible(), "the reloaded page says that its search is behind"
    page.wait_for_load_state("load")  # (its style sheet)
    assert axe_violations(page) == [], "the note is readable (contrast) and announced politely"
    assert note.is_visible(), "the page was not reloaded while axe looked at it"
    note.wait_for(state="detached", timeout=30_000)  # reloaded again once the index is made
    page.wait_for_selector("#search:not([hidden])")
    search(page, "quetzalcoatlite")
    assert shown_slugs(page) == ["alpha"]
    assert seen["pageerror"] == [] and seen["external"] == []
    assert not [m for m in seen["console"] if "Content Security Policy" in m], seen["console"]
    code, _, err = server.stop()
    assert code == 0, err


def test_watching_ignores_the_site_and_editors_scratch_files(tmp_path):
    from partnerdir.serve import changed, scan

    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("x")
    for name in ("alpha.yaml", ".alpha.yaml.swp", "alpha.yaml~", "#alpha.yaml#", "4913"):
        (tmp_path / name).write_text("x")
    (tmp_path / ".site.build-1").mkdir()
    (tmp_path / ".site.build-1" / "index.html").write_text("x")
    before = scan([tmp_path], skip=[tmp_path / "site"])
    assert list(before) == [str(tmp_path / "alpha.yaml")]
    (tmp_path / "beta.md").write_text("x")
    (tmp_path / "alpha.yaml").unlink()
    assert changed(before, scan([tmp_path], skip=[tmp_path / "site"])) == [
        str(tmp_path / "alpha.yaml"), str(tmp_path / "beta.md")]


def test_serve_collects_garbage_between_builds(tmp_path, monkeypatch):
    """build.py turns the cyclic garbage collector off for its one-shot commands; `serve` runs
    on, rebuilding after every save, so it turns it back on (its builds pause it while they run)."""
    import argparse
    import datetime as dt
    import gc

    from partnerdir import serve
    from partnerdir.project import Paths

    class Started(Exception):
        pass

    seen: list[bool] = []

    class Preview:
        def __init__(self, *args, **kwargs):
            seen.append(gc.isenabled())
            raise Started

    monkeypatch.setattr(serve, "Preview", Preview)
    was = gc.isenabled()
    gc.disable()
    try:
        with pytest.raises(Started):
            serve.run(argparse.Namespace(port=0, out=tmp_path / "site", no_search=True),
                      Paths(content=tmp_path, out=tmp_path / "site", cache=tmp_path / ".cache"),
                      dt.date(2026, 11, 15))
    finally:
        (gc.enable if was else gc.disable)()
    assert seen == [True]
