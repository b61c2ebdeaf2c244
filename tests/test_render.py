"""What each public page shows, built from small records written for each test."""

from __future__ import annotations

import gzip
import json
import re

import pytest
from markupsafe import Markup, escape

from partnerdir.cli import main
from partnerdir.project import ROOT
from partnerdir.render import _escape, environment
from tests.site_records import AS_OF, SMALL, build, page, parse, projects, record, write_records

LEVELS = ("provisional", "bronze", "silver", "gold", "platinum")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("small")
    result, paths = build(tmp, SMALL)
    assert result.ok, [p.text() for p in result.problems]
    return paths.out, result


def card_names(node) -> list[str]:
    return [c.find("h3").text for c in node.find_all("li", "card")]


def row_names(node) -> list[str]:
    """The partners a listing page's tables name, a row each."""
    return [th.text for table in node.find_all("table", "partner-table")
            for th in table.find("tbody").find_all("th")]


class _Html:
    """A value that says how it is written in HTML (`__html__`), as markupsafe lets it."""

    def __html__(self) -> str:
        return "<abbr>HTML</abbr>"


def html_files(site):
    return sorted(p for p in site.rglob("*.html"))


# ---------------------------------------------------------------------------------------------- directory


def test_directory_lists_every_listed_partner_by_status_then_name(small):
    site, _ = small
    home = page(site, "")
    # gold, silver, bronze, then provisional; the removed partner nowhere
    assert card_names(home) == ["Alpha Systems GmbH", "beta Integration Inc.", "Gamma Trading K.K.",
                                "Delta New Ltd"]
    assert "4 partners" in home.by_id("result-count").text
    assert "2026-11-15" in home.by_id("result-count").text


def test_a_card_shows_badge_programs_headquarters_places_and_top_expertise(small):
    site, _ = small
    card = page(site, "").find_all("li", "card")[0]
    assert card.find("p", "badge").text == "Status: Gold"
    assert "level-gold" in card.find("p", "badge").attrs["class"]
    facts = {div.find("dt").text: div.find("dd").text for div in card.find("dl").find_all("div")}
    assert facts == {
        "Programs": "VAR",
        "Headquarters": "Munich, Germany",
        "Serves": "Europe, Middle East and Africa, Germany, Austria",
        "Expertise": "API management, Integration, 2 more",
    }
    assert card.find("a").attrs["href"] == "/partners/alpha-var/"
    assert card.find("span", "initials").text == "AS"  # GmbH is not an initial


def test_listing_pages_show_partners_as_table_rows_with_status_headquarters_and_programs(small):
    """Program, status, place and topic pages may list thousands of partners: a row each, with
    column headers a screen reader announces, and no cards (megabytes at 10,000 partners)."""
    site, _ = small
    for path in ("programs/fulfillment-reseller/", "status/gold/", "countries/de/", "regions/emea/",
                 "expertise/identity-access-management/", "industries/healthcare/", "languages/ja/"):
        doc = page(site, path)
        # (a country page's few recommended partners stay cards, with the reasons)
        assert not [li for li in doc.find_all("li", "card") if "rec-card" not in li.attrs["class"]], path
        for table in doc.find_all("table", "partner-table"):
            assert [th.text for th in table.find("thead").find_all("th")] == [
                "Partner", "Status", "Headquarters", "Programs"], path
            assert all(th.attrs["scope"] == "col" for th in table.find("thead").find_all("th"))
            labelled = doc.find(id=table.attrs["aria-labelledby"])
            assert labelled is not None and labelled.text.strip(), path
    de = page(site, "countries/de/")
    row = de.find("section", aria_labelledby="hq-title").find("tbody").find("tr")
    assert row.find("th").attrs["scope"] == "row"
    assert row.find("th").find("a").attrs["href"] == "/partners/alpha-var/"
    assert [td.text for td in row.find_all("td")] == ["Gold", "Munich, Germany", "VAR"]
    assert "level-gold" in row.find("span", "badge").attrs["class"]


