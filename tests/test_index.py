"""The search index: what Pagefind holds after a build, and how the index stage fails.

Pagefind's written files are read back directly (fragments are gzip, a signature and JSON; the
other files CBOR), so these tests need no browser. tests/test_search_browser.py searches the same
index the way a visitor does.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import gzip
import json
import marshal
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import cbor2
import pytest

import partnerdir.index as index_stage
from partnerdir import cache
from partnerdir.award import award_all
from partnerdir.check import check
from partnerdir.cli import main
from partnerdir.facets import FACETS
from partnerdir.index import (
    PARTNER_FOLDER,
    PARTNER_INDEX,
    SIGNATURE,
    UNUSED_FILES,
    WORD_PAGE,
    IndexCancelled,
    build_index,
    incomplete_files,
    page_groups,
    stable_order,
)
from partnerdir.pages import directory
from partnerdir.pipeline import build_site, wait_persisted
from partnerdir.project import ROOT, Paths
from partnerdir.rules import country_name
from partnerdir.serve import Preview
from tests.site_records import SMALL, certifications, parse, project_paths, projects, record, write_records
from tests.test_incremental import settle

AS_OF = dt.date(2026, 11, 15)


def indexes(site: Path) -> list[Path]:
    """The main index (every page but partner pages) and the partner indexes merged into it."""
    manifest = json.loads((site / "pagefind" / PARTNER_INDEX).read_text())
    return [site / "pagefind", *(site / "pagefind" / path for path in manifest["indexes"])]


def read_index_file(path: Path):
    raw = gzip.decompress(path.read_bytes())
    assert raw.startswith(SIGNATURE), path
    payload = raw[len(SIGNATURE):]
    return json.loads(payload) if path.suffix == ".pf_fragment" else cbor2.loads(payload)


def index_fragments(index: Path) -> list[dict]:
    return [read_index_file(path) for path in sorted((index / "fragment").glob("*.pf_fragment"))]


def fragments(site: Path) -> list[dict]:
    """Every page in the index, as Pagefind stored it."""
    return [f for index in indexes(site) for f in index_fragments(index)]


def index_meta(index: Path) -> list:
    entry = json.loads((index / "pagefind-entry.json").read_text())
    return read_index_file(index / f"pagefind.{entry['languages']['en']['hash']}.pf_meta")


def index_words(index: Path) -> dict[str, int]:
    """Each word an index holds, with the number of its pages that hold it."""
    words = {}
    for _, _, chunk in index_meta(index)[2]:
        for word, pages, variants in read_index_file(index / "index" / f"{chunk}.pf_index")[0]:
            words[word] = len({p[0] for p in pages} | {p[0] for v in variants for p in v[1]})
    return words


def partner_fragments(site: Path) -> dict[str, dict]:
    return {f["meta"]["slug"]: f for f in fragments(site) if f["filters"].get("type") == ["partner"]}


def overview_pages(rules) -> int:
    """The programs overview, a page per program (retired ones too) and per status level."""
    return 1 + len(rules.programs) + len(rules.retired_programs) + len(rules.levels)


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def sample():
    """The sample content's directory, as the pages were built from it."""
    checked = check(Paths(), AS_OF)
    assert checked.ok
    awards = award_all(checked.partners, checked.rules, AS_OF)
    return checked, awards, directory(checked.partners, awards, checked.rules, AS_OF)


@pytest.fixture(scope="module")
def small_content(tmp_path_factory) -> Path:
    return write_records(tmp_path_factory.mktemp("small") / "content", SMALL)


def small_build(tmp: Path, content: Path, search: bool = True, out: Path | None = None):
    paths = project_paths(tmp, content, out)
    result = build_site(paths, AS_OF, search=search)
    assert result.ok, [p.text() for p in result.problems]
    return paths, result


# ------------------------------------------------------------------------------------------- what is indexed


def test_the_index_holds_exactly_the_listed_partners_with_their_filters(built_site, sample):
    checked, _, d = sample
    found = partner_fragments(built_site)
    listed = [p["slug"] for p in json.loads((built_site / "partners.json").read_text())["partners"]]
    assert sorted(found) == sorted(d.partners) == sorted(listed)
    assert len(found) == 43
    # the directory's search maps Pagefind's results to partners through this list
    ids = json.loads((built_site / "pagefind" / PARTNER_INDEX).read_text())["partners"]
    assert sorted(ids.values()) == sorted(listed)
    for page_id, slug in ids.items():
        (path,) = [i / "fragment" / f"{page_id}.pf_fragment" for i in indexes(built_site)[1:]
                   if (i / "fragment" / f"{page_id}.pf_fragment").is_file()]
        assert read_index_file(path)["url"] == f"/partners/{slug}/"
    # partner pages are in the partner indexes only
    main_index = index_fragments(built_site / "pagefind")
    assert not [f for f in main_index if f["filters"].get("type") == ["partner"]]
    # the sample has partners whose programs imply others; the filters must include those
    assert any(set(d.views[s].member["program"]) > set(d.partners[s].programs) for s in d.partners)
    for slug, fragment in found.items():
        view, partner = d.views[slug], d.partners[slug]
        assert fragment["url"] == f"/partners/{slug}/"
        filters = fragment["filters"]
        for facet in FACETS:
            assert sorted(filters.get(facet.key, [])) == sorted(view.member[facet.key]), (slug, facet.key)
        assert filters["slug"] == [slug]
        meta = fragment["meta"]
        assert meta["title"] == partner.name
        assert meta["status"] == view.level_name and meta["level"] == view.level
        hq = partner.headquarters
        assert meta["headquarters"] == f"{hq.city}, {country_name(hq.country)}"
        assert meta.get("logo") == (f"/{view.logo}" if view.logo else None)
        # the description is what people search: its words are in the index
        words = re.findall(r"\w{4,}", partner.description)[:12]
        content = fragment["content"]
        assert all(w in content for w in words), (slug, [w for w in words if w not in content])


def test_program_and_status_pages_are_indexed_as_such_and_nothing_else(built_site, sample):
    checked, _, d = sample
    rules = checked.rules
    others = {f["url"]: f for f in fragments(built_site) if f["filters"].get("type") != ["partner"]}
    # the page of partner words the directory's search reads (see test_search_browser), unpublished
    words = others.pop(f"/{WORD_PAGE}/")
    assert not words["filters"] and "bank" in words["content"].split()
    assert not (built_site / WORD_PAGE).exists()
    programs = {"/programs/"} | {f"/programs/{p.id}/" for p in [*rules.programs, *rules.retired_programs]}
    levels = {f"/status/{level.id}/" for level in rules.levels}
    assert set(others) == programs | levels
    for url, fragment in others.items():
        assert fragment["filters"] == {"type": ["status" if url.startswith("/status/") else "program"]}
        assert fragment["meta"]["title"]
    assert others["/status/gold/"]["meta"]["title"] == "Gold partners"
    # ranked below partner pages for the same words
    for path in ("programs/index.html", "status/gold/index.html"):
        main_tag = parse((built_site / path).read_bytes()).find("main")
        assert main_tag.attrs.get("data-pagefind-weight") == "0.5"


def test_navigation_footer_breadcrumbs_cards_and_status_workings_stay_out(built_site, sample):
    _, _, d = sample
    chrome = ["Skip to content", "Open data:", "awarded from each partner's evidence", "Find a partner",
              "partners.csv"]
    for fragment in fragments(built_site):
        content = fragment["content"]
        assert not [c for c in chrome if c in content], fragment["url"]
        assert not content.startswith("Directory"), fragment["url"]  # the breadcrumb trail
    for fragment in partner_fragments(built_site).values():
        assert "against the minimums" not in fragment["content"]
        assert "How levels are earned" not in fragment["content"]
    # a program page lists its members as cards; searching a partner's name must not find it
    var = next(f for f in fragments(built_site) if f["url"] == "/programs/value-added-reseller/")
    members = [v.name for v in d.views.values() if "value-added-reseller" in v.member["program"]]
    assert members and not [name for name in members if name in var["content"]]


