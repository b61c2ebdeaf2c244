// The recommendation ranking, mirrored line for line from partnerdir/recommend.py.
// Both must produce exactly the results in tests/recommend_vectors.json (node --test tests/js/
// and pytest check that). Python prepares the evidence (recommend.json); this file only weighs
// it. Scores are whole numbers and ties break on the partner's position in the data.

export const HELP_KINDS = ["buy", "deliver", "both"];
const LOCATION = "location";

const has = (object, key) => Object.prototype.hasOwnProperty.call(object, key);
const count = (counts, key) => (has(counts, key) ? counts[key] : 0);

// A query with unknown or repeated answers dropped, so a hand-edited link still works.
export function normalize(data, raw) {
  const country = String(raw.country || "").toUpperCase();
  const seen = [];
  for (const area of raw.expertise || []) {
    if (has(data.expertise, area) && !seen.includes(area)) seen.push(area);
  }
  const industry = raw.industry || "";
  const language = String(raw.language || "").toLowerCase();
  const kind = raw.help || "";
  return {
    country: has(data.countries, country) ? country : "",
    expertise: seen,
    industry: has(data.industries, industry) ? industry : "",
    language: has(data.languages, language) ? language : "",
    help: HELP_KINDS.includes(kind) ? kind : "",
  };
}

const plural = (n, word) => (n === 1 ? `${n} ${word}` : `${n} ${word}s`);

// One partner against one query: null if it fails a hard requirement, else its result.
function score(data, q, p, index) {
  const w = data.weights;
  const sells = data.help.buy.some((pid) => p.programs.includes(pid));
  const delivers = data.help.deliver.some((pid) => p.programs.includes(pid));
  if (q.help === "buy" && !sells) return null;
  if (q.help === "deliver" && !delivers) return null;
  if (q.help === "both" && !(sells || delivers)) return null;
  if (
    q.expertise.length > 0 &&
    !q.expertise.some(
      (area) => p.expertise.includes(area) || count(p.projects, area) > 0 || count(p.engineers, area) > 0,
    )
  ) {
    return null;
  }

  const reasons = [];
  const lacks = [];
  const gaps = [];
  let total = 0;

  let helpTier = 0;
  if (q.help === "buy") {
    reasons.push("sells subscriptions");
  } else if (q.help === "deliver") {
    reasons.push("delivers projects");
  } else if (q.help === "both") {
    if (sells && delivers) {
      reasons.push("sells subscriptions and delivers projects");
    } else if (sells) {
      helpTier = 1;
      reasons.push("sells subscriptions");
      lacks.push("doesn't deliver projects");
      gaps.push("help");
    } else {
      helpTier = 1;
      reasons.push("delivers projects");
      lacks.push("doesn't sell subscriptions");
      gaps.push("help");
    }
  }

  let reach = "";
  let reachTier = 0;
  if (q.country) {
    const country = q.country;
    const place = data.countries[country].name;
    const region = data.countries[country].region;
    const served = p.countries.includes(country);
    const regionServed = p.regions.includes(region);
    if (served || p.hq === country) {
      total += w.serves_country;
      reasons.push(served ? `serves ${place}` : `headquartered in ${place}`);
    } else {
      if (p.hq_region === region) {
        total += w.headquartered_in_region;
        reasons.push("headquartered in your region");
      } else if (regionServed) {
        total += w.serves_region;
      }
      if (regionServed) reasons.push(`serves ${data.regions[region].name}`);
    }
    if (served || regionServed || p.hq === country) {
      reach = "local";
    } else if (p.remote) {
      reach = "remote";
      reachTier = 1;
      reasons.push("delivers remotely");
      lacks.push(`doesn't serve ${place} on site`);
      gaps.push(LOCATION);
    } else {
      reach = "none";
      reachTier = 2;
      lacks.push(`doesn't serve ${place} or deliver remotely`);
      gaps.push(LOCATION);
    }
  }

  for (const area of q.expertise) {
    const noun = data.expertise[area].noun;
    const listed = p.expertise.includes(area);
    const projects = count(p.projects, area);
    const engineers = count(p.engineers, area);
    if (listed) total += w.expertise_listed;
    total += w.project * Math.min(projects, w.project_cap);
    total += w.certified_engineer * Math.min(engineers, w.certified_engineer_cap);
    if (projects > 0) {
      reasons.push(`${plural(projects, `successful ${noun} project`)} in ${data.project_window}`);
    }
    if (engineers > 0) reasons.push(`${plural(engineers, "engineer")} certified in ${noun}`);
    if (listed && projects === 0 && engineers === 0) reasons.push(`lists ${noun} expertise`);
    if (!listed && projects === 0 && engineers === 0) {
      lacks.push(`no ${noun} experience listed`);
      gaps.push("expertise");
    }
  }

  let rank = data.levels.findIndex((level) => level.id === p.level);
  if (rank < 0) rank = 0;
  total += w.level_step * rank;
  if (rank > 0) reasons.push(`${data.levels[rank].name} status`);

  if (q.industry) {
    const noun = data.industries[q.industry].noun;
    if (p.industries.includes(q.industry)) {
      total += w.industry;
      reasons.push(`works in ${noun}`);
    } else {
      lacks.push(`no ${noun} experience listed`);
      gaps.push("industry");
    }
  }

  if (q.language) {
    const name = data.languages[q.language];
    if (p.languages.includes(q.language)) {
      total += w.language;
      reasons.push(`works in ${name}`);
    } else {
      lacks.push(`doesn't work in ${name}`);
      gaps.push("language");
    }
  }

  return {
    result: {
      slug: p.slug,
      name: p.name,
      city: p.city,
      hq: p.hq,
      level: p.level,
      reach,
      score: total,
      reasons,
      lacks,
      gaps,
    },
    order: [helpTier, reachTier, -total, index],
  };
}