def test_facet_counts_include_implied_programs_and_served_countries(small):
    site, _ = small
    facets = page(site, "").by_id("facets")

    def counts(key):
        group = facets.find("details", data_facet=key)
        return {a.attrs["data-value"]: int(a.find("span", "count").text) for a in group.find_all("a")}

    programs = counts("program")
    # the VAR is also a Certified Integration Partner and a Fulfillment Reseller
    assert programs == {"value-added-reseller": 1, "fulfillment-reseller": 2,
                        "certified-integration-partner": 2, "integration-partner": 1}
    assert counts("status") == {"platinum": 0, "gold": 1, "silver": 1, "bronze": 1, "provisional": 1}
    countries = counts("country")
    assert countries["DE"] == 1 and countries["FR"] == 1  # FR through the VAR's region
    assert countries["JP"] == 1 and countries["AU"] == 1  # every APAC country through the reseller
    assert "apac" in counts("region") and counts("region")["emea"] == 2  # alpha serves, delta in GB
    assert counts("language") == {"en": 4, "de": 1, "ja": 1}


def test_facet_links_lead_to_pre_rendered_pages(small):
    site, _ = small
    for link in page(site, "").by_id("facets").find_all("a"):
        href = link.attrs["href"]
        assert href.startswith("/") and href.endswith("/")
        assert (site / href.lstrip("/") / "index.html").is_file(), href


def test_directory_pages_beyond_the_first_list_the_rest(tmp_path):
    records = {f"partner-{i:02d}": record(f"Partner {i:02d}") for i in range(30)}
    result, paths = build(tmp_path, records)
    assert result.ok
    first, second = page(paths.out, ""), page(paths.out, "page/2/")
    names = card_names(first) + card_names(second)
    assert names == [f"Partner {i:02d}" for i in range(30)]
    assert len(card_names(first)) == 24
    assert second.find("ol", "cards").attrs["start"] == "25"
    assert first.find("a", rel="next").attrs["href"] == "/page/2/"
    assert second.find("a", rel="prev").attrs["href"] == "/"
    # the filter script only runs on the first page; the others are for browsing without it
    assert not second.find_all("script")


# ---------------------------------------------------------------------------------------------- partner page


def test_partner_page_explains_the_status_with_the_as_of_date(small):
    site, _ = small
    doc = page(site, "partners/alpha-var/")
    assert doc.find("h1").text == "Alpha Systems GmbH"
    status = doc.find("section", "status-explained")
    assert doc.find("p", "status-line").text == "Gold status as of 2026-11-15"
    text = status.text
    assert "Gold under Value Added Reseller" in text
    rows = {tr.find("th").text: [td.text for td in tr.find_all("td")]
            for tr in status.find("table", "metrics").find("tbody").find_all("tr")}
    assert rows["certified engineers"] == ["8", "8", "15"]
    assert rows["subscription sales"] == ["USD 400,000", "USD 400,000", "USD 1,000,000"]
    headers = [th.text for th in status.find("table", "metrics").find("thead").find_all("th")]
    assert headers == ["Metric", "Has", "Gold needs", "Platinum needs"]
    assert "For Platinum under Fulfillment Reseller: USD 600,000 more subscription sales." in text
    assert "Certified Integration Partner: Gold (for Platinum: 7 more certified engineers" in text
    assert "Holds Gold until" in text
    history = [td.text for td in status.find("table", "history").find_all("td")]
    assert history[-2:] == ["2026-11-15", "Gold"]
    assert "2026-01-01 (annual review)" in history


def test_provisional_partner_page_shows_what_bronze_needs(small):
    site, _ = small
    status = page(site, "partners/delta-new/").find("section", "status-explained")
    headers = [th.text for th in status.find("table", "metrics").find("thead").find_all("th")]
    assert headers == ["Metric", "Has", "Bronze needs"]
    assert "For Bronze under Integration Partner: 2 more certified engineers, 1 more successful project" \
        in status.text


