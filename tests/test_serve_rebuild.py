"""`serve`'s rebuild after an edit to listed data: quick, and still exactly a cold build's site.

The preview is rebuilt in place in the serving process, which keeps what it made (kept listing
pages with the cards they showed, open data entries); the cache on disk is saved behind it by a
thread, and must be whole for the next build, in this process or a new one.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

from partnerdir import cache, export, parallel, pipeline, recommend, render
from partnerdir.pipeline import build_site
from partnerdir.project import ROOT

from .site_records import AS_OF, write_records
from .test_incremental import cold, count_renders, make_project, many_partners, paths_for, settle, tree


@pytest.fixture
def project(tmp_path, monkeypatch):
    return make_project(tmp_path, monkeypatch)


def _count_told(monkeypatch) -> list[list[str]]:
    """The partners of each card list of a kept page told card by card, or by the cards that
    are not the last build's (`render._patched_inputs`), from here on."""
    signed: list[list[str]] = []
    checking = []
    card_inputs, inputs_now, patched_inputs = render._card_inputs, render._Renderer.inputs_now, \
        render._patched_inputs

    def told(views, tokens):
        if checking:
            signed.append([view.slug for view in views])
        return card_inputs(views, tokens)

    def patched(views, *args):
        made = patched_inputs(views, *args)
        if made is not None and checking:
            signed.append([view.slug for view in views])
        return made

    def checked(self, *args):
        checking.append(True)
        try:
            return inputs_now(self, *args)
        finally:
            checking.pop()

    monkeypatch.setattr(render, "_card_inputs", told)
    monkeypatch.setattr(render, "_patched_inputs", patched)
    monkeypatch.setattr(render._Renderer, "inputs_now", checked)
    return signed


def _serve_countries(project, step: int, countries: list[str], **fields):
    edited = project / "content" / "member-07.yaml"
    write_records(project / "content", {"member-07": {**many_partners(60)["member-07"],
                                                      "countries_served": countries, **fields}})
    settle(edited, offset=step)
    return edited


def _previewed(project, monkeypatch, partners: int):
    """`partners` partners built in place into project/preview on one core, as `serve` starts."""
    monkeypatch.setenv("PARTNERDIR_WORKERS", "1")
    write_records(project / "content", many_partners(partners))
    settle(project / "content")
    out = project / "preview"
    paths = paths_for(project, out)
    assert build_site(paths, AS_OF, search=False, in_place=True).ok
    return out, paths


def test_the_preview_is_there_before_its_cache_is_saved_and_the_cache_is_whole_after(project, monkeypatch):
    """The in-place rebuild returns with the site right while its cache is still being saved;
    meanwhile another process finds no build record (so it would rebuild everything, never
    trust a half-saved cache); the next build in the process waits for the save; and a new
    process after that takes the kept listing pages from the disk and renders only those that
    change, its site a cold build's."""
    out, paths = _previewed(project, monkeypatch, 60)

    saved = threading.Event()
    save = cache.save_kept_pages

    def slow_save(memo) -> None:
        time.sleep(0.5)
        save(memo)
        saved.set()

    monkeypatch.setattr(cache, "save_kept_pages", slow_save)
    edited = _serve_countries(project, 1, ["US", "IS"])
    result = build_site(paths, AS_OF, search=False, in_place=True, changed=[edited])
    assert result.ok and result.written > 0
    assert not saved.is_set()  # returned before the cache was saved …
    assert cache.load_last(paths, out) is None  # … and no process trusts the disk meanwhile
    expected = cold(project, "is")[1]
    got = tree(out)
    assert sorted(got) == sorted(expected)
    assert [p for p in got if got[p] != expected[p]] == []

    again = build_site(paths, AS_OF, search=False, in_place=True)  # waits for the save
    assert saved.is_set() and again.ok and again.unchanged
    assert cache.load_last(paths, out) is not None

    rendered = count_renders(monkeypatch)
    cache._MEMOS.clear()  # a new process
    _serve_countries(project, 2, ["NL"])
    result = build_site(paths, AS_OF, search=False, remember=False)
    assert result.ok, [p.text() for p in result.problems]
    listing = [path for path in rendered if not path.startswith("partners/")]
    assert "countries/nl/index.html" in listing and "page/2/index.html" not in listing, listing
    assert len(listing) < 15, listing
    expected = cold(project, "nl")[1]
    got = tree(out)
    assert sorted(got) == sorted(expected)
    assert [p for p in got if got[p] != expected[p]] == []


