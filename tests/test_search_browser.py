"""Search in the directory, in a real browser: typing a word narrows the same list the filters
narrow, with the matched words marked, from the site's own Pagefind index and nothing else.

Expectations come from the build's own files: the words each partner's indexed page holds
(Pagefind's fragments), the partners each facet value lists (its pre-rendered page) and the
records the January review removed.
"""

from __future__ import annotations

import datetime as dt
import functools
import http.server
import json
import re
import threading
import time
from contextlib import contextmanager
from functools import cache
from urllib.parse import parse_qs, urlsplit

import pytest

from partnerdir.award import award_all
from partnerdir.check import check
from partnerdir.pipeline import build_site
from partnerdir.project import Paths
from tests.browser import QuietServer, axe_violations, free_port, serve_folder, watch_page
from tests.site_records import parse, project_paths, record, write_records
from tests.test_index import index_words, indexes, partner_fragments, split_copy

pytestmark = pytest.mark.browser

AS_OF = dt.date(2026, 11, 15)
TOTAL = 43  # partners listed in the sample content on AS_OF


# ------------------------------------------------------------------------------- expectations


@cache
def indexed_words(site) -> dict[str, set[str]]:
    """slug -> the words of its page as Pagefind indexed it, casefolded."""
    return {slug: set(re.findall(r"\w+", f["content"].casefold()))
            for slug, f in partner_fragments(site).items()}


@cache
def a_word_only_one_partner_has(site) -> tuple[str, str]:
    """A long word from one partner's description that no other indexed page starts a word with."""
    checked = check(Paths(), AS_OF)
    words = indexed_words(site)
    for partner in sorted(checked.partners, key=lambda p: p.slug):
        if partner.slug not in words:
            continue
        for word in re.findall(r"[^\W\d_]{8,}", partner.description):
            stem = word.casefold()[:6]
            if stem in partner.name.casefold():  # a word of the description, not of the name
                continue
            if not any(s != partner.slug and any(w.startswith(stem) for w in ws) for s, ws in words.items()):
                return partner.slug, word
    raise AssertionError("no partner has a word of its own")


def partners_with(site, word: str, prefix: bool = False) -> set[str]:
    word = word.casefold()
    return {s for s, ws in indexed_words(site).items()
            if any(w.startswith(word) if prefix else w == word for w in ws)}


@cache
def members(site, key: str, value: str) -> frozenset[str]:
    """The partners a facet value's pre-rendered page lists."""
    home = parse((site / "index.html").read_bytes())
    links = home.find("details", data_facet=key).find_all("a")
    link = next(a for a in links if a.attrs["data-value"] == value)
    doc = parse((site / link.attrs["href"].lstrip("/") / "index.html").read_bytes())
    if key == "country":
        doc = doc.find("section", aria_labelledby="serving-title")
    rows = [th.find("a") for table in doc.find_all("table", "partner-table")
            for th in table.find("tbody").find_all("th")]
    return frozenset(a.attrs["href"].rstrip("/").rsplit("/", 1)[-1] for a in rows)


@cache
def removed_partners() -> list:
    checked = check(Paths(), AS_OF)
    awards = award_all(checked.partners, checked.rules, AS_OF)
    return [p for p in checked.partners if awards[p.slug].removed]


# ------------------------------------------------------------------------------- page helpers


def open_directory(page, url, query=""):
    page.goto(url + query)
    page.wait_for_selector("#search:not([hidden])")


def wait_for_count(page, text_part):
    page.wait_for_function("t => document.getElementById('result-count').textContent.includes(t)",
                           arg=text_part)


def search(page, words: str):
    """Type as a visitor does, a key at a time, and wait for the list to answer."""
    page.locator("#q").click()
    page.locator("#q").press_sequentially(words, delay=15)
    wait_for_count(page, f"\u201c{words}\u201d")


def shown_slugs(page) -> list[str]:
    while page.locator("#more-row").is_visible():
        before = page.locator("#cards .card").count()
        page.locator("#more").click()
        page.wait_for_function("n => document.querySelectorAll('#cards .card').length > n", arg=before)
    return page.eval_on_selector_all(
        "#cards .card-title a", "as => as.map(a => a.getAttribute('href').split('/').filter(Boolean).pop())")


def matched(page) -> int:
    return int(re.match(r"(\d+)", page.locator("#result-count").inner_text()).group(1))


