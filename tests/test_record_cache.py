"""The on-disk record cache: a new `build` process reuses what earlier ones checked and rendered,
and the site it makes is always byte for byte the one a build from nothing makes.

Each step edits the inputs the way an editor does, then runs `build` twice as separate
processes: warm (the same output folder and .cache/ as every step before) and cold (a new
output folder and an empty cache). The two trees must be identical.
"""

from __future__ import annotations

import datetime as dt
import marshal
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from partnerdir import cache, record_cache
from partnerdir.pipeline import build_site
from partnerdir.problems import format_problems
from partnerdir.project import ROOT
from partnerdir.write import content_hash

from .site_records import AS_OF, SMALL, certifications, projects, record, write_records
from .test_incremental import make_project, paths_for, settle, tree


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = make_project(tmp_path, monkeypatch)
    cache._MEMOS.clear()  # nothing kept in this process from other tests
    yield root
    cache._MEMOS.clear()


def command(root: Path, out: Path, cache_folder: Path, as_of: str = "2026-11-15") -> list[str]:
    return [sys.executable, str(ROOT / "build.py"), "build", "--content", str(root / "content"),
            "--data", str(root / "programs.yaml"), "--templates", str(root / "templates"),
            "--out", str(out), "--cache", str(cache_folder), "--as-of", as_of, "--no-search"]


def build_process(root: Path, out: Path, cache_folder: Path, as_of: str = "2026-11-15") -> str:
    done = subprocess.run(command(root, out, cache_folder, as_of), cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def test_builds_in_new_processes_after_edits_match_builds_from_nothing(project):
    warm_out, warm_cache = project / "warm" / "site", project / ".cache"
    build_process(project, warm_out, warm_cache)

    def edit_description() -> None:
        write_records(project / "content", {"zeta": record("Zeta Data", body="*Zeta* text, edited.")})

    def edit_description_again() -> None:  # rebuilt from the snapshot the last build left
        write_records(project / "content", {"zeta": record("Zeta Data", body="*Zeta* text, edited twice.")})

    def edit_listed_fields() -> None:
        write_records(project / "content", {"zeta": record(
            "Zeta Data", countries_served=["DE", "FR"], expertise=["integration", "api-management"],
            certifications=certifications(3), body="*Zeta* text, edited.")})

    def add_record() -> None:
        write_records(project / "content", {"new-partner": record("New Partner Oy", countries_served=["FI"])})

    def delete_record() -> None:
        (project / "content" / "new-partner.yaml").unlink()

    def edit_rules() -> None:
        rules = project / "programs.yaml"
        rules.write_text(rules.read_text(encoding="utf-8").replace("title: Partner Directory",
                                                                   "title: Partner Finder"), encoding="utf-8")

    def edit_partner_template() -> None:
        page = project / "templates" / "partner.html"
        page.write_text(page.read_text(encoding="utf-8").replace('<h2 id="about-title">About</h2>',
                                                                 '<h2 id="about-title">About us</h2>'),
                        encoding="utf-8")

    def delete_the_output_folder() -> None:
        """What CI gets from actions/cache: .cache/ restored, no site."""
        shutil.rmtree(warm_out)

    steps = [edit_description, edit_description_again, edit_listed_fields, add_record, delete_record,
             edit_rules, edit_partner_template, delete_the_output_folder]
    for step, edit in enumerate(steps, start=1):
        edit()
        settle(project / "content", project / "templates", project / "programs.yaml", offset=step)
        output = build_process(project, warm_out, warm_cache)
        assert "Nothing changed" not in output, edit.__name__
        cold_out = project / "cold" / edit.__name__ / "site"
        build_process(project, cold_out, cold_out.parent / ".cache")
        warm, cold = tree(warm_out), tree(cold_out)
        assert sorted(warm) == sorted(cold), edit.__name__
        assert [p for p in warm if warm[p] != cold[p]] == [], edit.__name__
        if edit in (edit_description, edit_description_again):
            assert "3 files written" in output, output  # its page, partners.json and partners.csv
    assert "Partner Finder" in warm["index.html"].decode() and "About us" in \
        warm["partners/zeta/index.html"].decode()

    # Another as-of date checks every record again; going back finds the first date's entries.
    for as_of in ("2026-11-20", "2026-11-15"):
        build_process(project, warm_out, warm_cache, as_of)
        cold_out = project / "cold" / f"as-of-{as_of}" / "site"
        build_process(project, cold_out, cold_out.parent / ".cache", as_of)
        assert tree(warm_out) == tree(cold_out), as_of


def records_validated(monkeypatch) -> list[str]:
    """Names of the records `validate` is asked to check from now on."""
    from partnerdir import validate as validate_module

    seen: list[str] = []
    original = validate_module.validate

    def counting(raws, *args, **kwargs):
        seen.extend(raw.path.stem for raw in raws)
        return original(raws, *args, **kwargs)

    monkeypatch.setattr(validate_module, "validate", counting)
    from partnerdir import check

    if getattr(check, "validate", None) is original:  # the parallel check's own import
        monkeypatch.setattr(check, "validate", counting)
    return seen


def as_new_process() -> None:
    """Nothing in this process's memory of the builds it made (the memo and what each stage
    keeps of the last build it made), as in a new process."""
    from partnerdir import export, recommend, render, snapshot, write

    cache._MEMOS.clear()
    for kept in (export._LAST_DIRECTORY, export._ROW_BYTES, recommend._LAST_DATA, recommend._LAST_RANKING,
                 recommend._BUILT, recommend._LAST_JSON, render._LISTED, render._SITEMAP, snapshot._LOADED,
                 write._PIECES):
        kept.clear()


def new_process_build(paths):
    """A build as a new process makes it."""
    as_new_process()
    result = build_site(paths, AS_OF, search=False, remember=False)
    assert result.ok, [p.text() for p in result.problems]
    return result


def test_a_new_process_checks_only_the_record_that_changed(project, monkeypatch):
    paths = paths_for(project, project / "site")
    new_process_build(paths)
    write_records(project / "content", {"zeta": record("Zeta Data", body="*Zeta* text, changed.")})
    settle(project / "content", offset=3)
    validated = records_validated(monkeypatch)
    result = new_process_build(paths)
    assert validated == ["zeta"]
    assert result.written == 3
    page = project / "site" / "partners" / "zeta" / "index.html"
    assert "<em>Zeta</em> text, changed." in page.read_text(encoding="utf-8")


def damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "corrupted":
        middle = len(data) // 2
        path.write_bytes(data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:])
    elif how == "empty":
        path.write_bytes(b"")
    else:
        path.write_bytes(b"not a cache file at all\n" * 10)


@pytest.mark.parametrize("how", ["truncated", "corrupted", "empty", "garbage"])
def test_a_damaged_cache_file_is_ignored_never_trusted(project, how, monkeypatch):
    out = project / "site"
    paths = paths_for(project, out)
    new_process_build(paths)
    cold_out = project / "cold" / "site"
    expected = tree(out)
    stored = project / ".cache" / "records"
    damaged = [p for p in stored.rglob("*") if p.is_file() and p.name != ".gitignore"]
    assert any(p.name == "files.bin" for p in damaged) and any(p.name == "listing.bin" for p in damaged)
    assert any(p.parent.name == "pages" for p in damaged)
    for path in damaged:
        damage(path, how)
    shutil.rmtree(out)  # so pages must come from the cache, or be made again
    validated = records_validated(monkeypatch)
    result = new_process_build(paths)
    assert tree(out) == expected
    assert sorted(validated) == sorted(p.stem for p in (project / "content").iterdir())  # all checked again
    assert result.written == result.files
    # and the cache it wrote instead is whole again: a further build reuses it
    validated.clear()
    shutil.rmtree(out)
    new_process_build(paths)
    assert validated == [] and tree(out) == expected
    assert not cold_out.exists()


def test_a_page_changed_in_the_cache_is_made_again(project):
    out = project / "site"
    paths = paths_for(project, out)
    new_process_build(paths)
    expected = tree(out)
    page = next((project / ".cache" / "records").glob("p-*/pages/*"))
    page.unlink()
    page.write_bytes(b"<p>not what was rendered</p>")  # same name, other bytes
    shutil.rmtree(out)
    new_process_build(paths)
    assert tree(out) == expected


