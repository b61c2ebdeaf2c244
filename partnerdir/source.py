"""Reading untrusted YAML safely, and finding the line of any field afterwards.

Records arrive as pull requests from outside the team, so parsing refuses what PyYAML would
otherwise accept quietly: duplicate keys, anchors and aliases (the root of "billion laughs"
bombs), tags outside the core schema, dates that do not exist, and nesting deep enough to
crash the C parser. Valid records take the fast path (libyaml, no position tracking); only a
record with a problem is parsed a second time to find the line of the offending field.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import yaml

_FastLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# libyaml recurses in C: far fewer levels than this crash the process, so refuse them first.
MAX_FLOW_DEPTH = 200

ALLOWED_TAGS = {
    "tag:yaml.org,2002:" + t for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp")
}


class SourceError(Exception):
    """A problem in the text itself, with the 1-based line and column where it is."""

    def __init__(self, message: str, line: int = 0, column: int = 0, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.hint = hint


def _mark(node_or_mark) -> tuple[int, int]:
    mark = getattr(node_or_mark, "start_mark", node_or_mark)
    if mark is None:
        return 0, 0
    return mark.line + 1, mark.column + 1


class _StrictConstructorMixin:
    """Constructor rules shared by the fast loader and the position-tracking one."""

    def construct_object(self, node, deep=False):
        if node in self.constructed_objects or node in self.recursive_objects:
            line, col = _mark(node)
            raise SourceError(
                "anchors and aliases (& and *) are not allowed in records",
                line,
                col,
                "write the value out in full",
            )
        if node.tag not in ALLOWED_TAGS:
            line, col = _mark(node)
            raise SourceError(
                f"the YAML tag {node.tag!r} is not allowed",
                line,
                col,
                "use plain text, numbers, dates, lists and mappings only",
            )
        return super().construct_object(node, deep=deep)

    def flatten_mapping(self, node):
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                line, col = _mark(key_node)
                raise SourceError("merge keys (<<) are not allowed in records", line, col)

    def construct_mapping(self, node, deep=False):
        if not isinstance(node, yaml.MappingNode):
            line, col = _mark(node)
            raise SourceError("expected a mapping", line, col)
        self.flatten_mapping(node)
        mapping: dict = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str):
                line, col = _mark(key_node)
                raise SourceError(
                    f"field names must be text, not {type(key).__name__} {key!r}",
                    line,
                    col,
                    "put quotes around the name",
                )
            if key in mapping:
                line, col = _mark(key_node)
                raise SourceError(
                    f"duplicate field {key!r}",
                    line,
                    col,
                    "each field may appear once; remove or merge the repeated one",
                )
            mapping[key] = self.construct_object(value_node, deep=deep)
            self._remember(mapping, key, key_node)
        return mapping

    def construct_yaml_map(self, node):
        # Built eagerly (not as a generator) so errors carry the right node.
        yield self.construct_mapping(node, deep=True)

    def construct_yaml_seq(self, node):
        items = []
        for i, child in enumerate(node.value):
            items.append(self.construct_object(child, deep=True))
            self._remember(items, i, child)
        yield items

    def construct_yaml_timestamp(self, node):
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError):
            line, col = _mark(node)
            raise SourceError(
                f"{node.value!r} is not a date that exists",
                line,
                col,
                "write dates as YYYY-MM-DD, for example 2024-02-29 only in a leap year",
            ) from None

    def _remember(self, container, key, node) -> None:
        """Position tracking hook; the fast loader remembers nothing."""


class _FastStrictLoader(_StrictConstructorMixin, _FastLoader):
    pass


class _TrackingLoader(_StrictConstructorMixin, yaml.SafeLoader):
    def __init__(self, stream):
        super().__init__(stream)
        self.positions: dict[int, dict] = {}
        self.keep: list = []

    def _remember(self, container, key, node) -> None:
        self.positions.setdefault(id(container), {})[key] = _mark(node)
        self.keep.append(container)


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


for _loader in (_FastStrictLoader, _TrackingLoader):
    _yaml12_booleans(_loader)
    _loader.add_constructor("tag:yaml.org,2002:map", _StrictConstructorMixin.construct_yaml_map)
    _loader.add_constructor("tag:yaml.org,2002:seq", _StrictConstructorMixin.construct_yaml_seq)
    _loader.add_constructor(
        "tag:yaml.org,2002:timestamp", _StrictConstructorMixin.construct_yaml_timestamp
    )


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
    nul = text.find("\x00")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise SourceError(
            "the file contains a NUL character",
            line,
            nul - (text.rfind("\n", 0, nul) + 1) + 1,
            "remove it; records are plain text",
        )
    return text


def _check_depth(text: str) -> None:
    depth = deepest = 0
    for m in re.finditer(r"[\[\]{}]", text):
        depth = depth + 1 if m.group() in "[{" else max(depth - 1, 0)
        if depth > deepest:
            deepest = depth
            if deepest > MAX_FLOW_DEPTH:
                line = text.count("\n", 0, m.start()) + 1
                raise SourceError(
                    f"values are nested more than {MAX_FLOW_DEPTH} levels deep",
                    line,
                    m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1,
                    "records need only a few levels of lists and mappings",
                )


def parse_yaml(text: str, line_offset: int = 0):
    """Parse one YAML document strictly; errors carry lines counted in the whole file."""
    try:
        _check_depth(text)
        return yaml.load(text, Loader=_FastStrictLoader)  # noqa: S506 - strict safe loader
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
            _yaml_hint(message),
        ) from None
    except yaml.YAMLError as e:
        raise SourceError(f"invalid YAML: {e}") from None
    except RecursionError:
        raise SourceError("values are nested too deeply") from None


def _yaml_hint(message: str) -> str:
    if "mapping values are not allowed" in message:
        return "put quotes around a value that contains ': '"
    if "found character '\\t'" in message or "\\t" in message:
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
    try:
        loader = _TrackingLoader(text)
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
    except (yaml.YAMLError, SourceError, RecursionError):
        return 0, 0
    best = (1, 1)
    node = data
    for key in loc:
        pos = loader.positions.get(id(node), {})
        if key not in pos:
            break
        best = pos[key]
        node = node[key]
    return best[0] + line_offset, best[1]
