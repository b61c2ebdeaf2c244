"""The partner program's rules, read once from data/programs.yaml and passed to every stage.

Everything an editor may want to change (programs, levels, thresholds, taxonomies, regions,
ranking weights) lives in that file, so this module only describes and checks its shape.
"""

from __future__ import annotations

import difflib
import json
from functools import cache, cached_property
from pathlib import Path
from typing import Literal, get_args, get_origin

import pycountry
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .problems import Problem, ProblemError, relative
from .source import SourceError, decode, locate, parse_yaml

Metric = Literal["certified_engineers", "successful_projects", "subscription_sales"]
METRICS: tuple[str, ...] = ("certified_engineers", "successful_projects", "subscription_sales")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class Named(_Model):
    id: str = Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
    name: str = Field(min_length=1)


class Site(_Model):
    title: str
    vendor: str
    description: str = ""
    base_url: str = "/"


class Limits(_Model):
    record_max_bytes: int = Field(gt=0)
    logo_max_bytes: int = Field(gt=0)
    logo_types: list[str]


class Program(Named):
    short_name: str
    summary: str
    description: str
    implies: list[str] = []
    counts: list[Metric]


class RetiredProgram(Named):
    retired: int
    successor: str
    note: str = ""


class MetricRule(_Model):
    name: str
    unit: str
    explanation: str
    window_months: int | None = Field(default=None, gt=0)
    window_years: int | None = Field(default=None, gt=0)


class Level(Named):
    description: str = ""
    minimums: dict[Metric, int] = {}


class Review(_Model):
    month: int = Field(ge=1, le=12)
    day: int = Field(ge=1, le=28)
    provisional_years: int = Field(ge=0)
    history_years: int = Field(ge=0, le=20)


class Distribution(Named):
    supported: bool


class Product(Named):
    expertise: str


class CertificationType(Named):
    product: str


class Region(Named):
    neighbours: list[str] = []
    countries: list[str]


class RecommendWeights(_Model):
    """Points a piece of evidence adds to a partner's recommendation score (see recommend.py)."""

    expertise_listed: int = Field(ge=0)
    project: int = Field(ge=0)
    project_cap: int = Field(ge=0)
    certified_engineer: int = Field(ge=0)
    certified_engineer_cap: int = Field(ge=0)
    serves_country: int = Field(ge=0)
    headquartered_in_region: int = Field(ge=0)
    serves_region: int = Field(ge=0)
    level_step: int = Field(ge=0)
    industry: int = Field(ge=0)
    language: int = Field(ge=0)


class RecommendHelp(_Model):
    buy: list[str] = Field(min_length=1)
    deliver: list[str] = Field(min_length=1)


class RecommendRules(_Model):
    shortlist: int = Field(gt=0)
    country_page: int = Field(gt=0)
    help: RecommendHelp
    weights: RecommendWeights


class Rules(_Model):
    """The parsed programs.yaml, with lookups derived once for the stages that need them."""

    site: Site
    annual_fee_usd: float = Field(ge=0)
    limits: Limits
    programs: list[Program]
    retired_programs: list[RetiredProgram] = []
    metrics: dict[Metric, MetricRule]
    levels: list[Level]
    review: Review
    distributions: list[Distribution]
    products: list[Product]
    certifications: list[CertificationType]
    expertise: list[Named]
    industries: list[Named]
    regions: list[Region]
    recommend: RecommendRules

    @cached_property
    def program_by_id(self) -> dict[str, Program]:
        return {p.id: p for p in self.programs}

    @cached_property
    def retired_by_id(self) -> dict[str, RetiredProgram]:
        return {p.id: p for p in self.retired_programs}

    @cached_property
    def level_by_id(self) -> dict[str, Level]:
        return {lv.id: lv for lv in self.levels}

    @cached_property
    def level_rank(self) -> dict[str, int]:
        return {lv.id: i for i, lv in enumerate(self.levels)}

    @cached_property
    def distribution_by_id(self) -> dict[str, Distribution]:
        return {d.id: d for d in self.distributions}

    @cached_property
    def supported_distributions(self) -> frozenset[str]:
        return frozenset(d.id for d in self.distributions if d.supported)

    @cached_property
    def product_by_id(self) -> dict[str, Product]:
        return {p.id: p for p in self.products}

    @cached_property
    def certification_by_id(self) -> dict[str, CertificationType]:
        return {c.id: c for c in self.certifications}

    @cached_property
    def expertise_by_id(self) -> dict[str, Named]:
        return {e.id: e for e in self.expertise}

    @cached_property
    def industry_by_id(self) -> dict[str, Named]:
        return {i.id: i for i in self.industries}

    @cached_property
    def region_by_id(self) -> dict[str, Region]:
        return {r.id: r for r in self.regions}

    @cached_property
    def region_of_country(self) -> dict[str, str]:
        return {c: r.id for r in self.regions for c in r.countries}

    def implied_programs(self, program_ids: list[str]) -> list[str]:
        """The programs a partner belongs to, its implied ones included, in programs.yaml order."""
        member = set(program_ids)
        for pid in program_ids:
            prog = self.program_by_id.get(pid)
            if prog:
                member.update(prog.implies)
        return [p.id for p in self.programs if p.id in member]