def test_partner_page_lists_contact_programs_places_and_evidence(small):
    site, _ = small
    doc = page(site, "partners/alpha-var/")
    facts = {div.find("dt").text: div.find("dd") for div in doc.find("aside").find("dl").find_all("div")}
    assert facts["Email"].find("a").attrs["href"] == "mailto:hello@alpha.example"
    assert facts["Contact page"].find("a").attrs["rel"] == "noopener noreferrer nofollow"
    assert [a.text for a in facts["Programs"].find_all("a")] == [
        "Value Added Reseller", "Fulfillment Reseller", "Certified Integration Partner"]
    assert "(included in Value Added Reseller)" in facts["Programs"].text
    assert facts["Headquarters"].find("a").attrs["href"] == "/countries/de/"
    assert facts["Regions served"].find("a").attrs["href"] == "/regions/emea/"
    assert [a.attrs["href"] for a in facts["Languages"].find_all("a")] == ["/languages/de/", "/languages/en/"]
    assert facts["Partner since"].text == "2020-05-04"
    certs = doc.find("table", "certs")
    assert [td.text for td in certs.find("tbody").find_all("td")] == ["8", "8"]
    assert certs.find("tbody").find("th").text == "Integrator"
    projects_text = doc.find("section", aria_labelledby="projects-title").text
    assert "6 projects listed, 6 successful; 6 count towards the status level" in projects_text


def test_unsuccessful_and_old_projects_are_listed_as_not_counting(tmp_path):
    old = projects(1)[0] | {"title": "Old one", "completed": AS_OF.replace(year=2020)}
    failed = projects(1)[0] | {"title": "Failed one", "outcome": "unsuccessful"}
    result, paths = build(tmp_path, {"p": record("P", projects=[old, failed] + projects(1))})
    assert result.ok
    items = {li.find("strong").text: li.text for li in page(paths.out, "partners/p/").find_all("li")
             if li.find_all("strong")}
    assert "does not count: completed before the 36-month window" in items["Old one"]
    assert "does not count: outcome unsuccessful" in items["Failed one"]
    assert "does not count" not in items["Project 1"]


HOSTILE = """# Welcome

We build **APIs**. [Our site](https://partner.example) and [mail](mailto:a@partner.example).

<script>alert('x')</script>
<img src="https://tracker.example/pixel.gif" onerror="alert(1)">
<a href="javascript:alert(1)">click</a> [data](data:text/html,<script>alert(1)</script>)
[vb](vbscript:msgbox) <a href="/admin">relative</a> <iframe src="https://evil.example"></iframe>
<p style="position:fixed" onclick="alert(1)">styled</p><style>body{display:none}</style>
<form action="https://evil.example"><input name=q></form><svg onload=alert(1)></svg>
"""


def test_partner_markdown_cannot_run_script_or_load_anything(tmp_path):
    result, paths = build(tmp_path, {"hostile": record("Hostile", body=HOSTILE)})
    assert result.ok, [p.text() for p in result.problems]
    html = (paths.out / "partners/hostile/index.html").read_text()
    prose = parse(html).find("div", "prose")
    inner = html[html.index('<div class="prose">'):html.index("</div>", html.index('<div class="prose">'))]
    for bad in ("<script", "onerror", "onclick", "onload", "javascript:", "data:", "vbscript:", "<iframe",
                "<img", "style=", "<style", "<form", "<input", "<svg", "/admin", "tracker.example"):
        assert bad not in inner.lower(), bad
    assert prose.find("h3").text == "Welcome"  # the page's own h1/h2 stay the outline
    links = {a.text: a.attrs for a in prose.find_all("a")}
    assert links["Our site"] == {"href": "https://partner.example", "rel": "noopener noreferrer nofollow"}
    assert links["mail"]["href"] == "mailto:a@partner.example"
    assert "href" not in links["click"] and "href" not in links["relative"]
    assert "styled" in prose.text


