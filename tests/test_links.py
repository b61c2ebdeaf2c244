"""Every internal link and asset of the built site resolves, from the domain root and from a sub-path."""

from __future__ import annotations

import datetime as dt
import html
import re
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from partnerdir.pipeline import build_site
from partnerdir.project import Paths
from tests.browser import serve_folder
from tests.site_records import parse

# Built pages quote every attribute with double quotes, so a pattern finds them quickly.
_LINK = re.compile(r'\s(?:href|src|data-src)="([^"]*)"')
_ID = re.compile(r'\sid="([^"]*)"')


def internal_links(site: Path, root: str = "/") -> dict[str, set[str]]:
    """URL path (with query and fragment) -> the pages linking to it, for every same-site link.

    Pages are addressed as visitors see them, under `root`, so relative links resolve as in a browser.
    """
    links: dict[str, set[str]] = {}
    for file in sorted(site.rglob("*.html")):
        page = root + file.relative_to(site).as_posix()
        for value in _LINK.findall(file.read_text(encoding="utf-8")):
            value = html.unescape(value)
            if not value or urlsplit(value).scheme in ("http", "https", "mailto"):
                continue
            links.setdefault(urljoin(page, value), set()).add(page)
    return links


def ids_in(file: Path) -> set[str]:
    return set(_ID.findall(file.read_text(encoding="utf-8")))


def resolve(site: Path, root: str, url: str) -> Path | None:
    path = urlsplit(url).path
    if not path.startswith(root):
        return None
    rel = path[len(root):]
    target = site / rel
    if rel == "" or rel.endswith("/"):
        target = target / "index.html"
    return target if target.is_file() else None


def check_files(site: Path, root: str) -> list[str]:
    broken = []
    ids: dict[Path, set[str]] = {}
    for url, pages in sorted(internal_links(site, root).items()):
        target = resolve(site, root, url)
        if target is None:
            broken.append(f"{url} (from {sorted(pages)[0]})")
            continue
        fragment = urlsplit(url).fragment
        if fragment:
            if target not in ids:
                ids[target] = ids_in(target)
            if fragment not in ids[target]:
                broken.append(f"{url}: no element with id '{fragment}'")
    return broken


def fetch_all(base: str, paths) -> list[str]:
    def status(path: str) -> tuple[str, int]:
        try:
            with urllib.request.urlopen(urljoin(base, path), timeout=10) as response:
                return path, response.status
        except urllib.error.HTTPError as e:
            return path, e.code

    with ThreadPoolExecutor(8) as pool:
        return [f"{path}: HTTP {code}" for path, code in pool.map(status, sorted(paths)) if code != 200]


def test_every_internal_link_resolves_from_the_root(built_site, site_url):
    links = internal_links(built_site)
    assert len(links) > 100  # the walk found the site's links
    assert check_files(built_site, "/") == []
    assert fetch_all(site_url, {urlsplit(u).path for u in links}) == []


def test_every_internal_link_resolves_under_a_sub_path(tmp_path):
    """GitHub Pages project sites live at https://org.github.io/<repo>/: serve the parent folder."""
    parent = tmp_path / "www"
    parent.mkdir()
    with serve_folder(parent) as url:
        base = url + "sub/path/"
        out = parent / "sub" / "path"
        result = build_site(Paths(out=out), dt.date(2026, 11, 15), base_url=base, search=True)
        assert result.ok, [p.text() for p in result.problems]
        links = internal_links(out, "/sub/path/")
        assert all(u.startswith("/sub/path/") for u in links), [u for u in links if not u.startswith("/sub/")]
        # links written root-relative carry the sub-path themselves
        assert '<a href="/sub/path/programs/"' in (out / "index.html").read_text()
        assert check_files(out, "/sub/path/") == []
        assert fetch_all(url, {urlsplit(u).path for u in links}) == []
        # canonical addresses and the sitemap point at real pages too
        sitemap = (out / "sitemap.xml").read_text()
        locs = re.findall(r"<loc>([^<]+)</loc>", sitemap)
        assert locs and all(loc.startswith(base) for loc in locs)
        assert fetch_all(url, {urlsplit(loc).path for loc in locs}) == []
        home = parse((out / "index.html").read_bytes())
        assert home.find("link", rel="canonical").attrs["href"] == base


def test_the_404_page_works_at_any_depth(built_site):
    """GitHub Pages serves 404.html for every missing address, so its links must not be relative."""
    doc = parse((built_site / "404.html").read_bytes())
    for node in doc.iter():
        for attr in ("href", "src"):
            value = node.attrs.get(attr)
            if value and not urlsplit(value).scheme and not value.startswith("#"):
                assert value.startswith("/"), value
