"""The plain-subset reader gives exactly what libyaml gives, or steps aside.

`source._read_plain` reads most records with regular expressions instead of libyaml's events.
Whatever it accepts must come out identical (types included: True is not 1, a date is not a
datetime) to the strict event-based reading, and it must give up (raise _NotPlain) on anything
else, so that every refusal, message and line number still comes from the full path.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from partnerdir import source
from partnerdir.project import Paths
from partnerdir.source import SourceError, _NotPlain, _read_plain, parse_yaml, split_front_matter


def same(a, b) -> bool:
    """Equal values of identical types, all the way down, keys in the same order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def libyaml(text: str):
    return source._parse(source._Loader, text)


def pure(text: str):
    return source._parse(source._TrackingLoader, text)


def plain_or_none(text: str):
    try:
        return _read_plain(text)
    except _NotPlain:
        return None


def yaml_text(path) -> str:
    text = source.decode(path.read_bytes())
    return split_front_matter(text).yaml_text if path.suffix == ".md" else text


SAMPLES = sorted(Paths().content.glob("*.*"))


def generated(tmp_path_factory, n=120):
    from benchmarks.generate import generate

    return generate(n, tmp_path_factory.mktemp("generated"), seed=7, fmt="mixed")


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> list[str]:
    return [yaml_text(p) for p in SAMPLES + generated(tmp_path_factory)]


def test_every_sample_and_generated_record_takes_the_plain_path_and_reads_the_same(records):
    """Otherwise the fast path would be dead code: all of these are in the subset."""
    assert len(records) > 150
    for text in records:
        fast = _read_plain(text)
        assert same(fast, libyaml(text))
        assert same(fast, pure(text))
    # .yaml records with a literal description block, .md front matter, quoted "NO"
    assert any("description: |" in text for text in records)
    assert any('"NO"' in text for text in records)


