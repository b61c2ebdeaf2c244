#!/usr/bin/env python3
"""The shared side-by-side benchmark (`../shared/bench/peers.py`), with Hugo writing every page.

    python3 benchmarks/peers.py RECORDS_DIR [--runs 3] [--work DIR] [-- PROJECT COMMAND ...]

The shared Hugo site gives partner pages the permalink `/partners/:slug/`. Our records have no
`slug` field (a record's slug is its file name) and no `title`, so Hugo 0.111 resolves `:slug` to
nothing and renders all 10,000 partners to the one file `out/partners/index.html`, each over the
one before: it writes 2 files where Eleventy and this project write 10,001, and skips creating
20,000 files and folders, which on this machine's disk costs seconds. The shared folder is
read-only here, so this runs its harness unchanged except for the permalink, which becomes
`/partners/:filename/` (the record's file name, the same address this project gives the page).
It checks that Hugo then writes one page per record, and stops if it does not.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "bench" / "peers.py"
BROKEN, FIXED = 'partners = "/partners/:slug/"', 'partners = "/partners/:filename/"'


def _shared_harness():
    spec = importlib.util.spec_from_file_location("shared_peers", SHARED)
    if spec is None or spec.loader is None:
        sys.exit(f"the shared harness is not at {SHARED}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    peers = _shared_harness()
    prepare = peers.prepare

    def prepare_with_pages(records: Path, work: Path):
        tools = prepare(records, work)
        if "hugo" in tools:
            config = tools["hugo"][1] / "hugo.toml"
            text = config.read_text()
            if BROKEN not in text and FIXED not in text:
                sys.exit(f"{config}: the partners permalink changed; check that Hugo writes a page per "
                         "record and update benchmarks/peers.py")
            config.write_text(text.replace(BROKEN, FIXED))
        return tools

    peers.prepare = prepare_with_pages
    run = peers.peak_rss_mib
    counted: set[Path] = set()

    def run_and_count(cmd: list[str], cwd: Path):
        """The first (warm-up) run of each peer: how many pages it wrote, so a broken peer shows."""
        outcome = run(cmd, cwd)
        if cwd not in counted and (cwd / "out").is_dir():
            counted.add(cwd)
            pages = sum(1 for _ in (cwd / "out").rglob("*.html"))
            print(f"{cwd.name}: {pages:,} pages written", file=sys.stderr)
        return outcome

    peers.peak_rss_mib = run_and_count
    peers.main()


if __name__ == "__main__":
    main()
