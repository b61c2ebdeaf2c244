"""Reading untrusted YAML safely, and finding the line of any field afterwards.

Records arrive as pull requests from outside the team, so parsing refuses what PyYAML would
otherwise accept quietly: duplicate keys, aliases (the root of "billion laughs" bombs), tags
outside the core schema, dates that do not exist, and deep nesting. Values are built straight
from the parser's events, without PyYAML's composer and constructors: the composer recurses in
C (tens of thousands of levels, which `- - - ...` reaches in a small file, crash the process)
and the two together took most of the time to read a record. Valid records take libyaml's
parser and remember no positions; only a record with a problem is parsed a second time, by the
pure-Python parser, to find the line of the offending field.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import yaml
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)

_FastLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_DEPTH = 200  # records need a handful of levels; this keeps every structure small
# Characters YAML does not allow in a file (control characters other than tab and line breaks,
# and two non-characters), refused with their place before parsing. libyaml and PyYAML's own
# reader disagree on some of them, so leaving them to the parser would be inconsistent.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
# Printable ASCII and the line feed: what the bytes of a record are nearly all made of. Taken out
# of valid UTF-8, they leave the UTF-8 of every other character, in order.
_PRINTABLE_ASCII = bytes(range(0x20, 0x7F)) + b"\n"

ALLOWED_TAGS = {
    "tag:yaml.org,2002:" + t for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp")
}
_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"
_SCALAR_CONSTRUCTORS = {
    "tag:yaml.org,2002:int": yaml.SafeLoader.construct_yaml_int,
    "tag:yaml.org,2002:float": yaml.SafeLoader.construct_yaml_float,
    "tag:yaml.org,2002:bool": yaml.SafeLoader.construct_yaml_bool,
    "tag:yaml.org,2002:null": yaml.SafeLoader.construct_yaml_null,
    _TIMESTAMP: yaml.SafeLoader.construct_yaml_timestamp,
}


class SourceError(Exception):
    """A problem in the text itself, with the 1-based line and column where it is.

    `loc` is the path of keys and list indexes to the value at fault, when the problem is
    inside the document, so the message can name the field.
    """

    def __init__(self, message: str, line: int = 0, column: int = 0, hint: str = "",
                 loc: tuple[str | int, ...] = ()):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.hint = hint
        self.loc = loc


def _mark(node_or_mark) -> tuple[int, int]:
    mark = getattr(node_or_mark, "start_mark", node_or_mark)
    if mark is None:
        return 0, 0
    return mark.line + 1, mark.column + 1


class _Loader(_FastLoader):
    """libyaml's parser."""


class _TrackingLoader(yaml.SafeLoader):
    """The pure-Python parser, used only to locate the fields of records with problems."""


def _yaml12_booleans(loader) -> None:
    """Only true/false are booleans, as in YAML 1.2: otherwise Norway's code NO reads as False."""
    bool_tag = "tag:yaml.org,2002:bool"
    resolvers = {
        first: [(tag, regexp) for tag, regexp in entries if tag != bool_tag]
        for first, entries in loader.yaml_implicit_resolvers.items()
    }
    loader.yaml_implicit_resolvers = resolvers
    loader.add_implicit_resolver(
        bool_tag, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )


for _loader in (_Loader, _TrackingLoader):
    _yaml12_booleans(_loader)
_PLAIN_LOADER = _TrackingLoader("")  # for its resolver and constructors, which read no text

_NO_KEY = object()
_RESOLVED: dict[str, str] = {}  # plain text -> tag; both loaders resolve alike


class _Open:
    """A mapping or list being filled, and for a mapping the key waiting for its value."""

    __slots__ = ("value", "is_map", "key", "key_mark", "start")

    def __init__(self, value, is_map: bool, start):
        self.value = value
        self.is_map = is_map
        self.key = _NO_KEY
        self.key_mark = None
        self.start = start