def test_the_cache_keeps_only_what_current_records_need(project, monkeypatch):
    out = project / "site"
    paths = paths_for(project, out)
    new_process_build(paths)
    records = project / ".cache" / "records"

    count = len(list((project / "content").iterdir()))
    assert stored_entries(records, "checked") == count
    for step in range(1, 4):  # the same record edited again and again
        write_records(project / "content", {"zeta": record("Zeta Data", body=f"*Zeta* edit {step}.")})
        settle(project / "content", offset=step)
        new_process_build(paths)
    assert stored_entries(records, "checked") == count
    (project / "content" / "zeta.md").unlink()
    # (the ordinary rebuild: a quick one, from the listing state, leaves the pages it replaced
    # among the stored pages for the next ordinary one to delete)
    ordinary_only(monkeypatch)
    new_process_build(paths)
    assert stored_entries(records, "checked") == count - 1
    listed = len(list((out / "partners").iterdir()))
    assert stored_entries(records, "rendered") == listed
    record_cache.wait_deleted()  # (stale pages are deleted behind the build)
    stored = {p.name for p in records.glob("p-*/pages/*")}
    site = tree(out)
    pages = {content_hash(data) for path, data in site.items() if path.startswith("partners/")}
    assert pages <= stored <= {content_hash(data) for data in site.values()}  # nothing the site lacks
    for step, title in enumerate(("A", "B", "C", "D"), start=10):  # rules changed again and again
        rules = project / "programs.yaml"
        text = rules.read_text(encoding="utf-8")
        rules.write_text(text.replace("title: ", f"title: {title}", 1), encoding="utf-8")
        settle(rules, offset=step)
        new_process_build(paths)
    assert len(list(records.glob("r-*"))) <= record_cache.KEEP
    assert len(list(records.glob("p-*"))) <= record_cache.KEEP
    assert not list(records.rglob("*.tmp"))


def stored_entries(records: Path, kind: str) -> int:
    """Entries in the shards of the most recently written folder of this kind."""
    folders = [p for p in records.iterdir() if p.is_dir() and list(p.glob(f"{kind}-*.bin"))]
    newest = max(folders, key=lambda p: p.stat().st_mtime_ns)
    total = 0
    for shelf in newest.glob(f"{kind}-*.bin"):
        _, _, data = marshal.loads(shelf.read_bytes()[16:])
        total += len(data)
    return total


# ----------------------------------------------------------------------------------------------
# A new process's quick rebuild (partnerdir/snapshot.py) and a site made from the cache by links


def ordinary_rebuilds(monkeypatch) -> list[int]:
    """Counts the builds that take every unchanged record from the cache (`cache._from_disk`),
    which a quick rebuild never does."""
    calls: list[int] = []
    original = cache._from_disk

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(cache, "_from_disk", counting)
    return calls


def same_as_cold(project: Path, out: Path, name: str, as_of=AS_OF):
    """The site in `out` is the one a build from nothing makes; that build's result."""
    cold_out = project / "cold" / name / "site"
    result = build_site(paths_for(project, cold_out, cold_out.parent / ".cache"), as_of, search=False,
                        remember=False)
    assert result.ok, [p.text() for p in result.problems]
    warm, cold = tree(out), tree(cold_out)
    assert sorted(warm) == sorted(cold), name
    assert [p for p in warm if warm[p] != cold[p]] == [], name
    return result


def test_edits_that_change_no_listing_are_rebuilt_from_the_snapshot_alone(project, monkeypatch):
    out = project / "site"
    paths = paths_for(project, out)
    new_process_build(paths)
    ordinary = ordinary_rebuilds(monkeypatch)
    validated = records_validated(monkeypatch)
    content = project / "content"

    def zeta(body: str) -> None:
        write_records(content, {"zeta": record("Zeta Data", body=body)})

    def description() -> None:
        zeta("*Zeta* text, changed once.")

    def description_again() -> None:  # the snapshot the last quick rebuild wrote is used
        zeta("*Zeta* text, changed twice, [with a link](https://zeta.example/).")

    def two_records() -> None:
        zeta("*Zeta* text, changed with another record.")
        alpha = yaml.safe_load((content / "alpha-var.yaml").read_text(encoding="utf-8"))
        alpha["description"] = "Alpha's description, edited."
        write_records(content, {"alpha-var": alpha})

    def removed_partner() -> None:
        """Left off the site by the January review: nothing on the site changes."""
        omega = yaml.safe_load((content / "omega-removed.yaml").read_text(encoding="utf-8"))
        omega["description"] = "Still removed, with a new description."
        write_records(content, {"omega-removed": omega})

    def touched_only() -> None:
        os.utime(content / "zeta.md")

    def website() -> None:
        """Not shown by any listing, though part of the record's listed digest: its page and
        open data entries change, and no card, directory.json entry or summary does."""
        write_records(content, {"zeta": record("Zeta Data", website="https://zeta.example/",
                                               body="*Zeta* text, changed with another record.")})

    def renewed_certification() -> None:
        """A certification renewed: the same status and engineers, a new date in partners.json."""
        alpha = yaml.safe_load((content / "alpha-var.yaml").read_text(encoding="utf-8"))
        alpha["certifications"][0]["expires"] = dt.date(2029, 6, 30)
        write_records(content, {"alpha-var": alpha})

    expected = {description: (["zeta"], 3), description_again: (["zeta"], 3),
                two_records: (["alpha-var", "zeta"], 4), removed_partner: (["omega-removed"], 0),
                touched_only: ([], 0), website: (["zeta"], 3), renewed_certification: (["alpha-var"], None)}
    for step, (edit, (checked, written)) in enumerate(expected.items(), start=1):
        edit()
        settle(content, offset=step)
        validated.clear()
        ordinary.clear()
        result = new_process_build(paths)
        assert ordinary == [], edit.__name__
        assert sorted(validated) == checked, edit.__name__
        assert written is None or result.written == written, edit.__name__
        assert not result.unchanged and result.listed == 5 and len(result.review) == 1
        same_as_cold(project, out, edit.__name__)
        assert new_process_build(paths).unchanged  # and the record of the build is whole
    page = out / "partners" / "zeta" / "index.html"
    assert "changed with another record" in page.read_text(encoding="utf-8")
    assert "https://zeta.example/" in page.read_text(encoding="utf-8")
    assert "2029-06-30" in (out / "partners.json").read_text(encoding="utf-8")
    # the record cache was kept up to date: with no site, every page comes from it, nothing is checked
    shutil.rmtree(out)
    validated.clear()
    new_process_build(paths)
    assert validated == []
    same_as_cold(project, out, "from the cache")


def damage_snapshot(project: Path, how: str) -> None:
    snapshots = list((project / ".cache" / "records").glob("p-*/site-*.bin"))
    assert len(snapshots) == 1
    if how == "missing":
        snapshots[0].unlink()
    else:
        damage(snapshots[0], how)


