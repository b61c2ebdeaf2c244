"""Descriptions convert the same with the inline patterns and block processors a text cannot use left out."""

from __future__ import annotations

import markdown
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from partnerdir import markdown_text
from partnerdir.markdown_text import _LinearLinks, _never_matching, _never_taking

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