def _build(loader, positions: dict[int, dict] | None = None):
    """The document's value from the parser's events, refusing what a record must not contain.

    With `positions`, remembers the line and column of every mapping key and list item (by the
    id of its container; the containers stay alive in the returned value). Runs for every event
    of every record, so the container being filled is kept in `top` rather than looked up.
    """
    stack: list[_Open] = []
    top: _Open | None = None
    root = None
    documents = 0
    get_event = loader.get_event
    resolved = _RESOLVED
    while (event := get_event()) is not None:
        kind = event.__class__
        if kind is ScalarEvent:
            value = event.value
            tag = event.tag
            if tag is None or tag == "!":
                if event.implicit[0]:
                    # The tag of a plain value depends only on its text, and ids, dates and names
                    # repeat across records, so it is remembered.
                    tag = resolved.get(value)
                    if tag is None:
                        tag = loader.resolve(yaml.ScalarNode, value, event.implicit)
                        if len(resolved) < 50_000:
                            resolved[value] = tag
                else:
                    tag = _STR
            if tag == _STR:
                pass
            elif tag == _TIMESTAMP and len(value) == 10:  # YYYY-MM-DD, the only 10-character timestamp
                try:
                    value = dt.date(int(value[:4]), int(value[5:7]), int(value[8:]))
                except ValueError:
                    raise _no_such_date(stack, event) from None
            elif tag == _MERGE and top is not None and top.is_map and top.key is _NO_KEY:
                raise _error(stack, "merge keys (<<) are not allowed in records", event)
            else:
                value = _scalar(loader, stack, tag, event)
            start = event.start_mark
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            tag = event.tag
            is_map = kind is MappingStartEvent
            if tag is not None and tag != "!" and tag != (_MAP if is_map else _SEQ):
                raise _tag_error(stack, tag, event)
            if len(stack) >= MAX_DEPTH:
                # No field: a path hundreds of levels long would bury the message; the line says where.
                raise _error([], f"values are nested more than {MAX_DEPTH} levels deep", event,
                             "records need only a few levels of lists and mappings")
            top = _Open({} if is_map else [], is_map, event.start_mark)
            stack.append(top)
            continue
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            done = stack.pop()
            value, start = done.value, done.start
            top = stack[-1] if stack else None
        elif kind is AliasEvent:
            raise _error(stack, "anchors and aliases (& and *) are not allowed in records", event,
                         "write the value out in full")
        elif kind is DocumentStartEvent:
            documents += 1
            if documents > 1:
                raise SourceError("invalid YAML: expected a single document, but a second one starts here",
                                  *_mark(event), "remove the '---' line")
            continue
        else:  # stream start and end, document end
            continue

        if top is None:
            root = value
        elif not top.is_map:
            if positions is not None:
                positions.setdefault(id(top.value), {})[len(top.value)] = _mark(start)
            top.value.append(value)
        elif top.key is _NO_KEY:
            if value.__class__ is not str:
                raise _error(stack, f"field names must be text, not {type(value).__name__} {value!r}",
                             start, "put quotes around the name")
            if value in top.value:
                top.key = value
                raise _error(stack, f"duplicate field {value!r}", start,
                             "each field may appear once; remove or merge the repeated one")
            top.key = value
            top.key_mark = start
        else:
            top.value[top.key] = value
            if positions is not None:
                positions.setdefault(id(top.value), {})[top.key] = _mark(top.key_mark)
            top.key = _NO_KEY
    return root


def _scalar(loader, stack: list[_Open], tag: str, event):
    construct = _SCALAR_CONSTRUCTORS.get(tag)
    if construct is None:
        raise _tag_error(stack, tag, event)
    node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark)
    try:
        return construct(loader, node)
    except (ValueError, OverflowError):
        if tag == _TIMESTAMP and re.match(r"\d{4}-\d\d?-\d\d?", event.value):
            raise _no_such_date(stack, event) from None
    except (KeyError, IndexError, AttributeError, TypeError):
        pass  # an explicit tag on a value that does not fit it
    raise _error(stack, f"{event.value!r} does not fit its tag {tag!r}", event, "remove the tag")


