"""Stage 4b: pages as plain data {site path: bytes}: templates filled, assets, logos and open data.

Nothing here touches the output folder; the write stage does. Every link is root-relative to
the base URL's path, so the same build works from a domain root or a GitHub Pages project path.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import marshal
import os
from collections import ChainMap
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateRuntimeError,
)
from jinja2.bccache import Bucket, BytecodeCache
from markupsafe import Markup, escape

from . import export, parallel, recommend
from .award import amount, number
from .delta import changed_places
from .facets import FACETS, FacetValue, facet_counts
from .pages import (
    PAGE_MAKERS,
    Directory,
    Page,
    PartnerView,
    partner_page,
    partner_pages,
    partner_path,
    place_pages,
)
from .rules import country_name
from .write import content_hash

if TYPE_CHECKING:
    from .write import SiteWriter

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


class _CompiledTemplates(BytecodeCache):
    """Compiled templates kept in memory for the life of the process, by source checksum.

    Every build makes a new environment (its globals, and the module of an imported macro
    file, belong to that build), but compiling every template again took over a second of each
    `serve` rebuild; a template whose source changed is compiled again.
    """

    def __init__(self) -> None:
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        if bucket.key in self.compiled:
            bucket.bytecode_from_string(self.compiled[bucket.key])

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.compiled[bucket.key] = bucket.bytecode_to_string()


_COMPILED = _CompiledTemplates()


def compiled_templates() -> dict[str, bytes]:
    """The templates compiled in this process (Jinja's bucket key -> bytecode, which Jinja checks
    against the template's source and its own version before using it), for the build cache to
    keep between processes: compiling them took a fifth of a second of every new `build`."""
    take_compiled()
    return _COMPILED.compiled


def compile_templates(templates: Path) -> dict[str, bytes]:
    """Every page template and what it includes compiled (`compiled_templates`); a template
    with a mistake is left out, for the render to report where it is used."""
    _compile_all(environment(templates))
    return dict(_COMPILED.compiled)


def _compile_all(env: Environment) -> None:
    for name in env.list_templates(filter_func=lambda n: n.endswith((".html", ".svg"))):
        try:
            env.get_template(name)
        except TemplateError:
            pass  # reported where it is used, if it is


# The templates being compiled in another process (`compile_beside`), waited for when asked.
_PENDING: list[Callable[[], Any]] = []


def compile_beside(templates: Path) -> None:
    """Compile the templates in a forked process, when none are compiled yet (a build from
    nothing, with no cache) and there is a second core, while this one checks the records:
    compiling took 0.12 s, a sixth of a build of 100 partners, before any page was rendered.
    `take_compiled` (every render asks) waits for them; a template that process could not
    compile is compiled here, as before."""
    take_compiled()
    if not _COMPILED.compiled and parallel.workers() > 1:
        _PENDING.append(parallel.forked(compile_templates, templates))


def take_compiled() -> None:
    """The templates `compile_beside` compiled, kept as if compiled here."""
    while _PENDING:
        made = _PENDING.pop()()
        if isinstance(made, dict):
            for key, code in made.items():
                if isinstance(key, str) and isinstance(code, bytes):
                    _COMPILED.compiled.setdefault(key, code)


try:  # markupsafe's own escaping, in C, which its `escape` wraps
    from markupsafe._speedups import _escape_inner
except ImportError:  # (a markupsafe without it, or laid out otherwise: its `escape` as it is)
    _escape_inner = None

_new_str = str.__new__


def _escape(s: Any) -> Markup:
    """`markupsafe.escape`, the same text, in a third of the time.

    Every `{{ value }}` of an autoescaped template is a call of it: 170 for a partner page, 1.6
    million in a build of 10,000 partners. markupsafe 3's `escape` is Python around its C
    escaping, and makes each result through `Markup.__new__` (which looks for `__html__` on
    text just escaped): 0.41 microseconds a call against 0.13 here, half a second of a cold
    build's CPU time (`_Template` puts it in every template).
    """
    if type(s) is str:
        return _new_str(Markup, _escape_inner(s))
    if hasattr(s, "__html__"):
        return Markup(s.__html__())
    return _new_str(Markup, _escape_inner(str(s)))


class _Template(Template):
    """A template whose output is escaped by `_escape`. Jinja compiles `{{ value }}` to a call of
    the name `escape` that the template's module imports from jinja2.runtime; its functions
    look that name up in the module's namespace when called, so it is replaced there."""

    @classmethod
    def _from_namespace(cls, environment: Environment, namespace: Any, globals: Any) -> Template:
        if _escape_inner is not None and namespace.get("escape") is escape:
            namespace["escape"] = _escape
        return super()._from_namespace(environment, namespace, globals)


class _Environment(Environment):
    """Jinja2 with a faster `{{ d.key }}` for the plain dicts page contexts are made of.

    Jinja first asks a dict for an attribute named `key`, which fails (with an exception, the
    slow part) unless dicts have such a method, then looks the key up. Here a key that is no
    dict attribute is looked up at once: the same answer, without the exception, for the
    hundred or so such lookups of a partner page.
    """

    template_class = _Template

    def make_globals(self, d: Any) -> Any:
        return _Globals({} if d is None else d, self.globals)

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute in obj and attribute not in _DICT_ATTRIBUTES:
            return obj[attribute]
        try:  # as Environment.getattr
            return getattr(obj, attribute)
        except AttributeError:
            pass
        try:
            return obj[attribute]
        except (TypeError, LookupError, AttributeError):
            return self.undefined(obj=obj, name=attribute)


_DICT_ATTRIBUTES = frozenset(dir(dict))


class _Globals(ChainMap):
    """A template's globals (Jinja's ChainMap over the environment's) whose keys are a set.

    Each `{% from "_macros.html" import ... %}` of a page being rendered asks which of the
    page's globals the imported template lacks: `set - globals.keys()`, which for a ChainMap's
    keys view is a Python loop with a Python membership test per key, 10 microseconds a page
    (0.1 s of a build's CPU at 10,000 partners); a set's difference is one C call."""

    def keys(self) -> Any:  # (a set, where ChainMap gives a view: the same keys, read-only use)
        return set().union(*self.maps)


def environment(templates: Path) -> Environment:
    # Each build makes its own environment, so templates need not be checked for changes
    # (a file system call) every time a page asks for one.
    env = _Environment(
        loader=FileSystemLoader(str(templates)),
        auto_reload=False,
        bytecode_cache=_COMPILED,
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


def fingerprinted(files: dict[str, bytes]) -> dict[str, str]:
    """Each static file's version for its URL (`?v=`), so browsers fetch it again when it changes."""
    return {path: hashlib.sha256(data).hexdigest()[:10] for path, data in files.items()}


class Relisting:
    """The listing pages of a rebuild that makes only those `d.wanted` names (`relist`), as any
    rebuild makes them, against the last build's kept pages (`_Renderer.listing_page`)."""

    def __init__(self, d: Directory, templates: Path, static: Path, site: Site, search: bool, sink: Any,
                 kept_pages: KeptPages) -> None:
        self.renderer = _Renderer(d, templates, site, fingerprinted(static_files(static)), search, sink,
                                  kept_pages)

    def alike(self, before: PartnerView, after: PartnerView) -> tuple[bool, bool]:
        """Whether two views of a partner make the same card, and the same table row."""
        made = self.renderer.made_by
        return made("card", before) == made("card", after), made("row", before) == made("row", after)

    def put(self) -> None:
        """Make the wanted listing pages and put them in the sink."""
        for i, make in enumerate(PAGE_MAKERS):
            if make is not partner_pages:
                self.renderer.work(("maker", i))


def partner_pieces(d: Directory, templates: Path, static: Path, site: Site,
                   search: bool = False) -> tuple[list, dict]:
    """The pages, cards, partners.json entries and partners.csv rows of `d`'s partners alone, as
    a rebuild that keeps every listing (`pipeline`'s quick rebuild) needs them."""
    renderer = _Renderer(d, templates, site, fingerprinted(static_files(static)), search)
    renderer.keep_pages = True
    return renderer.partners(d.order)


def render_site(d: Directory, templates: Path, static: Path, content: Path, site: Site,
                search: bool = False, processes: int | None = None,
                reuse: dict[str, tuple] | None = None,
                rendered: dict[str, tuple[bytes, str, str, str]] | None = None,
                sink: SiteWriter | None = None, listing: Listing | None = None,
                listing_out: list[Listing] | None = None, keep_pages: bool = True,
                kept_pages: KeptPages | None = None, open_data: bool = True,
                meanwhile: Callable[[], None] | None = None) -> dict[str, Any]:
    """Every file of the site except the search index.

    The work comes in independent pieces (each open data file, each kind of listing page, the
    partner pages in batches), which large directories spread over every core. `reuse` holds
    partner pages, cards, partners.json entries and partners.csv rows (by slug) known to be
    current, and optionally the page's hash, which are not made again; the ones made are added
    to `rendered` (pages' bytes only with `keep_pages`: a build that keeps no pages in memory
    need not send them back from the workers).

    With a `sink`, each file goes to it (a `write.SiteWriter`) as soon as it is made, by the
    worker that made it, and the result maps paths to what `sink.put` returned instead of to
    bytes: a large site is then never held in memory whole, nor sent between processes.

    `listing` is the `Listing` of an earlier build whose listed data (everything about every
    partner but its description) is unchanged and whose files are still in place: those
    pages and files are not made again. The listing made is appended to `listing_out`.

    `kept_pages` (with a `sink`) holds what the last build in this process made of each listing
    page (`KeptPages`): a page whose inputs are the same is not rendered again, and it is
    brought up to date with this build's pages.

    `open_data=False` leaves partners.json and partners.csv out (the caller patches them, and
    `reuse` then need not hold the unchanged partners' entries and rows).

    `meanwhile` is called once, while the workers render (see `parallel.fork_share`).
    """
    if meanwhile is not None:
        meanwhile = _once(meanwhile)
    files = static_files(static)
    fingerprints = fingerprinted(files)
    reuse = reuse or {}
    count = parallel.workers(processes) if len(d.order) >= parallel.MIN_PARTNERS else 1
    if kept_pages is not None and kept_pages.pages and sink is not None and \
            sum(1 for slug in d.order if slug not in reuse) < parallel.MIN_PARTNERS:
        # A rebuild after a few edits, whose listing pages are kept: little is rendered, and
        # forking workers (copying this process's page tables, twice its memory touched) cost
        # more than they saved; here, too, what is made is kept for the next rebuild
        # (`KeptPages.views`, the open data's entries).
        count = 1
    try:
        made, listed = _Renderer(d, templates, site, fingerprints, search, sink, kept_pages).render_all(
            count, reuse, rendered, listing, listing_out, keep_pages, open_data, meanwhile)
    except Exception:
        if count == 1:
            raise
        # Run it again here, so a template mistake is reported with its own file and line.
        made, listed = _Renderer(d, templates, site, fingerprints, search, sink, kept_pages).render_all(
            1, reuse, rendered, listing, listing_out, keep_pages, open_data, meanwhile)

    for site_path, source in sorted(d.logos.items()):
        files[site_path] = (content / source).read_bytes()
    files["sitemap.xml"] = _sitemap(listed, site, d.as_of)
    files["robots.txt"] = f"User-agent: *\nAllow: /\nSitemap: {site.url('sitemap.xml')}\n".encode()
    files[".nojekyll"] = b""
    out: dict[str, Any] = {path: sink.put(path, data) for path, data in files.items()} if sink else files
    out.update(made)
    return dict(sorted(out.items()))


# The open data that lists partners without their descriptions, like the listing pages.
LISTING_EXPORTS = ("directory.json", "recommend.json")


@dataclass
class Listing:
    """The pages and open data that list several partners, as one build made them."""

    pages: dict[int, list[Page]]  # page addresses by index in PAGE_MAKERS
    files: dict[str, Any]  # path -> bytes, or what the sink returned for them


@dataclass
class KeptPages:
    """What a build in this process made of each listing page, for the next one to reuse.

    A page is kept as the digest of its inputs (`_signature`: its context and address, cards
    by their partner's `tokens`), the hash of its bytes and, if its template allows, its text
    around its fragments (`Page.fragment_only` context) and lists of cards, with their calls.
    A rebuild after an edit to listed data (a country served added, a name changed) then
    renders only the pages whose own text changes (a count, a new member): at 10,000 partners,
    a few of 700 pages; the others get the partner's new card or the new facet counts between
    their kept pieces.

    Only valid under one render key (templates, rules, base URL, search, as-of date: `cache.Memo`
    drops it when that changes, and the on-disk copy is stored under it).
    """

    pages: dict[str, tuple] = field(default_factory=dict)  # path -> (signature, hash, pieces, calls, inputs)
    # slug -> digest of what listings show of the partner (`cache.listing_key`): a card is the
    # same while its partner's token is
    tokens: dict[str, str] = field(default_factory=dict)
    # path -> the lists of cards (PartnerView objects) the page showed when its entry in `pages`
    # was made or last confirmed, in this process only (never stored): the same view objects
    # again, or equal ones, are the same cards, told without signing every card of every list
    # (a million of them on the country pages at 10,000 partners)
    views: dict[str, list[list]] = field(default_factory=dict)
    # path -> (its entry in `pages`, the page's bytes, where each fragment is in them) for pages
    # of up to `_SPLICED` bytes, in this process only: the directory's 400 pages, which a
    # changed facet count changes, are made again by putting the new counts in their bytes
    made: dict[str, tuple[tuple, bytes, list[tuple[int, int]]]] = field(default_factory=dict)
    # slug -> (its token, its table row as UTF-8), in this process only: the rows of a listing
    # page made again (its partner's card changed, or a country gained a partner) are not
    # rendered again. (By the token of everything listings show, like cards, not of the few
    # fields the shipped row shows: a site's own _row.html may show any of them.)
    rows: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    # slug -> (its token, the hash of its table row), kept on disk with `pages`: a table is
    # told apart by its rows' hashes (`_RowDigests`), so an edit that changes a partner's card
    # but not its row (a country served) leaves the 40 tables listing it as they were
    row_digests: dict[str, tuple[str, str]] = field(default_factory=dict)


class _NoSignature(Exception):
    """A context value whose inputs cannot be told apart from its text: the page is rendered."""


_SIGNED_PLAIN = frozenset({str, int, float, bool, type(None), dt.date, Markup})
_MARSHALLED = frozenset({int, float, bool, type(None)})


def _card_list(value: Any, lists: dict[int, list] | None = None) -> bool:
    """A context value that is a list of cards (what `_CardList` stands for in pieces).
    `lists` holds lists known to be lists of cards, by id (the directory's: a country's list
    of 3,000 need not be looked through to tell)."""
    if type(value) is not list or not value:
        return False
    if lists is not None and lists.get(id(value)) is value:
        return True
    return type(value[0]) is PartnerView and set(map(type, value)) == {PartnerView}


def _card_inputs(views: list[PartnerView], tokens: dict[str, str]) -> tuple:
    """A list of cards (or table rows) as its partners' slugs and tokens (`KeptPages.tokens`)."""
    slugs = tuple(map(_SLUG, views))
    return slugs, tuple(map(tokens.__getitem__, slugs))


_SLUG = attrgetter("slug")


def _patched_inputs(views: list[PartnerView], last: list[PartnerView], inputs: tuple,
                    tokens: dict[str, str]) -> tuple | None:
    """`_card_inputs` of a list of cards that holds the same partners as `last`, whose inputs
    were `inputs`, but a few new views (a partner edited in `serve`, whose card is in every list
    of the 50 countries it serves): the last inputs with those partners' tokens now. None if
    the lists are not that alike."""
    if len(views) != len(last) or type(inputs) is not tuple or len(inputs) != 2:
        return None
    slugs, known = inputs
    places = changed_places(views, last)
    if places is None or len(slugs) != len(views) or len(known) != len(views) or \
            any(views[i].slug != slugs[i] for i in places):
        return None
    made = list(known)
    for i in places:
        made[i] = tokens[slugs[i]]
    return slugs, tuple(made)


class _RowDigests(dict):
    """slug -> the hash of the partner's table row in this build: the last build's while the
    partner's token (everything listings show) is the same, else made from its row, rendered
    here when first asked (`_card_inputs` of a table's partners)."""

    def __init__(self, renderer: _Renderer, known: dict[str, str]) -> None:
        super().__init__(known)
        self.renderer = renderer

    def __missing__(self, slug: str) -> str:
        renderer = self.renderer
        digest = hashlib.blake2b(renderer.row_bytes([renderer.d.views[slug]]), digest_size=12).hexdigest()
        self[slug] = digest
        kept = renderer.kept_pages
        token = kept.tokens.get(slug) if kept is not None else None
        if token is not None:
            kept.row_digests[slug] = (token, digest)  # type: ignore[union-attr]
        return digest


def _signature(page: Page, tokens: dict[str, str], skip: tuple[str, ...] = (),
               reprs: dict[int, Any] | None = None, pieces: bool = False,
               card_lists: list[list] | None = None, lists: dict[int, list] | None = None) -> str:
    """A digest of everything a listing page's bytes depend on besides the render key: its
    address, template and context (but `skip`), cards by their partners' `tokens`.

    `reprs` keeps what was made of each object by id, for the pages of one page maker, whose
    contexts share lists (the directory's 400 page addresses on each of its pages): they must
    all stay alive while it is used. `card_lists` are lists known to be lists of cards (kept
    alive by `KeptPages.views`): the same objects again are not looked through (a country
    page's thousands of cards) to tell.
    """
    reprs = {} if reprs is None else reprs
    known = {id(cards) for cards in card_lists} if card_lists else ()

    def sign(value: Any) -> Any:
        kind = type(value)
        if kind in _SIGNED_PLAIN:  # (as what marshal writes: no dates, no subclasses of str)
            return value if kind is str else (kind.__name__, value if kind in _MARSHALLED else str(value))
        if kind is PartnerView:
            return ("view", value.slug, tokens[value.slug])
        if kind is FacetValue:  # (as a tuple, whose repr is made in C, unlike a dataclass's)
            return ("value", value.facet, value.id, value.name, value.path, value.count)
        made = reprs.get(id(value))
        if made is not None:
            return made
        if kind is list or kind is tuple:
            if value and type(value[0]) is PartnerView and set(map(type, value)) == {PartnerView}:
                made = (kind.__name__, "views", _card_inputs(value, tokens))
            else:
                made = (kind.__name__, tuple(map(sign, value)))
            if len(value) > 16:  # shared by many pages, perhaps: signed once, as a digest
                try:
                    made = hashlib.blake2b(marshal.dumps(made, 2), digest_size=16).hexdigest()
                except ValueError as e:  # (see below)
                    raise _NoSignature(str(e)) from e
            reprs[id(value)] = made
            return made
        if kind is dict:
            made = reprs[id(value)] = ("dict", tuple((k, sign(v)) for k, v in value.items()))
            return made
        text = repr(value)  # rules' models and dataclasses: their repr is their value
        if " object at 0x" in text:
            raise _NoSignature(text)
        made = reprs[id(value)] = ("object", text)
        return made

    # (the context itself is not signed as a dict: one made here would be cached by its id,
    # which the next page's could take)
    # With `pieces`, a list of cards counts by its length alone: its cards go between the
    # page's pieces (`_Renderer.pieces`).
    context = tuple((k, ("cards", len(v)) if pieces and (id(v) in known or _card_list(v, lists)) else sign(v))
                    for k, v in page.context.items() if k not in skip)
    signed = (page.path, page.template, page.title, page.description, page.in_sitemap, skip, pieces, context)
    # (marshal's version 2 writes values alone, the same bytes for equal values in any process;
    # repr took three times as long, a fifth of a rebuild's listing pages)
    try:
        return hashlib.blake2b(marshal.dumps(signed, 2), digest_size=16).hexdigest()
    except ValueError as e:  # a value marshal cannot write (a subclass of str): rendered
        raise _NoSignature(str(e)) from e


class _FragmentArgument:
    """A context value (`Page.fragment_only`) that the template may only hand to `fragment`:
    anything else it does with it stops the render, and the page is rendered as any other."""

    __slots__ = ("_fragment_key", "_fragment_value")

    def __init__(self, key: str, value: Any) -> None:
        self._fragment_key = key
        self._fragment_value = value

    def _used(self, *args: Any, **kwargs: Any) -> Any:
        raise _FragmentArgumentUsed(self._fragment_key)

    __getattr__ = __getitem__ = __iter__ = __len__ = __bool__ = __str__ = __html__ = __contains__ = _used
    __call__ = __eq__ = _used
    __hash__ = None  # type: ignore[assignment]


class _FragmentArgumentUsed(Exception):
    pass


class _CardList(list):
    """A list of cards in a page rendered in pieces: its length may be asked ("12 partners")
    and it may be handed to `card_lines` or `row_lines`, whose cards or rows go in later
    (one list may be shown both ways); anything that reads its
    items stops the render, and the page is rendered as any other."""

    __slots__ = ("key",)

    def __init__(self, key: str, items: list) -> None:
        super().__init__(items)
        self.key = key

    def _used(self, *args: Any, **kwargs: Any) -> Any:
        raise _FragmentArgumentUsed(self.key)

    __iter__ = __getitem__ = __contains__ = __reversed__ = __add__ = __radd__ = __mul__ = __rmul__ = _used
    __repr__ = __str__ = __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _used
    copy = index = count = _used
    __hash__ = None  # type: ignore[assignment]


# The largest page whose bytes `KeptPages.made` keeps (a directory page is 70 KB at 10,000
# partners; a country page may list thousands of cards).
_SPLICED = 256 << 10

# Stands for a fragment in a page rendered in pieces; a NUL never comes out of a template.
_PIECE = "\x00fragment\x00"


# Open data made whole; partners.json and partners.csv are put together from entries and rows
# made with the partner pages.
EXPORTS: dict[str, Callable[[Directory, Site], bytes]] = {
    "directory.json": export.directory_json,
    "recommend.json": lambda d, site: recommend.recommend_json(d),
}


class _Renderer:
    """The templates with the site's globals, and each partner's card rendered once."""

    def __init__(self, d: Directory, templates: Path, site: Site, fingerprints: dict[str, str],
                 search: bool, sink: SiteWriter | None = None, kept_pages: KeptPages | None = None) -> None:
        self.pid = os.getpid()  # (work done in a forked worker runs where this is not the pid)
        self.d = d
        self.site = site
        self.sink = sink
        self.kept_pages = kept_pages if sink is not None else None
        self.calls: list[tuple] | None = None  # see `pieces`
        self.signed: dict[int, Any] = {}  # see `_signature`
        self.card_lists: dict[int, list] = {}  # see `_card_list`
        self.fragment_digests: dict[int, str] = {}
        self.views_seen: dict[str, list[list]] = {}  # see `KeptPages.views`
        self.made: dict[str, tuple] = {}  # see `KeptPages.made`
        self.encoded: dict[int, tuple[Markup, bytes]] = {}  # a shared fragment's bytes, by its id
        self.keep_pages = False  # send partner pages' bytes back too, for the caller to reuse
        self.cards: dict[str, Markup] = {}
        self.reused: dict[str, tuple] = {}  # see `render_all`
        self.card_encoded: dict[str, bytes] = {}  # slug -> its card and a newline, as UTF-8
        self.rows: dict[str, Markup] = {}  # slug -> its row in listing pages' tables
        self.row_digests: _RowDigests | None = None  # see `list_tokens`
        self.row_encoded: dict[str, bytes] = {}  # slug -> its row and a newline, as UTF-8
        self.fragments: dict[tuple, tuple[dict, Markup]] = {}
        self.links: dict[int, tuple[list[str], list[str]]] = {}

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
            card_lines=self.card_lines,
            row_lines=self.row_lines,
            fragment=self.fragment,
            page_links=self.page_links,
        )
        self.env = env
        self.macros: dict[str, Any] = {}  # the `card` and `row` macros, once first needed

    def card(self, view: PartnerView) -> Markup:
        """Each card is rendered once and reused on every page that lists the partner; a
        reused partner's card is the last build's (`render_all`)."""
        found = self.cards.get(view.slug)
        if found is None:
            kept = self.reused.get(view.slug)
            if kept is not None:
                found = self.cards[view.slug] = Markup(kept[1])
                return found
        return self._per_partner(self.cards, "card", view)

    def _per_partner(self, made: dict[str, Markup], name: str, view: PartnerView) -> Markup:
        """The macro `name` of templates/_{name}.html for a partner, called once per build."""
        found = made.get(view.slug)
        if found is None:
            found = made[view.slug] = self.made_by(name, view)
        return found

    def made_by(self, name: str, view: PartnerView) -> Markup:
        """What the macro `name` of templates/_{name}.html makes of a view."""
        macro = self.macros.get(name)
        if macro is None:
            macro = self.macros[name] = _macro(self.env.get_template(f"_{name}.html"), name)
        return Markup(str(macro(view)).strip())

    def card_lines(self, views: list[PartnerView]) -> Markup:
        """Cards one per line: a listing page of 3,000 cards joined here rather than by a template loop."""
        if type(views) is _CardList and self.calls is not None:  # a page rendered in pieces
            self.calls.append(("cards", views.key, None))
            return Markup(_PIECE)
        cards = self.cards
        for view in views:
            if view.slug not in cards:
                self.card(view)
        return Markup("".join([line for view in views for line in (cards[view.slug], "\n")]))

    def row(self, view: PartnerView) -> Markup:
        """A partner's row in the tables of listing pages, rendered once like its card."""
        return self._per_partner(self.rows, "row", view)

    def row_lines(self, views: list[PartnerView]) -> Markup:
        """Table rows one per line: `card_lines` for the lists of program, status, place and
        topic pages (thousands of partners on one page at 10,000)."""
        if type(views) is _CardList and self.calls is not None:  # a page rendered in pieces
            self.calls.append(("rows", views.key, None))
            return Markup(_PIECE)
        return Markup("".join([line for view in views for line in (self.row(view), "\n")]))

    def row_bytes(self, views: list[PartnerView]) -> bytes:
        """`row_lines` as UTF-8, joined from each row's bytes (see `card_bytes`); rows an
        earlier build of this process made (`KeptPages.rows`) are taken from it."""
        made = self.row_encoded
        try:
            return b"".join(map(made.__getitem__, map(_SLUG, views)))
        except KeyError:
            pass
        kept = self.kept_pages.rows if self.kept_pages is not None else None
        tokens = self.kept_pages.tokens if self.kept_pages is not None else {}
        for view in views:
            slug = view.slug
            if slug in made:
                continue
            token = tokens.get(slug)
            hit = kept.get(slug) if kept is not None else None
            if hit is not None and token is not None and hit[0] == token:
                made[slug] = hit[1]
                continue
            made[slug] = self.row(view).encode("utf-8") + b"\n"
            if kept is not None and token is not None:
                kept[slug] = (token, made[slug])
        return b"".join(map(made.__getitem__, map(_SLUG, views)))

    def list_tokens(self, kind: str) -> dict[str, str]:
        """What tells a list's partners apart from the last build's: for cards, the tokens of
        everything a card may show (`KeptPages.tokens`); for table rows, their rows' hashes."""
        kept = self.kept_pages
        assert kept is not None
        if kind != "rows":
            return kept.tokens
        if self.row_digests is None:
            tokens = kept.tokens
            self.row_digests = _RowDigests(self, {slug: digest for slug, (token, digest)
                                                  in kept.row_digests.items() if tokens.get(slug) == token})
        return self.row_digests

    def lines_bytes(self, kind: str, views: list[PartnerView]) -> bytes:
        """A page's list of partners ("cards" or "rows", its call's kind) as UTF-8."""
        return self.row_bytes(views) if kind == "rows" else self.card_bytes(views)

    def card_bytes(self, views: list[PartnerView]) -> bytes:
        """`card_lines` as UTF-8, joined from each card's bytes (made once per build): a page of
        thousands of cards made again after an edit joins bytes instead of text that it then
        encodes, a quarter of the time."""
        made = self.card_encoded
        try:
            return b"".join(map(made.__getitem__, map(_SLUG, views)))
        except KeyError:
            pass
        cards = self.cards
        for view in views:
            if view.slug not in made:
                made[view.slug] = (cards.get(view.slug) or self.card(view)).encode("utf-8") + b"\n"
        return b"".join(map(made.__getitem__, map(_SLUG, views)))

    def fragment(self, name: str, **context: Any) -> Markup:
        """A partial template that depends on nothing but its arguments, rendered once for the same
        argument objects: the directory's facet links, the same on each of its 400 pages."""
        wrapped = [k for k, v in context.items() if type(v) is _FragmentArgument]
        if wrapped:  # a page rendered in pieces (`pieces`): the fragment goes in later
            if self.calls is None or len(wrapped) != len(context):
                raise _FragmentArgumentUsed(name)
            keys = tuple(sorted((k, v._fragment_key) for k, v in context.items()))
            self.calls.append(("fragment", name, keys))
            return Markup(_PIECE)
        key = (name, *((k, id(v)) for k, v in sorted(context.items())))
        if key not in self.fragments:  # the arguments are kept, so their ids stay theirs
            self.fragments[key] = (context, Markup(self.env.get_template(name).render(**context)))
        return self.fragments[key][1]

    def page_links(self, paths: list[str], current: int) -> Markup:
        """The directory pager's numbered items, one a line, the current page's unlinked.

        Each of the directory's pages lists all of them (160,000 items over 400 pages at 10,000
        partners, a second or two through a template loop), so each item is made once here.
        """
        if id(paths) not in self.links:  # the list is kept, so its id stays its own
            root = escape(self.site.root)
            self.links[id(paths)] = (paths, [f'<li><a href="{root}{escape(path)}">{n}</a></li>\n'
                                             for n, path in enumerate(paths, 1)])
        items = self.links[id(paths)][1]
        here = f'<li><span aria-current="page">{current}</span></li>\n'
        return Markup("".join(items[: current - 1]) + here + "".join(items[current:]))

    def page(self, page: Page) -> bytes:
        template = self.env.get_template(page.template)
        html = template.render(**page.context, page=page, canonical=self.site.url(page.url_path))
        return html.encode("utf-8")

    def pieces(self, page: Page) -> tuple[list[str], tuple] | None:
        """A page as its text around its fragments (of `fragment_only` context) and lists of
        cards, and their calls: ("fragment", name, (argument, context key) pairs) or ("cards" or
        "rows", context key, None). None if its template does anything else with that context, or the
        text holds what stands for a fragment."""
        template = self.env.get_template(page.template)
        context = dict(page.context)
        for key in page.fragment_only:
            context[key] = _FragmentArgument(key, context[key])
        for key, value in page.context.items():
            if key not in page.fragment_only and _card_list(value, self.card_lists):
                context[key] = _CardList(key, value)
        self.calls = []
        try:
            html = template.render(**context, page=page, canonical=self.site.url(page.url_path))
        except _FragmentArgumentUsed:
            return None
        finally:
            calls, self.calls = self.calls, None
        pieces = html.split(_PIECE)
        if len(pieces) != len(calls) + 1:
            return None
        return pieces, tuple(calls)

    def fragments_of(self, page: Page, calls: tuple) -> list[Markup | bytes]:
        """This build's fragments and card lists (as UTF-8 bytes) of a page rendered in pieces."""
        return [self.fragment(name, **{arg: page.context[key] for arg, key in args}) if kind == "fragment"
                else self.lines_bytes(kind, page.context[name]) for kind, name, args in calls]

    def fragment_digest(self, fragment: Markup) -> str:
        """A fragment's hash, made once per fragment (they are kept, so their ids stay theirs)."""
        digest = self.fragment_digests.get(id(fragment))
        if digest is None:
            digest = self.fragment_digests[id(fragment)] = content_hash(fragment.encode("utf-8"))
            self.fragments[("digest", id(fragment))] = ({}, fragment)  # kept
        return digest

    def inputs_of(self, page: Page, calls: tuple, fragments: list[Markup | bytes]) -> list:
        """What each fragment of a page in pieces shows: its hash, or its cards' partners and
        their tokens."""
        self.views_seen[page.path] = [page.context[call[1]] for call in calls if call[0] != "fragment"]
        return [self.fragment_digest(made) if call[0] == "fragment"
                else _card_inputs(page.context[call[1]], self.list_tokens(call[0]))
                for call, made in zip(calls, fragments, strict=True)]

    def inputs_now(self, page: Page, calls: tuple, inputs: list) -> list:
        """`inputs_of` this build's page, for a page kept in pieces whose last `inputs` are known:
        a list of the same cards as the last build's (`KeptPages.views`) has its last inputs."""
        seen = self.kept_pages.views.get(page.path)  # type: ignore[union-attr]
        lists = []
        now = []
        for j, (kind, name, args) in enumerate(calls):
            if kind == "fragment":
                now.append(self.fragment_digest(self.fragment(name, **{arg: page.context[key]
                                                                       for arg, key in args})))
                continue
            views = page.context[name]
            known = seen is not None and len(seen) > len(lists) and j < len(inputs)
            last = seen[len(lists)] if known else None  # type: ignore[index]
            if last is not None and (views is last or views == last):
                now.append(inputs[j])  # (list equality: identical views first, then equal ones)
            else:
                tokens = self.list_tokens(kind)
                patched = _patched_inputs(views, last, inputs[j], tokens) if last is not None else None
                now.append(patched if patched is not None else _card_inputs(views, tokens))
            lists.append(views)
        self.views_seen[page.path] = lists
        return now

    def encoded_fragment(self, fragment: Markup | bytes) -> bytes:
        """A fragment as UTF-8, encoded once per build (the directory's facet links are on each
        of its 400 pages); card lists come as bytes already (`fragments_of`)."""
        if type(fragment) is bytes:
            return fragment
        known = self.encoded.get(id(fragment))
        if known is None or known[0] is not fragment:
            known = self.encoded[id(fragment)] = (fragment, fragment.encode("utf-8"))
        return known[1]

    def joined_parts(self, pieces: list[str], fragments: list[Markup | bytes]) -> list[bytes]:
        """A page's pieces with its fragments between them, as UTF-8 parts."""
        parts = [pieces[0].encode("utf-8")]
        for fragment, piece in zip(fragments, pieces[1:], strict=True):
            parts += (self.encoded_fragment(fragment), piece.encode("utf-8"))
        return parts

    def joined(self, pieces: list[str], fragments: list[Markup | bytes]) -> bytes:
        """A page's pieces with its fragments between them."""
        return b"".join(self.joined_parts(pieces, fragments))

    def joined_kept(self, path: str, entry: tuple, fragments: list[Markup | bytes]) -> bytes:
        """`joined`, and for a small page the bytes with where each fragment is, kept for the
        next build (`KeptPages.made`)."""
        pieces = entry[2]
        parts = self.joined_parts(pieces, fragments)
        data = b"".join(parts)
        if len(data) <= _SPLICED:
            spans = []
            at = len(parts[0])
            for i in range(1, len(parts), 2):
                end = at + len(parts[i])
                spans.append((at, end))
                at = end + len(parts[i + 1])
            self.made[path] = (entry, data, spans)
        return data

    def spliced(self, page: Page, made: tuple, calls: tuple, now: list,
                inputs: list) -> tuple[bytes, list[tuple[int, int]]]:
        """A kept page's last bytes (`KeptPages.made`) with the fragments whose inputs changed
        made again and put in their place."""
        _, data, spans = made
        parts = []
        at = 0
        new_spans = []
        shift = 0
        for (kind, name, args), (start, end), a, b in zip(calls, spans, now, inputs, strict=True):
            if a == b:
                new_spans.append((start + shift, end + shift))
                continue
            if kind == "fragment":
                encoded = self.encoded_fragment(self.fragment(name, **{arg: page.context[key]
                                                                       for arg, key in args}))
            else:
                encoded = self.lines_bytes(kind, page.context[name])
            parts += (data[at:start], encoded)
            at = end
            new_spans.append((start + shift, start + shift + len(encoded)))
            shift += len(encoded) - (end - start)
        parts.append(data[at:])
        return b"".join(parts), new_spans

    def listing_page(self, page: Page, kept: dict[str, tuple]) -> tuple[Any, str | None]:
        """A listing page's bytes (or, when the last build's are still right, a function that
        makes them) and, if known, their hash; what to keep of it goes into `kept`:
        (signature, hash, pieces or None, calls, what the fragments show)."""
        assert self.kept_pages is not None
        last = self.kept_pages.pages.get(page.path)
        tokens = self.kept_pages.tokens
        on_disk = last is not None and self.sink is not None and self.sink.previous.get(page.path) == last[1]
        try:
            if on_disk:
                signature = _signature(page, tokens, page.fragment_only, self.signed, lists=self.card_lists,
                                       pieces=last[2] is not None,
                                       card_lists=self.kept_pages.views.get(page.path))
                if signature == last[0]:
                    return self.kept_page(page, last, kept)
            split = self.pieces(page)
            signature = _signature(page, tokens, page.fragment_only, self.signed, pieces=split is not None,
                                   lists=self.card_lists)
        except _NoSignature:
            return self.page(page), None
        if split is None:
            data = self.page(page)
            digest = content_hash(data)
            kept[page.path] = (signature, digest, None, (), [])
            return data, digest
        pieces, calls = split
        made = self.fragments_of(page, calls)
        entry = (signature, None, pieces, calls, self.inputs_of(page, calls, made))
        data = self.joined_kept(page.path, entry, made)
        digest = content_hash(data)
        kept[page.path] = entry = (signature, digest, *entry[2:])
        if page.path in self.made:
            self.made[page.path] = (entry, *self.made[page.path][1:])
        return data, digest

    def kept_page(self, page: Page, last: tuple, kept: dict[str, tuple]) -> tuple[Any, str | None]:
        """A listing page whose signature is the last build's: the same bytes, or its pieces
        with this build's fragments and cards between them."""
        signature, digest, pieces, calls, inputs = last
        if pieces is None:
            kept[page.path] = last
            return (lambda: self.page(page)), digest
        now = self.inputs_now(page, calls, inputs)
        made = self.kept_pages.made.get(page.path)  # type: ignore[union-attr]
        if made is not None and made[0] is not last:
            made = None
        if len(now) == len(inputs) and all(a == b for a, b in zip(now, inputs, strict=True)):
            kept[page.path] = last
            if made is not None:
                self.made[page.path] = made
                return made[1], digest
            return (lambda: self.joined(pieces, self.fragments_of(page, calls))), digest
        if made is not None and len(now) == len(inputs):
            data, spans = self.spliced(page, made, calls, now, inputs)
            digest = content_hash(data)
            kept[page.path] = entry = (signature, digest, pieces, calls, now)
            self.made[page.path] = (entry, data, spans)
            return data, digest
        entry = (signature, None, pieces, calls, now)  # (`inputs_of` these fragments)
        data = self.joined_kept(page.path, entry, self.fragments_of(page, calls))
        digest = content_hash(data)
        kept[page.path] = entry = (signature, digest, pieces, calls, now)
        if page.path in self.made:
            self.made[page.path] = (entry, *self.made[page.path][1:])
        return data, digest

    def partners(self, slugs: list[str]) -> tuple[list[tuple[str, bytes]], dict[str, tuple]]:
        """Partner pages, and each partner's card, open data entry and row, and (if kept) page.
        A forked worker leaves the card to this process (None), which makes every card anyway
        (`shared`)."""
        out = []
        extra = {}
        here = os.getpid() == self.pid
        for slug in slugs:
            page = partner_page(self.d, slug, self.site.root)
            html = self.page(page)
            out.append((page.path, html))
            extra[slug] = (str(self.card(self.d.views[slug])) if here else None,
                           export.partner_json(self.d, slug, self.site).encode("utf-8"),
                           export.partner_csv_row(self.d, slug, self.site), html if self.keep_pages else None)
        return out, extra

    def shared(self, todo: list[str]) -> None:
        """What several pieces of work ask for: the cards of the partners made (`todo`) for the
        directory's pages and the cache, every table row for the four makers of listing pages,
        and the directory's lists and recommendations."""
        d = self.d
        for slug in todo:
            self.card(d.views[slug])
        self.row_bytes([d.views[slug] for slug in d.order])
        if self.kept_pages is not None:
            d.matching  # noqa: B018 (a cached property)
            recommend._for_directory(d)

    def work(self, item: tuple) -> tuple[list[tuple[str, Any]], dict[str, tuple], list[Page],
                                         dict[str, tuple], tuple | None]:
        """One piece of work: its files, partner cards and data entries made, its pages, what
        to keep of those pages for the next build (`KeptPages`), and for a listing file made
        by a forked worker, each partner's entry in it (`_entries_made`)."""
        kind, value = item
        extra: dict[str, tuple] = {}
        pages: list[Page] = []
        kept: dict[str, tuple] = {}
        texts = None
        if kind == "partners":
            made, extra = self.partners(value)
        elif kind == "export":
            made = [(value, EXPORTS[value](self.d, self.site))]
            if os.getpid() != self.pid:
                texts = _entries_made(self.d, value)
        else:
            full = list(PAGE_MAKERS[value](self.d))
            pages = [_address(page) for page in full]
            if self.kept_pages is not None and self.sink is not None:
                put = self.sink.put
                self.signed = {}  # for the pages of `full`, which stay alive until it is done
                # (every list of the directory's is a list of cards: see `_card_list`)
                self.card_lists = {id(cards): cards for cards in self.d.listed_views.values()}
                return [(page.path, put(page.path, *self.listing_page(page, kept))) for page in full], \
                    extra, pages, kept, texts
            made = [(page.path, self.page(page)) for page in full]
        if self.sink is not None:
            return [(path, self.sink.put(path, data)) for path, data in made], extra, pages, kept, texts
        return made, extra, pages, kept, texts

    def render_all(self, count: int, reuse: dict[str, tuple],
                   rendered: dict[str, tuple[bytes, str, str, str]] | None, listing: Listing | None = None,
                   listing_out: list[Listing] | None = None,
                   keep_pages: bool = True, open_data: bool = True,
                   meanwhile: Callable[[], None] | None = None) -> tuple[dict[str, Any], list[Page]]:
        """The files, and every page in `PAGE_MAKERS` order (for the sitemap)."""
        d = self.d
        self.keep_pages = rendered is not None and keep_pages
        # (the pages' templates and what they include, such as the logo: compiled once, or
        # taken from the process that compiled them, before the workers fork)
        take_compiled()
        _compile_all(self.env)
        # (each reused partner's page, entry and row; its card is taken when a listing asks: `card`)
        self.reused = reuse
        kept = [(slug, reuse[slug]) for slug in d.order if slug in reuse]
        entries: dict[str, bytes] = {slug: made[2] for slug, made in kept}
        rows: dict[str, str] = {slug: made[3] for slug, made in kept}
        if self.sink is not None:
            files: dict[str, Any] = self.sink.put_known(
                (partner_path(slug), made[0], made[4] if len(made) > 4 else None) for slug, made in kept)
        else:
            files = {partner_path(slug): made[0] for slug, made in kept}
        todo = [slug for slug in d.order if slug not in reuse] if len(kept) < len(d.order) else []
        makers = [i for i, make in enumerate(PAGE_MAKERS) if make is not partner_pages]
        work: list[tuple] = [("export", name) for name in EXPORTS
                             if listing is None or name not in LISTING_EXPORTS]
        work += [("maker", i) for i in makers] if listing is None else []
        # Partner pages in pieces of about a hundred partners (a tenth of a second or two), taken
        # last from whichever end, so the processes finish within moments of each other.
        work += [("partners", chunk) for chunk in parallel.chunks(todo, max(count * 8, len(todo) // 100))]
        keeping = self.kept_pages is not None and keep_pages  # (serve: see `made_here` below)
        if listing is None and count > 1 and not keeping:
            # What the listing pages share (every card, every table row, the directory's lists
            # and the recommendations) is made by this process alone, once the workers are
            # forked: they take partner pages from the front, which need none of it, while this
            # process makes it and then the listing pages and files, from the back. (Made before
            # the fork, as it was, it kept the other core idle for half a second of a cold
            # build at 10,000 partners; made by each process, it took twice the CPU.)
            work.reverse()
            meanwhile = _then(lambda: self.shared(todo), meanwhile)
        elif listing is None and count > 1:
            # Made here once, before the workers fork, rather than again by each worker that
            # needs them; a build that keeps its pages (serve) also keeps these for the next
            # build to bring up to date.
            self.shared(todo)
        made_here = {}
        if listing is None and count > 1 and keeping:
            # In a process that keeps its builds (serve), directory.json and recommend.json are
            # made here too, so that their entries are kept with the directory
            # (`Directory.encoded`) for the next build's, which after an edit to listed data
            # encodes only the edited partners' again.
            made_here = {("export", name): self.work(("export", name)) for name in LISTING_EXPORTS}
            # Likewise the lists of cards of facet values and places (`Directory.listed_views`),
            # which the workers then need not make, for the next build's directory to take over.
            # (Every partner's table row, made above, is kept too: `KeptPages.rows`.)
            _listed_views(d)
            work = [item for item in work if item[0] != "export" or item not in made_here]
        if listing is not None and keep_pages and self.kept_pages is not None and self.kept_pages.pages \
                and not self.kept_pages.views:
            # A process that keeps its builds (serve) whose listing pages were all kept (its first
            # build, from the cache on disk): what its first rebuild after an edit to listed data
            # would otherwise make from nothing is made now, before anyone waits for that rebuild.
            self.kept_pages.views = _views_of(self.kept_pages.pages, d.views)
            if d.counts is None:  # (a directory made from the disk cache's order and facets)
                d.counts = facet_counts(view.member for view in d.views.values())
            _listed_views(d)
            self.row_bytes([d.views[slug] for slug in d.order])
            export.directory_json(d, self.site)  # (their entries are kept with the directory)
            recommend.recommend_json(d)
        by_maker: dict[int, list[Page]] = dict(listing.pages) if listing is not None else {}
        listed_files: dict[str, Any] = dict(listing.files) if listing is not None else {}
        kept_pages: dict[str, tuple] = {}
        # This process works too, from the back of the list (partner pages) while a worker
        # starts from the front: it owns the partners' memory, and renders its share without
        # the copy-on-write faults a forked worker pays on every page of it that it touches.
        results = parallel.share_map(self.work, work, count - 1, meanwhile)
        for item, (made, cards, pages, kept, texts) in [*made_here.items(), *zip(work, results, strict=True)]:
            files.update(made)
            if texts is not None and self.kept_pages is not None:
                # (so that this build can note where each entry is, for a new process's
                # rebuild after an edit to listed data: `cache.save_export_layout`)
                _keep_entries_made(d, item[1], texts)
            if item[0] == "maker" or item[1] in LISTING_EXPORTS:
                listed_files.update(made)
            if item[0] == "maker":
                by_maker[item[1]] = pages
                kept_pages.update(kept)
            for slug, (card, entry, row, page) in cards.items():
                entries[slug], rows[slug] = entry, row
                if rendered is not None:
                    rendered[slug] = (page, card if card is not None else str(self.card(d.views[slug])),
                                      entry, row)
        files.update(listed_files)
        if self.kept_pages is not None and listing is None:  # every listing page was made or kept
            self.kept_pages.pages = kept_pages
            here = count <= 1 or len(work) <= 1
            # (what forked workers saw stays in them: a process that keeps its builds (serve)
            # finds the cards of their pages again by the partners they showed)
            self.kept_pages.views = self.views_seen if here else _views_of(kept_pages, d.views) \
                if keep_pages else {}
            self.kept_pages.made = self.made if here else {}
            if not here:  # (the rows' hashes that forked workers made, from what their pages show)
                _keep_row_digests(self.kept_pages, kept_pages)
        if listing_out is not None:
            listing_out.append(Listing(by_maker, listed_files))
        if not open_data:  # the caller patches them (`render_site`)
            return files, _listed(d.order, by_maker)
        if self.sink is not None:
            # Written as they are put together (100 MB at 10,000 partners) and patched around
            # the changed entries and rows when they can be; the two at once, as their hashing
            # and writing let a second core work.
            csv_file = parallel.beside(self.sink.put_chunks, "partners.csv",
                                       export.partners_csv_chunks(d, self.site, rows))
            try:
                files["partners.json"] = self.sink.put_chunks(
                    "partners.json", export.partners_json_chunks(d, self.site, entries))
            finally:
                files["partners.csv"] = csv_file()
        else:
            files["partners.json"] = export.partners_json(d, self.site, entries)
            files["partners.csv"] = export.partners_csv(d, self.site, rows)
        return files, _listed(d.order, by_maker)


def _entries_made(d: Directory, name: str) -> tuple[Any, list[tuple[str, str]]] | None:
    """The listing file `name`'s entries as this process just made them and kept with `d`
    (`cache.encoded_entries`), with directory.json's tables: sent back from a forked worker,
    whose copy of `d` is gone when it ends."""
    from .cache import encoded_entries

    entries = encoded_entries(d, name)
    if entries is None:
        return None
    return (d.encoded[name].get("") if name == "directory.json" else None), entries


def _keep_entries_made(d: Directory, name: str, made: tuple[Any, list[tuple[str, str]]]) -> None:
    """`_entries_made` of a worker, kept with this process's `d` as if it had made them."""
    index, entries = made
    if name == "directory.json":
        d.encoded[name] = {"": index, **{slug: (d.partners[slug], d.views[slug], text)
                                         for slug, text in entries}}
    else:
        recommend.keep_encoded(d, dict(entries))


def _keep_row_digests(kept: KeptPages, pages: dict[str, tuple]) -> None:
    """`KeptPages.row_digests` of the table rows on `pages`, made by forked workers in this
    build (the partners' tokens are this build's)."""
    found: dict[str, str] = {}
    for _, _, pieces, calls, inputs in pages.values():
        if pieces is not None:
            for call, shown in zip(calls, inputs, strict=False):
                if call[0] == "rows":
                    found.update(zip(*shown, strict=True))
    tokens = kept.tokens
    kept.row_digests.update((slug, (tokens[slug], digest)) for slug, digest in found.items()
                            if slug in tokens)


def _macro(template: Any, name: str) -> Any:
    """The macro `name` of a template that defines one per partner (cards, rows): a site's own
    template written as a page gets an error that says so, not a traceback."""
    try:
        made = getattr(template.module, name, None)  # (its text outside macros rendered once)
    except TemplateError:  # a page that needs a partner to render, say
        made = None
    if made is None or not callable(made):
        raise TemplateRuntimeError(f"{template.name} must define the macro {name}(p) "
                                   f"({{% macro {name}(p) %}}...{{% endmacro %}}), called once per partner")
    return made


def _then(first: Callable[[], None], then: Callable[[], None] | None) -> Callable[[], None]:
    def both() -> None:
        first()
        if then is not None:
            then()
    return both


def _once(call: Callable[[], None]) -> Callable[[], None]:
    """`call`, done at most once however often it is asked for (a render run again here)."""
    done: list[bool] = []

    def once() -> None:
        if not done:
            done.append(True)
            call()
    return once


def _listed_views(d: Directory) -> None:
    """Every list of cards of a facet value or place page made (`Directory.listed_views`)."""
    for key, by_value in d.matching.items():
        for value in by_value:
            d.matching_views(key, value)
    for _ in place_pages(d):
        pass


def _views_of(pages: dict[str, tuple], views: dict[str, PartnerView]) -> dict[str, list[list]]:
    """`KeptPages.views` of kept pages made by forked workers in this build: their lists of
    cards, from the partners their inputs name (this build's views of them)."""
    out = {}
    for path, (_, _, pieces, calls, inputs) in pages.items():
        if pieces is not None:
            try:
                out[path] = [[views[slug] for slug in shown[0]]
                             for call, shown in zip(calls, inputs, strict=True) if call[0] != "fragment"]
            except (KeyError, TypeError, ValueError):  # not this build's: told card by card
                continue
    return out


# The last `_listed` answer and what it was made from (kept, so their ids stay theirs), and the
# last sitemap with its inputs: a `serve` rebuild that keeps the directory and listing pages
# (the same objects) does not list 10,000 partner pages again.
_LISTED: list[tuple[tuple, list[Page]]] = []
_SITEMAP: list[tuple[tuple, bytes]] = []


def _listed(order: list[str], by_maker: dict[int, list[Page]]) -> list[Page]:
    """Every page in `PAGE_MAKERS` order (for the sitemap), checked to have its own path."""
    sources = (order, *(by_maker.get(i) for i, make in enumerate(PAGE_MAKERS) if make is not partner_pages))
    if _LISTED and len(_LISTED[0][0]) == len(sources) and \
            all(a is b or a == b for a, b in zip(_LISTED[0][0], sources, strict=True)):
        return _LISTED[0][1]  # (a rebuild's page addresses are new objects, the same as before)
    listed: list[Page] = []
    for i, make in enumerate(PAGE_MAKERS):
        if make is partner_pages:
            listed += [Page(partner_path(slug), "partner.html", {}, "") for slug in order]
        else:
            listed += by_maker[i]
    _check_unique(listed)
    _LISTED[:] = [(sources, listed)]
    return listed


def _sitemap(pages: list[Page], site: Site, as_of: dt.date) -> bytes:
    """`sitemap`, the same bytes again for the same list of pages (see `_listed`)."""
    if _SITEMAP and _SITEMAP[0][0][0] is pages and _SITEMAP[0][0][1:] == (site, as_of):
        return _SITEMAP[0][1]
    data = sitemap(pages, site, as_of)
    _SITEMAP[:] = [((pages, site, as_of), data)]
    return data


def _address(page: Page) -> Page:
    """A page without its context: all the sitemap needs, and cheap to send between processes."""
    return Page(page.path, page.template, {}, page.title, page.description, page.in_sitemap)


def _check_unique(pages: list[Page]) -> None:
    seen: set[str] = set()
    for page in pages:
        if page.path in seen:
            raise ValueError(f"two pages want the path {page.path}")
        seen.add(page.path)


def sitemap(pages: list[Page], site: Site, as_of: dt.date) -> bytes:
    from xml.sax.saxutils import escape as xml_escape  # (here: it loads urllib.request and more)

    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">']
    lines += [sitemap_line(page.url_path, site, as_of, xml_escape) for page in pages if page.in_sitemap]
    lines.append("</urlset>")
    return ("\n".join(lines) + "\n").encode("utf-8")


def sitemap_line(url_path: str, site: Site, as_of: dt.date,
                 xml_escape: Callable[[str], str] | None = None) -> str:
    """One page's line of sitemap.xml (`relist` puts a new partner's into the last one)."""
    if xml_escape is None:
        from xml.sax.saxutils import escape as xml_escape
    return f"  <url><loc>{xml_escape(site.url(url_path))}</loc><lastmod>{as_of.isoformat()}</lastmod></url>"