def test_a_partner_s_facts_are_words_of_their_own_not_joined_to_their_labels(built_site, sample):
    """Pagefind reads `<dt>Headquarters</dt><dd>Bogotá</dd>` as one word, 'headquartersbogotá',
    so a search for the city would miss the partner; the pages keep label and value apart."""
    _, _, d = sample
    for slug, fragment in partner_fragments(built_site).items():
        words = set(re.findall(r"\w+", fragment["content"].casefold()))
        partner = d.partners[slug]
        city = re.findall(r"\w+", partner.headquarters.city.casefold())[0]
        assert city in words, (slug, city)
        assert {"headquarters", "expertise", "languages"} <= words, slug


def test_a_project_reads_as_title_country_and_products_in_search_excerpts(built_site, sample):
    """The completion date is kept out of the index, and with it the comma before it: an
    excerpt reads 'Broker API for a health insurer, Switzerland: ...', not '..., , Switzerland'."""
    _, _, d = sample
    shown = 0
    for slug, fragment in partner_fragments(built_site).items():
        content = fragment["content"]
        assert not re.search(r",\s*,", content), (slug, re.findall(r".{40},\s*,.{20}", content))
        for project in d.partners[slug].projects:
            if f"{project.title}, " in content:
                shown += 1
                assert str(project.completed) not in content, slug
    assert shown > 10


def test_partners_removed_at_review_are_nowhere_in_the_index(built_site, sample):
    checked, awards, _ = sample
    removed = [p for p in checked.partners if awards[p.slug].removed]
    assert len(removed) == 3
    everything = b""
    for path in sorted((built_site / "pagefind").rglob("*.pf_*")):
        everything += gzip.decompress(path.read_bytes())
    everything = everything.decode("utf-8", "replace").casefold()
    for partner in removed:
        assert partner.slug not in everything
        distinctive = partner.name.split()[0].casefold()  # "Alpenglow", "Hollow", "Orchid"
        assert distinctive not in everything, partner.name


def test_only_the_files_the_site_uses_are_published(built_site):
    folder = built_site / "pagefind"
    for name in UNUSED_FILES:
        assert not (folder / name).exists(), name
    for name in ("pagefind.js", "pagefind-worker.js", "wasm.en.pagefind", "pagefind-entry.json"):
        assert (folder / name).is_file(), name
    # a merged index takes Pagefind's scripts and WebAssembly from the main one
    for shard in indexes(built_site)[1:]:
        assert sorted(p.name for p in shard.iterdir() if not p.name.endswith(".pf_meta")) == \
            sorted(["pagefind-entry.json", "fragment", "index", "filter"])
    assert incomplete_files(folder) == []


