"""The public site in a real browser, as a visitor uses it: filtering, sorting, sharing links,
keyboard, small screens, dark mode, without JavaScript.

Expectations come from the pre-rendered pages and partners.json of the same build, so the
script's instant results are checked against what the site says without it.
"""

from __future__ import annotations

import json
import re
from functools import cache
from urllib.parse import parse_qs, urlsplit

import pytest

from partnerdir.facets import FACETS as FACET_DEFINITIONS
from tests.browser import axe_violations, follow, watch_page
from tests.site_records import parse

pytestmark = pytest.mark.browser

FACETS = ("program", "status", "region", "country", "expertise", "industry", "language")
PAGE_SIZE = 24


# ------------------------------------------------------------------------------------ expectations


@cache
def _listed(site) -> list[dict]:
    return json.loads((site / "partners.json").read_text(encoding="utf-8"))["partners"]


def card_slugs(doc) -> list[str]:
    """The partners a pre-rendered page lists: a listing page's table rows (or cards)."""
    links = [c.find("h3").find("a") for c in doc.find_all("li", "card")]
    links += [th.find("a") for table in doc.find_all("table", "partner-table")
              for th in table.find("tbody").find_all("th")]
    return [a.attrs["href"].rstrip("/").rsplit("/", 1)[-1] for a in links]


@cache
def _members(site) -> dict[str, dict[str, frozenset[str]]]:
    """facet -> value -> slugs, read from the facet links' pre-rendered pages."""
    home = parse((site / "index.html").read_bytes())
    out: dict[str, dict[str, frozenset[str]]] = {}
    for key in FACETS:
        out[key] = {}
        for a in home.find("details", data_facet=key).find_all("a"):
            doc = parse((site / a.attrs["href"].lstrip("/") / "index.html").read_bytes())
            if key == "country":
                doc = doc.find("section", aria_labelledby="serving-title")
            out[key][a.attrs["data-value"]] = frozenset(card_slugs(doc))
    return out


def members(site, key, value) -> frozenset[str]:
    return _members(site)[key][value]


def a_selective_value(site, key) -> str:
    """The value matching the most partners, short of all of them."""
    total = len(_listed(site))
    candidates = [(len(s), v) for v, s in _members(site)[key].items() if 0 < len(s) < total]
    assert candidates, key
    return max(candidates)[1]


# ------------------------------------------------------------------------------------ page helpers


def open_directory(page, url, query=""):
    page.goto(url + query)
    page.wait_for_selector("#controls:not([hidden])")


def check(page, key, value, on=True):
    details = page.locator(f"details[data-facet={key}]")
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    box = page.locator(f"input[name={key}][value='{value}']")
    box.set_checked(on)


def wait_for_count(page, text_part):
    page.wait_for_function("t => document.getElementById('result-count').textContent.includes(t)",
                           arg=text_part)


def shown_slugs(page) -> list[str]:
    """The partners a page shows: the directory's cards, or a listing page's table rows."""
    return page.eval_on_selector_all(
        ".cards .card-title a, .partner-table tbody th a",
        "as => as.map(a => a.getAttribute('href').split('/').filter(Boolean).pop())")


def matched(page) -> int:
    text = page.locator("#result-count").inner_text()
    return int(re.match(r"(\d+)", text).group(1))


