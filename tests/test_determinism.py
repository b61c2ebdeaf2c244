"""Same records and the same --as-of date give a byte-identical site, wherever and whenever it is built."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

from partnerdir.pipeline import build_site
from partnerdir.project import ROOT, Paths


def tree(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_two_builds_of_the_sample_content_are_byte_identical(tmp_path):
    """Pages, data, assets and the Pagefind search index."""
    as_of = dt.date(2026, 11, 15)
    first = build_site(Paths(out=tmp_path / "a" / "site"), as_of, search=True)
    assert first.ok, [p.text() for p in first.problems]
    # another process, working folder, time zone, hash seed and locale must not show in the output
    env = {**os.environ, "TZ": "Pacific/Auckland", "PYTHONHASHSEED": "123", "LC_ALL": "C.UTF-8"}
    second = tmp_path / "b" / "site"
    run = subprocess.run([sys.executable, str(ROOT / "build.py"), "build", "--out", str(second),
                          "--as-of", "2026-11-15"],
                         cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    a, b = tree(first.out), tree(second)
    assert sorted(a) == sorted(b)
    assert [name for name in a if a[name] != b[name]] == []
    assert len(a) > 100
    assert any(name.startswith("pagefind/") for name in a)

    # rebuilding over an existing site gives the same bytes again
    third = build_site(Paths(out=first.out), as_of, search=True)
    assert third.ok and tree(first.out) == a


def test_a_different_as_of_date_changes_the_site(tmp_path):
    a = build_site(Paths(out=tmp_path / "a"), dt.date(2026, 11, 15), search=False)
    b = build_site(Paths(out=tmp_path / "b"), dt.date(2026, 11, 16), search=False)
    assert a.ok and b.ok
    assert json.loads((b.out / "partners.json").read_text())["as_of"] == "2026-11-16"
    assert tree(a.out)["partners.json"] != tree(b.out)["partners.json"]