def test_a_failed_save_behind_the_preview_leaves_no_build_record_and_the_next_build_is_whole(
        project, monkeypatch, capsys):
    """A save that fails in its thread is reported in the terminal and costs only time: with
    no build record the next build makes the whole site again, a cold build's."""
    out, paths = _previewed(project, monkeypatch, 30)

    def broken(*args, **kwargs) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache, "save_rendered", broken)
    edited = _serve_countries(project, 1, ["IS"])
    assert build_site(paths, AS_OF, search=False, in_place=True, changed=[edited]).ok
    pipeline.wait_persisted()
    assert "No space left on device" in capsys.readouterr().err
    assert cache.load_last(paths, out) is None
    monkeypatch.undo()
    monkeypatch.setenv("PARTNERDIR_WORKERS", "1")
    result = build_site(paths, AS_OF, search=False, in_place=True)
    assert result.ok and not result.unchanged
    expected = cold(project, "after")[1]
    assert tree(out) == expected


@pytest.mark.parametrize("workers", ["1", ""], ids=["one-core", "every-core"])
def test_listed_edits_in_one_process_reuse_what_did_not_change(project, monkeypatch, workers):
    """Rebuilds after edits to listed data in one process: directory.json and recommend.json
    encode only the changed partner's entry again (also after a first build on every core,
    whose workers made the listing pages), the kept pages' card lists are recognised by their
    cards, no other partner's table row is rendered again, and after each edit the site is a
    cold build's."""
    monkeypatch.setenv("PARTNERDIR_WORKERS", workers)
    write_records(project / "content", many_partners(60))
    settle(project / "content")
    out = project / "preview"
    paths = paths_for(project, out)
    runs = []  # (a render that fails on every core is run again on one, to report its mistake)
    render_all = render._Renderer.render_all
    monkeypatch.setattr(render._Renderer, "render_all", lambda self, count, *a, **k: runs.append(count) or
                        render_all(self, count, *a, **k))
    assert build_site(paths, AS_OF, search=False, in_place=True).ok
    assert runs == ([1] if workers == "1" else [parallel.workers()]) and (workers or runs[0] > 1)
    # the lists of cards the next build's directory takes over were made in this process
    assert ("country", "US") in cache.memo_for(out).directory[1].listed_views
    rows = []
    make_row = export._directory_row
    monkeypatch.setattr(export, "_directory_row", lambda partner, *a: rows.append(partner.slug) or
                        make_row(partner, *a))
    signed = _count_told(monkeypatch)
    table_rows = []
    make_table_row = render._Renderer.row
    monkeypatch.setattr(render._Renderer, "row", lambda self, view: table_rows.append(view.slug) or
                        make_table_row(self, view))
    remade = []  # listing pages put together again from their pieces
    joined_kept, spliced = render._Renderer.joined_kept, render._Renderer.spliced
    monkeypatch.setattr(render._Renderer, "joined_kept", lambda self, path, *a: remade.append(path) or
                        joined_kept(self, path, *a))
    monkeypatch.setattr(render._Renderer, "spliced", lambda self, page, *a: remade.append(page.path) or
                        spliced(self, page, *a))
    moved = {"headquarters": {"city": "Tokyo", "country": "JP"}}  # (another region's partners)
    for step, (countries, fields) in enumerate([(["US", "IS"], {}), (["IS"], {}), (["NL", "US"], {}),
                                                (["NL", "US"], moved), (["IS"], moved)], start=1):
        edited = _serve_countries(project, step, countries, **fields)
        rows.clear()
        signed.clear()
        table_rows.clear()
        remade.clear()
        result = build_site(paths, AS_OF, search=False, in_place=True, changed=[edited])
        assert result.ok
        pipeline.wait_persisted()
        assert rows == ["member-07"]
        # the listing pages' tables made again take every other partner's row from the last build
        assert set(table_rows) <= {"member-07"}, table_rows
        if not fields:  # a country served: the partner's row is the same, on its status page too
            assert not [path for path in remade if path.startswith(("status/", "programs/"))], remade
        # of the kept pages' card lists, only those that show the edited partner's new card are
        # told card by card (also in the first rebuild after a build by forked workers)
        assert signed and all("member-07" in slugs for slugs in signed), signed
        expected = cold(project, f"step-{step}")[1]
        got = tree(out)
        assert [p for p in got if got.get(p) != expected.get(p)] == [], step
        assert sorted(got) == sorted(expected)
        assert json.loads(got["recommend.json"])["partners"]


