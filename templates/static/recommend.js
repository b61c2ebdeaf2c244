// The recommendation questionnaire on /recommend/.
//
// Without this script the page explains itself and links to the country pages, which carry
// recommendations computed at build time. With it, the form appears; every answer re-ranks the
// partners at once, using the same ranking as the build (recommend-rank.js, pinned to Python's
// by tests/recommend_vectors.json) over the evidence in recommend.json. The answers live in the
// query string, so a recommendation can be bookmarked or shared, and back and forward work.
// Partner text is only ever set as textContent, never parsed as HTML.

const app = document.getElementById("recommend");

if (app && window.fetch && window.URLSearchParams && history.pushState) {
  start(app).catch((error) => {
    const status = document.getElementById("rec-status");
    document.getElementById("rec-results").hidden = false;
    status.textContent = "The recommendations could not be loaded. The country pages below list recommended partners.";
    document.getElementById("rec-nojs").hidden = false;
    console.warn(error);
  });
}

async function start(root) {
  const form = document.getElementById("rec-form");
  const results = document.getElementById("rec-results");
  const status = document.getElementById("rec-status");
  const cardsEl = document.getElementById("rec-cards");
  const adviceEl = document.getElementById("rec-advice");
  const moreRow = document.getElementById("rec-more-row");
  const moreBtn = document.getElementById("rec-more");
  const siteRoot = root.getAttribute("data-root");

  results.hidden = false;
  status.textContent = "Loading partners…";

  const [data, ranking] = await Promise.all([
    fetch(root.getAttribute("data-src"), { credentials: "same-origin" }).then((r) => {
      if (!r.ok) throw new Error(`recommend.json: HTTP ${r.status}`);
      return r.json();
    }),
    import(root.getAttribute("data-rank")),
  ]);

  let shown = data.shortlist;
  let found = [];

  // ------------------------------------------------------------------ answers <-> URL and form

  function fromUrl() {
    const params = new URLSearchParams(location.search);
    return {
      country: params.get("country") || "",
      expertise: params.getAll("expertise"),
      industry: params.get("industry") || "",
      language: params.get("language") || "",
      help: params.get("help") || "",
    };
  }

  function fromForm() {
    const fields = form.elements;
    return {
      country: fields.country.value,
      expertise: Array.from(form.querySelectorAll('input[name="expertise"]:checked'), (box) => box.value),
      industry: fields.industry.value,
      language: fields.language.value,
      help: (form.querySelector('input[name="help"]:checked') || { value: "" }).value,
    };
  }

  function toForm(q) {
    const fields = form.elements;
    fields.country.value = q.country;
    fields.industry.value = q.industry;
    fields.language.value = q.language;
    for (const box of form.querySelectorAll('input[name="expertise"]')) box.checked = q.expertise.includes(box.value);
    for (const radio of form.querySelectorAll('input[name="help"]')) radio.checked = radio.value === q.help;
  }

  function queryString(q) {
    const params = new URLSearchParams();
    if (q.country) params.set("country", q.country);
    for (const area of q.expertise) params.append("expertise", area);
    if (q.industry) params.set("industry", q.industry);
    if (q.language) params.set("language", q.language);
    if (q.help) params.set("help", q.help);
    const text = params.toString();
    return text ? `?${text}` : location.pathname;
  }

  function go(q) {
    const target = queryString(q);
    if (target !== (location.search || location.pathname)) history.pushState(null, "", target);
    toForm(q);
    update();
  }

  // ------------------------------------------------------------------------------- rendering

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function levelName(id) {
    const level = data.levels.find((lv) => lv.id === id);
    return level ? level.name : id;
  }

  function card(r) {
    const li = el("li", "card rec-card");
    const head = el("div", "card-head");
    const title = el("h3", "card-title");
    const link = el("a", "", r.name);
    link.href = `${siteRoot}partners/${encodeURIComponent(r.slug)}/`;
    title.appendChild(link);
    head.appendChild(title);
    li.appendChild(head);
    const badge = el("p", `badge level-${r.level}`);
    badge.appendChild(el("span", "vh", "Status: "));
    badge.appendChild(document.createTextNode(levelName(r.level)));
    li.appendChild(badge);
    const place = data.countries[r.hq] ? data.countries[r.hq].name : r.hq;
    li.appendChild(el("p", "rec-where", `${r.city}, ${place}`));
    li.appendChild(list("Why", "reasons", r.reasons));
    if (r.lacks.length > 0) li.appendChild(list("Lacks", "lacks", r.lacks));
    return li;
  }

  function list(label, className, items) {
    const wrap = el("div", `rec-${className}`);
    wrap.appendChild(el("p", "rec-label", label));
    const ul = el("ul", className);
    for (const item of items) ul.appendChild(el("li", "", item));
    wrap.appendChild(ul);
    return wrap;
  }

  function advice(a) {
    adviceEl.replaceChildren();
    adviceEl.hidden = !a;
    if (!a) return;
    adviceEl.appendChild(el("p", "rec-advice-message", a.message));
    if (a.suggestions.length === 0) return;
    const ul = el("ul", "rec-suggestions");
    for (const s of a.suggestions) {
      const li = el("li");
      if (s.query) {
        const link = el("a", "", s.text);
        link.href = queryString(s.query);
        link.addEventListener("click", (event) => {
          event.preventDefault();
          go(s.query);
        });
        li.appendChild(link);
      } else {
        li.appendChild(document.createTextNode(`${s.text} `));
        s.partners.forEach((p, i) => {
          const link = el("a", "", p.name);
          link.href = `${siteRoot}partners/${encodeURIComponent(p.slug)}/`;
          if (i > 0) li.appendChild(document.createTextNode(", "));
          li.appendChild(link);
        });
        li.appendChild(document.createTextNode("."));
      }
      ul.appendChild(li);
    }
    adviceEl.appendChild(ul);
  }

  function draw() {
    cardsEl.replaceChildren(...found.slice(0, shown).map(card));
    moreRow.hidden = found.length <= shown;
  }

  function update() {
    const q = fromForm();
    shown = data.shortlist;
    if (!q.country && q.expertise.length === 0) {
      found = [];
      draw();
      advice(null);
      status.textContent = "Choose where your project is, or what it needs, to see recommended partners.";
      return;
    }
    const out = ranking.rank(data, q);
    found = out.results;
    draw();
    advice(out.advice);
    status.textContent = countText();
  }

  function countText() {
    const n = found.length;
    if (n === 0) return "No partner matches.";
    const partners = n === 1 ? "1 partner matches" : `${n} partners match`;
    return n > shown ? `${partners}; showing the best ${Math.min(shown, n)}.` : `${partners}.`;
  }

  // ---------------------------------------------------------------------------------- events

  form.addEventListener("change", () => go(fromForm()));
  form.addEventListener("submit", (event) => event.preventDefault());
  form.addEventListener("reset", (event) => {
    event.preventDefault();
    go({ country: "", expertise: [], industry: "", language: "", help: "" });
  });
  moreBtn.addEventListener("click", () => {
    const first = shown;
    shown += data.shortlist;
    draw();
    status.textContent = countText();
    const next = cardsEl.children[first];
    if (next) next.querySelector("a").focus();
  });
  window.addEventListener("popstate", () => {
    toForm(ranking.normalize(data, fromUrl()));
    update();
  });

  toForm(ranking.normalize(data, fromUrl()));
  update();
  document.getElementById("rec-nojs").hidden = true;
  form.hidden = false;
}