def _no_such_date(stack: list[_Open], event) -> SourceError:
    return _error(stack, f"{event.value!r} is not a date that exists", event,
                  "write dates as YYYY-MM-DD, for example 2024-02-29 only in a leap year")


def _tag_error(stack: list[_Open], tag: str, event) -> SourceError:
    if tag in ALLOWED_TAGS:
        return _error(stack, f"the YAML tag {tag!r} does not fit this value", event, "remove the tag")
    return _error(stack, f"the YAML tag {tag!r} is not allowed", event,
                  "use plain text, numbers, dates, lists and mappings only")


def _error(stack: list[_Open], message: str, where, hint: str = "") -> SourceError:
    """A problem at `where` (an event or a mark), naming the field that is being read."""
    loc: list[str | int] = []
    for frame in stack:
        if frame.is_map:
            if frame.key is _NO_KEY:
                break
            loc.append(frame.key)
        else:
            loc.append(len(frame.value))
    return SourceError(message, *_mark(where), hint, tuple(loc))


# ----------------------------------------------------------------------------------------------
# The plain subset: records as CONTRIBUTING.md and `new` write them, read without libyaml.
#
# libyaml's events cost about half the time of reading a record, and walking them in Python the
# other half. Nearly every record is a mapping of `field: value` lines, where a value is a plain
# or simply quoted scalar, a one-line [list] or {mapping} of plain scalars, a literal `|` block,
# or a list of such one-line items under `field:`; regular expressions read those lines whole.
# Anything else (other indentation, comments after values, tabs, quotes with escapes, anchors,
# tags, a duplicate field, a value whose construction fails...) makes `_read_plain` give up and
# the record takes the full path above, which explains what is wrong. Whatever the subset
# accepts, libyaml reads as the same value (tests/test_source_plain.py compares the two).

class _NotPlain(Exception):
    """Outside the plain subset: read the record with libyaml instead."""


_FIRST = r"""[^-?:,\[\]{}#&*!|>'"%@` ]"""  # a plain scalar cannot start with an indicator or a space
_QUOTED = r""""[^"\\]*"|'[^']*'"""  # quoted, without escapes
# A plain scalar: ':' only before a character that keeps it going (': ' would start a mapping),
# no '#' at all (' #' starts a comment), and within [...] or {...} no flow indicator or '?'.
_BLOCK_TOKEN = re.compile(_FIRST + r"[^:#]*(?::[^ :#][^:#]*)*|" + _QUOTED)
_FLOW_TOKEN = re.compile(_FIRST + r"[^,?\[\]{}:#]*(?::[^ ,?\[\]{}:#][^,?\[\]{}:#]*)*|" + _QUOTED)
_KEY = r"[A-Za-z_][A-Za-z0-9_]{0,199}"
_KEY_LINE = re.compile("(" + _KEY + r"):(?: |$)")
_FLOW_SEQ = re.compile(r"\[[^\[\]{}]*\]")
# A {mapping} split into separators, keys and values, each value a [list] or a token whose
# own syntax is checked when it is first seen.
# A key only where a word starts: tried inside every long word, it would take quadratic time.
_FLOW_VALUE = r"\[[^\[\]{}]*\]|[^,\[\]{} ]+(?: +[^,\[\]{} ]+)*"
_FLOW_PAIR = re.compile(r"(?<![A-Za-z0-9_])(" + _KEY + r"): +(" + _FLOW_VALUE + ")")
_SEPARATORS = ["{}"] + ["|".join(["{"] + [","] * (n - 1) + ["}"]) for n in range(1, 100)]
_TEXT_KEYS: set[str] = set()  # keys known to be read as text


