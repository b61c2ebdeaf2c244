"""`build.py new`: a record a partner can fill in without reading the documentation."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import pytest

from partnerdir.check import check
from partnerdir.new import slug_from_name
from partnerdir.project import ROOT, Paths
from partnerdir.source import parse_yaml, split_front_matter


def today() -> dt.date:
    """The date `new` writes as `joined` (its as-of date by default): asked when it is needed,
    not once when the tests start, which broke these tests when a run crossed midnight."""
    return dt.datetime.now(dt.UTC).date()


# What a partner types into the empty values of the scaffold.
FILLED = {
    "website": "https://northwind.example",
    "city": "Hamburg",
    "country": "DE",
    "programs": "[certified-integration-partner]",
    "countries_served": "[DE, AT]",
    "expertise": "[integration, api-management]",
    "languages": "[de, en]",
}
DESCRIPTION = "Northwind builds **integration** platforms for logistics companies."


def run_new(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "build.py"), "new", *args],
                          capture_output=True, text=True, cwd=ROOT)


def fill_in(text: str, fmt: str) -> str:
    """Do what the comments ask: put a value after each empty key and write the description."""
    for key, value in FILLED.items():
        text, n = re.subn(rf"^(\s*{key}):(?: \[\])?$", rf"\1: {value}", text, count=1, flags=re.M)
        assert n == 1, f"the scaffold has no empty '{key}' to fill in"
    if fmt == "yaml":
        text, n = re.subn(r"^description: \|\n", f"description: |\n  {DESCRIPTION}\n", text, flags=re.M)
        assert n == 1
    else:
        text = text.rstrip("\n") + f"\n{DESCRIPTION}\n"
    return text


@pytest.mark.parametrize("name, slug", [
    ("Northwind Integration GmbH", "northwind-integration-gmbh"),
    ("Zürich Café & Søn AG", "zurich-cafe-and-son-ag"),
    ("  Łódź   Solutions -- S.A. ", "lodz-solutions-s-a"),
    ("Straße Ærø Consulting", "strasse-aero-consulting"),
    ("O’Reilly Systems", "oreilly-systems"),
    ("東京", ""),
])
def test_slug_folds_accents_and_keeps_letters_digits_and_single_hyphens(name, slug):
    assert slug_from_name(name) == slug


def test_long_names_are_cut_at_a_word_boundary():
    slug = slug_from_name("Very " * 30 + "Long Name")
    assert len(slug) <= 80 and not slug.endswith("-") and slug.startswith("very-very")


@pytest.mark.parametrize("fmt", ["yaml", "md"])
def test_scaffold_validates_once_the_empty_values_are_filled_in(tmp_path, fmt):
    content = tmp_path / "partners"
    before = today()
    done = run_new("Northwind Integration GmbH", "--format", fmt, "--content", str(content))
    assert done.returncode == 0, done.stderr
    path = content / f"northwind-integration-gmbh.{fmt}"
    assert f"Wrote {path}." in done.stdout
    assert "python build.py serve" in done.stdout and "python build.py check" in done.stdout

    text = path.read_text(encoding="utf-8")
    yaml_text = split_front_matter(text).yaml_text if fmt == "md" else text
    assert yaml_text.splitlines()[0] == "# yaml-language-server: $schema=../../schema/partner.schema.json"
    data = parse_yaml(yaml_text)
    from partnerdir.schema import FIELD_ORDER
    expected = [f for f in FIELD_ORDER if not (fmt == "md" and f == "description")]
    assert list(data) == expected, "every field is present, in schema order"
    for line in yaml_text.splitlines():
        assert len(line) <= 100, f"line too long for an editor window: {line!r}"

    # As written, check points at every value still to fill in, and nothing else.
    paths = Paths(content=content)
    unfilled = check(paths, today())
    fields = {p.field.split(".")[-1] for p in unfilled.problems}
    assert fields >= {"website", "programs", "city", "country", "expertise", "languages", "description"}
    assert not unfilled.partners

    path.write_text(fill_in(text, fmt), encoding="utf-8")
    on = today()
    filled = check(paths, on)
    assert filled.problems == []
    [partner] = filled.partners
    assert partner.name == "Northwind Integration GmbH" and partner.slug == "northwind-integration-gmbh"
    assert partner.description.strip() == DESCRIPTION
    assert before <= partner.joined <= on  # (the day it was written)


def test_commented_examples_are_valid_evidence_once_uncommented(tmp_path):
    """The comments tell the partner to delete [] and the # signs: doing exactly that must work."""
    content = tmp_path / "partners"
    assert run_new("Northwind", "--content", str(content)).returncode == 0
    path = content / "northwind.yaml"
    text = fill_in(path.read_text(encoding="utf-8"), "yaml")
    for key in ("certifications", "projects", "subscription_sales"):
        text = text.replace(f"{key}: []\n", f"{key}:\n")
    text = re.sub(r"^#(  +(?:- |  )\w+: )", r"\1", text, flags=re.M)
    path.write_text(text, encoding="utf-8")
    result = check(Paths(content=content), today())
    assert result.problems == []
    [partner] = result.partners
    assert len(partner.certifications) == 1 and len(partner.projects) == 1
    assert len(partner.subscription_sales) == 1


def test_refuses_to_overwrite_a_record_in_either_format(tmp_path):
    content = tmp_path / "partners"
    content.mkdir()
    (content / "northwind.md").write_text("---\nname: Keep me\n---\nmine\n", encoding="utf-8")
    for fmt in ("yaml", "md"):
        done = run_new("Northwind", "--format", fmt, "--content", str(content))
        assert done.returncode == 1
        assert "northwind.md already exists" in done.stderr and "nothing was written" in done.stderr
        assert "Traceback" not in done.stderr
    assert sorted(p.name for p in content.iterdir()) == ["northwind.md"]
    assert (content / "northwind.md").read_text(encoding="utf-8") == "---\nname: Keep me\n---\nmine\n"


def test_a_name_without_latin_letters_asks_for_a_slug(tmp_path):
    content = tmp_path / "partners"
    done = run_new("東京", "--content", str(content))
    assert done.returncode == 1 and "--slug" in done.stderr and "Traceback" not in done.stderr
    assert not content.exists() or not any(content.iterdir())
    done = run_new("東京", "--slug", "tokyo-systems", "--content", str(content))
    assert done.returncode == 0, done.stderr
    assert 'name: "東京"' in (content / "tokyo-systems.yaml").read_text(encoding="utf-8")


def test_a_bad_slug_is_refused(tmp_path):
    done = run_new("Northwind", "--slug", "North Wind", "--content", str(tmp_path))
    assert done.returncode == 1 and "not a valid slug" in done.stderr
    assert list(Path(tmp_path).iterdir()) == []
