"""What keeps a new `build` process's rebuild of a description edit quick (pipeline._quick_build),
so that nobody undoes it unknowingly: it takes the language names from the snapshot the last
build left instead of loading pycountry's 7,900 ISO 639-3 languages, loads no module it does
not use (urllib.request, for the sitemap), and runs without the cyclic garbage collector,
which it leaves as it found it. The site it makes is still the one a build from nothing makes.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import threading
import time

import pycountry
import pytest

from partnerdir import cache, rules, snapshot
from partnerdir.pipeline import build_site
from partnerdir.project import ROOT

from . import test_record_cache
from .site_records import AS_OF, record, write_records
from .test_incremental import paths_for, settle
from .test_record_cache import build_process, command, new_process_build, ordinary_rebuilds, same_as_cold

project = test_record_cache.project  # the same project fixture


class _NotLoaded:
    """Stands for pycountry's language database: any use of it fails the test."""

    def __getattr__(self, name):
        raise AssertionError(f"pycountry's language database was used (languages.{name})")

    def __iter__(self):
        raise AssertionError("pycountry's language database was used (iterated)")


@pytest.fixture
def fresh_languages(monkeypatch):
    """This process as a new one: no language table known yet."""
    monkeypatch.setattr(rules, "_languages", None)
    rules.language_name.cache_clear()
    yield
    rules.language_name.cache_clear()


def test_a_description_edit_is_rebuilt_without_pycountrys_language_database(project, monkeypatch,
                                                                            fresh_languages):
    out = project / "site"
    paths = paths_for(project, out)
    write_records(project / "content", {"zeta": record("Zeta Data", languages=["de", "fi"], body="*Zeta*.")})
    settle(project / "content")
    new_process_build(paths)
    assert "Finnish" in (out / "partners" / "zeta" / "index.html").read_text(encoding="utf-8")

    monkeypatch.setattr(rules, "_languages", None)  # a new process, whose pycountry must stay unread
    rules.language_name.cache_clear()
    monkeypatch.setattr(pycountry, "languages", _NotLoaded())
    ordinary = ordinary_rebuilds(monkeypatch)
    write_records(project / "content", {"zeta": record("Zeta Data", languages=["de", "fi"],
                                                       body="*Zeta*, edited.")})
    settle(project / "content", offset=1)
    collecting = gc.isenabled()
    result = new_process_build(paths)
    assert ordinary == [] and result.written == 3  # the quick rebuild: page, partners.json, partners.csv
    assert gc.isenabled() == collecting
    page = (out / "partners" / "zeta" / "index.html").read_text(encoding="utf-8")
    assert "<em>Zeta</em>, edited." in page and "German" in page and "Finnish" in page

    monkeypatch.undo()  # the cold build below loads the languages itself
    same_as_cold(project, out, "description edited")


def test_an_unknown_language_in_the_edit_is_still_reported(project, monkeypatch, fresh_languages):
    """The table only stands in for pycountry: a code it lacks is an error, as before."""
    paths = paths_for(project, project / "site")
    new_process_build(paths)
    monkeypatch.setattr(rules, "_languages", None)
    rules.language_name.cache_clear()
    write_records(project / "content", {"zeta": record("Zeta Data", languages=["en", "xx"])})
    settle(project / "content", offset=1)
    cache._MEMOS.clear()  # a new process
    result = build_site(paths, AS_OF, search=False, remember=False)
    assert not result.ok
    assert [(p.field, p.message) for p in result.problems] == [("languages[1]", "unknown language code 'xx'")]


@pytest.mark.parametrize("table", [None, ["en"], {"en": 1}, {1: "English"}])
def test_a_language_table_of_the_wrong_shape_is_not_used(table, monkeypatch, fresh_languages):
    rules.know_languages(table)
    assert rules.language_name("fi") == "Finnish"
    assert rules.languages() == {lang.alpha_2: lang.name for lang in pycountry.languages
                                 if hasattr(lang, "alpha_2")}


# Run as the command runs (a new process), reporting what it loaded: modules that only other
# kinds of build use, and pycountry's language database.
_REPORT = """
import json, sys
sys.path.insert(0, sys.argv[1])
from partnerdir.cli import main
code = main(sys.argv[2:])
import pycountry
print(json.dumps({"code": code, "languages loaded": pycountry.languages._is_loaded,
                  "sitemap's urllib.request": "urllib.request" in sys.modules}))
"""


