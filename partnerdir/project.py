"""Where a project's inputs and outputs live, and which day the build describes."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Paths:
    content: Path = ROOT / "content" / "partners"
    rules: Path = ROOT / "data" / "programs.yaml"
    templates: Path = ROOT / "templates"
    static: Path = ROOT / "templates" / "static"
    out: Path = ROOT / "site"
    cache: Path = ROOT / ".cache"


def as_of_date(value: str | None = None, environ=os.environ) -> dt.date:
    """--as-of wins, then SOURCE_DATE_EPOCH (reproducible builds), then today in UTC."""
    if value:
        return dt.date.fromisoformat(value)
    epoch = environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        return dt.datetime.fromtimestamp(int(epoch), dt.UTC).date()
    return dt.datetime.now(dt.UTC).date()