@cache  # pycountry's lookup is slow for how often pages ask (26 times per partner page)
def country_name(code: str) -> str:
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        return code
    return getattr(country, "common_name", None) or country.name


# The ISO 639-1 languages (code -> name, as pycountry names them), once known: pycountry reads
# all 7,900 ISO 639-3 languages to answer for the 184 that have a two-letter code, a tenth of a
# quick rebuild's time, so a build keeps this table for the next one (`snapshot`), which hands
# it back through `know_languages` instead.
_languages: dict[str, str] | None = None


def languages() -> dict[str, str]:
    global _languages
    if _languages is None:
        _languages = _read_languages() or \
            {lang.alpha_2: lang.name for lang in pycountry.languages if hasattr(lang, "alpha_2")}
    return _languages


def _read_languages() -> dict[str, str] | None:
    """`languages()` read from pycountry's own data file, as its database reads it, without
    making an object of each of the 7,900 languages first: 8 ms, against 30-40 ms of every
    build from nothing (and of its forked check too). None if the file is not laid out as
    expected, for pycountry to answer."""
    database = pycountry.languages
    try:
        with open(database.filename, encoding="utf-8") as f:
            entries = json.load(f)[database.root_key]
        table = {entry["alpha_2"]: entry["name"] for entry in entries if "alpha_2" in entry}
    except (AttributeError, OSError, ValueError, KeyError, TypeError):
        return None
    return table if table and all(type(k) is str and type(v) is str for k, v in table.items()) else None


def know_languages(table: object) -> None:
    """Use `table`, a `languages()` kept by an earlier build with the same pycountry, if it is one."""
    global _languages
    if _languages is None and isinstance(table, dict) and \
            all(type(k) is str and type(v) is str for k, v in table.items()):
        _languages = dict(table)


@cache
def language_name(code: str) -> str:
    name = languages().get(code)
    if name is not None:
        return name
    lang = pycountry.languages.get(alpha_2=code)  # (its search ignores case; checks reject such codes)
    return lang.name if lang else code


