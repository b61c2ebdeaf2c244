"""The GitHub Actions workflows: valid, minimal in what they may do, and calling real commands.

Every `run:` step is executed here by bash with `python` replaced by a stand-in that parses a
`python build.py ...` command line with the real argument parser (and imports the command's
module) instead of running it, so a renamed option or command fails this test, not a deploy.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from partnerdir.project import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))

# Values GitHub would put into ${{ ... }} expressions, for the dry run.
EXPRESSIONS = {
    "github.run_id": "1234",
    "github.base_ref || 'main'": "main",
    "steps.pages.outputs.base_url": "https://example-org.github.io/partners",
}

STAND_IN = """#!{python}
import importlib, json, os, sys
sys.path.insert(0, {root!r})
log = os.environ["DRY_RUN_LOG"]
args = sys.argv[1:]
def record(kind):
    with open(log, "a") as f:
        f.write(json.dumps([kind, args]) + "\\n")
if args[:2] == ["-m", "pip"]:
    record("pip")
elif args[:2] == ["-m", "pytest"]:
    record("pytest")
elif args[:1] == ["build.py"]:
    from partnerdir import cli
    argv = args[1:]
    if not argv or argv[0] not in cli.COMMANDS:
        argv.insert(0, "build")
    parsed = cli.parser().parse_args(argv)  # exits 2 with argparse's message on a bad option
    module = cli.COMMAND_MODULES.get(parsed.command)
    if module:
        importlib.import_module("partnerdir." + module)
    record("build.py")
    print("(dry run of build.py " + " ".join(args[1:]) + ")")
else:
    sys.exit("the workflow runs python with arguments this test does not know: " + " ".join(args))
"""


def load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name} is not a YAML mapping"
    if True in data:  # YAML 1.1 reads the key `on` as a boolean
        data["on"] = data.pop(True)
    return data


def steps(workflow: dict):
    for job_id, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            yield job_id, step


def test_there_are_workflows_for_pull_requests_and_publishing():
    names = {p.name for p in FILES}
    assert {"pull-request.yml", "publish.yml"} <= names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_workflow_is_valid_and_least_privileged(path):
    wf = load(path)
    assert wf.get("name") and wf.get("on") and wf.get("jobs")
    assert wf.get("permissions") == {"contents": "read"}, "read-only unless a job says otherwise"
    for job_id, job in wf["jobs"].items():
        assert job.get("runs-on"), job_id
        assert job.get("timeout-minutes"), f"{job_id}: a hung job must not run for six hours"
        for key in job.get("permissions", {}):
            assert key in ("pages", "id-token"), f"{job_id} asks for {key}"
    for job_id, step in steps(wf):
        assert ("uses" in step) != ("run" in step), f"{job_id}: a step either uses an action or runs"
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@v\d+(\.\d+)*", step["uses"]), step["uses"]


def test_publishing_uses_the_official_pages_actions_with_minimum_permissions():
    wf = load(WORKFLOWS / "publish.yml")
    assert wf["on"]["push"]["branches"] == ["main"]
    assert wf["concurrency"]["group"] and wf["concurrency"]["cancel-in-progress"] is False
    jobs = wf["jobs"]
    used = {step["uses"].split("@")[0]: (job_id, step) for job_id, step in steps(wf) if "uses" in step}
    assert {"actions/configure-pages", "actions/upload-pages-artifact", "actions/deploy-pages"} <= set(used)
    deploy_job = used["actions/deploy-pages"][0]
    assert jobs[deploy_job]["permissions"] == {"pages": "write", "id-token": "write"}
    assert jobs[deploy_job]["environment"]["name"] == "github-pages"
    for job_id, job in jobs.items():
        if job_id != deploy_job:
            assert "permissions" not in job, f"only {deploy_job} may write to Pages"
    configure = used["actions/configure-pages"][1]
    build_steps = [s for j, s in steps(wf) if "build.py" in s.get("run", "")]
    assert len(build_steps) == 1
    assert f"steps.{configure['id']}.outputs.base_url" in json.dumps(build_steps[0]), (
        "the base URL comes from the Pages configuration")


def test_pull_requests_check_test_build_and_summarise_status_changes():
    wf = load(WORKFLOWS / "pull-request.yml")
    assert "pull_request" in wf["on"]
    runs = {job_id: " ".join(s.get("run", "") for s in job["steps"]) for job_id, job in wf["jobs"].items()}
    every = " ".join(runs.values())
    assert "python build.py check" in every and "python build.py build" in every
    assert ".ci/run" in every, "the tests, run the way README.md says"
    test_job = next(j for j, r in runs.items() if ".ci/run" in r)
    assert "bookworm" in wf["jobs"][test_job]["container"] or "debian" in wf["jobs"][test_job]["container"]
    diff_job = next(j for j, r in runs.items() if "build.py diff" in r)
    assert "$GITHUB_STEP_SUMMARY" in runs[diff_job] and "--format markdown" in runs[diff_job]
    checkout = next(s for s in wf["jobs"][diff_job]["steps"]
                    if s.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0, "the base branch must be fetched to compare with it"


def test_every_build_restores_the_record_cache_of_the_newest_run():
    """A build in CI redoes only the records that changed since the last run's build."""
    for name in ("publish.yml", "pull-request.yml"):
        wf = load(WORKFLOWS / name)
        for job_id, job in wf["jobs"].items():
            names = [s.get("uses", "").split("@")[0] or s.get("run", "") for s in job["steps"]]
            builds = [i for i, n in enumerate(names) if "build.py build" in n]
            if not builds:
                continue
            caches = [i for i, n in enumerate(names) if n == "actions/cache"]
            assert caches and caches[0] < builds[0], f"{name} {job_id}: restore .cache before building"
            cache = job["steps"][caches[0]]["with"]
            assert cache["path"] == ".cache"
            assert "github.run_id" in cache["key"] and cache["key"].startswith(cache["restore-keys"])


