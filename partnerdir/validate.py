"""Stage 2: raw documents to checked partners, and every problem in every record at once.

Shapes and types are checked by the pydantic models in `schema`; this module adds what needs
programs.yaml, the as-of date or the other records, and turns every finding into a message an
editor can act on: file, line, field, what is wrong and how to fix it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import pycountry
from pydantic import TypeAdapter, ValidationError

from .load import RawRecord
from .problems import Problem, field_name
from .rules import Rules, did_you_mean, languages
from .schema import (
    SLUG_PATTERN,
    Certification,
    Contact,
    Headquarters,
    Project,
    Record,
    SubscriptionSale,
)
from .source import locate


class Partner(Record):
    """A record that passed every check, with its slug settled and its source remembered."""

    slug: str  # type: ignore[assignment]
    source: str = ""
    format: str = "yaml"


_PART_MODELS = {
    (): Record,
    ("headquarters",): Headquarters,
    ("contact",): Contact,
    ("certifications",): Certification,
    ("projects",): Project,
    ("subscription_sales",): SubscriptionSale,
}

_TYPE_MESSAGES = {
    "string_type": "must be text",
    "list_type": "must be a list, such as [a, b]",
    "bool_type": "must be true or false",
    "int_type": "must be a whole number",
    "float_type": "must be a number",
    "model_type": "must be a group of fields (a mapping)",
    "model_attributes_type": "must be a group of fields (a mapping)",
    "dict_type": "must be a group of fields (a mapping)",
    "date_type": "must be a date written as YYYY-MM-DD",
    "date_from_datetime_inexact": "must be a date (YYYY-MM-DD) without a time",
    "finite_number": "must be a finite number",
}


def _model_at(loc: tuple):
    key = tuple(p for p in loc if isinstance(p, str))
    return _PART_MODELS.get(key)


def _schema_problems(error: ValidationError) -> Iterator[tuple[tuple, str, str]]:
    for err in error.errors(include_url=False):
        loc = tuple(err["loc"])
        kind = err["type"]
        ctx = err.get("ctx") or {}
        hint = ""
        if kind == "missing":
            model = _model_at(loc[:-1])
            info = model.model_fields.get(loc[-1]) if model else None
            message = "is required"
            hint = (info.description or "") if info else ""
        elif kind == "extra_forbidden":
            model = _model_at(loc[:-1])
            choices = list(model.model_fields) if model else []
            if model is Record:
                choices = [c for c in choices if c not in ("source", "format")]
            message = f"unknown field '{loc[-1]}'"
            hint = did_you_mean(str(loc[-1]), choices) or f"the fields here are: {', '.join(choices)}"
        elif kind in _TYPE_MESSAGES:
            message = f"{_TYPE_MESSAGES[kind]}, not {_describe(err.get('input'))}"
            if kind == "string_type" and isinstance(err.get("input"), bool | int | float):
                hint = "put quotes around it"
        elif kind == "string_pattern_mismatch":
            if loc[-1] == "slug":
                message = f"'{err['input']}' is not a valid slug"
                hint = "use lowercase letters, digits and single hyphens, like northwind-integration"
            else:
                message = f"'{err['input']}' is not an opaque reference"
                hint = "use letters, digits, '.', '_' or '-', like NW-07; never a person's name"
        elif kind == "too_short" and isinstance(err.get("input"), list):
            message = "must list at least one"
        elif kind == "string_too_long" and _code_field(loc) in _CODE_HINTS:
            message = f"'{str(err['input'])[:40]}' is not a two-letter code"
            hint = _CODE_HINTS[_code_field(loc)]
        elif kind == "string_too_long":
            message = f"is longer than {ctx.get('max_length')} characters"
        elif kind == "too_long":
            message = f"lists more than {ctx.get('max_length')} entries"
        elif kind == "literal_error":
            message = f"must be one of: {ctx.get('expected', '').replace(chr(39), '')}, not {err['input']!r}"
        elif kind == "greater_than_equal":
            message = "must not be negative" if ctx.get("ge") == 0 else f"must be {ctx.get('ge')} or more"
        elif kind == "less_than_equal":
            message = f"must be {ctx.get('le')} or less"
        else:
            message = err["msg"]
        yield loc, message, hint


_CODE_HINTS = {
    "languages": "use the ISO 639-1 two-letter code, like en, de or es",
    "country": "use the ISO 3166-1 two-letter code, like DE or US",
    "countries_served": "use the ISO 3166-1 two-letter code, like DE or US",
}


def _code_field(loc: tuple) -> str:
    return next((part for part in reversed(loc) if isinstance(part, str)), "")


def _describe(value) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "empty"
    if isinstance(value, dt.datetime):
        return f"'{value.isoformat(sep=' ')}'"
    if isinstance(value, dt.date):
        return f"the date {value.isoformat()}"
    return f"{type(value).__name__} {str(value)[:40]!r}" if not isinstance(value, str) else f"'{value[:40]}'"


def _ids(rules: Rules, field: str, kind: str, values: list, known, loc: tuple) -> Iterator[tuple]:
    seen = set()
    for i, value in enumerate(values):
        if value in seen:
            yield (*loc, i), f"'{value}' is listed twice", "remove the repeated entry"
        seen.add(value)
        if value not in known:
            yield (*loc, i), f"unknown {kind} '{value}'", did_you_mean(value, known) or _choices(kind, known)


def _choices(kind: str, known) -> str:
    """Short lists are spelt out; long ones would bury the message."""
    if len(known) <= 12:
        return f"the {kind} ids are: " + ", ".join(known)
    return f"the {kind} ids are listed in data/programs.yaml"


# Looked up for every project of every record: a set, not pycountry's case-insensitive search
# (languages likewise: `rules.languages`).
_COUNTRY_CODES = frozenset(c.alpha_2 for c in pycountry.countries)


def _country(code: str, loc: tuple) -> tuple | None:
    if code in _COUNTRY_CODES:
        return None
    hint = "use the ISO 3166-1 two-letter code, like DE or US"
    if code.upper() in _COUNTRY_CODES:
        hint = f"write it in capitals: {code.upper()}"
    elif code.upper() == "UK":
        hint = "the code for the United Kingdom is GB"
    return loc, f"unknown country code '{code}'", hint


def _not_after(value: dt.date, as_of: dt.date, loc: tuple, what: str) -> tuple | None:
    if value <= as_of:
        return None
    return loc, f"{what} {value.isoformat()} is after the as-of date {as_of.isoformat()}", (
        "records describe what has already happened; check the year"
    )


def cross_check(record: Record, stem: str, rules: Rules, as_of: dt.date,
                content_dir: Path) -> Iterator[tuple[tuple, str, str]]:
    """Checks that need programs.yaml, the as-of date or the file system."""
    if not re.fullmatch(SLUG_PATTERN, stem):
        yield ("slug",), f"the file name '{stem}' is not a valid slug", (
            "rename the file using lowercase letters, digits and hyphens, like northwind-integration.yaml"
        )
    elif record.slug is not None and record.slug != stem:
        yield ("slug",), f"the slug '{record.slug}' disagrees with the file name '{stem}'", (
            f"rename the file to {record.slug} or remove the slug field"
        )

    programs = rules.program_by_id
    for i, pid in enumerate(record.programs):
        if pid in rules.retired_by_id:
            old = rules.retired_by_id[pid]
            yield ("programs", i), f"the program '{pid}' was retired in {old.retired}", (
                f"use '{old.successor}' instead"
            )
        elif pid not in programs:
            yield ("programs", i), f"unknown program '{pid}'", did_you_mean(pid, programs) or (
                "the programs are: " + ", ".join(programs)
            )
        elif pid in record.programs[:i]:
            yield ("programs", i), f"'{pid}' is listed twice", "remove the repeated entry"
    for i, pid in enumerate(record.programs):
        for _j, other in enumerate(record.programs):
            if other in programs and pid in programs[other].implies:
                yield ("programs", i), (
                    f"'{pid}' is redundant: '{other}' already includes everything a "
                    f"{programs[pid].name} does"
                ), f"remove '{pid}'"
                break

    if record.headquarters is not None:
        if found := _country(record.headquarters.country, ("headquarters", "country")):
            yield found
    for i, code in enumerate(record.countries_served):
        if found := _country(code, ("countries_served", i)):
            yield found
        if code in record.countries_served[:i]:
            yield ("countries_served", i), f"'{code}' is listed twice", "remove the repeated entry"
    yield from _ids(rules, "regions_served", "region", record.regions_served, rules.region_by_id,
                    ("regions_served",))
    if not record.countries_served and not record.regions_served and record.name is not None:
        yield ("countries_served",), "lists no countries or regions served", (
            "add countries_served (like [DE, AT]) or regions_served (like [emea])"
        )
    yield from _ids(rules, "expertise", "expertise", record.expertise, rules.expertise_by_id, ("expertise",))
    yield from _ids(rules, "industries", "industry", record.industries, rules.industry_by_id, ("industries",))
    for i, code in enumerate(record.languages):
        if code not in languages():
            yield ("languages", i), f"unknown language code '{code}'", (
                "use the ISO 639-1 two-letter code, like en, de or es"
            )
    if record.joined is not None:
        if found := _not_after(record.joined, as_of, ("joined",), "joined"):
            yield found

    certs = rules.certification_by_id
    for i, c in enumerate(record.certifications):
        if c is None:
            continue
        if c.certification not in certs:
            yield ("certifications", i, "certification"), f"unknown certification '{c.certification}'", (
                did_you_mean(c.certification, certs) or _choices("certification", certs)
            )
        if c.issued > as_of and \
                (found := _not_after(c.issued, as_of, ("certifications", i, "issued"), "issued")):
            yield found
        if c.expires < c.issued:
            yield ("certifications", i, "expires"), (
                f"expires {c.expires.isoformat()}, before it was issued ({c.issued.isoformat()})"
            ), "check the two dates"

    products = rules.product_by_id.keys()
    for i, p in enumerate(record.projects):
        if p is None:
            continue
        if p.country not in _COUNTRY_CODES and (found := _country(p.country, ("projects", i, "country"))):
            yield found
        # (Known and each once, the usual case, is checked in C: a generator for each of a record's
        # projects took a third of these checks.)
        if not (products >= (listed := set(p.products)) and len(listed) == len(p.products)):
            yield from _ids(rules, "products", "product", p.products, rules.product_by_id,
                            ("projects", i, "products"))
        if p.distribution not in rules.distribution_by_id:
            yield ("projects", i, "distribution"), f"unknown distribution '{p.distribution}'", (
                did_you_mean(p.distribution, rules.distribution_by_id)
                or "the distributions are: " + ", ".join(rules.distribution_by_id)
            )
        if p.completed > as_of and \
                (found := _not_after(p.completed, as_of, ("projects", i, "completed"), "completed")):
            yield found

    years: set[int] = set()
    for i, s in enumerate(record.subscription_sales):
        if s is None:
            continue
        if s.year > as_of.year:
            yield ("subscription_sales", i, "year"), f"the year {s.year} has not started yet", ""
        if s.year in years:
            yield ("subscription_sales", i, "year"), f"the year {s.year} is listed twice", (
                "give one total per year"
            )
        years.add(s.year)

    if record.logo is not None:
        yield from _logo(record.logo, rules, content_dir)


_SVG_DANGER = re.compile(
    rb"<\s*(?:[\w.-]+:)?(script|foreignobject|iframe|embed|object|handler|animate|set)\b|\bon[a-z]+\s*=|"
    rb"javascript:|<!ENTITY|<!DOCTYPE|(?:xlink:)?href\s*=\s*[\"']\s*(?!#)|@import|url\(\s*[\"']?\s*(?!#)",
    re.IGNORECASE,
)
# A browser decodes UTF-16 (NUL bytes) or ISO-2022-JP (escape sequences) as it reads, which would hide
# everything above from a search of the bytes; SVG logos must be plain UTF-8.
_SVG_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _logo(value: str, rules: Rules, content_dir: Path) -> Iterator[tuple]:
    loc = ("logo",)
    hint = "put the file in content/partners/logos/ and write logo: logos/<file>"
    if "\\" in value or value.startswith("/") or ".." in value.split("/") or not value.startswith("logos/"):
        yield loc, f"the logo '{value}' is not a file under content/partners/logos/", hint
        return
    logos = (content_dir / "logos").resolve()
    path = (content_dir / value)
    try:
        resolved = path.resolve()
    except OSError:
        yield loc, f"the logo '{value}' cannot be read", hint
        return
    if not resolved.is_relative_to(logos):
        yield loc, f"the logo '{value}' points outside content/partners/logos/", hint
        return
    ext = path.suffix.lower().lstrip(".")
    if ext not in rules.limits.logo_types:
        yield loc, f"logos of type '.{ext}' are not supported", (
            "use one of: " + ", ".join("." + t for t in rules.limits.logo_types)
        )
        return
    if not resolved.is_file():
        yield loc, f"the logo file '{value}' does not exist", hint
        return
    size = resolved.stat().st_size
    if size > rules.limits.logo_max_bytes:
        yield loc, f"the logo is {size:,} bytes, over the limit of {rules.limits.logo_max_bytes:,}", (
            "export a smaller image"
        )
        return
    if ext == "svg":
        content = resolved.read_bytes()
        try:
            content.decode("utf-8")
            plain = not _SVG_CONTROL.search(content)
        except UnicodeDecodeError:
            plain = False
        if not plain:
            yield loc, "the SVG logo is not UTF-8 text", "export it again as a plain SVG, saved as UTF-8"
        elif _SVG_DANGER.search(content):
            yield loc, "the SVG logo contains scripts, event handlers, entities or links", (
                "export a plain SVG with shapes and paths only"
            )


def validate(raws: list[RawRecord], rules: Rules, as_of: dt.date,
             content_dir: Path) -> tuple[list[Partner], list[Problem]]:
    """Check every record; partners come out in slug order, problems in file and line order."""
    partners: list[Partner] = []
    problems: list[Problem] = []
    for raw in raws:
        found: list[tuple[tuple, str, str]]
        record = None
        try:
            record = Record.model_validate(raw.data)
            found = list(cross_check(record, raw.path.stem, rules, as_of, content_dir))
        except ValidationError as e:
            found = list(_schema_problems(e))
            # Check the fields that are well-formed too, so one run shows every problem.
            bad = {loc[:2] if loc[0] in _ITEM_MODELS else loc[:1] for loc, _, _ in found if loc}
            partial = _partial(raw.data, bad)
            found += [f for f in cross_check(partial, raw.path.stem, rules, as_of, content_dir)
                      if f[0] and f[0][:1] not in bad and f[0][:2] not in bad]
        if found:
            problems.extend(_place(raw, found))
            continue
        partners.append(Partner.model_construct(
            **{**record.__dict__, "slug": record.slug or raw.path.stem},
            source=raw.shown,
            format=raw.format,
        ))
    partners, found = one_per_slug(partners)
    problems += found
    problems.sort(key=lambda p: (p.path, p.line, p.column))
    return partners, problems


def one_per_slug(partners: list[Partner]) -> tuple[list[Partner], list[Problem]]:
    """The partners in slug order, each slug kept by its first file; a problem for every other."""
    by_slug: dict[str, Partner] = {}
    problems: list[Problem] = []
    for partner in partners:
        if partner.slug in by_slug:
            first = by_slug[partner.slug]
            problems.append(Problem(partner.source, 1, 1, "slug",
                                    f"the slug '{partner.slug}' is already used by {first.source}",
                                    "each partner needs its own slug and file name"))
        else:
            by_slug[partner.slug] = partner
    return sorted(by_slug.values(), key=lambda p: p.slug), problems


_ADAPTERS: dict[str, TypeAdapter] = {}
_ITEM_MODELS = {"certifications": Certification, "projects": Project, "subscription_sales": SubscriptionSale}


def _partial(data: dict, bad: set) -> Record:
    """A record of only the fields that passed their own checks; the rest empty."""
    values: dict = {}
    for name, info in Record.model_fields.items():
        value = data.get(name)
        if name in _ITEM_MODELS and isinstance(value, list) and (name,) not in bad:
            items = []
            for i, item in enumerate(value):
                try:
                    items.append(None if (name, i) in bad else _ITEM_MODELS[name].model_validate(item))
                except ValidationError:
                    items.append(None)
            values[name] = items
            continue
        if name in data and (name,) not in bad:
            if name not in _ADAPTERS:
                kind = Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
                _ADAPTERS[name] = TypeAdapter(kind)
            try:
                values[name] = _ADAPTERS[name].validate_python(data[name])
                continue
            except ValidationError:
                pass
        values[name] = [] if _is_list(info.annotation) else info.default if not info.is_required() else None
    return Record.model_construct(**values)


def _is_list(annotation) -> bool:
    return getattr(annotation, "__origin__", None) is list


def _place(raw: RawRecord, found: list[tuple[tuple, str, str]]) -> list[Problem]:
    out = []
    for loc, message, hint in found:
        if raw.format == "md" and loc and loc[0] == "description":
            line, col = raw.body_line, 1
        elif raw.text is None:  # (not kept by a worker of the check, which reads it again to say)
            line, col = 0, 0
        else:
            line, col = locate(raw.text, loc, raw.line_offset)
        out.append(Problem(raw.shown, line, col, field_name(loc), message, hint, loc=loc))
    return out
