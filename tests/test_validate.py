"""Every record rule of issue 2, one passing and one failing case each, in both record formats.

Each failing case asserts what an editor reads: the file, the line and column, the field, what
is wrong and how to fix it. Records are written into a temporary content folder and checked with
the real `check` against data/programs.yaml on the fixed as-of date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest

from partnerdir.check import Checked, check
from partnerdir.project import Paths

AS_OF = dt.date(2026, 11, 15)
FIXTURES = Path(__file__).parent / "fixtures"
BASE_YAML = (FIXTURES / "northwind.yaml").read_text(encoding="utf-8")
SVG = (FIXTURES / "northwind.svg").read_bytes()
# Lines 1-24 of the .yaml fixture are fields; the description starts at line 25.
DESCRIPTION_AT = BASE_YAML.index("description: |\n")


def as_markdown(yaml_text: str) -> str:
    """The same record as a .md file: fields as front matter (one line lower), description as body."""
    fields, _, description = yaml_text.partition("description: |\n")
    body = "".join(line[2:] if line.startswith("  ") else line for line in description.splitlines(True))
    return f"---\n{fields}---\n{body}"


def record(fmt: str = "yaml", edits: tuple[tuple[str, str], ...] = ()) -> str:
    text = BASE_YAML
    for old, new in edits:
        assert old in text, f"the fixture has no {old!r}"
        text = text.replace(old, new, 1)
    return as_markdown(text) if fmt == "md" else text


def content_folder(root: Path, files: dict[str, str | bytes]) -> Path:
    """A records folder with the fixture logo and the given files (name -> text or bytes)."""
    folder = root / "partners"
    (folder / "logos").mkdir(parents=True, exist_ok=True)
    (folder / "logos" / "northwind.svg").write_bytes(SVG)
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return folder


def run_check(root: Path, files: dict[str, str | bytes], as_of: dt.date = AS_OF) -> Checked:
    return check(Paths(content=content_folder(root, files)), as_of, workers=1)


@dataclass(frozen=True)
class Bad:
    """One failing case: edits to the fixture and exactly what the editor should be told."""

    id: str
    edits: tuple[tuple[str, str], ...]
    line: int  # in the .yaml file; the .md file has it one line lower
    column: int
    field: str
    message: str
    hint: str = ""


def bad(id, edits, line, column, field, message, hint=""):
    edits = (edits,) if isinstance(edits[0], str) else tuple(edits)
    return Bad(id, edits, line, column, field, message, hint)


CASES = [
    # YAML syntax and strict parsing
    bad("invalid yaml", ("regions_served: [emea]", "regions_served: [emea"), 9, 16, "",
        "invalid YAML: did not find expected ',' or ']'"),
    bad("value with colon", ("name: Northwind Integration GmbH", "name: Northwind: Integration"), 1, 16, "",
        "invalid YAML: mapping values are not allowed", "put quotes around a value that contains ': '"),
    bad("tab indentation", ("    country: DE\n", "\tcountry: DE\n"), 19, 1, "", "invalid YAML",
        "indent with spaces, not tabs"),
    bad("duplicate key", ("industries: [banking, telecom]", "website: https://other.example"), 11, 1,
        "website", "duplicate field 'website'", "each field may appear once"),
    bad("duplicate nested key", ("    country: DE\n", "    country: DE\n    country: AT\n"), 20, 5,
        "projects[0].country", "duplicate field 'country'"),
    bad("python tag", ("name: Northwind Integration GmbH", "name: !!python/object/apply:os.system [ls]"),
        1, 7, "name", "the YAML tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed",
        "use plain text, numbers, dates, lists and mappings only"),
    bad("local tag", ("    outcome: successful", "    outcome: !ok successful"), 22, 14,
        "projects[0].outcome", "the YAML tag '!ok' is not allowed"),
    bad("binary tag", ("regions_served: [emea]", "regions_served: [!!binary ZW1lYQ==]"), 8, 18,
        "regions_served[0]", "the YAML tag 'tag:yaml.org,2002:binary' is not allowed"),
    bad("alias", [("industries: [banking, telecom]", "industries: &list [banking]"),
                  ("languages: [de, en]", "languages: *list")], 12, 12, "languages",
        "anchors and aliases (& and *) are not allowed", "write the value out in full"),
    bad("merge key", ("headquarters: {city: Berlin, country: DE}", "headquarters: {<<: {city: Berlin}}"),
        6, 16, "headquarters", "merge keys (<<) are not allowed"),
    bad("field name not text", ("remote_delivery: true", "1: true"), 9, 1, "",
        "field names must be text, not int 1", "put quotes around the name"),
    # fields and types
    bad("unknown field", ("industries: [banking, telecom]", "industry: [banking]"), 11, 1, "industry",
        "unknown field 'industry'", "did you mean 'industries'?"),
    bad("unknown nested field", ("    outcome: successful", "    outcome: successful\n    outcom: failed"),
        23, 5, "projects[0].outcom", "unknown field 'outcom'", "did you mean 'outcome'?"),
    bad("unknown field, nothing close", ("remote_delivery: true", "colour: blue"), 9, 1, "colour",
        "unknown field 'colour'", "the fields here are: name, slug, website"),
    bad("yes is not a boolean", ("remote_delivery: true", "remote_delivery: yes"), 9, 1, "remote_delivery",
        "must be true or false, not 'yes'"),
    bad("number for text", ("name: Northwind Integration GmbH", "name: 1999"), 1, 1, "name",
        "must be text, not int '1999'", "put quotes around it"),
    bad("text for list", ("languages: [de, en]", "languages: de"), 12, 1, "languages",
        "must be a list, such as [a, b], not 'de'"),
    bad("text for mapping", ("headquarters: {city: Berlin, country: DE}", "headquarters: Berlin"), 6, 1,
        "headquarters", "must be a group of fields (a mapping), not 'Berlin'"),
    bad("text for amount", ("amount_usd: 120000", "amount_usd: 120k"), 24, 18,
        "subscription_sales[0].amount_usd", "must be a number, not '120k'"),
    bad("date with time", ("joined: 2021-03-15", "joined: 2021-03-15 10:00:00"), 4, 1, "joined",
        "must be a date (YYYY-MM-DD) without a time, not '2021-03-15 10:00:00'"),
    bad("outcome spelt wrong", ("    outcome: successful", "    outcome: success"), 22, 5,
        "projects[0].outcome", "must be one of: successful or unsuccessful, not 'success'"),
    bad("empty list", ("expertise: [api-management, integration]", "expertise: []"), 10, 1, "expertise",
        "must list at least one"),
    bad("blank name", ("name: Northwind Integration GmbH", "name: '  '"), 1, 1, "name", "must not be empty"),
    bad("invisible character", ("name: Northwind Integration GmbH", 'name: "Northwind\\u202eHbmG"'), 1, 1,
        "name", "contains the invisible or direction-changing character U+202E"),
    bad("control character", ("name: Northwind Integration GmbH", 'name: "North\\x07wind"'), 1, 1, "name",
        "contains the control character U+0007"),
    bad("person as holder", ("holder: NW-07", "holder: Jane Doe"), 15, 44, "certifications[0].holder",
        "'Jane Doe' is not an opaque reference", "never a person's name"),
    bad("missing field", ("website: https://northwind.example\n", ""), 1, 1, "website", "is required",
        "Company website"),
    bad("missing nested field", ("headquarters: {city: Berlin, country: DE}", "headquarters: {city: Berlin}"),
        6, 1, "headquarters.country", "is required", "ISO 3166-1 alpha-2"),
    # slug
    bad("slug disagrees with file name", ("remote_delivery: true", "slug: southwind"), 9, 1, "slug",
        "the slug 'southwind' disagrees with the file name 'northwind'",
        "rename the file to southwind or remove the slug field"),
    bad("slug not a slug", ("remote_delivery: true", "slug: North_Wind"), 9, 1, "slug",
        "'North_Wind' is not a valid slug", "lowercase letters, digits and single hyphens"),
    # programs
    bad("unknown program", ("[certified-integration-partner]", "[certified-integration-partnr]"), 5, 12,
        "programs[0]", "unknown program 'certified-integration-partnr'",
        "did you mean 'certified-integration-partner'?"),
    bad("retired program", ("[certified-integration-partner]", "[premier-certified-integration-partner]"),
        5, 12, "programs[0]", "the program 'premier-certified-integration-partner' was retired in 2020",
        "use 'certified-integration-partner' instead"),
    bad("VAR with an implied program", ("[certified-integration-partner]",
                                        "[value-added-reseller, fulfillment-reseller]"), 5, 34, "programs[1]",
        "'fulfillment-reseller' is redundant: 'value-added-reseller' already includes everything a "
        "Fulfillment Reseller does", "remove 'fulfillment-reseller'"),
    bad("program listed twice", ("[certified-integration-partner]",
                                 "[integration-partner, integration-partner]"), 5, 33, "programs[1]",
        "'integration-partner' is listed twice", "remove the repeated entry"),
    # places, languages and taxonomies
    bad("UK is not a country code", ("country: DE}", "country: UK}"), 6, 30, "headquarters.country",
        "unknown country code 'UK'", "the code for the United Kingdom is GB"),
    bad("country in lower case", ("[DE, AT, CH]", "[DE, at, CH]"), 7, 24, "countries_served[1]",
        "unknown country code 'at'", "write it in capitals: AT"),
    bad("unknown project country", ("    country: DE\n", "    country: XX\n"), 19, 5, "projects[0].country",
        "unknown country code 'XX'", "ISO 3166-1 two-letter code"),
    bad("unknown region", ("[emea]", "[europe]"), 8, 18, "regions_served[0]", "unknown region 'europe'",
        "the region ids are: north-america, latin-america, emea, apac"),
    bad("language as a word", ("[de, en]", "[de, english]"), 12, 17, "languages[1]",
        "'english' is not a two-letter code", "ISO 639-1"),
    bad("unknown language", ("[de, en]", "[de, xx]"), 12, 17, "languages[1]", "unknown language code 'xx'",
        "ISO 639-1"),
    bad("unknown expertise", ("[api-management, integration]", "[api-managment, integration]"), 10, 13,
        "expertise[0]", "unknown expertise 'api-managment'", "did you mean 'api-management'?"),
    bad("unknown industry", ("[banking, telecom]", "[banking, telecoms]"), 11, 23, "industries[1]",
        "unknown industry 'telecoms'", "did you mean 'telecom'?"),
    bad("unknown certification",
        ("certification: api-manager-developer", "certification: api-manager-develper"), 15, 6,
        "certifications[0].certification", "unknown certification 'api-manager-develper'",
        "did you mean 'api-manager-developer'?"),
    bad("unknown product", ("products: [api-manager]", "products: [api-manger]"), 20, 16,
        "projects[0].products[0]", "unknown product 'api-manger'", "did you mean 'api-manager'?"),
    bad("product listed twice", ("products: [api-manager]", "products: [api-manager, api-manager]"), 20, 29,
        "projects[0].products[1]", "'api-manager' is listed twice", "remove the repeated entry"),
    bad("unknown distribution", ("distribution: supported", "distribution: suported"), 21, 5,
        "projects[0].distribution", "unknown distribution 'suported'", "did you mean 'supported'?"),
    # web addresses
    bad("javascript website", ("website: https://northwind.example", "website: javascript:alert(1)"), 2, 1,
        "website", "must be a web address starting with https:// (or http://)"),
    bad("ftp contact url", ("url: https://northwind.example/contact", "url: ftp://northwind.example/c"),
        13, 46, "contact.url", "must be a web address starting with https://"),
    bad("website without host", ("website: https://northwind.example", "website: https://"), 2, 1,
        "website", "is not a complete web address"),
    bad("email", ("email: partners@northwind.example", "email: partners"), 13, 11, "contact.email",
        "is not an email address"),
    # dates and amounts
    bad("date that does not exist", ("joined: 2021-03-15", "joined: 2021-02-29"), 4, 9, "joined",
        "'2021-02-29' is not a date that exists", "2024-02-29 only in a leap year"),
    bad("joined after the as-of date", ("joined: 2021-03-15", "joined: 2026-11-16"), 4, 1, "joined",
        "joined 2026-11-16 is after the as-of date 2026-11-15", "check the year"),
    bad("project completed after the as-of date", ("completed: 2025-06-30", "completed: 2027-06-30"), 18, 5,
        "projects[0].completed", "completed 2027-06-30 is after the as-of date 2026-11-15"),
    bad("certification issued after the as-of date", ("issued: 2024-02-01", "issued: 2026-12-01"), 15, 59,
        "certifications[0].issued", "issued 2026-12-01 is after the as-of date 2026-11-15"),
    bad("expiry before issue", ("expires: 2027-02-01", "expires: 2024-01-31"), 15, 79,
        "certifications[0].expires", "expires 2024-01-31, before it was issued (2024-02-01)",
        "check the two dates"),
    bad("negative amount", ("amount_usd: 120000", "amount_usd: -1"), 24, 18,
        "subscription_sales[0].amount_usd", "must not be negative"),
    bad("sales year not started", ("year: 2025", "year: 2027"), 24, 6, "subscription_sales[0].year",
        "the year 2027 has not started yet"),
    # logo
    bad("logo outside the logos folder", ("logo: logos/northwind.svg", "logo: ../../secrets/logo.svg"), 3, 1,
        "logo", "the logo '../../secrets/logo.svg' is not a file under content/partners/logos/",
        "put the file in content/partners/logos/"),
    bad("logo escaping the logos folder", ("logo: logos/northwind.svg", "logo: logos/../../x.svg"), 3, 1,
        "logo", "is not a file under content/partners/logos/"),
    bad("logo of an unsupported type", ("logo: logos/northwind.svg", "logo: logos/northwind.gif"), 3, 1,
        "logo", "logos of type '.gif' are not supported", "use one of: .svg, .png, .webp, .jpg, .jpeg"),
    bad("logo missing", ("logo: logos/northwind.svg", "logo: logos/southwind.svg"), 3, 1, "logo",
        "the logo file 'logos/southwind.svg' does not exist"),
    bad("logo too large", ("logo: logos/northwind.svg", "logo: logos/huge.png"), 3, 1, "logo",
        "the logo is 300,000 bytes, over the limit of 262,144", "export a smaller image"),
    bad("logo with a script", ("logo: logos/northwind.svg", "logo: logos/script.svg"), 3, 1, "logo",
        "the SVG logo contains scripts", "plain SVG"),
]

# Near misses: each looks like a broken case above but is a valid record.
GOOD = {
    "the fixture itself": (),
    "quoted value with a colon": (("name: Northwind Integration GmbH", 'name: "Northwind: Integration"'),),
    "core tag": (("name: Northwind Integration GmbH", "name: !!str Northwind"),),
    "ampersand and asterisk in text": (("name: Northwind Integration GmbH", 'name: "R&D *Partners*"'),),
    "optional fields left out": (("industries: [banking, telecom]\n", ""),
                                 ("logo: logos/northwind.svg\n", "")),
    "NO is Norway, no is Norwegian": (("[DE, AT, CH]", "[NO, SE]"), ("[de, en]", "[no, en]")),
    "false is a boolean": (("remote_delivery: true", "remote_delivery: false"),),
    "quoted date": (("joined: 2021-03-15", "joined: '2021-03-15'"),),
    "slug equal to the file name": (("remote_delivery: true", "slug: northwind"),),
    "VAR with a program it does not imply": (("[certified-integration-partner]",
                                              "[value-added-reseller, integration-partner]"),),
    "current program": (("[certified-integration-partner]", "[fulfillment-reseller]"),),
    "regions without countries": (("countries_served: [DE, AT, CH]\n", ""), ("[emea]", "[emea, apac]")),
    "http website": (("website: https://northwind.example", "website: http://northwind.example"),),
    "leap day": (("joined: 2021-03-15", "joined: 2020-02-29"),),
    "joined on the as-of date": (("joined: 2021-03-15", "joined: 2026-11-15"),),
    "expires the day it is issued": (("expires: 2027-02-01", "expires: 2024-02-01"),),
    "zero sales": (("amount_usd: 120000", "amount_usd: 0"),),
    "tab in the description": (("  Certified engineers in Berlin", "  Certified\tengineers in Berlin"),),
    "png logo": (("logo: logos/northwind.svg", "logo: logos/small.png"),),
}

EXTRA_FILES: dict[str, bytes] = {
    "logos/northwind.gif": b"GIF89a",
    "logos/huge.png": b"\x89PNG" + b"0" * (300_000 - 4),
    "logos/small.png": b"\x89PNG" + b"0" * 100,
    "logos/script.svg": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
}


@pytest.mark.parametrize("fmt", ["yaml", "md"])
@pytest.mark.parametrize("edits", list(GOOD.values()), ids=list(GOOD))
def test_valid_record(tmp_path, fmt, edits):
    result = run_check(tmp_path, {f"northwind.{fmt}": record(fmt, edits), **EXTRA_FILES})
    assert result.problems == []
    assert [p.slug for p in result.partners] == ["northwind"]
    assert result.partners[0].format == fmt
    assert result.partners[0].description.startswith("Northwind builds API platforms")


@pytest.mark.parametrize("fmt", ["yaml", "md"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_invalid_record(tmp_path, fmt, case):
    result = run_check(tmp_path, {f"northwind.{fmt}": record(fmt, case.edits), **EXTRA_FILES})
    assert result.partners == []
    assert len(result.problems) == 1, [p.text() for p in result.problems]
    problem = result.problems[0]
    assert problem.path.endswith(f"partners/northwind.{fmt}")
    assert (problem.line, problem.column) == (case.line + (fmt == "md"), case.column)
    assert problem.field == case.field
    assert case.message in problem.message
    assert case.hint in problem.hint
    text = problem.text()
    expected_start = f"{problem.path}:{problem.line}:{case.column}: "
    expected_start += f"{case.field}: " if case.field else ""
    assert text.startswith(expected_start + problem.message)
    if problem.hint:
        assert text.endswith(f" ({problem.hint})")


def test_the_fixture_and_its_markdown_twin_describe_the_same_partner(tmp_path):
    result = run_check(tmp_path, {"northwind.yaml": record("yaml"), "southwind.md": record("md")})
    assert result.problems == []
    yaml_partner, md_partner = result.partners
    assert yaml_partner.model_dump(exclude={"slug", "source", "format"}) == md_partner.model_dump(
        exclude={"slug", "source", "format"}
    )


def test_unknown_fields_suggest_the_closest_name_in_every_part():
    """did-you-mean works for misspelt fields at the top and inside each nested part."""
    from pydantic import ValidationError

    from partnerdir.schema import Record
    from partnerdir.validate import _schema_problems

    data = {"nmae": "x", "headquarters": {"cty": "Berlin", "country": "DE"},
            "certifications": [{"certifcation": "x", "holder": "A", "issued": "2024-01-01",
                                "expires": "2025-01-01"}]}
    with pytest.raises(ValidationError) as e:
        Record.model_validate(data)
    hints = {loc: hint for loc, _, hint in _schema_problems(e.value)}
    assert hints[("nmae",)] == "did you mean 'name'?"
    assert hints[("headquarters", "cty")] == "did you mean 'city'?"
    assert hints[("certifications", 0, "certifcation")] == "did you mean 'certification'?"


# Problems with the file as a whole: no field, and a line only where one exists.

def test_not_utf8_gives_the_line_and_column_of_the_bad_byte(tmp_path):
    text = record("yaml", (("name: Northwind Integration GmbH", "name: Nördwind"),)).encode("latin-1")
    result = run_check(tmp_path, {"northwind.yaml": text})
    [problem] = result.problems
    assert (problem.line, problem.column) == (1, 8)
    assert problem.message == "the file is not valid UTF-8 (byte 0xf6)"
    assert problem.hint == "save the file as UTF-8"


def test_utf16_is_refused(tmp_path):
    result = run_check(tmp_path, {"northwind.md": record("md").encode("utf-16")})
    [problem] = result.problems
    assert "not valid UTF-8" in problem.message


@pytest.mark.parametrize("fmt", ["yaml", "md"])
def test_a_byte_order_mark_is_fine(tmp_path, fmt):
    result = run_check(tmp_path, {f"northwind.{fmt}": b"\xef\xbb\xbf" + record(fmt).encode()})
    assert result.problems == []
    assert result.partners[0].name == "Northwind Integration GmbH"


@pytest.mark.parametrize("fmt, line, column", [("yaml", 28, 12), ("md", 29, 10)])
@pytest.mark.parametrize("character", ["\x00", "\x1b", "\x7f", "\x85"])
def test_control_characters_are_refused_with_their_place(tmp_path, fmt, line, column, character):
    """Terminal escapes and the like, anywhere in the file (here in the description)."""
    text = record(fmt, (("Certified engineers", f"Certified{character}engineers"),))
    [problem] = run_check(tmp_path, {f"northwind.{fmt}": text}).problems
    assert (problem.line, problem.column) == (line, column)
    assert problem.message == f"the file contains the control character U+{ord(character):04X}"
    assert problem.hint == "remove it; records are plain text"


@pytest.mark.parametrize("fmt", ["yaml", "md"])
def test_size_limit(tmp_path, fmt):
    limit = 262_144  # data/programs.yaml limits.record_max_bytes
    text = record(fmt).encode()
    padding = b"#" * (limit - len(text) - 1) + b"\n"
    if fmt == "md":  # a comment in the front matter
        at_limit = text.replace(b"---\n", b"---\n" + padding, 1)
    else:
        at_limit = padding + text
    assert len(at_limit) == limit
    assert run_check(tmp_path / "ok", {f"northwind.{fmt}": at_limit}).problems == []
    over = b"#" + at_limit
    [problem] = run_check(tmp_path / "over", {f"northwind.{fmt}": over}).problems
    assert problem.path.endswith(f"northwind.{fmt}")
    assert problem.message == "the file is 262,145 bytes, over the limit of 262,144"
    assert "shorten" in problem.hint


def test_billion_laughs_is_refused_before_expansion(tmp_path):
    lines = ['a0: &a0 "lol"']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    text = "\n".join(lines) + "\n" + BASE_YAML
    [problem] = run_check(tmp_path, {"northwind.yaml": text}).problems
    assert (problem.line, problem.column, problem.field) == (2, 10, "a1[0]")
    assert "anchors and aliases" in problem.message


def test_duplicate_slugs_across_formats(tmp_path):
    result = run_check(tmp_path, {"acme.yaml": record("yaml"), "acme.md": record("md")})
    [problem] = result.problems
    assert problem.path.endswith("partners/acme.yaml")
    assert problem.field == "slug"
    assert problem.message.startswith("the slug 'acme' is already used by ")
    assert problem.message.endswith("partners/acme.md")
    assert [p.source for p in result.partners] == [problem.message.split(" by ")[1]]


def test_similar_slugs_are_fine(tmp_path):
    result = run_check(tmp_path, {"acme.yaml": record("yaml"), "acme-2.md": record("md")})
    assert result.problems == []
    assert [p.slug for p in result.partners] == ["acme", "acme-2"]


@pytest.mark.parametrize("name", ["Acme.yaml", "acme_integration.yaml", "acme--x.md"])
def test_file_name_that_is_not_a_slug(tmp_path, name):
    fmt = name.rsplit(".", 1)[1]
    [problem] = run_check(tmp_path, {name: record(fmt)}).problems
    assert problem.field == "slug"
    assert f"the file name '{name.rsplit('.', 1)[0]}' is not a valid slug" == problem.message
    assert "rename the file" in problem.hint


def test_files_that_are_not_records(tmp_path):
    result = run_check(tmp_path, {"acme.yml": record("yaml"), "notes.txt": "hi", "README.md": "# Records"})
    assert sorted((p.path.rsplit("/", 1)[1], p.message, p.hint) for p in result.problems) == [
        ("acme.yml", "partner records end in .yaml", "rename it to acme.yaml"),
        ("notes.txt", "not a partner record", "records are <slug>.yaml or <slug>.md files"),
    ]


@pytest.mark.parametrize("text, line, message", [
    ("name: Acme\n", 1, "a Markdown record must start with a line '---'"),
    ("---\nname: Acme\nBody\n", 3, "the front matter is not closed"),
    ("---\n- a\n- b\n---\nBody\n", 2, "a record must be a mapping of fields"),
])
def test_markdown_front_matter_problems(tmp_path, text, line, message):
    [problem] = run_check(tmp_path, {"acme.md": text}).problems
    assert problem.line == line
    assert message in problem.message


def test_markdown_record_with_a_description_field(tmp_path):
    text = record("md").replace("remote_delivery: true\n", "remote_delivery: true\ndescription: Hi\n")
    [problem] = run_check(tmp_path, {"northwind.md": text}).problems
    assert (problem.line, problem.field) == (11, "description")
    assert "takes its description from the text after the front matter" in problem.message


def test_markdown_record_with_an_empty_body(tmp_path):
    text = record("md").split("---\n")
    text = "---\n" + text[1] + "---\n\n"
    [problem] = run_check(tmp_path, {"northwind.md": text}).problems
    assert (problem.line, problem.field, problem.message) == (27, "description", "must not be empty")


def test_every_problem_in_one_record_at_once(tmp_path):
    """Type errors do not hide the cross-checks of the fields that are well-formed."""
    text = record("yaml", (
        ("remote_delivery: true", "remote_delivery: yes"),
        ("[emea]", "[europe]"),
        ("[certified-integration-partner]", "[premier-certified-integration-partner]"),
        ("expires: 2027-02-01", "expires: 2024-01-31"),
        ("    outcome: successful", "    outcome: success"),
        ("distribution: supported", "distribution: suported"),
        ("amount_usd: 120000", "amount_usd: -5"),
    ))
    result = run_check(tmp_path, {"northwind.yaml": text})
    assert [(p.line, p.field) for p in result.problems] == [
        (5, "programs[0]"),
        (8, "regions_served[0]"),
        (9, "remote_delivery"),
        (15, "certifications[0].expires"),
        (22, "projects[0].outcome"),
        (24, "subscription_sales[0].amount_usd"),
    ]
    # The distribution is in the project with a bad outcome: the project as a whole is not
    # cross-checked until its own fields are right, so only one of its problems shows.


def test_every_problem_in_every_file_at_once(tmp_path):
    result = run_check(tmp_path, {
        "alpha.yaml": record("yaml", (("[emea]", "[europe]"),)),
        "beta.md": record("md", (("joined: 2021-03-15", "joined: 2021-02-30"),)),
        "gamma.yaml": record("yaml", (("industries: [banking, telecom]", "industry: [banking]"),)),
        "delta.yaml": record("yaml"),
    })
    assert [(p.path.rsplit("/", 1)[1], p.line, p.field) for p in result.problems] == [
        ("alpha.yaml", 8, "regions_served[0]"),
        ("beta.md", 5, "joined"),
        ("gamma.yaml", 11, "industry"),
    ]
    assert [p.slug for p in result.partners] == ["delta"]


def test_the_as_of_date_decides_what_is_in_the_future(tmp_path):
    text = record("yaml", (("joined: 2021-03-15", "joined: 2026-11-20"),))
    assert run_check(tmp_path, {"northwind.yaml": text}, as_of=dt.date(2026, 11, 20)).problems == []
    [problem] = run_check(tmp_path, {"northwind.yaml": text}, as_of=dt.date(2026, 11, 19)).problems
    assert problem.field == "joined"


def test_sample_content_is_valid():
    result = check(Paths(), AS_OF, workers=1)
    assert result.problems == []
    assert result.partners


def test_large_folders_are_parsed_in_parallel_with_the_same_result(tmp_path):
    """400 or more files go through load's process pool; problems and partners must not change."""
    files = {f"p{i:03d}.{'md' if i % 2 else 'yaml'}": record("md" if i % 2 else "yaml") for i in range(400)}
    files["p007.md"] = record("md", (("[emea]", "[europe]"),))
    files["p100.yaml"] = record("yaml", (("joined: 2021-03-15", "joined: 2021-02-30"),))
    folder = content_folder(tmp_path, files)
    serial = check(Paths(content=folder), AS_OF, workers=1)
    parallel = check(Paths(content=folder), AS_OF, workers=2)
    assert [p.text() for p in parallel.problems] == [p.text() for p in serial.problems]
    assert [(p.path.rsplit("/", 1)[1], p.line, p.field) for p in parallel.problems] == [
        ("p007.md", 9, "regions_served[0]"),
        ("p100.yaml", 4, "joined"),
    ]
    assert [p.slug for p in parallel.partners] == [p.slug for p in serial.partners]
    assert len(parallel.partners) == 398