def _expand(text: str) -> str:
    def value(match: re.Match) -> str:
        expr = match.group(1).strip()
        assert expr in EXPRESSIONS, f"no sample value for the expression ${{{{ {expr} }}}}"
        return EXPRESSIONS[expr]

    return re.sub(r"\$\{\{(.*?)\}\}", value, text)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_run_step_calls_commands_that_exist(path, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stand_in = bin_dir / "python"
    stand_in.write_text(STAND_IN.format(python=sys.executable, root=str(ROOT)), encoding="utf-8")
    stand_in.chmod(stand_in.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "calls.jsonl"
    summary = tmp_path / "summary.md"
    ran = 0
    for job_id, step in steps(load(path)):
        script = step.get("run")
        if script is None:
            continue
        script = script.strip()
        if script.startswith(".ci/"):
            # Repository scripts are not run here (this one runs the whole test suite).
            target = ROOT / script.split()[0]
            assert target.is_file() and os.access(target, os.X_OK), f"{script} is not an executable file"
            continue
        env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "DRY_RUN_LOG": str(log),
               "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_ACTIONS": "true"}
        env.update({k: _expand(str(v)) for k, v in step.get("env", {}).items()})
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", _expand(script)],
                              cwd=ROOT, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"{path.name} job {job_id}: {script}\n{done.stdout}\n{done.stderr}"
        ran += 1
    assert ran
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    commands = [args for kind, args in calls if kind == "build.py"]
    assert commands, "the workflow runs build.py"
    if path.name == "publish.yml":
        [build] = commands
        assert build[build.index("--base-url") + 1] == "https://example-org.github.io/partners/"
    if path.name == "pull-request.yml":
        diff = next(c for c in commands if c[1] == "diff")
        assert diff[2] == "origin/main"
        assert "(dry run of build.py diff" in summary.read_text(), "the diff goes to the job summary"
