"""Problems found in records or rules: values with a location until the command line prints them.

Every stage reports problems instead of raising, so an editor sees all of them in one run.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong in one file, precise enough for an editor to jump to it."""

    path: str
    line: int = 0
    column: int = 0
    field: str = ""
    message: str = ""
    hint: str = ""
    # The location inside the document as keys and list indexes, used to find the line when
    # a stage (pydantic, cross-checks) only knows the field path.
    loc: tuple[str | int, ...] = dataclasses.field(default=(), compare=False)

    def text(self) -> str:
        where = self.path
        if self.line:
            where += f":{self.line}:{self.column or 1}"
        what = f"{self.field}: {self.message}" if self.field else self.message
        out = f"{where}: {what}"
        if self.hint:
            out += f" ({self.hint})"
        return inert(out)

    def github(self) -> str:
        """A GitHub Actions workflow command, so the error shows on the pull request's diff."""
        props = f"file={_escape_property(self.path)}"
        if self.line:
            props += f",line={self.line},col={self.column or 1}"
        if self.field:
            props += f",title={_escape_property(self.field)}"
        message = self.message + (f" ({self.hint})" if self.hint else "")
        return inert(f"::error {props}::{_escape_data(message)}")

    def as_json(self) -> dict:
        data = asdict(self)
        data["loc"] = list(self.loc)
        return data


class ProblemError(Exception):
    """Raised by a stage that cannot go on; carries every problem found so far."""

    def __init__(self, problems: list[Problem]):
        super().__init__("\n".join(p.text() for p in problems))
        self.problems = problems


def field_name(loc: tuple) -> str:
    """A location as an editor reads it: projects[2].country."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def relative(path: Path, root: Path | None = None) -> str:
    """Paths in messages are relative to the working folder when they can be: shorter, clickable.

    The file itself is not resolved: a symbolic link is named as the editor sees it, not by its target.
    """
    root = root or Path.cwd()
    try:
        return str((path.parent.resolve() / path.name).relative_to(root.resolve()))
    except ValueError:
        return str(path)


def format_problems(problems: list[Problem], fmt: str = "text") -> str:
    if fmt == "json":
        return json.dumps({"problems": [p.as_json() for p in problems]}, indent=2, default=str)
    return "\n".join(p.text() for p in problems)


# Messages quote what a record says. Printed raw, a control character (an escape sequence) would act on
# the terminal or CI log and a bidi control would reorder the line; they are printed as escapes.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def inert(text: str) -> str:
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(s: str) -> str:
    return _escape_data(s).replace(":", "%3A").replace(",", "%2C")
