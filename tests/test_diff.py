"""`build.py diff`: a reviewer learns what a pull request does to partners' statuses."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from partnerdir.diff import DiffError, format_markdown, md, status_diff
from partnerdir.project import ROOT, Paths

AS_OF = dt.date(2026, 11, 15)
GIT = ["git", "-c", "user.name=Editor", "-c", "user.email=editor@example.org", "-c", "commit.gpgsign=false"]


def record(name: str, *, engineers: int = 0, projects: int = 0, joined: str = "2021-03-15",
           programs: str = "[certified-integration-partner]", description: str = "Builds integrations.",
           ) -> str:
    certs = "".join(
        f"  - {{certification: api-manager-developer, holder: E-{i:02d}, issued: 2024-01-10, "
        "expires: 2028-01-10}\n" for i in range(engineers))
    done = "".join(
        f"  - {{title: Project {i}, completed: 2025-0{1 + i % 9}-15, country: DE, products: [api-manager], "
        f"distribution: supported, outcome: successful}}\n" for i in range(projects))
    return (
        f"name: {json.dumps(name)}\nwebsite: https://example.org\njoined: {joined}\nprograms: {programs}\n"
        "headquarters: {city: Berlin, country: DE}\ncountries_served: [DE]\nexpertise: [integration]\n"
        f"languages: [en]\ndescription: |\n  {description}\n"
        f"certifications:{' []' if not certs else ''}\n{certs}projects:{' []' if not done else ''}\n{done}"
    )


class Repo:
    def __init__(self, root: Path):
        self.root = root
        self.partners = root / "content" / "partners"
        self.partners.mkdir(parents=True)
        (root / "data").mkdir()
        shutil.copy(ROOT / "data" / "programs.yaml", root / "data" / "programs.yaml")
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        return subprocess.run([*GIT, "-C", str(self.root), *args], check=True, capture_output=True,
                              text=True).stdout

    def write(self, slug: str, text: str) -> None:
        (self.partners / f"{slug}.yaml").write_text(text, encoding="utf-8")

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD").strip()

    @property
    def paths(self) -> Paths:
        return Paths(content=self.partners, rules=self.root / "data" / "programs.yaml")


@pytest.fixture
def repo(tmp_path) -> Repo:
    """Two commits: alpha earns Gold, beta is only reworded, gamma leaves, delta joins."""
    r = Repo(tmp_path / "repo")
    r.write("alpha", record("Alpha Systems", engineers=4, projects=3))
    r.write("beta", record("Beta & <Co>", engineers=2, projects=1, joined="2025-06-01"))
    r.write("gamma", record("Gamma Consulting", engineers=4, projects=3))
    r.commit("base")
    r.git("tag", "base")
    r.write("alpha", record("Alpha Systems", engineers=8, projects=6))
    r.write("beta", record("Beta & <Co>", engineers=2, projects=1, joined="2025-06-01",
                           description="Builds integrations, fast."))
    (r.partners / "gamma.yaml").unlink()
    r.write("delta", record("Delta Digital", joined="2026-06-01"))
    r.commit("head")
    return r


def by_slug(diff) -> dict:
    return {c.slug: c for c in diff.changes}


def test_added_removed_and_changed_partners_with_the_reason(repo):
    diff = status_diff("base", "main", repo.paths, AS_OF)
    assert diff.complete
    changes = by_slug(diff)
    assert set(changes) == {"alpha", "gamma", "delta"}
    alpha = changes["alpha"]
    assert (alpha.kind, alpha.before, alpha.after) == ("changed", "Silver", "Gold")
    assert "8 certified engineers now (was 4)" in alpha.reason
    assert "6 successful projects now (was 3)" in alpha.reason
    assert (changes["gamma"].kind, changes["gamma"].before) == ("removed", "Silver")
    assert (changes["delta"].kind, changes["delta"].after) == ("added", "Provisional")
    assert diff.edited == ["beta"], "reworded without a status change"


def test_working_tree_is_the_default_head_and_invalid_records_are_named(repo):
    repo.write("beta", record("Beta & <Co>", engineers=0, projects=1, joined="2025-06-01"))  # no engineers
    broken = record("Alpha Systems", engineers=8, projects=6).replace("country: DE}", "country: XX}")
    repo.write("alpha", broken)
    diff = status_diff("main", None, repo.paths, AS_OF)
    assert diff.head.label == "the working tree"
    assert not diff.complete
    changes = by_slug(diff)
    assert (changes["beta"].before, changes["beta"].after) == ("Bronze", "Provisional")
    assert "0 certified engineers now (was 2)" in changes["beta"].reason
    assert changes["alpha"].kind == "invalid" and changes["alpha"].before == "Gold"
    assert "1 problem in the working tree" in changes["alpha"].reason
    [problem] = diff.head.problems
    assert problem.path.endswith("alpha.yaml") and "XX" in problem.message


def test_problems_in_a_revision_name_the_file_as_it_is_in_the_repository(repo):
    repo.write("alpha", record("Alpha Systems").replace("website: https://example.org", "website: ftp://x"))
    repo.commit("broken")
    diff = status_diff("main~1", "main", repo.paths, AS_OF)
    [problem] = diff.head.problems
    assert problem.path == "content/partners/alpha.yaml" and problem.line == 2
    assert "partnerdir-diff" not in format_markdown(diff)


def test_changed_level_minimums_are_given_as_the_reason(repo):
    rules = repo.root / "data" / "programs.yaml"
    text = rules.read_text(encoding="utf-8")
    old = "minimums: {certified_engineers: 8, successful_projects: 6, subscription_sales: 400000}"
    assert old in text
    rules.write_text(text.replace(old, old.replace("engineers: 8", "engineers: 9")), encoding="utf-8")
    diff = status_diff("main", None, repo.paths, AS_OF)
    [change] = diff.changes
    assert (change.slug, change.before, change.after) == ("alpha", "Gold", "Silver")
    assert "level minimums in data/programs.yaml changed" in change.reason


def test_unreadable_rules_on_one_side_are_reported_not_compared(repo):
    (repo.root / "data" / "programs.yaml").write_text("levels: [\n", encoding="utf-8")
    diff = status_diff("main", None, repo.paths, AS_OF)
    assert diff.changes == [] and not diff.complete
    assert diff.head.rules is None and diff.head.problems


def test_unknown_revision_is_a_clear_error(repo):
    with pytest.raises(DiffError, match="unknown git revision 'origin/main'.*git fetch origin main"):
        status_diff("origin/main", None, repo.paths, AS_OF)
    with pytest.raises(DiffError, match="not a git revision"):
        status_diff("--output=/tmp/x", None, repo.paths, AS_OF)


def test_partner_text_cannot_inject_markdown_into_the_pull_request_comment():
    hostile = ("Evil ![x](https://tracker.example/p.png) [click](javascript:alert(1)) <img src=x> | col "
               "$x^2$ @octo-org/editors www.evil.example")
    shown = md(hostile)
    # Every character that starts a link, image, cell, formula or tag is escaped or an entity.
    assert re.search(r"(?<!\\)[\[\]!|$<>]", shown) is None, shown
    assert "&lt;img" in shown
    assert "@octo" not in shown and "www.evil" not in shown and "https://" not in shown


def cli(repo: Repo, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "build.py"), "diff", *args, "--as-of", AS_OF.isoformat(),
         "--content", str(repo.partners), "--data", str(repo.root / "data" / "programs.yaml")],
        capture_output=True, text=True, cwd=repo.root)


def test_command_line_formats(repo):
    text = cli(repo, "base", "main")
    assert text.returncode == 0, text.stderr
    assert "Silver → Gold: " in text.stdout and "8 certified engineers now" in text.stdout
    assert "+ Delta Digital (delta): added, Provisional" in text.stdout
    assert "- Gamma Consulting (gamma): removed, was Silver" in text.stdout
    assert "1 other record edited without a status change: beta" in text.stdout

    markdown = cli(repo, "base", "main", "--format", "markdown")
    assert markdown.returncode == 0
    lines = markdown.stdout.splitlines()
    assert lines[0] == "### Partner status changes"
    assert "| Changed | Alpha Systems (`alpha`) | Silver → Gold |" in markdown.stdout
    assert "`beta`" in markdown.stdout

    data = json.loads(cli(repo, "base", "main", "--format", "json").stdout)
    assert data["complete"] is True and data["as_of"] == "2026-11-15"
    assert {c["slug"]: c["kind"] for c in data["changes"]} == {"alpha": "changed", "delta": "added",
                                                                "gamma": "removed"}


def test_command_line_errors_exit_1_without_a_traceback(repo, tmp_path):
    bad = cli(repo, "no-such-branch")
    assert bad.returncode == 1 and "unknown git revision 'no-such-branch'" in bad.stderr
    assert "Traceback" not in bad.stderr
    repo.write("beta", "name: [unclosed\n")
    broken = cli(repo, "main")
    assert broken.returncode == 1 and "Traceback" not in broken.stderr
    assert "Records with problems in the working tree" in broken.stdout
    assert "content/partners/beta.yaml:" in broken.stdout and "invalid YAML" in broken.stdout
