#!/usr/bin/env python3
"""Write N valid synthetic partner records for benchmarks: `python benchmarks/generate.py N OUT_DIR`.

Records are in the project's own formats (.yaml and .md with front matter), shaped like the
sample content: up to 30 certifications and 40 projects each, a Markdown body of a few
paragraphs, about 6-7 KB per record. Every id comes from data/programs.yaml and every date is on
or before 2026-11-01, so `build.py check --as-of 2026-11-15` passes on the output. Evidence is
sized for a target status level, so the levels spread like a real directory's (many
Provisional and Bronze partners, few Platinum).

Importable (`generate(n, out_dir, seed, fmt)`) so the build benchmark against Hugo and Eleventy
can reuse it; those read name, headquarters.city/country, joined, programs, expertise,
certifications, projects, website and the Markdown body from the .md files.

Each record is drawn from its own random generator seeded with (seed, index), so record i is the
same whatever N is.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import re
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from partnerdir.rules import Rules, country_name, language_name, load_rules  # noqa: E402

AS_OF = dt.date(2026, 11, 15)
LATEST = dt.date(2026, 11, 1)  # no evidence after this day
MAX_CERTIFICATIONS = 30
MAX_PROJECTS = 40
# Share of partners aimed at each level, lowest first (provisional, bronze, silver, gold, platinum).
LEVEL_SHARES = (0.30, 0.27, 0.22, 0.14, 0.07)

# Head-office cities and the languages spoken there; only countries in programs.yaml's regions are used.
CITIES = {
    "US": (["New York", "Austin", "Chicago", "Seattle", "Denver", "Atlanta"], ["en", "es"]),
    "CA": (["Toronto", "Montreal", "Vancouver", "Calgary"], ["en", "fr"]),
    "MX": (["Mexico City", "Guadalajara", "Monterrey"], ["es", "en"]),
    "BR": (["São Paulo", "Rio de Janeiro", "Curitiba", "Porto Alegre"], ["pt", "en"]),
    "AR": (["Buenos Aires", "Córdoba", "Rosario"], ["es", "en"]),
    "CL": (["Santiago", "Valparaíso"], ["es", "en"]),
    "CO": (["Bogotá", "Medellín"], ["es", "en"]),
    "PE": (["Lima", "Arequipa"], ["es"]),
    "GB": (["London", "Manchester", "Edinburgh", "Bristol"], ["en"]),
    "IE": (["Dublin", "Cork"], ["en", "ga"]),
    "DE": (["Berlin", "Munich", "Hamburg", "Cologne", "Frankfurt"], ["de", "en"]),
    "AT": (["Vienna", "Graz"], ["de", "en"]),
    "CH": (["Zurich", "Geneva", "Basel"], ["de", "fr", "en"]),
    "FR": (["Paris", "Lyon", "Toulouse", "Nantes"], ["fr", "en"]),
    "ES": (["Madrid", "Barcelona", "Valencia"], ["es", "ca", "en"]),
    "PT": (["Lisbon", "Porto"], ["pt", "en"]),
    "IT": (["Milan", "Rome", "Turin"], ["it", "en"]),
    "NL": (["Amsterdam", "Rotterdam", "Utrecht"], ["nl", "en"]),
    "BE": (["Brussels", "Antwerp", "Ghent"], ["nl", "fr", "en"]),
    "SE": (["Stockholm", "Gothenburg", "Malmö"], ["sv", "en"]),
    "NO": (["Oslo", "Bergen"], ["no", "en"]),
    "DK": (["Copenhagen", "Aarhus"], ["da", "en"]),
    "FI": (["Helsinki", "Tampere"], ["fi", "sv", "en"]),
    "PL": (["Warsaw", "Kraków", "Wrocław"], ["pl", "en"]),
    "CZ": (["Prague", "Brno"], ["cs", "en"]),
    "RO": (["Bucharest", "Cluj-Napoca"], ["ro", "en"]),
    "GR": (["Athens", "Thessaloniki"], ["el", "en"]),
    "TR": (["Istanbul", "Ankara", "Izmir"], ["tr", "en"]),
    "AE": (["Dubai", "Abu Dhabi"], ["ar", "en"]),
    "SA": (["Riyadh", "Jeddah"], ["ar", "en"]),
    "IL": (["Tel Aviv", "Haifa"], ["he", "en"]),
    "EG": (["Cairo", "Alexandria"], ["ar", "en"]),
    "NG": (["Lagos", "Abuja"], ["en", "yo"]),
    "KE": (["Nairobi", "Mombasa"], ["en", "sw"]),
    "ZA": (["Johannesburg", "Cape Town", "Durban"], ["en", "af", "zu"]),
    "IN": (["Bengaluru", "Mumbai", "Pune", "Hyderabad", "Chennai"], ["en", "hi"]),
    "LK": (["Colombo", "Kandy"], ["si", "ta", "en"]),
    "SG": (["Singapore"], ["en", "zh", "ms"]),
    "MY": (["Kuala Lumpur", "Penang"], ["ms", "en"]),
    "ID": (["Jakarta", "Surabaya", "Bandung"], ["id", "en"]),
    "TH": (["Bangkok", "Chiang Mai"], ["th", "en"]),
    "VN": (["Ho Chi Minh City", "Hanoi"], ["vi", "en"]),
    "PH": (["Manila", "Cebu"], ["en", "tl"]),
    "JP": (["Tokyo", "Osaka", "Fukuoka"], ["ja", "en"]),
    "KR": (["Seoul", "Busan"], ["ko", "en"]),
    "AU": (["Sydney", "Melbourne", "Brisbane", "Perth"], ["en"]),
    "NZ": (["Auckland", "Wellington"], ["en", "mi"]),
}

NAME_FIRST = ["Northwind", "Blue Harbor", "Cedar", "Granite", "Silver Birch", "Meridian", "Summit",
              "Lighthouse", "Kestrel", "Aurora", "Copperleaf", "Riverbend", "Ironbridge", "Juniper",
              "Halcyon", "Quartz", "Tidewater", "Evergreen", "Falcon Ridge", "Larkspur", "Obsidian",
              "Pinecrest", "Saffron", "Basalt", "Monsoon", "Sierra", "Coral Bay", "Tundra", "Mistral",
              "Cobalt", "Amber Line", "Highgate", "Westbrook", "Nimbus", "Orchard", "Polaris"]
NAME_SECOND = ["Integration", "Systems", "Digital", "Consulting", "Software", "Technologies", "Labs",
               "Solutions", "Networks", "Cloud", "Partners", "Engineering", "Data", "Connect"]
NAME_SUFFIX = ["GmbH", "Ltd", "Inc.", "S.A.", "B.V.", "AB", "Pty Ltd", "LLC", "S.r.l.", "Oy", "AS", ""]

WORK = {
    "api-manager": ["Public API gateway", "Open banking APIs", "Partner API portal",
                    "API monetisation platform", "Mobile app backend APIs", "Rate-limited public APIs"],
    "integrator": ["ERP and CRM integration", "Billing system integration", "Order management hub",
                   "Document exchange hub", "Claims processing integration", "Supply chain messaging"],
    "identity-server": ["Customer identity platform", "Single sign-on rollout", "Citizen login service",
                        "Workforce identity federation", "Consent management service"],
    "streaming-integrator": ["Real-time fraud signals", "Streaming telemetry pipeline",
                             "Event-driven inventory", "Change data capture pipeline"],
}
CUSTOMERS = ["a regional bank", "a mobile operator", "an insurer", "a hospital group", "a city council",
             "a grocery chain", "a logistics provider", "a utility", "a university", "a car maker",
             "an airline", "a broadcaster", "a fashion retailer", "a ministry of finance", "a port authority",
             "a pension fund", "a satellite operator", "a hotel group", "a rail operator", "a credit union"]

PARAGRAPHS = [
    "{name} is a {program} based in {city}. It works with {industries} across {countries}, and its "
    "engineers have delivered {products} projects since {year}.",
    "The team designs, builds and runs integration platforms end to end: architecture reviews, "
    "**proof-of-concept** sprints, migration from legacy middleware and round-the-clock operations "
    "support. Most engagements start with a two-week discovery and end with a handover to the "
    "customer's own platform team.",
    "Recent work includes {project_a} and {project_b}. Customers choose {short} for its certified "
    "engineers, its local presence and its habit of documenting everything it builds.",
    "Services offered:\n\n- architecture and security reviews\n- implementation and migration\n"
    "- training for in-house developers\n- managed operations and upgrades",
    "{short} publishes its delivery playbook and reference architectures openly and speaks regularly "
    "at regional developer meetups. It hires graduates every year and pairs each one with a certified "
    "mentor for their first projects.",
    "Engagements are priced in local currency under local contract law. The team works in {languages} "
    "and can deliver remotely when a project needs specialists from several countries.",
    "Every project ends with a written handover: the architecture as built, the runbooks the operations "
    "team needs at three in the morning, the test suites that guard each integration and a list of the "
    "decisions that were made along the way and why. Customers keep all of it, and many renew their "
    "support contract because the second year is when this pays off.",
    "> \"{short} understood our legacy systems better than we did after two weeks.\" — head of "
    "architecture at {customer}",
]

_PLAIN = re.compile(r"^[A-Za-z0-9À-ɏ][A-Za-z0-9À-ɏ .'()/:@-]*$")


def _scalar(value: str) -> str:
    """Plain when that reads back as the same text, double-quoted otherwise."""
    if (_PLAIN.match(value) and ": " not in value and not value.endswith(":")
            and value.lower() not in ("true", "false", "null", "yes", "no", "on", "off")):
        return value
    return json.dumps(value, ensure_ascii=False)


def _wrap(paragraph: str) -> str:
    """Prose wrapped at 100 columns like the sample records; lists and quotes left as written."""
    if paragraph.startswith((">", "Services")):
        return paragraph
    return textwrap.fill(paragraph, 100, break_on_hyphens=False)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower().encode("ascii", "ignore").decode()).strip("-")


def _day(rng: random.Random, first: dt.date, last: dt.date) -> dt.date:
    return first + dt.timedelta(days=rng.randint(0, max((last - first).days, 0)))


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _target(rng: random.Random, rules: Rules, level: int) -> dict[str, int]:
    """Metric values that earn exactly `level` (an index into rules.levels)."""
    levels = rules.levels
    values = {}
    for metric in ("certified_engineers", "successful_projects", "subscription_sales"):
        if level == 0:
            low, high = 0, levels[1].minimums[metric] - 1
        else:
            low = levels[level].minimums[metric]
            high = (levels[level + 1].minimums[metric] - 1) if level + 1 < len(levels) else low * 3 // 2
        values[metric] = rng.randint(low, max(low, high))
    return values


def _programs(rng: random.Random, rules: Rules) -> list[str]:
    """One program, sometimes two that do not imply each other (never VAR with what it includes)."""
    ids = [p.id for p in rules.programs]
    first = rng.choices(ids, weights=[2, 2, 4, 3][: len(ids)] + [1] * max(len(ids) - 4, 0))[0]
    chosen = [first]
    if rng.random() < 0.15:
        implied = set(rules.program_by_id[first].implies)
        others = [p for p in ids
                  if p != first and p not in implied and first not in rules.program_by_id[p].implies]
        if others:
            chosen.append(rng.choice(others))
    return chosen


def partner(index: int, seed: int, rules: Rules) -> dict:
    """One partner's fields (the body as 'description'), drawn from its own random generator."""
    rng = random.Random(f"{seed}:{index}")
    regions = rules.region_of_country
    country = rng.choice([c for c in CITIES if c in regions])
    cities, languages = CITIES[country]
    city = rng.choice(cities)
    name = f"{rng.choice(NAME_FIRST)} {rng.choice(NAME_SECOND)}"
    short = name
    suffix = rng.choice(NAME_SUFFIX)
    name = f"{name} {suffix}".strip()
    slug = f"{_slug(short)}-{index:05d}"

    level = rng.choices(range(len(rules.levels)), weights=LEVEL_SHARES[: len(rules.levels)])[0]
    joined = (_day(rng, dt.date(2025, 6, 1), dt.date(2026, 10, 15)) if level == 0 and rng.random() < 0.8
              else _day(rng, dt.date(2012, 1, 1), dt.date(2023, 6, 30)))
    programs = _programs(rng, rules)
    counted = {m for p in rules.implied_programs(programs) for m in rules.program_by_id[p].counts}
    target = _target(rng, rules, level)

    region = regions[country]
    neighbours = [c for c in CITIES if regions.get(c) == region and c != country]
    served = [country, *rng.sample(neighbours, k=min(len(neighbours), rng.randint(0, 4)))]
    products_by_expertise = {p.expertise: p.id for p in rules.products}
    product_expertise = [e for e in products_by_expertise if e in rules.expertise_by_id]
    expertise = rng.sample(product_expertise, k=rng.randint(1, min(3, len(product_expertise))))
    others = [e.id for e in rules.expertise if e.id not in expertise]
    expertise += rng.sample(others, k=rng.randint(0, min(2, len(others))))
    products = [products_by_expertise[e] for e in expertise if e in products_by_expertise]
    certs_for = {p: [c.id for c in rules.certifications if c.product == p] for p in products}
    cert_ids = [c for p in products for c in certs_for[p]] or [rules.certifications[0].id]
    prefix = "".join(w[0] for w in short.split()).upper()[:3] + f"{index % 100:02d}"

    engineers = target["certified_engineers"] if "certified_engineers" in counted else rng.randint(0, 3)
    certifications = []
    for i in range(engineers):  # current: issued in the last two years, expiring after the as-of date
        issued = _day(rng, dt.date(2025, 1, 1), LATEST)
        certifications.append((rng.choice(cert_ids), f"{prefix}-{i + 1:02d}", issued))
    for _ in range(rng.randint(6, min(MAX_CERTIFICATIONS - engineers, 12 + engineers))):  # expired history
        issued = _day(rng, dt.date(2016, 1, 1), dt.date(2022, 6, 30))
        certifications.append((rng.choice(cert_ids), f"{prefix}-{rng.randint(1, engineers + 6):02d}", issued))
    certifications.sort(key=lambda c: c[2])

    successful = target["successful_projects"] if "successful_projects" in counted else rng.randint(0, 2)
    supported = sorted(rules.supported_distributions) or [rules.distributions[0].id]
    unsupported = [d.id for d in rules.distributions if not d.supported]
    project_start = max(joined, dt.date(2024, 1, 1))
    projects = []
    for _ in range(successful):  # counted: successful, supported, in the metrics window
        projects.append((_day(rng, project_start, LATEST), rng.choice(supported), "successful"))
    for _ in range(rng.randint(8, min(MAX_PROJECTS - successful, 16 + successful))):
        kind = rng.random()
        if kind < 0.4 or not unsupported:  # before the window
            projects.append((_day(rng, min(joined, dt.date(2023, 6, 1)), dt.date(2023, 6, 1)),
                             rng.choice(supported), "successful"))
        elif kind < 0.7:
            projects.append((_day(rng, project_start, LATEST), rng.choice(supported), "unsuccessful"))
        else:
            projects.append((_day(rng, project_start, LATEST), rng.choice(unsupported), "successful"))
    projects.sort()
    project_rows = []
    for completed, distribution, outcome in projects:
        used = rng.sample(products, k=rng.randint(1, min(2, len(products)))) if products else [
            rules.products[0].id]
        work = rng.choice(WORK.get(used[0], ["Integration project"]))
        project_rows.append({
            "title": f"{work} for {rng.choice(CUSTOMERS)}",
            "completed": completed,
            "country": rng.choice(served),
            "products": used,
            "distribution": distribution,
            "outcome": outcome,
        })

    sales = target["subscription_sales"] if "subscription_sales" in counted else 0
    sales_rows = []
    if "subscription_sales" in counted:
        shares = [rng.random() + 0.2 for _ in range(3)]
        amounts = [int(sales * s / sum(shares)) // 1000 * 1000 for s in shares]
        years = [AS_OF.year - 2, AS_OF.year - 1, AS_OF.year]
        sales_rows = [{"year": y, "amount_usd": a} for y, a in zip(years, amounts, strict=True)]
        if joined.year < AS_OF.year - 3 and rng.random() < 0.6:
            sales_rows.insert(0, {"year": AS_OF.year - 3, "amount_usd": rng.randint(5, 200) * 1000})

    industries = rng.sample([i.id for i in rules.industries], k=rng.randint(1, 4))
    language_ids = list(dict.fromkeys([*languages[: rng.randint(1, len(languages))], "en"]))
    program_name = rules.program_by_id[programs[0]].name
    country_names = ", ".join(country_name(c) for c in served)
    body_parts = [PARAGRAPHS[0], *rng.sample(PARAGRAPHS[1:], k=rng.randint(5, len(PARAGRAPHS) - 1))]
    titles = [r["title"].lower() for r in project_rows] or ["an integration platform", "an API gateway"]
    body = "\n\n".join(_wrap(p.format(
        name=name, short=short, program=program_name, city=city,
        industries=", ".join(rules.industry_by_id[i].name.lower() for i in industries),
        countries=country_names,
        products=" and ".join(rules.product_by_id[p].name for p in products) or "platform",
        year=joined.year, project_a=rng.choice(titles), project_b=rng.choice(titles),
        languages=" and ".join(language_name(c).split(" (")[0] for c in language_ids),
        customer=rng.choice(CUSTOMERS),
    )) for p in body_parts) + "\n"

    record: dict = {
        "name": name,
        "website": f"https://{slug}.example",
        "joined": joined,
        "programs": programs,
        "headquarters": {"city": city, "country": country},
        "countries_served": served,
    }
    if rng.random() < 0.3:
        record["regions_served"] = [region]
    record.update({
        "remote_delivery": rng.random() < 0.6,
        "expertise": expertise,
        "industries": industries,
        "languages": language_ids,
        "contact": {"email": f"partners@{slug}.example", "url": f"https://{slug}.example/contact"},
        "certifications": [{"certification": c, "holder": h, "issued": d, "expires": _add_years(d, 2)}
                           for c, h, d in certifications],
        "projects": project_rows,
        "subscription_sales": sales_rows,
        "description": body,
    })
    return {"slug": slug, "fields": record}


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date | int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_value(v)}" for k, v in value.items()) + "}"
    return _scalar(str(value))