def _plain_value(text: str):
    """The value of a plain scalar, exactly as `_build` makes it."""
    tag = _RESOLVED.get(text)
    if tag is None:
        tag = _PLAIN_LOADER.resolve(yaml.ScalarNode, text, (True, False))
    if tag == _STR:
        return text
    if tag == _TIMESTAMP and len(text) == 10:
        try:
            return dt.date(int(text[:4]), int(text[5:7]), int(text[8:]))
        except ValueError:
            raise _NotPlain from None
    construct = _SCALAR_CONSTRUCTORS.get(tag)
    if construct is None:
        raise _NotPlain
    try:
        return construct(_PLAIN_LOADER, yaml.ScalarNode(tag, text))
    except Exception:  # noqa: BLE001 - libyaml's path reports it
        raise _NotPlain from None


class _Values(dict):
    """Token -> value, each token's syntax checked and value made once: ids, codes and dates
    repeat across records. Only immutable values are kept; a [list] is kept as a tuple of its
    items (a project's products, a record's languages...) and made anew from it each time."""

    def __init__(self, syntax: re.Pattern, flow: bool):
        super().__init__()
        self.syntax = syntax
        self.flow = flow
        self.lists: dict[str, tuple] = {}

    def __missing__(self, token: str):
        if self.flow and token[:1] == "[":
            items = self.lists.get(token)
            if items is None:
                inner = token[1:-1].strip(" ")
                items = tuple([self[item.strip(" ")] for item in inner.split(",")] if inner else ())
                if len(self.lists) < 50_000:
                    self.lists[token] = items
            return list(items)
        if self.syntax.fullmatch(token) is None:
            raise _NotPlain
        value = token[1:-1] if token[0] == '"' or token[0] == "'" else _plain_value(token)
        if len(self) < 50_000:
            self[token] = value
        return value


_BLOCK_VALUES = _Values(_BLOCK_TOKEN, flow=False)
_FLOW_VALUES = _Values(_FLOW_TOKEN, flow=True)


def _keys_are_text(keys) -> bool:
    for key in keys:
        if key not in _TEXT_KEYS:
            if _plain_value(key).__class__ is not str:
                return False
            if len(_TEXT_KEYS) < 10_000:
                _TEXT_KEYS.add(key)
    return True


def _line_value(text: str):
    """A value written on one line: a [list], a {mapping} or a scalar."""
    first = text[:1]
    if first == "{":
        parts = _FLOW_PAIR.split(text)
        keys = parts[1::3]
        # Around and between the pairs only the braces, one comma each and spaces: written
        # "{a: b, c: d}" nearly always (keys and values are never ", "), else checked in full.
        count = len(keys)
        if parts[0] != "{" or parts[-1] != "}" or parts.count(", ") != count - 1:
            if count >= len(_SEPARATORS) or "|".join(parts[0::3]).replace(" ", "") != _SEPARATORS[count]:
                raise _NotPlain
        mapping = dict(zip(keys, map(_FLOW_VALUES.__getitem__, parts[2::3]), strict=False))
        if len(mapping) != count or not _TEXT_KEYS.issuperset(keys) and not _keys_are_text(keys):
            raise _NotPlain
        return mapping
    if first == "[":
        if _FLOW_SEQ.fullmatch(text) is None:
            raise _NotPlain
        return _FLOW_VALUES[text]
    if not first:
        raise _NotPlain
    return _BLOCK_VALUES[text]


class _Shape:
    """The keys of a list's first {mapping} item, in order, and a pattern that reads an item
    written with the same keys in the same order, "{key: value, key: value}", in one match.

    A list of certifications or projects is tens of such items; `_line_value` takes each apart
    with a search for keys, then checks what is around them, which took half the time to read
    a record. What the pattern matches `_line_value` reads as the same keys with the same values
    (each value the same token, checked and made by `_FLOW_VALUES` alike); an item it does not
    match goes to `_line_value`.
    """

    __slots__ = ("keys", "pattern")

    def __init__(self, keys: tuple[str, ...]):
        self.keys = keys
        self.pattern = re.compile(
            r"\{" + ", ".join(re.escape(key) + ": +(" + _FLOW_VALUE + ")" for key in keys) + r"\}")