function byOrder(a, b) {
  for (let i = 0; i < a.order.length; i += 1) {
    if (a.order[i] !== b.order[i]) return a.order[i] - b.order[i];
  }
  return 0;
}

function results(data, q) {
  const scored = [];
  data.partners.forEach((partner, index) => {
    const one = score(data, q, partner, index);
    if (one !== null) scored.push(one);
  });
  scored.sort(byOrder);
  return scored.map((one) => one.result);
}

function isLocalTo(data, p, region) {
  return (
    p.regions.includes(region) ||
    p.hq_region === region ||
    p.countries.some((c) => has(data.countries, c) && data.countries[c].region === region)
  );
}

// When nobody nearby has everything asked for: say so, and what would widen the search.
// Each suggestion is only offered if it finds at least one partner with nothing lacking.
function advice(data, q, found) {
  if (found.some((r) => r.gaps.length === 0)) return null;
  const place = q.country ? data.countries[q.country].name : "";
  let message;
  if (found.length === 0) {
    message = "No partner in the directory matches these answers yet.";
  } else if (place) {
    message = `No partner serving ${place} has everything you asked for; the closest matches are below.`;
  } else {
    message = "No partner has everything you asked for; the closest matches are below.";
  }
  const suggestions = [];
  const offer = (text, wider) => {
    const n = results(data, wider).filter((r) => r.gaps.length === 0).length;
    if (n > 0) {
      const matches = n === 1 ? "1 partner matches" : `${n} partners match`;
      suggestions.push({ text: `${text}: ${matches} everything else.`, query: wider, partners: [] });
    }
  };
  if (q.industry) {
    offer(`Leave out the industry (${data.industries[q.industry].name})`, { ...q, industry: "" });
  }
  if (q.language) offer(`Leave out the language (${data.languages[q.language]})`, { ...q, language: "" });
  if (q.help) offer("Ask for any kind of help", { ...q, help: "" });
  for (const area of q.expertise) {
    offer(`Leave out ${data.expertise[area].noun}`, {
      ...q,
      expertise: q.expertise.filter((e) => e !== area),
    });
  }
  if (q.country) {
    const bySlug = new Map(data.partners.map((p) => [p.slug, p]));
    for (const neighbour of data.regions[data.countries[q.country].region].neighbours) {
      const near = found
        .filter((r) => r.gaps.length === 1 && r.gaps[0] === LOCATION && isLocalTo(data, bySlug.get(r.slug), neighbour))
        .slice(0, data.shortlist);
      if (near.length > 0) {
        suggestions.push({
          text:
            `In the neighbouring region ${data.regions[neighbour].name}, ` +
            `${near.length === 1 ? "this partner has" : "these partners have"} everything else you asked for:`,
          query: null,
          partners: near.map((r) => ({ slug: r.slug, name: r.name })),
        });
      }
    }
  }
  return { message, suggestions };
}

// The ranked partners for a query, best first, with reasons, and advice if nothing fits well.
export function rank(data, rawQuery) {
  const q = normalize(data, rawQuery);
  const found = results(data, q);
  return { query: q, results: found, advice: advice(data, q, found) };
}
