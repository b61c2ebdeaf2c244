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
from markdown.extensions import Extension
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


# Markdown tries every inline pattern on every piece of text; most descriptions contain the
# character that starts only a few of them. A pattern whose regular expression needs a
# character the text does not contain can never match, so leaving it out changes nothing but
# the time: a third of a description's conversion. Markdown expands tabs into spaces before it
# looks for line breaks (two spaces at a line's end), hence the tab.
_INLINE_NEEDS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("`",), ("backtick",)),
    (("\\",), ("escape",)),
    (("[",), ("reference", "link", "image_link", "image_reference", "short_reference", "short_image_ref")),
    (("<",), ("autolink", "automail", "html")),
    (("  ", "\t"), ("linebreak",)),
    (("&",), ("entity",)),
    (("*", "_"), ("em_strong",)),
)


def _never_matching(text: str) -> tuple[str, ...]:
    """The inline patterns that cannot match anywhere in `text`."""
    return tuple(name for needs, names in _INLINE_NEEDS if not any(c in text for c in needs)
                 for name in names)


# Block processors are tried in turn on every block until one takes it, so each paragraph
# meets the regular expressions of headings, rules and quotes first: a fifth of a plain
# description's conversion. Block processing only removes the start of lines (list markers,
# indentation, '>'), so a line a processor could take ends like a line of the text: a rule
# ends in a mark ('-', '_' or '*'), a setext heading's underline in '=' or '-'. A '#' heading
# and a quote need their character somewhere. Raw HTML and the characters Markdown's own
# clean-up removes or turns into line ends could make new lines, so a text with them keeps
# every processor.
_BLOCK_NEEDS: tuple[tuple[re.Pattern, tuple[str, ...]], ...] = (
    (re.compile("#"), ("hashheader",)),
    (re.compile(r"[-=_*][ \t]*$", re.MULTILINE), ("setextheader", "hr")),
    (re.compile(">"), ("quote",)),
)
_NEW_LINES = re.compile(r"[<\r\x02\x03]")


def _never_taking(text: str) -> tuple[str, ...]:
    """The block processors that cannot take any block of `text`, and "html_block" (the
    preprocessor that takes raw HTML out) when the text has neither '<' nor '&': its parser
    then sees one piece of plain text and gives it back unchanged."""
    if _NEW_LINES.search(text):
        return ()
    names = tuple(name for needs, names in _BLOCK_NEEDS if needs.search(text) is None for name in names)
    return names if "&" in text else (*names, "html_block")


# Most descriptions are paragraphs, '- ' lists, '> ' quotes and **bold**: Python-Markdown takes
# a quarter of a millisecond for each, a tenth of a build's CPU at 10,000 partners. Text in
# that subset is turned into the same HTML here, line by line; anything else (or anything the
# rules below are unsure of) goes to Markdown. tests/test_markdown_text.py compares the two on
# generated texts. Refused anywhere: every character other syntax starts with, control
# characters, '=' (setext headings) and '*' outside '**' pairs.
_NOT_PLAIN_MARKDOWN = re.compile(r"[<>&`\\\[\]#_=\x00-\x09\x0b-\x1f\x7f-\x9f]")
# Printable ASCII (and line breaks) that is neither refused above nor a control character.
_PLAIN_ASCII = bytes(c for c in range(0x20, 0x7F) if chr(c) not in "<&`\\[]#_=") + b"\n"
# Lines that could start anything but a paragraph's text (lists, rules, code, ordered lists:
# a number and a full stop followed by a space or tab; "2020." ending a line is text).
_NOT_PARAGRAPH_LINE = re.compile(r"[ +\->]|\*(?!\*[^ *])|\d+\.[ \t]")


class _PlainHtml(str):
    """HTML made by `_plain_markdown`: only p, ul, li, blockquote and strong tags, and text
    without '<', '>' or '&', so its words are its text between the tags."""


_TAG = re.compile(r"<[^>]*>")


def _plain_markdown(text: str) -> str | None:
    """Markdown's HTML for a text in the plain subset, or None to leave it to Markdown."""
    lines = text.split("\n")
    quoted = [line[2:] if line[:2] == "> " else None for line in lines]
    # Every '>' starts a quoted line; otherwise what is refused is looked for only among the
    # characters other than the plain ASCII ones, which are few (a search through all of them
    # took a fifth of the time to convert a description).
    if text.count(">") != len(quoted) - quoted.count(None):
        return None
    rest = text.encode("utf-8", "surrogatepass").translate(None, _PLAIN_ASCII)
    if rest:
        rest_text = rest.decode("utf-8", "surrogatepass")
        if _NOT_PLAIN_MARKDOWN.search(rest_text) or not rest_text.isprintable():
            return None
    blocks: list[str] = []
    last = ""  # the kind of the block before: a second list or quote would join the first
    start = 0
    count = len(lines)
    while start < count:
        if not lines[start]:
            start += 1
            continue
        end = start
        while end < count and lines[end]:
            end += 1
        block = lines[start:end]
        if any(line[-1] == " " for line in block):
            return None
        if block[0][:2] == "- ":
            if last == "ul" or any(line[:2] != "- " for line in block):
                return None
            items = [_plain_text_of([line[2:]]) for line in block]
            if None in items:
                return None
            blocks.append("<ul>\n" + "".join(f"<li>{item}</li>\n" for item in items) + "</ul>")
            last = "ul"
        elif quoted[start] is not None:
            inner = quoted[start:end]
            if last == "quote" or None in inner:
                return None
            body = _plain_text_of(inner)  # type: ignore[arg-type]
            if body is None:
                return None
            blocks.append(f"<blockquote>\n<p>{body}</p>\n</blockquote>")
            last = "quote"
        else:
            body = _plain_text_of(block)
            if body is None:
                return None
            blocks.append(f"<p>{body}</p>")
            last = "p"
        start = end
    return _PlainHtml("\n".join(blocks)) if blocks else None


