"""Small partner records written into temporary folders, so site tests control their input.

`record()` gives a valid record; keyword arguments replace fields. Evidence helpers make the
certifications, projects and sales a level needs, dated before the tests' as-of date.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import yaml

from partnerdir.pipeline import BuildResult, build_site
from partnerdir.project import ROOT, Paths

AS_OF = dt.date(2026, 11, 15)


def record(name: str, **fields) -> dict:
    data = {
        "name": name,
        "website": "https://example.com",
        "joined": dt.date(2026, 2, 1),  # recent enough that the January review keeps it
        "programs": ["certified-integration-partner"],
        "headquarters": {"city": "Berlin", "country": "DE"},
        "countries_served": ["DE"],
        "expertise": ["integration"],
        "languages": ["en"],
        "description": f"{name} builds integrations.",
    }
    data.update(fields)
    return data


def certifications(n: int, prefix: str = "E", cert: str = "integration-developer") -> list[dict]:
    return [{"certification": cert, "holder": f"{prefix}-{i}", "issued": dt.date(2025, 1, 10),
             "expires": dt.date(2028, 1, 10)} for i in range(n)]


def projects(n: int, product: str = "integrator", country: str = "DE") -> list[dict]:
    return [{"title": f"Project {i + 1}", "completed": dt.date(2025, 5, 1 + i % 27), "country": country,
             "products": [product], "distribution": "supported", "outcome": "successful"}
            for i in range(n)]


def sales(amount: float, year: int = 2025) -> list[dict]:
    return [{"year": year, "amount_usd": amount}]


def write_records(folder: Path, records: dict[str, dict]) -> Path:
    """Write records as <slug>.yaml; a record with a `body` key is written as .md with that body."""
    folder.mkdir(parents=True, exist_ok=True)
    for slug, data in records.items():
        data = dict(data)
        body = data.pop("body", None)
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        if body is None:
            (folder / f"{slug}.yaml").write_text(text, encoding="utf-8")
        else:
            data.pop("description", None)
            text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
            (folder / f"{slug}.md").write_text(f"---\n{text}---\n{body}", encoding="utf-8")
    return folder


def project_paths(tmp: Path, content: Path, out: Path | None = None) -> Paths:
    return Paths(content=content, rules=ROOT / "data" / "programs.yaml", templates=ROOT / "templates",
                 static=ROOT / "templates" / "static", out=out or tmp / "site", cache=tmp / ".cache")


def build(tmp: Path, records: dict[str, dict], base_url: str | None = None,
          out: Path | None = None, logos: dict[str, Path] | None = None) -> tuple[BuildResult, Paths]:
    content = write_records(tmp / "content", records)
    for name, source in (logos or {}).items():
        (content / "logos").mkdir(exist_ok=True)
        shutil.copy(source, content / "logos" / name)
    paths = project_paths(tmp, content, out)
    return build_site(paths, AS_OF, base_url=base_url, search=False), paths


# A small directory with one partner at each interesting place: gold VAR serving a whole
# region, silver integrator in two countries, bronze reseller, a new provisional partner and
# one the January review removes.
SMALL = {
    "alpha-var": record(
        "Alpha Systems GmbH", programs=["value-added-reseller"], regions_served=["emea"],
        countries_served=["DE", "AT"], headquarters={"city": "Munich", "country": "DE"},
        expertise=["api-management", "integration", "identity-access-management", "devops"],
        industries=["banking"], languages=["de", "en"], joined=dt.date(2020, 5, 4),
        certifications=certifications(8, "AL"), projects=projects(6), subscription_sales=sales(400000),
        contact={"email": "hello@alpha.example", "url": "https://alpha.example/contact"},
    ),
    "beta-integration": record(
        "beta Integration Inc.", headquarters={"city": "Boston", "country": "US"},
        countries_served=["US", "CA"], expertise=["identity-access-management"], industries=["healthcare"],
        joined=dt.date(2021, 7, 1), certifications=certifications(4, "BE"),
        projects=projects(3, country="US"),
    ),
    "gamma-reseller": record(
        "Gamma Trading K.K.", programs=["fulfillment-reseller"],
        headquarters={"city": "Tokyo", "country": "JP"},
        countries_served=[], regions_served=["apac"], expertise=["api-management"], languages=["ja", "en"],
        joined=dt.date(2024, 2, 1), subscription_sales=sales(30000),
    ),
    "delta-new": record(
        "Delta New Ltd", programs=["integration-partner"], headquarters={"city": "London", "country": "GB"},
        countries_served=["GB"], joined=dt.date(2026, 3, 1),
    ),
    "omega-removed": record(
        "Omega Removed SA", programs=["integration-partner"], headquarters={"city": "Lyon", "country": "FR"},
        countries_served=["FR"], joined=dt.date(2023, 1, 1),
    ),
}


# --------------------------------------------------------------------------------------------
# Reading built pages


class Node:
    """An element of a parsed page: enough of a DOM for assertions, from the standard library."""

    def __init__(self, tag: str, attrs: dict[str, str | None], parent: Node | None = None):
        self.tag = tag
        self.attrs = attrs
        self.parent = parent
        self.children: list[Node | str] = []

    @property
    def text(self) -> str:
        """The text a reader sees, whitespace collapsed; block elements separate words."""
        return " ".join(self._raw().split())

    def _raw(self) -> str:
        parts = []
        for child in self.children:
            if isinstance(child, str):
                parts.append(child)
            elif child.tag in _INLINE:
                parts.append(child._raw())
            else:
                parts.append(f" {child._raw()} ")
        return "".join(parts)

    def iter(self):
        for child in self.children:
            if isinstance(child, Node):
                yield child
                yield from child.iter()

    def find_all(self, tag: str | None = None, cls: str | None = None, **attrs) -> list[Node]:
        out = []
        for node in self.iter():
            if tag and node.tag != tag:
                continue
            if cls and cls not in (node.attrs.get("class") or "").split():
                continue
            if any(node.attrs.get(k.rstrip("_").replace("_", "-")) != v for k, v in attrs.items()):
                continue
            out.append(node)
        return out

    def find(self, tag: str | None = None, cls: str | None = None, **attrs) -> Node:
        found = self.find_all(tag, cls, **attrs)
        assert found, f"no <{tag or '*'}> with class={cls} {attrs}"
        return found[0]

    def by_id(self, element_id: str) -> Node:
        return self.find(id=element_id)


_INLINE = {"a", "abbr", "b", "code", "em", "i", "small", "span", "strong", "sub", "sup", "time"}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def parse(html: str | bytes) -> Node:
    from html.parser import HTMLParser

    if isinstance(html, bytes):
        html = html.decode("utf-8")
    root = Node("#document", {})

    class Parser(HTMLParser):
        current = root

        def handle_starttag(self, tag, attrs):
            node = Node(tag, dict(attrs), self.current)
            self.current.children.append(node)
            if tag not in _VOID:
                self.current = node

        def handle_startendtag(self, tag, attrs):
            self.current.children.append(Node(tag, dict(attrs), self.current))

        def handle_endtag(self, tag):
            node = self.current
            while node is not root and node.tag != tag:
                node = node.parent
            if node is not root:
                self.current = node.parent

        def handle_data(self, data):
            self.current.children.append(data)

    parser = Parser(convert_charrefs=True)
    parser.feed(html)
    parser.close()
    return root


def page(site: Path, path: str) -> Node:
    """A built page by its URL path: 'partners/x/' reads partners/x/index.html."""
    file = site / (path + "index.html" if path == "" or path.endswith("/") else path)
    return parse(file.read_bytes())