_SHAPES: dict[tuple[str, ...], _Shape] = {}


def _shape(item) -> _Shape | None:
    if item.__class__ is not dict or not item:
        return None
    keys = tuple(item)  # text keys, distinct: `_line_value` made the mapping
    shape = _SHAPES.get(keys)
    if shape is None and len(_SHAPES) < 1000:
        shape = _SHAPES[keys] = _Shape(keys)
    return shape


def _item_value(text: str, shape: _Shape | None):
    """A list item's value: read with the shape of the list's first item if it matches."""
    if shape is not None:
        found = shape.pattern.fullmatch(text)
        if found is not None:
            return dict(zip(shape.keys, map(_FLOW_VALUES.__getitem__, found.groups()), strict=True))
    return _line_value(text)


def _read_plain(text: str) -> dict:
    """The record's fields if its text is in the plain subset; raises _NotPlain otherwise."""
    # isprintable() refuses tabs, carriage returns, U+0085, U+2028, U+2029 and the byte order
    # mark, which libyaml reads as line breaks or skips, and everything libyaml refuses.
    if not text.endswith("\n"):
        raise _NotPlain
    rest = text.encode("utf-8", "surrogatepass").translate(None, _PRINTABLE_ASCII)  # see decode
    if rest and not rest.decode("utf-8", "surrogatepass").isprintable():
        raise _NotPlain
    lines = text.split("\n")
    lines.pop()  # after the final line break
    count = len(lines)
    record: dict = {}
    i = 0
    while i < count:
        line = lines[i]
        i += 1
        first = line[:1]
        if not first or first == "#":
            continue
        if first == " ":
            rest = line.lstrip(" ")
            if not rest or rest[0] == "#":
                continue
            raise _NotPlain
        found = _KEY_LINE.match(line)
        if found is None:
            raise _NotPlain
        key = found.group(1)
        if key in record or key not in _TEXT_KEYS and not _keys_are_text((key,)):
            raise _NotPlain
        rest = line[found.end():].strip(" ")
        if not rest:  # a list of one-line items, or nothing
            items: list | None = None
            dash = ""  # the first item's indentation and "- "; every item has the same
            shape = None
            while i < count:
                line = lines[i]
                if dash and line.startswith(dash):
                    items.append(_item_value(line[len(dash):].strip(" "), shape))  # type: ignore[union-attr]
                else:
                    body = line.lstrip(" ")
                    if not dash and body[:2] == "- ":
                        dash = line[:len(line) - len(body) + 2]
                        items = [_line_value(body[2:].strip(" "))]
                        shape = _shape(items[0])
                    elif body and body[0] != "#":
                        break
                i += 1
            record[key] = items
        elif rest == "|":  # a literal block, its final line break kept
            block: list[str] = []
            first = lines[i] if i < count else ""
            spaces = len(first) - len(first.lstrip(" "))
            if not spaces or spaces == len(first):
                raise _NotPlain
            margin = " " * spaces
            while i < count:
                line = lines[i]
                if line.startswith(margin):
                    if not line.strip(" "):
                        raise _NotPlain  # a line of spaces only: left to libyaml
                    block.append(line[spaces:])
                elif not line:
                    block.append("")
                elif not line.strip(" "):
                    raise _NotPlain
                else:
                    break
                i += 1
            while not block[-1]:
                block.pop()
            record[key] = "\n".join(block) + "\n"
        else:
            record[key] = _line_value(rest)
    if not record:
        raise _NotPlain
    return record


def _parse(loader_class, text: str, positions: dict[int, dict] | None = None):
    loader = loader_class(text)
    try:
        return _build(loader, positions)
    finally:
        loader.dispose()


