"""Partner descriptions: Markdown written by partners, turned into HTML that cannot run anything.

Descriptions are untrusted. `markdown` passes raw HTML through, so its output is cleaned with
nh3 against an allow-list: text formatting and links only, links to http(s) and mailto only,
never images (they would load from a third party) or anything that can carry script or style.
"""

from __future__ import annotations

import functools
import html as html_lib
import re
import threading

import markdown
import nh3
from markupsafe import Markup

ALLOWED_TAGS = frozenset({
    "p", "br", "hr", "strong", "em", "b", "i", "code", "pre", "blockquote", "ul", "ol", "li",
    "a", "h3", "h4", "h5", "h6", "abbr", "sub", "sup", "del", "dl", "dt", "dd",
})
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "ol": {"start"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer nofollow"
# Content dropped together with the tag, not just unwrapped into text.
DROPPED_WITH_CONTENT = frozenset({"script", "style", "iframe", "object", "embed", "template", "svg",
                                  "math", "noscript", "textarea", "select", "title"})

_ABSOLUTE = re.compile(r"^(?:https?://|mailto:)", re.IGNORECASE)
# The partner page's own headings are h1 and h2, so a description's headings start at h3.
_HEADING = re.compile(r"<(/?)h([1-6])>")


def _only_absolute_links(tag: str, attribute: str, value: str) -> str | None:
    """Relative links would point into this site (and break under a sub-path): drop them."""
    if attribute == "href" and not _ABSOLUTE.match(value.strip()):
        return None
    return value


def _shift_heading(match: re.Match) -> str:
    return f"<{match.group(1)}h{min(int(match.group(2)) + 2, 6)}>"


_converters = threading.local()


def _convert(text: str, extensions: tuple[str, ...]) -> str:
    """markdown.markdown(text), with one converter per thread reused: building one costs as
    much as converting a description."""
    converters = _converters.__dict__
    converter = converters.get(extensions)
    if converter is None:
        converter = converters[extensions] = markdown.Markdown(extensions=list(extensions),
                                                               output_format="html")
    return converter.reset().convert(text)


@functools.lru_cache(maxsize=20_000)
def render_markdown(text: str) -> Markup:
    """Markdown to sanitized HTML, safe to insert into a page unescaped.

    Remembered by text, so a rebuild does not convert unchanged descriptions again.
    """
    html = _convert(text, ("sane_lists",))
    html = _HEADING.sub(_shift_heading, html)
    clean = nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
        attribute_filter=_only_absolute_links,
        url_schemes=set(URL_SCHEMES),
        link_rel=LINK_REL,
        strip_comments=True,
    )
    return Markup(clean.strip())


@functools.lru_cache(maxsize=20_000)
def plain_text(text: str, limit: int = 200) -> str:
    """A description's first words without markup, for meta descriptions and link previews."""
    html = _convert(text, ())
    words = " ".join(nh3.clean(html, tags=set(), clean_content_tags=set(DROPPED_WITH_CONTENT)).split())
    # nh3 escapes text for HTML; the caller escapes again when it inserts the text.
    words = html_lib.unescape(words)
    if len(words) <= limit:
        return words
    cut = words[: limit - 1].rsplit(" ", 1)[0]
    return cut.rstrip(",.;:") + "…"
