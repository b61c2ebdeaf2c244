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
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cbor2
import pytest

from partnerdir.award import award_all
from partnerdir.check import check
from partnerdir.cli import main
from partnerdir.facets import FACETS
from partnerdir.index import SIGNATURE, UNUSED_FILES, build_index, incomplete_files, stable_order
from partnerdir.pages import directory
from partnerdir.pipeline import build_site
from partnerdir.project import ROOT, Paths
from partnerdir.rules import country_name
from partnerdir.serve import Preview
from tests.site_records import SMALL, parse, project_paths, record, write_records

AS_OF = dt.date(2026, 11, 15)


def fragments(site: Path) -> list[dict]:
    """Every page in the index, as Pagefind stored it."""
    out = []
    for path in sorted((site / "pagefind" / "fragment").glob("*.pf_fragment")):
        raw = gzip.decompress(path.read_bytes())
        assert raw.startswith(SIGNATURE), path
        out.append(json.loads(raw[len(SIGNATURE):]))
    return out


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
    ids = json.loads((built_site / "pagefind" / "partner-ids.json").read_text())
    assert sorted(ids.values()) == sorted(listed)
    for page_id, slug in ids.items():
        fragment = json.loads(gzip.decompress(
            (built_site / "pagefind" / "fragment" / f"{page_id}.pf_fragment").read_bytes())[len(SIGNATURE):])
        assert fragment["url"] == f"/partners/{slug}/"
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
    assert incomplete_files(folder) == []


# ---------------------------------------------------------------------------------------------- stable bytes


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
    folder = built_site / "pagefind"
    entry = json.loads((folder / "pagefind-entry.json").read_text())
    meta = cbor2.loads(gzip.decompress((folder / f"pagefind.{entry['languages']['en']['hash']}.pf_meta")
                                      .read_bytes())[len(SIGNATURE):])
    names = [name for name, _ in meta[3]]
    assert names == sorted(names) == sorted(["type", "slug", *[f.key for f in FACETS]])
    for name, chunk in meta[3]:
        raw = gzip.decompress((folder / "filter" / f"{chunk}.pf_filter").read_bytes())
        index = cbor2.loads(raw[len(SIGNATURE):])
        assert index[0] == name
        values = [v for v, _ in index[1]]
        assert values == sorted(values)


def test_partners_sort_by_status_and_by_name_in_pagefind(built_site, sample):
    """Pagefind's sorts list page numbers; a page number is a place in the metadata's page list."""
    _, _, d = sample
    folder = built_site / "pagefind"
    entry = json.loads((folder / "pagefind-entry.json").read_text())
    raw = gzip.decompress((folder / f"pagefind.{entry['languages']['en']['hash']}.pf_meta").read_bytes())
    meta = cbor2.loads(raw[len(SIGNATURE):])
    slug_of = {}
    for number, (fragment, _) in enumerate(meta[1]):
        data = gzip.decompress((folder / "fragment" / f"{fragment}.pf_fragment").read_bytes())
        slug_of[number] = json.loads(data[len(SIGNATURE):])["meta"].get("slug")
    sorts = dict(meta[4])
    assert sorted(sorts) == ["name", "status"]
    by_name = [slug_of[n] for n in sorts["name"]]
    assert by_name == sorted(d.partners, key=lambda s: d.partners[s].name.lower())
    ranks = [d.views[slug_of[n]].level_rank for n in sorts["status"]]
    assert sorted(slug_of[n] for n in sorts["status"]) == sorted(d.partners)
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
    assert re.search(r"Time: .*\bindex \d+\.\d\d s; total", text), text


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


def test_serve_rebuilds_re_index_the_site(tmp_path):
    content = write_records(tmp_path / "content", {"alpha": record("Alpha Systems")})
    paths = project_paths(tmp_path, content)
    preview = Preview(paths, AS_OF, 8000, search=True)
    assert preview.build().ok
    assert "quetzalcoatlite" not in json.dumps(fragments(paths.out))
    source = content / "alpha.yaml"
    source.write_text(source.read_text().replace("builds integrations.",
                                                 "builds integrations for quetzalcoatlite miners."))
    assert preview.build([str(source)]).ok
    assert "quetzalcoatlite" in partner_fragments(paths.out)["alpha"]["content"]


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