def _plain_text_of(lines: list[str]) -> str | None:
    """A paragraph's (or list item's) lines as HTML, each **pair** made <strong>; None if a line
    could start something else or its stars are anything but pairs around words."""
    for line in lines:
        if not line or _NOT_PARAGRAPH_LINE.match(line):
            return None
    text = "\n".join(lines)
    if "*" not in text:
        return text
    parts = text.split("**")
    if len(parts) % 2 == 0:
        return None
    out = []
    for i, part in enumerate(parts):
        if "*" in part:
            return None
        if i % 2:
            if not part or part[0].isspace() or part[-1].isspace():
                return None
            out.append(f"<strong>{part}</strong>")
        else:
            out.append(part)
    return "".join(out)


def _convert(text: str, extensions: tuple[str, ...]) -> str:
    """markdown.markdown(text), with converters per thread reused: building one costs as
    much as converting a description. There is one for each set of inline patterns left out
    (see `_INLINE_NEEDS`); a text meets the one without the patterns it cannot match."""
    text = _without_comments(text)
    # A '<' that no '>' follows starts neither a tag nor an autolink, but the HTML parser inside
    # Markdown scans to the end of the text from each one (30 s for 50,000 characters of '<a ').
    # It is hidden from the parser and put back, escaped, afterwards.
    plain = _plain_markdown(text)
    if plain is not None:
        return plain
    cut = text.rfind(">") + 1
    text = text[:cut] + text[cut:].replace("<", _HIDDEN_LT)
    key = (extensions, _never_matching(text), _never_taking(text))
    converters = _converters.__dict__
    converter = converters.get(key)
    if converter is None:
        converter = converters[key] = markdown.Markdown(
            extensions=[*extensions, _LinearLinks()], output_format="html")
        for name in key[1]:
            converter.inlinePatterns.deregister(name)
        for name in key[2]:
            if name == "html_block":
                converter.preprocessors.deregister(name)
            else:
                converter.parser.blockprocessors.deregister(name)
    try:
        html = converter.reset().convert(text)
    except RecursionError:
        # Lists nested some hundreds deep (2,000 characters of '- ') exceed Python's recursion
        # limit inside Markdown; such a description is shown as plain paragraphs, and the
        # converter, left half-way through, is not used again.
        del converters[key]
        html = "".join(f"<p>{html_lib.escape(p.strip())}</p>\n" for p in text.split("\n\n") if p.strip())
    return html.replace(_HIDDEN_LT, "&lt;")


def _without_comments(text: str) -> str:
    """The text without HTML comments, which the sanitizer removes from the page anyway: Markdown
    compares each comment with every unclosed tag before it, so 49,000 characters of
    '(_> <!----><a' took over two minutes. Ends as browsers end them: '-->', '--!>', or '<!-->'."""
    pieces, done = [], 0
    while (start := text.find("<!--", done)) >= 0:
        ends = [i for i in (text.find("-->", start + 2), text.find("--!>", start + 2)) if i >= 0]
        if not ends:
            break
        end = min(ends)
        pieces.append(text[done:start])
        done = end + (4 if text.startswith("--!>", end) else 3)
    pieces.append(text[done:])
    return "".join(pieces)


# A control character: descriptions never contain one (validation refuses them), and unlike
# \x02 and \x03 Markdown does not use it for its own placeholders.
_HIDDEN_LT = "\x01"
_BRACKET = re.compile(r"[\[\]]")
_LINK_TARGET_MAX = 500  # characters after '](' searched for the end of a link's target


class _LinearLinks(Extension):
    """Python-Markdown looks for the end of a link from every '[' and every '](' to the end of
    the paragraph, so 50,000 characters of '[' took seven minutes to convert. Here the brackets
    of a text are paired once, and a link's target must end within 500 characters."""

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        for name in ("reference", "link", "image_link", "image_reference", "short_reference",
                     "short_image_ref"):
            processor = md.inlinePatterns[name]
            processor.getText = _PairedBrackets(processor.getText)
            if hasattr(processor, "getLink"):
                processor.getLink = _bounded_link(processor.getLink)


