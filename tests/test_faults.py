"""Builds that die, collide or meet a broken environment never leave a half-written site.

Kills: `python build.py` runs as a real subprocess, paused at a named point by a start-up hook
(sitecustomize on PYTHONPATH, so the build itself carries no test code), and is then killed
with SIGKILL or SIGTERM, as a CI runner or an impatient editor would. site/ must be exactly the
previous site, and the next build must succeed. Two builds at once: the second is told clearly
that the first holds the output, and the site ends up the one a single build makes.

Faults: unreadable or missing files, a full disk, a broken template and a missing Pagefind
binary each stop the build with one clear message and exit code 1: no traceback, and the
previous site untouched.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from partnerdir import cli
from partnerdir.pipeline import build_site
from partnerdir.project import ROOT, Paths
from tests.hostile.corpus import AS_OF

SAMPLE = ROOT / "content" / "partners"
RECORDS = ["alpenglow-it.yaml", "andes-nube-tecnologia.md", "baltic-amber-systems.yaml",
           "cafetal-digital.yaml", "cascade-ridge-systems.md", "cape-protea-integration.yaml"]
CHANGED = "changed-by-the-interrupted-build"

# Loaded by Python at start-up when its folder is on PYTHONPATH; pauses the build at a named point
# until the test creates the resume file (or kills it).
HOOKS = textwrap.dedent('''
    import os, sys, time

    for name in filter(None, os.environ.get("PARTNERDIR_TEST_HIDE", "").split(",")):
        sys.modules[name] = None  # importing it fails, as if it were not installed

    point = os.environ.get("PARTNERDIR_TEST_PAUSE")
    if point:
        import partnerdir.index, partnerdir.load, partnerdir.pages, partnerdir.render, partnerdir.write

        def pause():
            sys.stderr.write(f"PAUSED {point}\\n")
            sys.stderr.flush()
            while not os.path.exists(os.environ["PARTNERDIR_TEST_RESUME"]):
                time.sleep(0.02)

        def pause_in(owner, name, at_call=1):
            original, calls = getattr(owner, name), [0]
            def paused(*args, **kwargs):
                calls[0] += 1
                if calls[0] == at_call:
                    pause()
                return original(*args, **kwargs)
            setattr(owner, name, paused)

        if point == "check":
            pause_in(partnerdir.load, "read_record", at_call=3)
        elif point == "render":
            pause_in(partnerdir.render, "render_site")
        elif point == "write":
            pause_in(partnerdir.write.SiteWriter, "put", at_call=20)
        elif point == "award":  # checked and awarded; not yet holding the output
            import partnerdir.pipeline
            pause_in(partnerdir.pipeline, "_holding")  # the ordinary and the quick rebuild alike
        elif point == "index":
            pause_in(partnerdir.index, "build_index")
        elif point == "swap":
            pause_in(partnerdir.write, "swap")
        elif point == "aside":  # the old site moved away from site/, the new one not yet there
            original_rename = os.rename
            def rename(src, dst, *args, **kwargs):
                done = original_rename(src, dst, *args, **kwargs)
                if ".old-" in str(dst):
                    pause()
                return done
            os.rename = rename
''')


def tree(folder: Path) -> dict[str, str]:
    """Every file under `folder` and its content hash: what a visitor could be served."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith((".site.build-", ".site.old-")))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Six sample partners and the site a successful build made of them. The project has its own
    copy of the templates and rules, so edits elsewhere in the checkout cannot change its builds."""
    root = tmp_path_factory.mktemp("faults-base")
    content = root / "content"
    content.mkdir()
    for name in RECORDS:
        shutil.copy(SAMPLE / name, content / name)
    shutil.copytree(SAMPLE / "logos", content / "logos")
    shutil.copytree(ROOT / "templates", root / "templates")
    shutil.copy(ROOT / "data" / "programs.yaml", root / "programs.yaml")
    result = build_site(paths_of(root), AS_OF, search=True, out=root / "site")
    assert result.ok, [p.text() for p in result.problems]
    return root


@pytest.fixture
def project(built, tmp_path):
    """A copy of the built project whose next build has work to do: one record changed."""
    root = tmp_path / "project"
    shutil.copytree(built, root, symlinks=True)
    record = root / "content" / "cafetal-digital.yaml"
    text = record.read_text("utf-8")
    assert "description: |\n" in text
    record.write_text(text.replace("description: |\n", f"description: |\n  {CHANGED}\n", 1), encoding="utf-8")
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(HOOKS, encoding="utf-8")
    return root


def paths_of(root: Path, out: Path | None = None) -> Paths:
    return Paths(content=root / "content", rules=root / "programs.yaml", templates=root / "templates",
                 static=root / "templates" / "static", out=out or root / "site", cache=root / ".cache")


def options(root: Path) -> list[str]:
    return ["--content", str(root / "content"), "--data", str(root / "programs.yaml"),
            "--templates", str(root / "templates"), "--out", str(root / "site"), "--as-of", AS_OF.isoformat()]


def build_command(root: Path, search: bool) -> list[str]:
    return [sys.executable, str(ROOT / "build.py"), *options(root), *([] if search else ["--no-search"])]


def start(root: Path, pause: str | None = None, search: bool = False, **env: str) -> subprocess.Popen:
    """`python build.py` in its own process group (its forked workers die with it)."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root.parent / "hooks"), str(ROOT)]),
                   "PARTNERDIR_TEST_RESUME": str(root / "resume"), **env}
    environment.pop("PARTNERDIR_TEST_PAUSE", None)
    if pause:
        environment["PARTNERDIR_TEST_PAUSE"] = pause
    return subprocess.Popen(build_command(root, search), cwd=root, env=environment, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def wait_for_pause(proc: subprocess.Popen, point: str) -> bool:
    """True once the build pauses at `point`; False if it ends without passing there."""
    timer = threading.Timer(60, lambda: os.killpg(proc.pid, signal.SIGKILL))
    timer.start()
    lines = []
    try:
        for line in proc.stderr:
            lines.append(line)
            if line.startswith(f"PAUSED {point}"):
                return True
    finally:
        timer.cancel()
    proc.wait()
    assert proc.returncode == 0, "".join(lines)
    return False


def finish(proc: subprocess.Popen, timeout: float = 60) -> tuple[str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    return out, err


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
@pytest.mark.parametrize("point", ["check", "render", "write", "index", "swap", "aside"])
def test_a_build_killed_at_any_point_leaves_the_previous_site(project, point, sig):
    """`aside` is the moment a two-step swap has moved the old site away and not yet moved the
    new one in; a swap that exchanges the folders in one step has no such moment and the
    build runs through."""
    before = tree(project / "site")
    proc = start(project, pause=point, search=point == "index")
    try:
        if not wait_for_pause(proc, point):
            assert point == "aside", f"the build never reached {point}"
            assert CHANGED in (project / "site" / "partners" / "cafetal-digital" / "index.html").read_text()
            return
        os.killpg(proc.pid, sig)
        finish(proc)
        assert proc.returncode == -sig
        assert tree(project / "site") == before, "the killed build changed site/"
    finally:
        (project / "resume").touch()
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    again = subprocess.run(build_command(project, search=point == "index"), cwd=project, capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert CHANGED in (project / "site" / "partners" / "cafetal-digital" / "index.html").read_text("utf-8")
    assert leftovers(project) == []


def test_a_second_build_is_told_the_first_holds_the_site(project):
    before = tree(project / "site")
    first = start(project, pause="write")
    try:
        wait_for_pause(first, "write")
        second = subprocess.run(build_command(project, search=False), cwd=project, capture_output=True,
                                text=True, timeout=120)
        assert second.returncode == 1
        assert "another build is writing" in second.stderr and "wait for it to finish" in second.stderr
        assert "Traceback" not in second.stderr
        assert tree(project / "site") == before
        (project / "resume").touch()
        finish(first)
        assert first.returncode == 0, first.stderr
    finally:
        (project / "resume").touch()
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    assert CHANGED in (project / "site" / "partners" / "cafetal-digital" / "index.html").read_text("utf-8")


def test_two_builds_at_once_end_with_the_site_one_build_makes(project, tmp_path):
    reference = tmp_path / "reference"
    result = build_site(paths_of(project, reference), AS_OF, search=False, out=reference)
    assert result.ok
    builds = [start(project), start(project)]
    outcomes = [(proc, *finish(proc)) for proc in builds]
    for proc, _out, err in outcomes:
        assert proc.returncode in (0, 1), err
        if proc.returncode == 1:
            assert "another build is writing" in err, err
        assert "Traceback" not in err
    assert any(proc.returncode == 0 for proc, _, _ in outcomes)
    site, expected = tree(project / "site"), tree(reference)
    differ = sorted(k for k in site.keys() | expected.keys() if site.get(k) != expected.get(k))
    assert not differ, differ
    assert leftovers(project) == []


def describe(root: Path, record: str, words: str) -> None:
    path = root / "content" / record
    text = path.read_text("utf-8")
    path.write_text(text.replace("description: |\n", f"description: |\n  {words}\n", 1), encoding="utf-8")


def test_a_build_overtaken_by_another_never_mixes_two_sites(project, tmp_path):
    """A build reads what the last build left before it takes the lock; if another build swaps a
    new site in meanwhile, reusing files as if the old one were still there would mix the two."""
    assert subprocess.run(build_command(project, False), cwd=project, capture_output=True,
                          timeout=120).returncode == 0
    describe(project, "cafetal-digital.yaml", "late-build-words")
    late_inputs = tmp_path / "late"
    shutil.copytree(project, late_inputs, ignore=shutil.ignore_patterns("site", ".cache"))
    late = start(project, pause="award")
    try:
        assert wait_for_pause(late, "award")
        describe(project, "baltic-amber-systems.yaml", "overtaking-build-words")
        overtaking = subprocess.run(build_command(project, False), cwd=project, capture_output=True,
                                    text=True, timeout=120)
        assert overtaking.returncode == 0, overtaking.stderr
        overtaken = tree(project / "site")
        (project / "resume").touch()
        _, err = finish(late)
    finally:
        (project / "resume").touch()
        if late.poll() is None:
            os.killpg(late.pid, signal.SIGKILL)
    assert "Traceback" not in err
    if late.returncode == 0:
        assert build_site(paths_of(late_inputs), AS_OF, search=False).ok
        assert tree(project / "site") == tree(late_inputs / "site"), "site/ mixes two builds"
    else:
        assert late.returncode == 1 and "build again" in err, err
        assert tree(project / "site") == overtaken


# --- faults in the environment: one clear message, exit 1, site untouched ----------------------

def run_cli(project: Path, capsys, *extra: str, search: bool = False) -> tuple[int, str]:
    code = cli.main(["build", *options(project), *([] if search else ["--no-search"]), *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def assert_refused(project: Path, before: dict, code: int, output: str, *fragments: str) -> None:
    assert code == 1, output
    assert "Traceback" not in output
    assert "The build stopped: 1 problem;" in output, output
    for fragment in fragments:
        assert fragment in output, output
    assert tree(project / "site") == before
    assert leftovers(project) == []


def test_an_unreadable_record(project, capsys, monkeypatch):
    from partnerdir import load

    real_open = open

    def refusing(path, *args, **kwargs):
        if str(path).endswith("baltic-amber-systems.yaml"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(load, "open", refusing, raising=False)
    before = tree(project / "site")
    code, output = run_cli(project, capsys)
    assert_refused(project, before, code, output, "baltic-amber-systems.yaml",
                   "cannot read the file: Permission denied")


def test_a_record_that_is_a_dangling_link(project, capsys):
    (project / "content" / "gone.yaml").symlink_to(project / "content" / "deleted.yaml")
    before = tree(project / "site")
    code, output = run_cli(project, capsys)
    assert_refused(project, before, code, output, "gone.yaml", "cannot read the file")


def test_a_folder_where_a_record_should_be(project, capsys):
    (project / "content" / "folded.yaml").mkdir()
    before = tree(project / "site")
    code, output = run_cli(project, capsys)
    assert_refused(project, before, code, output, "folded.yaml", "is a folder, not a record")


def test_missing_records_folder_and_rules(project, capsys):
    before = tree(project / "site")
    code, output = run_cli(project, capsys, "--content", str(project / "nowhere"))
    assert_refused(project, before, code, output, "cannot read the records folder")
    code, output = run_cli(project, capsys, "--data", str(project / "no-programs.yaml"))
    assert_refused(project, before, code, output, "cannot read the program rules")


def test_a_full_disk(project, capsys, monkeypatch):
    from partnerdir import write

    real_put = write.SiteWriter.put
    calls = [0]

    def put(self, path, data, *digest):
        calls[0] += 1
        if calls[0] > 5:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.folder / path))
        return real_put(self, path, data, *digest)

    monkeypatch.setattr(write.SiteWriter, "put", put)
    before = tree(project / "site")
    code, output = run_cli(project, capsys)
    assert_refused(project, before, code, output, "cannot write the site: No space left on device")


def test_a_broken_template(project, capsys):
    templates = project / "templates"
    partner = templates / "partner.html"
    lines = partner.read_text("utf-8").splitlines(keepends=True)
    lines.insert(5, "{% if partner.name %}\n")  # never closed
    partner.write_text("".join(lines), encoding="utf-8")
    before = tree(project / "site")
    code, output = run_cli(project, capsys, "--templates", str(templates))
    assert_refused(project, before, code, output, "partner.html")


def test_a_missing_pagefind_binary(project, capsys, monkeypatch):
    monkeypatch.setenv("PAGEFIND_BINARY_PATH", str(project / "no-such-pagefind"))
    before = tree(project / "site")
    code, output = run_cli(project, capsys, search=True)
    assert_refused(project, before, code, output, "Pagefind binary")


def test_no_pagefind_package_at_all(project):
    """Neither the pagefind-bin package nor a pagefind on PATH: the real command line says so."""
    before = tree(project / "site")
    proc = start(project, search=True, PARTNERDIR_TEST_HIDE="pagefind_bin", PATH="/nonexistent",
                 PAGEFIND_BINARY_PATH="")
    out, err = finish(proc)
    assert proc.returncode == 1, err
    assert "Traceback" not in err and "Pagefind" in err
    assert tree(project / "site") == before