def counts(page, key) -> dict[str, int]:
    return page.eval_on_selector_all(
        f"details[data-facet={key}] label",
        "ls => Object.fromEntries(ls.map(l => "
        "[l.querySelector('input').value, +l.querySelector('.count').textContent]))")


def check_value(page, key, value, on=True):
    details = page.locator(f"details[data-facet={key}]")
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    page.locator(f"input[name={key}][value='{value}']").set_checked(on)


def url_query(page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def record_requests(page) -> list[str]:
    """Every URL the page and its workers (Pagefind searches in one) ask for, from now on."""
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url))
    return urls


# ------------------------------------------------------------------------------- finding


def test_a_word_from_one_partner_s_description_finds_that_partner_alone(page, built_site, site_url):
    slug, word = a_word_only_one_partner_has(built_site)
    seen = watch_page(page, site_url.rstrip("/"))
    requests = record_requests(page)
    open_directory(page, site_url)
    page.wait_for_load_state("networkidle")
    assert not [u for u in requests if "/pagefind/" in u]  # the first load stays light
    search(page, word)
    assert shown_slugs(page) == [slug]
    assert page.locator("#result-count").inner_text().startswith(f"1 of {TOTAL} partners match")
    assert url_query(page) == {"q": [word]}
    mark = page.locator("#cards .card .excerpt mark").first
    mark.wait_for()
    assert word.casefold() in mark.inner_text().casefold()
    assert any(u.endswith("/pagefind/pagefind.js") for u in requests)
    assert any(".pf_fragment" in u for u in requests)
    assert seen == {"console": [], "pageerror": [], "dialog": [], "external": []}


def test_results_follow_the_words_as_they_are_typed_and_cleared(page, built_site, site_url):
    open_directory(page, site_url)
    search(page, "bank")
    shown = set(shown_slugs(page))
    # whole words are found; nothing is found that lacks a word starting with the query
    assert partners_with(built_site, "bank") <= shown <= partners_with(built_site, "bank", prefix=True)
    assert 1 < len(shown) < TOTAL and matched(page) == len(shown)
    page.locator("#q").press_sequentially("ing", delay=15)
    wait_for_count(page, "\u201cbanking\u201d")
    narrower = set(shown_slugs(page))
    assert narrower <= shown and partners_with(built_site, "banking") <= narrower
    page.locator("#q").fill("")
    wait_for_count(page, f"{TOTAL} partners,")
    assert url_query(page) == {}
    assert page.locator("#search-pages").is_hidden()


def test_a_query_and_a_facet_narrow_the_same_list_and_the_counts_follow(page, built_site, site_url):
    open_directory(page, site_url)
    search(page, "bank")
    hits = set(shown_slugs(page))
    status = counts(page, "status")
    for level, n in status.items():
        assert n == len(hits & members(built_site, "status", level)), level
    level = max(status, key=lambda v: (0 < status[v] < len(hits), status[v]))
    check_value(page, "status", level)
    wait_for_count(page, f"{status[level]} of {TOTAL} partners match \u201cbank\u201d")
    expected = hits & members(built_site, "status", level)
    assert set(shown_slugs(page)) == expected and len(expected) == status[level]
    assert url_query(page) == {"q": ["bank"], "status": [level]}
    assert list(url_query(page)) == ["q", "status"]
    # a value in another facet counts the partners matching the words, the status and it
    for value, n in counts(page, "region").items():
        assert n == len(expected & members(built_site, "region", value)), value
    # the shared address shows the same list
    page.goto(page.url)
    wait_for_count(page, "\u201cbank\u201d")
    assert page.locator("#q").input_value() == "bank"
    assert set(shown_slugs(page)) == expected
    # removing the words with their chip leaves the facet alone
    page.get_by_role("button", name="Remove search bank").click()
    wait_for_count(page, f"of {TOTAL} partners match,")
    assert set(shown_slugs(page)) == members(built_site, "status", level)
    assert url_query(page) == {"status": [level]} and page.locator("#q").input_value() == ""


def test_clear_all_clears_the_words_too(page, site_url):
    open_directory(page, site_url, "?q=integration&status=gold")
    wait_for_count(page, "\u201cintegration\u201d")
    page.locator("#clear").click()
    wait_for_count(page, f"{TOTAL} partners,")
    assert page.locator("#q").input_value() == "" and url_query(page) == {}