def front_matter(fields: dict) -> str:
    """The fields as YAML in the sample content's style: one line per certification and project."""
    lines = ["# yaml-language-server: $schema=../../schema/partner.schema.json"]
    for key, value in fields.items():
        if key == "description":
            continue
        if key in ("certifications", "projects", "subscription_sales"):
            if value:
                lines.append(f"{key}:")
                lines.extend(f"  - {_value(item)}" for item in value)
            continue
        lines.append(f"{key}: {_value(value)}")
    return "\n".join(lines) + "\n"


def render(fields: dict, fmt: str) -> str:
    if fmt == "md":
        return f"---\n{front_matter(fields)}---\n\n{fields['description']}"
    body = "".join(f"  {line}\n" if line else "\n" for line in fields["description"].splitlines())
    return f"{front_matter(fields)}description: |\n{body}"


def generate(n: int, out_dir: Path | str, seed: int = 1, fmt: str = "mixed",
             rules: Rules | None = None) -> list[Path]:
    """Write n records into out_dir (created if needed); returns their paths in index order.

    fmt: "yaml", "md", or "mixed" (every third record .yaml, the rest .md).
    """
    if fmt not in ("mixed", "md", "yaml"):
        raise ValueError(f"format must be mixed, md or yaml, not {fmt!r}")
    rules = rules or load_rules(ROOT / "data" / "programs.yaml")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = partner(i, seed, rules)
        kind = fmt if fmt != "mixed" else ("yaml" if i % 3 == 0 else "md")
        path = out / f"{p['slug']}.{kind}"
        path.write_text(render(p["fields"], kind), encoding="utf-8")
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", type=int, help="number of records")
    ap.add_argument("out_dir", type=Path, help="folder to write them to (e.g. /tmp/partners)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--format", choices=("mixed", "md", "yaml"), default="mixed")
    args = ap.parse_args(argv)
    paths = generate(args.n, args.out_dir, args.seed, args.format)
    size = sum(p.stat().st_size for p in paths)
    print(f"wrote {len(paths)} records to {args.out_dir} ({size / max(len(paths), 1) / 1024:.1f} KB each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