def test_a_new_build_process_loads_only_what_a_description_edit_needs(project):
    out, cache_folder = project / "site", project / ".cache"
    build_process(project, out, cache_folder)
    write_records(project / "content", {"zeta": record("Zeta Data", body="*Zeta*, edited.")})
    settle(project / "content", offset=2)
    arguments = command(project, out, cache_folder)[2:]  # (after the interpreter and build.py)
    done = subprocess.run([sys.executable, "-c", _REPORT, str(ROOT), *arguments], cwd=project,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "3 files written" in done.stdout  # the quick rebuild: page, partners.json, partners.csv
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"code": 0, "languages loaded": False, "sitemap's urllib.request": False}
    page = (out / "partners" / "zeta" / "index.html").read_text(encoding="utf-8")
    assert "<em>Zeta</em>, edited." in page and "English" in page
    same_as_cold(project, out, "edited in a new process")


def test_with_search_a_description_edit_is_rebuilt_quickly_and_indexed_before_the_site_changes(
        project, monkeypatch):
    """`python build.py` builds with search: a new process's rebuild of a description edit is
    the quick one too, its index made again for the changed page's group alone (`index._Kept`),
    in the staging folder, and swapped in whole with the page; a failed index changes nothing."""
    from partnerdir import index
    from partnerdir.pipeline import _StageFailed

    from .test_index import fragments, tree

    out = project / "site"
    paths = paths_for(project, out)

    def build(**kwargs):
        cache._MEMOS.clear()
        monkeypatch.setattr(index, "_KEPT", {})  # (a new process: the kept index from .cache/)
        return build_site(paths, AS_OF, search=True, remember=False, **kwargs)

    assert build().ok
    ordinary = ordinary_rebuilds(monkeypatch)
    indexed: list[str] = []
    ran = index._index_one

    async def index_one(jobs, *args):
        indexed.extend(output.name for _, output in jobs)
        return await ran(jobs, *args)

    monkeypatch.setattr(index, "_index_one", index_one)
    write_records(project / "content", {"zeta": record("Zeta Data", body="*Zeta* builds quetzalcoatlite.")})
    settle(project / "content", offset=1)
    result = build()
    assert result.ok and ordinary == [] and result.written == 3, "the quick rebuild"
    assert [stage for stage, _ in result.timings] == ["check", "render", "index", "cache"]
    # zeta's group, and the main index (a new word)
    assert indexed == ["0", "plain-out", "endings-out", ".pagefind.new"]
    assert "quetzalcoatlite" in " ".join(f["content"] for f in fragments(out))
    staged = [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.build-")]
    for thread in threading.enumerate():  # (the staging folder, deleted behind the build)
        if thread.name == "free replaced files":
            thread.join()
    assert not [p for p in staged if p.exists()]

    # A failed index leaves the site as it was: nothing is moved in before it is made.
    from partnerdir import pipeline
    from partnerdir.problems import Problem

    def failing(*args, **kwargs):
        raise _StageFailed(Problem("search index", message="Pagefind could not index the site: no memory"))

    before = tree(out)
    monkeypatch.setattr(pipeline, "_index_stage", failing)
    write_records(project / "content", {"zeta": record("Zeta Data", body="*Zeta* builds xiphosurans.")})
    settle(project / "content", offset=2)
    failed = build()
    assert not failed.ok and "no memory" in failed.problems[0].message
    assert tree(out) == before
    assert not [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.build-")]
    monkeypatch.undo()

    cold_out = project / "cold" / "search" / "site"
    write_records(project / "content", {"zeta": record("Zeta Data", body="*Zeta* builds quetzalcoatlite.")})
    settle(project / "content", offset=3)
    assert build().ok
    cold = build_site(paths_for(project, cold_out, cold_out.parent / ".cache"), AS_OF, search=True,
                      remember=False)
    assert cold.ok and tree(out) == tree(cold_out), "the same site, index included, as a build from nothing"



def _metadata(st: os.stat_result) -> tuple[int, int, int]:
    return st.st_size, st.st_mtime_ns, st.st_ino


def _zeta_page(out) -> str:
    return (out / "partners" / "zeta" / "index.html").read_text(encoding="utf-8")


def test_builds_made_right_after_an_edit_leave_the_quick_rebuild_to_the_next_build(project, monkeypatch):
    """An editor saves a record and builds at once, so the build sees a file changed in the
    last moments (`cache.RACY_NS`). An ordinary rebuild (here, of a language nobody spoke
    before, whose page is new) then still leaves a snapshot, so the next edit, made and built just as
    quickly, takes the quick rebuild, and so does a build with nothing changed. (Before, every
    build after such an ordinary one took the ordinary rebuild too: 1.3-1.7 s at 10,000
    partners instead of 0.4 s.)"""
    out = project / "site"
    paths = paths_for(project, out)
    new_process_build(paths)
    ordinary = ordinary_rebuilds(monkeypatch)
    write_records(project / "content", {"zeta": record("Zeta Data", languages=["en", "fi"], body="*Zeta*.")})
    new_process_build(paths)  # (built at once: the file is racy)
    assert ordinary == [1] and "Finnish" in _zeta_page(out)
    for step in range(2):
        write_records(project / "content", {"zeta": record("Zeta Data", languages=["en", "fi"],
                                                           body=f"*Zeta*, edit {step}.")})
        result = new_process_build(paths)
        assert result.written == 3, step  # the quick rebuild: page, partners.json, partners.csv
        assert f"<em>Zeta</em>, edit {step}." in _zeta_page(out)
    result = new_process_build(paths)  # nothing changed: the racy file read again, and found the same
    assert result.written == 0
    assert ordinary == [1]
    same_as_cold(project, out, "edited and built at once")


def test_a_racy_file_changed_again_without_its_metadata_changing_is_still_read_again(project,
                                                                                      monkeypatch):
    """What makes keeping a racy build's snapshot safe: a file that a build read in the same
    moment it was written may be written again with the same size, time and inode. The
    snapshot keeps no metadata for it, so a later build reads it again instead of trusting
    its metadata."""
    out = project / "site"
    paths = paths_for(project, out)
    new_process_build(paths)
    ordinary = ordinary_rebuilds(monkeypatch)
    zeta = write_records(project / "content", {"zeta": record("Zeta Data", languages=["en", "fi"],
                                                              body="*Zeta* AAAA.")}) / "zeta.md"
    moment = time.time_ns() - 500_000_000  # half a second ago: racy
    os.utime(zeta, ns=(moment, moment))
    before = os.stat(zeta)
    new_process_build(paths)
    assert ordinary == [1] and "<em>Zeta</em> AAAA." in _zeta_page(out)

    write_records(project / "content", {"zeta": record("Zeta Data", languages=["en", "fi"],
                                                       body="*Zeta* BBBB.")})
    os.utime(zeta, ns=(moment, moment))
    after = os.stat(zeta)
    assert _metadata(after) == _metadata(before)  # all that the build looks at
    monkeypatch.setattr(cache, "RACY_NS", 100_000_000)  # a while later: nothing is racy any more
    result = new_process_build(paths)
    assert "<em>Zeta</em> BBBB." in _zeta_page(out)
    assert result.written == 3 and ordinary == [1]  # (still the quick rebuild)
    same_as_cold(project, out, "changed again within its clock tick")


def test_a_build_made_at_once_after_every_record_was_written_leaves_them_all_checked(project, monkeypatch):
    """A script that copies the records and builds at once: every file is racy. The build
    still keeps each checked record in the cache, under the key of the bytes it checked, so
    the next build checks none of them again (before, it checked all 10,000 at 10,000)."""
    from .test_record_cache import records_validated

    out = project / "site"
    paths = paths_for(project, out)
    for source in (project / "content").iterdir():
        source.write_bytes(source.read_bytes())  # written just now: racy
    new_process_build(paths)
    monkeypatch.setattr(cache, "RACY_NS", 1)  # a while later: nothing is racy any more
    # (more files to read again than the quick rebuild takes, as with 10,000 copied records)
    monkeypatch.setattr(snapshot, "MOST_CHANGED", 1)
    validated = records_validated(monkeypatch)
    result = new_process_build(paths)
    assert validated == [] and result.written == 0
    same_as_cold(project, out, "built at once after every record was written")