def test_names_and_cities_are_escaped_everywhere(tmp_path):
    name = '<b onmouseover="alert(1)">Bold</b> & Co'
    hq = {"city": "<i>City</i>", "country": "DE"}
    result, paths = build(tmp_path, {"bold": record(name, headquarters=hq)})
    assert result.ok
    for file in html_files(paths.out):
        text = file.read_text()
        assert "<b onmouseover" not in text and "<i>City" not in text, file
    assert page(paths.out, "partners/bold/").find("h1").text == name


@pytest.mark.parametrize("value", ['<b onmouseover="alert(1)">Bold</b> & Co\'s', "plain", "", 3, 2.5, None,
                                   Markup("<em>safe</em>"), _Html(), "\u00e9\u4e2d<>"])
def test_templates_escape_every_value_as_markupsafe_does(value):
    """The faster escape put into templates (`render._escape`) gives markupsafe's very text,
    and is what a template of the site's environment calls."""
    env = environment(ROOT / "templates")
    template = env.from_string("<p>{{ value }}</p>")
    assert template.root_render_func.__globals__["escape"] is _escape
    assert template.render(value=value) == f"<p>{escape(value)}</p>"
    assert type(_escape(value)) is Markup and _escape(value) == escape(value)


# ---------------------------------------------------------------------------------------------- other pages


def test_program_overview_is_generated_from_programs_yaml(small):
    site, _ = small
    doc = page(site, "programs/")
    text = doc.text
    assert "USD 500" in text
    for program in ("Value Added Reseller", "Fulfillment Reseller", "Certified Integration Partner",
                    "Integration Partner"):
        assert program in text
    rows = {tr.find("th").text: [td.text for td in tr.find_all("td")]
            for tr in doc.find("table", "levels").find("tbody").find_all("tr")}
    assert rows["Gold"] == ["8", "6", "USD 400,000"]
    assert "As a Fulfillment Reseller: at least USD 400,000 subscription sales." in text
    assert "Supported subscription distribution: supported" in text
    assert "Open-source community distribution: not supported" in text
    retired = doc.find("section", aria_labelledby="retired-title")
    assert ("Premier Certified Integration Partner, retired in 2020, replaced by "
            "Certified Integration Partner") in retired.text
    assert page(site, "programs/premier-certified-integration-partner/").find("h1").text.endswith("(retired)")


def test_program_pages_list_members_including_implied_ones(small):
    site, _ = small
    assert row_names(page(site, "programs/certified-integration-partner/")) == [
        "Alpha Systems GmbH", "beta Integration Inc."]
    assert row_names(page(site, "programs/fulfillment-reseller/")) == [
        "Alpha Systems GmbH", "Gamma Trading K.K."]
    assert row_names(page(site, "programs/value-added-reseller/")) == ["Alpha Systems GmbH"]


def test_status_pages_give_criteria_and_holders(small):
    site, _ = small
    gold = page(site, "status/gold/")
    assert row_names(gold) == ["Alpha Systems GmbH"]
    assert ("Certified Integration Partner: at least 8 certified engineers and 6 successful projects."
            in gold.text)
    assert "Statuses as of 2026-11-15" in gold.text
    assert row_names(page(site, "status/platinum/")) == []
    assert "No partner holds Platinum" in page(site, "status/platinum/").text
    assert row_names(page(site, "status/provisional/")) == ["Delta New Ltd"]


def test_country_pages_separate_headquartered_and_serving_partners(small):
    site, _ = small
    de = page(site, "countries/de/")
    assert row_names(de.find("section", aria_labelledby="hq-title")) == ["Alpha Systems GmbH"]
    assert row_names(de.find("section", aria_labelledby="serving-title")) == ["Alpha Systems GmbH"]
    fr = page(site, "countries/fr/")  # served through the region, nobody headquartered there
    assert row_names(fr.find("section", aria_labelledby="hq-title")) == []
    assert row_names(fr.find("section", aria_labelledby="serving-title")) == ["Alpha Systems GmbH"]
    gb = page(site, "countries/gb/")
    assert row_names(gb.find("section", aria_labelledby="hq-title")) == ["Delta New Ltd"]
    assert row_names(gb.find("section", aria_labelledby="serving-title")) == ["Alpha Systems GmbH",
                                                                             "Delta New Ltd"]
    # a page for every country with partners, none for countries without
    assert (site / "countries/au/index.html").is_file()  # the reseller serves all of APAC
    assert not (site / "countries/br/index.html").exists()


