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

  var merged = null;       // promise of Pagefind with the partner indexes merged in
  var indexes = [];        // the partner indexes (pagefind/partner-index.json)
  var words = null;        // Pagefind searching the main index alone: which partner words match
  var wordList = null;     // pagefind/partner-index.json "words": the word page and its partner files
  var slugList = [];       // every partner slug, sorted: the numbers in pagefind/words/ files
  var wordFiles = {};      // file name -> promise of its partner lists
  var EXACT = /^\s*".+"\s*$/;
  // Pagefind drops these characters from a query (its own test, character by character).
  var DROPPED = /^\p{Pd}|\p{Pe}|\p{Pf}|\p{Pi}|\p{Po}|\p{Ps}$/u;

  function start() {
    if (!engine) {
      // Relative to the site's base, so a site under /org/partners/ finds its own index;
      // Pagefind locates its other files from this import's URL. Partner pages are split
      // over several indexes (a search in one index of 10,000 pages takes up to seconds, in
      // twenty of 500 a fraction of that), merged into this one. Filters are only used to
      // ask for the excerpts of the partners shown: Pagefind counts every value of a filter
      // it has loaded on every search. Results map to partners through the index stage's list.
      engine = Promise.all([
        import(root + "pagefind/pagefind.js").then(function (pf) {
          // The main index alone (program and status pages, and the page of partner words):
          // a search there takes a millisecond, whatever the number of partners. Started at
          // once, so its files load while the page reads the partner list.
          if (pf.createInstance) {
            words = pf.createInstance({ basePath: root + "pagefind/", baseUrl: root });
          }
          return Promise.all([pf.options({ baseUrl: root }), words && words.options({ baseUrl: root })])
            .then(function () { return pf; });
        }),
        fetch(root + "pagefind/partner-index.json").then(function (r) {
          if (!r.ok) throw new Error("pagefind/partner-index.json: HTTP " + r.status);
          return r.json();
        })
      ]).then(function (both) {
        var pf = both[0];
        slugOf = both[1].partners;
        var seen = {};
        Object.keys(slugOf).forEach(function (id) { seen[slugOf[id]] = true; });
        slugList = Object.keys(seen).sort();
        indexes = both[1].indexes;
        if (words && both[1].words) {
          wordList = both[1].words;
          return pf;
        }
        words = null; // an index without word lists: every search searches every index
        return everyIndex(pf);
      });
      engine.catch(function () { engine = null; });
    }
    return engine;
  }

  /* Pagefind with every index merged in, for excerpts and for queries the word lists leave to
   * Pagefind. Merged when first needed: a query the word lists answer (a shared ?q= link) does
   * not wait for twenty indexes to load. */
  function everyIndex(loaded) {
    if (!merged) {
      merged = (loaded ? Promise.resolve(loaded) : start()).then(function (pf) {
        return Promise.all(indexes.map(function (path) {
          return pf.mergeIndex(root + "pagefind/" + path, { baseUrl: root });
        })).then(function () { return pf; });
      });
      merged.catch(function () { merged = null; });
    }
    return merged;
  }

  function clean(q) {
    return String(q || "").replace(/\s+/g, " ").trim().slice(0, MAX_QUERY);
  }

  /* The words Pagefind searches for in `q`, as it splits them (characters it drops, dropped). */
  function terms(q) {
    return q.split(" ").filter(function (word) {
      return Array.prototype.some.call(word, function (c) { return !DROPPED.test(c); });
    });
  }

  /* Whether the partner word lists answer `q` as Pagefind would: not for an exact "phrase",
   * nor near a word the index stage could not put on the word page (listed as unsafe). */
  function byWords(q) {
    if (!words || EXACT.test(q)) return false;
    var unsafe = wordList.unsafe || [];
    return !terms(q).some(function (t) {
      // Pagefind compares words lowercased and without accents; a stem may end a word early.
      t = t.toLowerCase().normalize("NFD").replace(/\p{M}/gu, "");
      return unsafe.some(function (u) {
        var n = Math.min(3, u.length, t.length);
        return u.slice(0, n) === t.slice(0, n);
      });
    });
  }

  function wordFile(name) {
    if (!wordFiles[name]) {
      wordFiles[name] = fetch(root + "pagefind/words/" + name).then(function (r) {
        if (!r.ok) throw new Error("pagefind/words/" + name + ": HTTP " + r.status);
        return r.json();
      });
      wordFiles[name].catch(function () { delete wordFiles[name]; });
    }
    return wordFiles[name];
  }

  /* The partners (numbers in slugList) holding any of the words at these word-page locations. */
  function partnersAt(locations) {
    var chunks = wordList.chunks;
    var wanted = {};
    locations.forEach(function (at) {
      if (at < 0 || at >= wordList.count) return;
      var lo = 0, hi = chunks.length - 1;
      while (lo < hi) {
        var mid = (lo + hi + 1) >> 1;
        if (chunks[mid][0] <= at) lo = mid; else hi = mid - 1;
      }
      (wanted[lo] = wanted[lo] || []).push(at);
    });
    var marks = new Uint8Array(slugList.length);
    return Promise.all(Object.keys(wanted).map(function (k) {
      return wordFile(chunks[k][1]).then(function (lists) {
        wanted[k].forEach(function (at) {
          var list = lists[at - chunks[k][0]];
          for (var i = 0, n = 0; i < list.length; i++) {
            n += list[i];
            marks[n] = 1;
          }
        });
      });
    })).then(function () { return marks; });
  }

  /* Pagefind's answer from the main index alone: for each word, the partner words it matched
   * (their locations on the word page), turned into partners; across words, partners holding
   * them all. A word Pagefind matches to nothing is left out, as Pagefind leaves it out. */
  function searchWords(q) {
    var page = wordList.page;
    var asked = terms(q);
    var searches = {}; // one search per distinct query: a one-word query is its own word
    function once(text) {
      if (!searches[text]) searches[text] = words.search(text);
      return searches[text];
    }
    return Promise.all([once(q)].concat(asked.map(once)))
      .then(function (all) {
        var others = all[0].results.filter(function (r) { return r.id !== page; });
        var found = [];
        all.slice(1).forEach(function (res) {
          var hit = res.results.filter(function (r) { return r.id === page; })[0];
          if (hit) found.push(partnersAt(hit.words));
        });
        return Promise.all(found).then(function (sets) {
          var began = Date.now();
          var slugs = {};
          if (sets.length) {
            for (var n = 0; n < slugList.length; n++) {
              var every = true;
              for (var s = 0; s < sets.length && every; s++) every = sets[s][n] === 1;
              if (every) slugs[slugList[n]] = true;
            }
          }
          // Time spent searching and counting, not fetching files.
          var took = all.reduce(function (sum, res, i) {
            return all.indexOf(res) < i ? sum : sum + ((res.timings && res.timings.search) || 0);
          }, Date.now() - began);
          return { slugs: slugs, others: others, hits: null, took: took };
        });
      });
  }

  /* Pagefind's answer from every index: each matching page, partner or not. */
  function searchAll(q) {
    return everyIndex().then(function (pf) { return pf.search(q); }).then(function (res) {
      var took = (res.timings || []).reduce(function (sum, t) { return sum + (t.search || 0); }, 0);
      var slugs = {};
      var hits = {};
      var others = [];
      res.results.forEach(function (r) {
        var slug = slugOf[r.id];
        if (slug) {
          slugs[slug] = true;
          hits[slug] = r;
        } else if (!wordList || r.id !== wordList.page) {
          others.push(r);
        }
      });
      return { slugs: slugs, others: others, hits: hits, took: took };
    });
  }

  /* The listed partners whose pages match `q`, as {slug: true}, and other matching pages. */
  function find(q) {
    q = clean(q);
    latest = q;
    if (!answers[q]) {
      // Partner pages are in the partner indexes, every other page in the main index is a
      // program or status page, named under the box. Searches wait for the one in progress
      // (Pagefind cannot stop one), and a query typed over in the meantime is never
      // searched: the newest words are answered after one search at most.
      var turn = running.then(function () {
        if (q !== latest) return null;
        return start().then(function () {
          return (byWords(q) ? searchWords(q) : searchAll(q)).then(function (found) {
            lastTook = found.took;
            return found;
          });
        });
      });
      running = turn.catch(function () {});
      answers[q] = turn.then(function (found) {
        if (!found) {
          delete answers[q];
          return null;
        }
        return Promise.all(found.others.slice(0, MAX_PAGES).map(function (r) { return r.data(); }))
          .then(function (data) {
            var pages = data.map(function (d) {
              return { url: d.url, title: (d.meta && d.meta.title) || d.url, excerpt: d.excerpt };
            });
            settled[q] = { slugs: found.slugs, pages: pages, hits: found.hits };
            return settled[q];
          });
      });
      answers[q].catch(function () { delete answers[q]; });
    }
    return answers[q];
  }

  function cached(q) {
    return settled[clean(q)] || null;
  }

  /* Excerpts for the given slugs: one fragment per card shown. Pagefind is asked about those
   * partners alone (a filter on their slugs), unless the query's own results are at hand. */
  function excerpts(q, slugs) {
    var missing = slugs.filter(function (s) { return !((q + "\n" + s) in excerptCache); });
    if (!missing.length) return Promise.resolve();
    // The query's answer is in (its cards are drawn): asking find() again would mark it as the
    // newest query and drop one the visitor has typed since.
    return (answers[q] || find(q)).then(function (answer) {
      if (!answer) return [];
      if (answer.hits) return answer.hits;
      return everyIndex().then(function (pf) {
        return pf.search(q, { filters: { slug: { any: missing } } });
      }).then(function (res) {
        var hits = {};
        res.results.forEach(function (r) { if (slugOf[r.id]) hits[slugOf[r.id]] = r; });
        return hits;
      });
    }).then(function (hits) {
      return Promise.all(missing.map(function (slug) {
        var hit = hits[slug];
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
    start().then(function () {
      if (q.length < SHORT || answers[q] || value() !== q) return null;
      if (byWords(q)) return Promise.all(terms(q).map(function (t) { return words.preload(t); }));
      return everyIndex().then(function (pf) { return pf.preload(q); });
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
    // The visitor is about to type: load the word lists' index first, then every index.
    box.addEventListener(type, function () {
      start().then(function () { return everyIndex(); }).catch(function () {});
    }, { once: true });
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
