"""Schemathesis hooks for tests/test_schemathesis.py: rules of the API that its OpenAPI document cannot state.

`map_case` makes each *positive* case (one schemathesis asserts must be accepted) valid by the API's contract;
`filter_case` drops *negative* cases that are not negative once on the wire, and cases whose head the server refuses
(431) before the API sees it. Every check still runs on every case that remains.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, TypeGuard
from urllib.parse import urlencode

import jsonschema_rs
import schemathesis

# (minimum, maximum) pairs of a member's preference: a minimum above its maximum is a 422 (a JSON Schema cannot
# compare two properties).
PREFERENCE_RANGES = (("age_min", "age_max"), ("height_min_cm", "height_max_cm"))
# An upload's announced size is checked against PHOTO_MAX_BYTES or DOCUMENT_MAX_BYTES, settings the document cannot
# state (its schema bounds the column): a larger one is a 422. The least either setting may be is 1,024 bytes.
LEAST_UPLOAD_LIMIT = 1024


def _number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return case
    # A cursor is minted and signed by the server (X-Next-Cursor): any other value is refused by design.
    if isinstance(case.query, dict):
        case.query.pop("cursor", None)
    body = case.body
    if isinstance(body, dict) and _number(body.get("size_bytes")) and body["size_bytes"] > LEAST_UPLOAD_LIMIT:
        body["size_bytes"] = LEAST_UPLOAD_LIMIT
    # A suspension's `until` must lie in the future, which a JSON Schema cannot say.
    if isinstance(body, dict) and isinstance(body.get("until"), str):
        body["until"] = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    # A member cannot report themself: the document cannot say that two fields differ.
    if (
        isinstance(body, dict)
        and "reporter_member_id" in body
        and body.get("reporter_member_id") == body.get("reported_member_id")
    ):
        del body["reporter_member_id"]
    # An erasure's `confirm` repeats the path's member id: two values equal, which the document cannot say.
    path = case.path_parameters if isinstance(case.path_parameters, dict) else {}
    if isinstance(body, dict) and "confirm" in body and "member_id" in path:
        body["confirm"] = str(path["member_id"])
    preference = body.get("preference") if isinstance(body, dict) else None
    if isinstance(preference, dict):
        for low, high in PREFERENCE_RANGES:
            values = (preference.get(low), preference.get(high))
            low_value, high_value = values
            if _number(low_value) and _number(high_value) and low_value > high_value:
                preference[low], preference[high] = high_value, low_value
    return case


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return str(value)  # a plain str: schemathesis passes subclasses of its own
    return "null" if value is None else json.dumps(value)


# `memberdesk serve` answers a request whose line and headers pass HTTP_MAX_HEADER_BYTES (16,384 by default) with a
# 431 before the API sees it (tests/test_serve.py): a bound on the whole head, which no parameter's schema can state.
# Several list filters at their maxItems together (200 ids and 200 creators of API keys) pass it; such a case tests
# the server's head limit, not the API. The margin is for the path, the token and the other headers.
MAX_HEAD_BYTES = 16_384
HEAD_MARGIN = 2_048


def _head_bytes(case: Any) -> int:
    pairs = []
    for name, value in (case.query or {}).items() if isinstance(case.query, dict) else ():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((str(name), _as_text(item)))
    headers = case.headers if isinstance(case.headers, dict) else {}
    return len(urlencode(pairs)) + sum(len(str(name)) + len(_as_text(value)) + 4 for name, value in headers.items())


@schemathesis.hook
def filter_case(context: Any, case: Any) -> bool:
    if _head_bytes(case) > MAX_HEAD_BYTES - HEAD_MARGIN:
        return False
    meta = case.meta
    if meta is None or not meta.generation.mode.is_negative or not isinstance(case.query, dict):
        return True
    # A list of values goes as repeated parameters, so a "wrong type" (null, true, 5, a lone string) arrives as
    # one text value, and may be a valid one: then the case is not negative on the wire. Schemathesis weighs
    # this for single values itself, not for lists.
    for name, value in case.query.items():
        parameter = case.operation.query.get(name)
        definition = parameter.definition if parameter is not None else {}
        schema = definition.get("schema", {})
        repeated = schema.get("type") == "array" and definition.get("explode", True)
        if not repeated or isinstance(value, list | dict):
            continue
        if jsonschema_rs.validator_for(schema).is_valid([_as_text(value)]):
            return False
    return True