@pytest.mark.parametrize("text", [
    "a: 1\n",
    "a: 1\nb: 2\n",
    "a: -1\n",
    "a: 1_000\n",
    "a: 0x1F\n",
    "a: 0o17\n",
    "a: 1.5e3\n",
    "a: .inf\n",
    "a: ~\n",
    "a: null\n",
    "a: Null\n",
    "a: NO\n",
    "a: yes\n",
    "a: True\n",
    "a: 2024-02-29\n",
    "a: 2024-02-30\n",
    "a: 2024-1-5\n",
    "a: 2024-01-05 10:00:00\n",
    "a: 2024-01-05T10:00:00Z\n",
    "a: '2024-01-05'\n",
    'a: "x"\n',
    "a: \"x # y\"\n",
    "a: 'it''s'\n",
    'a: "a\\tb"\n',
    "a: x # comment\n",
    "a: x#y\n",
    "a: C# and F#\n",
    "a: x: y\n",
    "a: x:y\n",
    "a: x:\n",
    "a: https://example.com/a?b=c#d\n",
    "a: [https://example.com/a, b]\n",
    "a: {u: https://example.com/a}\n",
    "a: {u: a:b}\n",
    "a: {u: a: b}\n",
    "a: {u:b}\n",
    "a: {u: b,c: d}\n",
    "a: {u: b , c: d}\n",
    "a: { u: b }\n",
    "a: {}\n",
    "a: { }\n",
    "a: []\n",
    "a: [ ]\n",
    "a: [,]\n",
    "a: [a,]\n",
    "a: [a,,b]\n",
    "a: [a, [b]]\n",
    "a: [a b, c  d]\n",
    "a: [a?b]\n",
    "a: [?a]\n",
    "a: [a: b]\n",
    "a: [a:b]\n",
    "a: ['x, y']\n",
    "a: [\"x\", 'y', z]\n",
    "a: {b: [c, d], e: f}\n",
    "a: {b: [c, d]e: f}\n",
    "a: {, b: [c]e: f}\n",
    "a: {b: c} x\n",
    "a: {b: c}}\n",
    "a: {b: c, b: d}\n",
    "a: {true: c}\n",
    "a: {null: c}\n",
    "a: {b: {c: d}}\n",
    "a: {b: c\n",
    "a: [b\n",
    "a: b]\n",
    "a: b, c\n",
    "a: b [c] {d}\n",
    "a: &x b\n",
    "a: *x\n",
    "a: !!str b\n",
    "a: !b c\n",
    "a: b &c\n",
    "a: |b\n",
    "a: >\n  folded\n",
    "a: |-\n  x\n",
    "a: |\n  x\n",
    "a: |\n  x\n\n\n",
    "a: |\n  x\n\n  y\n",
    "a: |\n  x\n    indented\n  y\nb: 1\n",
    "a: |\n  x\n  \n  y\n",
    "a: |\n  x\n \n",
    "a: |\n  x\n# comment\nb: 1\n",
    "a: |\n  x\n# comment\n  y\n",
    "a: |\n  x\n y\n",
    "a: |\n\n  x\n",
    "a: |\nb: 1\n",
    "a: |\n",
    "a: |  \n  x\n",
    "a: | # c\n  x\n",
    "a: |\n  # not a comment\n  x: y\n",
    "a:\n",
    "a:\nb: 1\n",
    "a:\n\nb: 1\n",
    "a:\n  - x\n  - y\n",
    "a:\n- x\n- y\nb: 1\n",
    "a:\n  - x\n - y\n",
    "a:\n  - x\n    - y\n",
    "a:\n  - x\n  # c\n\n  - y\n",
    "a:\n  - x\n  -\n",
    "a:\n  - \n",
    "a:\n  -x\n",
    "a:\n  - - x\n",
    "a:\n  - x: y\n",
    "a:\n  - {x: y}\n  - [1, 2]\n  - z\n",
    "a:\n  - x\n    y\n",
    "a:\n  b: c\n",
    "a: x\n  y\n",
    "a: x\n  - y\n",
    "a: 1\na: 2\n",
    "a: 1\n---\nb: 2\n",
    "---\na: 1\n",
    "a: 1\n...\n",
    "%YAML 1.2\n---\na: 1\n",
    "  a: 1\n",
    "true: 1\n",
    "null: 1\n",
    "a b: 1\n",
    "a-b: 1\n",
    "a : 1\n",
    "a:1\n",
    "<<: {b: 1}\n",
    "a: <<\n",
    "a: =\n",
    "? a\n: 1\n",
    "a: 1",
    "",
    "# only a comment\n",
    "a: x\tb\n",
    "a:\tx\n",
    "a: x\r\n",
    "a: x\u2028y\n",
    "a: x\x85y\n",
    "a: \ufeffx\n",
    "a: x\x00y\n",
    "a: x\ud800y\n",
    "a: \u00a0x\n",
    "a: Zürich\n",
    "a: 東京\n",
    "a: 🙂\n",
    "a: x\u200by\n",
    "a: " + "x" * 2000 + "\n",
    "k" * 300 + ": 1\n",
])
def test_edge_cases_read_the_same_or_step_aside(text):
    fast = plain_or_none(text)
    if fast is None:
        return
    assert same(fast, libyaml(text)), (text, fast)
    assert same(fast, pure(text)), (text, fast)


def test_the_edge_cases_do_use_the_plain_path_where_they_should():
    """A few that must be read fast (the fuzz below only proves that accepting is safe)."""
    assert _read_plain("a: {b: [c, d], e: f}\n") == {"a": {"b": ["c", "d"], "e": "f"}}
    assert _read_plain("a: [\"NO\", 'x', 1, 2024-02-29]\n") == {"a": ["NO", "x", 1, dt.date(2024, 2, 29)]}
    assert _read_plain("a: |\n  x\n\n  y\n\n") == {"a": "x\n\ny\n"}
    assert _read_plain("a:\n- x\nb:\n  - {c: d}\n") == {"a": ["x"], "b": [{"c": "d"}]}
    assert _read_plain("a: x:y\n") == {"a": "x:y"}
    # Items after the first with its keys are read with its shape; others as the first was.
    assert _read_plain("a:\n- {b: c, d: [e]}\n- {b: 1, d: []}\n- {d: x, b: y}\n- {b: z}\n") == {
        "a": [{"b": "c", "d": ["e"]}, {"b": 1, "d": []}, {"d": "x", "b": "y"}, {"b": "z"}]}
    for text in ("a: 2024-02-30\n", "a: {b: c, b: d}\n", "a: x # c\n", "a: 1\na: 2\n", "a: 1",
                 "a:\n- {b: c}\n- {b: 2024-02-30}\n", "a:\n- {b: c, d: e}\n- {b: c, d: e # f}\n"):
        with pytest.raises(_NotPlain):
            _read_plain(text)


