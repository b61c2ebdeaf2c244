"""One source of truth for the record format: the pydantic models, and the JSON Schema made from them.

Editors' YAML language server reads schema/partner.schema.json; it must never drift from what
`check` accepts.
"""

from __future__ import annotations

import datetime as dt
import json

import jsonschema
import pytest

from partnerdir.cli import main
from partnerdir.project import ROOT, Paths
from partnerdir.rules import load_rules
from partnerdir.schema import SCHEMA_PATH, Record, json_schema, json_schema_text
from partnerdir.source import parse_yaml
from tests.test_validate import BASE_YAML

RULES = load_rules(Paths().rules)
COMMITTED = ROOT / SCHEMA_PATH


def test_committed_schema_is_current():
    """Fails when the models or the id lists in programs.yaml changed without `python build.py schema`."""
    assert COMMITTED.read_text(encoding="utf-8") == json_schema_text(RULES), (
        "schema/partner.schema.json is stale: run `python build.py schema` and commit it"
    )


def test_schema_check_command(capsys):
    assert main(["schema", "--check"]) == 0
    assert "is up to date" in capsys.readouterr().out


def test_schema_check_notices_a_new_id(tmp_path, capsys):
    text = Paths().rules.read_text(encoding="utf-8").replace(
        "  - {id: devops, name: DevOps and platform engineering}\n",
        "  - {id: devops, name: DevOps and platform engineering}\n  - {id: data, name: Data platforms}\n",
    )
    rules = tmp_path / "programs.yaml"
    rules.write_text(text, encoding="utf-8")
    assert main(["schema", "--check", "--data", str(rules)]) == 1
    assert "schema/partner.schema.json is stale: run `python build.py schema`" in capsys.readouterr().err
    assert "data" in json_schema(load_rules(rules))["properties"]["expertise"]["items"]["enum"]


def test_schema_command_with_broken_rules_reports_instead_of_crashing(tmp_path, capsys):
    rules = tmp_path / "programs.yaml"
    rules.write_text("site: [\n", encoding="utf-8")
    assert main(["schema", "--check", "--data", str(rules)]) == 1
    err = capsys.readouterr().err
    assert "programs.yaml:2:1: invalid YAML" in err
    assert "Traceback" not in err


def test_schema_offers_the_ids_from_programs_yaml():
    schema = json_schema(RULES)
    props, defs = schema["properties"], schema["$defs"]
    assert props["programs"]["items"]["enum"] == [p.id for p in RULES.programs]
    assert "premier-certified-integration-partner" not in props["programs"]["items"]["enum"]
    assert props["regions_served"]["items"]["enum"] == ["north-america", "latin-america", "emea", "apac"]
    assert "api-management" in props["expertise"]["items"]["enum"]
    assert "banking" in props["industries"]["items"]["enum"]
    assert "api-manager-developer" in defs["Certification"]["properties"]["certification"]["enum"]
    assert defs["Project"]["properties"]["distribution"]["enum"] == ["supported", "cloud", "community"]


def test_schema_fields_are_the_model_fields():
    schema = json_schema(RULES)
    assert list(schema["properties"]) == list(Record.model_fields)
    assert set(schema["required"]) == {n for n, f in Record.model_fields.items() if f.is_required()}
    assert schema["additionalProperties"] is False


def _as_json(data):
    """YAML dates as the strings an editor's language server sees (it reads YAML 1.2, as check does)."""
    return json.loads(json.dumps(data, default=lambda v: v.isoformat() if isinstance(v, dt.date) else v))


def test_the_fixture_record_matches_the_schema():
    jsonschema.Draft202012Validator(json_schema(RULES)).validate(_as_json(parse_yaml(BASE_YAML)))


@pytest.mark.parametrize("edit", [
    {"webiste": "https://x.example"},
    {"programs": ["premier-certified-integration-partner"]},
    {"remote_delivery": "yes"},
    {"expertise": []},
])
def test_the_schema_flags_what_check_refuses(edit):
    data = {**_as_json(parse_yaml(BASE_YAML)), **edit}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(json_schema(RULES)).validate(data)


def test_sample_records_point_editors_at_the_schema_and_match_it():
    """What check accepts, the editor's schema accepts: every sample .yaml record."""
    validator = jsonschema.Draft202012Validator(json_schema(RULES))
    yaml_records = sorted((ROOT / "content" / "partners").glob("*.yaml"))
    declared = 0
    for path in yaml_records:
        text = path.read_text(encoding="utf-8")
        first = text.splitlines()[0]
        if first.startswith("# yaml-language-server: $schema="):
            declared += 1
            assert (path.parent / first.split("=", 1)[1]).resolve() == COMMITTED
        errors = [e.message for e in validator.iter_errors(_as_json(parse_yaml(text)))]
        assert errors == [], path.name
    assert declared