def did_you_mean(value: str, choices) -> str:
    close = difflib.get_close_matches(str(value), list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


def load_rules(path: Path) -> Rules:
    """Read and check programs.yaml; raises ProblemError listing everything wrong in it."""
    shown = relative(path)
    try:
        text = decode(path.read_bytes())
        data = parse_yaml(text)
    except OSError as e:
        raise ProblemError([Problem(shown, message=f"cannot read the program rules: {e.strerror}")]) from None
    except SourceError as e:
        raise ProblemError([Problem(shown, e.line, e.column, _dotted(e.loc), e.message, e.hint)]) from None
    if not isinstance(data, dict):
        raise ProblemError([Problem(shown, 1, 1, "", "programs.yaml must be a mapping of settings")])
    try:
        rules = Rules.model_validate(data)
    except ValidationError as e:
        problems = []
        for err in e.errors(include_url=False):
            loc = tuple(err["loc"])
            message, hint = err["msg"], ""
            if err["type"] == "missing":
                message = "is required"
            elif err["type"] == "extra_forbidden":
                message = f"unknown setting '{loc[-1]}'"
                hint = did_you_mean(str(loc[-1]), _settings_at(loc[:-1]))
            line, col = locate(text, loc)
            problems.append(Problem(shown, line, col, _dotted(loc), message, hint, loc=loc))
        raise ProblemError(problems) from None
    problems = [
        Problem(shown, *locate(text, loc), _dotted(loc), message, hint, loc=loc)
        for loc, message, hint in _cross_check(rules)
    ]
    if problems:
        raise ProblemError(problems)
    return rules


def _settings_at(loc: tuple) -> list[str]:
    """The setting names allowed at `loc`, for did-you-mean hints."""
    kind: object = Rules
    for part in loc:
        if get_origin(kind) in (list, dict):
            kind = get_args(kind)[-1]
        elif isinstance(kind, type) and issubclass(kind, BaseModel) and part in kind.model_fields:
            kind = kind.model_fields[part].annotation
        else:
            return []
    return list(kind.model_fields) if isinstance(kind, type) and issubclass(kind, BaseModel) else []


def _dotted(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _cross_check(rules: Rules):
    """References between sections must resolve, or a record could never satisfy them."""
    programs = rules.program_by_id
    for i, prog in enumerate(rules.programs):
        for j, implied in enumerate(prog.implies):
            if implied not in programs or implied == prog.id:
                yield ("programs", i, "implies", j), f"unknown program {implied!r}", did_you_mean(
                    implied, programs
                )
    for i, old in enumerate(rules.retired_programs):
        if old.successor not in programs:
            yield ("retired_programs", i, "successor"), f"unknown program {old.successor!r}", ""
        if old.id in programs:
            yield ("retired_programs", i, "id"), f"{old.id!r} is both current and retired", ""
    for metric in METRICS:
        if metric not in rules.metrics:
            yield ("metrics",), f"the metric {metric!r} is not described", ""
    if not rules.levels or rules.levels[0].minimums:
        yield ("levels",), "the first level is the entry level and has no minimums", ""
    for i, level in enumerate(rules.levels[1:], start=1):
        for metric in METRICS:
            if metric not in level.minimums:
                yield ("levels", i, "minimums"), f"no minimum for {metric}", ""
    for i, product in enumerate(rules.products):
        if product.expertise not in rules.expertise_by_id:
            yield ("products", i, "expertise"), f"unknown expertise {product.expertise!r}", ""
    for i, cert in enumerate(rules.certifications):
        if cert.product not in rules.product_by_id:
            yield ("certifications", i, "product"), f"unknown product {cert.product!r}", ""
    seen: dict[str, str] = {}
    for i, region in enumerate(rules.regions):
        for j, code in enumerate(region.countries):
            if pycountry.countries.get(alpha_2=code) is None or code != code.upper():
                yield ("regions", i, "countries", j), f"{code!r} is not an ISO 3166-1 alpha-2 code", ""
            elif code in seen:
                yield ("regions", i, "countries", j), f"{code} is already in {seen[code]}", (
                    "a country belongs to one region"
                )
            seen[code] = region.id
        for j, n in enumerate(region.neighbours):
            if n not in rules.region_by_id:
                yield ("regions", i, "neighbours", j), f"unknown region {n!r}", ""
    yield from _recommend_check(rules)
    for section in ("programs", "levels", "distributions", "products", "certifications", "expertise",
                    "industries", "regions"):
        ids = [item.id for item in getattr(rules, section)]
        for i, item_id in enumerate(ids):
            if item_id in ids[:i]:
                yield (section, i, "id"), f"the id {item_id!r} is used twice", ""


def _recommend_check(rules: Rules):
    """Help kinds name real programs, and status can never outweigh location or expertise."""
    for kind in ("buy", "deliver"):
        for j, pid in enumerate(getattr(rules.recommend.help, kind)):
            if pid not in rules.program_by_id:
                yield ("recommend", "help", kind, j), f"unknown program {pid!r}", did_you_mean(
                    pid, rules.program_by_id
                )
    w = rules.recommend.weights
    status = w.level_step * (len(rules.levels) - 1)
    grades = (w.serves_country, w.headquartered_in_region, w.serves_region, 0)
    if list(grades) != sorted(grades, reverse=True):
        yield ("recommend", "weights", "serves_country"), (
            "location weights must go serves_country > headquartered_in_region > serves_region"
        ), ""
    gap = min(a - b for a, b in zip(grades, grades[1:], strict=False))
    area = w.expertise_listed + w.project * w.project_cap + w.certified_engineer * w.certified_engineer_cap
    if status >= gap or status >= area:
        yield ("recommend", "weights", "level_step"), (
            f"the top status level adds {status} points; that must stay below the {gap} points between "
            f"location grades and the {area} points one expertise area can earn"
        ), "lower level_step, so that a status level can never buy a better place"