def test_benchmark_records_are_valid_varied_and_reproducible(tmp_path):
    """benchmarks/generate.py feeds the benchmarks; its records must pass check and spread over levels."""
    from benchmarks.generate import generate
    from partnerdir.award import award_all

    paths = generate(200, tmp_path / "a" / "partners", seed=3, fmt="mixed")
    assert {p.suffix for p in paths} == {".md", ".yaml"}
    result = check(Paths(content=tmp_path / "a" / "partners"), AS_OF, workers=1)
    assert result.problems == []
    assert len(result.partners) == 200
    levels = {a.level for a in award_all(result.partners, result.rules, AS_OF).values()}
    assert levels == {lv.id for lv in result.rules.levels}
    assert max(len(p.certifications) for p in result.partners) <= 30
    assert max(len(p.projects) for p in result.partners) <= 40
    # Record i depends only on the seed and i: not on how many are written.
    again = generate(3, tmp_path / "b", seed=3, fmt="md")
    assert paths[1].suffix == ".md" and again[1].read_bytes() == paths[1].read_bytes()
    assert generate(3, tmp_path / "c", seed=4, fmt="md")[1].read_bytes() != again[1].read_bytes()


def test_the_one_pass_text_checks_find_exactly_what_the_separate_ones_find():
    """schema's fast path searches once for invisible and control characters together, and for
    spaces with \\s; every code point must be judged as the separate checks judge it."""
    from partnerdir import schema

    every = "".join(map(chr, range(0x110000)))
    invisible = set(schema._INVISIBLE.findall(every))
    assert set(schema._SUSPECT_IN_LINE.findall(every)) == invisible | set(schema._CONTROL.findall(every))
    assert set(schema._SUSPECT_IN_TEXT.findall(every)) == invisible | set(
        schema._CONTROL_IN_TEXT.findall(every))
    assert set(schema._SPACE.findall(every)) == {c for c in every if c.isspace()}
    assert "\u202e" in invisible and "\t" not in set(schema._SUSPECT_IN_TEXT.findall(every))
    # A description's printable ASCII, tabs and line breaks are not searched at all.
    assert schema._SUSPECT_IN_TEXT.findall(schema._ASCII_TEXT.decode()) == []
    for suspect in ("\u202e", "\x07", "\x85", "\U000e0041"):
        with pytest.raises(ValueError, match=f"U\\+{ord(suspect):04X}"):
            schema._lines("Plain words.\n\n" + suspect + " more words\n")