@pytest.mark.parametrize("edit", [
    "listed field", "status", "recommendation", "renamed", "added", "deleted", "problem", "removed at review",
    "a removed partner's places", "snapshot truncated", "snapshot corrupted", "snapshot garbage",
    "snapshot missing", "as-of date",
])
def test_edits_the_snapshot_cannot_vouch_for_take_the_ordinary_rebuild(project, monkeypatch, edit):
    """Anything but an edit that leaves every listing as it was is rebuilt the ordinary way,
    unless the listing state can rebuild it (a new recommendation summary, a new status, a
    partner added or deleted or removed by the January review, a record file renamed: see
    `relist` and the tests of it below) or it is to a partner the review removed and still
    removes (no page shows it: the site is left as it was), and the site is still exactly the
    one a build from nothing makes."""
    out = project / "site"
    paths = paths_for(project, out)
    new_process_build(paths)
    content = project / "content"
    ordinary = ordinary_rebuilds(monkeypatch)
    as_of = AS_OF
    description = "*Zeta* text, changed."
    if edit == "listed field":  # a country nobody served: its page is new (`relist` cannot add one)
        write_records(content, {"zeta": record("Zeta Data", countries_served=["DE", "BR"], body=description)})
    elif edit == "status":  # engineers and a project: a higher level, another place in every list
        write_records(content, {"zeta": record("Zeta Data", certifications=certifications(2),
                                               projects=projects(1), body=description)})
    elif edit == "recommendation":  # a new project: the same card, another recommendation summary
        alpha = SMALL["alpha-var"]
        more = [*alpha["projects"], *projects(1, "api-manager")]
        write_records(content, {"alpha-var": {**alpha, "projects": more}})
    elif edit == "renamed":  # a new slug: the page moves
        (content / "zeta.md").rename(content / "zeta-data.md")
    elif edit == "added":
        write_records(content, {"new-partner": record("New Partner Oy", countries_served=["FI"])})
    elif edit == "deleted":
        (content / "zeta.md").unlink()
    elif edit == "problem":
        write_records(content, {"zeta": record("Zeta Data", countries_served=["UK"], body=description)})
    elif edit == "a removed partner's places":  # one the review removed, and still removes: in no listing
        omega = SMALL["omega-removed"]
        write_records(content, {"omega-removed": {**omega, "countries_served": ["FR", "BE"]}})
    elif edit == "removed at review":  # joined long enough ago that the January review removes it
        write_records(content, {"zeta": record("Zeta Data", joined=dt.date(2023, 3, 1), body=description)})
    elif edit.startswith("snapshot"):
        write_records(content, {"zeta": record("Zeta Data", body=description)})
        damage_snapshot(project, edit.split()[1])
    elif edit == "as-of date":
        write_records(content, {"zeta": record("Zeta Data", body=description)})
        as_of = AS_OF.replace(day=20)
    settle(content, offset=7)
    cache._MEMOS.clear()
    result = build_site(paths, as_of, search=False, remember=False)
    if edit == "problem":
        assert not result.ok and "unknown country code 'UK'" in format_problems(result.problems)
        assert ordinary == [1]
        write_records(content, {"zeta": record("Zeta Data", body=description)})  # fixed
        settle(content, offset=8)
        cache._MEMOS.clear()
        result = build_site(paths, as_of, search=False, remember=False)
    assert result.ok, [p.text() for p in result.problems]
    quick = ("recommendation", "status", "added", "deleted", "renamed",  # (renamed: deleted and added)
             "a removed partner's places", "removed at review")  # (that: zeta leaves the listing)
    assert bool(ordinary) == (edit not in quick), "the ordinary rebuild ran"
    if edit == "a removed partner's places":
        assert result.written == 0 and any("omega-removed" in line for line in result.review)
    if edit == "removed at review":
        assert [line.split(": ")[-1].split(" ")[0] for line in result.review] == ["omega-removed", "zeta"]
    cold = same_as_cold(project, out, edit, as_of)
    assert (result.listed, result.review) == (cold.listed, cold.review)
    # and it left a snapshot the next edit's quick rebuild can use
    ordinary.clear()
    write_records(content, {"beta-integration": {**SMALL["beta-integration"],
                                                 "description": "Beta, described again."}})
    settle(content, offset=9)
    cache._MEMOS.clear()
    assert build_site(paths, as_of, search=False, remember=False).ok
    assert ordinary == []
    same_as_cold(project, out, edit + " then quick", as_of)


def test_a_site_made_from_the_cache_links_its_pages_and_an_edit_never_changes_them(project):
    out = project / "site"
    paths = paths_for(project, out)
    new_process_build(paths)
    expected = tree(out)
    shutil.rmtree(out)  # CI: .cache/ restored, no site
    result = new_process_build(paths)
    assert tree(out) == expected and result.written == result.files
    pages = {p.name: p for p in (project / ".cache" / "records").glob("p-*/pages/*")}
    page = out / "partners" / "zeta" / "index.html"
    assert page.stat().st_ino == pages[content_hash(page.read_bytes())].stat().st_ino  # linked, not copied
    listing = out / "directory.json"
    assert os.path.samefile(listing, pages[content_hash(listing.read_bytes())])
    before = {name: path.read_bytes() for name, path in pages.items()}

    write_records(project / "content", {"zeta": record("Zeta Data", body="*Zeta* text, edited.")})
    settle(project / "content", offset=3)
    new_process_build(paths)
    for name, path in pages.items():  # every page kept is still what its name says, or gone
        if path.exists():
            assert path.read_bytes() == before[name]
    same_as_cold(project, out, "edited")
    shutil.rmtree(out)
    new_process_build(paths)
    same_as_cold(project, out, "edited")


def test_a_build_keeps_each_page_as_it_writes_it_and_vouches_for_it(project, monkeypatch):
    """Pages are linked into the cache by whichever process writes them, and noted as kept: a
    site made from that cache links them without reading one back to check it."""
    from partnerdir.record_cache import Store

    out = project / "site"
    paths = paths_for(project, out)
    new_process_build(paths)
    expected = tree(out)
    kept = {p.name: p for p in (project / ".cache" / "records").glob("p-*/pages/*")}
    for page in [*(out / "partners").glob("*/index.html"), out / "countries" / "de" / "index.html"]:
        assert os.path.samefile(page, kept[content_hash(page.read_bytes())]), page
    read_back: list[str] = []
    original = Store.page
    monkeypatch.setattr(Store, "page", lambda self, digest, check: read_back.append(digest)
                        or original(self, digest, check))
    shutil.rmtree(out)
    result = new_process_build(paths)
    assert tree(out) == expected and result.written == result.files
    assert read_back == []


def test_the_cache_vouches_only_for_the_very_files_a_build_wrote(tmp_path):
    """A page already stored under a hash is noted as kept (trusted by its size and time
    later) only if it is the file the build wrote, linked; another file under that name, say
    one a damaged cache holds, is read and checked before it is ever linked into a site."""
    store = record_cache.Store(tmp_path / "cache", "records", "render")
    site = tmp_path / "site"
    (site / "a").mkdir(parents=True)
    (site / "b").mkdir()
    linked, other = b"<p>linked</p>", b"<p>other</p>"
    (site / "a" / "index.html").write_bytes(linked)
    (site / "b" / "index.html").write_bytes(other)
    store.pages.mkdir(parents=True)
    os.link(site / "a" / "index.html", store.pages / content_hash(linked))
    (store.pages / content_hash(other)).write_bytes(b"<p>not what the build wrote</p>")
    store.keep_pages({"a/index.html": content_hash(linked), "b/index.html": content_hash(other)}, site)
    again = record_cache.Store(tmp_path / "cache", "records", "render")
    assert set(again.page_stats()) == {content_hash(linked)}
    assert again.intact(content_hash(linked), content_hash)
    assert not again.intact(content_hash(other), content_hash)


def test_a_quick_rebuild_that_fails_before_writing_leaves_it_to_the_ordinary_rebuild(project, monkeypatch):
    """Whatever goes wrong in the quick rebuild before it writes (here: rendering), the
    ordinary rebuild runs instead and makes the right site."""
    from partnerdir import pipeline

    out = project / "site"
    paths = paths_for(project, out)
    new_process_build(paths)
    write_records(project / "content", {"zeta": record("Zeta Data", body="*Zeta* text, changed.")})
    settle(project / "content", offset=3)

    def broken(*args, **kwargs):
        raise RuntimeError("not today")

    monkeypatch.setattr(pipeline, "_render_changed", broken)
    ordinary = ordinary_rebuilds(monkeypatch)
    result = new_process_build(paths)
    assert ordinary == [1] and result.written == 3
    same_as_cold(project, out, "after a failed quick rebuild")


def test_a_site_made_from_the_cache_decodes_no_partner_it_does_not_show_anew(project):
    """With a restored cache and no site, every page, card and entry comes from the cache: no
    partner is decoded whole (the review line of the partner the January review removed names
    its joining date, one of the fields kept apart); they stay as they were stored until
    something asks for their description or evidence."""
    out = project / "site"
    paths = paths_for(project, out)
    first = new_process_build(paths)
    shutil.rmtree(out)
    again = new_process_build(paths)
    assert again.review == first.review and len(again.review) == 1
    stored = [partner for _, partner in cache.memo_for(out).records.values()]
    assert stored and all(isinstance(p, cache.StoredPartner) for p in stored)
    assert [p.slug for p in stored if p._partner is not None] == []
    zeta = next(p for p in stored if p.slug == "zeta")
    assert zeta.name == "Zeta Data" and zeta.model_dump()["name"] == "Zeta Data"  # reads like a partner
    same_as_cold(project, out, "from the cache")


