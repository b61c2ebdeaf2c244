"""Descriptions convert the same with the inline patterns and block processors a text cannot use left out."""

from __future__ import annotations

import html

import markdown
import nh3
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from partnerdir import markdown_text
from partnerdir.markdown_text import _LinearLinks, _never_matching, _never_taking, _plain_markdown

# Every character some Markdown syntax starts with, words, and the whitespace that matters.
PIECES = ["word", "Word two", " ", "  ", "\n", "\n\n", "\t", "*", "**", "_", "__", "`", "``", "\\", "[",
          "]", "(", ")", "![", "<", ">", "&", "&amp;", "&#35;", "<b>", "</b>", "<https://a.example>",
          "<me@a.example>", "[x](https://a.example)", "[x]: https://a.example", "- ", "1. ", "> ",
          "# ", "    ", "---", "\r\n", "<!-- c -->", "é", "=", "===", "-", "- - -", "* * *", "___", " #",
          "\x02", "\x03"]


def full(text: str, extensions: tuple[str, ...]) -> str:
    """What Markdown makes of a text with every inline pattern, as _convert prepares the text."""
    text = markdown_text._without_comments(text)
    cut = text.rfind(">") + 1
    text = text[:cut] + text[cut:].replace("<", markdown_text._HIDDEN_LT)
    converter = markdown.Markdown(extensions=[*extensions, _LinearLinks()], output_format="html")
    return converter.convert(text).replace(markdown_text._HIDDEN_LT, "&lt;")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(PIECES), max_size=40).map("".join), st.sampled_from([(), ("sane_lists",)]))
@example("line one  \nline two", ("sane_lists",))
@example("tab\t\nline", ())
@example("a **b** c", ())
@example("Title\n=====", ("sane_lists",))
@example("- item\n\n    text\n    ---", ("sane_lists",))
@example("> quoted\n> * * *", ())
@example("word &amp; word", ("sane_lists",))
def test_leaving_out_patterns_that_cannot_match_changes_nothing(text, extensions):
    assert markdown_text._convert(text, extensions) == full(text, extensions)


def test_a_plain_description_skips_most_patterns_and_keeps_those_it_needs():
    skipped = set(_never_matching("Plain words.\n\n- a list"))
    assert skipped >= {"backtick", "escape", "link", "html", "entity", "em_strong", "linebreak"}
    assert "em_strong" not in _never_matching("some *emphasis*")
    assert "linebreak" not in _never_matching("a\tb")
    assert "link" not in _never_matching("see [x](https://a.example)")
    assert _never_matching("`\\[<  &*") == ()


def test_a_plain_description_skips_the_block_processors_it_cannot_use():
    plain = "Plain words.\n\n- a list\n- of items\n\n1. and steps"
    assert set(_never_taking(plain)) == {"hashheader", "setextheader", "hr", "quote", "html_block"}
    assert "hashheader" not in _never_taking("# Heading")
    assert "quote" not in _never_taking("> a quote")
    assert {"setextheader", "hr"}.isdisjoint(_never_taking("Heading\n-------"))
    assert {"setextheader", "hr"}.isdisjoint(_never_taking("- item\n\n    * * *  "))
    assert "html_block" not in _never_taking("fish &amp; chips")
    assert _never_taking("<b>raw</b> # > ") == ()
    assert _never_taking("line\r---") == ()


# What the plain path reads (paragraphs, '- ' lists, '> ' quotes, **bold**) and what is near it.
PLAIN_PIECES = ["word", "Word two", "é —", '"quoted"', ".", ",", "3", "2014.", " ", "  ", "\n", "\n\n",
                "\n\n\n", "**", "*", "***", "- ", "-", "> ", ">", "+ ", "* ", "1. ", "=", "#", "_", "\t",
                "\u00a0", "\n    "]


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(PLAIN_PIECES), max_size=50).map("".join),
       st.sampled_from([(), ("sane_lists",)]))
@example("A **bold** start.\n\n- one\n- **two** items\n\n> \"Quoted\" — someone\n> on two lines\n\nEnd.", ())
@example("- a\n\n- b", ("sane_lists",))
@example("> a\n\n> b", ("sane_lists",))
@example("text\n- not a list", ("sane_lists",))
@example("text\n> quote", ("sane_lists",))
@example("**a**b**c** and word**bold**word", ("sane_lists",))
@example("projects since\n2020.\n\n2014.\nand 1.\n\n3.5 x", ())
@example("a\n1.\n\n2020.", ("sane_lists",))
def test_the_plain_path_makes_what_markdown_makes(text, extensions):
    assert markdown_text._convert(text, extensions) == full(text, extensions)