def test_directory_json_and_recommend_json_from_kept_entries_equal_ones_made_whole(project, monkeypatch):
    """The open data put together from entries kept by an earlier build equals the same files
    encoded whole (json.dumps of the data), partner by partner and in the tables at the top."""
    out, paths = _previewed(project, monkeypatch, 20)
    edited = _serve_countries(project, 1, ["IS", "NL"])
    assert build_site(paths, AS_OF, search=False, in_place=True, changed=[edited]).ok
    pipeline.wait_persisted()
    d = cache.memo_for(out).directory[1]
    assert d.encoded["directory.json"] and d.encoded["recommend.json"]  # kept from the builds before
    kept_directory = export.directory_json(d, None)
    kept_recommend = recommend.recommend_json(d)
    d.encoded.clear()
    assert export.directory_json(d, None) == kept_directory
    data, _ = recommend._for_directory(d)
    whole = (json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
    assert recommend.recommend_json(d) == kept_recommend == whole
    made = json.loads(kept_directory)
    assert made["countries"]["IS"] == "Iceland"
    # every country a listed partner serves or is headquartered in, every language one speaks
    assert set(made["countries"]) == {c for p in d.partners.values() for c in
                                      [*d.views[p.slug].member["country"], p.headquarters.country]}
    assert set(made["languages"]) == {code for p in d.partners.values() for code in p.languages}
    assert (out / "directory.json").read_bytes() == kept_directory


def test_an_in_place_write_that_fails_in_its_thread_fails_at_finish_and_the_others_are_written(tmp_path):
    """serve's in-place rebuild writes its files from threads: one that cannot be written
    (a file where its folder should be) is reported when the writer finishes, as an error the
    build turns into a problem, and the files that could be written are whole."""
    from partnerdir.write import SiteWriter, content_hash, write_tree

    out = tmp_path / "site"
    write_tree(out, {"index.html": b"home", "blocked": b"a file"})
    writer = SiteWriter(out, {"index.html": content_hash(b"home"), "blocked": content_hash(b"a file")},
                        in_place=True)
    assert writer.put("index.html", b"new home") == (content_hash(b"new home"), True)
    writer.put("blocked/index.html", b"cannot be: 'blocked' is a file")
    with pytest.raises(OSError):
        writer.finish({"index.html", "blocked/index.html"})
    assert (out / "index.html").read_bytes() == b"new home"
    assert sorted(p.name for p in out.iterdir()) == ["blocked", "index.html"]


def test_serve_started_from_the_disk_cache_rebuilds_a_listed_edit_from_what_it_kept(project, monkeypatch):
    """`serve` started on a project whose cache a `build` filled (its first build takes every
    page from the cache and renders no listing page): its first rebuild after an edit to
    listed data already finds the kept pages' card lists and the open data's entries in
    memory, and its site is a cold build's."""
    monkeypatch.setenv("PARTNERDIR_WORKERS", "")
    write_records(project / "content", many_partners(60))
    settle(project / "content")
    assert build_site(paths_for(project, project / "site"), AS_OF, search=False, remember=False).ok
    cache._MEMOS.clear()  # serve, a new process, with the same cache folder
    out = project / "preview"
    paths = paths_for(project, out)
    rendered = count_renders(monkeypatch)
    assert build_site(paths, AS_OF, search=False, in_place=True).ok
    assert [path for path in rendered if not path.startswith("partners/")] == []  # all from the cache
    rows = []
    make_row = export._directory_row
    monkeypatch.setattr(export, "_directory_row", lambda partner, *a: rows.append(partner.slug) or
                        make_row(partner, *a))
    told = _count_told(monkeypatch)
    germany = cache.memo_for(out).directory[1].listed_views[("country", "DE")]  # made after the build
    edited = _serve_countries(project, 1, ["US", "IS"])
    rendered.clear()
    assert build_site(paths, AS_OF, search=False, in_place=True, changed=[edited]).ok
    assert rows == ["member-07"]
    assert cache.memo_for(out).directory[1].listed_views[("country", "DE")] is germany  # taken over
    again = {path for path in rendered if not path.startswith("partners/")}  # rendered whole
    assert told and all("member-07" in slugs for slugs in told), told
    assert 0 < len(again) < 15, again
    expected = cold(project, "is")[1]
    got = tree(out)
    assert sorted(got) == sorted(expected)
    assert [p for p in got if got[p] != expected[p]] == []


_EXIT_WHILE_SAVING = """
import datetime as dt, sys, time
from pathlib import Path
from partnerdir import cache
from partnerdir.pipeline import build_site
from partnerdir.project import Paths

root, edited, step = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
paths = Paths(content=root / "content", rules=root / "programs.yaml", templates=root / "templates",
              static=root / "templates" / "static", out=root / "preview", cache=root / ".cache")
as_of = dt.date.fromisoformat(sys.argv[4])
assert build_site(paths, as_of, search=False, in_place=True).ok
save = cache.save_rendered

def slow_save(*args, **kwargs):
    time.sleep(0.5)  # still saving when the interpreter starts to exit
    return save(*args, **kwargs)

cache.save_rendered = slow_save
edited.write_text(Path(sys.argv[5]).read_text())
later = time.time() - 3600 + step
import os; os.utime(edited, (later, later))
assert build_site(paths, as_of, search=False, in_place=True, changed=[edited]).ok
print("rebuilt", flush=True)
"""


def test_serve_stopped_while_it_saves_its_cache_still_saves_it_whole(project):
    """`serve` stopped just after a rebuild (Ctrl-C in the terminal) exits while its thread
    still saves the cache: that thread finishes its work without a traceback, and a new
    process then finds the site up to date instead of building everything again."""
    write_records(project / "content", many_partners(30))
    settle(project / "content")
    edited = project / "content" / "member-03.yaml"
    record = many_partners(30)["member-03"]
    assert record["countries_served"] == ["US"]
    new_text = write_records(project / "edit", {"member-03": {**record, "countries_served": ["US", "IS"]}})
    done = subprocess.run([sys.executable, "-c", _EXIT_WHILE_SAVING, str(project), str(edited), "5",
                           AS_OF.isoformat(), str(new_text / "member-03.yaml")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "rebuilt" in done.stdout, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    paths = paths_for(project, project / "preview")
    cache._MEMOS.clear()  # a new process
    result = build_site(paths, AS_OF, search=False, remember=False)
    assert result.ok and result.unchanged
    assert tree(project / "preview") == cold(project, "is")[1]


def test_rebuilds_in_one_process_redo_only_the_edited_partners_and_stay_right(project, monkeypatch):
    """Each stage of a rebuild in one process finds the partners whose records changed by
    comparing its partners with the last build's (`delta`), so an edit awards, views and
    summarises one partner, not sixty. Through edits that move a partner in the order (a new
    name, a new status), take it off the site at the January review and back, break a record
    and mend it, touch two records at once, add and delete a file, and edit a record just now
    (whose metadata cannot vouch for it), every rebuild is still a cold build's site."""
    from partnerdir import award as award_module
    from partnerdir import pages

    out, paths = _previewed(project, monkeypatch, 60)
    base = many_partners(60)
    made: dict[str, list[str]] = {"award": [], "view": [], "summary": []}

    def counting(kind: str, original):
        def counted(partner, *args):
            made[kind].append(partner.slug)
            return original(partner, *args)
        return counted

    for kind, module, attribute in (("award", award_module, "award"), ("view", pages, "partner_view"),
                                    ("summary", recommend, "summary")):
        monkeypatch.setattr(module, attribute, counting(kind, getattr(module, attribute)))
    content = project / "content"

    def rewrite(step: int, changes: dict[str, dict], just_now: bool = False) -> None:
        write_records(content, {slug: {**base[slug], **fields} for slug, fields in changes.items()})
        for slug in changes:
            base[slug] = {**base[slug], **changes[slug]}
            if not just_now:
                settle(content / f"{slug}.yaml", offset=step)

    from .site_records import certifications

    steps = [
        ("a country served", lambda s: rewrite(s, {"member-07": {"countries_served": ["IS", "US"]}})),
        ("a new name", lambda s: rewrite(s, {"member-07": {"name": "Aardvark Consulting"}})),
        ("a new status", lambda s: rewrite(s, {"member-07": {"certifications": certifications(9)}})),
        ("a new head office", lambda s: rewrite(s, {"member-13": {"headquarters": {"city": "Reykjavik",
                                                                                  "country": "IS"}}})),
        ("removed at the review", lambda s: rewrite(s, {"member-08": {"joined": "2024-01-05"}})),
        ("back on the site", lambda s: rewrite(s, {"member-08": {"joined": "2025-03-01"}})),
        ("two at once", lambda s: rewrite(s, {"member-09": {"languages": ["fi"]},
                                              "member-10": {"regions_served": ["apac"]}})),
        ("edited just now", lambda s: rewrite(s, {"member-07": {"countries_served": ["NO"]}}, just_now=True)),
        ("again just now", lambda s: rewrite(s, {"member-07": {"countries_served": ["SE"]}}, just_now=True)),
        ("a file added", lambda s: write_records(content, {"member-99": base["member-11"]})),
        ("a file deleted", lambda s: (content / "member-99.yaml").unlink()),
        ("the same partner in Markdown", lambda s: (
            write_records(content, {"member-14": {**base["member-14"], "body": "Now *Markdown*."}}),
            (content / "member-14.yaml").unlink())),
    ]
    for step, (what, edit) in enumerate(steps, start=1):
        edit(step)
        for kind in made.values():
            kind.clear()
        result = build_site(paths, AS_OF, search=False, in_place=True)
        pipeline.wait_persisted()
        assert result.ok, (what, [p.text() for p in result.problems])
        if what in ("a country served", "a new name", "a new status", "edited just now"):
            assert made["award"] == made["summary"] == ["member-07"], (what, made)
            assert set(made["view"]) <= {"member-07"}, (what, made)
        expected = cold(project, f"step-{step}")[1]
        got = tree(out)
        assert sorted(got) == sorted(expected), what
        assert [p for p in got if got[p] != expected[p]] == [], what
    broken = content / "member-12.yaml"
    mended = broken.read_text(encoding="utf-8")
    broken.write_text(mended.replace("countries_served:", "countries_served: [XX]\nold_countries:"),
                      encoding="utf-8")
    settle(broken, offset=50)
    assert not build_site(paths, AS_OF, search=False, in_place=True).ok
    broken.write_text(mended.replace("countries_served:\n- ", "countries_served:\n- IS\n- "),
                      encoding="utf-8")
    settle(broken, offset=51)
    assert build_site(paths, AS_OF, search=False, in_place=True).ok
    pipeline.wait_persisted()
    assert "IS" in broken.read_text(encoding="utf-8")
    expected = cold(project, "mended")[1]
    got = tree(out)
    assert [p for p in got if got.get(p) != expected.get(p)] == [] and sorted(got) == sorted(expected)
