"""/recommend/ in a real browser: answering, sharing the URL, going back, reasons, advice,
the page without JavaScript, and country pages agreeing with the questionnaire."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from tests.browser import axe_violations, follow, serve_folder, watch_page
from tests.site_records import build, certifications, projects, record

pytestmark = pytest.mark.browser

RECORDS = {
    "berlin-api": record(
        "Berlin API Works", headquarters={"city": "Berlin", "country": "DE"}, countries_served=["DE"],
        expertise=["api-management"], industries=["banking"], languages=["de", "en"],
        certifications=certifications(4, "BA", "api-manager-developer"), projects=projects(4, "api-manager"),
    ),
    "boston-platinum": record(
        "Boston Platinum Inc.", headquarters={"city": "Boston", "country": "US"},
        countries_served=["US", "CA"], expertise=["api-management"], industries=["banking"], languages=["en"],
        certifications=certifications(15, "BP", "api-manager-developer"),
        projects=projects(12, "api-manager", "US"),
    ),
    "tokyo-remote": record(
        "Tokyo Remote KK", headquarters={"city": "Tokyo", "country": "JP"}, countries_served=["JP"],
        remote_delivery=True, expertise=["api-management"], industries=["banking"], languages=["de", "en"],
        certifications=certifications(2, "TR", "api-manager-developer"),
        projects=projects(1, "api-manager", "JP"),
    ),
    "lisbon-local": record(
        "Lisbon Local Lda", headquarters={"city": "Lisbon", "country": "PT"}, countries_served=["PT"],
        languages=["pt"], joined=dt.date(2026, 3, 1),
    ),
    # Provisional a year after joining: the January review removes it, so it is never recommended.
    "zed-removed": record(
        "Zed Removed GmbH", programs=["integration-partner"], countries_served=["DE"],
        expertise=["api-management"], languages=["de"], joined=dt.date(2023, 1, 1),
    ),
    **{
        f"munich-{n}": record(f"Munich Integrators {n}", headquarters={"city": "Munich", "country": "DE"},
                              joined=dt.date(2026, 3, 1))
        for n in range(1, 6)
    },
}

EVERYTHING = "?country=DE&expertise=api-management&industry=banking&language=de&help=deliver"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("recommend-site")
    result, paths = build(tmp, RECORDS)
    assert result.ok, result.problems
    with serve_folder(paths.out) as url:
        yield url, paths.out


def open_page(page, site, query=""):
    url, _ = site
    seen = watch_page(page, url.rstrip("/"))
    page.goto(url + "recommend/" + query)
    page.wait_for_selector("#rec-form:not([hidden])")
    return seen


def slugs(page) -> list[str]:
    hrefs = page.locator("#rec-cards .card-title a").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))")
    return [href.strip("/").split("/")[-1] for href in hrefs]


def card_texts(page, slug: str, kind: str) -> list[str]:
    card = page.locator("#rec-cards > li", has=page.locator(f"a[href$='/partners/{slug}/']"))
    return card.locator(f"ul.{kind} > li").all_inner_texts()


def clean(seen) -> None:
    assert seen["console"] == [] and seen["pageerror"] == [], seen
    assert seen["external"] == [], seen["external"]


def test_answering_the_questionnaire_ranks_partners_with_reasons(page, site):
    seen = open_page(page, site)
    status = page.locator("#rec-status")
    assert "Choose where your project is" in status.inner_text()
    assert page.locator("#rec-status").get_attribute("aria-live") == "polite"

    page.get_by_label("Country", exact=True).select_option("DE")
    page.get_by_label("API management").check()
    page.get_by_label("Industry", exact=True).select_option("banking")
    page.get_by_label("Language you want to work in").select_option("de")
    page.get_by_label("Get the project delivered").check()

    assert slugs(page)[:3] == ["berlin-api", "tokyo-remote", "boston-platinum"]
    assert "zed-removed" not in slugs(page)
    assert card_texts(page, "berlin-api", "reasons") == [
        "delivers projects", "serves Germany", "4 successful API management projects in the last 3 years",
        "4 engineers certified in API management", "Silver status", "works in banking", "works in German"]
    assert card_texts(page, "berlin-api", "lacks") == []
    assert card_texts(page, "tokyo-remote", "reasons")[:2] == ["delivers projects", "delivers remotely"]
    assert card_texts(page, "boston-platinum", "lacks") == [
        "doesn't serve Germany or deliver remotely", "doesn't work in German"]
    assert "Platinum status" in card_texts(page, "boston-platinum", "reasons")
    assert status.inner_text() == "3 partners match."
    query = dict(re.findall(r"(\w+)=([\w-]+)", page.url.split("?", 1)[1]))
    assert query == {"country": "DE", "expertise": "api-management", "industry": "banking", "language": "de",
                     "help": "deliver"}
    clean(seen)


def test_the_url_restores_every_answer_and_the_same_list(page, site):
    seen = open_page(page, site, EVERYTHING)
    assert page.get_by_label("Country", exact=True).input_value() == "DE"
    assert page.get_by_label("API management").is_checked()
    assert not page.get_by_label("Integration", exact=True).is_checked()
    assert page.get_by_label("Industry", exact=True).input_value() == "banking"
    assert page.get_by_label("Language you want to work in").input_value() == "de"
    assert page.get_by_label("Get the project delivered").is_checked()
    first = slugs(page)
    page.reload()
    page.wait_for_selector("#rec-cards li")
    assert slugs(page) == first == ["berlin-api", "tokyo-remote", "boston-platinum"]
    clean(seen)


def test_back_and_forward_step_through_answers(page, site):
    seen = open_page(page, site, "?country=DE")
    assert len(slugs(page)) == 5
    page.get_by_label("API management").check()
    assert "expertise=api-management" in page.url
    assert slugs(page)[0] == "berlin-api"
    page.get_by_label("Language you want to work in").select_option("pt")
    assert "language=pt" in page.url
    page.go_back()
    page.wait_for_function("!location.search.includes('language')")
    assert page.get_by_label("Language you want to work in").input_value() == ""
    assert page.get_by_label("API management").is_checked()
    page.go_back()
    page.wait_for_function("!location.search.includes('expertise')")
    assert not page.get_by_label("API management").is_checked()
    assert page.locator("#rec-status").inner_text() == "9 partners match; showing the best 5."
    page.go_forward()
    page.wait_for_function("location.search.includes('expertise')")
    assert page.get_by_label("API management").is_checked()
    assert slugs(page)[0] == "berlin-api"
    clean(seen)


def test_show_more_reveals_the_rest_and_moves_focus(page, site):
    open_page(page, site, "?country=DE")
    assert len(slugs(page)) == 5
    page.get_by_role("button", name="Show 5 more").click()
    assert len(slugs(page)) == 9
    assert page.locator("#rec-more-row").is_hidden()
    assert page.evaluate(
        "document.activeElement.closest('li') === document.querySelectorAll('#rec-cards > li')[5]")
    assert page.locator("#rec-status").inner_text() == "9 partners match."


def test_nothing_found_explains_and_suggests_a_wider_search(page, site):
    seen = open_page(page, site, "?country=DE&expertise=devops")
    advice = page.locator("#rec-advice")
    assert "No partner in the directory matches these answers yet." in advice.inner_text()
    assert page.locator("#rec-status").inner_text() == "No partner matches."
    suggestion = advice.get_by_role("link", name=re.compile("Leave out DevOps"))
    assert "6 partners match everything else" in suggestion.inner_text()
    suggestion.click()
    page.wait_for_function("!location.search.includes('devops')")
    assert not page.get_by_label("DevOps and platform engineering").is_checked()
    assert slugs(page)[0] == "berlin-api"
    assert advice.is_hidden()
    clean(seen)


def test_neighbouring_region_is_suggested_when_nobody_nearby_fits(page, site):
    open_page(page, site, "?country=US&language=de")
    advice = page.locator("#rec-advice")
    assert "No partner serving United States has everything you asked for" in advice.inner_text()
    assert advice.get_by_role("link", name="Berlin API Works").count() == 0  # Latin America is the neighbour
    page.goto(page.url.split("?")[0] + "?country=AU&language=de")
    page.wait_for_selector("#rec-advice:not([hidden])")
    text = page.locator("#rec-advice").inner_text()
    assert "In the neighbouring region Europe, Middle East and Africa" in text
    assert advice.get_by_role("link", name="Berlin API Works").count() == 1


def test_recommend_page_passes_axe_in_light_and_dark(page, site):
    open_page(page, site, EVERYTHING)
    assert axe_violations(page) == []
    page.emulate_media(color_scheme="dark")
    assert axe_violations(page) == []
    open_page(page, site, "?country=DE&expertise=devops")
    assert axe_violations(page) == []


def test_without_javascript_the_page_explains_itself_and_links_country_pages(browser, site):
    url, _ = site
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(url + "recommend/")
        assert page.locator("#rec-form").is_hidden()
        assert "needs JavaScript" in page.locator("#rec-nojs").inner_text()
        link = page.get_by_role("link", name="Germany", exact=True)
        follow(page, link)
        assert page.url.endswith("/countries/de/#recommended-title")
        section = page.locator(".country-recommend")
        heading = section.get_by_role("heading").first.inner_text()
        assert heading == "Recommended partners for a project in Germany"
    finally:
        context.close()


def test_country_page_recommends_what_the_questionnaire_ranks_for_that_country(page, site):
    url, out = site
    country_page = (out / "countries" / "de" / "index.html").read_text(encoding="utf-8")
    section = country_page.split('class="country-recommend"', 1)[1].split("</section>", 1)[0]
    built = re.findall(r'href="/partners/([\w-]+)/"', section)
    seen = open_page(page, site, "?country=DE")
    assert built == slugs(page)[:5]
    assert built[0] == "berlin-api" and "zed-removed" not in built
    assert page.locator(".rec-card").first.locator("ul.reasons > li").all_inner_texts() == [
        "serves Germany", "Silver status"]
    page.goto(url + "countries/de/")
    assert page.locator(".country-recommend ul.reasons").first.locator("li").all_inner_texts() == [
        "serves Germany", "Silver status"]
    assert axe_violations(page) == []
    clean(seen)
    data = json.loads((out / "recommend.json").read_text(encoding="utf-8"))
    assert "zed-removed" not in {p["slug"] for p in data["partners"]}