def test_a_fresh_checkout_with_the_cache_restored_renders_nothing_again(project, monkeypatch):
    """CI checks the repository out afresh and restores .cache/: every record, template and
    static file has the same bytes as when the cache was saved but new metadata (inode, time).
    Nothing is checked or rendered again for that: every partner comes from the cache undecoded
    and every page is linked from it, as when the files were left as they were."""
    from partnerdir import parallel

    monkeypatch.setattr(parallel, "MIN_PARTNERS", 10**6)  # (a page rendered here decodes its partner)
    out = project / "site"
    paths = paths_for(project, out)
    (project / "content" / "logos").mkdir()
    shutil.copy(Path(__file__).parent / "fixtures" / "northwind.svg", project / "content" / "logos")
    write_records(project / "content", {"zeta": record("Zeta Data", body="*Zeta* text.",
                                                       logo="logos/northwind.svg")})
    settle(project / "content", offset=20)
    first = new_process_build(paths)
    for path in sorted(p for p in project.rglob("*") if p.is_file() and ".cache" not in p.parts
                       and out not in p.parents):
        data = path.read_bytes()
        path.unlink()  # (a new inode, as git's checkout makes)
        path.write_bytes(data)
    settle(project / "content", project / "templates", project / "programs.yaml", offset=30)
    shutil.rmtree(out)
    validated = records_validated(monkeypatch)
    again = new_process_build(paths)
    assert validated == []  # (zeta's logo has new metadata, and the bytes that passed)
    stored = [partner for _, partner in cache.memo_for(out).records.values()]
    assert stored and all(isinstance(p, cache.StoredPartner) for p in stored)
    assert [p.slug for p in stored if p._partner is not None] == []  # (no page rendered again)
    assert again.files == first.files
    same_as_cold(project, out, "a fresh checkout")


def test_pages_that_cannot_be_linked_from_the_cache_are_written(project, monkeypatch):
    """A cache on another file system (or one that refuses links) costs copying, nothing else."""
    import errno

    out = project / "site"
    paths = paths_for(project, out)
    new_process_build(paths)
    expected = tree(out)
    shutil.rmtree(out)

    def refuse(*args, **kwargs):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", refuse)
    result = new_process_build(paths)
    assert tree(out) == expected and result.written == result.files
    page = out / "partners" / "zeta" / "index.html"
    assert page.stat().st_nlink == 1


def test_edits_to_listed_data_in_new_processes_match_builds_from_nothing(project, monkeypatch):
    """Edits that change what listing pages show (a country served added and removed, the status
    level earned, the name, a partner removed at the January review and back), each built by a
    new process from the last one's output and cache: the same site as a build from nothing,
    with every other partner's listed fields, card and recommendation summary taken from the
    cache, none of them decoded whole, and partners.json and partners.csv patched around the
    edited partner's entry."""
    from partnerdir import snapshot

    ordinary_only(monkeypatch)  # (relist's rebuild of these, where it can, is tested below)
    out = project / "site"
    paths = paths_for(project, out)
    new_process_build(paths)
    patched: list[set[str]] = []
    original = snapshot.patch_open_data

    def patching(plan, *args):
        patched.append(set(plan.changed))
        return original(plan, *args)

    monkeypatch.setattr(snapshot, "patch_open_data", patching)
    zeta = {"name": "Zeta Data", "body": "*Zeta* text."}
    edits = [
        ("a country served added (a new country page)", {"countries_served": ["DE", "IS"]}),
        ("the country removed again", {"countries_served": ["DE"]}),
        ("the status level earned", {"certifications": certifications(3)}),
        ("the name changed (its place in every list)", {"name": "Aardvark Data", "certifications": []}),
        ("removed at the review", {"joined": dt.date(2023, 1, 1)}),
        ("back on the site", {"joined": dt.date(2026, 2, 1), "regions_served": ["emea"]}),
    ]
    for step, (name, fields) in enumerate(edits, start=1):
        zeta.update(fields)
        write_records(project / "content", {"zeta": record(**zeta)})
        settle(project / "content", offset=step)
        patched.clear()
        result = new_process_build(paths)
        assert 0 < result.written < result.files, name
        # (a partner leaving the list is taken out of them, one joining it put in)
        assert patched == ([set()] if "review" in name else [{"zeta"}]), name
        stored = [p for _, p in cache.memo_for(out).records.values() if isinstance(p, cache.StoredPartner)]
        assert len(stored) == len(SMALL), name  # every partner but the edited one from the cache
        assert [p.slug for p in stored if p._partner is not None] == [], name
        awards = [a for _, a in cache.memo_for(out).awards.values() if isinstance(a, cache.StoredAward)]
        assert len(awards) == len(SMALL), name  # and only those the review removed were decoded:
        assert [a.slug for a in awards if a._award is not None and not a.removed] == [], name
        # nor even the listed fields of a listed one: the orders, places and logos are read from
        # the cards' views and recommendation summaries, which the cache keeps made
        listed = {slug for slug, (_, a) in cache.memo_for(out).awards.items() if not a.removed}
        assert [p.slug for p in stored if p._shallow is None and p.slug in listed] == [], name
        assert any("zeta" in line for line in result.review) == (name == "removed at the review"), name
        same_as_cold(project, out, f"listed-{step}")


def ordinary_only(monkeypatch) -> None:
    """Edits to listed data rebuilt the ordinary way, as before the listing state (`relist`):
    for the tests of what that rebuild does."""
    from partnerdir import relist

    monkeypatch.setattr(relist, "rebuild", lambda *args: None)


def _relistings(monkeypatch) -> list[bool]:
    """Whether each rebuild from here on took an edit to listed data from the listing state
    (`relist.rebuild`), or gave it to the ordinary rebuild."""
    from partnerdir import relist

    answers: list[bool] = []
    original = relist.rebuild

    def spying(*args, **kwargs):
        made = original(*args, **kwargs)
        answers.append(made is not None)
        return made

    monkeypatch.setattr(relist, "rebuild", spying)
    return answers


def _rankings_taken_up(monkeypatch) -> list[bool]:
    """Whether each ranking of the countries from here on took up a kept one (`Resumed`)."""
    from partnerdir import recommend

    answers: list[bool] = []
    original = recommend.for_countries

    def spying(data, countries, limit, resumed=None):
        answers.append(resumed is not None)
        return original(data, countries, limit, resumed)

    monkeypatch.setattr(recommend, "for_countries", spying)
    return answers


def _built_and_watched(project: Path, monkeypatch) -> tuple:
    """The project's site built by a new process, and what its next builds do: (the site, its
    paths, `_relistings`, `ordinary_rebuilds`, `_rankings_taken_up`)."""
    out = project / "site"
    paths = paths_for(project, out)
    new_process_build(paths)
    watched = _relistings(monkeypatch), ordinary_rebuilds(monkeypatch), _rankings_taken_up(monkeypatch)
    return (out, paths, *watched)