def query(page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def counts(page, key) -> dict[str, int]:
    return page.eval_on_selector_all(
        f"details[data-facet={key}] label",
        "ls => Object.fromEntries(ls.map(l => "
        "[l.querySelector('input').value, +l.querySelector('.count').textContent]))")


# ------------------------------------------------------------------------------------ without JavaScript


def test_without_javascript_every_partner_is_listed_and_facets_lead_to_pages(browser, built_site, site_url):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    listed = {p["slug"] for p in _listed(built_site)}
    page.goto(site_url)
    assert page.locator("#cards .card").count() == min(PAGE_SIZE, len(listed))
    assert page.locator("#controls").is_hidden()  # sort and clear need the script
    seen = []
    while True:
        seen += shown_slugs(page)
        nxt = page.locator("a[rel=next]")
        if not nxt.count():
            break
        follow(page, nxt)
    assert sorted(seen) == sorted(listed) and len(seen) == len(listed)

    page.goto(site_url)
    assert page.locator("details[data-facet=status]").get_attribute("open") is not None
    follow(page, page.locator("details[data-facet=status] a[data-value=gold]"))
    assert urlsplit(page.url).path == "/status/gold/"
    assert set(shown_slugs(page)) == members(built_site, "status", "gold")

    # a later page links to the pages that list every value of each facet, with its count
    page.goto(site_url + "page/2/")
    browse = page.get_by_role("navigation", name="Browse partners by")
    assert browse.get_by_role("link").all_inner_texts() == [f.label for f in FACET_DEFINITIONS]
    follow(page, browse.get_by_role("link", name="Country served"))
    assert urlsplit(page.url).path == "/countries/"
    follow(page, page.get_by_role("link", name="Germany"))
    assert set(shown_slugs(page)) >= members(built_site, "country", "DE")
    context.close()


# ------------------------------------------------------------------------------------ filtering


@pytest.mark.parametrize("key", FACETS)
def test_filtering_by_each_facet(page, built_site, site_url, key):
    value = a_selective_value(built_site, key)
    expected = members(built_site, key, value)
    open_directory(page, site_url)
    check(page, key, value)
    wait_for_count(page, f"{len(expected)} of {len(_listed(built_site))} partners match")
    shown = shown_slugs(page)
    assert len(shown) == min(PAGE_SIZE, len(expected))
    assert set(shown) <= expected
    assert query(page) == {key: [value]}
    assert page.locator(f"#chips button[data-value='{value}']").is_visible()


def test_several_filters_at_once_and_counts_update(page, built_site, site_url):
    total = len(_listed(built_site))
    gold, silver = members(built_site, "status", "gold"), members(built_site, "status", "silver")
    open_directory(page, site_url)

    # two values of one facet: either matches
    check(page, "status", "gold")
    check(page, "status", "silver")
    either = gold | silver
    wait_for_count(page, f"{len(either)} of {total} partners match")
    # the program counts now count only gold or silver partners
    programs = counts(page, "program")
    assert programs == {v: len(s & either) for v, s in _members(built_site)["program"].items()}
    # the status counts ignore the status filter itself: they say what checking another would add
    assert counts(page, "status") == {v: len(s) for v, s in _members(built_site)["status"].items()}

    # a second facet narrows: both must match
    region = a_selective_value(built_site, "region")
    both = either & members(built_site, "region", region)
    check(page, "region", region)
    wait_for_count(page, f"{len(both)} of {total} partners match")
    assert set(shown_slugs(page)) <= both and len(shown_slugs(page)) == min(PAGE_SIZE, len(both))
    assert query(page) == {"status": ["gold", "silver"], "region": [region]}
    assert counts(page, "status")["gold"] == len(gold & members(built_site, "region", region))

    # a program also matches the programs it implies
    check(page, "status", "gold", False)
    check(page, "status", "silver", False)
    check(page, "region", region, False)
    check(page, "program", "certified-integration-partner")
    cip = members(built_site, "program", "certified-integration-partner")
    wait_for_count(page, f"{len(cip)} of {total} partners match")
    vars_ = {p["slug"] for p in _listed(built_site) if "value-added-reseller" in p["programs"]}
    assert vars_ and vars_ <= cip


def test_a_combination_nobody_matches_says_so_and_offers_to_clear(page, built_site, site_url):
    sets = _members(built_site)
    empty = next((((k1, v1), (k2, v2)) for k1 in FACETS for k2 in FACETS if k1 < k2
                  for v1, s1 in sets[k1].items() for v2, s2 in sets[k2].items()
                  if s1 and s2 and not s1 & s2), None)
    assert empty, "the sample content has two facet values that no partner shares"
    open_directory(page, site_url)
    check(page, *empty[0])
    check(page, *empty[1])
    wait_for_count(page, "0 of")
    assert page.locator("#no-match").is_visible()
    assert page.locator("#cards .card").count() == 0
    page.locator("#clear-empty").click()
    wait_for_count(page, f"{len(_listed(built_site))} partners,")
    assert page.locator("#no-match").is_hidden()


def test_filters_live_in_the_url_for_sharing_and_the_back_button(page, built_site, site_url):
    total = len(_listed(built_site))
    gold = members(built_site, "status", "gold")
    language = a_selective_value(built_site, "language")
    both = gold & members(built_site, "language", language)
    open_directory(page, site_url)
    server_counts = counts(page, "program")
    check(page, "status", "gold")
    wait_for_count(page, f"{len(gold)} of {total}")
    check(page, "language", language)
    wait_for_count(page, f"{len(both)} of {total}")

    page.go_back()
    wait_for_count(page, f"{len(gold)} of {total}")
    assert query(page) == {"status": ["gold"]}
    assert page.locator(f"input[name=language][value='{language}']").is_checked() is False
    assert page.locator("input[name=status][value=gold]").is_checked()

    page.go_back()
    wait_for_count(page, f"{total} partners,")
    assert query(page) == {}
    assert counts(page, "program") == server_counts
    assert page.locator("input:checked").count() == 0

    page.go_forward()
    wait_for_count(page, f"{len(gold)} of {total}")

    # a shared link opens with the same filters and order
    shared = f"?status=gold&language={language}&sort=name"
    page.goto(site_url + shared)
    wait_for_count(page, f"{len(both)} of {total}")
    assert page.locator("#sort").input_value() == "name"
    assert page.locator(f"input[name=language][value='{language}']").is_checked()
    assert page.locator("details[data-facet=language] .selected").inner_text() == "1 selected"


def test_clear_all_removes_every_filter(page, built_site, site_url):
    total = len(_listed(built_site))
    open_directory(page, site_url)
    check(page, "status", "gold")
    check(page, "region", a_selective_value(built_site, "region"))
    wait_for_count(page, "partners match")
    page.locator("#clear").click()
    wait_for_count(page, f"{total} partners,")
    assert page.locator("input:checked").count() == 0
    assert query(page) == {}
    assert page.locator("#chips").is_hidden()
    assert len(shown_slugs(page)) == min(PAGE_SIZE, total)


def test_removing_one_filter_with_its_chip(page, built_site, site_url):
    open_directory(page, site_url)
    check(page, "status", "gold")
    check(page, "status", "silver")
    wait_for_count(page, "partners match")
    page.locator("#chips button[data-value=gold]").click()
    wait_for_count(page, f"{len(members(built_site, 'status', 'silver'))} of")
    assert query(page) == {"status": ["silver"]}
    # focus stays among the chips, not lost to the page
    assert page.evaluate("document.activeElement.dataset.value") == "silver"


def test_sorting_by_status_name_and_joining(page, built_site, site_url):
    listed = _listed(built_site)
    rank = {lv: i for i, lv in enumerate(("provisional", "bronze", "silver", "gold", "platinum"))}
    partner = {p["slug"]: p for p in listed}
    by_name = [p["slug"] for p in sorted(listed, key=lambda p: (p["name"].casefold(), p["slug"]))]
    # stable sorts from name order: ties keep name order, as the pre-rendered pages do
    by_joined = [s for _, s in sorted(((-int(partner[s]["joined"].replace("-", "")), i), s)
                                      for i, s in enumerate(by_name))]
    by_status = sorted(by_name, key=lambda s: -rank[partner[s]["status"]["level"]])

    open_directory(page, site_url)
    server_order = shown_slugs(page)
    assert server_order == by_status[:PAGE_SIZE]

    page.select_option("#sort", "name")
    wait_for_count(page, "sorted by name")
    assert shown_slugs(page) == by_name[:PAGE_SIZE]
    assert query(page) == {"sort": ["name"]}

    page.select_option("#sort", "joined")
    wait_for_count(page, "sorted by most recent joining")
    assert shown_slugs(page) == by_joined[:PAGE_SIZE]

    page.select_option("#sort", "status")
    wait_for_count(page, "sorted by status then name")
    assert shown_slugs(page) == server_order
    assert query(page) == {}


def test_show_more_lists_the_next_partners_and_moves_focus_to_them(page, built_site, site_url):
    total = len(_listed(built_site))
    if total <= PAGE_SIZE:
        pytest.skip("the sample content fits on one page")
    open_directory(page, site_url)
    assert page.locator("#pager").is_hidden()
    first = shown_slugs(page)
    page.locator("#more").click()
    expected = min(2 * PAGE_SIZE, total)
    page.wait_for_function("n => document.querySelectorAll('#cards .card').length === n", arg=expected)
    shown = shown_slugs(page)
    assert shown[:PAGE_SIZE] == first
    assert page.evaluate("document.activeElement.getAttribute('href')") == f"/partners/{shown[PAGE_SIZE]}/"
    assert page.locator("#more-row").is_hidden() == (total <= 2 * PAGE_SIZE)


def test_cards_drawn_by_the_script_match_the_pre_rendered_ones(page, site_url):
    open_directory(page, site_url)
    server = page.eval_on_selector_all("#cards .card", "cs => cs.map(c => c.outerHTML)")
    check(page, "status", "gold")
    wait_for_count(page, "partners match")
    page.locator("#clear").click()
    wait_for_count(page, "partners,")
    drawn = page.eval_on_selector_all("#cards .card", "cs => cs.map(c => c.outerHTML)")

    def normal(html):
        return re.sub(r">\s+<", "><", html.replace("\n", "")).strip()

    assert [normal(h) for h in drawn] == [normal(h) for h in server]


def test_the_page_still_lists_partners_when_the_data_cannot_load(page, built_site, site_url):
    page.route("**/directory.json", lambda route: route.fulfill(status=503, body="busy"))
    open_directory(page, site_url)
    check(page, "status", "gold")
    wait_for_count(page, "could not load")
    assert page.locator("#cards .card").count() == min(PAGE_SIZE, len(_listed(built_site)))


# ------------------------------------------------------------------------------------ quality


def test_no_console_errors_and_nothing_loaded_from_elsewhere(page, built_site, site_url):
    seen = watch_page(page, site_url.rstrip("/"))
    open_directory(page, site_url)
    check(page, "status", "gold")
    wait_for_count(page, "partners match")
    page.select_option("#sort", "joined")
    page.locator("#clear").click()
    slug = _listed(built_site)[0]["slug"]
    for path in (f"partners/{slug}/", "programs/", "status/gold/", "countries/", "regions/emea/", "404.html"):
        page.goto(site_url + path)
        page.wait_for_load_state("load")
    assert seen == {"console": [], "pageerror": [], "dialog": [], "external": []}


def summary(violations) -> list:
    return [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in violations]


def logo_partner(site) -> str:
    return next(p["slug"] for p in _listed(site) if p["logo"] and p["status"]["level"] != "provisional")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_accessibility_light_and_dark(page, built_site, site_url, scheme):
    page.emulate_media(color_scheme=scheme)
    provisional = next(p["slug"] for p in _listed(built_site) if p["status"]["level"] == "provisional")
    for path in ("", f"partners/{logo_partner(built_site)}/", f"partners/{provisional}/", "programs/",
                 "countries/de/", "status/gold/", "page/2/"):
        page.goto(site_url + path)
        page.wait_for_load_state("load")
        violations = axe_violations(page)
        assert violations == [], (path, summary(violations))
    # the directory with filters open and a filter applied
    open_directory(page, site_url)
    page.eval_on_selector_all("details.facet", "ds => ds.forEach(d => { d.open = true; })")
    check(page, "status", "gold")
    wait_for_count(page, "partners match")
    violations = axe_violations(page)
    assert violations == [], summary(violations)


def focus_ring(page) -> dict:
    """The outline around the focused element, or around its ::after (the card's link covers the card)."""
    return page.evaluate("""() => {
        const e = document.activeElement;
        for (const pseudo of [null, '::after']) {
            const s = getComputedStyle(e, pseudo);
            if (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2) {
                return {tag: e.tagName, width: parseFloat(s.outlineWidth), color: s.outlineColor};
            }
        }
        return {tag: e.tagName, width: 0};
    }""")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_control_is_reachable_by_keyboard_with_a_visible_focus_ring(page, site_url, scheme):
    page.emulate_media(color_scheme=scheme)
    open_directory(page, site_url)
    kinds = set()
    for _ in range(200):
        page.keyboard.press("Tab")
        ring = focus_ring(page)
        if ring["tag"] == "BODY":  # past the last control
            break
        assert ring["width"] >= 2, ring
        kind = page.evaluate("(() => { const e = document.activeElement; "
                             "return e.tagName + (e.type ? ':' + e.type : ''); })()")
        kinds.add(kind)
    assert {"A", "SUMMARY", "INPUT:checkbox", "SELECT:select-one", "BUTTON:button"} <= kinds, kinds


def test_filtering_and_sorting_with_the_keyboard_only(page, built_site, site_url):
    open_directory(page, site_url)
    page.locator("details[data-facet=status] summary").focus()
    page.keyboard.press("Tab")  # the first status checkbox (the highest level)
    first = page.evaluate("document.activeElement.value")
    page.keyboard.press("Space")
    expected = members(built_site, "status", first)
    wait_for_count(page, f"{len(expected)} of")
    assert query(page) == {"status": [first]}
    page.locator("#sort").focus()
    page.keyboard.press("ArrowDown")  # the select changes without opening
    wait_for_count(page, "sorted by name")
    page.locator("#clear").focus()
    page.keyboard.press("Enter")
    wait_for_count(page, f"{len(_listed(built_site))} partners,")


@pytest.mark.parametrize("path", ["", "partners/{partner}/", "programs/", "countries/de/", "regions/emea/",
                                  "status/", "recommend/"])
def test_nothing_overflows_a_320_px_screen(browser, built_site, site_url, path):
    if path == "recommend/" and not (built_site / "recommend/index.html").exists():
        pytest.skip("no recommendation page in this build")
    context = browser.new_context(viewport={"width": 320, "height": 640})
    page = context.new_page()
    wide = max(_listed(built_site), key=lambda p: len(p["name"]) + len(p["description"]))
    page.goto(site_url + path.format(partner=wide["slug"]))
    page.wait_for_load_state("load")
    if path == "":
        page.eval_on_selector_all("details.facet", "ds => ds.forEach(d => { d.open = true; })")
        check(page, "status", "gold")
        wait_for_count(page, "partners match")
    width = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert width[0] <= width[1], width
    context.close()
