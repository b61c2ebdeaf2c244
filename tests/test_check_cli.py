"""`python build.py check` as an editor and as CI use it: output, formats and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from partnerdir.cli import main
from partnerdir.project import ROOT
from tests.test_validate import content_folder, record

CHECK = ["check", "--content", "partners", "--as-of", "2026-11-15"]

BROKEN = {
    "alpha.yaml": record("yaml", (("[emea]", "[europe]"),
                                  ("industries: [banking, telecom]", "industry: [bank]"))),
    "beta.md": record("md", (("[certified-integration-partner]",
                              "[premier-certified-integration-partner]"),)),
    "gamma.yaml": record("yaml"),
}
EXPECTED = [
    "partners/alpha.yaml:8:18: regions_served[0]: unknown region 'europe' "
    "(the region ids are: north-america, latin-america, emea, apac)",
    "partners/alpha.yaml:11:1: industry: unknown field 'industry' (did you mean 'industries'?)",
    "partners/beta.md:6:12: programs[0]: the program 'premier-certified-integration-partner' was retired "
    "in 2020 (use 'certified-integration-partner' instead)",
]


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """Run in a temporary working folder so paths print as partners/<file>, as in a real checkout."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    return tmp_path


def test_clean_records_exit_0(folder, capsys):
    content_folder(folder, {"northwind.yaml": record("yaml"), "southwind.md": record("md")})
    assert main(CHECK) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == "2 partner records are valid."
    assert err == ""


def test_one_clean_record(folder, capsys):
    content_folder(folder, {"northwind.yaml": record("yaml")})
    assert main(CHECK) == 0
    assert capsys.readouterr().out.splitlines()[0] == "1 partner record is valid."


def test_every_problem_in_every_file_in_one_run(folder, capsys):
    content_folder(folder, BROKEN)
    assert main(CHECK) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [*EXPECTED, "", "3 problems in 2 files."]
    assert "Traceback" not in err


def test_github_actions_annotations(folder, capsys, monkeypatch):
    content_folder(folder, BROKEN)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert main(CHECK) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "::error file=partners/alpha.yaml,line=8,col=18,title=regions_served[0]::unknown region 'europe' "
        "(the region ids are: north-america, latin-america, emea, apac)",
        "::error file=partners/alpha.yaml,line=11,col=1,title=industry::unknown field 'industry' "
        "(did you mean 'industries'?)",
        "::error file=partners/beta.md,line=6,col=12,title=programs[0]::the program "
        "'premier-certified-integration-partner' was retired in 2020 "
        "(use 'certified-integration-partner' instead)",
    ]
    assert err.splitlines()[:3] == EXPECTED  # the readable list is still there for the log


def test_no_annotations_outside_github_actions(folder, capsys, monkeypatch):
    content_folder(folder, BROKEN)
    monkeypatch.setenv("GITHUB_ACTIONS", "false")
    main(CHECK)
    assert "::error" not in capsys.readouterr().out


def test_annotation_properties_are_escaped(folder, capsys, monkeypatch):
    """A file name with a comma must not end the file= property early."""
    content_folder(folder, {"a,b.yaml": record("yaml")})
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert main(CHECK) == 1
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith("::error file=partners/a%2Cb.yaml,line=")


def test_json_format(folder, capsys):
    content_folder(folder, BROKEN)
    assert main([*CHECK, "--format", "json"]) == 1
    out, err = capsys.readouterr()
    assert err == ""
    data = json.loads(out)
    assert data["ok"] is False
    assert data["partners"] == 1
    assert data["problems"][1] == {
        "path": "partners/alpha.yaml",
        "line": 11,
        "column": 1,
        "field": "industry",
        "message": "unknown field 'industry'",
        "hint": "did you mean 'industries'?",
        "loc": ["industry"],
    }
    assert [(p["path"], p["line"], p["field"]) for p in data["problems"]] == [
        ("partners/alpha.yaml", 8, "regions_served[0]"),
        ("partners/alpha.yaml", 11, "industry"),
        ("partners/beta.md", 6, "programs[0]"),
    ]
    assert data["problems"][0]["loc"] == ["regions_served", 0]


def test_json_format_when_clean(folder, capsys):
    content_folder(folder, {"northwind.yaml": record("yaml")})
    assert main([*CHECK, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["ok"], data["partners"], data["problems"]) == (True, 1, [])


def test_file_level_problems_have_no_line(folder, capsys):
    content_folder(folder, {"northwind.yaml": b"name: Z\xfcrich\n", "big.yaml": b"#" * 262_145})
    assert main(CHECK) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[:2] == [
        "partners/big.yaml: the file is 262,145 bytes, over the limit of 262,144 "
        "(shorten the description or the lists of projects and certifications)",
        "partners/northwind.yaml:1:8: the file is not valid UTF-8 (byte 0xfc) (save the file as UTF-8)",
    ]


def test_a_link_to_a_file_outside_the_records_folder(folder, capsys):
    (folder / "secret.yaml").write_text(record("yaml"))
    partners = content_folder(folder, {})
    (partners / "northwind.yaml").symlink_to(folder / "secret.yaml")
    assert main(CHECK) == 1
    assert "partners/northwind.yaml: is a link to a file outside content/partners" in capsys.readouterr().err


def test_missing_records_folder(folder, capsys):
    assert main(["check", "--content", "nowhere", "--as-of", "2026-11-15"]) == 1
    assert "nowhere: cannot read the records folder" in capsys.readouterr().err


def test_bad_as_of_date_is_a_usage_error(folder, capsys):
    with pytest.raises(SystemExit) as e:
        main(["check", "--as-of", "2026-02-30"])
    assert e.value.code == 2
    assert "'2026-02-30' is not a date written as YYYY-MM-DD" in capsys.readouterr().err


def test_build_py_check_on_the_sample_content():
    """The real entry point, as CI runs it, on the project's own records."""
    env = {**os.environ, "GITHUB_ACTIONS": "true"}
    run = subprocess.run([sys.executable, "build.py", "check", "--as-of", "2026-11-15"], cwd=ROOT,
                         capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0].endswith("partner records are valid.")
    assert "::error" not in run.stdout
