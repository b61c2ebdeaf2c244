"""Stage 4b: pages as plain data {site path: bytes}: templates filled, assets, logos and open data.

Nothing here touches the output folder; the write stage does. Every link is root-relative to
the base URL's path, so the same build works from a domain root or a GitHub Pages project path.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from xml.sax.saxutils import escape as xml_escape

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from . import export, parallel
from .award import amount, number
from .facets import FACETS
from .pages import PAGE_MAKERS, Directory, Page, PartnerView, partner_page, partner_pages, partner_path
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
                search: bool = False, processes: int | None = None,
                reuse: dict[str, tuple[bytes, str]] | None = None,
                rendered: dict[str, tuple[bytes, str]] | None = None) -> dict[str, bytes]:
    """Every file of the site except the search index.

    Partner pages and the open data files depend on nothing but their partner (or are single
    files), so large directories render them on every core first; the listing pages, which
    show the cards made along the way, are shared out after that. `reuse` holds partner pages
    and cards (by slug) known to be current, which are not rendered again; the ones rendered
    are added to `rendered`.
    """
    files = static_files(static)
    fingerprints = {path: hashlib.sha256(data).hexdigest()[:10] for path, data in files.items()}
    renderer = _Renderer(d, templates, site, fingerprints, search)
    pages: list[Page] = []
    insert_at = 0  # where partner pages come in PAGE_MAKERS order
    for make in PAGE_MAKERS:
        if make is partner_pages:
            insert_at = len(pages)
        else:
            pages.extend(make(d))
    _check_unique(pages, d)

    reuse = reuse or {}
    fresh = sum(1 for slug in d.order if slug not in reuse)
    count = parallel.workers(processes) if fresh >= parallel.MIN_PARTNERS else 1
    try:
        files.update(renderer.render_all(pages, count, reuse, rendered))
    except Exception:
        if count == 1:
            raise
        # Run it again here, so a template mistake is reported with its own file and line.
        renderer = _Renderer(d, templates, site, fingerprints, search)
        files.update(renderer.render_all(pages, 1, reuse, rendered))

    for site_path, source in sorted(d.logos.items()):
        files[site_path] = (content / source).read_bytes()
    files["sitemap.xml"] = sitemap(_sitemap_order(pages, insert_at, d), site, d.as_of)
    files["robots.txt"] = f"User-agent: *\nAllow: /\nSitemap: {site.url('sitemap.xml')}\n".encode()
    files[".nojekyll"] = b""
    return dict(sorted(files.items()))


EXPORTS: dict[str, Callable[[Directory, Site], bytes]] = {
    "partners.json": export.partners_json,
    "partners.csv": export.partners_csv,
    "directory.json": export.directory_json,
}


class _Renderer:
    """The templates with the site's globals, and each partner's card rendered once."""

    def __init__(self, d: Directory, templates: Path, site: Site, fingerprints: dict[str, str],
                 search: bool) -> None:
        self.d = d
        self.site = site
        self.cards: dict[str, Markup] = {}

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
            card=self.card,
        )
        self.env = env
        self.card_template = env.get_template("_card.html")

    def card(self, view: PartnerView) -> Markup:
        """Each card is rendered once and reused on every page that lists the partner."""
        if view.slug not in self.cards:
            self.cards[view.slug] = Markup(self.card_template.render(p=view).strip())
        return self.cards[view.slug]

    def page(self, page: Page) -> bytes:
        template = self.env.get_template(page.template)
        html = template.render(**page.context, page=page, canonical=self.site.url(page.url_path))
        return html.encode("utf-8")

    def partners(self, slugs: list[str]) -> tuple[list[tuple[str, bytes]], dict[str, str]]:
        out = []
        for slug in slugs:
            page = partner_page(self.d, slug)
            out.append((page.path, self.page(page)))
            self.card(self.d.views[slug])
        return out, {slug: str(self.cards[slug]) for slug in slugs}

    def work(self, item: tuple) -> tuple[list[tuple[str, bytes]], dict[str, str]]:
        kind, value = item
        if kind == "partners":
            return self.partners(value)
        if kind == "export":
            return [(value, EXPORTS[value](self.d, self.site))], {}
        return [(page.path, self.page(page)) for page in value], {}

    def render_all(self, pages: list[Page], count: int, reuse: dict[str, tuple[bytes, str]],
                   rendered: dict[str, tuple[bytes, str]] | None) -> dict[str, bytes]:
        d = self.d
        for name in ("partner.html", "_card.html", *sorted({p.template for p in pages})):
            self.env.get_template(name)  # compiled once, before the workers fork
        files: dict[str, bytes] = {}
        for slug in d.order:
            if slug in reuse:
                page, card = reuse[slug]
                files[partner_path(slug)] = page
                self.cards[slug] = Markup(card)
        todo = [slug for slug in d.order if slug not in reuse]
        first: list[tuple] = [("export", name) for name in EXPORTS]
        first += [("partners", chunk) for chunk in parallel.chunks(todo, count * 4)]
        for made, cards in parallel.fork_map(self.work, first, count):
            files.update(made)
            self.cards.update((slug, Markup(html)) for slug, html in cards.items())
            if rendered is not None:
                for slug, card in cards.items():
                    rendered[slug] = (files[partner_path(slug)], card)
        second = [("pages", pages[i::count * 2]) for i in range(count * 2)]
        for made, _ in parallel.fork_map(self.work, second, count):
            files.update(made)
        return files


def _check_unique(pages: list[Page], d: Directory) -> None:
    seen = {partner_path(slug) for slug in d.order}
    for page in pages:
        if page.path in seen:
            raise ValueError(f"two pages want the path {page.path}")
        seen.add(page.path)


def _sitemap_order(pages: list[Page], insert_at: int, d: Directory) -> list[Page]:
    """Every page in `PAGE_MAKERS` order; partner pages need only their address here."""
    stubs = [Page(partner_path(slug), "partner.html", {}, "") for slug in d.order]
    return pages[:insert_at] + stubs + pages[insert_at:]


def sitemap(pages: list[Page], site: Site, as_of: dt.date) -> bytes:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">']
    for page in pages:
        if page.in_sitemap:
            lines.append(f"  <url><loc>{xml_escape(site.url(page.url_path))}</loc>"
                         f"<lastmod>{as_of.isoformat()}</lastmod></url>")
    lines.append("</urlset>")
    return ("\n".join(lines) + "\n").encode("utf-8")
