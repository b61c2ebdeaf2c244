/* Full-text search for the directory, joined with its filters.
 *
 * Pagefind (pagefind/pagefind.js, written by the build's index stage) answers which listed
 * partners' pages contain the words typed; directory.js keeps only those partners in the same
 * list the facet filters narrow, so counts, chips, sorting and the URL (?q=...&program=...)
 * work for both at once. Pagefind is imported the first time a visitor reaches for the box,
 * so the directory's first load stays as light as without search.
 *
 * This file only talks to Pagefind and draws what is specific to search (excerpts with the
 * matched words marked, other matching pages, arrow keys); directory.js owns the state.
 * Excerpt HTML from Pagefind is parsed in an inert document and rebuilt from text nodes and
 * <mark> only, so partner text can never become markup here.
 */
(function () {
  "use strict";

  var app = document.getElementById("directory");
  var form = document.getElementById("search");
  var box = document.getElementById("q");
  if (!app || !form || !box || !window.Promise || !window.DOMParser || !window.fetch) return;

  var root = app.getAttribute("data-root");
  var cardsEl = document.getElementById("cards");
  var pagesEl = document.getElementById("search-pages");
  // The list follows the box once typing pauses this long; meanwhile the index files for the
  // words typed so far are fetched, so the search that follows the pause only computes. One
  // or two letters match nearly every partner and take longest to search: those wait longer.
  // When the last search took less than QUICK_MS (few partners match), there is nothing to
  // save by waiting: the list follows every key.
  var DEBOUNCE_MS = 60;
  var QUICK_MS = 30;
  var SHORT_DEBOUNCE_MS = 400;
  var SHORT = 3;           // queries shorter than this wait longer, and fetch nothing early
  var MAX_QUERY = 200;
  var MAX_PAGES = 3;       // other pages (programs, status levels) named under the box
  var engine = null;       // promise of the Pagefind module
  var slugOf = {};         // Pagefind page id -> partner slug (pagefind/partner-index.json)
  var answers = {};        // query -> promise of {slugs, pages}
  var settled = {};        // query -> {slugs, pages} once answered
  var excerptCache = {};   // query + "\n" + slug -> excerpt HTML from Pagefind
  var running = Promise.resolve(); // the search Pagefind is busy with: one at a time
  var latest = "";         // the query asked for last: an older one not yet started is dropped
  var lastTook = Infinity; // ms the last search took, its index files already fetched
  var timer = 0;
  var listeners = [];
  var focusFirst = false;  // Enter was pressed in the box: focus the first result when drawn
  var announced = "";      // the last query the list was asked for

  // ---------------------------------------------------------------- Pagefind

  function start() {
    if (!engine) {
      // Relative to the site's base, so a site under /org/partners/ finds its own index;
      // Pagefind locates its other files from this import's URL. Partner pages are split
      // over several indexes (a search in one index of 10,000 pages takes up to seconds, in
      // twenty of 500 a fraction of that), merged into this one. Filters are never loaded:
      // Pagefind would then count every filter value on every search. Results map to
      // partners through the index stage's id list.
      engine = Promise.all([
        import(root + "pagefind/pagefind.js").then(function (pf) {
          return pf.options({ baseUrl: root }).then(function () { return pf; });
        }),
        fetch(root + "pagefind/partner-index.json").then(function (r) {
          if (!r.ok) throw new Error("pagefind/partner-index.json: HTTP " + r.status);
          return r.json();
        })
      ]).then(function (both) {
        var pf = both[0];
        slugOf = both[1].partners;
        return Promise.all(both[1].indexes.map(function (path) {
          return pf.mergeIndex(root + "pagefind/" + path, { baseUrl: root });
        })).then(function () { return pf; });
      });
      engine.catch(function () { engine = null; });
    }
    return engine;
  }

  function clean(q) {
    return String(q || "").replace(/\s+/g, " ").trim().slice(0, MAX_QUERY);
  }

  /* The listed partners whose pages match `q`, as {slug: true}, and other matching pages. */
  function find(q) {
    q = clean(q);
    latest = q;
    if (!answers[q]) {
      // One search: partner pages are in the partner indexes, every other page in the
      // index is a program or status page, named under the box. Searches wait for the one
      // in progress (Pagefind cannot stop one), and a query typed over in the meantime is
      // never searched: the newest words are answered after one search at most.
      var slugs = {};
      var hits = {};
      var turn = running.then(function () {
        if (q !== latest) return null;
        return start().then(function (pf) {
          return pf.search(q).then(function (res) {
            // Time spent searching in each index, not fetching its files.
            lastTook = (res.timings || []).reduce(function (sum, t) { return sum + (t.search || 0); }, 0);
            return res;
          });
        });
      });
      running = turn.catch(function () {});
      answers[q] = turn.then(function (res) {
        if (!res) {
          delete answers[q];
          return null;
        }
        var others = [];
        res.results.forEach(function (r) {
          var slug = slugOf[r.id];
          if (slug) {
            slugs[slug] = true;
            hits[slug] = r;
          } else if (others.length < MAX_PAGES) {
            others.push(r);
          }
        });
        return Promise.all(others.map(function (r) { return r.data(); }));
      }).then(function (data) {
        if (!data) return null;
        var pages = data.map(function (d) {
          return { url: d.url, title: (d.meta && d.meta.title) || d.url, excerpt: d.excerpt };
        });
        settled[q] = { slugs: slugs, pages: pages, hits: hits };
        return settled[q];
      });
      answers[q].catch(function () { delete answers[q]; });
    }
    return answers[q];
  }

  function cached(q) {
    return settled[clean(q)] || null;
  }

  /* Excerpts for the given slugs: one fragment per card shown, from the query's own results. */
  function excerpts(q, slugs) {
    var missing = slugs.filter(function (s) { return !((q + "\n" + s) in excerptCache); });
    if (!missing.length) return Promise.resolve();
    return find(q).then(function (answer) {
      if (!answer) return [];
      return Promise.all(missing.map(function (slug) {
        var hit = answer.hits[slug];
        if (!hit) return [slug, ""];
        return hit.data().then(function (d) { return [slug, d.excerpt || ""]; });
      }));
    }).then(function (pairs) {
      pairs.forEach(function (pair) { excerptCache[q + "\n" + pair[0]] = pair[1]; });
    });
  }

  // ---------------------------------------------------------------- safe highlighting

  /* Text with Pagefind's <mark>s, built from text nodes: nothing else from the excerpt survives. */
  function highlighted(html) {
    var doc = new DOMParser().parseFromString("<!doctype html><body>" + html, "text/html");
    var out = document.createDocumentFragment();
    Array.prototype.forEach.call(doc.body.childNodes, function (node) {
      var text = node.textContent || "";
      if (!text) return;
      if (node.nodeType === 1 && node.nodeName === "MARK") {
        var mark = document.createElement("mark");
        mark.textContent = text;
        out.appendChild(mark);
      } else {
        out.appendChild(document.createTextNode(text));
      }
    });
    return out;
  }

  /* Add the matching passage to each card [slug, li] just shown for query `q`. */
  function annotate(q, added) {
    q = clean(q);
    if (!q || !added.length) return;
    excerpts(q, added.map(function (pair) { return pair[0]; })).then(function () {
      added.forEach(function (pair) {
        var html = excerptCache[q + "\n" + pair[0]];
        var li = pair[1];
        if (!html || !li.isConnected || li.querySelector(".excerpt")) return;
        var p = document.createElement("p");
        p.className = "excerpt";
        p.appendChild(highlighted(html));
        li.appendChild(p);
      });
    }, function () {});
  }

  /* Program and status pages that match too, as links under the box. */
  function showPages(q, pages) {
    if (!pagesEl) return;
    pagesEl.textContent = "";
    pagesEl.hidden = !q || !pages || !pages.length;
    if (pagesEl.hidden) return;
    pagesEl.appendChild(document.createTextNode("Also matching: "));
    pages.forEach(function (page, i) {
      if (i) pagesEl.appendChild(document.createTextNode(", "));
      var a = document.createElement("a");
      a.href = page.url;
      a.textContent = page.title;
      pagesEl.appendChild(a);
    });
    pagesEl.appendChild(document.createTextNode("."));
  }

  // ---------------------------------------------------------------- the box

  function value() {
    return clean(box.value);
  }

  /* Put the query from the URL, a chip or "clear all" in the box. The list may catch up with
   * an older query while the visitor types on: their newer words stay (they are on their way). */
  function show(q) {
    if (q === announced) return;
    announced = q;
    if (clean(box.value) !== q) box.value = q;
  }

  /* directory.js has drawn the list for `q`. */
  function rendered(q) {
    if (!focusFirst) return;
    focusFirst = false;
    var first = cardsEl.querySelector(".card-title a");
    if (q && first) first.focus();
  }

  function announce(q, immediate) {
    announced = q;
    listeners.forEach(function (fn) { fn(q, immediate); });
  }

  form.hidden = false;
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    clearTimeout(timer);
    // Enter: search now, and go to the first result once the list shows it.
    focusFirst = !!value();
    announce(value(), true);
  });
  /* Fetch the index files `q` needs while the visitor is still typing. */
  function preload(q) {
    start().then(function (pf) {
      if (q.length >= SHORT && !answers[q] && value() === q) return pf.preload(q);
    }).catch(function () {});
  }

  box.addEventListener("input", function () {
    clearTimeout(timer);
    var q = value();
    if (q) preload(q);
    // An answer already in (the visitor went back to earlier words) shows at once.
    var wait = !q || settled[q] ? 0
      : q.length < SHORT ? SHORT_DEBOUNCE_MS
      : lastTook < QUICK_MS ? 0 : DEBOUNCE_MS;
    timer = setTimeout(function () { announce(q, false); }, wait);
  });
  ["focus", "pointerdown"].forEach(function (type) {
    box.addEventListener(type, function () { start().catch(function () {}); }, { once: true });
  });

  // Arrow keys move between the results while searching; Enter follows the focused one.
  function resultLinks() {
    return Array.prototype.slice.call(cardsEl.querySelectorAll(".card-title a"));
  }
  box.addEventListener("keydown", function (e) {
    if (e.key !== "ArrowDown" || !value()) return;
    var links = resultLinks();
    if (links.length) {
      e.preventDefault();
      links[0].focus();
    }
  });
  cardsEl.addEventListener("keydown", function (e) {
    if ((e.key !== "ArrowDown" && e.key !== "ArrowUp") || !value()) return;
    var links = resultLinks();
    var i = links.indexOf(document.activeElement);
    if (i < 0) return;
    e.preventDefault();
    if (e.key === "ArrowDown" && i + 1 < links.length) links[i + 1].focus();
    if (e.key === "ArrowUp") (i > 0 ? links[i - 1] : box).focus();
  });

  window.partnerSearch = {
    form: form,
    tidy: clean,          // a query as kept in the URL: spaces collapsed, trimmed, bounded
    value: value,         // the query in the box, tidied
    show: show,           // put a query (from the URL) in the box
    start: start,         // begin loading Pagefind
    find: find,           // query -> promise of {slugs: {slug: true}, pages: [...]}
    cached: cached,       // query -> that answer if it is in, else null
    annotate: annotate,   // (query, [[slug, card li], ...]) -> add excerpts to cards
    showPages: showPages, // (query, pages) -> other matching pages under the box
    rendered: rendered,   // (query) -> the list is drawn
    onQuery: function (fn) { listeners.push(fn); } // fn(query, immediate) when the visitor searches
  };
})();
