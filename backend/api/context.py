"""Per-request context: request id, logs, Server-Timing, read-your-writes position, failover, metrics."""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass
from typing import Any

import structlog
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.domain.errors import DomainError
from backend.infrastructure.database import is_timed_out, is_unavailable
from backend.infrastructure.observability import Metrics, begin_request
from backend.infrastructure.replication import int_to_lsn
from backend.infrastructure.settings import Settings

REQUEST_LOGGER = "memberdesk.request"
log = structlog.get_logger(REQUEST_LOGGER)

REQUEST_ID_HEADER = "X-Request-ID"
LSN_HEADER = "X-Memberdesk-LSN"
LSN_COOKIE = "memberdesk_lsn"
READ_FROM_HEADER = "X-Memberdesk-Read-From"
WORKER_HEADER = "X-Memberdesk-Worker"
RETRY_MARKER = "x-memberdesk-retry-elsewhere"  # set by the 503 handler when a replica failed a GET
AVOID_REPLICAS = "avoid_replicas"

_SAFE_METHODS = {"GET", "HEAD"}


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = str(value.decode("latin-1"))
            if 0 < len(text) <= 64 and text.isprintable():
                return text
    return f"{random.getrandbits(128):032x}"  # unique enough to find a request's lines; no system call


@dataclass
class _Answer:
    """What the app sent of its answer: the status, and whether the body started and ended."""

    status: int = 500
    started: bool = False
    complete: bool = False


def failure_status(exc: BaseException) -> int:
    """The status an exception is answered with before the answer starts (see api/problems.py)."""
    if isinstance(exc, DomainError):
        return exc.status
    if is_unavailable(exc) or is_timed_out(exc):
        return 503
    return 500


class RequestContext:
    """Wraps every HTTP request; a GET that lost its replica is run once more, elsewhere."""

    def __init__(self, app: ASGIApp, settings: Settings, metrics: Metrics, templates: dict[Any, str]) -> None:
        self.app = app
        self.settings = settings
        self.metrics = metrics
        self.templates = templates  # endpoint -> its full path template, for metric labels
        self._series: dict[tuple[str, str, int, str | None], tuple[Any, Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        answer = _Answer()
        aborted: str | None = None
        try:
            failed = await self._attempt(scope, receive, send, request_id, started, answer, avoid=())
            if failed is not None:
                self.metrics.read_fallbacks.labels("replica_failed_mid_request").inc()
                answer = _Answer()
                await self._attempt(scope, receive, send, request_id, started, answer, avoid=(failed,))
            if answer.started and not answer.complete:
                aborted = "client gone"  # the server stopped sending because nobody was reading
        except Exception as exc:
            if answer.started and not answer.complete:
                # It failed after its first bytes (a streamed export): the client gets a truncated body, and
                # the log and metrics get the status the failure would have had before them.
                answer.status = failure_status(exc)
                aborted = type(exc).__name__
            raise
        finally:
            template = self.templates.get(scope.get("endpoint"), "unmatched")
            elapsed = time.perf_counter() - started
            server = scope.get("state", {}).get("read_target")
            self._count(scope["method"], template, answer.status, server, elapsed)
            fields: dict[str, Any] = {"aborted": aborted} if aborted is not None else {}
            (log.warning if aborted else log.info)(
                "request",
                logger=REQUEST_LOGGER,
                method=scope["method"],
                path=scope["path"],
                route=template,
                status=answer.status,
                duration_ms=round(elapsed * 1000, 2),
                read_from=server,
                **fields,
            )

    def _count(self, method: str, template: str, status: int, server: str | None, elapsed: float) -> None:
        """The request's metrics; each label set's series looked up once per process, not per request."""
        key = (method, template, status, server)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = (
                self.metrics.request_seconds.labels(method, template),
                self.metrics.responses.labels(method, template, str(status)),
                self.metrics.reads.labels(server) if server else None,
            )
        latency, responses, reads = series
        latency.observe(elapsed)
        responses.inc()
        if reads is not None:
            reads.inc()

    async def _attempt(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        request_id: str,
        started: float,
        answer: _Answer,
        avoid: tuple[str, ...],
    ) -> str | None:
        """Run the app once, noting what it sent in `answer`; returns the replica to avoid when a GET should be
        retried."""
        state: dict[str, Any] = {"request_id": request_id, AVOID_REPLICAS: avoid}
        scope["state"] = state
        stats = begin_request()
        failed: str | None = None

        async def respond(message: Message) -> None:
            nonlocal failed
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                marker = headers.get(RETRY_MARKER)
                if marker and scope["method"] in _SAFE_METHODS and not avoid:
                    failed = marker  # swallowed: the request runs once more, elsewhere
                    return
                if marker:
                    del headers[RETRY_MARKER]
                answer.status = message["status"]
                answer.started = True
                self._decorate(headers, state, stats, started, request_id)
            elif failed is not None:
                return
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                answer.complete = True
            await send(message)

        await self.app(scope, receive, respond)
        return failed

    def _decorate(
        self, headers: MutableHeaders, state: dict[str, Any], stats: Any, started: float, request_id: str
    ) -> None:
        headers[REQUEST_ID_HEADER] = request_id
        total_ms = (time.perf_counter() - started) * 1000
        headers.append(
            "Server-Timing",
            f'db;dur={stats.db_seconds * 1000:.2f};desc="{stats.statements} statements", app;dur={total_ms:.2f}',
        )
        position = state.get("commit_lsn")
        if position is not None:
            lsn = int_to_lsn(position)
            headers[LSN_HEADER] = lsn
            headers.append(
                "Set-Cookie",
                f"{LSN_COOKIE}={lsn}; Max-Age={self.settings.read_your_writes_seconds}; Path=/; HttpOnly; SameSite=Lax",
            )
        if self.settings.debug_headers:
            headers[WORKER_HEADER] = str(os.getpid())
            if state.get("read_target"):
                headers[READ_FROM_HEADER] = state["read_target"]