def test_edits_to_listed_data_are_rebuilt_from_the_listing_state_as_from_nothing(project, monkeypatch):
    """An edit to what listings show (a country served, an expertise, a language, the head
    office's city or country, a region served, the status or the name, which move the partner
    in the order) is rebuilt by a new process from the last build's listing state and the
    edited record alone (`relist`): no other record is read back, and the site is the one a
    build from nothing makes, down to the recommendations of countries the partner does not
    serve (delivering remotely). An edit that makes a page appear or go, or changes
    directory.json's tables (a region nobody else serves), is rebuilt the ordinary way, and the
    next one from the listing state again."""
    out, paths, relisted, ordinary, taken_up = _built_and_watched(project, monkeypatch)
    from partnerdir import render

    made_by, cards_made = render._Renderer.made_by, []

    def counting(renderer, name, view):
        if name == "card":
            cards_made.append(view.slug)
        return made_by(renderer, name, view)

    monkeypatch.setattr(render._Renderer, "made_by", counting)
    zeta = {"name": "Zeta Data", "body": "*Zeta* text."}
    edits = [
        ("a country served added (alpha serves it too)", {"countries_served": ["DE", "IS"]}, True),
        ("the country removed again", {"countries_served": ["DE"]}, True),
        ("an expertise added", {"expertise": ["integration", "api-management"]}, True),
        ("a language added", {"languages": ["en", "de"]}, True),
        ("delivering remotely (recommended in other countries)", {"remote_delivery": True}, True),
        ("the description only", {"body": "*Zeta* text, longer."}, None),
        ("the head office's city (the card)", {"headquarters": {"city": "Hamburg", "country": "DE"}}, True),
        ("the head office in another country (its lists, its card)",
         {"headquarters": {"city": "Boston", "country": "US"}}, True),
        ("the head office where nobody else is (a new country page)",
         {"headquarters": {"city": "Recife", "country": "BR"}}, False),
        ("the head office back in Germany (that page gone)",
         {"headquarters": {"city": "Hamburg", "country": "DE"}}, False),
        ("a higher status (another place in every list)", {"certifications": certifications(2),
                                                           "projects": projects(1)}, True),
        ("the status lost again", {"certifications": [], "projects": []}, True),
        ("a country nobody serves (a new page)", {"countries_served": ["DE", "BR"]}, False),
        ("that country's page gone again", {"countries_served": ["DE"]}, False),
        ("a region served (alpha serves it too)", {"regions_served": ["emea"]}, True),
        ("a country of another region served", {"countries_served": ["DE", "US"]}, True),
        ("every country of that region served (three new pages)",
         {"countries_served": ["DE", "US", "CA", "BM", "GL", "PM"]}, False),
        ("that region served, as nobody else does (directory.json's head)",
         {"regions_served": ["emea", "north-america"]}, False),
        ("that region no longer served (directory.json's head)", {"regions_served": ["emea"]}, False),
        ("nor those countries (their pages gone)", {"countries_served": ["DE"]}, False),
        ("an industry added", {"industries": ["banking"]}, True),
        ("no longer remotely", {"remote_delivery": False}, True),
        ("renamed (its place in the order, the lists and both listing files)",
         {"name": "Aardvark Data"}, True),
        ("renamed in capitals only (its card, in the same places)", {"name": "AARDVARK DATA"}, True),
        ("an industry and a language added", {"industries": ["banking", "healthcare"],
                                              "languages": ["en", "ja"]}, True),
    ]
    moves = ("a higher status (another place in every list)", "the status lost again",
             "renamed (its place in the order, the lists and both listing files)")
    assert set(moves) <= {name for name, _, _ in edits}
    for step, (name, fields, quick) in enumerate(edits, start=1):
        zeta.update(fields)
        write_records(project / "content", {"zeta": record(**zeta)})
        settle(project / "content", offset=step)
        relisted.clear()
        ordinary.clear()
        taken_up.clear()
        cards_made.clear()
        result = new_process_build(paths)
        assert 0 < result.written < result.files, name
        if quick is None:  # (the first kind of quick rebuild: no listing changes)
            assert (relisted, ordinary) == ([], []), name
        else:
            assert relisted[-1:] == [quick], name
            assert ordinary == ([] if quick else [1]), name
        if quick:  # (the countries ranked again from the last build's ranking, not from nothing)
            assert taken_up == [True], name
        if quick and name in moves:  # (the other cards of the directory's pages made again, between
            # its old and new places, are the last build's, from the cache)
            assert set(cards_made) == {"zeta"}, name
        same_as_cold(project, out, f"relisted-{step}")
    # two partners at once, one of them in another place of the order than the other
    beta = SMALL["beta-integration"]
    write_records(project / "content", {"zeta": record(**{**zeta, "countries_served": ["DE", "JP"]}),
                                        "beta-integration": {**beta, "countries_served": ["US", "CA", "DE"]}})
    settle(project / "content", offset=len(edits) + 1)
    relisted.clear()
    new_process_build(paths)
    assert relisted == [True]
    same_as_cold(project, out, "relisted-two")
    # both renamed at once, past each other in every list they share
    write_records(project / "content", {
        "zeta": record(**{**zeta, "countries_served": ["DE", "JP"], "name": "Zulu Data"}),
        "beta-integration": {**beta, "countries_served": ["US", "CA", "DE"], "name": "Aardwolf Integration"}})
    settle(project / "content", offset=len(edits) + 2)
    relisted.clear()
    new_process_build(paths)
    assert relisted == [True]
    same_as_cold(project, out, "relisted-two-renamed")


def test_a_partner_added_or_deleted_is_rebuilt_from_the_listing_state_as_from_nothing(project, monkeypatch):
    """A new record, a partner joining the program, is rebuilt by a new process from the
    listing state and that record alone (`relist`): its page, its entries between the others'
    in partners.json, partners.csv, directory.json and recommend.json, its line in the
    sitemap, every list it joins and every directory page (each shows how many partners are
    listed); the site is the one a build from nothing makes. So are two at once (one sorting
    before everybody), the edits to a new partner after it, a record deleted (its page,
    entries, line and places gone), and a directory page added or taken away with them. A
    partner the January review removes is on no page: one new and removed at once, or the
    deleted record of one it removed, changes only the review's report, from the snapshot; a
    listed partner the review now removes leaves the listing as a deleted one does, and joins
    it again as a new one when it no longer does. A new partner whose slug is taken, or a new
    file that is no record, is left to the ordinary rebuild, which reports what is wrong."""
    from partnerdir import pages

    out, paths, relisted, ordinary, taken_up = _built_and_watched(project, monkeypatch)
    content = project / "content"
    before = new_process_build(paths)
    listed = before.listed

    def rebuilt(step: int, quick: bool, name: str):
        settle(content, offset=step)
        relisted.clear()
        ordinary.clear()
        taken_up.clear()
        result = new_process_build(paths)
        if quick is None:  # (the first kind of quick rebuild: no listing changes)
            assert (relisted, ordinary) == ([], []), name
        elif quick:
            assert (relisted, ordinary) == ([True], []), name
            assert taken_up == [True], name  # (its places among the candidates: the kept ranking's)
        else:
            assert (relisted, ordinary) == ([False] if relisted else [], [1]), name
        cold = same_as_cold(project, out, f"added-{step}")
        assert (result.listed, result.review) == (cold.listed, cold.review), name
        return result

    newcomer = record("Omega Newcomer", countries_served=["DE", "JP"], languages=["en", "ja"],
                      certifications=certifications(2), projects=projects(1))
    write_records(content, {"omega-newcomer": newcomer})
    result = rebuilt(1, True, "a partner added")
    assert (result.listed, result.files, result.pages) == (listed + 1, before.files + 1, before.pages + 1)
    assert result.written > 3  # (its page, the open data and listing files, the pages listing it)
    write_records(content, {"aaron-first": record("Aaron First", countries_served=["US"],
                                                  remote_delivery=True),
                            "mid-way": record("Mid Way Partners", body="*New* here.")})
    rebuilt(2, True, "two added, one sorting before everybody")
    write_records(content, {"omega-newcomer": {**newcomer, "countries_served": ["DE"],
                                               "name": "Newcomer Omega"}})
    rebuilt(3, True, "the new partner renamed, a country no longer served")
    write_records(content, {"mid-way": record("Mid Way Partners", body="*New* here, and more.")})
    rebuilt(4, None, "the description of one added as Markdown (no listing changes)")
    (content / "mid-way.md").unlink()
    result = rebuilt(5, True, "a partner deleted")
    assert (result.listed, result.files, result.pages) == (listed + 2, before.files + 2, before.pages + 2)
    assert not (out / "partners" / "mid-way").exists()

    page_size = pages.PAGE_SIZE
    monkeypatch.setattr(pages, "PAGE_SIZE", result.listed)  # (the directory's last page is full)
    write_records(content, {"one-more": record("One More")})
    grown = rebuilt(6, True, "a directory page added (a line in the sitemap)")
    assert (out / "page" / "2" / "index.html").is_file()
    assert (grown.files, grown.pages) == (result.files + 2, result.pages + 2)  # (its page, page 2)
    (content / "one-more.yaml").unlink()
    shrunk = rebuilt(7, True, "that page gone again")
    assert not (out / "page" / "2").exists()
    assert (shrunk.listed, shrunk.files, shrunk.pages) == (result.listed, result.files, result.pages)
    monkeypatch.setattr(pages, "PAGE_SIZE", page_size)

    # the ordinary way, and right all the same
    taken_slug = (content / "omega-newcomer.yaml").read_text(encoding="utf-8")
    (content / "beta-integration.md").write_text(f"---\n{taken_slug}---\n")
    settle(content, offset=8)
    as_new_process()
    taken = build_site(paths, AS_OF, search=False, remember=False)
    assert not taken.ok and "beta-integration" in " ".join(p.text() for p in taken.problems)
    (content / "beta-integration.md").unlink()
    write_records(content, {"old-timer": record("Old Timer", joined=dt.date(2024, 1, 3))})
    result = rebuilt(9, None, "removed by the January review at once (the review's report only)")
    assert [line.split(": ")[-1].split(" ")[0] for line in result.review] == ["old-timer", "omega-removed"]
    (content / "old-timer.yaml").unlink()
    result = rebuilt(10, None, "that one's record deleted (the review's report loses its line)")
    assert [line.split(": ")[-1].split(" ")[0] for line in result.review] == ["omega-removed"]
    zeta = {"name": "Zeta Data", "body": "*Zeta* text."}
    write_records(content, {"zeta": record(**zeta, joined=dt.date(2023, 3, 1))})
    result = rebuilt(11, True, "a listed partner the review now removes (it leaves the listing)")
    assert any("zeta" in line for line in result.review) and not (out / "partners" / "zeta").exists()
    write_records(content, {"zeta": record(**zeta)})
    result = rebuilt(12, True, "and joins it again")
    assert not any("zeta" in line for line in result.review) and (out / "partners" / "zeta").is_dir()
    (content / "notes.txt").write_text("not a partner", encoding="utf-8")
    settle(content, offset=13)
    as_new_process()
    refused = build_site(paths, AS_OF, search=False, remember=False)
    assert not refused.ok and "notes.txt" in " ".join(p.text() for p in refused.problems)
    (content / "notes.txt").unlink()
    write_records(content, {"zzz-last": record("Last One")})
    rebuilt(14, True, "and the next one from the listing state again, last in slug order")
    (content / "aaron-first.yaml").unlink()
    (content / "zzz-last.yaml").unlink()
    rebuilt(15, True, "the first and the last in every order deleted")


