#!/usr/bin/env python3
"""How fast the directory's search answers in Chromium: `python benchmarks/bench_search.py SITE`.

SITE is a built site with its Pagefind index, for example benchmarks/out/build-10000/site after
`python benchmarks/bench_build.py 10000 --search --cold-only`. The page is served locally and
measured two ways, each in a fresh page:

- **typed**, what a visitor sees: each query is typed into the box a key at a time (--key-ms
  apart, a quick typist), after clearing the box and waiting for the full list. The time runs
  from the last keystroke's input event to the first frame after the result count names the
  query, when the matching cards are in the page; it includes the wait for the visitor to stop
  typing, searching every index, filtering, counting and drawing the list. The first query is
  typed into a page just opened: clicking the box starts loading Pagefind, which goes on while
  the visitor types.
- **a shared link**: each query opened as `?q=...` in a fresh page, from the start of the
  navigation to the list drawn (Pagefind, its index and the list of partners loaded on the way).
- **search alone**, the old measure: `window.partnerSearch.find(query)` (Pagefind's search and
  mapping its results to partners), each query once, nothing drawn.

With --runs N, each way is repeated N times in fresh pages and each query's median is shown
(the machine is shared: single runs vary by a factor of two). Prints the index size and each
query's times. Not a test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from urllib.parse import quote_plus

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser import chromium_path, serve_folder  # noqa: E402

QUERIES = ["integration", "identity", "bank", "api gateway", "berlin", "streaming", "cloud migration",
           "healthcare", "kestrel", "open banking"]

# Resolves with [ms to the count naming the query, ms to the next frame] after the last input.
WATCH = """q => {
  const box = document.getElementById("q");
  const count = document.getElementById("result-count");
  let last = 0;
  const onInput = () => { last = performance.now(); };
  box.addEventListener("input", onInput, true);
  window.__answered = new Promise(resolve => {
    const seen = () => {
      if (!last || box.value !== q || !count.textContent.includes("\\u201c" + q + "\\u201d")) return;
      observer.disconnect();
      box.removeEventListener("input", onInput, true);
      const shown = performance.now() - last;
      requestAnimationFrame(() => resolve([shown, performance.now() - last]));
    };
    const observer = new MutationObserver(seen);
    observer.observe(count, { childList: true, characterData: true, subtree: true });
  });
}"""


def typed(page, url: str, queries: list[str], key_ms: int) -> list[tuple[str, float, int]]:
    page.goto(url)
    page.wait_for_selector("#search:not([hidden])")
    box = page.locator("#q")
    out = []
    for i, q in enumerate(queries):
        if i:
            box.press("Control+a")
            box.press("Backspace")
            page.wait_for_function("() => !document.getElementById('result-count')"
                                   ".textContent.includes('match')")
        page.evaluate(WATCH, q)
        if not i:
            box.click()
        box.press_sequentially(q, delay=key_ms)
        _, painted = page.evaluate("() => window.__answered")
        out.append((q, painted, int(page.locator("#result-count").inner_text().split()[0])))
    return out


def alone(page, url: str, queries: list[str]) -> list[tuple[str, float, int]]:
    page.goto(url)
    page.wait_for_selector("#search:not([hidden])")
    return page.evaluate("""async (queries) => {
        const out = [];
        for (const q of queries) {
            const start = performance.now();
            const found = await window.partnerSearch.find(q);
            out.push([q, performance.now() - start, Object.keys(found.slugs).length]);
        }
        return out;
    }""", queries)


def linked(page, url: str, queries: list[str]) -> list[tuple[str, float, int]]:
    """Each query opened as a shared link (?q=...) in a fresh page: ms from the start of the
    navigation to the first frame after the count names the query (Pagefind and the list of
    partners loaded on the way, nothing loaded before)."""
    out = []
    for q in queries:
        page.goto(url + "?q=" + quote_plus(q))
        page.wait_for_function("q => document.getElementById('result-count').textContent"
                               ".includes('\\u201c' + q + '\\u201d')", arg=q, polling="raf")
        shown = page.evaluate("() => new Promise(r => requestAnimationFrame(() => r(performance.now())))")
        out.append((q, shown, int(page.locator("#result-count").inner_text().split()[0])))
    return out


def agree(page, url: str, queries: list[str]) -> list[tuple[str, int, int, float]]:
    """Each query's partners from the directory's search against a Pagefind search of every index
    (what the directory searched before the partner word lists): (query, same?, partners, ms Pagefind
    took, partners and pages Pagefind found)."""
    page.goto(url)
    page.wait_for_selector("#search:not([hidden])")
    return page.evaluate("""async (queries) => {
        const manifest = await (await fetch("pagefind/partner-index.json")).json();
        const pf = await import(new URL("pagefind/pagefind.js", location.href).href);
        const all = pf.createInstance({basePath: new URL("pagefind/", location.href).pathname});
        const base = new URL("pagefind/", location.href).pathname;
        await Promise.all(manifest.indexes.map(p => all.mergeIndex(base + p)));
        const out = [];
        for (const q of queries) {
            await all.preload(q);
            const start = performance.now();
            const full = await all.search(q);
            const took = performance.now() - start;
            const fast = await window.partnerSearch.find(q);
            const a = new Set(full.results.map(r => manifest.partners[r.id]).filter(Boolean));
            const b = Object.keys(fast.slugs);
            out.push([q, a.size === b.length && b.every(s => a.has(s)) ? 1 : 0, b.length, took, a.size,
                      full.results.length]);
        }
        return out;
    }""", queries)


def report(title: str, runs: list[list[tuple[str, float, int]]], first: bool = True) -> None:
    """Each query's median over the runs (and its spread), then the median and slowest of those."""
    print(title)
    medians = []
    for i, (query, _, hits) in enumerate(runs[0]):
        times = sorted(run[i][1] for run in runs)
        medians.append(statistics.median(times))
        spread = f"  ({times[0]:.0f} to {times[-1]:.0f})" if len(times) > 1 else ""
        print(f"  {query!r:20} {medians[-1]:7.1f} ms  {hits:,} partners{spread}")
    if not first:
        print(f"  median {statistics.median(medians):.0f} ms, slowest {max(medians):.0f} ms")
        return
    print(f"  first query (loads Pagefind) {medians[0]:.0f} ms; then median "
          f"{statistics.median(medians[1:]):.0f} ms, slowest {max(medians[1:]):.0f} ms")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("site", type=Path)
    ap.add_argument("--key-ms", type=int, default=120, help="time between keystrokes (default 120)")
    ap.add_argument("--runs", type=int, default=1, help="repeat each way this many times (default 1)")
    ap.add_argument("--check", action="store_true",
                    help="also compare each query's partners with a search of every Pagefind index")
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
        typed_times, alone_times, link_times = [], [], []
        for _ in range(args.runs):
            context = browser.new_context()
            link_times.append(linked(context.new_page(), url, QUERIES))
            context.close()
            context = browser.new_context()
            typed_times.append(typed(context.new_page(), url, QUERIES, args.key_ms))
            context.close()
            context = browser.new_context()
            alone_times.append(alone(context.new_page(), url, QUERIES))
            context.close()
        if args.check:
            context = browser.new_context()
            checked = agree(context.new_page(), url, QUERIES)
            context.close()
        browser.close()
    if args.check:
        print("the directory's partners against Pagefind's search of every index (its time, files loaded):")
        for q, same, hits, took, full, pages in checked:
            print(f"  {q!r:20} {'same' if same else 'DIFFERENT'}  {hits:,} partners ({full:,} of "
                  f"{pages:,} pages found by Pagefind)  {took:7.1f} ms")
    report(f"typed, last keystroke to the list drawn ({args.key_ms} ms between keys):", typed_times)
    report("search alone (partnerSearch.find):", alone_times)
    report("a shared link (?q=), from opening the page to the list drawn:", link_times, first=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
