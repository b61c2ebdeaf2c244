"""Command-line entry point: parse arguments, call the pipeline, print, set the exit code."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import sys
from pathlib import Path

from .problems import ProblemError, format_problems
from .project import ROOT, Paths, as_of_date

COMMANDS = ("build", "check", "schema", "explain", "serve", "new", "diff")
# Each command with a module of its own exposes run(args, paths, as_of) -> exit code.
COMMAND_MODULES = {"build": "pipeline", "explain": "explain", "serve": "serve", "new": "new", "diff": "diff"}


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a date written as YYYY-MM-DD") from None


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--content", type=Path, help="folder of partner records (default: content/partners)")
    p.add_argument("--data", type=Path, help="program rules (default: data/programs.yaml)")
    p.add_argument("--as-of", type=_date, metavar="YYYY-MM-DD",
                   help="the day statuses are computed for "
                        "(default: SOURCE_DATE_EPOCH's date, else today, UTC)")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="build.py", description="Build the partner directory site.")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("build", help="validate the records and build the site (the default)")
    _common(p)
    p.add_argument("--out", type=Path, help="output folder (default: site)")
    p.add_argument("--base-url", help="public address of the site, e.g. https://org.github.io/partners/")
    p.add_argument("--no-search", action="store_true", help="skip the Pagefind index (quicker local builds)")
    p.add_argument("--templates", type=Path, help="templates folder (default: templates)")
    p.add_argument("--cache", type=Path,
                   help="folder of what later builds reuse (default: .cache; keep it between CI runs)")

    p = sub.add_parser("check", help="validate records and programs.yaml; report every problem")
    _common(p)
    p.add_argument("--format", choices=("text", "json"), default="text")

    p = sub.add_parser("schema", help="write schema/partner.schema.json for editors' autocomplete")
    p.add_argument("--data", type=Path)
    p.add_argument("--check", action="store_true", help="exit 1 if the committed schema is stale")

    p = sub.add_parser("explain", help="show how a partner's status level is earned")
    _common(p)
    p.add_argument("slug")
    p.add_argument("--format", choices=("text", "json"), default="text")

    p = sub.add_parser("serve", help="build, serve on localhost and rebuild on every change")
    _common(p)
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--out", type=Path,
                   help="output folder (default: .cache/preview, so a preview never replaces site/)")
    p.add_argument("--templates", type=Path, help="templates folder (default: templates)")
    p.add_argument("--no-search", action="store_true", help="skip the Pagefind index")

    p = sub.add_parser("new", help="write a new partner record to fill in")
    p.add_argument("name", help='the partner\'s name, e.g. "Northwind Integration GmbH"')
    p.add_argument("--format", choices=("yaml", "md"), default="yaml")
    p.add_argument("--content", type=Path, help="folder of partner records (default: content/partners)")
    p.add_argument("--slug", help="page address to use instead of one made from the name")

    p = sub.add_parser("diff", help="status changes between two git revisions, for pull request reviews")
    p.add_argument("base", help="git revision to compare with, e.g. origin/main")
    p.add_argument("head", nargs="?", help="git revision (default: the working tree)")
    _common(p)
    p.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    return ap


def _paths(args) -> Paths:
    base = Paths()
    values = {}
    for name, attr in (("content", "content"), ("data", "rules"), ("templates", "templates"), ("out", "out"),
                       ("cache", "cache")):
        value = getattr(args, name, None)
        if value is not None:
            values[attr] = value.resolve()
    if "templates" in values:
        values["static"] = values["templates"] / "static"
    return Paths(**{**base.__dict__, **values})


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help")):
        argv.insert(0, "build")
    args = parser().parse_args(argv)
    command = COMMAND_MODULES.get(args.command)
    try:
        if command is None:
            return {"check": cmd_check, "schema": cmd_schema}[args.command](args)
        module = importlib.import_module(f".{command}", __package__)
        return module.run(args, _paths(args), _as_of(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into `head` or similar: the reader is gone, which is not an error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _as_of(args) -> dt.date:
    return getattr(args, "as_of", None) or as_of_date()


def cmd_check(args) -> int:
    from .check import check, review  # here, so a build with nothing to do skips loading it

    as_of = _as_of(args)
    result = check(_paths(args), as_of)
    removed = review(result, as_of)
    if args.format == "json":
        print(json.dumps({"ok": result.ok, "partners": len(result.partners),
                          "problems": [p.as_json() for p in result.problems],
                          "removed": [{"slug": r.slug, "source": r.source, "review_date": r.review_date,
                                       "joined": r.joined} for r in removed]}, indent=2, default=str))
        return 0 if result.ok else 1
    if result.problems:
        print(format_problems(result.problems), file=sys.stderr)
        if os.environ.get("GITHUB_ACTIONS") == "true":
            for p in result.problems:
                print(p.github())
        n = len(result.problems)
        files = len({p.path for p in result.problems})
        print(f"\n{n} problem{'s' if n != 1 else ''} in {files} file{'s' if files != 1 else ''}.",
              file=sys.stderr)
        return 1
    n = len(result.partners)
    print(f"{n} partner record{' is' if n == 1 else 's are'} valid.")
    for r in removed:
        print(r.text(result.rules))
    return 0


def cmd_schema(args) -> int:
    from .rules import load_rules
    from .schema import SCHEMA_PATH, json_schema_text

    paths = _paths(args)
    try:
        rules = load_rules(paths.rules)
    except ProblemError as e:
        print(format_problems(e.problems), file=sys.stderr)
        return 1
    text = json_schema_text(rules)
    target = ROOT / SCHEMA_PATH
    if args.check:
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            print(f"{SCHEMA_PATH} is stale: run `python build.py schema` and commit it", file=sys.stderr)
            return 1
        print(f"{SCHEMA_PATH} is up to date.")
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    print(f"wrote {SCHEMA_PATH}")
    return 0