def test_program_and_status_pages_are_offered_beside_the_partners(page, site_url):
    open_directory(page, site_url)
    search(page, "reseller")
    links = page.locator("#search-pages a")
    links.first.wait_for()
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    assert "/programs/fulfillment-reseller/" in hrefs or "/programs/value-added-reseller/" in hrefs
    assert all(h.startswith(("/programs/", "/status/")) for h in hrefs)
    # and the partners list holds partners only
    assert all(h.startswith("/partners/") for h in page.eval_on_selector_all(
        "#cards .card-title a", "as => as.map(a => a.getAttribute('href'))"))


def test_partners_removed_at_the_review_are_never_found(page, built_site, site_url):
    removed = removed_partners()
    assert len(removed) == 3
    open_directory(page, site_url)
    # a listed partner is found by its name, the way a removed one would be if it were indexed
    listed_slug, _ = a_word_only_one_partner_has(built_site)
    listed_name = partner_fragments(built_site)[listed_slug]["meta"]["title"]
    search(page, listed_name)
    assert listed_slug in shown_slugs(page)
    for partner in removed:
        page.locator("#q").fill("")
        search(page, partner.name)
        shown = shown_slugs(page)
        assert partner.slug not in shown
        assert not page.locator("#cards .card-title a", has_text=partner.name).count()
    found = page.evaluate("""async terms => {
        const pf = await import('/pagefind/pagefind.js');
        const manifest = await (await fetch('/pagefind/partner-index.json')).json();
        for (const path of manifest.indexes) await pf.mergeIndex('/pagefind/' + path);
        const urls = [];
        for (const t of terms) {
          const r = await pf.search(t);
          for (const x of r.results) urls.push((await x.data()).url);
        }
        return urls; }""", [w for p in removed for w in [p.name, p.slug, *p.name.split()[:1]]])
    assert not [u for u in found if any(u.endswith(f"/partners/{p.slug}/") for p in removed)]