def test_files_pagefind_left_cut_short_are_found(built_site, tmp_path):
    """What the stage checks before it trusts an index: a compressed file cut short, a script
    that stops mid-way, JSON that does not parse; an index whole is found whole."""
    folder = tmp_path / "pagefind"
    shutil.copytree(built_site / "pagefind", folder)
    shard = indexes(built_site)[1].relative_to(built_site / "pagefind")
    fragment = sorted((folder / shard / "fragment").iterdir())[0]
    chunk = sorted((folder / "index").iterdir())[0]
    cut = [fragment, chunk, folder / "pagefind.js", folder / PARTNER_INDEX]
    for path in cut:
        data = path.read_bytes()
        path.write_bytes(data[:len(data) * 2 // 3])
    assert sorted(incomplete_files(folder)) == sorted(p.relative_to(folder).as_posix() for p in cut)
    (folder / shard / "pagefind-entry.json").unlink()
    assert incomplete_files(folder) == [f"{shard.as_posix()}/pagefind-entry.json"]


# ---------------------------------------------------------------------------------------------- stable bytes


def test_the_pages_to_index_are_the_same_from_the_build_s_list_as_from_the_folders(built_site):
    """The pipeline hands the index the files it wrote, in whatever order, rather than have it
    walk 10,000 folders; both give the same indexes of the same pages."""
    files = sorted(p.relative_to(built_site).as_posix() for p in built_site.rglob("*") if p.is_file())
    walked = page_groups(built_site)
    assert page_groups(built_site, files[::-1]) == walked
    assert sum(map(len, walked)) == sum(1 for f in files if f.endswith(".html"))
    assert all(p.startswith("partners/") for group in walked[1:] for p in group) and len(walked) == 2
    assert "404.html" in walked[0] and not [p for p in walked[0] if p.startswith("pagefind/")]


@pytest.mark.parametrize(("partners", "sizes"), [
    (40, [40]),  # the sample: one index
    (250, [83, 83, 84]),  # groups of at most 100 while ten are enough
    (1000, [100] * 10),  # an edit re-indexes 100 pages, not 500
    (3000, [300] * 10),  # ten groups, growing to 500
    (9419, [495, 496, 496, 495, 496, 496, 496] + [495, 496, 496, 496] * 3),  # at most 500: as before
])
def test_partner_pages_are_split_into_groups_small_enough_to_index_again_after_an_edit(partners, sizes):
    """An edit makes its partner's whole index again, so a directory of 1,000 gets ten indexes of
    100 pages rather than two of 500; no index passes 500 pages, where a broad search slows."""
    files = ["index.html", *(f"partners/p{n:05}/index.html" for n in range(partners))]
    groups = page_groups(Path("unused"), files)
    assert groups[0] == ["index.html"]
    assert [len(group) for group in groups[1:]] == sizes
    assert [p for group in groups[1:] for p in group] == sorted(files[1:])  # in order, each once


def test_the_same_pages_give_the_same_index_bytes(built_site, tmp_path):
    """Pagefind writes filters in hash-map order; the stage sorts them (issue: same records → same site)."""
    trees = []
    for name in ("a", "b", "c"):
        copy = tmp_path / name
        shutil.copytree(built_site, copy, ignore=shutil.ignore_patterns("pagefind"))
        build_index(copy)
        trees.append(tree(copy / "pagefind"))
    assert trees[0] == trees[1] == trees[2]
    assert trees[0] == tree(built_site / "pagefind")
    # putting an already stable index in order again changes nothing
    stable_order(tmp_path / "a" / "pagefind")
    assert tree(tmp_path / "a" / "pagefind") == trees[0]


def test_another_process_folder_and_time_zone_give_the_same_index(built_site, tmp_path):
    out = tmp_path / "site"
    env = {**os.environ, "TZ": "Pacific/Auckland", "PYTHONHASHSEED": "7", "LC_ALL": "C.UTF-8"}
    run = subprocess.run([sys.executable, str(ROOT / "build.py"), "build", "--out", str(out),
                          "--as-of", "2026-11-15"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert tree(out / "pagefind") == tree(built_site / "pagefind")


def test_rewritten_index_files_keep_pagefind_s_encoding(built_site):
    main, *shards = indexes(built_site)
    assert [name for name, _ in index_meta(main)[3]] == ["type"]  # program and status pages
    assert shards
    for folder in shards:
        meta = index_meta(folder)
        names = [name for name, _ in meta[3]]
        assert names == sorted(names) == sorted(["type", "slug", *[f.key for f in FACETS]])
        for name, chunk in meta[3]:
            index = read_index_file(folder / "filter" / f"{chunk}.pf_filter")
            assert index[0] == name
            values = [v for v, _ in index[1]]
            assert values == sorted(values)


def test_partners_sort_by_status_and_by_name_in_pagefind(built_site, sample):
    """Pagefind's sorts list page numbers; a page number is a place in the metadata's page list."""
    _, _, d = sample
    for folder in indexes(built_site)[1:]:
        meta = index_meta(folder)
        slug_of = {}
        for number, (fragment, _) in enumerate(meta[1]):
            page = read_index_file(folder / "fragment" / f"{fragment}.pf_fragment")
            slug_of[number] = page["meta"].get("slug")
        sorts = dict(meta[4])
        assert sorted(sorts) == ["name", "status"]
        by_name = [slug_of[n] for n in sorts["name"]]
        assert by_name == sorted(slug_of.values(), key=lambda s: d.partners[s].name.lower())
        ranks = [d.views[slug_of[n]].level_rank for n in sorts["status"]]
        assert sorted(slug_of[n] for n in sorts["status"]) == sorted(slug_of.values())
        assert ranks == sorted(ranks)  # stored ascending; search(q, {sort: {status: "desc"}}) reverses


# ---------------------------------------------------------------------------------------------- the build


def test_the_summary_reports_indexing_time_and_index_size(tmp_path, capsys, sample):
    checked, _, d = sample
    out = tmp_path / "site"
    assert main(["build", "--out", str(out), "--as-of", "2026-11-15"]) == 0
    text = capsys.readouterr().out
    found = re.search(r"Search: (\d+) pages indexed, (\d+) files, (\d+) KiB\.", text)
    assert found, text
    pages, files, kib = map(int, found.groups())
    assert pages == len(d.partners) + overview_pages(checked.rules)
    written = [p for p in (out / "pagefind").rglob("*") if p.is_file()]
    assert files == len(written)
    assert kib == round(sum(p.stat().st_size for p in written) / 1024)
    assert re.search(r"Time: .*\bindex \d+\.\d\d s\b", text), text


def test_no_search_builds_the_site_without_index_box_or_wasm(tmp_path, small_content):
    paths, result = small_build(tmp_path, small_content, search=False)
    site = paths.out
    assert not (site / "pagefind").exists()
    home = (site / "index.html").read_text()
    assert 'id="search"' not in home and "search.js" not in home
    assert "wasm-unsafe-eval" not in home
    partner = (site / "partners/alpha-var/index.html").read_text()
    assert "data-pagefind-filter" not in partner and "data-pagefind-meta" not in partner
    assert result.index is None


def test_with_search_the_directory_gets_the_box_and_the_csp_allows_webassembly_only(tmp_path, small_content):
    paths, _ = small_build(tmp_path, small_content)
    doc = parse((paths.out / "index.html").read_bytes())
    form = doc.by_id("search")
    assert form.tag == "form" and form.attrs.get("role") == "search" and "hidden" in form.attrs
    scripts = [s.attrs["src"] for s in doc.find_all("script")]
    assert [s.split("?")[0] for s in scripts] == ["/static/search.js", "/static/directory.js"]
    csp = next(m.attrs["content"] for m in doc.find_all("meta") if m.attrs.get("http-equiv"))
    assert "script-src 'self' 'wasm-unsafe-eval';" in csp
    assert "unsafe-inline" not in csp and "'unsafe-eval'" not in csp
    # the search page's only script from outside static/ is Pagefind's, imported from the site itself
    assert "pagefind/pagefind.js" in (paths.out / "static/search.js").read_text()
    assert (paths.out / "pagefind/pagefind.js").is_file()


# ---------------------------------------------------------------------------------------------- failures


def run_build(out: Path, content: Path, monkeypatch, capsys, binary: str | None) -> tuple[int, str]:
    if binary is not None:
        monkeypatch.setenv("PAGEFIND_BINARY_PATH", binary)
    code = main(["build", "--out", str(out), "--content", str(content), "--as-of", "2026-11-15"])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("kind", ["missing", "crashing"])
def test_a_missing_or_crashing_binary_is_one_clear_error_and_the_site_stays(tmp_path, small_content,
                                                                             monkeypatch, capsys, kind):
    paths, _ = small_build(tmp_path, small_content)
    before = tree(paths.out)
    if kind == "missing":
        binary, words = str(tmp_path / "no-such-pagefind"), "does not exist or cannot be run"
    else:
        binary, words = str(tmp_path / "pagefind-that-dies"), "stopped while indexing (exit code 3)"
        Path(binary).write_text("#!/bin/sh\nexit 3\n")
        Path(binary).chmod(0o755)
    code, err = run_build(paths.out, small_content, monkeypatch, capsys, binary)
    assert code == 1
    assert "Traceback" not in err
    problems = [line for line in err.splitlines() if "Pagefind" in line]
    assert len(problems) == 1 and words in problems[0] and "--no-search" in problems[0], err
    assert "was not changed" in err
    assert tree(paths.out) == before
    assert not list(paths.out.parent.glob(f".{paths.out.name}.build-*"))


def test_an_empty_pagefind_binary_path_is_named(tmp_path, small_content, monkeypatch, capsys):
    code, err = run_build(tmp_path / "site", small_content, monkeypatch, capsys, "")
    assert code == 1 and "Traceback" not in err
    assert "PAGEFIND_BINARY_PATH is set but empty" in err


def test_without_the_pagefind_bin_package_the_error_says_how_to_install_it(tmp_path, small_content,
                                                                            monkeypatch, capsys):
    import pagefind_bin

    def absent():
        raise FileNotFoundError("no binary in the package")

    monkeypatch.delenv("PAGEFIND_BINARY_PATH", raising=False)
    monkeypatch.setattr(pagefind_bin, "get_executable", absent)
    monkeypatch.setattr(shutil, "which", lambda *a, **k: None)
    code, err = run_build(tmp_path / "site", small_content, monkeypatch, capsys, None)
    assert code == 1 and "Traceback" not in err
    assert "pip install 'pagefind[bin]'" in err and "--no-search" in err
    assert not (tmp_path / "site").exists()


def _pagefind_children() -> list[int]:
    """Pagefind processes this test process started that are still running."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid, rest = stat.read_text().split(" (", 1)
            name, fields = rest.rsplit(") ", 1)
        except (OSError, ValueError):
            continue
        state, ppid = fields.split()[:2]
        if int(ppid) == os.getpid() and name.startswith("pagefind") and state != "Z":
            found.append(int(pid))
    return found


def _saved_preview(tmp_path):
    """serve's preview of two partners, then a save to alpha that adds a word no page had."""
    content = write_records(tmp_path / "content", {"alpha": record("Alpha Systems"),
                                                   "beta": record("Beta Works")})
    settle(content)
    paths = project_paths(tmp_path, content)
    preview = Preview(paths, AS_OF, 8000, search=True)
    first = preview.build()  # (its index, too, is made behind it)
    assert first.ok and first.search_later.run()[1] == []
    assert "quetzalcoatlite" not in json.dumps(fragments(paths.out))
    source = content / "alpha.yaml"
    source.write_text(source.read_text().replace("builds integrations.",
                                                 "builds integrations for quetzalcoatlite miners."))
    settle(source, offset=1)
    before = tree(paths.out / "pagefind")
    outcome = preview.build([str(source)])
    assert outcome.ok and outcome.search_later is not None
    return paths, preview, outcome, before


def test_serve_shows_a_save_at_once_and_indexes_it_behind_the_preview(tmp_path):
    paths, preview, outcome, before = _saved_preview(tmp_path)
    assert "quetzalcoatlite" in (paths.out / "partners" / "alpha" / "index.html").read_text()
    # Until the new index is made, the site keeps its last one whole, and the build record
    # does not vouch for the site: a build now would index it.
    assert tree(paths.out / "pagefind") == before
    wait_persisted()  # (the record is written behind the preview)
    assert cache.load_last(paths, paths.out)["search_pending"]

    report, problems = outcome.search_later.run()
    assert problems == [] and report.pages == 2 + overview_pages(check(paths, AS_OF).rules)
    assert "quetzalcoatlite" in partner_fragments(paths.out)["alpha"]["content"]
    # The record knows the folder still (indexing renamed folders in it) and vouches for it.
    again = build_site(paths, AS_OF, search=True, base_url=preview.base_url)
    assert again.ok and again.unchanged
    cold = build_site(project_paths(tmp_path / "cold", paths.content), AS_OF, search=True,
                      base_url=preview.base_url)
    assert cold.ok and tree(cold.out) == tree(paths.out), "the preview is the site a build from nothing makes"


@pytest.mark.parametrize("when", ["before", "while indexing"])
def test_a_newer_save_stops_the_index_behind_the_preview_and_the_last_one_stays(tmp_path, monkeypatch,
                                                                               when):
    paths, preview, outcome, before = _saved_preview(tmp_path)
    cancel = threading.Event()
    jobs_given, jobs_done = [], []
    if when == "before":
        cancel.set()
    else:
        ran = index_stage._index_one

        async def index_one(jobs, first=None, after=None, stop=None):  # stopped once Pagefind runs
            def started(folder, output):
                if first is not None:
                    first(folder, output)
                if _pagefind_children():
                    cancel.set()  # (seen while Pagefind answers this job's requests)

            def finished(folder, output):
                jobs_done.append(output)
                if after is not None:
                    after(folder, output)

            jobs_given.extend(jobs)
            return await ran(jobs, started, finished, stop)

        monkeypatch.setattr(index_stage, "_index_one", index_one)
    with pytest.raises(IndexCancelled):
        outcome.search_later.run(cancel)
    monkeypatch.undo()
    assert jobs_done == [] and (jobs_given or when == "before"), "stopped while Pagefind worked"
    assert _pagefind_children() == [], "Pagefind is stopped, not left running"
    assert tree(paths.out / "pagefind") == before
    assert [p.name for p in paths.out.iterdir() if p.name.startswith(".pagefind")] == []
    record = cache.load_last(paths, paths.out)
    assert record is not None and record["search_pending"], "the next save's rebuild is still in place"

    # After a save with a problem, serve indexes the last good pages again.
    report, problems = outcome.search_later.run()
    assert problems == [] and "quetzalcoatlite" in partner_fragments(paths.out)["alpha"]["content"]
    assert not cache.load_last(paths, paths.out).get("search_pending")


NAMES = ["Alder", "Birch", "Cedar", "Dogwood", "Elm", "Fir", "Ginkgo", "Hazel"]


def test_serve_indexes_again_only_what_a_save_changed_and_gets_what_a_build_from_nothing_makes(
        tmp_path, monkeypatch):
    """After a save, serve's index takes the partner indexes whose pages did not change (and the
    main index, when its pages and the partner words did not) as Pagefind wrote them last time:
    at 10,000 partners that is 3 s instead of 30."""
    monkeypatch.setattr(index_stage, "PARTNERS_PER_INDEX", 2)  # 8 partners, 4 partner indexes
    content = write_records(tmp_path / "content", {name.lower(): record(f"{name} Systems") for name in NAMES})
    settle(content)
    paths = project_paths(tmp_path, content)
    preview = Preview(paths, AS_OF, 8000, search=True)
    first = preview.build()  # (its index, too, is made behind it)
    assert first.ok and first.search_later.run()[1] == []
    indexed: list[list[str]] = []
    ran = index_stage._index_one

    async def index_one(jobs, *args):
        indexed[-1].extend(output.relative_to(paths.out).as_posix() for _, output in jobs
                           if output.is_relative_to(paths.out))  # (not the builds from nothing)
        return await ran(jobs, *args)

    monkeypatch.setattr(index_stage, "_index_one", index_one)
    placed: list[list[str]] = []  # the indexes whose missing words were placed (`share_vocabulary`)
    add_words = index_stage._add_words

    def placing(index, *args):
        if index.is_relative_to(paths.out):  # (not the builds from nothing)
            placed[-1].append(index.relative_to(paths.out).as_posix())
        return add_words(index, *args)

    monkeypatch.setattr(index_stage, "_add_words", placing)
    steps = [
        ("cedar", record("Cedar Systems", description="Cedar Systems builds integrations, integrations.")),
        ("elm", record("Elm Systems", description="Elm Systems builds quetzalcoatlite integrations.")),
        ("hazel", record("Hazel Systems", description="Hazel Systems builds integrations.",
                         countries_served=["DE", "AT"])),
        ("birch", record("Birch Systems", countries_served=["DE", "AT"])),
        ("birch", record("Birch Systems", countries_served=["DE", "AT"],
                         headquarters={"city": "Berlin", "country": "AT"})),
        ("aspen", record("Aspen Systems")),  # a new partner: every group's bounds move
        ("aspen", None),
        ("cedar", record("Cedar Systems", description="Cedar Systems makes quetzalcoatlite integrations.")),
        # a word leaves the pages of cedar's index, and stays on elm's: its list of partners changes
        ("cedar", record("Cedar Systems", description="Cedar Systems makes integrations.")),
    ]
    for step, (slug, data) in enumerate(steps, 1):
        source = content / f"{slug}.yaml"
        if data is None:
            source.unlink()
        else:
            write_records(content, {slug: data})
            settle(source, offset=step)
        indexed.append([])
        placed.append([])
        outcome = preview.build([str(source)])
        assert outcome.ok and outcome.search_later is not None
        report, problems = outcome.search_later.run()
        assert problems == []
        cold = build_site(project_paths(tmp_path / f"cold-{step}", content), AS_OF, search=True,
                          base_url=preview.base_url)
        assert cold.ok, [p.text() for p in cold.problems]
        assert tree(paths.out / "pagefind") == tree(cold.out / "pagefind"), step
    words = [".pagefind.pages/words/plain-out", ".pagefind.pages/words/endings-out", ".pagefind.new"]
    assert indexed[0] == [".pagefind.new/partners/1"], "cedar's group alone: the same words, the same main"
    assert indexed[1] == [".pagefind.new/partners/2", *words], "elm's group, and a new word: the main index"
    assert indexed[2] == [".pagefind.new/partners/3", *words], "a country served: its name is a new word"
    # Listing pages (Austria's, the directory's) change, but not the pages the main index
    # holds (program and status pages), nor any word.
    assert indexed[3] == [".pagefind.new/partners/0"], "a country served that another partner serves"
    # A program page's table of members changes, but Pagefind leaves the table out (the pages'
    # search digests: `SearchDigests`), and no word changes: the main index stays
    assert indexed[4] == [".pagefind.new/partners/0"], "headquarters moved"
    assert len(indexed[5]) == 5 + 3, "a fifth group: every group's bounds moved"
    assert len(indexed[6]) == 4 + 3
    assert indexed[7] == [".pagefind.new/partners/1", *words], "a new word"
    assert indexed[8] == [".pagefind.new/partners/1"], "a word gone from one index, still in another"
    # The words of all indexes unchanged: every other index is written as it was last time
    assert placed[0] == [".pagefind.new/partners/1"]
    assert len(placed[1]) == 5, "a new word: every index lacks it"


def _built_in_groups(tmp_path: Path, monkeypatch, per_index: int) -> tuple[Path, Paths]:
    """The eight partners of NAMES built with search, in partner indexes of `per_index` pages
    (as 10,000 are in indexes of 500): their records' folder and the project's paths."""
    monkeypatch.setattr(index_stage, "PARTNERS_PER_INDEX", per_index)
    content = write_records(tmp_path / "content", {name.lower(): record(f"{name} Systems") for name in NAMES})
    settle(content)
    paths = project_paths(tmp_path, content)
    assert build_site(paths, AS_OF, search=True, remember=False).ok
    return content, paths


def _groups_indexed(monkeypatch) -> list[str]:
    """The groups Pagefind indexes from now on ("partners/1", ...): those not taken as kept."""
    indexed: list[str] = []
    ran = index_stage._index_one

    async def index_one(jobs, *args):
        indexed.extend("/".join(output.parts[-2:]) for _, output in jobs)
        return await ran(jobs, *args)

    monkeypatch.setattr(index_stage, "_index_one", index_one)
    return indexed


def test_a_new_process_takes_the_kept_indexes_from_the_cache_and_ignores_a_damaged_one(tmp_path, monkeypatch):
    """CI restores .cache/ and builds after each commit, in a new process and with no site: the
    partner indexes whose pages did not change are taken from the cache too."""
    content, paths = _built_in_groups(tmp_path, monkeypatch, 2)
    indexed = _groups_indexed(monkeypatch)
    edits = ["builds integrations, integrations.", "builds good integrations."]
    for step, description in enumerate(edits, 1):
        monkeypatch.setattr(index_stage, "_KEPT", {})  # a new process
        shutil.rmtree(paths.out)
        if step == 2:
            [kept] = paths.cache.glob("search/*/kept.marshal")
            kept.write_bytes(kept.read_bytes()[:1000])
        write_records(content, {"cedar": record("Cedar Systems", description=f"Cedar Systems {description}")})
        settle(content / "cedar.yaml", offset=step)
        indexed.clear()
        assert build_site(paths, AS_OF, search=True, remember=False).ok
        if step == 1:
            assert indexed == ["partners/1"], "cedar's group alone"
        else:
            assert len(indexed) == 4 + 3, "a damaged file in the cache: everything, from the pages"
        cold = build_site(project_paths(tmp_path / f"cold-{step}", content), AS_OF, search=True)
        assert cold.ok and tree(paths.out / "pagefind") == tree(cold.out / "pagefind"), step


def test_the_kept_indexes_outlive_pagefind_installed_again(tmp_path, monkeypatch):
    """CI installs Pagefind afresh for every run: the same binary, with a new modification time
    and inode. The indexes kept in the restored .cache/ are still taken: only the edited
    partner's group is indexed again."""
    binary = tmp_path / "bin" / "pagefind"
    binary.parent.mkdir()
    shutil.copy2(index_stage.pagefind_binary(), binary)
    monkeypatch.setenv("PAGEFIND_BINARY_PATH", str(binary))
    content, paths = _built_in_groups(tmp_path, monkeypatch, 2)
    indexed = _groups_indexed(monkeypatch)
    data = binary.read_bytes()
    binary.unlink()
    binary.write_bytes(data)  # (installed again: the same bytes)
    binary.chmod(0o755)
    monkeypatch.setattr(index_stage, "_KEPT", {})  # a new process
    shutil.rmtree(paths.out)
    edited = record("Cedar Systems", description="Cedar Systems builds integrations, integrations.")
    write_records(content, {"cedar": edited})
    settle(content / "cedar.yaml", offset=1)
    assert build_site(paths, AS_OF, search=True, remember=False).ok
    assert indexed == ["partners/1"], "cedar's group alone"
    cold = build_site(project_paths(tmp_path / "cold", content), AS_OF, search=True)
    assert cold.ok and tree(paths.out / "pagefind") == tree(cold.out / "pagefind")


def test_a_new_day_indexes_again_only_what_pagefind_reads_differently(tmp_path, monkeypatch):
    """Every page shows the as-of date, so the first build of a day changes every page's bytes,
    but only where Pagefind is told to ignore them: the kept indexes are taken as they are (a
    new process, CI's, with the site deleted). A partner whose status changed that day (its
    engineers' certifications expired) has its group indexed again; the index is the one a
    build from nothing makes that day."""
    monkeypatch.setattr(index_stage, "PARTNERS_PER_INDEX", 2)
    day = AS_OF
    records = {name.lower(): record(f"{name} Systems") for name in NAMES}
    expiring = [{**held, "expires": day + dt.timedelta(days=5 if i < 2 else 900)}
                for i, held in enumerate(certifications(4, "FI"))]
    records["fir"] = record("Fir Systems", certifications=expiring, projects=projects(3))
    content = write_records(tmp_path / "content", records)
    settle(content)
    paths = project_paths(tmp_path, content)
    assert build_site(paths, day, search=True, remember=False).ok
    indexed = _groups_indexed(monkeypatch)
    # (a week later, fir's group, once its status fell; and the main index, whose status pages
    # list it under its new level)
    for days, expected in ((1, []), (7, ["partners/2"])):
        indexed.clear()
        monkeypatch.setattr(index_stage, "_KEPT", {})  # a new process
        shutil.rmtree(paths.out)
        assert build_site(paths, day + dt.timedelta(days=days), search=True, remember=False).ok
        assert [group for group in indexed if group.startswith("partners/")] == expected, (days, indexed)
        assert days > 1 or indexed == []
        cold = build_site(project_paths(tmp_path / f"cold-{days}", content), day + dt.timedelta(days=days),
                          search=True)
        assert cold.ok and tree(paths.out / "pagefind") == tree(cold.out / "pagefind")


@pytest.mark.parametrize(("page", "searched"), [
    (b"<p>a <span data-pagefind-ignore>as of <time>2026-11-15</time></span> b</p>", b"<p>a  b</p>"),
    (b'<div data-pagefind-ignore="all"><div>x</div><div>y</div></div><div>z</div>', b"<div>z</div>"),
    (b"<p>mentions data-pagefind-ignore in text</p>", None),
    (b'<img alt="a data-pagefind-ignore b"><p>c</p>', None),
    (b"<p data-pagefind-ignore>a <pre>b</pre></p><p>c</p>", b"<p>c</p>"),
    # Pagefind reads filters, metadata and sort keys even inside ignored elements: kept
    (b'<div hidden data-pagefind-ignore><span data-pagefind-filter="level:gold"></span></div>', None),
    (b'<div data-pagefind-ignore><p data-pagefind-meta="date">2026</p></div><p data-pagefind-ignore>x</p>',
     b'<div data-pagefind-ignore><p data-pagefind-meta="date">2026</p></div>'),
    (b'<p data-pagefind-ignore><img src="logo.svg" alt=""></p>', None),
])
def test_what_pagefind_reads_of_a_page_leaves_out_only_what_it_ignores(page, searched):
    """Two pages with the same search digest give Pagefind the same page to index: only an
    element marked data-pagefind-ignore is left out, whole, with whatever it nests (a mention
    of the attribute in text or in an attribute's value is content). (None: nothing left out.)"""
    assert index_stage.searched(page) == (page if searched is None else searched)


@pytest.mark.parametrize("page", [
    b"<div data-pagefind-ignore><div>never closed</div>",
    b"<br data-pagefind-ignore><p>a</p>",
])
def test_a_page_whose_ignored_parts_are_uncertain_is_digested_whole(page):
    """An element whose end cannot be found cannot be left out: the digest is then the whole
    page's."""
    assert index_stage.searched(page) is None
    assert index_stage.search_digest(page) != index_stage.search_digest(page + b" ")


def test_after_an_edit_only_the_edited_index_s_words_are_kept_anew(tmp_path, monkeypatch):
    """The words of each kept partner index are saved beside it once, when Pagefind writes it:
    a new process after an edit writes those of the edited partner's index alone (rewriting all
    of them took 0.1-0.2 s of every index at 10,000 partners), and still makes what a build
    from nothing makes."""
    content, paths = _built_in_groups(tmp_path, monkeypatch, 2)  # 8 partners, 4 partner indexes

    def words_files() -> dict[str, tuple[int, int]]:
        return {path.name: (path.stat().st_ino, path.stat().st_mtime_ns)
                for path in paths.cache.glob(f"search/*/*{index_stage.READ_SUFFIX}")}

    before = words_files()
    assert len(before) == 4
    monkeypatch.setattr(index_stage, "_KEPT", {})  # a new process
    edited = record("Cedar Systems", description="Cedar Systems builds quetzalcoatlite.")
    write_records(content, {"cedar": edited})
    settle(content / "cedar.yaml", offset=1)
    assert build_site(paths, AS_OF, search=True, remember=False).ok
    after = words_files()
    assert len(after) == 4
    kept = {name for name in after if before.get(name) == after[name]}
    assert len(kept) == 3, "the three indexes without cedar are kept as they were"
    assert len(set(after) - set(before)) == 1, "cedar's index is new; the one it replaces is gone"
    cold = build_site(project_paths(tmp_path / "cold", content), AS_OF, search=True)
    assert cold.ok and tree(paths.out / "pagefind") == tree(cold.out / "pagefind")


def test_after_an_edit_the_files_the_stage_writes_again_the_same_are_links_to_the_last_index_s(
        tmp_path, monkeypatch):
    """After an edit, the index stage writes each index's word chunks with every other index's
    words, its entry and the word lists again; those of the indexes Pagefind did not make again
    are the same bytes as before, and are links to the last index's files rather than new files
    (which took 0.3 s of every edit at 10,000 partners on this disk). The index is still the one
    a build from nothing makes."""
    content, paths = _built_in_groups(tmp_path, monkeypatch, 2)  # 8 partners, 4 partner indexes
    held = tmp_path / "held"  # the last index's files, kept alive (their inodes not reused)
    last = paths.out / "pagefind"
    for path in last.rglob("*"):
        if path.is_file():
            (held / path.relative_to(last)).parent.mkdir(parents=True, exist_ok=True)
            os.link(path, held / path.relative_to(last))
    monkeypatch.setattr(index_stage, "_KEPT", {})  # a new process
    write_records(content, {"cedar": record("Cedar Systems", description="Cedar Systems builds systems.")})
    settle(content / "cedar.yaml", offset=1)
    assert build_site(paths, AS_OF, search=True, remember=False).ok
    now = paths.out / "pagefind"
    written = [path.relative_to(now) for path in [
        *now.glob("words/*.json"),
        *(file for n in (0, 2, 3) for file in (now / "partners" / str(n)).glob("index/*.pf_index")),
        *(file for n in (0, 2, 3) for file in (now / "partners" / str(n)).glob("pagefind*"))]]
    assert len(written) >= 10  # a word list, and a chunk, index file and entry of each other index
    assert [str(p) for p in written if not (held / p).exists()] == [], "the same files as last time"
    assert [str(p) for p in written if not os.path.samefile(now / p, held / p)] == [], "linked, not written"
    cedar = [p for p in (now / "partners" / "1" / "index").glob("*.pf_index")]
    assert any(not (held / p.relative_to(now)).exists() for p in cedar), "cedar's index is Pagefind's new one"
    cold = build_site(project_paths(tmp_path / "cold", content), AS_OF, search=True)
    assert cold.ok and tree(paths.out / "pagefind") == tree(cold.out / "pagefind")


def _fragments(index: Path) -> dict[str, int]:
    return {path.name: path.stat().st_ino for path in index.glob("fragment/*.pf_fragment")}


def test_after_an_edit_pagefind_writes_only_the_edited_pages_fragments(tmp_path, monkeypatch):
    """The index of the edited partner's group is made again, but Pagefind writes no fragment
    file that is already there: it is given the last index's fragments of the group's pages that
    did not change (writing 500 took half its time on one group at 10,000 partners). The
    fragments of pages that changed are not given, and those no page names are dropped, so the
    index is the one a build from nothing makes."""
    content, paths = _built_in_groups(tmp_path, monkeypatch, 4)  # 8 partners, 2 partner indexes
    ids = json.loads((paths.out / "pagefind" / "partner-index.json").read_text())["partners"]
    group = paths.out / "pagefind" / "partners" / "0"
    before = _fragments(group)
    assert sorted(ids[Path(name).stem] for name in before) == ["alder", "birch", "cedar", "dogwood"]
    monkeypatch.setattr(index_stage, "_KEPT", {})  # a new process, with the last index's hashes
    write_records(content, {"cedar": record("Cedar Systems", description="Cedar Systems builds systems.")})
    settle(content / "cedar.yaml", offset=1)
    assert build_site(paths, AS_OF, search=True, remember=False).ok
    after = _fragments(group)
    ids = json.loads((paths.out / "pagefind" / "partner-index.json").read_text())["partners"]
    kept = sorted(ids[Path(name).stem] for name in after if before.get(name) == after[name])
    assert kept == ["alder", "birch", "dogwood"], "the last index's files: Pagefind did not write them"
    assert len(after) == 4, "cedar's old fragment is gone"
    cold = build_site(project_paths(tmp_path / "cold", content), AS_OF, search=True)
    assert cold.ok and tree(paths.out / "pagefind") == tree(cold.out / "pagefind")


def test_when_a_fragment_s_name_was_lengthened_the_group_is_indexed_again_with_nothing_given(
        tmp_path, monkeypatch):
    """Pagefind lengthens a fragment's name when another fragment's shares its first characters;
    a file given from the last index might then stand for another page. Seeing such names, the
    stage indexes the group again without giving it any file."""
    content, paths = _built_in_groups(tmp_path, monkeypatch, 4)
    given: list[int] = []
    prefill = index_stage._prefill
    monkeypatch.setattr(index_stage, "_prefill", lambda output, kept, fragments: (
        given.append(len(fragments)), prefill(output, kept, fragments)))
    monkeypatch.setattr(index_stage, "FRAGMENT_NAME", 0)  # every name "shares" its first 0 characters
    monkeypatch.setattr(index_stage, "_KEPT", {})
    write_records(content, {"cedar": record("Cedar Systems", description="Cedar Systems builds systems.")})
    settle(content / "cedar.yaml", offset=1)
    assert build_site(paths, AS_OF, search=True, remember=False).ok
    assert given == [3], "given once, then indexed again with nothing given"
    cold = build_site(project_paths(tmp_path / "cold", content), AS_OF, search=True)
    assert cold.ok and tree(paths.out / "pagefind") == tree(cold.out / "pagefind")


def test_only_a_given_fragment_that_shares_its_name_s_start_sends_the_group_to_be_indexed_again(tmp_path):
    """Two fragments Pagefind wrote itself may share the start of their names (it lengthened
    one); only a given fragment among such names might stand for another page. Given fragments
    no page names are dropped."""
    index = tmp_path / "partners" / "0"
    (index / "fragment").mkdir(parents=True)
    pages = [["en_1234567a", 10], ["en_1234567", 12], ["en_7654321", 5]]
    meta = index_stage.SIGNATURE + cbor2.dumps(["1.5.0", pages, [], [], []])
    (index / "pagefind.en_abc.pf_meta").write_bytes(gzip.compress(meta))
    (index / "pagefind-entry.json").write_text(json.dumps(
        {"version": "1.5.0", "languages": {"en": {"hash": "en_abc", "wasm": "en", "page_count": 3}}}))
    for name in ("en_1234567a", "en_1234567", "en_7654321", "en_0000000"):
        (index / "fragment" / f"{name}.pf_fragment").write_bytes(b"")
    assert index_stage._drop_unreferenced(index, ["en_7654321", "en_0000000"])
    left = sorted(path.stem for path in (index / "fragment").iterdir())
    assert left == ["en_1234567", "en_1234567a", "en_7654321"]
    assert not index_stage._drop_unreferenced(index, ["en_1234567"])
    assert not index_stage._drop_unreferenced(index, ["en_1234567a"])


def test_after_an_edit_the_trial_pages_read_only_the_new_words(tmp_path, monkeypatch):
    """A word reads the same wherever it is written, so after an edit the trial pages hold only
    the words the last index lacked, not all of them (20,000 at 10,000 partners: 0.8 s), and
    the index is still the one a build from nothing makes, a misread new word included
    ("chinese" is filed as "chines", which Pagefind reads alone as "chine")."""
    content, paths = _built_in_groups(tmp_path, monkeypatch, 2)
    trial_words: list[list[str]] = []
    word_page = index_stage._word_page

    def writing(folder, tokens):
        if folder.name == "plain":
            trial_words.append(list(tokens))
        return word_page(folder, tokens)

    monkeypatch.setattr(index_stage, "_word_page", writing)
    edits = ["Cedar Systems builds Chinese integrations.", "Cedar Systems builds Chinese quetzalcoatlite."]
    for step, description in enumerate(edits, 1):
        monkeypatch.setattr(index_stage, "_KEPT", {})  # a new process
        write_records(content, {"cedar": record("Cedar Systems", description=description)})
        settle(content / "cedar.yaml", offset=step)
        trial_words.clear()
        assert build_site(paths, AS_OF, search=True, remember=False).ok
        cold = build_site(project_paths(tmp_path / f"cold-{step}", content), AS_OF, search=True)
        assert cold.ok and tree(paths.out / "pagefind") == tree(cold.out / "pagefind"), step
        # (a cold build's trial page holds every word: the edited build's is the first one)
        assert trial_words[0] == (["chines"] if step == 1 else ["quetzalcoatlit"]), step


def test_an_edit_to_listed_data_with_search_stages_only_the_files_that_change(tmp_path, monkeypatch):
    """A new process's ordinary rebuild with search stages only the files that change, as
    without search: the index reads the other pages from the site, and its folder replaces the
    site's whole once made (a failed index changes nothing); the open data files are patched
    around the edited partner, not written again (0.4 s at 10,000 partners)."""
    from partnerdir import pipeline

    content = write_records(tmp_path / "content", {name.lower(): record(f"{name} Systems") for name in NAMES})
    settle(content)
    paths = project_paths(tmp_path, content)
    assert build_site(paths, AS_OF, search=True, remember=False).ok

    def whole_site_staged(*args, **kwargs):
        raise AssertionError("the whole site was staged")

    def full_disk(*args):
        raise index_stage.SearchIndexError("the disk is full")

    patched: list[int] = []
    patch = pipeline._patch_open_data
    monkeypatch.setattr(pipeline, "_patch_open_data", lambda *args: (patched.append(1), patch(*args))[1])
    for step, countries in enumerate([["DE", "AT"], ["DE", "AT", "CH"]], 1):
        write_records(content, {"elm": record("Elm Systems", countries_served=countries)})
        settle(content / "elm.yaml", offset=step)
        before = tree(paths.out)
        with monkeypatch.context() as m:
            m.setattr(pipeline, "staged", whole_site_staged)
            m.setattr(index_stage, "_KEPT", {})  # a new process
            cache._MEMOS.clear()
            if step == 2:  # a failed index: nothing is moved in
                with monkeypatch.context() as failing:
                    failing.setattr(index_stage, "share_vocabulary", full_disk)
                    failed = build_site(paths, AS_OF, search=True, remember=False)
                assert not failed.ok and "the disk is full" in failed.problems[0].message
                assert tree(paths.out) == before
                assert not [p.name for p in paths.out.parent.iterdir() if p.name.startswith(".site.build-")]
                cache._MEMOS.clear()
            patched.clear()
            result = build_site(paths, AS_OF, search=True, remember=False)
        assert result.ok and 3 < result.written < 60, result.written
        assert patched == [1], "partners.json and partners.csv patched around elm, as without search"
        cold = build_site(project_paths(tmp_path / f"cold-{step}", content), AS_OF, search=True)
        assert cold.ok and tree(paths.out) == tree(cold.out), step


def test_the_index_builds_from_a_thread_that_runs_an_event_loop(tmp_path, small_content):
    paths, _ = small_build(tmp_path, small_content)
    shutil.rmtree(paths.out / "pagefind")

    async def inside_a_server():
        return build_index(paths.out)

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # a thread of its own: pytest may run one
        report = pool.submit(asyncio.run, inside_a_server()).result()
    assert report.pages == 4 + overview_pages(check(paths, AS_OF).rules)
    assert sorted(partner_fragments(paths.out)) == ["alpha-var", "beta-integration", "delta-new",
                                                    "gamma-reseller"]


# ---------------------------------------------------------------------------------------------- split indexes


def split_copy(site: Path, copy: Path) -> Path:
    """`site` indexed anew in `copy` with at most 8 partner pages per index, as 10,000 are with 500."""
    shutil.copytree(site, copy, ignore=shutil.ignore_patterns("pagefind"))
    size = index_stage.PARTNERS_PER_INDEX
    index_stage.PARTNERS_PER_INDEX = 8
    try:
        build_index(copy)
    finally:
        index_stage.PARTNERS_PER_INDEX = size
    return copy


@pytest.fixture(scope="module")
def split_site(built_site, tmp_path_factory):
    return split_copy(built_site, tmp_path_factory.mktemp("split") / "site")


def test_partner_pages_are_split_evenly_over_indexes_in_order(split_site, sample):
    _, _, d = sample
    main, *shards = indexes(split_site)
    assert [s.relative_to(main).as_posix() for s in shards] == [f"{PARTNER_FOLDER}/{n}" for n in range(6)]
    held = [sorted(f["meta"]["slug"] for f in index_fragments(s)) for s in shards]
    assert sorted(len(h) for h in held) == [7, 7, 7, 7, 7, 8]  # 43 pages, none much larger than another
    assert [slug for h in held for slug in h] == sorted(d.partners)  # each once, in path order
    assert {f["url"] for f in index_fragments(main)} == {f["url"] for f in fragments(split_site)
                                                         if f["filters"].get("type") != ["partner"]}
    manifest = json.loads((main / PARTNER_INDEX).read_text())
    assert sorted(manifest["partners"].values()) == sorted(d.partners)


def test_each_partner_index_s_pages_are_mapped_to_the_slugs_their_fragments_hold(split_site):
    """partner-index.json's ids are read from each index's slug and type filters, not from
    every fragment: they are the ids and slugs the fragments themselves give."""
    manifest = json.loads((split_site / "pagefind" / PARTNER_INDEX).read_text())
    from_fragments = {}
    for shard in indexes(split_site)[1:]:
        for path in sorted((shard / "fragment").glob("*.pf_fragment")):
            fragment = read_index_file(path)
            if fragment["filters"].get("type") == ["partner"]:
                from_fragments[path.stem] = fragment["filters"]["slug"][0]
                assert fragment["url"] == f"/partners/{fragment['filters']['slug'][0]}/"
    assert manifest["partners"] == from_fragments
    assert len(from_fragments) == 43


def test_every_index_knows_every_word_and_finds_only_its_own_pages(split_site):
    """Pagefind searches a shorter word when an index has no word starting with the one typed."""
    main, *shards = indexes(split_site)
    words = {index: index_words(index) for index in [main, *shards]}
    everything = set().union(*words.values())
    for index, held in words.items():
        assert set(held) == everything, index
    # a word on a single partner page has pages in one partner index, and is known to all others
    only = {w for w in everything if sum(held[w] for held in words.values()) == 1}
    assert only
    for word in only:
        assert sorted(held[word] for held in words.values()) == [0] * len(shards) + [1]


def test_a_split_index_gives_the_same_bytes_from_the_same_pages(split_site, tmp_path):
    assert tree(split_copy(split_site, tmp_path / "site") / "pagefind") == tree(split_site / "pagefind")


def test_a_disk_that_fails_while_the_pages_are_linked_for_the_index_is_reported_as_the_disk(
        tmp_path, small_content, monkeypatch, capsys):
    """The pages are linked into each index's folder by a thread while Pagefind indexes the ones
    before: a failure there is the disk's, said as a build says it when a page cannot be written
    (not as Pagefind's), and the site and its folder are left as they were."""
    import errno

    from partnerdir import index

    paths, _ = small_build(tmp_path, small_content)
    before = tree(paths.out)
    linked = []

    def full(folder, group, source):
        linked.append(source.name)
        if source.name == "1":  # (the first partner index's folder, the first to be linked)
            raise OSError(errno.ENOSPC, "No space left on device", str(source))

    monkeypatch.setattr(index, "link_group", full)
    code, err = run_build(paths.out, small_content, monkeypatch, capsys, None)
    assert code == 1 and "Traceback" not in err
    assert "No space left on device" in err and "Pagefind" not in err, err
    assert "was not changed" in err
    assert tree(paths.out) == before
    assert not list(paths.out.parent.glob(f".{paths.out.name}.build-*"))


def test_pagefind_s_service_reads_each_answer_as_it_comes(monkeypatch):
    """Pagefind's Python service pauses before it reads each answer of the binary; the index
    stage takes that pause out (three requests an index, each waiting up to 0.1 s for nothing).
    If a new version of the service pauses differently, this says the fix no longer applies."""
    import inspect

    import pagefind.service as service_module

    loop_source = inspect.getsource(service_module.PagefindService._wait_for_responses)
    assert f"asyncio.sleep({index_stage.SERVICE_POLL_SECONDS})" in loop_source
    monkeypatch.setattr(service_module, "asyncio", asyncio)
    index_stage._answer_promptly()
    prompt = service_module.asyncio
    assert prompt is not asyncio and prompt.subprocess is asyncio.subprocess
    paused: list[float] = []

    async def sleep(delay, result=None):
        paused.append(delay)
        return result

    def run(coroutine) -> None:  # (no event loop: the pauses recorded return at once)
        with pytest.raises(StopIteration):
            coroutine.send(None)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    run(prompt.sleep(index_stage.SERVICE_POLL_SECONDS))
    run(prompt.sleep(0.05))
    assert paused == [0, 0.05], "only the service's pause before each answer is taken out"


@pytest.mark.skipif(not os.path.isdir(f"/proc/{os.getpid()}/fd"),
                    reason="the system lists a process's open files in /proc")
def test_the_index_waits_until_pagefind_has_closed_every_file_of_the_index(tmp_path):
    """Pagefind answers before its writes land, each file closed once written; the stage goes on
    when the binary holds no file of the index open: not before (a file cut short), and not 50 ms
    after, as it did when it waited for the files' sizes to stay the same."""
    output, elsewhere = tmp_path / "index", tmp_path / "pages"
    output.mkdir()
    elsewhere.mkdir()
    script = ("import sys, time\n"
              "page, fragment = open(sys.argv[1], 'rb'), open(sys.argv[2], 'wb')\n"
              "print('open', flush=True)\n"
              "time.sleep(0.3)\n"
              "fragment.write(b'x' * 100_000)\n"
              "fragment.close()\n"
              "time.sleep(60)\n")
    (elsewhere / "page.html").write_text("a page it reads, and keeps open")
    writer = subprocess.Popen([sys.executable, "-c", script, str(elsewhere / "page.html"),
                               str(output / "fragment.pf_fragment")], stdout=subprocess.PIPE)
    try:
        assert writer.stdout is not None and writer.stdout.readline() == b"open\n"
        started = time.perf_counter()
        index_stage._run(index_stage._written(output, writer.pid))
        assert time.perf_counter() - started > 0.2, "it went on while the file was being written"
        assert (output / "fragment.pf_fragment").stat().st_size == 100_000
        started = time.perf_counter()
        index_stage._run(index_stage._written(output, writer.pid))  # (the page it reads is not the index's)
        assert time.perf_counter() - started < 0.04
    finally:
        writer.kill()
        writer.wait()


def test_without_a_list_of_open_files_the_index_waits_for_the_sizes_to_settle(tmp_path):
    """Where a process's open files cannot be listed, the files' sizes must stay the same for
    two looks in a row."""
    (tmp_path / "fragment.pf_fragment").write_bytes(b"x")
    started = time.perf_counter()
    index_stage._run(index_stage._written(tmp_path, None))
    assert time.perf_counter() - started >= 0.05


def _placed_one_by_one(missing: list[str], ranges: list[list]) -> dict[int, list[str]]:
    """The rule `index._placed` follows, word by word, as the index stage first did it."""
    import bisect

    starts = [r[0] for r in ranges]
    added: dict[int, list[str]] = {}
    for word in missing:
        number = bisect.bisect_right(starts, word) - 1
        if number < 0:
            number = 0
            ranges[0][0] = starts[0] = word
        elif word[:len(ranges[number][1])] > ranges[number][1]:
            if number + 1 < len(ranges):
                number += 1
                ranges[number][0] = starts[number] = word
            else:
                ranges[number][1] = word
        added.setdefault(number, []).append(word)
    return added


def test_missing_words_go_in_the_chunks_the_word_by_word_rule_gives():
    """Missing words are placed a run at a time (17,000 in each of 20 indexes at 10,000
    partners); the chunks and ranges must be those of placing them one by one, with ends that
    are prefixes of the words after them, words before the first chunk, between chunks and
    past the last."""
    import random

    rng = random.Random(8)
    for _ in range(3000):
        letters = "abc" if rng.random() < 0.5 else "abcdefg"
        words = sorted({"".join(rng.choice(letters) for _ in range(rng.randint(1, 5))) for _ in range(60)})
        chunk_words = sorted(rng.sample(words, rng.randint(1, min(12, len(words)))))
        cut = sorted(rng.sample(range(1, len(chunk_words)), rng.randint(0, len(chunk_words) - 1))) \
            if len(chunk_words) > 1 else []
        ranges = []
        for group in (chunk_words[a:b] for a, b in zip([0, *cut], [*cut, len(chunk_words)], strict=True)):
            end = group[-1]
            if rng.random() < 0.4:
                end = end[:rng.randint(1, len(end))]  # an end written as a prefix
            ranges.append([group[0], end, f"c{len(ranges)}"])
        missing = sorted(set(words) - set(chunk_words))
        mine = [list(r) for r in ranges]
        theirs = [list(r) for r in ranges]
        assert index_stage._placed(missing, mine) == _placed_one_by_one(missing, theirs), (missing, ranges)
        assert mine == theirs, (missing, ranges)


def test_what_another_pagefind_wrote_is_never_taken_into_an_index(tmp_path, monkeypatch):
    """CI restores .cache/ after Pagefind was upgraded: the first index is made from the pages,
    and the kept folders of the old Pagefind are never linked into a later one beside the new
    one's files (a mixed index); every later index is still the one a build from nothing makes."""
    content, paths = _built_in_groups(tmp_path, monkeypatch, 2)

    def kept_folders() -> set[str]:
        [kept] = paths.cache.glob("search/*/kept.marshal")
        return set(marshal.loads(kept.read_bytes())["folders"])

    old = kept_folders()
    stamp = index_stage._binary_stamp
    monkeypatch.setattr(index_stage, "_binary_stamp", lambda binary, keep: [*stamp(binary, keep), "upgraded"])
    for step, description in enumerate(["builds integrations.", "builds good integrations."], 1):
        monkeypatch.setattr(index_stage, "_KEPT", {})  # a new process
        write_records(content, {"cedar": record("Cedar Systems", description=f"Cedar Systems {description}")})
        settle(content / "cedar.yaml", offset=step)
        assert build_site(paths, AS_OF, search=True, remember=False).ok
        assert not kept_folders() & old, step
        cold = build_site(project_paths(tmp_path / f"cold-{step}", content), AS_OF, search=True)
        assert cold.ok and tree(paths.out / "pagefind") == tree(cold.out / "pagefind"), step