# Pieces of YAML syntax, to break records in every way a pull request might.
_NOISE = st.text(alphabet=list(" \n-:,[]{}#&*!|>'\"%@`?~=<.\\0123xyz_YNtT\u00a0\u2028é") + ["\t", "\r"],
                 max_size=6)


@settings(max_examples=600, deadline=None)
def reads_alike_or_steps_aside(text: str) -> None:
    """The plain path either declines `text` or reads it exactly as libyaml and PyYAML do."""
    fast = plain_or_none(text)
    if fast is None:
        return
    try:
        reference = libyaml(text)
    except SourceError as e:  # pragma: no cover - a failure explains itself
        pytest.fail(f"the plain path accepted what libyaml refuses ({e.message}):\n{text}")
    assert same(fast, reference), text
    assert same(fast, pure(text)), text


@settings(deadline=None)  # (a whole record read three ways: 330 ms once, on a busy machine)
@given(data=st.data())
def test_a_mangled_record_reads_the_same_or_steps_aside(records, data):
    """Noise inserted anywhere in a record: the plain path accepts only what libyaml reads alike."""
    text = data.draw(st.sampled_from(records[:60]))
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(text)))
        cut = data.draw(st.integers(0, 3))
        text = text[:at] + data.draw(_NOISE) + text[at + cut:]
    reads_alike_or_steps_aside(text)


_WORDS = ["x", "y z", "NO", "1", "1.5", "2024-02-29", "https://a.b/c", "x-y", "é", "q.r", "C#"]
_INDICATORS = ["2024-02-30", "null", "true", "'q'", '"q"', " ", "  ", "#", " #", ":", ": ", "?", "-", "- ",
               "'", '"', "&", "*", "!", "|", ">", ",", ", ", "[", "]", "{", "}", "%", "@", "`", "~", "<<",
               "\\", "\t", "\u2028"]
_PIECES = _WORDS * 2 + _INDICATORS  # mostly words, so that many texts are in the subset
_SCALAR = st.lists(st.sampled_from(_PIECES), min_size=1, max_size=4).map("".join)
_KEYS = st.sampled_from(["a", "b", "c", "d", "e", "f", "g", "true", "a b", "x:y", ""])
_SEQ = st.lists(_SCALAR, max_size=3).map(lambda items: "[" + ", ".join(items) + "]")
_MAP = st.lists(st.tuples(_KEYS, _SCALAR | _SEQ), max_size=3).map(
    lambda pairs: "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}")
_VALUE = _SCALAR | _SEQ | _MAP | st.sampled_from(["", "|", "|-", ">"])
_INDENT = st.sampled_from(["", " ", "  ", "    "])
_LINE = (
    st.tuples(_KEYS, _VALUE).map(lambda kv: f"{kv[0]}: {kv[1]}".rstrip(" ") if kv[1] else f"{kv[0]}:")
    | st.tuples(_INDENT, _SCALAR | _SEQ | _MAP).map(lambda iv: f"{iv[0]}- {iv[1]}")
    | st.tuples(_INDENT, _SCALAR).map("".join)
    | st.sampled_from(["", "  ", "# c", "  # c", "---", "..."])
)


@settings(max_examples=2000, deadline=None)
@given(lines=st.lists(_LINE, min_size=1, max_size=4))
def test_records_made_of_lines_read_the_same_or_step_aside(lines):
    """Lines of keys, [lists], {mappings}, items and blocks, with YAML's indicators in their values."""
    text = "\n".join(lines) + "\n"
    reads_alike_or_steps_aside(text)


def test_parse_yaml_errors_still_come_from_the_full_path():
    """A record outside the subset still gets its line, column, field and message."""
    with pytest.raises(SourceError) as e:
        parse_yaml("a: 1\nb: 2024-02-30\n", line_offset=3)
    assert (e.value.line, e.value.column, e.value.loc) == (5, 4, ("b",))
    assert "is not a date that exists" in e.value.message
    with pytest.raises(SourceError) as e:
        parse_yaml("a: {b: 1, b: 2}\n")
    assert e.value.message == "duplicate field 'b'"


