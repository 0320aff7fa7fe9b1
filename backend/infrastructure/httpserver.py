"""uvicorn's httptools protocol with the bounds it lacks: request head size, and time to send head and body.

uvicorn bounds none of these with httptools (its `h11_max_incomplete_event_size` applies to h11 only, and
httptools, like llhttp under it, has no header size limit): a client could send headers of several MB, which
were buffered, and a client that connects and sends nothing, or a header byte every few seconds (slowloris),
or a body the same way, held its connection, and its request, for as long as it liked. uvicorn's keep-alive
timeout only runs between requests, and any byte received stops it.

- The request line and headers may take at most `max_head_bytes`: past that the answer is 431 and the
  connection is closed. Counted as the bytes arrive, so a head that never ends is cut off as soon as it is too
  long, not buffered.
- They must arrive within `head_timeout` of the connection's opening, or of the request's first byte on a
  kept-alive connection: else 408 and the connection is closed, however steadily the bytes trickle in.
- The body must arrive within `body_timeout` of the head: else 408 (when no answer has started) and closed.

Both answers are problem+json, as the app's are, with `Connection: close`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import httptools
import orjson
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from backend.infrastructure.settings import Settings

logger = logging.getLogger("memberdesk.http")
LINGER_SECONDS = 2.0  # after a refusal, how long the client's further bytes are read and dropped


@dataclass(frozen=True)
class HttpLimits:
    max_head_bytes: int = 16_384
    head_timeout: float = 10.0
    body_timeout: float = 30.0
    keep_alive: int = 5  # uvicorn's: how long an idle kept-alive connection stays open

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpLimits:
        return cls(
            max_head_bytes=settings.http_max_header_bytes,
            head_timeout=settings.http_header_timeout_seconds,
            body_timeout=settings.http_body_timeout_seconds,
            keep_alive=settings.http_keep_alive_seconds,
        )


class ServerConfig(uvicorn.Config):
    """uvicorn's configuration, carrying the limits to every connection's protocol."""

    def __init__(self, app: Any, *, limits: HttpLimits, **options: Any) -> None:
        super().__init__(app, http=LimitedHttpToolsProtocol, timeout_keep_alive=limits.keep_alive, **options)
        self.http_limits = limits


class _HeadTooLarge(Exception):
    pass


def _problem(status: int, reason: str, detail: str) -> bytes:
    body = orjson.dumps({"type": "about:blank", "title": reason, "status": status, "detail": detail})
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/problem+json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol, with the request head's size and the time to send head and body bounded."""

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.limits: HttpLimits = getattr(config, "http_limits", HttpLimits())
        self._in_head = True  # between a request's end (or the connection's start) and its headers' end
        self._head_bytes = 0  # received while in the head
        self._head_tally = 0  # the head's request line and headers as parsed so far
        self._timer: asyncio.TimerHandle | None = None
        self._lingering = False  # refused and answered: closing

    # The connection and its bytes

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.limits.head_timeout, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """As uvicorn's, counting the head's bytes and refusing one that grows too long."""
        if self._lingering:
            return  # refused: what the client still sends is dropped until the connection closes
        self._unset_keepalive_if_required()
        if self._in_head:
            if self._timer is None:  # a kept-alive connection's next request
                self._arm(self.limits.head_timeout, self._head_timed_out)
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _HeadTooLarge):
                self._refuse_head()
                return
            self.logger.warning("Invalid HTTP request received.")
            self.send_400_response("Invalid HTTP request received.")
            return
        if self._in_head and self._head_bytes > self.limits.max_head_bytes:
            self._refuse_head()

    # Parser callbacks

    def on_message_begin(self) -> None:
        self._head_tally = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._tally(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._tally(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._arm(self.limits.body_timeout, self._body_timed_out)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head = True
        self._disarm()
        super().on_message_complete()

    # The bounds

    def _tally(self, size: int) -> None:
        self._head_tally += size
        if self._head_tally > self.limits.max_head_bytes:
            raise _HeadTooLarge  # stops the parser; data_received answers 431

    def _arm(self, seconds: float, callback: Any) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _answering(self) -> bool:
        """Whether an answer to an earlier request, or to this one, is being sent on the connection."""
        return self.cycle is not None and self.cycle.response_started and not self.cycle.response_complete

    def _close_with(self, answer: bytes | None) -> None:
        """Send `answer` (if any) and close.

        With an answer, the close lingers: the sending side is shut first and what the client still sends is
        read and dropped for a moment. Closed at once, a socket with unread data sends a reset, and the client's
        kernel may throw the answer away before the client reads it.
        """
        self._disarm()
        if self.transport.is_closing() or self._lingering:
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # The request's app sends nothing more, and reads a disconnect.
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        if answer is None or not self.transport.can_write_eof():
            if answer is not None:
                self.transport.write(answer)
            self.transport.close()
            return
        self.transport.write(answer)
        self.transport.write_eof()
        self._lingering = True
        self.flow.resume_reading()
        self._timer = self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def _refuse_head(self) -> None:
        logger.warning(
            "refused a request head over %d bytes from %s", self.limits.max_head_bytes, self._client_address()
        )
        detail = f"The request line and headers exceed {self.limits.max_head_bytes} bytes."
        self._close_with(None if self._answering() else _problem(431, "Request Header Fields Too Large", detail))

    def _head_timed_out(self) -> None:
        self._timer = None
        logger.warning(
            "closed a connection whose request head took over %.0f s, from %s",
            self.limits.head_timeout,
            self._client_address(),
        )
        detail = f"The request line and headers must arrive within {self.limits.head_timeout:g} seconds."
        self._close_with(None if self._answering() else _problem(408, "Request Timeout", detail))

    def _body_timed_out(self) -> None:
        self._timer = None
        logger.warning(
            "closed a connection whose request body took over %.0f s, from %s",
            self.limits.body_timeout,
            self._client_address(),
        )
        started = self.cycle is not None and self.cycle.response_started
        detail = f"The request body must arrive within {self.limits.body_timeout:g} seconds."
        self._close_with(None if started else _problem(408, "Request Timeout", detail))

    def _client_address(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "unknown"
