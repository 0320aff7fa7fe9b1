"""Reading the list parameters' raw text: integers, JSON, and client input quoted back in messages."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping

from backend.domain.errors import BadRequest

# PostgreSQL's OFFSET is a bigint: anything larger would fail in the driver, as a 500.
MAX_OFFSET = 2**63 - 1
_INT_RE = re.compile(r"-?[0-9]+")


def parse_int(control: Mapping[str, str], name: str, minimum: int, maximum: int, *, default: int) -> int:
    """The integer parameter `name` of `control` within [minimum, maximum], `default` when absent; else a 400."""
    raw = control.get(name)
    if raw is None:
        return default
    if not _INT_RE.fullmatch(raw):
        raise BadRequest(f"'{name}' must be an integer, got {shown(raw)}", parameter=name)
    try:
        value = int(raw)
    except ValueError:  # more digits than int() accepts: out of range either way
        value = maximum + 1 if not raw.startswith("-") else minimum - 1
    if value < minimum:
        rule = "must not be negative" if minimum == 0 else f"must be at least {minimum}"
        raise BadRequest(f"'{name}' {rule}, got {shown(raw)}", parameter=name)
    if value > maximum:
        raise BadRequest(f"'{name}' must be at most {maximum}, got {shown(raw)}", parameter=name)
    return value


def load_json(raw: str, parameter: str, expected: str, *, numbers_as_text: bool = False) -> object:
    """The JSON value of a parameter (NaN and Infinity are not JSON); a 400 naming it otherwise."""
    try:
        if numbers_as_text:
            return json.loads(raw, parse_int=str, parse_float=str, parse_constant=reject_json_constant)
        return json.loads(raw, parse_constant=reject_json_constant)
    # Deeply nested input raises RecursionError, which must stay a 400 like any other bad JSON.
    except (ValueError, RecursionError):
        raise BadRequest(f"'{parameter}' is not valid JSON; expected {expected}", parameter=parameter) from None


def reject_json_constant(name: str) -> object:
    """For json.loads(parse_constant=...): NaN, Infinity and -Infinity are not JSON."""
    raise ValueError(f"{name} is not valid JSON")


def is_int(value: object) -> bool:
    """A JSON integer (a bool is not one)."""
    return isinstance(value, int) and not isinstance(value, bool)


def unknown_filter(name: str, known: Iterable[str], *, parameter: str) -> BadRequest:
    """The 400 for a filter the list does not have, listing those it has."""
    names = ", ".join(sorted(known)) or "none"
    return BadRequest(f"Unknown filter {shown(name)}. Known filters: {names}", parameter=parameter)


def shown(raw: str) -> str:
    """Quote client input for a message, cut short so a huge parameter does not make a huge answer."""
    return repr(raw if len(raw) <= 60 else raw[:57] + "...")
