"""Stage 4b: pages as plain data {site path: bytes}: templates filled, assets, logos and open data.

Nothing here touches the output folder; the write stage does. Every link is root-relative to
the base URL's path, so the same build works from a domain root or a GitHub Pages project path.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from xml.sax.saxutils import escape as xml_escape

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from . import export
from .award import amount, number
from .facets import FACETS
from .pages import Directory, Page, PartnerView, all_pages
from .rules import country_name

# Only the site's own files, no inline script or style; Pagefind (the search index) compiles
# WebAssembly, which needs 'wasm-unsafe-eval' and nothing looser.
CSP = ("default-src 'none'; script-src 'self'{wasm}; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'")
REFERRER_POLICY = "no-referrer"


class BaseUrlError(ValueError):
    pass


@dataclass(frozen=True)
class Site:
    """Where the site will be published."""

    base_url: str  # absolute, ends with '/'
    root: str  # its path, ends with '/': the prefix of every internal link

    @classmethod
    def from_base_url(cls, base_url: str) -> Site:
        parts = urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise BaseUrlError(f"the base URL '{base_url}' must be a full web address, "
                               "such as https://example.org/ or https://org.github.io/partners/")
        path = parts.path if parts.path.endswith("/") else parts.path + "/"
        return cls(f"{parts.scheme}://{parts.netloc}{path}", path)

    def url(self, path: str) -> str:
        return self.base_url + path


def environment(templates: Path) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(templates)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["number"] = number
    env.filters["country"] = country_name
    return env


def static_files(static: Path) -> dict[str, bytes]:
    """The site's own CSS, JavaScript and icons, under /static/."""
    files = {}
    if static.is_dir():
        for path in sorted(static.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                files["static/" + path.relative_to(static).as_posix()] = path.read_bytes()
    return files


def render_site(d: Directory, templates: Path, static: Path, content: Path, site: Site,
                search: bool = False) -> dict[str, bytes]:
    """Every file of the site except the search index."""
    files = static_files(static)
    fingerprints = {path: hashlib.sha256(data).hexdigest()[:10] for path, data in files.items()}

    def asset(name: str) -> str:
        """Asset URLs change with their content, so browsers never mix an old script with a new page."""
        key = "static/" + name
        if key not in fingerprints:
            raise KeyError(f"templates/static/{name} does not exist")
        return f"{site.root}{key}?v={fingerprints[key]}"

    env = environment(templates)
    rules = d.rules
    env.globals.update(
        site=rules.site,
        rules=rules,
        root=site.root,
        base_url=site.base_url,
        as_of=d.as_of.isoformat(),
        asset=asset,
        csp=CSP.format(wasm=" 'wasm-unsafe-eval'" if search else ""),
        referrer_policy=REFERRER_POLICY,
        search=search,
        facets=FACETS,
        level_names={lv.id: lv.name for lv in rules.levels},
        amount=lambda metric, value: amount(rules, metric, value),
    )
    card_template = env.get_template("_card.html")
    cards: dict[str, Markup] = {}

    def card(view: PartnerView) -> Markup:
        """Each card is rendered once and reused on every page that lists the partner."""
        if view.slug not in cards:
            cards[view.slug] = Markup(card_template.render(p=view).strip())
        return cards[view.slug]

    env.globals["card"] = card

    pages = all_pages(d)
    for page in pages:
        template = env.get_template(page.template)
        html = template.render(**page.context, page=page, canonical=site.url(page.url_path))
        files[page.path] = html.encode("utf-8")

    for site_path, source in sorted(d.logos.items()):
        files[site_path] = (content / source).read_bytes()
    files["partners.json"] = export.partners_json(d, site)
    files["partners.csv"] = export.partners_csv(d, site)
    files["directory.json"] = export.directory_json(d, site)
    files["sitemap.xml"] = sitemap(pages, site, d.as_of)
    files["robots.txt"] = f"User-agent: *\nAllow: /\nSitemap: {site.url('sitemap.xml')}\n".encode()
    files[".nojekyll"] = b""
    return dict(sorted(files.items()))


def sitemap(pages: list[Page], site: Site, as_of: dt.date) -> bytes:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">']
    for page in pages:
        if page.in_sitemap:
            lines.append(f"  <url><loc>{xml_escape(site.url(page.url_path))}</loc>"
                         f"<lastmod>{as_of.isoformat()}</lastmod></url>")
    lines.append("</urlset>")
    return ("\n".join(lines) + "\n").encode("utf-8")
