"""CONTRIBUTING.md is followed by people who cannot debug it: what it shows must be true."""

from __future__ import annotations

import datetime as dt
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from partnerdir.check import check
from partnerdir.cli import COMMANDS, parser
from partnerdir.project import ROOT, Paths

GUIDE = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
AS_OF = dt.date(2026, 11, 15)


def blocks(language: str) -> list[str]:
    return re.findall(rf"^ *```{language}\n(.*?)^ *```", GUIDE, flags=re.M | re.S)


def test_the_example_record_is_valid(tmp_path):
    [example] = [b for b in blocks("yaml") if b.startswith("# yaml-language-server")]
    content = tmp_path / "partners"
    (content / "logos").mkdir(parents=True)
    shutil.copy(ROOT / "content" / "partners" / "logos" / "northwind.svg", content / "logos")
    (content / "northwind-integration.yaml").write_text(example, encoding="utf-8")
    result = check(Paths(content=content), AS_OF)
    assert result.problems == []
    [partner] = result.partners
    assert partner.slug == "northwind-integration" and len(partner.projects) == 2


def test_the_problems_shown_are_what_check_prints_for_that_mistake(tmp_path):
    """The guide's example output comes from a `new` record with two typical slips."""
    [shown] = [b for b in blocks("text") if ": website:" in b]
    content = tmp_path / "content" / "partners"
    run = [sys.executable, str(ROOT / "build.py")]
    done = subprocess.run([*run, "new", "Zürich Café & Søn AG", "--content", str(content)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    path = content / "zurich-cafe-and-son-ag.yaml"
    text = path.read_text(encoding="utf-8")
    values = {"website": "www.zurich-cafe.example", "programs": "[certified-integrator]", "city": "Zürich",
              "country": "CH", "countries_served": "[CH]", "expertise": "[integration]", "languages": "[de]"}
    for key, value in values.items():
        text = re.sub(rf"^(\s*{key}):(?: \[\])?$", rf"\1: {value}", text, count=1, flags=re.M)
    text = text.replace("description: |\n", "description: |\n  Integration for Swiss cafés.\n")
    path.write_text(text, encoding="utf-8")
    # No --as-of: `new` dates the record's joining today, as it would for the reader.
    checked = subprocess.run([*run, "check", "--content", "content/partners"],
                             capture_output=True, text=True, cwd=tmp_path)
    assert checked.returncode == 1
    printed = [line for line in checked.stderr.splitlines() if line.startswith("content/")]
    assert printed == shown.strip().splitlines()


def commands() -> list[list[str]]:
    found = []
    for block in blocks("sh"):
        for line in block.splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("python build.py"):
                found.append(shlex.split(line)[2:])
    return found


@pytest.mark.parametrize("argv", commands(), ids=" ".join)
def test_every_command_in_the_guide_exists(argv):
    argv = list(argv)
    if not argv or argv[0] not in COMMANDS:
        argv.insert(0, "build")
    parser().parse_args(argv)  # argparse exits (failing the test) on an unknown command or option


def test_the_guide_shows_how_to_preview_and_check():
    assert {"new", "serve", "check", "diff", "explain"} <= {c[0] for c in commands()}