class _PairedBrackets:
    """`getText(data, index)`: the text up to the ']' that closes the '[' before `index`.

    Where a '[' closes depends only on the text after it, and Markdown, having replaced a link
    with a placeholder, asks again about the unchanged rest of the same text; so the pairs are
    kept by their distance from the end of the text and stay valid for any text that ends the
    same way from the '[' asked about.
    """

    def __init__(self, get_text) -> None:
        self.get_text = get_text
        self.text: str | None = None  # the text the pairs were found in
        self.closing: dict[int, int] = {}  # distance from its end of each '[' -> of its ']'
        self.data: str | None = None  # the text last asked about
        self.same_from = 0  # from this position on, `data` ends like `text`

    def __call__(self, data: str, index: int) -> tuple[str, int, bool]:
        start = index - 1
        if start < 0 or data[start] != "[":
            return self.get_text(data, index)
        if data is not self.data or start < self.same_from:
            self.data = data
            if self.text is not None and self.text.endswith(data[start:]):
                self.same_from = start
            else:
                self.text, self.same_from, self.closing = data, 0, _pairs(data)
        close = self.closing.get(len(data) - start)
        if close is None:
            return data[index:], len(data), False
        end = len(data) - close
        return data[index:end], end + 1, True


def _pairs(text: str) -> dict[int, int]:
    pairs, opened = {}, []
    for m in _BRACKET.finditer(text):
        if m.group() == "[":
            opened.append(len(text) - m.start())
        elif opened:
            pairs[opened.pop()] = len(text) - m.start()
    return pairs


def _bounded_link(get_link):
    def get_link_nearby(data: str, index: int):
        if data.find(")", index, index + _LINK_TARGET_MAX) < 0:
            return "", None, index, False
        return get_link(data[: index + _LINK_TARGET_MAX], index)
    return get_link_nearby


# Lines that could start an ordered or a bulleted list item, also inside a block quote. The
# sane_lists extension only changes how the two kinds combine (and an ordered list's start
# number, which is no text), so a description without both kinds, and without raw HTML (which
# Markdown takes out of lines before it looks for lists), has the same text either way, and
# plain_text can reuse render_markdown's conversion.
_ORDERED_LINE = re.compile(r"^[ \t>]*\d+\.[ \t]", re.MULTILINE)
_BULLET_LINE = re.compile(r"^[ \t>]*[*+-][ \t]", re.MULTILINE)


@functools.lru_cache(maxsize=64)
def _converted(text: str, extensions: tuple[str, ...]) -> str:
    """A partner page asks for its description's summary and HTML one after the other."""
    return _convert(text, extensions)


@functools.lru_cache(maxsize=20_000)
def render_markdown(text: str) -> Markup:
    """Markdown to sanitized HTML, safe to insert into a page unescaped.

    Remembered by text, so a rebuild does not convert unchanged descriptions again.
    """
    html = _converted(text, ("sane_lists",))
    if isinstance(html, _PlainHtml):
        # Tags from the allow-list around printable text without '<', '>' or '&', which the
        # sanitizer gives back as it is (tests/test_markdown_text.py compares): the sanitizer
        # took half the time of a description in the plain subset.
        return Markup(html.strip())
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


def _first_words(html: _PlainHtml, limit: int) -> str:
    """The text between the tags, one space between words, as far as a summary of `limit`
    characters needs it: the words of a part of the HTML are the first of the whole's
    (the last perhaps cut short), so only a part is read, larger until it holds enough."""
    size = 4 * limit + 100
    while True:
        part = html[:size]
        if len(part) < len(html) and part.rfind("<") > part.rfind(">"):
            part = part[:part.rfind("<")]  # not half a tag
        words = " ".join(_TAG.sub("", part).split())
        if len(words) > limit or size >= len(html):
            return words
        size *= 4


@functools.lru_cache(maxsize=20_000)
def plain_text(text: str, limit: int = 200) -> str:
    """A description's first words without markup, for meta descriptions and link previews."""
    # The page's HTML first (render_markdown asks for it next): a text in the plain subset
    # converts the same with any extensions, so the lists need not be looked at.
    html = _converted(text, ("sane_lists",))
    if not isinstance(html, _PlainHtml) and ("<" in text or _ORDERED_LINE.search(text) is not None
                                             and _BULLET_LINE.search(text) is not None):
        html = _converted(text, ())
    if isinstance(html, _PlainHtml):  # what the sanitizer would leave: the text between the tags
        words = _first_words(html, limit)
    else:
        words = " ".join(nh3.clean(html, tags=set(), clean_content_tags=set(DROPPED_WITH_CONTENT)).split())
        # nh3 escapes text for HTML; the caller escapes again when it inserts the text.
        words = html_lib.unescape(words)
    if len(words) <= limit:
        return words
    cut = words[: limit - 1].rsplit(" ", 1)[0]
    return cut.rstrip(",.;:") + "…"
