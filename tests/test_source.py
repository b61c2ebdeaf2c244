"""Strict YAML reading: what untrusted record text may contain, and where problems are."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from partnerdir.project import Paths
from partnerdir.source import (
    MAX_DEPTH,
    SourceError,
    _yaml12_booleans,
    decode,
    locate,
    parse_yaml,
    split_front_matter,
)


def error(text: str, line_offset: int = 0) -> SourceError:
    with pytest.raises(SourceError) as e:
        parse_yaml(text, line_offset)
    return e.value


@pytest.mark.parametrize("text, value", [
    ("c: NO", "NO"),  # Norway, not false (YAML 1.2 booleans)
    ("c: yes", "yes"),
    ("c: off", "off"),
    ("c: true", True),
    ("c: False", False),
    ("c: 2024-02-29", dt.date(2024, 2, 29)),
    ("c: '2024-02-30'", "2024-02-30"),  # quoted text is never a date
    ("c: 0x1F", 31),
    ("c: ~", None),
    ("c: !!str 12", "12"),
])
def test_scalars(text, value):
    assert parse_yaml(text) == {"c": value}


@pytest.mark.parametrize("text, line, column, loc, message", [
    ("a: 1\nb:\n  c: 1\n  c: 2\n", 4, 3, ("b", "c"), "duplicate field 'c'"),
    ("a: [1, {b: !!binary aGk=}]\n", 1, 12, ("a", 1, "b"),
     "the YAML tag 'tag:yaml.org,2002:binary' is not allowed"),
    ("a: !!set {x}\n", 1, 4, ("a",), "the YAML tag 'tag:yaml.org,2002:set' is not allowed"),
    ("a: !!python/name:os.system\n", 1, 4, ("a",), "is not allowed"),
    ("a: &x 1\nb: *x\n", 2, 4, ("b",), "anchors and aliases (& and *) are not allowed"),
    ("a: &x [1]\nb:\n  - 2\n  - *x\n", 4, 5, ("b", 1), "anchors and aliases"),
    ("a: &x [*x]\n", 1, 8, ("a", 0), "anchors and aliases"),
    ("a: &x k\n*x : 2\n", 2, 1, (), "anchors and aliases"),
    ("a: !!int x\n", 1, 4, ("a",), "'x' does not fit its tag 'tag:yaml.org,2002:int'"),
    ("a: !!bool x\n", 1, 4, ("a",), "'x' does not fit its tag 'tag:yaml.org,2002:bool'"),
    ("a: !!timestamp x\n", 1, 4, ("a",), "'x' does not fit its tag"),
    ("a: [!!seq x]\n", 1, 5, ("a", 0), "the YAML tag 'tag:yaml.org,2002:seq' does not fit this value"),
    ("a: !!str {b: 1}\n", 1, 4, ("a",), "the YAML tag 'tag:yaml.org,2002:str' does not fit this value"),
    ("a: 1\n---\nb: 2\n", 2, 1, (), "invalid YAML: expected a single document, but a second one starts here"),
    ("a: {b: 1}\nc:\n  <<: {d: 1}\n", 3, 3, ("c",), "merge keys (<<) are not allowed"),
    ("a:\n  - when: 2023-02-29\n", 2, 11, ("a", 0, "when"), "'2023-02-29' is not a date that exists"),
    ("? [a, b]\n: 1\n", 1, 3, (), "field names must be text, not list"),
    ("2024-01-01: x\n", 1, 1, (), "field names must be text, not date"),
])
def test_refused_constructs_name_their_field_and_line(text, line, column, loc, message):
    e = error(text)
    assert (e.line, e.column, e.loc) == (line, column, loc)
    assert message in e.message
    assert e.hint or "merge keys" in message


@pytest.mark.parametrize("text, line, hint", [
    ("a: b: c\n", 1, "put quotes around a value that contains ': '"),
    ("a:\n\tb: 1\n", 2, "indent with spaces, not tabs"),
    ("a: 1\n\tb: 2\n", 2, "indent with spaces, not tabs"),
    ("a: 1\nb\nc: 2\n", 3, "each line of a mapping is 'field: value'"),
    ("a: [1, 2\n", 2, ""),
])
def test_invalid_yaml_has_a_line_and_a_hint(text, line, hint):
    e = error(text)
    assert e.message.startswith("invalid YAML: ")
    assert e.line == line
    assert e.hint == hint


def test_lines_are_counted_in_the_whole_file():
    assert error("a: 1\na: 2\n", line_offset=1).line == 3
    assert error("a: [\n", line_offset=1).line == 3


def test_depth_limit():
    """The record itself is the first level."""
    ok = "a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    assert parse_yaml(ok) is not None
    e = error("a:\n  b: " + "[" * MAX_DEPTH)
    assert (e.line, e.column, e.loc) == (2, 6 + MAX_DEPTH - 2, ())
    assert e.message == f"values are nested more than {MAX_DEPTH} levels deep"


def test_block_nesting_too_deep_for_the_c_composer_is_refused():
    """`- - - ...` nests one level per two characters; 60,000 levels crashed libyaml's composer."""
    e = error("a: x\nb:\n  " + "- " * 60_000 + "z\n")
    assert e.message == f"values are nested more than {MAX_DEPTH} levels deep"
    assert e.line == 3