@contextmanager
def slow_index_server(folder, delay: float):
    """The site, with every file of the search index answered `delay` seconds late."""

    class Slow(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if "/pagefind/" in self.path and not self.path.endswith(".js"):
                time.sleep(delay)
            super().do_GET()

    server = QuietServer(("127.0.0.1", free_port()), functools.partial(Slow, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_typing_on_while_results_load_keeps_every_letter(page, built_site):
    with slow_index_server(built_site, 0.25) as url:
        open_directory(page, url)
        box = page.locator("#q")
        box.click()
        box.press_sequentially("ban", delay=10)
        page.wait_for_timeout(300)  # the list asks for "ban" and waits for the index
        box.press_sequentially("king", delay=400)  # ... which answers while the visitor types on
        wait_for_count(page, "\u201cbanking\u201d")
        assert box.input_value() == "banking"
        assert set(shown_slugs(page)) >= partners_with(built_site, "banking")


# ------------------------------------------------------------------------------- keyboard, screen readers


def test_arrow_keys_and_enter_move_through_the_results(page, site_url):
    open_directory(page, site_url)
    search(page, "bank")
    count = page.locator("#result-count")
    assert count.get_attribute("role") == "status"  # announced politely as it changes
    titles = page.eval_on_selector_all("#cards .card-title a", "as => as.map(a => a.textContent)")
    assert len(titles) > 2

    def focused():
        return page.evaluate("() => document.activeElement.id || document.activeElement.textContent")

    page.locator("#q").focus()
    page.keyboard.press("ArrowDown")
    assert focused() == titles[0]
    page.keyboard.press("ArrowDown")
    assert focused() == titles[1]
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    assert focused() == "q"
    page.keyboard.press("Enter")
    page.wait_for_function("t => document.activeElement.textContent === t", arg=titles[0])
    href = page.evaluate("() => document.activeElement.getAttribute('href')")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(re.escape(href) + "$"))


def test_the_box_is_labelled_and_hidden_without_javascript(browser, site_url):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(site_url)
    assert page.locator("#search").is_hidden()  # a box that could do nothing is not shown
    context.close()
    page = browser.new_page()
    open_directory(page, site_url)
    assert page.get_by_role("searchbox", name="Search partners").is_visible()
    assert page.get_by_role("search").count() == 1
    page.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_serious_accessibility_problems_with_results_shown(page, site_url, scheme):
    page.emulate_media(color_scheme=scheme)
    open_directory(page, site_url)
    search(page, "bank")
    page.locator("#cards .card .excerpt mark").first.wait_for()
    check_value(page, "status", "gold")
    wait_for_count(page, "\u201cbank\u201d")
    page.locator("#q").fill("reseller")
    page.locator("#search-pages a").first.wait_for()
    page.locator("#cards .card .excerpt mark").first.wait_for()
    assert axe_violations(page) == []


# ------------------------------------------------------------------------------- where the site lives


@pytest.fixture(scope="module")
def sub_path_site(tmp_path_factory):
    """The sample site published under /org/partners/, as on GitHub Pages."""
    parent = tmp_path_factory.mktemp("www")
    with serve_folder(parent) as url:
        base = url + "org/partners/"
        result = build_site(Paths(out=parent / "org" / "partners"), AS_OF, base_url=base, search=True)
        assert result.ok, [p.text() for p in result.problems]
        yield base, result.out


def test_search_works_under_a_sub_path(page, sub_path_site):
    base, site = sub_path_site
    slug, word = a_word_only_one_partner_has(site)
    origin = base.split("/org/")[0]
    seen = watch_page(page, origin)
    requests = record_requests(page)
    open_directory(page, base)
    search(page, word)
    assert shown_slugs(page) == [slug]
    assert page.locator("#cards .card-title a").get_attribute("href") == f"/org/partners/partners/{slug}/"
    page.locator("#q").fill("reseller")
    page.locator("#search-pages a").first.wait_for()
    hrefs = page.eval_on_selector_all("#search-pages a", "as => as.map(a => a.getAttribute('href'))")
    assert hrefs and all(h.startswith(("/org/partners/programs/", "/org/partners/status/")) for h in hrefs)
    index_requests = [u for u in requests if "/pagefind/" in u]
    assert index_requests and all(u.startswith(base + "pagefind/") for u in index_requests)
    assert all(u.startswith(base) for u in requests)
    assert seen == {"console": [], "pageerror": [], "dialog": [], "external": []}


# ------------------------------------------------------------------------------- split indexes


@pytest.fixture(scope="module")
def split_site(built_site, tmp_path_factory):
    return split_copy(built_site, tmp_path_factory.mktemp("split") / "site")


@pytest.fixture(scope="module")
def split_url(split_site):
    with serve_folder(split_site) as url:
        yield url


def test_with_partners_split_over_indexes_a_search_finds_what_one_index_finds(browser, page, split_site,
                                                                               split_url, site_url):
    """43 partners in 6 indexes, as 10,000 are in 20: every index is searched, none makes things up."""
    seen = watch_page(page, split_url.rstrip("/"))
    requests = record_requests(page)
    open_directory(page, split_url)
    # a word of one partner's alone: the indexes without it must not find a shorter word instead
    slug, word = a_word_only_one_partner_has(split_site)
    search(page, word)
    assert shown_slugs(page) == [slug]
    page.locator("#cards .card .excerpt mark").first.wait_for()
    assert len({u.split("/pagefind/partners/")[1].split("/")[0]
                for u in requests if "/pagefind/partners/" in u}) == 6
    # a word many partners have, spread over the indexes, and its longer form
    page.locator("#q").fill("")
    wait_for_count(page, f"{TOTAL} partners,")
    search(page, "bank")
    shown = set(shown_slugs(page))
    assert partners_with(split_site, "bank") <= shown <= partners_with(split_site, "bank", prefix=True)
    assert 1 < len(shown) < TOTAL
    # a word no page has: Pagefind looks for the longest word it starts with, as in one index
    page.locator("#q").fill("")
    wait_for_count(page, f"{TOTAL} partners,")
    search(page, "zqxjv")
    one_index = browser.new_page()
    open_directory(one_index, site_url)
    search(one_index, "zqxjv")
    assert shown_slugs(page) == shown_slugs(one_index)
    one_index.close()
    # program pages come from the main index beside the partners
    page.locator("#q").fill("reseller")
    page.locator("#search-pages a").first.wait_for()
    assert seen == {"console": [], "pageerror": [], "dialog": [], "external": []}


def test_words_typed_fetch_the_index_before_the_pause(page, built_site, site_url):
    """The index files a query needs are on their way while the visitor types; the search follows."""
    open_directory(page, site_url)
    events: list[str] = []
    # Pagefind fetches its word files from a worker: request events see them, the page's
    # resource timings do not.
    page.on("request", lambda r: events.append("index" if r.url.endswith(".pf_index") else "other"))
    page.on("console", lambda m: events.append(m.text))
    page.evaluate("""() => {
        const find = window.partnerSearch.find;
        window.partnerSearch.find = q => { console.log("search " + q); return find(q); };
    }""")
    box = page.locator("#q")
    box.click()  # a visitor's first click loads Pagefind, well before a word is typed out
    page.wait_for_load_state("networkidle")
    events.clear()
    box.press_sequentially("bankin", delay=30)  # quicker than the pause the list waits for
    box.press("g")
    wait_for_count(page, "\u201cbanking\u201d")
    assert set(shown_slugs(page)) >= partners_with(built_site, "banking")
    searches = [e for e in events if e.startswith("search ")]
    assert searches and "index" in events[:events.index(searches[0])], events  # fetched before any search


def test_after_a_quick_search_the_list_follows_the_keys(page, built_site, site_url):
    """Searches of 43 partners take milliseconds: no reason to wait for the visitor to pause."""
    open_directory(page, site_url)
    events: list[str] = []
    page.on("console", lambda m: events.append(m.text))
    page.evaluate("""() => {
        const find = window.partnerSearch.find;
        window.partnerSearch.find = q => { console.log("search " + q); return find(q); };
    }""")
    # The first search also starts Pagefind's WebAssembly, which a busy machine can take
    # longer than a quick search over: the one that sets the pace is the one after it.
    search(page, "bat")
    page.locator("#q").fill("")
    search(page, "ban")
    events.clear()
    page.locator("#q").press_sequentially("king", delay=30)  # quicker than the pause
    wait_for_count(page, "\u201cbanking\u201d")
    # Waiting for the pause would search "banking" alone. Each search's own time decides the
    # next key's wait, and one slowed by the machine makes the next key wait, so at least one
    # of the words typed on the way is asked, not every one.
    assert {"search bank", "search banki", "search bankin"} & set(events), events
    assert set(shown_slugs(page)) >= partners_with(built_site, "banking")


def test_going_back_to_earlier_words_shows_their_list_at_once(page, built_site, site_url):
    open_directory(page, site_url)
    search(page, "bank")
    first = shown_slugs(page)
    page.locator("#q").press_sequentially("ing", delay=15)
    wait_for_count(page, "\u201cbanking\u201d")
    # (a search of a word typed on the way, slowed by a busy machine, may still be fetching
    # its results when the last word's list is shown: let it finish before counting requests)
    page.wait_for_load_state("networkidle")
    requests = record_requests(page)
    for _ in "ing":
        page.locator("#q").press("Backspace")
    wait_for_count(page, "\u201cbank\u201d")
    assert shown_slugs(page) == first
    assert not [u for u in requests if "/pagefind/" in u]  # answered from what the page has


# ------------------------------------------------------------------------------- untrusted text


def test_excerpts_show_partner_text_as_text_with_only_the_matches_marked(browser, tmp_path):
    body = ("Zanzibarite miners trust us. Our README says `<img src=x onerror=alert(1)>` and "
            "&lt;b&gt;zanzibarite&lt;/b&gt; is not bold.\n")
    content = write_records(tmp_path / "content", {"odd-text": record("Odd Text Ltd", body=body)})
    paths = project_paths(tmp_path, content)
    result = build_site(paths, AS_OF, search=True)
    assert result.ok, [p.text() for p in result.problems]
    with serve_folder(paths.out) as url:
        page = browser.new_page()
        seen = watch_page(page, url.rstrip("/"))
        open_directory(page, url)
        search(page, "zanzibarite")
        excerpt = page.locator("#cards .card .excerpt")
        excerpt.locator("mark").first.wait_for()
        only_text_and_marks = "p => [...p.childNodes].every(n => n.nodeType === 3 || n.nodeName === 'MARK')"
        assert excerpt.evaluate(only_text_and_marks)
        assert excerpt.evaluate("p => [...p.querySelectorAll('mark')].every(m => m.children.length === 0)")
        text = excerpt.inner_text()
        assert "<img src=x onerror=alert(1)>" in text
        marks = excerpt.locator("mark").all_inner_texts()
        assert marks and all("zanzibarite" in m.casefold() for m in marks)
        assert page.locator("#cards img[src=x]").count() == 0
        assert seen == {"console": [], "pageerror": [], "dialog": [], "external": []}
        page.close()


# ------------------------------------------------------------------------------- partner word lists

# A full Pagefind search of every index, as the directory searched before it used the partner word
# lists: the partners a query matches are the pages Pagefind finds, mapped to slugs.
FULL_SEARCH = """async (queries) => {
    const manifest = await (await fetch("pagefind/partner-index.json")).json();
    const pf = await import(new URL("pagefind/pagefind.js", location.href).href);
    const all = pf.createInstance({basePath: new URL("pagefind/", location.href).pathname});
    const base = new URL("pagefind/", location.href).pathname;
    await Promise.all(manifest.indexes.map(p => all.mergeIndex(base + p)));
    const out = {};
    for (const q of queries) {
        const full = await all.search(q);
        const fast = await window.partnerSearch.find(q);
        out[q] = [full.results.map(r => manifest.partners[r.id]).filter(Boolean).sort(),
                  Object.keys(fast.slugs).sort()];
    }
    return [out, !!manifest.words];
}"""


def queries_for(site) -> list[str]:
    """Every word the partner pages hold and every word Pagefind filed for them, a short and a
    longer prefix of each, pairs of words, and queries Pagefind treats specially (no such word,
    dropped characters, accents)."""
    words = sorted(set().union(*indexed_words(site).values()))
    assert len(words) > 100
    # and every word as Pagefind filed it ("24×7" is also "247"; stems: "chines")
    filed = sorted({w for index in indexes(site)[1:] for w, pages in index_words(index).items() if pages})
    out = sorted(set(words) | set(filed))
    out += sorted({w[:3] for w in words} | {w[:5] for w in words if len(w) > 5} | {w[:-1] for w in words})
    out += [f"{a} {b}" for a, b in zip(words[::7], words[3::7], strict=False)]
    out += ["zqxjv", "bank zqxjvw", "Open-Banking", "OPEN banking", "caf\u00e9", "bank &", "&", "b",
            "integrations", "identities", "banks", "banking's"]
    return out


@pytest.mark.parametrize("which", ["one index", "six indexes"])
def test_the_partner_word_lists_find_exactly_what_pagefind_finds_in_every_index(
        browser, site_url, split_url, built_site, split_site, which):
    """The directory answers from the word lists the index stage writes, Pagefind deciding which
    words a query matches: for every word of every partner page, prefixes and pairs of them, a
    visitor finds the same partners as a search of every Pagefind index finds."""
    site, url = (built_site, site_url) if which == "one index" else (split_site, split_url)
    page = browser.new_page()
    try:
        requests = record_requests(page)
        open_directory(page, url)
        queries = queries_for(site)
        found, listed = page.evaluate(FULL_SEARCH, queries)
    finally:
        page.close()
    assert listed and any("/pagefind/words/" in u for u in requests)  # the lists answered
    differ = {q: f for q, f in found.items() if f[0] != f[1]}
    assert not differ, list(differ.items())[:5]
    assert sum(1 for full, _ in found.values() if full) > len(queries) // 2  # most queries find partners
    assert any(0 < len(full) < TOTAL // 2 for full, _ in found.values())


def test_a_shared_link_lists_its_partners_with_excerpts_of_the_cards_shown_only(page, split_site, split_url):
    """A ?q= link answers from the word lists; Pagefind reads the passages of the cards on screen,
    not of every partner found."""
    size = json.loads((split_site / "directory.json").read_text())["page_size"]
    words = indexed_words(split_site)
    common = max(sorted(set().union(*words.values())),
                 key=lambda w: sum(1 for ws in words.values() if w in ws))
    assert len(partners_with(split_site, common)) > size
    requests = record_requests(page)
    open_directory(page, split_url, f"?q={common}")
    wait_for_count(page, f"\u201c{common}\u201d")
    assert partners_with(split_site, common) <= set(shown_slugs(page)) <= \
        partners_with(split_site, common, prefix=True) | partners_with(split_site, common[:-1], prefix=True)
    page.goto("about:blank")
    requests.clear()
    open_directory(page, split_url, f"?q={common}")
    wait_for_count(page, f"\u201c{common}\u201d")
    shown = page.locator("#cards .card").count()
    assert shown == size < matched(page)
    page.wait_for_function("n => document.querySelectorAll('#cards .card .excerpt').length === n", arg=shown)
    assert page.locator("#cards .card .excerpt mark").count() >= shown
    fragments = {u for u in requests if u.endswith(".pf_fragment")}
    assert shown <= len(fragments) <= shown + 3  # the cards' passages, and up to 3 other pages