def decode(raw: bytes) -> str:
    """UTF-8 text, BOM allowed; anything else is refused with the place of the first bad byte."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        column = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise SourceError(
            f"the file is not valid UTF-8 (byte 0x{raw[e.start]:02x})",
            line,
            column,
            "save the file as UTF-8",
        ) from None
    # The characters other than printable ASCII are few; only a file with one that could be a
    # control character is searched in full (the search took a tenth of the time to read a record).
    rest = raw.translate(None, _PRINTABLE_ASCII)
    bad = _CONTROL.search(text) if rest and _CONTROL.search(rest.decode("utf-8")) else None
    if bad:
        at = bad.start()
        raise SourceError(
            f"the file contains the control character U+{ord(bad.group()):04X}",
            text.count("\n", 0, at) + 1,
            at - (text.rfind("\n", 0, at) + 1) + 1,
            "remove it; records are plain text",
        )
    return text


def parse_yaml(text: str, line_offset: int = 0):
    """Parse one YAML document strictly; errors carry lines counted in the whole file."""
    try:
        return _read_plain(text)
    except _NotPlain:
        pass
    try:
        return _parse(_Loader, text)
    except SourceError as e:
        if e.line:
            e.line += line_offset
        raise
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = _mark(mark)
        message = (e.problem or e.context or "invalid YAML").strip()
        if e.context and e.problem:
            message = f"{e.problem} ({e.context})"
        raise SourceError(
            f"invalid YAML: {message}",
            line + line_offset if line else 0,
            col,
            _yaml_hint(message, _character_at(text, line, col)),
        ) from None
    except yaml.YAMLError as e:
        raise SourceError(f"invalid YAML: {e}") from None


def _character_at(text: str, line: int, column: int) -> str:
    lines = text.split("\n")
    if 1 <= line <= len(lines) and 1 <= column <= len(lines[line - 1]):
        return lines[line - 1][column - 1]
    return ""


def _yaml_hint(message: str, character: str = "") -> str:
    if character == "\t":
        return "indent with spaces, not tabs"
    if "mapping values are not allowed" in message:
        return "put quotes around a value that contains ': '"
    if "tab character" in message or "found character '\\t'" in message:
        return "indent with spaces, not tabs"
    if "could not find expected ':'" in message:
        return "each line of a mapping is 'field: value'"
    if "unacceptable character" in message:
        return "remove control characters from the file"
    return ""


@dataclass(frozen=True)
class FrontMatter:
    yaml_text: str
    body: str
    yaml_line: int  # line of the file where the YAML starts (1-based)
    body_line: int


def split_front_matter(text: str) -> FrontMatter:
    """Split a Markdown record into its YAML front matter and its Markdown body."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise SourceError(
            "a Markdown record must start with a line '---', then the fields, then '---'",
            1,
            1,
            "see CONTRIBUTING.md for an example record",
        )
    for i in range(1, len(lines)):
        if lines[i].strip() in ("---", "..."):
            return FrontMatter("".join(lines[1:i]), "".join(lines[i + 1 :]), 2, i + 2)
    raise SourceError(
        "the front matter is not closed: add a line '---' after the last field",
        len(lines),
        1,
    )


def locate(text: str, loc: tuple, line_offset: int = 0) -> tuple[int, int]:
    """The line and column of the field at `loc`, or of its nearest existing parent.

    Runs only for records with a problem, so it can afford the slower pure-Python parser.
    """
    positions: dict[int, dict] = {}
    try:
        data = _parse(_TrackingLoader, text, positions)
    except (yaml.YAMLError, SourceError):
        return 0, 0
    best = (1, 1)
    node = data
    for key in loc:
        pos = positions.get(id(node), {})
        if key not in pos:
            break
        best = pos[key]
        node = node[key]
    return best[0] + line_offset, best[1]
