"""The raw request, checked before routing: headers and query text PostgreSQL could not hold never reach a handler.

- A header value with a NUL or another control character (RFC 9110 allows none but HTAB) is a 400 naming it.
- A query parameter that is not UTF-8 text, or holds a NUL (`%00`), is a 400 naming it: a text column refuses
  U+0000, and whatever a handler made of it would otherwise fail in the driver, as a 500.
- An empty parameter (`created_from=`, or a bare `q`) is dropped, so it means "not given" everywhere, as the
  forms of browsers and form-based tools send a field left blank.
"""

from __future__ import annotations

import re
from itertools import chain
from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Receive, Scope, Send

from backend.api.problems import problem

# RFC 9110 section 5.5: field values are visible characters, spaces and tabs, and obs-text (0x80-0xFF).
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


class InputGuard:
    """400 for control characters in headers and for query text that is not storable; empty parameters dropped."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        # One search over every name and value (this runs on every request); the culprit is looked for on a hit.
        if _CONTROL.search(b"\t".join(chain.from_iterable(headers))):
            name = next(name for name, value in headers if _CONTROL.search(name) or _CONTROL.search(value))
            shown = name.decode("latin-1").translate(_VISIBLE)
            await _reject(scope, receive, send, f"Header {shown!r} holds a control character.", header=shown)
            return
        query: bytes = scope.get("query_string", b"")
        if query:
            # Only percent-escapes (or raw bytes past ASCII) can make text that is not storable, or not UTF-8.
            escaped = b"%" in query or not query.isascii()
            kept: list[bytes] = []
            for pair in query.split(b"&"):
                raw_name, _, raw_value = pair.partition(b"=")
                if not raw_value or not raw_name:
                    continue  # empty: not given
                if escaped:
                    try:
                        _decoded(raw_name)
                        _decoded(raw_value)
                    except ValueError as exc:
                        shown = raw_name.decode("latin-1")[:60]
                        await _reject(scope, receive, send, f"Query parameter {shown!r} {exc}.", parameter=shown)
                        return
                kept.append(pair)
            scope["query_string"] = b"&".join(kept)
        await self.app(scope, receive, send)


# Control characters shown as "?" in a message about them.
_VISIBLE = {code: "?" for code in (*range(0x20), 0x7F)}


def _decoded(raw: bytes) -> str:
    """A query name or value as text (`+` is a space), or ValueError saying why it cannot be text."""
    data = unquote_to_bytes(raw.replace(b"+", b" "))
    if b"\x00" in data:
        raise ValueError("holds a NUL character (%00), which text cannot contain")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("is not UTF-8 text") from None


async def _reject(scope: Scope, receive: Receive, send: Send, detail: str, **extra: str) -> None:
    response = problem(400, "Bad request", detail, **extra)
    await response(scope, receive, send)
