"""The site on disk is replaced all at once, or not at all, and by one build at a time."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from partnerdir import pipeline
from partnerdir.cli import main
from partnerdir.project import ROOT
from partnerdir.write import WriteError, locked, staged, write_tree
from tests.site_records import SMALL, build, record, write_records


def tree(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_write_tree_writes_nested_files(tmp_path):
    n = write_tree(tmp_path, {"index.html": b"home", "partners/a/index.html": b"a", ".nojekyll": b""})
    assert n == 3
    assert tree(tmp_path) == {"index.html": b"home", "partners/a/index.html": b"a", ".nojekyll": b""}


@pytest.mark.parametrize("path", ["../escape.html", "/etc/passwd", "a/../../b"])
def test_write_tree_refuses_paths_outside_the_site(tmp_path, path):
    with pytest.raises(ValueError):
        write_tree(tmp_path / "site", {path: b"x"})
    assert not (tmp_path / "escape.html").exists()


def test_staged_swaps_in_the_new_site_only_at_the_end(tmp_path):
    out = tmp_path / "site"
    write_tree(out, {"index.html": b"old", ".nojekyll": b""})
    with staged(out) as stage:
        write_tree(stage, {"index.html": b"new", ".nojekyll": b""})
        assert (out / "index.html").read_bytes() == b"old"  # visitors still see the old site
        assert stage.parent == out.parent
    assert tree(out) == {"index.html": b"new", ".nojekyll": b""}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]
    assert oct(out.stat().st_mode & 0o777) == oct(0o755)


def test_a_failure_while_staging_leaves_the_old_site_and_no_leftovers(tmp_path):
    out = tmp_path / "site"
    write_tree(out, {"index.html": b"old", ".nojekyll": b""})
    with pytest.raises(RuntimeError), staged(out) as stage:
        write_tree(stage, {"index.html": b"half"})
        raise RuntimeError("index stage failed")
    assert tree(out) == {"index.html": b"old", ".nojekyll": b""}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]


def test_leftovers_of_a_killed_build_are_cleared(tmp_path):
    out = tmp_path / "site"
    (tmp_path / ".site.build-abc123").mkdir()
    (tmp_path / ".site.build-abc123" / "index.html").write_text("half")
    with staged(out) as stage:
        write_tree(stage, {".nojekyll": b""})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]


def test_staged_refuses_to_replace_a_folder_that_is_not_a_built_site(tmp_path):
    out = tmp_path / "docs"
    write_tree(out, {"important.txt": b"keep me"})
    with pytest.raises(WriteError, match="not empty and was not written by a build"), staged(out):
        pass
    assert (out / "important.txt").read_bytes() == b"keep me"


def test_staged_refuses_to_replace_the_project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    with pytest.raises(WriteError, match="holds the project"), staged(tmp_path):
        pass
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    with pytest.raises(WriteError, match="holds the project"), staged(repo):
        pass


def test_a_second_lock_is_refused_with_the_holder(tmp_path):
    out = tmp_path / "site"
    with locked(out):
        with pytest.raises(WriteError) as error, locked(out):
            pass
        assert f"another build is writing {out} (process {os.getpid()})" in str(error.value)
    with locked(out):  # released
        pass


def test_a_build_while_another_holds_the_lock_changes_nothing(tmp_path, capsys):
    result, paths = build(tmp_path, SMALL)
    assert result.ok
    before = tree(paths.out)
    with locked(paths.out):
        code = main(["build", "--content", str(paths.content), "--out", str(paths.out),
                     "--as-of", "2026-11-15", "--no-search"])
    err = capsys.readouterr().err
    assert code == 1
    assert "another build is writing" in err and "wait for it to finish" in err
    assert tree(paths.out) == before


def test_concurrent_builds_never_corrupt_the_site(tmp_path):
    """Two real processes race; each either builds the whole site or stops with the lock message."""
    content = write_records(tmp_path / "content", SMALL)
    out = tmp_path / "site"
    command = [sys.executable, str(ROOT / "build.py"), "build", "--content", str(content), "--out", str(out),
               "--as-of", "2026-11-15", "--no-search"]
    runs = [subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(3)]
    results = [(r.wait(timeout=120), r.stdout.read(), r.stderr.read()) for r in runs]
    assert any(code == 0 for code, _, _ in results)
    for code, _, err in results:
        assert code == 0 or "another build is writing" in err, err
    reference, _ = build(tmp_path / "reference", SMALL)
    assert tree(out) == tree(reference.out)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".site.build")) == []


def test_a_failing_index_stage_leaves_the_previous_site(tmp_path, monkeypatch):
    result, paths = build(tmp_path, SMALL)
    before = tree(paths.out)

    class BrokenIndex:
        @staticmethod
        def build_index(folder, directory, *more):
            assert (folder / "index.html").exists()  # the index stage sees the finished pages
            raise OSError(28, "No space left on device", str(folder / "pagefind"))

    monkeypatch.setattr(pipeline, "search_available", lambda: True)
    monkeypatch.setattr(pipeline.importlib, "import_module", lambda name: BrokenIndex)
    write_records(paths.content, {"zeta-new": record("Zeta New")})
    failed = pipeline.build_site(paths, result.as_of, search=True)
    assert not failed.ok
    assert "No space left on device" in failed.problems[0].message
    assert tree(paths.out) == before
    assert sorted(p.name for p in paths.out.parent.iterdir() if p.name.startswith(".site.build")) == []


def test_a_failing_validation_leaves_the_previous_site(tmp_path):
    result, paths = build(tmp_path, SMALL)
    before = tree(paths.out)
    write_records(paths.content, {"broken": record("Broken", joined="someday")})
    failed = pipeline.build_site(paths, result.as_of, search=False)
    assert not failed.ok and failed.problems[0].field == "joined"
    assert tree(paths.out) == before


def test_a_search_index_error_is_reported_with_its_hint(tmp_path, monkeypatch):
    result, paths = build(tmp_path, SMALL)
    before = tree(paths.out)

    class IndexError_(Exception):
        hint = "build with --no-search to publish without search"

    class BrokenIndex:
        @staticmethod
        def build_index(folder, directory, *more):
            raise IndexError_("Pagefind could not index the site: out of memory")

    monkeypatch.setattr(pipeline, "search_available", lambda: True)
    monkeypatch.setattr(pipeline.importlib, "import_module", lambda name: BrokenIndex)
    failed = pipeline.build_site(paths, result.as_of, search=True)
    assert [p.text() for p in failed.problems] == [
        "search index: Pagefind could not index the site: out of memory "
        "(build with --no-search to publish without search)"]
    assert tree(paths.out) == before


def test_a_sparse_rebuild_frees_large_replaced_files_after_the_site_is_whole(tmp_path, monkeypatch):
    """A large file replaced by a sparse rebuild (partners.json) is deleted by a thread after
    the rebuild; the site has the new file at once, a reader holding the old one keeps it, and
    nothing is left next to the site or in it."""
    import threading

    from partnerdir import write
    from partnerdir.write import SiteWriter, sparse_staged

    monkeypatch.setattr(write, "BIG", 10)  # every file here counts as large
    out = tmp_path / "site"
    write_tree(out, {".nojekyll": b"", "partners.json": b"old entries, many bytes", "index.html": b"home"})
    reader = open(out / "partners.json", "rb")  # a visitor's download in progress
    before = set(threading.enumerate())
    with sparse_staged(out) as (stage, writers):
        writer = SiteWriter(stage, {"index.html": write.content_hash(b"home")}, in_place=True, base=out)
        writers.append(writer)
        writer.put("index.html", b"home")
        writer.put("partners.json", b"new entries, many bytes")
    assert (out / "partners.json").read_bytes() == b"new entries, many bytes"
    assert reader.read() == b"old entries, many bytes"
    reader.close()
    for thread in set(threading.enumerate()) - before:
        thread.join(5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]
    assert tree(out) == {".nojekyll": b"", "index.html": b"home", "partners.json": b"new entries, many bytes"}


def _swappable(folder) -> bool:
    """Whether this system and file system swap two files (renameat2 RENAME_EXCHANGE)."""
    from partnerdir import write

    (folder / ".a").write_bytes(b"a")
    (folder / ".b").write_bytes(b"b")
    try:
        return write._exchange(folder / ".a", folder / ".b")
    finally:
        (folder / ".a").unlink()
        (folder / ".b").unlink()


@pytest.mark.parametrize("big", [False, True])
def test_replace_puts_the_new_file_in_place_and_leaves_nothing_else(tmp_path, monkeypatch, big):
    """A file replaced (a page, partners.json, a cache file) has the new bytes at once, a reader
    holding the old one keeps reading it, and no other file is left in the folder, whether the
    old one was swapped out or replaced (large ones are let go by a thread)."""
    import threading

    from partnerdir import write

    monkeypatch.setattr(write, "BIG", 10 if big else 1 << 30)
    target, new = tmp_path / "partners.json", tmp_path / ".partners.json.tmp"
    target.write_bytes(b"old entries, many bytes")
    new.write_bytes(b"new entries, many bytes")
    reader = open(target, "rb")
    before = set(threading.enumerate())
    write.replace(new, target)
    assert target.read_bytes() == b"new entries, many bytes"
    assert reader.read() == b"old entries, many bytes"
    reader.close()
    for thread in set(threading.enumerate()) - before:
        thread.join(5)
    assert [p.name for p in tmp_path.iterdir()] == ["partners.json"]


def test_replace_swaps_files_rather_than_renaming_over_them(tmp_path, monkeypatch):
    """On Linux the new file and the old are swapped (renameat2): a rename over an existing
    file makes ext4 write the new one out there and then (4-30 ms for partners.json, a tenth
    of a quick rebuild). Where swapping works, os.replace is not used to replace a file."""
    from partnerdir import write

    if not _swappable(tmp_path):
        pytest.skip("this system or file system cannot swap two files")
    target, new = tmp_path / "page.html", tmp_path / ".page.html.tmp"
    target.write_bytes(b"old")
    new.write_bytes(b"new")

    def no_rename(*args):
        raise AssertionError("os.replace used though the files could be swapped")

    monkeypatch.setattr(write.os, "replace", no_rename)
    write.replace(new, target)
    assert target.read_bytes() == b"new"
    assert not new.exists()


@pytest.mark.parametrize("unavailable", ["no renameat2", "refused"])
def test_replace_without_swapping_renames(tmp_path, monkeypatch, unavailable):
    """Where the C library has no renameat2 (another system), where the file system refuses to
    swap, and where there is no file to replace, the new file is renamed into place."""
    import errno

    from partnerdir import write

    if unavailable == "no renameat2":
        monkeypatch.setattr(write, "_renameat2", lambda: None)
    else:
        def refuse(a, b):
            raise OSError(errno.EPERM, "Operation not permitted", str(b))

        monkeypatch.setattr(write, "_exchange", refuse)
    target, new = tmp_path / "page.html", tmp_path / ".page.html.tmp"
    target.write_bytes(b"old")
    new.write_bytes(b"new")
    write.replace(new, target)
    assert target.read_bytes() == b"new" and not new.exists()
    monkeypatch.undo()
    fresh = tmp_path / ".other.tmp"
    fresh.write_bytes(b"first")
    write.replace(fresh, tmp_path / "other.html")
    assert (tmp_path / "other.html").read_bytes() == b"first" and not fresh.exists()


def test_a_cache_file_written_again_replaces_the_old_one(tmp_path):
    """record_cache.write over an existing file: readers get the new data, no file is left."""
    from partnerdir import record_cache

    path = tmp_path / "shard-00.bin"
    assert record_cache.write(path, "key", {"a": 1})
    assert record_cache.write(path, "key", {"a": 2})
    assert record_cache.read(path, "key") == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["shard-00.bin"]


@pytest.mark.parametrize("writev", ["whole", "short", "none"])
def test_a_file_of_many_pieces_is_written_whole(tmp_path, monkeypatch, writev):
    """partners.json is 20,000 pieces, written a thousand at a time with os.writev: whatever
    os.writev manages (all, part, or there is none), the file holds every piece in order."""
    from partnerdir import write
    from partnerdir.write import SiteWriter

    pieces = [f"piece {i}: ".encode() + bytes([65 + i % 26]) * (i % 300) + b"\n" for i in range(3000)]
    real = os.writev
    if writev == "short":
        monkeypatch.setattr(write.os, "writev", lambda fd, batch: real(fd, batch[: len(batch) // 2 + 1]))
    elif writev == "none":
        monkeypatch.delattr(write.os, "writev")
    digest, written = SiteWriter(tmp_path).put_chunks("big.json", iter(pieces))
    assert written and (tmp_path / "big.json").read_bytes() == b"".join(pieces)
    assert digest == write.pieces_hash(pieces)


def test_a_new_file_that_fails_to_write_raises_and_leaves_nothing(tmp_path, monkeypatch):
    """A new file of pieces is written by a thread while the pieces are hashed; its error is
    the build's, and its half-written file is not left behind."""
    from partnerdir import write
    from partnerdir.write import SiteWriter

    def fail(f, pieces):
        f.write(pieces[0])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(write, "_write_pieces", fail)
    with pytest.raises(OSError, match="No space left"):
        SiteWriter(tmp_path).put_chunks("data/big.json", iter([b"a" * 5000, b"b" * 5000]))
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == []
