"""Signed keyset cursors.

A cursor is `<payload>.<signature>`, both base64url without padding: the payload is the JSON of the sort's
fingerprint and the last row's values, the signature an HMAC-SHA256 of the payload (cut to 128 bits) with the
server's cursor key, so that a client can neither make one up nor alter one.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from typing import TypeAlias

import orjson
from starlette.requests import Request

from backend.api.listing.inputs import reject_json_constant
from backend.api.state import app_state
from backend.domain.errors import BadRequest
from backend.domain.ordering import SortKey

JSONScalar: TypeAlias = str | int | float | bool | None

MAX_CURSOR_LENGTH = 2048
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$"
_CURSOR_RE = re.compile(CURSOR_PATTERN)
_SIGNATURE_BYTES = 16


def encode_cursor(values: Sequence[JSONScalar], sort: Sequence[SortKey], key: bytes) -> str:
    """Make an opaque keyset cursor from the last row's values, one per key of `sort`, signed with `key`."""
    if len(values) != len(sort):
        raise ValueError(f"a cursor needs one value per sort key: {len(values)} values for {len(sort)} keys")
    payload = _b64(orjson.dumps([_sort_fingerprint(sort), list(values)]))
    return f"{payload}.{_signature(payload, key)}"


def decode_cursor(cursor: str, sort: Sequence[SortKey], key: bytes) -> list[JSONScalar]:
    """Read back a cursor's values, checking that this server made it (with `key`) and for this sort."""
    if len(cursor) > MAX_CURSOR_LENGTH or not _CURSOR_RE.fullmatch(cursor):
        raise _malformed_cursor()
    payload, _, signature = cursor.partition(".")
    if not hmac.compare_digest(signature, _signature(payload, key)):
        raise BadRequest(
            "'cursor' was not issued by this server, or was altered: use the cursor from a previous page's Link header",
            parameter="cursor",
        )
    try:
        data = json.loads(
            base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)), parse_constant=reject_json_constant
        )
    # binascii.Error, UnicodeDecodeError and JSONDecodeError are all ValueErrors.
    except (ValueError, RecursionError):
        raise _malformed_cursor() from None
    if not (isinstance(data, list) and len(data) == 2 and isinstance(data[0], str) and isinstance(data[1], list)):
        raise _malformed_cursor()
    values: list[JSONScalar] = []
    for value in data[1]:
        if value is not None and not isinstance(value, str | int | float | bool):
            raise _malformed_cursor()
        values.append(value)
    if data[0] != _sort_fingerprint(sort) or len(values) != len(sort):
        raise BadRequest(
            "cursor does not match the sort: keep the sort the cursor was made with, or start again without a cursor",
            parameter="cursor",
        )
    return values


def cursor_key(request: Request) -> bytes:
    """The app's key for signing list cursors (from its settings)."""
    return app_state(request.app).settings.cursor_key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _signature(payload: str, key: bytes) -> str:
    return _b64(hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest()[:_SIGNATURE_BYTES])


def _sort_fingerprint(sort: Sequence[SortKey]) -> str:
    return _fingerprint_of(",".join(("-" if key.descending else "") + key.field for key in sort))


@functools.lru_cache(maxsize=256)
def _fingerprint_of(canonical: str) -> str:
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def _malformed_cursor() -> BadRequest:
    return BadRequest("'cursor' is malformed: use the cursor from a previous page's Link header", parameter="cursor")
