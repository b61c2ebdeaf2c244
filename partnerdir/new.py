"""The `new` command: start a partner record that explains itself.

A partner writing its own record should not need the documentation open: every field is
there with a comment saying what goes in it, the id lists come from programs.yaml, and the
values only the partner can know are left empty so `check` points at each one until it is
filled in. Nothing is ever overwritten.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
import textwrap
import unicodedata
from pathlib import Path

from .load import RECORD_SUFFIXES
from .problems import ProblemError, relative
from .project import Paths
from .rules import Rules, load_rules
from .schema import SCHEMA_PATH, SLUG_PATTERN

SLUG_MAX = 80

# Letters that Unicode does not decompose into a base letter plus accents.
_FOLDS = str.maketrans({
    "ß": "ss", "ẞ": "ss", "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe", "ø": "o", "Ø": "o",
    "ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "ð": "d", "Ð": "d", "þ": "th", "Þ": "th",
    "ı": "i", "ħ": "h", "Ħ": "h", "ŧ": "t", "Ŧ": "t", "ŋ": "ng", "Ŋ": "ng", "&": " and ",
    "’": "", "'": "",
})


def slug_from_name(name: str) -> str:
    """'Zürich Café & Søn AG' -> 'zurich-cafe-and-son-ag': the page address editors will see."""
    text = unicodedata.normalize("NFKD", name.translate(_FOLDS))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    if len(slug) > SLUG_MAX:
        cut = slug[:SLUG_MAX + 1]
        slug = cut[:cut.rfind("-")] if "-" in cut else slug[:SLUG_MAX]
    return slug


def existing_record(content_dir: Path, slug: str) -> Path | None:
    """A record with this slug in either format, so a .md cannot shadow a .yaml or the reverse."""
    for suffix in RECORD_SUFFIXES:
        path = content_dir / f"{slug}{suffix}"
        if path.exists():
            return path
    return None


def _choices(ids: list[str]) -> str:
    """Ids as comment text, wrapped so no line of the record runs off an editor's screen."""
    return "\n#   ".join(textwrap.wrap(", ".join(ids), 90, break_on_hyphens=False))


def _id_lists(rules: Rules | None) -> dict[str, str]:
    """The ids an editor can pick from, written into the comments; a hint when rules are unreadable."""
    if rules is None:
        fallback = "see data/programs.yaml"
        return {k: fallback for k in ("programs", "regions", "expertise", "industries", "certifications",
                                       "products", "distributions")}
    return {
        "programs": _choices([p.id for p in rules.programs]),
        "regions": _choices([r.id for r in rules.regions]),
        "expertise": _choices([e.id for e in rules.expertise]),
        "industries": _choices([i.id for i in rules.industries]),
        "certifications": _choices([c.id for c in rules.certifications]),
        "products": _choices([p.id for p in rules.products]),
        "distributions": _choices([d.id for d in rules.distributions]),
    }


def _example(rules: Rules | None, what: str, default: str) -> str:
    if rules is None:
        return default
    return {
        "certification": rules.certifications[0].id if rules.certifications else default,
        "product": rules.products[0].id if rules.products else default,
        "distribution": next((d.id for d in rules.distributions if d.supported), default),
    }[what]


def _holder_prefix(slug: str) -> str:
    letters = "".join(part[0] for part in slug.split("-") if part)[:4].upper()
    return letters or "P"