def test_logo_files_added_replaced_or_refused_check_only_the_records_that_name_them(project, monkeypatch):
    """Logo files are not part of the key checked records are kept under (`cache.LogoCheck`):
    a logo file added makes no record be checked again, and one replaced only the records
    that name it; a new process rebuilds those from the snapshot and the listing state
    (a partner added with a logo, given one or losing it: `relist`, `snapshot.logo_files`),
    copying the site's logo files in and deleting them as partners stop showing them, and the
    ordinary rebuild takes every other record from the cache. A logo the check refuses fails
    the build with the record's file, line and field, and the site stays as it was. Every
    site is the one a build from nothing makes."""
    out, paths, relisted, ordinary, _ = _built_and_watched(project, monkeypatch)
    content = project / "content"
    logo = content / "logos" / "omega.svg"
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10">'
           '<rect width="10" height="10" fill="#{}"/></svg>')
    validated = records_validated(monkeypatch)

    def rebuilt(step: int, name: str, way: str, checked: list[str]):
        settle(content, offset=step)
        relisted.clear()
        ordinary.clear()
        validated.clear()
        as_new_process()
        result = build_site(paths, AS_OF, search=False, remember=False)
        if way == "ordinary":
            assert ordinary == [1], name
        else:  # (the snapshot's quick rebuild: no listing changes; or the listing state's)
            assert (relisted, ordinary) == ([True] if way == "relist" else [], []), name
        assert validated == checked, name
        if result.ok:
            same_as_cold(project, out, f"logo-{step}")
        return result

    logo.parent.mkdir()
    logo.write_text(svg.format("0a5"), encoding="utf-8")
    result = rebuilt(1, "a logo file no record names yet", "snapshot", [])
    assert result.written == 0
    newcomer = record("Omega Newcomer", countries_served=["DE"], logo="logos/omega.svg")
    write_records(content, {"omega-newcomer": newcomer})
    rebuilt(2, "a partner added with that logo", "relist", ["omega-newcomer"])
    assert (out / "logos" / "omega.svg").read_text(encoding="utf-8") == svg.format("0a5")
    logo.write_text(svg.format("a50"), encoding="utf-8")
    result = rebuilt(3, "the logo file replaced", "snapshot", ["omega-newcomer"])
    assert result.written == 1  # (the logo: the partner's page and card are the same)
    assert (out / "logos" / "omega.svg").read_text(encoding="utf-8") == svg.format("a50")
    logo.write_text(svg.format("a50").replace("<rect", "<script>alert(1)</script><rect"), encoding="utf-8")
    settle(content, offset=4)
    as_new_process()
    result = build_site(paths, AS_OF, search=False, remember=False)
    assert not result.ok
    assert [(Path(p.path).name, p.field) for p in result.problems] == [("omega-newcomer.yaml", "logo")]
    assert "the SVG logo contains scripts" in result.problems[0].message
    assert (out / "logos" / "omega.svg").read_text(encoding="utf-8") == svg.format("a50")  # (as it was)
    logo.write_text(svg.format("05a"), encoding="utf-8")
    rebuilt(5, "the logo fixed (from the snapshot of the last build that made a site)", "snapshot",
            ["omega-newcomer"])
    write_records(content, {"omega-newcomer": {**newcomer, "logo": None}})
    rebuilt(6, "the logo no longer named (its file gone from the site)", "relist", ["omega-newcomer"])
    assert not (out / "logos" / "omega.svg").exists()
    write_records(content, {"zeta": record("Zeta Data", body="*Zeta* text.", logo="logos/omega.svg")})
    rebuilt(7, "another partner given the logo", "relist", ["zeta"])
    assert (out / "logos" / "omega.svg").read_text(encoding="utf-8") == svg.format("05a")
    # The ordinary rebuild (here: no snapshot) checks the records naming a replaced logo only.
    from partnerdir import snapshot

    monkeypatch.setattr(snapshot, "load", lambda *args: None)
    logo.write_text(svg.format("5a0"), encoding="utf-8")
    (content / "logos" / "unused.svg").write_text(svg.format("000"), encoding="utf-8")
    rebuilt(8, "the logo replaced and another added, rebuilt the ordinary way", "ordinary", ["zeta"])
    assert (out / "logos" / "omega.svg").read_text(encoding="utf-8") == svg.format("5a0")


def test_with_search_an_edit_to_listed_data_is_rebuilt_from_the_listing_state_and_indexed(project,
                                                                                         monkeypatch):
    """`python build.py` builds with search: the rebuild from the listing state indexes the
    pages it changed (a new partner's page among them, a deleted one's out), and the site,
    index included, is a build from nothing's."""
    from partnerdir import index

    out = project / "site"
    paths = paths_for(project, out)

    def build():
        cache._MEMOS.clear()
        monkeypatch.setattr(index, "_KEPT", {})  # (a new process: the kept index from .cache/)
        result = build_site(paths, AS_OF, search=True, remember=False)
        assert result.ok, [p.text() for p in result.problems]

    build()
    relisted = _relistings(monkeypatch)
    for step, countries in enumerate((["DE", "IS"], ["DE"], ["DE", "JP"]), start=1):
        write_records(project / "content", {"zeta": record("Zeta Data", countries_served=countries,
                                                           body="*Zeta* text.")})
        settle(project / "content", offset=step)
        build()
    write_records(project / "content", {"omega-newcomer": record("Omega Newcomer", body="*Omega* joins.")})
    settle(project / "content", offset=4)
    build()  # (a partner added: its page indexed too)
    (project / "content" / "omega-newcomer.md").unlink()
    settle(project / "content", offset=5)
    build()  # (a partner deleted: its page out of the index)
    # (a build from nothing with search keeps its listing pages too: the first edit is relisted)
    assert relisted == [True, True, True, True, True]
    cold_out = project / "cold" / "search" / "site"
    cold = build_site(paths_for(project, cold_out, cold_out.parent / ".cache"), AS_OF, search=True,
                      remember=False)
    assert cold.ok and tree(out) == tree(cold_out), "the same site, index included, as a build from nothing"


@pytest.mark.parametrize("how", ["state missing", "state damaged", "kept pages missing", "layout missing"])
def test_a_listing_state_that_cannot_be_used_leaves_the_site_right(project, monkeypatch, how):
    """Without the listing state, or with it damaged, an edit to listed data is rebuilt the
    ordinary way; without the kept listing pages, from the state, every page listing the
    partner made whole; either way, the site a build from nothing makes."""
    out = project / "site"
    paths = paths_for(project, out)
    new_process_build(paths)
    folder = next((project / ".cache" / "records").glob("p-*"))
    if how == "state missing":
        next(folder.glob("relist-*.bin")).unlink()
    elif how == "state damaged":
        damage(next(folder.glob("relist-*.bin")), "corrupted")
    elif how == "kept pages missing":
        (folder / cache.KEPT_PAGES).unlink()
    else:
        (folder / cache.EXPORTS_LAYOUT).unlink()
    relisted = _relistings(monkeypatch)
    zeta = record("Zeta Data", countries_served=["DE", "IS"], body="*Zeta* text.")
    write_records(project / "content", {"zeta": zeta})
    settle(project / "content", offset=3)
    new_process_build(paths)
    assert relisted == [how == "kept pages missing"]
    same_as_cold(project, out, how)


