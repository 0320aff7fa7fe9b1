"""The project's bases for API-facing schemas, and the bounded types every input field is built from.

Whatever a client sends is checked against what PostgreSQL can hold before it gets there, so that hostile
input is a 4xx naming the field rather than a driver error (a 500):

- text: no NUL character (a text column refuses U+0000) and no lone surrogate (not Unicode, so not encodable
  as UTF-8); one rule on the base `Schema` covers every string of every request schema, nested ones included;
- integers: within their column (`Field(ge=..., le=...)` with the bounds below);
- times: any RFC 3339 value parses, and is normalised to UTC within what Python and PostgreSQL both hold
  (an offset that would carry year 9999 past the end is clamped there: see `backend.domain.timebounds`).

Request bodies take JSON's own types strictly (no `0` for a boolean, no `"1"` for an integer); JSON has no
UUID, time or enum type, so those fields take their JSON string (`Uuid`, `Choice[...]`, `Moment`). Query
parameters arrive as text and are parsed by the stricter grammars of `INT_TEXT`, `QueryBool` and `DayOrMoment`.
"""

from __future__ import annotations

import re
import typing
import uuid
from datetime import date, datetime
from enum import Enum
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    Strict,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from backend.domain.timebounds import in_utc

# JSON Schema keyword marking a response field that carries a secret (an API key, a token): see `shown_once`.
SHOWN_ONCE = "x-shown-once"

SMALLINT_MAX = 2**15 - 1
INTEGER_MAX = 2**31 - 1
BIGINT_MAX = 2**63 - 1
# Values one list filter takes: a page's worth (react-admin's getMany asks for the references of one page).
MAX_FILTER_VALUES = 200