def test_a_typical_description_takes_the_plain_path_and_others_do_not():
    typical = ("Northwind is a **Lisbon** integrator.\n\nServices:\n\n- reviews\n- migrations\n\n"
               "> \"They documented everything.\" — a customer\n")
    assert _plain_markdown(typical) == (
        "<p>Northwind is a <strong>Lisbon</strong> integrator.</p>\n<p>Services:</p>\n"
        "<ul>\n<li>reviews</li>\n<li>migrations</li>\n</ul>\n"
        "<blockquote>\n<p>\"They documented everything.\" — a customer</p>\n</blockquote>")
    assert _plain_markdown("Delivering since\n2020.") == "<p>Delivering since\n2020.</p>"
    for other in ("# Heading", "a *b*", "[link](https://a.example)", "1. first", "a\n2. b", "    code",
                  "a  \nb", "x & y", "<b>x</b>", "- a\n\n- b", "Title\n====="):
        assert _plain_markdown(other) is None, other


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(PLAIN_PIECES), max_size=50).map("".join))
@example('A **bold** "start".\n\n- one\n- **two** items\n\n> quoted — someone')
def test_a_summary_from_the_plain_path_is_what_the_sanitizer_leaves(text):
    lists = markdown_text._ORDERED_LINE.search(text) and markdown_text._BULLET_LINE.search(text)
    made = markdown_text._convert(text, () if lists or "<" in text else ("sane_lists",))
    words = " ".join(nh3.clean(made, tags=set(), clean_content_tags=set()).split())
    markdown_text.plain_text.cache_clear()
    markdown_text._converted.cache_clear()
    summary = markdown_text.plain_text(text, limit=10_000)
    assert summary == html.unescape(words)


def sanitized(text: str) -> str:
    """A description's HTML as the sanitizer leaves Markdown's, headings shifted."""
    made = markdown_text._HEADING.sub(markdown_text._shift_heading, full(text, ("sane_lists",)))
    return nh3.clean(made, tags=set(markdown_text.ALLOWED_TAGS),
                     clean_content_tags=set(markdown_text.DROPPED_WITH_CONTENT),
                     attributes={k: set(v) for k, v in markdown_text.ALLOWED_ATTRIBUTES.items()},
                     attribute_filter=markdown_text._only_absolute_links,
                     url_schemes=set(markdown_text.URL_SCHEMES), link_rel=markdown_text.LINK_REL,
                     strip_comments=True).strip()


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(PLAIN_PIECES + ["<", ">", "&", "\u2028", "\ufeff", "\u200b", "\U0001fffe"]),
                max_size=50).map("".join))
@example('A **bold** "start".\n\n- one\n- **two** items\n\n> quoted — someone')
@example("a\u00a0b")
def test_a_description_from_the_plain_path_is_what_the_sanitizer_leaves(text):
    """The plain path's HTML is not sanitized again: it must be what sanitizing Markdown's gives."""
    markdown_text.render_markdown.cache_clear()
    markdown_text._converted.cache_clear()
    assert markdown_text.render_markdown(text) == sanitized(text)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(PLAIN_PIECES), max_size=120).map("".join), st.integers(1, 80))
@example("**" + "long" * 300 + "** words after", 3)
def test_a_summary_reads_only_as_much_of_the_html_as_it_needs(text, limit):
    """The first words of part of the HTML are the first words of all of it, as many as the summary uses."""
    made = markdown_text._plain_markdown(text)
    if made is None:
        return
    every = " ".join(markdown_text._TAG.sub("", made).split())
    first = markdown_text._first_words(made, limit)
    assert every.startswith(first) and (first == every or len(first) > limit)
    markdown_text.plain_text.cache_clear()
    markdown_text._converted.cache_clear()
    cut = every[: limit - 1].rsplit(" ", 1)[0].rstrip(",.;:") + "…"
    assert markdown_text.plain_text(text, limit) == (every if len(every) <= limit else cut)


def test_a_summary_never_takes_half_a_tag_for_words():
    for gap in range(1, 40):
        made = markdown_text._plain_markdown("word " * gap + "**bold** end\n\n- item **x**\n\n> quote")
        every = " ".join(markdown_text._TAG.sub("", made).split())
        for limit in range(1, 60):
            first = markdown_text._first_words(made, limit)
            assert every.startswith(first) and (first == every or len(first) > limit), (gap, limit, first)
