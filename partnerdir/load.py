"""Stage 1: partner files on disk to raw documents, each remembering where it came from.

Both record formats come out the same: a `.md` record's Markdown body becomes its
`description`, so every later stage sees one shape.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .problems import Problem, field_name, relative
from .source import SourceError, decode, locate, parse_yaml, split_front_matter

RECORD_SUFFIXES = (".yaml", ".md")


@dataclass
class RawRecord:
    """A parsed but unchecked record."""

    path: Path
    shown: str  # the path as messages print it
    format: str  # "yaml" or "md"
    text: str  # the YAML text (the front matter, for .md)
    data: dict
    line_offset: int  # lines before the YAML text in the file
    body_line: int  # first line of the Markdown body, 0 for .yaml
    key: str | None = None  # what `read_record`'s `key` made of the file's path and bytes, if asked


def record_files(content_dir: Path) -> tuple[list[Path], list[Problem]]:
    """Every record file in the folder, in name order, and problems with files that are not records."""
    names, problems = record_names(content_dir)
    return [Path(name) for name in names], problems


def record_names(content_dir: Path) -> tuple[list[str], list[Problem]]:
    """`record_files` as the files' names (paths as strings): a rebuild that takes its 10,000
    records from the cache looks them up by name, and making a Path of each, to take its
    suffix, took 0.05 s of every such build."""
    problems: list[Problem] = []
    files: list[str] = []
    try:
        entries = sorted(os.scandir(content_dir), key=lambda e: e.name)
    except OSError as e:
        return [], [Problem(relative(content_dir), message=f"cannot read the records folder: {e.strerror}")]
    root = None
    for entry in entries:
        name = entry.name
        if name.startswith(".") or name == "logos":
            continue
        stem, dot, suffix = name.rpartition(".")
        suffix = (dot + suffix).lower() if stem else ""
        if entry.is_dir(follow_symlinks=False):
            if suffix in RECORD_SUFFIXES:
                problems.append(Problem(relative(Path(entry.path)), message="is a folder, not a record file",
                                        hint="a record is one file, <slug>.yaml or <slug>.md"))
            continue
        if suffix not in RECORD_SUFFIXES:
            if suffix == ".yml":
                problems.append(Problem(relative(Path(entry.path)), message="partner records end in .yaml",
                                        hint=f"rename it to {stem}.yaml"))
            elif name.lower() not in ("readme.md", "readme.txt"):
                problems.append(Problem(relative(Path(entry.path)), message="not a partner record",
                                        hint="records are <slug>.yaml or <slug>.md files"))
            continue
        if name.lower() == "readme.md":
            continue
        if entry.is_symlink():
            root = root or content_dir.resolve()
            if not Path(entry.path).resolve().is_relative_to(root):
                problems.append(Problem(relative(Path(entry.path)),
                                        message="is a link to a file outside content/partners",
                                        hint="commit the record itself, not a symbolic link"))
                continue
        files.append(entry.path)
    return files, problems


def shown_paths(paths: list[Path]) -> list[str]:
    """relative(path) for each path, resolving each folder once rather than every file's."""
    prefixes: dict[Path, str] = {}
    shown = []
    for path in paths:
        prefix = prefixes.get(path.parent)
        if prefix is None:
            prefix = prefixes[path.parent] = relative(path)[:-len(path.name)]
        shown.append(prefix + path.name)
    return shown


def read_record(path: Path, max_bytes: int, shown: str | None = None,
                key: Callable[[str, bytes], str] | None = None) -> RawRecord | Problem:
    """One record file to a RawRecord, or the first problem that stops it being read.

    `shown` is the path as messages print it, relative(path) if not given. `key`, if given,
    is called with str(path) and the bytes read, and its answer kept as the record's `key`:
    the build cache's content key, made from the very bytes that were checked (a cold build
    read every file a second time for it)."""
    shown = shown or relative(path)
    fmt = "md" if path.suffix.lower() == ".md" else "yaml"
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return Problem(shown, message=f"the file is {size:,} bytes, over the limit of {max_bytes:,}",
                           hint="shorten the description or the lists of projects and certifications")
        with open(path, "rb") as f:
            raw = f.read(max_bytes + 1)
    except OSError as e:
        return Problem(shown, message=f"cannot read the file: {e.strerror or e}")
    try:
        text = decode(raw)
        if fmt == "md":
            front = split_front_matter(text)
            data = parse_yaml(front.yaml_text, line_offset=front.yaml_line - 1)
            yaml_text, offset, body_line = front.yaml_text, front.yaml_line - 1, front.body_line
        else:
            data = parse_yaml(text)
            yaml_text, offset, body_line = text, 0, 0
    except SourceError as e:
        return Problem(shown, e.line, e.column, field_name(e.loc), e.message, e.hint, loc=e.loc)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return Problem(shown, offset + 1, 1, "", "a record must be a mapping of fields such as 'name: ...'",
                       "see CONTRIBUTING.md for an example record")
    if fmt == "md":
        if "description" in data:
            return Problem(shown, *locate(yaml_text, ("description",), offset), "description",
                           "a Markdown record takes its description from the text after the front matter",
                           "move the description below the closing '---' and remove the field",
                           loc=("description",))
        data["description"] = front.body
    return RawRecord(path, shown, fmt, yaml_text, data, offset, body_line,
                     key(str(path), raw) if key is not None else None)


def load(content_dir: Path, max_bytes: int) -> tuple[list[RawRecord], list[Problem]]:
    """Read every record, one after the other (`check.check_files` reads on every core)."""
    files, problems = record_files(content_dir)
    records: list[RawRecord] = []
    for path in files:
        result = read_record(path, max_bytes)
        if isinstance(result, Problem):
            problems.append(result)
        else:
            records.append(result)
    return records, problems
