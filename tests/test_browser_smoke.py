"""The browser plumbing itself works: Chromium starts, loads a local page, axe runs."""

from tests.browser import axe_violations, serve_folder, watch_page


def test_chromium_loads_a_local_page(tmp_path, page):
    (tmp_path / "index.html").write_text(
        "<!doctype html><html lang=en><title>t</title><main><h1>Hello</h1></main></html>"
    )
    with serve_folder(tmp_path) as url:
        seen = watch_page(page, url)
        page.goto(url)
        assert page.locator("h1").inner_text() == "Hello"
        assert axe_violations(page) == []
        assert seen["external"] == [] and seen["pageerror"] == []
