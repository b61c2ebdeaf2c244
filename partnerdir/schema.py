"""The partner record format: the project's public interface, defined once.

The pydantic models here check shapes and types; `validate` checks everything that needs
programs.yaml or the as-of date. The JSON Schema that editors' YAML language server uses is
generated from these models plus the id lists in programs.yaml (`python build.py schema`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
)
from pydantic_core import PydanticCustomError

from .rules import Rules

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
SCHEMA_PATH = "schema/partner.schema.json"

# Characters that make one name look like another or reorder text on screen: every Unicode format
# character (category Cf: soft hyphen, bidi controls such as U+202E and U+061C, zero-width
# characters, invisible tag characters) and the Hangul fillers, letters that draw nothing.
_INVISIBLE_CHARACTERS = (
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u115f\u1160\u180e\u200b-\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\u3164\ufeff\uffa0\ufff9-\ufffb\U000110bd\U000110cd"
    "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
)
_INVISIBLE = re.compile(f"[{_INVISIBLE_CHARACTERS}]")
# Unicode's control characters (category Cc), with and without the line breaks and tabs that
# Markdown text may hold. A regular expression, not a loop over every character: descriptions
# are long and this runs on every text field of every record.
_CONTROL_CHARACTERS = "\x00-\x1f\x7f-\x9f"
_CONTROL_IN_TEXT_CHARACTERS = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
_CONTROL = re.compile(f"[{_CONTROL_CHARACTERS}]")
_CONTROL_IN_TEXT = re.compile(f"[{_CONTROL_IN_TEXT_CHARACTERS}]")
# Both at once, so that text with neither (nearly all of it) is read once, not twice.
_SUSPECT_IN_LINE = re.compile(f"[{_INVISIBLE_CHARACTERS}{_CONTROL_CHARACTERS}]")
_SUSPECT_IN_TEXT = re.compile(f"[{_INVISIBLE_CHARACTERS}{_CONTROL_IN_TEXT_CHARACTERS}]")
_SPACE = re.compile(r"\s")  # what str.isspace() calls a space
_ASCII_TEXT = bytes(range(0x20, 0x7F)) + b"\t\n\r"


def _plain_text(value: str, *, multiline: bool) -> str:
    bad = _INVISIBLE.search(value)
    if bad:
        raise PydanticCustomError(
            "invisible_character",
            "contains the invisible or direction-changing character U+{code}",
            {"code": f"{ord(bad.group()):04X}"},
        )
    bad = (_CONTROL_IN_TEXT if multiline else _CONTROL).search(value)
    if bad:
        raise PydanticCustomError(
            "control_character",
            "contains the control character U+{code}",
            {"code": f"{ord(bad.group()):04X}"},
        )
    if not value.strip():
        raise PydanticCustomError("blank", "must not be empty")
    return value.strip() if not multiline else value


def _line(value: str) -> str:
    # (Printable ASCII holds no suspect character, and is two C calls to recognise.)
    if (value.isascii() and value.isprintable() or _SUSPECT_IN_LINE.search(value) is None) \
            and (stripped := value.strip()):
        return stripped
    return _plain_text(value, multiline=False)  # which says what is wrong


def _lines(value: str) -> str:
    # A description is nearly all printable ASCII, tabs and line breaks, of which nothing is
    # suspect: only the other characters are searched (all of them took a tenth of checking a record).
    rest = value.encode("utf-8", "surrogatepass").translate(None, _ASCII_TEXT)
    if (not rest or _SUSPECT_IN_TEXT.search(rest.decode("utf-8", "surrogatepass")) is None) \
            and value and not value.isspace():
        return value
    return _plain_text(value, multiline=True)


def _web_url(value: str) -> str:
    from urllib.parse import urlsplit

    if _SPACE.search(value):
        raise PydanticCustomError("url", "a web address cannot contain spaces")
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https"):
        raise PydanticCustomError(
            "url_scheme",
            "must be a web address starting with https:// (or http://)",
        )
    if not parts.hostname or "@" in parts.netloc:
        raise PydanticCustomError("url", "is not a complete web address, such as https://example.com")
    return value


def _email(value: str) -> str:
    if not re.fullmatch(r"[^@\s<>\"']+@[^@\s<>\"']+\.[A-Za-z]{2,}", value):
        raise PydanticCustomError("email", "is not an email address, such as partners@example.com")
    return value


def _date_from_text(value):
    """YAML gives dates as dates; a quoted '2024-01-31' is accepted too. Nothing else is."""
    if isinstance(value, dt.datetime):
        raise PydanticCustomError("date_from_datetime_inexact", "must be a date (YYYY-MM-DD) without a time")
    if isinstance(value, str):
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise PydanticCustomError("date_type", "must be a date written as YYYY-MM-DD")
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError("date_value", "{value!r} is not a date that exists",
                                      {"value": value}) from None
    return value


Line = Annotated[str, Field(strict=True, max_length=200), AfterValidator(_line)]
Title = Annotated[str, Field(strict=True, max_length=300), AfterValidator(_line)]
Text = Annotated[str, Field(strict=True, max_length=50_000), AfterValidator(_lines)]
Id = Annotated[str, Field(strict=True, max_length=80)]
Code = Annotated[str, Field(strict=True, max_length=3)]
WebUrl = Annotated[str, Field(strict=True, max_length=2000), AfterValidator(_web_url)]
Email = Annotated[str, Field(strict=True, max_length=254), AfterValidator(_email)]
Date = Annotated[dt.date, BeforeValidator(_date_from_text), Field(strict=True)]
Slug = Annotated[str, Field(strict=True, max_length=80, pattern=SLUG_PATTERN)]
Holder = Annotated[str, Field(strict=True, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Headquarters(_Part):
    city: Line = Field(description="City of the head office, as it is usually written in English.")
    country: Code = Field(description="ISO 3166-1 alpha-2 country code, for example DE.")


class Contact(_Part):
    email: Email | None = Field(default=None, description="Address for customer enquiries.")
    url: WebUrl | None = Field(default=None, description="Contact page (https://).")


class Certification(_Part):
    certification: Id = Field(description="Certification id from data/programs.yaml.")
    holder: Holder = Field(
        description="Opaque reference for the certified engineer (never a person's name), e.g. NW-07."
    )
    issued: Date = Field(description="Date the certification was issued (YYYY-MM-DD).")
    expires: Date = Field(description="Date the certification expires (YYYY-MM-DD).")


class Project(_Part):
    title: Title = Field(description="Short public title of the project.")
    completed: Date = Field(description="Date the project went live (YYYY-MM-DD).")
    country: Code = Field(description="ISO 3166-1 alpha-2 code of the country it was delivered in.")
    products: list[Id] = Field(min_length=1, description="Product ids from data/programs.yaml.")
    distribution: Id = Field(description="Distribution id from data/programs.yaml.")
    outcome: Literal["successful", "unsuccessful"] = Field(description="successful or unsuccessful")


class SubscriptionSale(_Part):
    year: StrictInt = Field(ge=1990, le=2999, description="Calendar year of the sales.")
    amount_usd: Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)] = Field(
        description="Total subscription sales that year, in US dollars."
    )


class Record(_Part):
    """One partner, as an editor or partner writes it."""

    name: Line = Field(description="The partner's public company name.")
    slug: Slug | None = Field(
        default=None, description="Address of the partner's page; defaults to the file name."
    )
    website: WebUrl = Field(description="Company website (https://).")
    logo: Annotated[str, Field(strict=True, max_length=200)] | None = Field(
        default=None, description="A file under content/partners/logos/, e.g. logos/northwind.svg."
    )
    joined: Date = Field(description="Date the partner joined the program (YYYY-MM-DD).")
    programs: list[Id] = Field(min_length=1, description="Program ids from data/programs.yaml.")
    headquarters: Headquarters
    countries_served: list[Code] = Field(
        default=[], description="ISO 3166-1 alpha-2 codes of the countries it serves."
    )
    regions_served: list[Id] = Field(default=[], description="Region ids from data/programs.yaml.")
    remote_delivery: StrictBool = Field(
        default=False, description="true if it also delivers projects outside the places it serves."
    )
    expertise: list[Id] = Field(min_length=1, description="Expertise ids from data/programs.yaml.")
    industries: list[Id] = Field(default=[], description="Industry ids from data/programs.yaml.")
    languages: list[Code] = Field(min_length=1, description="ISO 639-1 codes, for example en.")
    contact: Contact | None = None
    description: Text = Field(description="What the partner does, in Markdown.")
    certifications: list[Certification] = Field(default=[], max_length=2000)
    projects: list[Project] = Field(default=[], max_length=2000)
    subscription_sales: list[SubscriptionSale] = Field(default=[], max_length=200)


FIELD_ORDER = list(Record.model_fields)


def json_schema(rules: Rules) -> dict:
    """The JSON Schema for editors, with the current id lists as enums for autocomplete."""
    schema = Record.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "partner.schema.json"
    schema["title"] = "Partner record"
    schema["description"] = (
        "One partner of the directory. Generated by `python build.py schema` from partnerdir/schema.py "
        "and data/programs.yaml; do not edit by hand."
    )
    defs = schema.get("$defs", {})
    props = schema["properties"]
    enums = {
        "programs": [p.id for p in rules.programs],
        "regions_served": [r.id for r in rules.regions],
        "expertise": [e.id for e in rules.expertise],
        "industries": [i.id for i in rules.industries],
    }
    for key, ids in enums.items():
        props[key]["items"]["enum"] = ids
    countries = sorted(rules.region_of_country)
    props["countries_served"]["items"]["examples"] = countries[:5]
    defs["Certification"]["properties"]["certification"]["enum"] = [c.id for c in rules.certifications]
    defs["Project"]["properties"]["products"]["items"]["enum"] = [p.id for p in rules.products]
    defs["Project"]["properties"]["distribution"]["enum"] = [d.id for d in rules.distributions]
    return schema


def json_schema_text(rules: Rules) -> str:
    return json.dumps(json_schema(rules), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