@pytest.mark.parametrize("how", ["moved in", "relist gives up", "disk full", "another build"])
def test_open_data_patched_while_relisting_is_moved_in_or_left_nowhere(project, monkeypatch, how):
    """partners.json and partners.csv are patched by a thread, into a stage next to the site,
    while the listing pages are made from the listing state (`pipeline._PatchingAhead`): moved
    in, the site is a build from nothing's; when relist gives the edit to the ordinary rebuild,
    the disk fills up, or another build replaces the site meanwhile, that stage is deleted, and
    the site is the ordinary rebuild's or as it was, with the reason said."""
    import errno

    from partnerdir import relist, snapshot

    out = project / "site"
    paths = paths_for(project, out)
    new_process_build(paths)
    relisted = _relistings(monkeypatch)
    original = relist.rebuild
    if how == "relist gives up":
        monkeypatch.setattr(relist, "rebuild", lambda *args, **kwargs: None)
    elif how == "disk full":
        def full(source, target, pieces):
            raise OSError(errno.ENOSPC, "No space left on device", str(target))

        monkeypatch.setattr(snapshot, "patch_file", full)
    elif how == "another build":
        def meanwhile(*args, **kwargs):
            made = original(*args, **kwargs)
            marker = out / ".nojekyll"  # (a build swapping its site in replaces it)
            (out / ".nojekyll.new").write_bytes(marker.read_bytes())
            os.replace(out / ".nojekyll.new", marker)
            return made

        monkeypatch.setattr(relist, "rebuild", meanwhile)
    before = tree(out)
    write_records(project / "content", {"zeta": record("Zeta Data", countries_served=["DE", "IS"],
                                                       body="*Zeta* text.")})
    settle(project / "content", offset=3)
    as_new_process()
    result = build_site(paths, AS_OF, search=False, remember=False)
    assert not list(project.glob(".site.build-*")), "a stage was left behind"
    if how in ("moved in", "relist gives up"):
        assert result.ok, [p.text() for p in result.problems]
        assert relisted == ([True] if how == "moved in" else [])
        same_as_cold(project, out, how)
        return
    assert not result.ok
    assert tree(out) == before
    message = format_problems(result.problems)
    if how == "disk full":
        assert "cannot write the site: No space left on device" in message, message
    else:
        assert "another build replaced" in message, message


def test_the_times_a_build_prints_add_up_to_the_build(project, monkeypatch):
    """The stages' times that `build` prints ("Time: check ... total") account for the whole
    build. Each step of a new process's rebuild after an edit to listed data that once ran
    outside every stage (the January review's report, the partners' kept pages and listing
    entries taken from the cache, the listing pages' kept pieces loaded, partners.json and
    partners.csv patched) is made to take a fifth of a second: the stages still add up."""
    import time

    from partnerdir import pipeline

    ordinary_only(monkeypatch)
    out = project / "site"
    paths = paths_for(project, out)
    new_process_build(paths)
    zeta = record("Zeta Data", body="*Zeta* text.", countries_served=["DE", "IS"])
    write_records(project / "content", {"zeta": zeta})
    settle(project / "content", offset=1)
    slow = 0.2

    def slowed(original):
        def step(*args, **kwargs):
            time.sleep(slow)
            return original(*args, **kwargs)
        return step

    for module, name in ((cache, "review_reusing"), (cache, "pages_to_reuse"), (cache, "seed_exports"),
                         (cache, "load_kept_pages"), (pipeline, "_patch_open_data")):
        monkeypatch.setattr(module, name, slowed(getattr(module, name)))
    start = time.perf_counter()
    result = new_process_build(paths)
    wall = time.perf_counter() - start
    assert wall >= 5 * slow  # (every step slowed ran)
    assert wall - result.seconds < slow, (wall, result.timings)


def test_a_new_process_encodes_only_the_edited_partners_entries_in_the_listing_files(project, monkeypatch):
    """After an edit to listed data, a new process takes every other partner's directory.json
    and recommend.json entry from the last build's files (`cache.seed_exports`), and makes the
    same files as a build from nothing; a file changed by hand since is not trusted."""
    from partnerdir import export

    ordinary_only(monkeypatch)
    out = project / "site"
    paths = paths_for(project, out)
    new_process_build(paths)
    rows: list[str] = []
    summaries: list[str] = []
    row, compact = export._directory_row, export.compact

    def directory_row(partner, *args):
        rows.append(partner.slug)
        return row(partner, *args)

    def encoding(data):
        if isinstance(data, dict) and "hq_region" in data:  # a recommendation summary
            summaries.append(data["slug"])
        return compact(data)

    monkeypatch.setattr(export, "_directory_row", directory_row)
    monkeypatch.setattr(export, "compact", encoding)
    # (a build from nothing makes those files in its workers, which send each entry back so
    # that the build can keep where each one is, for the first rebuild too)
    for step, served in enumerate((["DE", "NL"], ["DE", "IS"], ["DE"], ["DE", "FR"])):
        zeta = record("Zeta Data", body="*Zeta* text.", countries_served=served)
        write_records(project / "content", {"zeta": zeta})
        settle(project / "content", offset=step)
        if step == 3:  # the last build's directory.json changed by hand: every entry made again
            listing = out / "directory.json"
            listing.write_bytes(listing.read_bytes().replace(b"[", b"[ ", 1))
        rows.clear()
        summaries.clear()
        new_process_build(paths)
        if step < 3:
            assert (rows, summaries) == (["zeta"], ["zeta"]), served
        else:
            assert "zeta" in rows and len(rows) == len(set(rows)) > 2 and summaries == ["zeta"]
        same_as_cold(project, out, f"exports-{step}")


def test_a_new_process_takes_the_compiled_templates_from_the_cache(project, monkeypatch):
    """Jinja compiles the templates once per project and settings, not once per `build`."""
    from partnerdir import render

    out = project / "site"
    paths = paths_for(project, out)
    new_process_build(paths)
    render.compiled_templates().clear()  # as in a new process
    compiled = _counting_compiles(monkeypatch)
    write_records(project / "content", {"zeta": record("Zeta Data", countries_served=["DE", "IS"],
                                                       body="*Zeta* text.")})
    settle(project / "content", offset=5)
    new_process_build(paths)
    assert compiled == []
    same_as_cold(project, out, "compiled templates")


def _counting_compiles(monkeypatch) -> list[str]:
    """The names of the templates Jinja compiles in this process from now on."""
    import jinja2

    compiled: list[str] = []
    original = jinja2.Environment.compile

    def counting(self, source, name=None, filename=None, raw=False, defer_init=False):
        compiled.append(name)
        return original(self, source, name, filename, raw, defer_init)

    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    return compiled


def test_a_build_from_nothing_compiles_its_templates_on_another_core(project, monkeypatch):
    """With no cache, the templates are compiled in a forked process while this one checks the
    records: the render finds them compiled, and the site is the one a single core makes."""
    from partnerdir import render

    monkeypatch.setenv("PARTNERDIR_WORKERS", "2")
    render.compiled_templates().clear()  # as in a new process
    compiled = _counting_compiles(monkeypatch)
    out = project / "site"
    new_process_build(paths_for(project, out))
    assert compiled == []
    assert len(render.compiled_templates()) == len(_page_templates(project))
    monkeypatch.setenv("PARTNERDIR_WORKERS", "1")
    render.compiled_templates().clear()
    same_as_cold(project, out, "templates compiled here")
    assert "partner.html" in compiled


def test_a_template_the_other_core_cannot_compile_is_reported_where_it_is(project, monkeypatch):
    """The process compiling beside the check leaves out a template with a mistake; this one
    compiles it when a page needs it, and reports its file and line as before."""
    from partnerdir import render

    monkeypatch.setenv("PARTNERDIR_WORKERS", "2")
    render.compiled_templates().clear()
    partner = project / "templates" / "partner.html"
    lines = partner.read_text("utf-8").splitlines(keepends=True)
    lines.insert(5, "{% if partner.name %}\n")  # never closed
    partner.write_text("".join(lines), encoding="utf-8")
    cache._MEMOS.clear()
    compiled = _counting_compiles(monkeypatch)
    result = build_site(paths_for(project, project / "site"), AS_OF, search=False, remember=False)
    assert not result.ok
    problem = result.problems[0]
    assert problem.path.endswith("partner.html") and problem.line, problem.text()
    assert not (project / "site").exists()
    assert set(compiled) == {"partner.html"}
    # (every other template came from the process beside; this one compiled none of them)
    assert len(render.compiled_templates()) == len(_page_templates(project)) - 1


def _page_templates(project: Path) -> list[str]:
    from partnerdir import render

    env = render.environment(project / "templates")
    return env.list_templates(filter_func=lambda n: n.endswith((".html", ".svg")))