def test_region_pages(small):
    site, _ = small
    emea = page(site, "regions/emea/")
    assert row_names(emea.find("section", aria_labelledby="hq-title")) == [
        "Alpha Systems GmbH", "Delta New Ltd"]
    assert row_names(emea.find("section", aria_labelledby="serving-title")) == ["Alpha Systems GmbH",
                                                                               "Delta New Ltd"]
    na = page(site, "regions/north-america/")
    assert row_names(na.find("section", aria_labelledby="serving-title")) == ["beta Integration Inc."]
    assert not (site / "regions/latin-america/index.html").exists()


def test_topic_pages_for_expertise_industries_and_languages(small):
    site, _ = small
    assert row_names(page(site, "expertise/identity-access-management/")) == [
        "Alpha Systems GmbH", "beta Integration Inc."]
    assert row_names(page(site, "industries/healthcare/")) == ["beta Integration Inc."]
    assert row_names(page(site, "languages/ja/")) == ["Gamma Trading K.K."]
    assert page(site, "languages/").find("a", href="/languages/ja/").text == "Japanese"


def test_removed_partners_are_absent_everywhere(small):
    site, result = small
    assert result.listed == 4 and len(result.review) == 1 and "omega-removed" in result.review[0]
    assert not (site / "partners/omega-removed").exists()
    for file in sorted(site.rglob("*")):
        if file.is_file() and file.suffix in (".html", ".json", ".csv", ".xml"):
            text = file.read_text()
            assert "omega" not in text.lower(), file
    assert not (site / "countries/fr/index.html").read_text().count("Omega")


# ---------------------------------------------------------------------------------------------- every page


