"""Whatever a pull request puts in a record file, `check` answers with problems, never a crash.

Property-based: arbitrary bytes, arbitrary YAML documents, YAML-looking token soup and random
mutations of a valid record all go through the real load and validate stages.
"""

from __future__ import annotations

import copy
import datetime as dt
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from partnerdir.load import load
from partnerdir.problems import Problem
from partnerdir.project import Paths
from partnerdir.rules import load_rules
from partnerdir.validate import Partner, validate

AS_OF = dt.date(2026, 11, 15)
RULES = load_rules(Paths().rules)
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VALID = {
    "name": "Northwind Integration GmbH",
    "website": "https://northwind.example",
    "joined": dt.date(2021, 3, 15),
    "programs": ["certified-integration-partner"],
    "headquarters": {"city": "Berlin", "country": "DE"},
    "countries_served": ["DE", "AT"],
    "regions_served": ["emea"],
    "remote_delivery": True,
    "expertise": ["api-management", "integration"],
    "industries": ["banking"],
    "languages": ["de", "en"],
    "contact": {"email": "partners@northwind.example", "url": "https://northwind.example/contact"},
    "description": "Integration specialists.\n",
    "certifications": [{"certification": "api-manager-developer", "holder": "NW-07",
                        "issued": dt.date(2024, 2, 1), "expires": dt.date(2027, 2, 1)}],
    "projects": [{"title": "Open banking gateway", "completed": dt.date(2025, 6, 30), "country": "DE",
                  "products": ["api-manager"], "distribution": "supported", "outcome": "successful"}],
    "subscription_sales": [{"year": 2025, "amount_usd": 120000}],
}

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.dates(min_value=dt.date(1, 1, 1))
    | st.datetimes()
    | st.sampled_from(["NO", "yes", "2024-02-30", "https://x.example", "javascript:alert(1)", "DE", "emea",
                       "value-added-reseller", "api-management", "", " ", "\u202e", "logos/x.svg"])
)
documents = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=12) | st.sampled_from(list(VALID)), children, max_size=6),
    max_leaves=30,
)
# Fragments that exercise the YAML parser's corners: indicators, anchors, tags, block scalars,
# document markers, tabs, impossible dates and nesting.
tokens = st.lists(
    st.sampled_from(["- ", "? ", ": ", "[", "]", "{", "}", ",", "\n", "  ", "a", "name", "&x ", "*x",
                     "!!str ", "!!python/object:os.system ", "!t ", "'", '"', "#", "---\n", "...\n",
                     "|\n", ">-\n", "\t", "2024-02-30", "- - - ", "<<: ", "%YAML 1.1\n", "\\", "\x85",
                     "\ufeff", "\x00", "~", "0x1F", "1e999", ".nan", "!!int ", "!!seq ", "!!map ", "!!bool ",
                     "!!float ", "!!timestamp ", "!!null ", "!!binary ", "! ", "=", "<<"]),
    max_size=80,
).map("".join)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def check_file(folder: Path, name: str, content: bytes) -> tuple[list[Partner], list[Problem]]:
    """Write one record into an empty records folder and run the real load and validate stages."""
    shutil.rmtree(folder)
    (folder / "logos").mkdir(parents=True)
    (folder / name).write_bytes(content)
    raws, problems = load(folder, RULES.limits.record_max_bytes)
    partners, found = validate(raws, RULES, AS_OF, folder)
    problems = problems + found
    assert isinstance(problems, list)
    assert all(isinstance(p, Problem) for p in problems)
    for p in problems:
        assert p.path.endswith(name)
        assert p.message
        assert p.text().startswith(p.path)
        assert p.github().startswith("::error file=")
    # A record either passes or says why not.
    assert (len(partners) == 1) != bool(problems)
    return partners, problems


def as_md(data) -> bytes:
    body = data.pop("description", "Body.\n") if isinstance(data, dict) else "Body.\n"
    front = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    return f"---\n{front}---\n{body if isinstance(body, str) else 'Body.'}\n".encode()


def test_the_valid_record_passes(folder):
    partners, problems = check_file(folder, "northwind.yaml", yaml.safe_dump(VALID).encode())
    assert problems == []
    assert partners[0].slug == "northwind"
    partners, problems = check_file(folder, "northwind.md", as_md(copy.deepcopy(VALID)))
    assert problems == []
    assert partners[0].description.strip() == "Integration specialists."


@FUZZ
@given(content=st.binary(max_size=400), suffix=st.sampled_from([".yaml", ".md"]))
def test_arbitrary_bytes(folder, content, suffix):
    check_file(folder, "acme" + suffix, content)


@FUZZ
@given(content=st.binary(max_size=200))
def test_arbitrary_bytes_after_front_matter_start(folder, content):
    check_file(folder, "acme.md", b"---\nname: " + content + b"\n---\nBody\n")


@FUZZ
@given(data=documents, suffix=st.sampled_from([".yaml", ".md"]))
def test_arbitrary_yaml_documents(folder, data, suffix):
    content = as_md(data) if suffix == ".md" else yaml.safe_dump(data, allow_unicode=True).encode()
    check_file(folder, "acme" + suffix, content)


@FUZZ
@given(text=tokens)
def test_yaml_token_soup(folder, text):
    check_file(folder, "acme.yaml", text.encode("utf-8", "surrogatepass"))


def _paths(value, prefix=()):
    """Every location inside a record, so a mutation can hit any depth."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _paths(child, (*prefix, i))


ALL_PATHS = [p for p in _paths(VALID) if p]


@st.composite
def mutated_records(draw):
    record = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        path = draw(st.sampled_from(ALL_PATHS))
        parent = record
        try:
            for key in path[:-1]:
                parent = parent[key]
            action = draw(st.sampled_from(["drop", "replace", "rename"]))
            if action == "drop":
                del parent[path[-1]]
            elif action == "replace":
                parent[path[-1]] = draw(documents)
            elif isinstance(parent, dict):
                parent[draw(st.text(max_size=12))] = parent.pop(path[-1])
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced this path
    return record


@FUZZ
@given(record=mutated_records(), suffix=st.sampled_from([".yaml", ".md"]))
def test_mutated_valid_records(folder, record, suffix):
    content = as_md(record) if suffix == ".md" else yaml.safe_dump(record, allow_unicode=True).encode()
    partners, problems = check_file(folder, "northwind" + suffix, content)
    for p in problems:
        # A problem in a parsed record points at a line of the file.
        assert p.line >= 1


@pytest.mark.parametrize("text", [
    "x: " + "[" * 100_000,
    "- " * 60_000 + "a\n",
    "? " * 60_000 + "a\n",
    "x:\n" + "".join(" " * i + "-\n" for i in range(600)),
    "".join(" " * i + "a:\n" for i in range(600)),
    "x: " + "[{a: " * 150 + "\n",
])
def test_deep_nesting_is_refused_with_a_line_not_a_crash(folder, text):
    """libyaml's composer recursed in C: `- - - ...` crashed the process when records were composed."""
    partners, problems = check_file(folder, "acme.yaml", text.encode())
    assert len(problems) == 1
    assert "nested more than 200 levels deep" in problems[0].message
    assert problems[0].line >= 1