# JSON Schema (ECMA-262) for "no U+0000": added to every request string that has no pattern, format or enum
# of its own, so that the OpenAPI document says what the server checks.
NO_NUL_PATTERN = "^[^\\u0000]*$"
# What counts as blank: Python's whitespace (str.isspace) and ECMA-262's `\s` together, so that the server,
# the schema's pattern and a client's validator agree on what a blank reason is.
BLANK = (
    "\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
# BLANK as a regex character class body, spelled out: `\s` means different things in ECMA-262, Rust and Python.
BLANK_CLASS = "".join(f"\\u{ord(char):04x}" for char in BLANK)
# Some character that is neither blank nor NUL, and no NUL anywhere.
NOT_BLANK_PATTERN = f"^[^\\u0000]*[^\\u0000{BLANK_CLASS}][^\\u0000]*$"


def check_text(value: str) -> str:
    """`value` if PostgreSQL can store it as text: no NUL, and valid Unicode (no lone surrogate)."""
    if "\x00" in value:
        raise PydanticCustomError("text_nul", "Text must not contain NUL characters (U+0000)")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise PydanticCustomError(
                "text_surrogate", "Text must be valid Unicode; a lone surrogate (U+D800 to U+DFFF) is not"
            ) from None
    return value


def _check_strings(value: Any) -> None:
    """Every string inside a field's value (lists and dicts included; models check their own)."""
    if isinstance(value, str):
        check_text(value)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _check_strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_strings(key)
            _check_strings(item)


def _integral_floats_as_int(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _integral_floats_as_int(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral_floats_as_int(item) for item in value]
    return value


def _declare_text_rule(schema: dict[str, Any]) -> None:
    """Add NO_NUL_PATTERN to each plain string in a model's JSON schema (its own properties, not $refs)."""
    if schema.get("type") == "string" and not ({"pattern", "format", "enum", "const"} & schema.keys()):
        schema["pattern"] = NO_NUL_PATTERN
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for branch in schema.get(key, ()):
            _declare_text_rule(branch)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            _declare_text_rule(schema[key])
    for prop in schema.get("properties", {}).values():
        _declare_text_rule(prop)


def _model_json_schema(schema: dict[str, Any]) -> None:
    _declare_text_rule(schema)
    for prop in schema.get("properties", {}).values():
        # A NOT_NULL field's None default stands for "left out", not for a value the schema admits.
        nullable = prop.get("type") == "null" or {"type": "null"} in prop.get("anyOf", ())
        if "default" in prop and prop["default"] is None and not nullable:
            del prop["default"]


class Schema(BaseModel):
    """Base of request schemas: strict JSON types, text PostgreSQL can store, and no field the client may not set."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = super().__get_pydantic_json_schema__(schema, handler)
        _model_json_schema(handler.resolve_ref_schema(json_schema))
        return json_schema

    @model_validator(mode="before")
    @classmethod
    def _json_integers(cls, data: Any) -> Any:
        # JSON Schema counts 2.0 as an integer, and Python's json reads it as a float: an integer it is.
        return _integral_floats_as_int(data)

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        _check_strings(value)
        return value


class ReadSchema(BaseModel):
    """Base of response schemas: built from rows, taking only the fields it declares."""

    model_config = ConfigDict(from_attributes=True, extra="ignore")


def shown_once(description: str) -> Any:
    """A response field that carries a secret: sent in the answer that made it and never stored anywhere.

    The answer kept for an Idempotency-Key is stored with such fields null (and says why), so a retry gets the
    record but never the secret again. Declare the field `str | None`: a replay answers null.
    """
    return Field(
        description=f"{description}. Shown in this answer only and never stored: null when the answer is a replay"
        " (Idempotent-Replayed: true)",
        json_schema_extra={SHOWN_ONCE: True},
    )


def shown_once_fields(model: object) -> tuple[str, ...]:
    """The JSON names of the `shown_once` fields of a response model (or of a list of one)."""
    if typing.get_origin(model) in (list, tuple):
        model = next(iter(typing.get_args(model)), None)
    if not isinstance(model, type) or not issubclass(model, BaseModel):
        return ()
    return tuple(
        field.serialization_alias or field.alias or name
        for name, field in model.model_fields.items()
        if isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get(SHOWN_ONCE) is True
    )


class _NotNull:
    """`Annotated[X | None, NOT_NULL] = None`: a field that may be left out (None) but not sent as null."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(_refuse_null, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        branches = [branch for branch in json_schema.get("anyOf", ()) if branch != {"type": "null"}]
        if len(branches) == 1:
            del json_schema["anyOf"]
            json_schema.update(branches[0])
        return json_schema


def _refuse_null(value: Any) -> Any:
    if value is None:
        raise PydanticCustomError("not_null", "Leave the field out to keep its value; it cannot be null")
    return value


NOT_NULL = _NotNull()


class _NotBlank:
    """`Annotated[str, Field(...), NOT_BLANK]`: text with some character that is not BLANK (nor NUL)."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(_refuse_blank, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {**handler(schema), "pattern": NOT_BLANK_PATTERN}


def _refuse_blank(value: str) -> str:
    if not value.strip(BLANK):
        raise PydanticCustomError("blank", "Text must not be blank")
    return value


NOT_BLANK = _NotBlank()


# JSON strings for the types JSON lacks. In strict mode pydantic would want the Python object itself.
Uuid = Annotated[uuid.UUID, Strict(False)]
E = TypeVar("E", bound=Enum)
Choice = Annotated[E, Strict(False)]


# RFC 3339 (https://www.rfc-editor.org/rfc/rfc3339#section-5.6) full-date and date-time, as JSON Schema's
# `date` and `date-time` formats: nothing else (pydantic alone would also take "1700000000" as a Unix time).
_FULL_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_DATE_TIME = re.compile(
    rf"({_FULL_DATE}[Tt][0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}(?:\.[0-9]+)?)([Zz]|[+-][0-9]{{2}}:[0-9]{{2}})"
)
_FRACTION = re.compile(r"\.([0-9]+)")


def parse_day(value: object) -> date:
    """A full-date (YYYY-MM-DD) as a date."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not re.fullmatch(_FULL_DATE, value):
        raise PydanticCustomError("date_format", "Input should be a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError("date_value", "Input should be a real date") from None


def parse_moment(value: object) -> datetime:
    """An RFC 3339 date-time, in UTC (clamped to what Python and PostgreSQL hold: see `in_utc`)."""
    if isinstance(value, datetime):
        return in_utc(value)
    match = _DATE_TIME.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise PydanticCustomError(
            "datetime_format", "Input should be an RFC 3339 date-time such as 2024-05-01T09:30:00+09:00"
        )
    text, offset = match.groups()
    # Python keeps microseconds; RFC 3339 allows any number of fraction digits.
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text.upper())
    try:
        parsed = datetime.fromisoformat(text + ("+00:00" if offset in ("Z", "z") else offset))
    except ValueError:
        raise PydanticCustomError("datetime_value", "Input should be a real date and time of day") from None
    return in_utc(parsed)


def _day_or_moment(value: object) -> date | datetime:
    if isinstance(value, str) and len(value) == 10:
        return parse_day(value)
    return parse_moment(value)


_DATE_JSON = {"type": "string", "format": "date"}
_DATE_TIME_JSON = {"type": "string", "format": "date-time"}

Moment = Annotated[datetime, BeforeValidator(parse_moment), WithJsonSchema(_DATE_TIME_JSON)]
# A date filter: a date is a whole day in ADMIN_TIMEZONE, a date-time an instant.
DayOrMoment = Annotated[
    date | datetime, BeforeValidator(_day_or_moment), WithJsonSchema({"anyOf": [_DATE_JSON, _DATE_TIME_JSON]})
]


def _integer_text(value: object) -> object:
    if isinstance(value, str):
        if not re.fullmatch(r"-?[0-9]+", value):
            raise PydanticCustomError("int_parsing", "Input should be an integer written in decimal digits")
        if len(value.lstrip("-0")) > 20:  # past any column (and int() of thousands of digits is costly)
            raise PydanticCustomError("int_range", "Input is out of range for any integer column")
        return int(value)
    return value


def _boolean_text(value: object) -> object:
    if isinstance(value, str):
        if value not in ("true", "false"):
            raise PydanticCustomError("bool_parsing", "Input should be true or false")
        return value == "true"
    return value


# Query parameters are text: these take exactly the JSON spelling of their value, and no other. INT_TEXT goes
# after an integer's bounds (`Annotated[int, Field(ge=1), INT_TEXT]`), so that the bounds stay in its JSON schema.
INT_TEXT = BeforeValidator(_integer_text)
QueryBool = Annotated[bool, BeforeValidator(_boolean_text)]