def test_every_page_has_csp_referrer_policy_canonical_and_open_graph(small):
    site, _ = small
    for file in html_files(site):
        html = file.read_text()
        doc = parse(html)
        metas = {(m.attrs.get("http-equiv") or m.attrs.get("name") or m.attrs.get("property")):
                 m.attrs["content"] for m in doc.find_all("meta") if "content" in m.attrs}
        csp = metas["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "style-src 'self'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp.replace("wasm-unsafe-eval", "")
        assert metas["referrer"] == "no-referrer"
        assert metas["og:title"] and metas["og:site_name"] == "Partner Directory"
        if file.name != "404.html":
            canonical = doc.find("link", rel="canonical").attrs["href"]
            rel = file.relative_to(site).as_posix().removesuffix("index.html")
            assert canonical == "https://partners.example.org/" + rel
            assert metas["og:url"] == canonical
        # nothing inline: every script and style comes from the site's own files
        assert " style=" not in html, file
        for script in doc.find_all("script"):
            assert script.attrs.get("src", "").startswith("/static/") and not script.text.strip(), file
        assert not doc.find_all("style"), file
        assert re.search(r"\son[a-z]+=", html) is None, file
        main = doc.find("main")
        if main.find_all(cls="badge"):  # a page showing a status says which day it describes
            assert "as of 2026-11-15" in main.text, file


def test_nothing_is_loaded_from_another_site(small):
    site, _ = small
    for file in html_files(site):
        doc = parse(file.read_bytes())
        for node in doc.find_all("script") + doc.find_all("link") + doc.find_all("img"):
            url = node.attrs.get("src") or node.attrs.get("href") or ""
            if node.tag == "link" and node.attrs.get("rel") == "canonical":
                continue
            assert url.startswith("/"), (file, url)


def test_site_files_404_sitemap_robots_nojekyll_favicon(small):
    site, _ = small
    assert (site / ".nojekyll").read_bytes() == b""
    assert "Page not found" in page(site, "404.html").find("h1").text
    robots = (site / "robots.txt").read_text()
    assert "Sitemap: https://partners.example.org/sitemap.xml" in robots
    sitemap = (site / "sitemap.xml").read_text()
    locs = re.findall(r"<loc>([^<]+)</loc>", sitemap)
    assert "https://partners.example.org/" in locs
    assert "https://partners.example.org/partners/alpha-var/" in locs
    assert all("404" not in loc for loc in locs)
    pages = {"https://partners.example.org/" + p.relative_to(site).as_posix().removesuffix("index.html")
             for p in html_files(site) if p.name != "404.html"}
    assert set(locs) == pages
    favicon = parse((site / "index.html").read_bytes()).find("link", rel="icon").attrs
    assert favicon["type"] == "image/svg+xml"
    assert (site / favicon["href"].lstrip("/").split("?")[0]).read_bytes().startswith(b"<svg")


def test_sub_path_base_url_prefixes_every_link(tmp_path):
    result, paths = build(tmp_path, SMALL, base_url="https://org.github.io/partners")
    assert result.ok
    home = (paths.out / "index.html").read_text()
    assert 'href="/partners/partners/alpha-var/"' in home
    assert 'data-src="/partners/directory.json"' in home
    assert '<link rel="canonical" href="https://org.github.io/partners/">' in home
    for file in html_files(paths.out):
        for node in parse(file.read_bytes()).iter():
            for attr in ("href", "src"):
                value = node.attrs.get(attr) or ""
                if value.startswith("/"):
                    assert value.startswith("/partners/"), (file, value)


def test_a_bad_base_url_is_a_clear_error(tmp_path, capsys):
    content = write_records(tmp_path / "content", {"a": record("A")})
    code = main(["build", "--content", str(content), "--out", str(tmp_path / "site"), "--as-of", "2026-11-15",
                 "--base-url", "partners.example.org", "--no-search"])
    assert code == 1
    err = capsys.readouterr().err
    assert "--base-url: the base URL 'partners.example.org' must be a full web address" in err
    assert not (tmp_path / "site").exists()


# ---------------------------------------------------------------------------------------------- the command


def test_build_command_prints_a_summary(tmp_path, capsys):
    content = write_records(tmp_path / "content", SMALL)
    code = main(["build", "--content", str(content), "--out", str(tmp_path / "site"),
                 "--as-of", "2026-11-15", "--no-search"])
    out = capsys.readouterr().out
    assert code == 0
    assert "4 partners listed, 1 removed at review." in out
    assert "Removed at the 2026-01-01 review" in out and "omega-removed" in out
    pages = len(list((tmp_path / "site").rglob("*.html")))
    assert "of them pages" in out and f"{pages} of them pages" in out
    # The record cache's stages, when it runs, come between these.
    assert re.search(r"Time: check [\d.]+ s, award [\d.]+ s, (cache [\d.]+ s, )?render [\d.]+ s, "
                     r"write [\d.]+ s(, cache [\d.]+ s)?; total", out)


def test_the_summary_counts_one_file_written_as_one(tmp_path):
    """(A logo replaced is the one file a rebuild writes.)"""
    import datetime as dt

    from partnerdir.pipeline import BuildResult, summary

    def written(count: int) -> str:
        result = BuildResult(ok=True, out=tmp_path / "site", as_of=dt.date(2026, 11, 15), files=353,
                             pages=329, written=count, listed=40)
        return summary(result).splitlines()[1]

    assert written(1) == "353 files, 329 of them pages; 1 file written, the others were unchanged."
    assert "; 0 files written," in written(0) and "; 9 files written," in written(9)


def test_validation_problems_stop_the_build_and_write_nothing(tmp_path, capsys):
    bad = record("Bad", programs=["premier-certified-integration-partner"], countries_served=["UK"])
    content = write_records(tmp_path / "content", {"good": record("Good"), "bad": bad})
    out = tmp_path / "site"
    code = main(["build", "--content", str(content), "--out", str(out), "--as-of", "2026-11-15",
                 "--no-search"])
    err = capsys.readouterr().err
    assert code == 1
    assert "bad.yaml:" in err
    assert "programs[0]: the program 'premier-certified-integration-partner' was retired" in err
    assert "the code for the United Kingdom is GB" in err
    assert "Traceback" not in err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [content]  # no lock, no temporary folder


def test_a_template_mistake_names_the_template_and_line(tmp_path):
    templates = tmp_path / "templates"
    (templates).mkdir()
    for file in (ROOT / "templates").iterdir():
        if file.is_file():
            (templates / file.name).write_bytes(file.read_bytes())
    (templates / "404.html").write_text(
        '{% extends "base.html" %}\n{% block content %}\n{{ missing.value }}\n{% endblock %}\n')
    content = write_records(tmp_path / "content", {"a": record("A")})
    from partnerdir.pipeline import build_site
    from tests.site_records import project_paths

    paths = project_paths(tmp_path, content)
    paths = type(paths)(**{**paths.__dict__, "templates": templates})
    result = build_site(paths, AS_OF, search=False)
    assert not result.ok
    problem = result.problems[0]
    assert problem.path.endswith("404.html") and problem.line == 3 and "missing" in problem.message
    assert not paths.out.exists()


@pytest.mark.parametrize(("name", "macro"), [("_card.html", "card"), ("_row.html", "row")])
def test_a_card_or_row_template_without_its_macro_is_one_clear_problem(tmp_path, name, macro):
    """Cards and table rows are macros called once per partner; a site's own template written
    as a plain page says what it must define instead of failing with a traceback."""
    templates = tmp_path / "templates"
    templates.mkdir()
    for file in (ROOT / "templates").iterdir():
        if file.is_file():
            (templates / file.name).write_bytes(file.read_bytes())
    (templates / name).write_text("<li>{{ p.name }}</li>\n")
    content = write_records(tmp_path / "content", {"a": record("A")})
    from partnerdir.pipeline import build_site
    from tests.site_records import project_paths

    paths = project_paths(tmp_path, content)
    paths = type(paths)(**{**paths.__dict__, "templates": templates})
    result = build_site(paths, AS_OF, search=False)
    assert not result.ok
    assert [p.message for p in result.problems] == [
        f"TemplateRuntimeError: {name} must define the macro {macro}(p) "
        f"({{% macro {macro}(p) %}}...{{% endmacro %}}), called once per partner"]
    assert not paths.out.exists()


# ---------------------------------------------------------------------------------------------- weight


def test_directory_page_with_its_css_and_js_is_light(built_site):
    """HTML + CSS + JS of the sample directory page under 100 KB compressed, as the public sees it."""
    home = (built_site / "index.html").read_bytes()
    doc = parse(home)
    assets = [n.attrs["href"] for n in doc.find_all("link", rel="stylesheet")]
    assets += [n.attrs["src"] for n in doc.find_all("script") if n.attrs.get("src")]
    total = len(gzip.compress(home, 9))
    for url in assets:
        total += len(gzip.compress((built_site / url.lstrip("/").split("?")[0]).read_bytes(), 9))
    assert total < 100_000, total


def test_directory_data_matches_the_facet_counts(small):
    site, _ = small
    data = json.loads((site / "directory.json").read_text())
    assert [p["s"] for p in data["partners"]] == [
        "alpha-var", "beta-integration", "delta-new", "gamma-reseller"]
    assert data["as_of"] == "2026-11-15"
    status = {}
    for p in data["partners"]:
        level = data["levels"][p["l"]][0]
        status[level] = status.get(level, 0) + 1
    assert status == {"gold": 1, "silver": 1, "bronze": 1, "provisional": 1}
    assert set(LEVELS) == {lv[0] for lv in data["levels"]}
