"""The security policy of the published site, checked on every page of the sample directory.

Each page carries its own Content-Security-Policy (GitHub Pages cannot send headers) without
'unsafe-inline', a strict referrer policy, and loads nothing over plain http and nothing from
another site. The site embeds no inline script or data (no JSON-LD): every <script> is one of
its own files, which these tests also read for the ways script could turn data into markup.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from partnerdir.pipeline import build_site
from partnerdir.project import ROOT, Paths
from tests.hostile.audit import audit_page, parse
from tests.hostile.corpus import AS_OF

BASE_URL = "https://partners.example.org/"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("policy")
    out = root / "site"
    result = build_site(Paths(out=out, cache=root / ".cache"), AS_OF, base_url=BASE_URL, search=True, out=out)
    assert result.ok, "\n".join(p.text() for p in result.problems)
    return out


@pytest.fixture(scope="module")
def pages(site):
    return {p.relative_to(site).as_posix(): p.read_text("utf-8") for p in sorted(site.rglob("*.html"))
            if not p.relative_to(site).as_posix().startswith("pagefind/")}


def test_every_page_passes_the_audit(pages):
    """Own scripts only, no handlers or inline style, no unsafe URLs, nothing from elsewhere,
    CSP default-src 'none' without 'unsafe-inline', base-uri 'none', referrer policy no-referrer."""
    assert len(pages) > 50
    findings = {path: f for path, html in pages.items() if (f := audit_page(html))}
    assert not findings, findings


def test_content_security_policy_is_exactly_the_strict_one(pages):
    for path, html in pages.items():
        (csp,) = [m["content"] for m in parse(html).metas if m.get("http-equiv") == "Content-Security-Policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if d.strip())
        assert directives.pop("default-src") == "'none'", path
        assert directives.pop("script-src") in ("'self'", "'self' 'wasm-unsafe-eval'"), path
        for name in ("style-src", "img-src", "connect-src", "form-action"):
            assert directives.pop(name) == "'self'", (path, name)
        assert directives.pop("base-uri") == "'none'", path
        assert set(directives) <= {"manifest-src", "font-src", "worker-src"}, (path, directives)
        assert all(v == "'self'" for v in directives.values()), (path, directives)
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp.replace("wasm-unsafe-eval", "")


def test_the_policy_comes_before_anything_it_governs(pages):
    """A meta CSP only applies to what follows it, so it is the first element that loads anything."""
    loaders = re.compile(r"<(?:link|script|style|img|iframe|object|embed|svg|base)\b", re.IGNORECASE)
    for path, html in pages.items():
        csp_at = html.find('http-equiv="Content-Security-Policy"')
        first = loaders.search(html)
        assert 0 < csp_at and (first is None or csp_at < first.start()), path
        assert html.find('name="referrer"') < (first.start() if first else len(html)), path


def test_no_mixed_content_and_no_third_party_subresources(pages):
    class Loads(HTMLParser):
        def __init__(self):
            super().__init__()
            self.urls: list[str] = []

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag in ("script", "img", "iframe", "source", "audio", "video", "embed"):
                self.urls.append(a.get("src") or "")
            if tag == "link" and set((a.get("rel") or "").split()) - {"canonical", "alternate"}:
                self.urls.append(a.get("href") or "")

    for path, html in pages.items():
        loads = Loads()
        loads.feed(html)
        for url in loads.urls:
            assert not url.startswith("http://"), (path, url)
            assert not urlsplit(url).netloc, f"{path} loads {url} from another site"
        # Absolute addresses the page gives out (canonical, Open Graph) follow the https base URL.
        for url in re.findall(r'(?:href|content)="(https?://partners\.example\.org[^"]*)"', html):
            assert url.startswith("https://"), (path, url)


def test_links_to_other_sites_never_pass_on_the_page_or_the_opener(pages, site):
    class Links(HTMLParser):
        def __init__(self):
            super().__init__()
            self.links: list[dict] = []

        def handle_starttag(self, tag, attrs):
            if tag == "a":
                self.links.append(dict(attrs))

    external = 0
    for path, html in pages.items():
        links = Links()
        links.feed(html)
        for a in links.links:
            host = urlsplit(a.get("href") or "").netloc
            if host and host != urlsplit(BASE_URL).netloc:
                external += 1
                rel = set((a.get("rel") or "").split())
                assert {"noopener", "noreferrer", "nofollow"} <= rel, (path, a)
    assert external > 40  # partner websites and contact pages


def test_no_inline_data_anywhere(pages):
    """No JSON-LD or other inline data: a value with </script> could never end a script block,
    because there is none; data reaches the browser as .json files only."""
    for path, html in pages.items():
        for script in re.finditer(r"<script\b([^>]*)>(.*?)</script>", html, re.IGNORECASE | re.DOTALL):
            attributes, body = script.groups()
            assert body == "", (path, body[:80])
            assert re.search(r'\ssrc="/static/[\w.-]+\.js\?v=[0-9a-f]+"', attributes), (path, attributes)
            assert "ld+json" not in attributes and "json" not in attributes, path


def test_the_sites_own_scripts_never_turn_data_into_markup():
    """Partner names, cities and excerpts reach the page through the site's scripts; they are
    set as text, never parsed as HTML in the live document, and no string is run as code."""
    forbidden = re.compile(r"\.innerHTML\s*[+]?=|\.outerHTML\s*=|insertAdjacentHTML|document\.write|"
                           r"\beval\s*\(|new\s+Function\s*\(|setTimeout\s*\(\s*['\"`]|"
                           r"createContextualFragment|\.srcdoc\s*=")
    scripts = sorted((ROOT / "templates" / "static").rglob("*.js"))
    assert scripts
    for script in scripts:
        for number, line in enumerate(script.read_text("utf-8").splitlines(), 1):
            assert not forbidden.search(line), f"{script.name}:{number}: {line.strip()}"
