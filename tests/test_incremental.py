"""A rebuild after an edit gives exactly the site a build from nothing gives, and skips what it can.

Each step edits the inputs the way an editor does (a record changed, added or deleted,
programs.yaml, a template, a stylesheet), then builds twice: warm, into the same folder and
process as the builds before (reusing their checked records, awards, pages and files), and
cold, into a new folder with nothing to reuse. The two trees must be byte-identical.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from partnerdir import cache, parallel, render
from partnerdir.pipeline import build_site
from partnerdir.project import ROOT, Paths
from partnerdir.write import WriteError, staged, sync_tree, write_tree

from .site_records import AS_OF, SMALL, certifications, record, write_records

HOUR_AGO = time.time() - 3600


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def settle(*folders: Path, offset: float = 0.0) -> None:
    """Date every input in the past, as files edited a while ago are: `cache` does not trust
    the metadata of files changed in the last moments."""
    for folder in folders:
        paths = [folder] if folder.is_file() else [p for p in folder.rglob("*") if p.is_file()]
        for path in paths:
            os.utime(path, (HOUR_AGO + offset, HOUR_AGO + offset))


def make_project(tmp_path: Path, monkeypatch) -> Path:
    """Records, programs.yaml and templates of their own, so a test can edit all of them."""
    monkeypatch.setattr(parallel, "MIN_PARTNERS", 3)  # small sites take the forked path too
    content = write_records(tmp_path / "content", {**SMALL, "zeta": record("Zeta Data", body="*Zeta* text.")})
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    shutil.copy(ROOT / "data" / "programs.yaml", tmp_path / "programs.yaml")
    settle(content, tmp_path / "templates", tmp_path / "programs.yaml")
    return tmp_path


@pytest.fixture
def project(tmp_path, monkeypatch):
    return make_project(tmp_path, monkeypatch)


def paths_for(root: Path, out: Path, cache_folder: Path | None = None) -> Paths:
    return Paths(content=root / "content", rules=root / "programs.yaml", templates=root / "templates",
                 static=root / "templates" / "static", out=out, cache=cache_folder or root / ".cache")


def cold(root: Path, name: str):
    """A build from nothing: a new output folder and an empty cache of its own."""
    out = root / "cold" / name / "site"
    result = build_site(paths_for(root, out, root / "cold" / name / ".cache"), AS_OF, search=False)
    assert result.ok, [p.text() for p in result.problems]
    return result, tree(out)


@pytest.mark.parametrize("in_place", [False, True], ids=["swapped", "in-place"])
def test_warm_builds_after_edits_match_cold_builds(project, in_place):
    """Swapped: a new folder replaces the site (build). In place: changed files are replaced
    where they are (serve's preview)."""
    warm_out = project / "warm" / "site"
    paths = paths_for(project, warm_out)
    first = build_site(paths, AS_OF, search=False, in_place=in_place)
    assert first.ok and first.written == first.files

    def edit_record(step: int) -> None:
        data = record("Zeta Data", countries_served=["DE", "FR"], certifications=certifications(3),
                      body=f"*Zeta* text, edit {step}.")
        write_records(project / "content", {"zeta": data})

    def edit_description(step: int) -> None:
        """Only the description: the listing pages are kept, not made again."""
        data = record("Zeta Data", countries_served=["DE", "FR"], certifications=certifications(3),
                      body=f"*Zeta* text, edit {step}, with [a link](https://zeta.example/).")
        write_records(project / "content", {"zeta": data})

    def add_record(step: int) -> None:
        write_records(project / "content", {"new-partner": record("New Partner Oy", countries_served=["FI"])})

    def delete_record(step: int) -> None:
        (project / "content" / "new-partner.yaml").unlink()

    def edit_rules(step: int) -> None:
        rules = project / "programs.yaml"
        rules.write_text(rules.read_text(encoding="utf-8").replace("title: Partner Directory",
                                                                   "title: Partner Finder"), encoding="utf-8")

    def edit_partner_template(step: int) -> None:
        page = project / "templates" / "partner.html"
        page.write_text(page.read_text(encoding="utf-8").replace("<h2 id=\"about-title\">About</h2>",
                                                                 "<h2 id=\"about-title\">About us</h2>"),
                        encoding="utf-8")

    def edit_card(step: int) -> None:
        card = project / "templates" / "_card.html"
        card.write_text(card.read_text(encoding="utf-8").replace("<dt>Programs</dt>", "<dt>Member of</dt>"),
                        encoding="utf-8")

    def edit_stylesheet(step: int) -> None:
        css = project / "templates" / "static" / "site.css"
        css.write_text(css.read_text(encoding="utf-8") + "\n/* edited */\n", encoding="utf-8")

    steps = [edit_record, edit_description, add_record, delete_record, edit_rules, edit_partner_template,
             edit_card, edit_stylesheet]
    for step, edit in enumerate(steps, start=1):
        edit(step)
        settle(project / "content", project / "templates", project / "programs.yaml", offset=step)
        warm = build_site(paths, AS_OF, search=False, in_place=in_place)
        assert warm.ok, (edit.__name__, [p.text() for p in warm.problems])
        assert not warm.unchanged
        expected, expected_tree = cold(project, edit.__name__)
        got = tree(warm_out)
        assert sorted(got) == sorted(expected_tree), edit.__name__
        assert [p for p in got if got[p] != expected_tree[p]] == [], edit.__name__
        assert (warm.listed, warm.files, warm.pages, warm.review) == \
            (expected.listed, expected.files, expected.pages, expected.review)
        if edit is edit_record:
            # one partner's page, the pages listing it and the open data; not the whole site
            assert 0 < warm.written < warm.files / 2, warm.written
        if edit is edit_description:
            assert warm.written == 3, warm.written  # its page, partners.json and partners.csv
    assert "Partner Finder" in got["index.html"].decode()
    assert "new-partner" not in "".join(got)


def many_partners(count: int) -> dict[str, dict]:
    """Enough partners for several directory pages, serving and headquartered in a few countries."""
    countries = ["DE", "FR", "NL", "US", "JP"]
    return {f"member-{i:02d}": record(f"Member {i:02d} Consulting", countries_served=[countries[i % 5]],
                                      headquarters={"city": "Somewhere", "country": countries[(i + 1) % 5]},
                                      certifications=certifications(i % 4), joined=dt.date(2025, 3, 1))
            for i in range(count)}


def count_renders(monkeypatch) -> list[str]:
    """The paths of the pages whose templates are rendered in this process from here on (the
    renders of forked workers are not seen: count on one core)."""
    rendered: list[str] = []
    methods = {name: getattr(render._Renderer, name) for name in ("page", "pieces")}
    for name in methods:  # the two ways a page's template is rendered
        def counted(self, made, name=name):
            rendered.append(made.path)
            return methods[name](self, made)
        monkeypatch.setattr(render._Renderer, name, counted)
    return rendered


@pytest.mark.parametrize("workers", ["1", ""], ids=["one-core", "every-core"])
def test_edits_to_listed_data_rebuild_in_place_as_a_cold_build_does(project, monkeypatch, workers):
    """What `serve` does after an edit that changes listings: a country served added or
    removed, a name (and so the order of cards), a status, a partner removed at the review and
    back again. Each warm site equals a cold build's, and on one core (where the renders can be
    counted) a country added renders only the pages that list the partner, not all of them."""
    monkeypatch.setenv("PARTNERDIR_WORKERS", workers)
    write_records(project / "content", many_partners(60))  # three directory pages
    settle(project / "content")
    warm_out = project / "warm" / "site"
    paths = paths_for(project, warm_out)
    assert build_site(paths, AS_OF, search=False, in_place=True).ok
    rendered = count_renders(monkeypatch)

    def member(step: int, **fields) -> None:
        data = {**many_partners(60)["member-07"], "description": f"Edit {step}.", **fields}
        write_records(project / "content", {"member-07": data})

    steps = [
        ("country added", lambda step: member(step, countries_served=["US", "IS"])),
        ("country removed", lambda step: member(step, countries_served=["IS"])),
        ("name changed", lambda step: member(step, name="Aardvark Member Consulting")),
        ("status changed", lambda step: member(step, certifications=certifications(12))),
        ("removed at the review", lambda step: member(step, joined=dt.date(2023, 1, 1), certifications=[])),
        ("listed again", lambda step: member(step)),
        ("another name", lambda step: write_records(project / "content", {
            "member-30": {**many_partners(60)["member-30"], "name": "Zulu Consulting"}})),
    ]
    for step, (label, edit) in enumerate(steps, start=1):
        edit(step)
        edited = [project / "content" / f"member-{'30' if label == 'another name' else '07'}.yaml"]
        settle(*edited, offset=step)  # only the edited file: the others keep their checked partners
        rendered.clear()
        warm = build_site(paths, AS_OF, search=False, in_place=True, changed=edited)
        assert warm.ok, (label, [p.text() for p in warm.problems])
        listing = [path for path in rendered if not path.startswith("partners/")]
        expected, expected_tree = cold(project, label.replace(" ", "-"))
        got = tree(warm_out)
        assert sorted(got) == sorted(expected_tree), label
        assert [p for p in got if got[p] != expected_tree[p]] == [], label
        assert (warm.listed, warm.files, warm.pages, warm.review) == \
            (expected.listed, expected.files, expected.pages, expected.review), label
        if label == "country added" and workers == "1":
            # the pages it joins or whose own text changes (a count, a new country's page, the
            # country index); not the pages that list it already, whose kept pieces take its new
            # card, nor the other directory pages, whose pieces take the new facet counts
            assert "countries/is/index.html" in listing and "page/3/index.html" not in listing, listing
            assert "countries/us/index.html" in listing, listing
            assert "expertise/integration/index.html" not in listing, listing  # its card changed, no count
            assert len(listing) < 15, listing
    home = got["index.html"].decode()
    assert "Zulu Consulting" in got["page/3/index.html"].decode() and "Aardvark" not in home


@pytest.mark.parametrize("relisting", [False, True])
def test_a_new_build_process_takes_the_kept_listing_pages_from_the_cache(project, monkeypatch, relisting):
    """`build` after edits to listed data, each in a new process: the listing pages kept on
    disk by the one before (the first build's, from nothing, too) let it render only those
    that change, their tables take every other partner's row from the cache, and the site is
    a cold build's; the ordinary rebuild, or the one from the listing state (`relist`), which
    does not even look at the pages that cannot change."""
    from partnerdir import relist

    monkeypatch.setenv("PARTNERDIR_WORKERS", "1")
    if not relisting:
        monkeypatch.setattr(relist, "rebuild", lambda *args: None)
    write_records(project / "content", many_partners(60))
    settle(project / "content")
    out = project / "site"
    paths = paths_for(project, out)
    rendered = count_renders(monkeypatch)
    table_rows: list[str] = []
    make_table_row = render._Renderer.row
    monkeypatch.setattr(render._Renderer, "row", lambda self, view: table_rows.append(view.slug) or
                        make_table_row(self, view))
    edited = project / "content" / "member-07.yaml"
    for step, countries in enumerate([["US", "IS"], ["IS"], ["NL"]]):
        if step:
            write_records(project / "content", {"member-07": {**many_partners(60)["member-07"],
                                                              "countries_served": countries}})
            settle(edited, offset=step)
        cache._MEMOS.clear()  # a new process
        rendered.clear()
        table_rows.clear()
        result = build_site(paths, AS_OF, search=False, remember=False)
        assert result.ok, [p.text() for p in result.problems]
        listing = [path for path in rendered if not path.startswith("partners/")]
        if step:  # the build before kept its listing pages, and every table row
            assert "page/2/index.html" not in listing and len(listing) < 15, listing
            # (its row made again, or not even that: the same row, in the same lists)
            assert set(table_rows) == {"member-07"} or relisting and not table_rows, table_rows
            assert ("countries/us/index.html" in listing) == (step == 1 or not relisting), listing
        if step == 2:
            assert "countries/nl/index.html" in listing, listing
        expected = cold(project, f"step-{step}")[1]
        got = tree(out)
        assert sorted(got) == sorted(expected)
        assert [p for p in got if got[p] != expected[p]] == [], step
    # CI: the output folder gone, the cache restored; the build after it keeps its kept pages
    shutil.rmtree(out)
    cache._MEMOS.clear()
    assert build_site(paths, AS_OF, search=False, remember=False).ok
    write_records(project / "content", {"member-07": {**many_partners(60)["member-07"],
                                                      "countries_served": ["US"]}})
    settle(edited, offset=5)
    cache._MEMOS.clear()
    rendered.clear()
    table_rows.clear()
    assert build_site(paths, AS_OF, search=False, remember=False).ok
    listing = [path for path in rendered if not path.startswith("partners/")]
    assert "page/2/index.html" not in listing and len(listing) < 15, listing
    assert set(table_rows) <= {"member-07"}, table_rows
    expected = cold(project, "after-ci")[1]
    assert tree(out) == expected


def test_a_build_from_nothing_reads_each_record_once_and_keys_the_cache_by_those_bytes(project, monkeypatch):
    """A cold build used to read every record twice: once for its cache key, once to check
    it. Now the key is made from the bytes checked, and a new process after it finds every
    record in the cache by that key, checking none."""
    from partnerdir import check

    out = project / "site"
    paths = paths_for(project, out)
    monkeypatch.setattr(cache, "_read_keys", lambda names: pytest.fail(f"read again for keys: {names}"))
    first = build_site(paths, AS_OF, search=False, remember=False)
    assert first.ok, [p.text() for p in first.problems]
    monkeypatch.undo()
    monkeypatch.setattr(parallel, "MIN_PARTNERS", 3)
    checked: list = []
    check_files = check.check_files
    monkeypatch.setattr(check, "check_files", lambda content, files, *a, **k: checked.extend(files) or
                        check_files(content, files, *a, **k))
    edited = project / "content" / "zeta.md"
    edited.write_text(edited.read_text(encoding="utf-8") + "\nMore text.\n", encoding="utf-8")
    settle(edited, offset=1)
    cache._MEMOS.clear()  # a new process
    again = build_site(paths, AS_OF, search=False, remember=False)
    assert again.ok and checked == []  # (the one edited record is checked on its own)
    assert tree(out) == cold(project, "after")[1]


def test_a_build_on_every_core_is_the_same_as_a_build_on_one(project, monkeypatch):
    parallel_out, serial_out = project / "parallel" / "site", project / "serial" / "site"
    assert build_site(paths_for(project, parallel_out), AS_OF, search=False).ok
    monkeypatch.setenv("PARTNERDIR_WORKERS", "1")
    assert build_site(paths_for(project, serial_out), AS_OF, search=False).ok
    assert tree(parallel_out) == tree(serial_out)


def test_nothing_changed_means_nothing_is_done(project):
    out = project / "site"
    paths = paths_for(project, out)
    first = build_site(paths, AS_OF, search=False)
    assert first.ok and not first.unchanged
    before = tree(out)
    inode = out.stat().st_ino
    again = build_site(paths, AS_OF, search=False)
    assert again.ok and again.unchanged
    assert (again.listed, again.files, again.pages, again.review) == \
        (first.listed, first.files, first.pages, first.review)
    assert out.stat().st_ino == inode and tree(out) == before  # the site was not even swapped

    # Any input that affects the site counts, and so does a site that is no longer the one built.
    assert not build_site(paths, AS_OF, search=False, base_url="https://other.example/").unchanged
    assert not build_site(paths, AS_OF.replace(day=16), search=False).unchanged
    assert build_site(paths, AS_OF.replace(day=16), search=False).unchanged
    shutil.rmtree(out)
    rebuilt = build_site(paths, AS_OF.replace(day=16), search=False)
    assert rebuilt.ok and not rebuilt.unchanged and (out / "index.html").is_file()


def test_the_libraries_versions_are_those_pip_installed(tmp_path, monkeypatch):
    """The cache is keyed by the versions of the libraries that shape a page, read from the
    names of their metadata folders: the same as importlib.metadata's answers, the first on
    the path winning, and a new version of one (pip install -U) a new key."""
    from importlib.metadata import version

    names = (*cache.LIBRARIES, "typing_extensions", "pydantic-core", "no-such-library-at-all")
    found = cache.library_versions(names)
    assert found == {name: version(name) for name in names[:-1]} | {names[-1]: "none"}

    before = cache.library_versions(("Jinja2", "PyYAML"))
    earlier, later = tmp_path / "a", tmp_path / "b"
    for folder, jinja in ((earlier, "jinja2-9.0.dist-info"), (later, "Jinja2-8.0.dist-info")):
        (folder / jinja).mkdir(parents=True)
    (later / "pyyaml.egg-info").mkdir()  # (no version in its name: not taken for one)
    monkeypatch.setattr(sys, "path", [str(earlier), str(later), *sys.path])
    assert cache.library_versions(("Jinja2", "PyYAML")) == {"Jinja2": "9.0", "PyYAML": before["PyYAML"]}


def test_a_record_edited_just_now_is_read_again_even_if_its_metadata_looks_unchanged(project):
    """Metadata cannot tell apart two versions written within one clock tick, so recent files
    are always read."""
    out = project / "site"
    paths = paths_for(project, out)
    zeta = project / "content" / "zeta.md"
    zeta.write_text(zeta.read_text(encoding="utf-8"), encoding="utf-8")  # saved just now
    assert build_site(paths, AS_OF, search=False).ok
    stat = zeta.stat()
    zeta.write_text(zeta.read_text(encoding="utf-8").replace("*Zeta* text.", "*Zeta* word."),
                    encoding="utf-8")  # same size,
    os.utime(zeta, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same time: saved again within a tick
    assert zeta.stat().st_size == stat.st_size
    result = build_site(paths, AS_OF, search=False)
    assert result.ok and not result.unchanged
    assert "<em>Zeta</em> word." in (out / "partners" / "zeta" / "index.html").read_text(encoding="utf-8")


def test_problems_after_a_good_build_are_reported_and_the_site_stays(project):
    out = project / "site"
    paths = paths_for(project, out)
    assert build_site(paths, AS_OF, search=False).ok
    before = tree(out)
    write_records(project / "content", {"zeta": record("Zeta Data", countries_served=["UK"])})
    write_records(project / "content", {"twin": record("Twin", slug="alpha-var")})
    settle(project / "content", offset=5)
    result = build_site(paths, AS_OF, search=False)
    assert not result.ok
    messages = [p.text() for p in result.problems]
    assert any("unknown country code 'UK'" in m for m in messages), messages
    assert any("already used by" in m or "disagrees with the file name" in m for m in messages), messages
    assert tree(out) == before


def test_the_command_line_skips_a_build_when_nothing_changed(project):
    out = project / "site"
    command = [sys.executable, str(ROOT / "build.py"), "build", "--content", str(project / "content"),
               "--data", str(project / "programs.yaml"), "--templates", str(project / "templates"),
               "--out", str(out), "--as-of", "2026-11-15", "--no-search"]
    first = subprocess.run(command, cwd=project, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    second = subprocess.run(command, cwd=project, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    assert "Nothing changed since the last build" in second.stdout
    assert "Nothing changed" not in first.stdout


def test_a_failed_incremental_write_leaves_the_live_site_untouched(tmp_path):
    """The staging folder shares files with the live site through hard links; a rewrite must
    replace a file, never write into it, or a failed build would change the live site."""
    out = tmp_path / "site"
    old = {".nojekyll": b"", "index.html": b"old home", "a/index.html": b"page a", "gone.txt": b"x"}
    write_tree(out, old)
    manifest = {path: cache_hash(data) for path, data in old.items()}
    with pytest.raises(RuntimeError), staged(out, reuse=True) as stage:
        sync_tree(stage, {".nojekyll": b"", "index.html": b"new home", "a/index.html": b"page a"}, manifest)
        assert tree(stage) == {".nojekyll": b"", "a/index.html": b"page a", "index.html": b"new home"}
        raise RuntimeError("the index stage failed")
    assert tree(out) == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]

    with staged(out, reuse=True) as stage:
        new = {".nojekyll": b"", "index.html": b"new home", "b/x": b"b"}
        hashes, written = sync_tree(stage, new, manifest)
    assert written == 2  # index.html and b/x; .nojekyll was already right
    assert tree(out) == {".nojekyll": b"", "index.html": b"new home", "b/x": b"b"}
    assert not (out / "a").exists()  # folders emptied of old files go too
    assert hashes["b/x"] == cache_hash(b"b")


def cache_hash(data: bytes) -> str:
    from partnerdir.write import content_hash
    return content_hash(data)


def test_sync_refuses_paths_outside_the_site(tmp_path):
    with pytest.raises((ValueError, WriteError)):
        sync_tree(tmp_path, {"../evil": b"x"})


def test_an_in_place_rebuild_rewrites_only_changed_files_and_keeps_the_folder(project):
    out = project / "site"
    paths = paths_for(project, out)
    assert build_site(paths, AS_OF, search=False).ok
    folder, untouched = out.stat().st_ino, (out / "partners" / "alpha-var" / "index.html").stat().st_ino
    write_records(project / "content", {"zeta": record("Zeta Data", body="*Zeta* edited.")})
    settle(project / "content", offset=9)
    result = build_site(paths, AS_OF, search=False, in_place=True)
    assert result.ok and 0 < result.written < 10
    assert out.stat().st_ino == folder
    assert (out / "partners" / "alpha-var" / "index.html").stat().st_ino == untouched
    assert "<em>Zeta</em> edited." in (out / "partners" / "zeta" / "index.html").read_text(encoding="utf-8")
    assert not list(out.rglob(".*.tmp"))
    assert sorted(p.name for p in project.iterdir() if p.name.startswith(".site")) == [".site.lock"]


def test_the_cache_folder_ignores_itself_in_git(project):
    out = project / "site"
    assert build_site(paths_for(project, out), AS_OF, search=False).ok
    assert (project / ".cache" / ".gitignore").read_text() == "*\n"
    assert list((project / ".cache" / "build").glob("*.json"))
    assert cache.load_last(paths_for(project, out), out) is not None


def test_the_build_command_reports_each_stage_in_a_ci_log(project, capsys, monkeypatch):
    from partnerdir.cli import main

    monkeypatch.setenv("CI", "true")
    code = main(["build", "--content", str(project / "content"), "--data", str(project / "programs.yaml"),
                 "--templates", str(project / "templates"), "--out", str(project / "site"),
                 "--as-of", "2026-11-15", "--no-search"])
    assert code == 0
    err = capsys.readouterr().err
    assert "render: 5/5 done in" in err and "write: " in err, err
    assert "\r" not in err  # one plain line per stage, no bar animation in a log


def test_a_file_put_together_piece_by_piece_is_written_like_any_other(tmp_path):
    """partners.json is written as it is assembled; unchanged it is left alone, changed it is
    replaced, never written into (the live site may share the old file through a hard link)."""
    from partnerdir.write import SiteWriter, content_hash, pieces_hash

    out = tmp_path / "site"
    write_tree(out, {".nojekyll": b"", "partners.json": b'{"a": 1}'})
    shared = out / "partners.json"
    with staged(out, reuse=True) as stage:
        previous = {"partners.json": pieces_hash([b'{"a"', b": 1}"]), ".nojekyll": content_hash(b"")}
        writer = SiteWriter(stage, previous)
        assert writer.put_chunks("partners.json", [b'{"a"', b": 1}"]) == (previous["partners.json"], False)
        digest, written = writer.put_chunks("partners.json", iter([b'{"a": ', b"2}"]))
        assert written and digest == pieces_hash([b'{"a": ', b"2}"])
        assert shared.read_bytes() == b'{"a": 1}'  # the live file is untouched until the swap
        writer.finish({"partners.json": None, ".nojekyll": None})
    assert (out / "partners.json").read_bytes() == b'{"a": 2}'
    assert not list(out.glob(".*.tmp"))


def test_a_file_put_together_again_copies_its_unchanged_pieces_and_is_whole(tmp_path):
    """A rebuild in the same process copies the pieces before and after the changed one from
    the file it wrote, and the result is exactly the new pieces joined; a file changed behind
    its back is written whole instead."""
    from partnerdir.write import SiteWriter

    out = tmp_path / "site"
    out.mkdir()
    pieces = [f"entry {i}\n".encode() * 50 for i in range(200)]
    first = SiteWriter(out, {}, in_place=True)
    digest, written = first.put_chunks("partners.json", pieces)
    assert written and (out / "partners.json").read_bytes() == b"".join(pieces)
    for changed in ([*pieces[:100], b"changed\n", *pieces[101:]],  # one entry
                    [b"first\n", *pieces[1:]],  # the first
                    [*pieces[:150], *pieces[151:]],  # one removed
                    [*pieces[:10], b"new\n", *pieces[10:]]):  # one added
        writer = SiteWriter(out, {"partners.json": digest}, in_place=True)
        digest, written = writer.put_chunks("partners.json", changed)
        assert written and (out / "partners.json").read_bytes() == b"".join(changed)
        pieces = changed
    (out / "partners.json").write_bytes(b"edited by hand")
    writer = SiteWriter(out, {"partners.json": digest}, in_place=True)
    final = [*pieces[:5], b"last\n", *pieces[6:]]
    assert writer.put_chunks("partners.json", final)[1]
    assert (out / "partners.json").read_bytes() == b"".join(final)


def test_a_rebuild_that_fails_while_rendering_leaves_the_site_as_it_was(project):
    """A rebuild without search stages only changed files and moves them in at the end: a
    template mistake found half way through changes nothing and leaves no staging folder."""
    out = project / "site"
    paths = paths_for(project, out)
    assert build_site(paths, AS_OF, search=False, remember=False).ok
    before = tree(out)
    write_records(project / "content", {"zeta": record("Zeta Data", body="*Zeta* changed.")})
    card = project / "templates" / "_card.html"
    card.write_text(card.read_text(encoding="utf-8") + "{{ p.no_such_field }}\n", encoding="utf-8")
    settle(project / "content", project / "templates", offset=7)
    result = build_site(paths, AS_OF, search=False, remember=False)
    assert not result.ok and "_card.html" in result.problems[0].text()
    assert tree(out) == before
    assert sorted(p.name for p in project.iterdir() if p.name.startswith(".site")) == [".site.lock"]


@pytest.mark.parametrize("collecting", [True, False])
def test_the_collector_waits_until_a_build_is_done(project, monkeypatch, collecting):
    """A build runs with the cyclic garbage collector off (its passes cost a cold build of
    10,000 partners a third of a second, to free nothing), in its workers too, and leaves it
    as it found it: on in `serve` and the tests, off in a one-shot `build.py`."""
    import gc

    seen: list[bool] = []
    render_site = render.render_site

    def spy(*args, **kwargs):
        seen.append(gc.isenabled())
        return render_site(*args, **kwargs)

    monkeypatch.setattr(render, "render_site", spy)
    was = gc.isenabled()
    (gc.enable if collecting else gc.disable)()
    try:
        result = build_site(paths_for(project, project / "site"), AS_OF, search=False)
        assert result.ok and seen == [False]
        assert gc.isenabled() == collecting
    finally:
        (gc.enable if was else gc.disable)()
