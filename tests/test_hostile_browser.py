"""Every page built from the hostile corpus, opened in Chromium: nothing may run or leave the site.

The safe cases of tests/hostile/cases.yaml are built together, search index included, and every
page and every published logo is opened as a visitor would; then the scripts that draw partner
data in the browser (filters, search results with excerpts, recommendations) are made to draw the
hostile records. Any dialog, page error, console error (a Content-Security-Policy violation is
one) or request to another origin fails the test.
"""

from __future__ import annotations

import pytest

from tests.browser import serve_folder, watch_page
from tests.hostile import corpus

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory):
    result, out = corpus.build_safe_site(tmp_path_factory.mktemp("hostile-browser"), search=True)
    assert result.ok, "\n".join(p.text() for p in result.problems)
    return out


@pytest.fixture
def watched(browser, hostile_site):
    context = browser.new_context()
    page = context.new_page()
    with serve_folder(hostile_site) as url:
        yield page, url, watch_page(page, url.rstrip("/"))
    context.close()


def _trouble(seen: dict) -> dict:
    return {kind: list(items) for kind, items in seen.items() if items}


def test_no_page_or_logo_runs_script_or_loads_from_elsewhere(hostile_site, watched):
    page, url, seen = watched
    paths = sorted(p.relative_to(hostile_site).as_posix() for p in hostile_site.rglob("*.html"))
    paths += sorted(f"logos/{p.name}" for p in (hostile_site / "logos").iterdir())
    assert len(paths) > len(corpus.SAFE)
    # Chromium asks for /favicon.ico when it shows an image on its own; the site's pages name
    # their icon, and a missing one is not the site's script failing.
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204, body=""))
    failures = {}
    for path in paths:
        page.goto(url + path, wait_until="load")
        if not path.endswith(".html") or "<script" in (hostile_site / path).read_text("utf-8"):
            page.wait_for_load_state("networkidle")
        if _trouble(seen):
            failures[path] = _trouble(seen)
            for items in seen.values():
                items.clear()
    assert not failures, failures


def _card_titles(page) -> list[str]:
    return page.locator("#cards .card-title").all_inner_texts()


@pytest.mark.parametrize("query", ["alert", "script", "onerror", "javascript", "img src"])
def test_search_results_and_excerpts_show_hostile_text_as_text(watched, query):
    page, url, seen = watched
    page.goto(f"{url}?q={query.replace(' ', '+')}")
    page.wait_for_load_state("networkidle")
    page.wait_for_function("document.querySelector('#cards') && "
                           "!document.querySelector('[aria-busy=true]')")
    page.wait_for_load_state("networkidle")
    titles = _card_titles(page)
    assert titles, f"no partner matched {query!r}"
    if query == "alert":
        assert "<script>alert(1)</script>" in titles
        assert '"><img src=x onerror=alert(1)>' in titles
    # Pagefind's excerpts are HTML; the script keeps only their text and <mark>s.
    page.wait_for_selector("#cards .excerpt")
    page.wait_for_load_state("networkidle")
    assert page.locator("#cards .excerpt mark").count() > 0
    assert page.locator("#cards .excerpt *:not(mark)").count() == 0
    assert not _trouble(seen), _trouble(seen)


def test_filtered_cards_drawn_by_script_show_hostile_names_as_text(watched):
    page, url, seen = watched
    page.goto(f"{url}?expertise=integration")
    page.wait_for_load_state("networkidle")
    more = page.locator("#more")
    while more.is_visible():  # every card drawn by the script, page after page
        more.click()
    names = set(_card_titles(page))
    assert len(names) == len(corpus.SAFE)
    assert {"</script><script>alert(1)</script>", "\"><img src=x onerror=alert(1)>",
            "'><svg onload=alert(1)>", "{{ 7*7 }} {% include 'base.html' %}"} <= names
    assert not _trouble(seen), _trouble(seen)


def test_recommendations_show_hostile_partners_as_text(watched):
    page, url, seen = watched
    page.goto(f"{url}recommend/?country=DE&expertise=integration")
    page.wait_for_load_state("networkidle")
    assert "alert(1)" in page.locator("main").inner_text()
    assert not _trouble(seen), _trouble(seen)
