/* Instant filters for the directory page.
 *
 * The page works without this script: it lists the first partners, links every facet value to
 * its pre-rendered page and pages through the rest. This script turns the facet links into
 * checkboxes, keeps the filters and the sort order in the URL (shareable, back button works)
 * and filters, counts and sorts every listed partner from directory.json, which it fetches only
 * when a visitor starts using the filters, so the first page stays light at any size.
 *
 * Within a facet a partner matches any checked value; across facets it must match all. The
 * count next to a value is how many partners would match if it were checked too.
 */
(function () {
  "use strict";

  var app = document.getElementById("directory");
  if (!app || !window.fetch || !window.URLSearchParams || !history.pushState) return;

  var KEYS = ["program", "status", "region", "country", "expertise", "industry", "language"];
  var SORTS = ["status", "name", "joined"];
  var root = app.getAttribute("data-root");
  var facetsEl = document.getElementById("facets");
  var resultsEl = facetsEl.nextElementSibling;
  var cardsEl = document.getElementById("cards");
  var countEl = document.getElementById("result-count");
  var sortEl = document.getElementById("sort");
  var chipsEl = document.getElementById("chips");
  var moreRow = document.getElementById("more-row");
  var moreBtn = document.getElementById("more");
  var noMatch = document.getElementById("no-match");
  var pager = document.getElementById("pager");
  var asOf = countEl.querySelector("time");
  var total = Number(countEl.textContent.match(/\d+/)[0]);

  var inputs = {};    // facet -> value -> checkbox
  var counters = {};  // facet -> value -> count element
  var summaries = {}; // facet -> element showing how many values are checked
  var labels = {};    // facet -> value -> visible name
  var data = null;
  var loading = null;
  var list = [];      // partners matching the current filters, sorted
  var shown = cardsEl.children.length;
  var state;
  // search.js, on sites built with a search index: a query narrows the same list as the facets.
  var search = window.partnerSearch || null;

  // ---------------------------------------------------------------- facet links to checkboxes

  facetsEl.querySelector("h2").textContent = "Filter partners";
  Array.prototype.forEach.call(facetsEl.querySelectorAll("details[data-facet]"), function (det) {
    var key = det.getAttribute("data-facet");
    var summary = det.querySelector("summary");
    var ul = det.querySelector("ul");
    var fieldset = document.createElement("fieldset");
    var legend = el("legend", "vh", summary.textContent);
    inputs[key] = {};
    counters[key] = {};
    labels[key] = {};
    summaries[key] = el("span", "selected", "");
    summary.appendChild(summaries[key]);
    Array.prototype.forEach.call(ul.querySelectorAll("a[data-value]"), function (a) {
      var value = a.getAttribute("data-value");
      var label = document.createElement("label");
      var input = document.createElement("input");
      var name = a.querySelector(".label");
      var count = a.querySelector(".count");
      input.type = "checkbox";
      input.name = key;
      input.value = value;
      label.appendChild(input);
      label.appendChild(name);
      label.appendChild(document.createTextNode(" "));
      label.appendChild(count);
      a.parentNode.replaceChild(label, a);
      inputs[key][value] = input;
      counters[key][value] = count;
      labels[key][value] = name.textContent;
    });
    fieldset.appendChild(legend);
    fieldset.appendChild(ul);
    det.appendChild(fieldset);
  });

  state = readUrl();
  document.getElementById("controls").hidden = false;
  // On a phone the filters come before the partners: fold them so the partners are in view.
  if (window.matchMedia && window.matchMedia("(max-width: 55.99rem)").matches) {
    Array.prototype.forEach.call(facetsEl.querySelectorAll("details[data-facet]"), function (det) {
      if (!state.filters[det.getAttribute("data-facet")].length) det.open = false;
    });
  }
  if (pager) pager.hidden = true;
  moreRow.hidden = shown >= total;

  // ---------------------------------------------------------------- state <-> URL and controls

  function emptyState() {
    var s = { q: "", sort: "status", filters: {} };
    KEYS.forEach(function (k) { s.filters[k] = []; });
    return s;
  }

  function readUrl() {
    var params = new URLSearchParams(location.search);
    var s = emptyState();
    if (search) s.q = search.tidy(params.get("q"));
    KEYS.forEach(function (k) {
      params.getAll(k).forEach(function (v) {
        if (inputs[k] && inputs[k][v] && s.filters[k].indexOf(v) < 0) s.filters[k].push(v);
      });
    });
    var sort = params.get("sort");
    if (SORTS.indexOf(sort) >= 0) s.sort = sort;
    return s;
  }

  function query(s) {
    var params = new URLSearchParams();
    if (s.q) params.set("q", s.q);
    KEYS.forEach(function (k) {
      // Values in page order, so the same filters always give the same link.
      Object.keys(inputs[k]).forEach(function (v) {
        if (s.filters[k].indexOf(v) >= 0) params.append(k, v);
      });
    });
    if (s.sort !== "status") params.set("sort", s.sort);
    var q = params.toString();
    return q ? "?" + q : "";
  }

  function isDefault(s) {
    return !s.q && s.sort === "status" && !KEYS.some(function (k) { return s.filters[k].length; });
  }

  function fromControls() {
    var s = emptyState();
    KEYS.forEach(function (k) {
      Object.keys(inputs[k]).forEach(function (v) {
        if (inputs[k][v].checked) s.filters[k].push(v);
      });
    });
    s.sort = sortEl.value;
    s.q = search ? search.value() : "";
    return s;
  }

  function toControls(s) {
    KEYS.forEach(function (k) {
      Object.keys(inputs[k]).forEach(function (v) {
        inputs[k][v].checked = s.filters[k].indexOf(v) >= 0;
      });
      var n = s.filters[k].length;
      summaries[k].textContent = n ? n + " selected" : "";
    });
    sortEl.value = s.sort;
    if (search) search.show(s.q);
  }

  function change(next, replace) {
    state = next;
    var url = location.pathname + query(state) + location.hash;
    if (url !== location.pathname + location.search + location.hash) {
      history[replace ? "replaceState" : "pushState"](null, "", url);
    }
    update();
  }

  // ---------------------------------------------------------------- data

  function load() {
    if (!loading) {
      resultsEl.setAttribute("aria-busy", "true");
      loading = fetch(app.getAttribute("data-src"), { credentials: "same-origin" })
        .then(function (r) {
          if (!r.ok) throw new Error("HTTP " + r.status);
          return r.json();
        })
        .then(function (d) {
          prepare(d);
          data = d;
          resultsEl.removeAttribute("aria-busy");
        })
        .catch(function () {
          loading = null;
          resultsEl.removeAttribute("aria-busy");
          countEl.textContent = "The filters could not load the list of partners. " +
            "Reload the page, or use the links to browse.";
          throw new Error("directory.json unavailable");
        });
    }
    return loading;
  }

  // Each facet value shown gets a number: a partner's values are kept as numbers per facet, and
  // counting 10,000 partners is then a pass over small arrays of numbers.
  var valueIds = {};  // facet -> value -> number
  var valueCount = 0;
  var lastCounts = null;

  function prepare(d) {
    KEYS.forEach(function (k) {
      valueIds[k] = {};
      Object.keys(inputs[k]).forEach(function (v) { valueIds[k][v] = valueCount++; });
    });
    // Facet values by their place in directory.json's tables, as numbers (undefined: not shown).
    function numbers(key, table) {
      return table.map(function (row) { return valueIds[key][row[0]]; });
    }
    var program = numbers("program", d.programs);
    var status = numbers("status", d.levels);
    var region = numbers("region", d.regions);
    var expertise = numbers("expertise", d.expertise);
    var industry = numbers("industry", d.industries);
    // A region served counts as serving each of its countries (EMEA alone has over a hundred).
    var regionCountries = d.regions.map(function (row) {
      return (d.region_countries[row[0]] || []).map(function (c) { return valueIds.country[c]; });
    });
    var stamp = new Int32Array(valueCount); // partner number + 1 once a value is its own
    d.partners.forEach(function (p, i) {
      p.order = i; // partners arrive in name order
      // The numbers of its values, facet after facet (in KEYS' order), each once; ends[i] is
      // where facet KEYS[i] ends.
      var own = [];
      var ends = [];
      var add = function (id) {
        if (id !== undefined && stamp[id] !== i + 1) {
          stamp[id] = i + 1;
          own.push(id);
        }
      };
      var from = function (table) { return function (x) { add(table[x]); }; };
      p.m.forEach(from(program));
      ends.push(own.length);
      add(status[p.l]);
      ends.push(own.length);
      p.r.forEach(from(region));
      ends.push(own.length);
      p.cs.forEach(function (c) { add(valueIds.country[c]); });
      p.rs.forEach(function (r) { regionCountries[r].forEach(add); });
      ends.push(own.length);
      p.e.forEach(from(expertise));
      ends.push(own.length);
      p.d.forEach(from(industry));
      ends.push(own.length);
      p.a.forEach(function (a) { add(valueIds.language[a]); });
      ends.push(own.length);
      p.ids = Int32Array.from(own);
      p.ends = ends;
    });
  }


  // ---------------------------------------------------------------- filter, count, sort

  function update() {
    toControls(state);
    renderChips();
    if (state.q) search.find(state.q).catch(function () {}); // alongside directory.json
    if (!data) {
      load().then(update, function () {});
      return;
    }
    var hits = null;
    if (state.q) {
      hits = search.cached(state.q);
      if (!hits) {
        var asked = state.q;
        resultsEl.setAttribute("aria-busy", "true");
        search.find(asked).then(function () {
          resultsEl.removeAttribute("aria-busy");
          if (state.q === asked) update();
        }, function () {
          resultsEl.removeAttribute("aria-busy");
          if (state.q === asked) {
            countEl.textContent = "The search could not load. Reload the page, or use the filters.";
          }
        });
        return;
      }
    }
    var selected = new Uint8Array(valueCount);
    var filteredKeys = [];
    KEYS.forEach(function (k, i) {
      if (state.filters[k].length) filteredKeys.push(i);
      state.filters[k].forEach(function (v) { selected[valueIds[k][v]] = 1; });
    });
    var counts = new Int32Array(valueCount);
    var matches = [];
    var slugs = hits && hits.slugs;
    var partners = data.partners;
    for (var n = 0; n < partners.length; n++) {
      var p = partners[n];
      if (slugs && !slugs[p.s]) continue; // not found by the search: counted nowhere
      var ids = p.ids;
      var ends = p.ends;
      var failed = -1; // the one facet it fails, or -2 for more than one
      for (var f = 0; f < filteredKeys.length && failed !== -2; f++) {
        var key = filteredKeys[f];
        var any = false;
        for (var j = key ? ends[key - 1] : 0; j < ends[key] && !any; j++) any = selected[ids[j]] === 1;
        if (!any) failed = failed === -1 ? key : -2;
      }
      // A partner failing only facet k would match if one of its k values were checked.
      if (failed === -1) {
        matches.push(p);
        for (var a = 0; a < ids.length; a++) counts[ids[a]]++;
      } else if (failed >= 0) {
        for (var b = failed ? ends[failed - 1] : 0; b < ends[failed]; b++) counts[ids[b]]++;
      }
    }
    KEYS.forEach(function (k) {
      Object.keys(counters[k]).forEach(function (v) {
        var id = valueIds[k][v];
        var c = counts[id];
        if (lastCounts && lastCounts[id] === c) return; // the page already says so
        counters[k][v].textContent = c;
        inputs[k][v].parentNode.classList.toggle("zero", c === 0);
      });
    });
    lastCounts = counts;
    list = sortPartners(matches, state.sort);
    cardsEl.removeAttribute("start");
    cardsEl.textContent = "";
    shown = 0;
    showMore(false);
    var n = list.length;
    var filtered = !!state.q || KEYS.some(function (k) { return state.filters[k].length; });
    var sortWords = { status: "by status then name", name: "by name", joined: "by most recent joining" }[state.sort];
    countEl.textContent = (filtered ? n + " of " + data.partners.length + " partners match" +
      (state.q ? " \u201c" + state.q + "\u201d" : "") :
      n + " partner" + (n === 1 ? "" : "s")) + ", sorted " + sortWords + ". Statuses as of ";
    countEl.appendChild(asOf);
    countEl.appendChild(document.createTextNode("."));
    noMatch.hidden = n > 0;
    if (search) {
      search.showPages(state.q, hits && hits.pages);
      search.rendered(state.q);
    }
  }

  function sortPartners(ps, sort) {
    var out = ps.slice();
    if (sort === "status") {
      out.sort(function (a, b) { return b.l - a.l || a.order - b.order; });
    } else if (sort === "joined") {
      out.sort(function (a, b) { return a.j < b.j ? 1 : a.j > b.j ? -1 : a.order - b.order; });
    } else {
      out.sort(function (a, b) { return a.order - b.order; });
    }
    return out;
  }

  function showMore(focusFirst) {
    var size = data.page_size;
    var first = null;
    var added = [];
    var fragment = document.createDocumentFragment();
    list.slice(shown, shown + size).forEach(function (p) {
      var c = card(p);
      if (!first) first = c;
      added.push([p.s, c]);
      fragment.appendChild(c);
    });
    if (search && state.q) search.annotate(state.q, added);
    cardsEl.appendChild(fragment);
    shown = Math.min(list.length, shown + size);
    moreRow.hidden = shown >= list.length;
    if (focusFirst && first) first.querySelector("a").focus();
  }

  // ---------------------------------------------------------------- cards (same markup as _card.html)

  function el(tag, className, text) {
    var e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function shorten(items, limit) {
    if (items.length <= limit) return items;
    return items.slice(0, limit - 1).concat([(items.length - limit + 1) + " more"]);
  }

  function fact(dl, term, text) {
    var div = el("div");
    div.appendChild(el("dt", "", term));
    div.appendChild(el("dd", "", text));
    dl.appendChild(div);
  }

  function card(p) {
    var d = data;
    var li = el("li", "card");
    var head = el("div", "card-head");
    if (p.g) {
      var img = el("img", "logo");
      img.src = root + p.g;
      img.alt = "";
      img.width = 48;
      img.height = 48;
      img.loading = "lazy";
      img.decoding = "async";
      head.appendChild(img);
    } else {
      var initials = el("span", "logo initials hue-" + p.h, p.i);
      initials.setAttribute("aria-hidden", "true");
      head.appendChild(initials);
    }
    var h3 = el("h3", "card-title");
    var a = el("a", "", p.n);
    a.href = root + "partners/" + p.s + "/";
    h3.appendChild(a);
    head.appendChild(h3);
    li.appendChild(head);
    var level = d.levels[p.l];
    var badge = el("p", "badge level-" + level[0]);
    badge.appendChild(el("span", "vh", "Status: "));
    badge.appendChild(document.createTextNode(level[1]));
    li.appendChild(badge);
    var dl = el("dl", "facts");
    fact(dl, "Programs", p.p.map(function (i) { return d.programs[i][1]; }).join(", "));
    fact(dl, "Headquarters", p.c + ", " + d.countries[p.q]);
    var places = p.rs.map(function (i) { return d.regions[i][1]; })
      .concat(p.cs.map(function (c) { return d.countries[c]; }));
    fact(dl, "Serves", shorten(places, d.card_places).join(", "));
    fact(dl, "Expertise", shorten(p.e.map(function (i) { return d.expertise[i][1]; }), d.card_expertise).join(", "));
    li.appendChild(dl);
    return li;
  }

  function renderChips() {
    chipsEl.textContent = "";
    if (state.q) {
      var qli = el("li");
      var qb = el("button", "chip", "\u201c" + state.q + "\u201d");
      qb.type = "button";
      qb.setAttribute("aria-label", "Remove search " + state.q);
      qb.setAttribute("data-facet", "q");
      qli.appendChild(qb);
      chipsEl.appendChild(qli);
    }
    KEYS.forEach(function (k) {
      state.filters[k].forEach(function (v) {
        var li = el("li");
        var b = el("button", "chip", labels[k][v]);
        b.type = "button";
        b.setAttribute("aria-label", "Remove filter " + labels[k][v]);
        b.setAttribute("data-facet", k);
        b.setAttribute("data-value", v);
        li.appendChild(b);
        chipsEl.appendChild(li);
      });
    });
    chipsEl.hidden = !chipsEl.children.length;
  }

  // ---------------------------------------------------------------- events

  function clearAll() {
    var s = emptyState();
    s.sort = state.sort;
    change(s);
  }

  facetsEl.addEventListener("change", function () { change(fromControls()); });
  sortEl.addEventListener("change", function () { change(fromControls()); });
  document.getElementById("clear").addEventListener("click", clearAll);
  document.getElementById("clear-empty").addEventListener("click", function () {
    clearAll();
    sortEl.focus();
  });
  chipsEl.addEventListener("click", function (e) {
    var b = e.target.closest("button[data-facet]");
    if (!b) return;
    var next = fromControls();
    var k = b.getAttribute("data-facet");
    if (k === "q") next.q = "";
    else next.filters[k] = next.filters[k].filter(function (v) { return v !== b.getAttribute("data-value"); });
    var index = Array.prototype.indexOf.call(chipsEl.children, b.parentNode);
    change(next);
    var chips = chipsEl.querySelectorAll("button");
    (chips[Math.min(index, chips.length - 1)] || sortEl).focus();
  });
  moreBtn.addEventListener("click", function () {
    if (data) {
      showMore(true);
    } else {
      load().then(function () {
        update();
        showMore(false);
        var links = cardsEl.querySelectorAll(".card-title a");
        if (links[data.page_size]) links[data.page_size].focus();
      }, function () {});
    }
  });
  // Fetch the partners as soon as a visitor reaches for a control, not before.
  ["focusin", "pointerdown"].forEach(function (type) {
    facetsEl.addEventListener(type, function () { load().catch(function () {}); }, { once: true });
    sortEl.addEventListener(type, function () { load().catch(function () {}); }, { once: true });
    if (search) search.form.addEventListener(type, function () { load().catch(function () {}); }, { once: true });
  });
  if (search) {
    search.onQuery(function (q, immediate) {
      var next = fromControls();
      next.q = q;
      // Typing refines one search: one history entry per search, not one per keystroke.
      change(next, !!state.q && !!q && !immediate);
    });
  }
  window.addEventListener("popstate", function () {
    state = readUrl();
    update();
  });

  if (!isDefault(state)) {
    update();
  } else {
    toControls(state);
  }
})();