def scaffold(name: str, slug: str, fmt: str, rules: Rules | None, joined: dt.date) -> str:
    """The text of a new record: every field, a comment on each, empty where only the partner knows."""
    ids = _id_lists(rules)
    cert = _example(rules, "certification", "api-manager-developer")
    product = _example(rules, "product", "api-manager")
    distribution = _example(rules, "distribution", "supported")
    holder = _holder_prefix(slug)
    year = joined.year
    lines = [
        f"# yaml-language-server: $schema=../../{SCHEMA_PATH}",
        f"# The record of {name} in the partner directory.",
        "# Fill in every empty value after a colon. Lines starting with # are notes for you;",
        "# they never appear on the site. `python build.py check` lists what is still missing.",
        "",
        "# The partner's public company name.",
        f"name: {json.dumps(name, ensure_ascii=False)}",
        "# The address of the partner's page. It must match the file name; leave it as it is.",
        f"slug: {slug}",
        "# The company website, starting with https://",
        "website:",
        "# The logo: put the file in content/partners/logos/ and write its name here,",
        f"# like logos/{slug}.svg (.svg, .png, .webp or .jpg). Leave it empty for no logo.",
        "logo:",
        "# The day the partner joined the program (YYYY-MM-DD).",
        f"joined: {joined.isoformat()}",
        "# The programs the partner belongs to, one or more of:",
        f"#   {ids['programs']}",
        "# Write them in square brackets, separated by commas: [certified-integration-partner]",
        "programs: []",
        "# The head office: its city, and its country as a two-letter ISO code such as DE or US.",
        "headquarters:",
        "  city:",
        "  country:",
        "# Where the partner works: country codes such as [DE, AT, CH], and/or whole regions:",
        f"#   {ids['regions']}",
        "# Fill in at least one of the two.",
        "countries_served: []",
        "regions_served: []",
        "# true if the partner also delivers projects outside the places it serves, false if not.",
        "remote_delivery: false",
        "# What the partner is good at, one or more of:",
        f"#   {ids['expertise']}",
        "expertise: []",
        "# The industries the partner knows well (may stay empty), any of:",
        f"#   {ids['industries']}",
        "industries: []",
        "# The languages the partner works in, as two-letter codes such as [en, de].",
        "languages: []",
        "# How customers reach the partner: an email address and/or a contact page (https://).",
        "# Either may stay empty.",
        "contact:",
        "  email:",
        "  url:",
    ]
    if fmt == "yaml":
        lines += [
            "# What the partner does, in a few sentences. Markdown is allowed: **bold**, *italic*,",
            "# [links](https://example.com) and lists. Keep the | and start every line with two spaces.",
            "description: |",
            "",
        ]
    lines += [
        "# The evidence below earns the partner's status level (Bronze, Silver, Gold, Platinum).",
        "#",
        "# Certifications held by the partner's engineers. To add one, delete the [] and the # in",
        "# front of the example lines, then change the values. Repeat the four lines for each one.",
        "#   certification: one of",
        f"#   {ids['certifications']}",
        "#   holder: a reference for the engineer, the same for all their certifications; never a name",
        "certifications: []",
        f"#  - certification: {cert}",
        f"#    holder: {holder}-01",
        f"#    issued: {year - 1}-03-01",
        f"#    expires: {year + 1}-03-01",
        "# Projects the partner delivered. To add one, delete the [] and the # in front of the",
        "# example lines, then change the values.",
        f"#   products: one or more of {ids['products']}",
        f"#   distribution: one of {ids['distributions']}",
        "#   outcome: successful or unsuccessful",
        "projects: []",
        "#  - title: Payments API platform for a regional bank",
        f"#    completed: {year - 1}-06-30",
        "#    country: DE",
        f"#    products: [{product}]",
        f"#    distribution: {distribution}",
        "#    outcome: successful",
        "# Subscription sales per calendar year, in US dollars. To add a year, delete the [] and",
        "# the # in front of the example lines.",
        "subscription_sales: []",
        f"#  - year: {year - 1}",
        "#    amount_usd: 50000",
    ]
    if fmt == "md":
        lines += [
            "# The description of the partner goes below the closing --- line: what the partner does,",
            "# in a few sentences of Markdown (**bold**, *italic*, [links](https://example.com), lists).",
        ]
        return "---\n" + "\n".join(lines) + "\n---\n\n"
    return "\n".join(lines) + "\n"


def next_steps(path: Path, slug: str, fmt: str) -> str:
    shown = relative(path)
    fill = "website, programs, headquarters, countries_served or regions_served, expertise, languages"
    where = "the text below the closing --- line" if fmt == "md" else "description"
    return "\n".join([
        f"Wrote {shown}.",
        "",
        "Next steps:",
        f"  1. Open {shown} and fill in {fill} and {where}.",
        "     Each field has a note above it saying what goes there.",
        "  2. Add the evidence that earns a status level: certifications, projects, subscription_sales.",
        "  3. Check the record:    python build.py check",
        "  4. Preview the site:    python build.py serve   (then open http://localhost:8000/)",
        "     The page reloads each time you save; mistakes show in a banner at the top.",
        "  5. Open a pull request; the template lists what reviewers look at (see CONTRIBUTING.md).",
    ])


def run(args, paths: Paths, as_of: dt.date) -> int:
    name = " ".join(args.name.split())
    if not name:
        print("error: the partner name is empty; write it in quotes: python build.py new \"Northwind GmbH\"",
              file=sys.stderr)
        return 1
    slug = getattr(args, "slug", None) or slug_from_name(name)
    if not slug:
        print(f"error: cannot make a page address from {name!r}: it has no Latin letters or digits.\n"
              "Choose one with --slug, for example: python build.py new "
              f"{json.dumps(name, ensure_ascii=False)} --slug northwind-integration", file=sys.stderr)
        return 1
    if not re.fullmatch(SLUG_PATTERN, slug) or len(slug) > SLUG_MAX:
        print(f"error: '{slug}' is not a valid slug: use lowercase letters, digits and single hyphens, "
              f"at most {SLUG_MAX} characters, like northwind-integration", file=sys.stderr)
        return 1
    content = paths.content
    existing = existing_record(content, slug)
    if existing is not None:
        print(f"error: {relative(existing)} already exists; nothing was written.\n"
              f"Edit that file to update {name}, or choose another address with --slug.", file=sys.stderr)
        return 1
    try:
        rules = load_rules(paths.rules)
    except ProblemError:
        rules = None  # the record is still worth writing; `check` will report the rules file
    text = scaffold(name, slug, args.format, rules, as_of)
    path = content / f"{slug}.{args.format}"
    try:
        content.mkdir(parents=True, exist_ok=True)
        with open(path, "x", encoding="utf-8", newline="\n") as f:  # "x": never replace a file
            f.write(text)
    except FileExistsError:
        print(f"error: {relative(path)} already exists; nothing was written.", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"error: cannot write {relative(path)}: {e.strerror or e}", file=sys.stderr)
        return 1
    print(next_steps(path, slug, args.format))
    return 0