@pytest.mark.parametrize("how", ["patch fails", "file replaced"])
def test_open_data_that_cannot_be_patched_is_made_whole(project, monkeypatch, how):
    """partners.json and partners.csv are patched only when they are the files the last build
    wrote, and anything unexpected while patching makes the build again the ordinary way:
    either way, the site a build from nothing makes."""
    from partnerdir import snapshot

    out = project / "site"
    paths = paths_for(project, out)
    new_process_build(paths)
    if how == "patch fails":
        def broken(*args):
            raise ValueError("not today")

        monkeypatch.setattr(snapshot, "patch_open_data", broken)
    else:
        data = (out / "partners.csv").read_bytes()
        (out / "partners.csv").write_bytes(data + b"zeta,by hand\r\n")
    write_records(project / "content", {"zeta": record("Zeta Data", countries_served=["DE", "NO"],
                                                       body="*Zeta* text.")})
    settle(project / "content", offset=5)
    new_process_build(paths)
    same_as_cold(project, out, how)


def test_a_partner_read_from_the_cache_reads_like_the_partner_it_was(project, monkeypatch):
    """Every field, the listed ones kept apart and the rest decoded when first asked for, and
    its plain form (what the cache stores of it), are those of the partner checked."""
    from partnerdir.award import award_json
    from partnerdir.plain_data import codec
    from partnerdir.validate import Partner

    ordinary_only(monkeypatch)
    out = project / "site"
    paths = paths_for(project, out)
    first = new_process_build(paths)
    checked = {p.slug: p for _, p in cache.memo_for(out).records.values()}
    granted = {slug: award for slug, (_, award) in cache.memo_for(out).awards.items()}
    assert first.ok and not any(isinstance(p, cache.StoredPartner) for p in checked.values())
    new_process_build(paths)  # (nothing changed: nothing read)
    write_records(project / "content", {"zeta": record("Zeta Data", countries_served=["DE", "IS"],
                                                       body="*Zeta* text.")})
    settle(project / "content", offset=4)
    new_process_build(paths)
    kept = cache.memo_for(out).records.values()
    stored = {p.slug: p for _, p in kept if isinstance(p, cache.StoredPartner)}
    assert stored and "alpha-var" in stored
    encode = codec(Partner)[0]
    for slug, partner in stored.items():
        assert partner.name == checked[slug].name and partner.headquarters == checked[slug].headquarters
        assert partner._partner is None  # (listed fields only, so far)
        assert encode(partner) == encode(checked[slug])
        assert partner.model_dump() == checked[slug].model_dump()
        assert partner.certifications == checked[slug].certifications
        award = cache.memo_for(out).awards[slug][1]
        assert isinstance(award, cache.StoredAward) and award.removed == granted[slug].removed
        assert award_json(award) == award_json(granted[slug])


def test_partners_joining_and_leaving_the_list_are_patched_into_the_open_data(project, monkeypatch):
    """A record added first or last in slug order, and deleted again, in new processes, the
    ordinary way (a partner added is otherwise put in from the listing state, which patches the
    files alike): partners.json and partners.csv get its entry and row put in or taken out (the
    separator before the first entry differs from the others') and equal a build from nothing's."""
    from partnerdir import snapshot

    out = project / "site"
    paths = paths_for(project, out)
    new_process_build(paths)
    ordinary_only(monkeypatch)
    patched: list[tuple[set[str], set[str]]] = []
    original = snapshot.patch_open_data

    def patching(plan, *args):
        patched.append((set(plan.changed), set(plan.dropped)))
        return original(plan, *args)

    monkeypatch.setattr(snapshot, "patch_open_data", patching)
    steps = [("aaa-first", "add"), ("aaa-first", "delete"), ("zzz-last", "add"), ("zzz-last", "delete")]
    for step, (slug, action) in enumerate(steps, start=1):
        if action == "add":
            write_records(project / "content", {slug: record(f"{slug} Oy", countries_served=["FI"])})
        else:
            (project / "content" / f"{slug}.yaml").unlink()
        settle(project / "content", offset=step)
        patched.clear()
        new_process_build(paths)
        assert patched == ([({slug}, set())] if action == "add" else [(set(), {slug})]), (slug, action)
        same_as_cold(project, out, f"{slug}-{action}")


def test_stale_pages_are_deleted_when_the_build_process_ends(project):
    """The pages a build replaces are deleted from the cache behind it, before its process
    ends: after edits to listed data that the ordinary rebuild makes in new `build` processes
    (a country nobody served: a new page, then gone), the cache keeps only pages of the site.
    (A quick rebuild leaves the pages it replaces to the next ordinary one.)"""
    out, cache_folder = project / "site", project / ".cache"
    build_process(project, out, cache_folder)
    for step, countries in enumerate((["DE", "BR"], ["DE"], ["DE", "MX"]), start=1):
        write_records(project / "content", {"zeta": record("Zeta Data", countries_served=countries,
                                                           body="*Zeta* text.")})
        settle(project / "content", offset=step)
        build_process(project, out, cache_folder)
    site = {content_hash(data) for data in tree(out).values()}
    stored = {p.name for p in (cache_folder / "records").glob("p-*/pages/*")}
    assert stored and stored <= site


def _status_of(out: Path, slug: str) -> str:
    page = (out / "partners" / slug / "index.html").read_text(encoding="utf-8")
    return page.split('<span class="badge level-', 1)[1].split('"', 1)[0]


def test_a_new_day_checks_no_record_again_and_builds_what_a_build_from_nothing_does(project, monkeypatch):
    """The as-of date defaults to today, so the first build of each day (CI's, an editor's) has
    a new one, shown on every page and changing awards. A record that passed on one day passes
    on every later one (each check of a date refuses a date after the as-of date), so the next
    day's build checks no record again: each partner only gets its award, card and cache entry
    anew. Its site is the one a build from nothing makes on that day. A build for an earlier day
    than the checks kept checks everything again, so a record too new for it is refused."""
    out = project / "site"
    paths = paths_for(project, out)
    day = AS_OF
    expiring = certifications(2, "EV") + [{**c, "expires": day + dt.timedelta(days=1)}
                                          for c in certifications(2, "ET")]
    (project / "content" / "logos").mkdir()
    shutil.copy(Path(__file__).parent / "fixtures" / "northwind.svg", project / "content" / "logos")
    write_records(project / "content", {"eta-expiring": record(
        "Eta Expiring Ltd", headquarters={"city": "Boston", "country": "US"}, countries_served=["US"],
        joined=dt.date(2021, 7, 1), certifications=expiring, projects=projects(3, country="US"),
        logo="logos/northwind.svg")})  # (a logo that passed one day passes the next, unread)
    settle(project / "content", offset=10)

    def build_on(as_of: dt.date):
        as_new_process()
        return build_site(paths, as_of, search=False, remember=False)

    assert build_on(day).ok
    status_before = _status_of(out, "eta-expiring")
    # The next day: one record edited, and one added that joins that day (refused the day before).
    write_records(project / "content", {
        "zeta": record("Zeta Data", body="*Zeta* text, the next day."),
        "newcomer": record("Newcomer Ltd", joined=day + dt.timedelta(days=1)),
    })
    settle(project / "content", offset=20)
    validated = records_validated(monkeypatch)
    next_day = build_on(day + dt.timedelta(days=1))
    assert next_day.ok, [p.text() for p in next_day.problems]
    assert sorted(validated) == ["newcomer", "zeta"]
    assert next_day.written == next_day.files  # (every page shows the date)
    same_as_cold(project, out, "the next day", day + dt.timedelta(days=1))

    validated.clear()
    later = build_on(day + dt.timedelta(days=2))
    assert later.ok and validated == []
    # (two of its engineers' certifications expired the day before)
    assert (status_before, _status_of(out, "eta-expiring")) == ("silver", "bronze")
    same_as_cold(project, out, "two days later", day + dt.timedelta(days=2))

    before = tree(out)
    back = build_on(day)
    assert not back.ok
    assert [(Path(p.path).name, p.field) for p in back.problems] == [("newcomer.yaml", "joined")]
    assert set(validated) == {path.stem for path in (project / "content").iterdir() if path.is_file()}
    assert len(set(validated)) == 8  # (every record: none taken from a later day's checks)
    assert tree(out) == before


def test_a_new_day_right_after_a_checkout_checks_no_record_again(project, monkeypatch):
    """Records written moments before a build (a checkout, CI's) cannot be vouched for by their
    metadata, so that build keeps no file's metadata; the next day's build still finds the
    checks it made, by the records' bytes."""
    out = project / "site"
    paths = paths_for(project, out)
    for path in (project / "content").iterdir():
        path.write_bytes(path.read_bytes())  # (just now)
    as_new_process()
    assert build_site(paths, AS_OF, search=False, remember=False).ok
    validated = records_validated(monkeypatch)
    as_new_process()
    next_day = AS_OF + dt.timedelta(days=1)
    assert build_site(paths, next_day, search=False, remember=False).ok
    assert validated == []
    same_as_cold(project, out, "the next day", next_day)