@pytest.mark.parametrize("text", [
    "a: {" + "a" * 1_000_000 + "}\n",
    "a: {" + "a: b" * 200_000 + "}\n",
    "a: " + "a:" * 500_000 + "\n",
    "a: [" + "a," * 500_000 + "]\n",
])
def test_long_lines_take_linear_time(text):
    """Hostile text must not make the regular expressions backtrack for seconds."""
    import time

    start = time.process_time()
    plain_or_none(text)
    assert time.process_time() - start < 1.0


# Written by hand: YAML's corners that a reader of "plain" lines could get wrong.
_CORNERS = [
    "name: a\nx: 'it''s'\n", 'name: a # c\n', 'name: 0x1F\n', 'name: 1e3\n', 'name: .inf\n',
    'name: ~\n', 'name: yes\n', 'name: NO\n', 'name: 2026-02-30\n', 'name: 2026-1-5\n', 'name: 12:30\n',
    'name: 1_000\n', 'name: +1\n', 'name: 0o17\n', 'name: 017\n', 'name: a\n  b\n', 'k: [a, b,]\n',
    'k: {a: b, a: c}\n', 'k: {a: [x, y], b: z}\n', "k: {a: 'x, y'}\n", 'k: [a, [b]]\n',
    'k: |\n  a\n\n  b\n\n\n', 'k: |\n    a\n  b\n', 'k:\n- a\n- b\n', 'k:\n  - a\n  - b\n other: x\n',
    'k:\n  - a\n   - b\n', 'k: "a\\tb"\n', 'k: "a#b"\n', 'k: a: b\n', 'k: -a\n', 'k: - a\n', 'k: ? a\n',
    'k: a,b\n', 'k: {a: b}x\n', 'k: [a]  \n', 'k: {a: b,c: d}\n', 'k: {a:b}\n', 'k: {a: b , c: d}\n',
    'k: !!str 1\n', 'Yes: 1\n', 'null: 1\n', '1: a\n', "k: 'a' b\n", 'k: ""\n', "k: ''\n", 'k: []\n',
    'k: {}\n', 'k: [ ]\n', 'k: { }\n', 'k:  \n', 'k: <b>\n', 'k: @x\n', 'k: 2026-11-15T10:00:00\n',
    'k: 2026-11-15 10:00\n', 'k: 1.0\n', 'k: -.5\n', 'k: 1e-3\n', 'k: 0.\n', 'k: =\n', 'k: <<\n',
    '<<: {a: b}\n', 'k: {<<: {a: b}}\n', 'k: [a, b]\n---\nx: 1\n', 'k: a\n...\n', 'k: x\n  # c\n',
    'k: |\n  a\n# c\n  b\n',
]


@pytest.mark.parametrize("text", _CORNERS)
def test_yaml_corners_read_the_same_or_step_aside(text):
    reads_alike_or_steps_aside(text)


_ITEM_KEYS = st.lists(st.sampled_from(["a", "b", "c", "true", "x:y"]), min_size=1, max_size=3, unique=True)


@settings(max_examples=1500, deadline=None)
@given(data=st.data())
def test_list_items_written_like_the_first_read_the_same_or_step_aside(data):
    """A list of {mapping} items, most with the first item's keys (read with its shape after the
    first), some with others, with YAML's indicators in their values and odd spacing."""
    keys = data.draw(_ITEM_KEYS)
    items = []
    for _ in range(data.draw(st.integers(2, 4))):
        these = keys if data.draw(st.integers(0, 3)) else data.draw(_ITEM_KEYS)
        pairs = [f"{k}{data.draw(st.sampled_from([': ', ': ', ':  ', ':']))}{data.draw(_SCALAR | _SEQ)}"
                 for k in these]
        items.append("- {" + data.draw(st.sampled_from([", ", ", ", ",", " , "])).join(pairs) + "}")
    reads_alike_or_steps_aside("x:\n" + "\n".join(items) + "\n")
