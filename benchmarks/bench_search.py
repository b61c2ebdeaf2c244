#!/usr/bin/env python3
"""How fast the directory's search answers in Chromium: `python benchmarks/bench_search.py SITE`.

SITE is a built site with its Pagefind index, for example benchmarks/out/build-10000/site after
`python benchmarks/bench_build.py 10000 --search --cold-only`. The page is served locally and
the directory's own search (search.js, `window.partnerSearch.find`) is asked a series of
queries; the first includes loading Pagefind and its index entry, the others are what a visitor
typing sees. Prints the index size and each query's time. Not a test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser import chromium_path, serve_folder  # noqa: E402

QUERIES = ["integration", "identity", "bank", "api gateway", "berlin", "streaming", "cloud migration",
           "healthcare", "kestrel", "open banking"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("site", type=Path)
    args = ap.parse_args(argv)
    index = args.site / "pagefind"
    if not index.is_dir():
        sys.exit(f"{index} does not exist: build with the search index first")
    files = [p for p in index.rglob("*") if p.is_file()]
    print(f"index: {len(files):,} files, {sum(p.stat().st_size for p in files) / 2**20:.1f} MiB")

    from playwright.sync_api import sync_playwright

    with serve_folder(args.site) as url, sync_playwright() as pw:
        executable = chromium_path()
        if not executable:
            sys.exit("Debian's chromium is not installed (apt-get install chromium)")
        browser = pw.chromium.launch(executable_path=str(executable))
        page = browser.new_page()
        page.goto(url)
        timings = page.evaluate("""async (queries) => {
            const out = [];
            for (const q of queries) {
                const start = performance.now();
                const found = await window.partnerSearch.find(q);
                out.push([q, performance.now() - start, Object.keys(found.slugs).length]);
            }
            return out;
        }""", QUERIES)
        browser.close()
    for query, ms, hits in timings:
        print(f"{query!r:20} {ms:7.1f} ms  {hits:,} partners")
    later = [ms for _, ms, _ in timings[1:]]
    print(f"first query (loads Pagefind) {timings[0][1]:.0f} ms; then median "
          f"{statistics.median(later):.0f} ms, slowest {max(later):.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