def test_many_indicators_without_nesting_are_fine():
    """Large valid records take the exact depth walk; it must not refuse them."""
    text = "items:\n" + "".join(f"  - {{a: 1-2, b: 'x:y', c: -{i}}}\n" for i in range(3000))
    data = parse_yaml(text)
    assert len(data["items"]) == 3000


@pytest.mark.parametrize("raw, text", [
    (b"a: 1\n", "a: 1\n"),
    (b"\xef\xbb\xbfa: 1\n", "a: 1\n"),
    ("a: Zürich\n".encode(), "a: Zürich\n"),
    (b"a: 1\r\nb:\t2\r\n", "a: 1\r\nb:\t2\r\n"),
])
def test_decode_accepts_utf8(raw, text):
    assert decode(raw) == text


@pytest.mark.parametrize("raw, line, column, message", [
    (b"a: 1\nb: Z\xfcrich\n", 2, 5, "the file is not valid UTF-8 (byte 0xfc)"),
    (b"\xff\xfea\x00", 1, 1, "the file is not valid UTF-8 (byte 0xff)"),
    (b"a: 1\nb: x\x00\n", 2, 5, "the file contains the control character U+0000"),
    ("a: 1\nb: Zür\x1bich\n".encode(), 2, 7, "the file contains the control character U+001B"),
])
def test_decode_refuses_other_encodings(raw, line, column, message):
    with pytest.raises(SourceError) as e:
        decode(raw)
    assert (e.value.line, e.value.column, e.value.message) == (line, column, message)


def test_front_matter():
    front = split_front_matter("---\nname: A\nslug: a\n---\nBody\n\nMore\n")
    assert front.yaml_text == "name: A\nslug: a\n"
    assert front.body == "Body\n\nMore\n"
    assert (front.yaml_line, front.body_line) == (2, 5)
    assert split_front_matter("---\nname: A\n...\nBody").body == "Body"


@pytest.mark.parametrize("text, line, message", [
    ("name: A\n", 1, "a Markdown record must start with a line '---'"),
    ("", 1, "a Markdown record must start with a line '---'"),
    ("---\nname: A\nBody\n", 3, "the front matter is not closed"),
])
def test_front_matter_problems(text, line, message):
    with pytest.raises(SourceError) as e:
        split_front_matter(text)
    assert e.value.line == line
    assert e.value.message.startswith(message)


TEXT = """\
name: A
projects:
  - title: X
    products: [api-manager, integrator]
  - {title: Y, country: DE}
"""


@pytest.mark.parametrize("loc, position", [
    (("name",), (1, 1)),
    (("projects",), (2, 1)),
    (("projects", 0, "products", 1), (4, 29)),
    (("projects", 1, "country"), (5, 16)),
    (("projects", 1, "missing"), (5, 5)),  # the nearest existing parent
    (("absent",), (1, 1)),
])
def test_locate(loc, position):
    assert locate(TEXT, loc) == position


def test_locate_counts_lines_in_the_whole_file():
    assert locate(TEXT, ("projects", 1), line_offset=1) == (6, 5)


def test_locate_does_not_fail_on_broken_text():
    assert locate("a: [", ("a",)) == (0, 0)


class _Reference(yaml.SafeLoader):
    """PyYAML's own composer and constructors, with the same YAML 1.2 booleans."""


_yaml12_booleans(_Reference)

plain_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
    | st.dates() | st.datetimes() | st.sampled_from(["NO", "yes", "~", "0x1F", "1_000", "2024-02-29", "<<"]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=25,
)


@settings(max_examples=200, deadline=None)
@given(data=plain_values, flow=st.booleans())
def test_values_are_built_as_pyyaml_builds_them(data, flow):
    """Values come from the parser's events, not PyYAML's constructors; they must be the same."""
    text = yaml.safe_dump({"v": data}, default_flow_style=flow, allow_unicode=True)
    assert parse_yaml(text) == yaml.load(text, Loader=_Reference)  # noqa: S506 - a safe loader


@pytest.mark.parametrize("path", sorted((Paths().content).glob("*.*")), ids=lambda p: p.name)
def test_sample_records_are_built_as_pyyaml_builds_them(path):
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".md":
        text = split_front_matter(text).yaml_text
    assert parse_yaml(text) == yaml.load(text, Loader=_Reference)  # noqa: S506 - a safe loader
