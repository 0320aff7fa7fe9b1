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

from backend.api.state import RequestState, scope_state
from backend.domain.errors import DomainError
from backend.infrastructure.database_errors import is_timed_out, is_unavailable
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

_SAFE_METHODS = {"GET", "HEAD"}


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = str(value.decode("latin-1"))
            if 0 < len(text) <= 64 and text.isprintable():
                return text
    return f"{random.getrandbits(128):032x}"  # unique enough to find a request's lines; no system call


@dataclass(slots=True)
class _Answer:
    """What the app sent of its answer: the status, whether the body started and ended, and why it stopped short."""

    status: int = 500
    started: bool = False
    complete: bool = False
    aborted: str | None = None


def failure_status(exc: BaseException) -> int:
    """The status an exception is answered with before the answer starts (see api/problems.py)."""
    if isinstance(exc, DomainError):
        return exc.status
    if is_unavailable(exc) or is_timed_out(exc):
        return 503
    return 500


class RequestContext:
    """Wraps every HTTP request: its id and state, its log line and metrics, and its answer's headers
    (X-Request-ID, Server-Timing, the read-your-writes position); a GET that lost its replica is run once more,
    elsewhere."""

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
        try:
            failed = await self._attempt(scope, receive, send, RequestState(request_id), started, answer)
            if failed is not None:
                self.metrics.read_fallbacks.labels("replica_failed_mid_request").inc()
                answer = _Answer()
                retry = RequestState(request_id, avoid_replicas=(failed,))
                await self._attempt(scope, receive, send, retry, started, answer)
            if answer.started and not answer.complete:
                answer.aborted = "client gone"  # the server stopped sending because nobody was reading
        except Exception as exc:
            if answer.started and not answer.complete:
                # It failed after its first bytes (a streamed export): the client gets a truncated body, and
                # the log and metrics get the status the failure would have had before them.
                answer.status = failure_status(exc)
                answer.aborted = type(exc).__name__
            raise
        finally:
            self._record(scope, answer, time.perf_counter() - started)

    async def _attempt(
        self, scope: Scope, receive: Receive, send: Send, state: RequestState, started: float, answer: _Answer
    ) -> str | None:
        """Run the app once with `state`, noting what it sent in `answer`; returns the replica to avoid when a
        GET should be retried."""
        scope["state"] = state
        stats = begin_request()
        failed: str | None = None

        async def respond(message: Message) -> None:
            nonlocal failed
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                failed = self._replica_to_avoid(headers, scope["method"], state)
                if failed is not None:
                    return  # swallowed: the request runs once more, elsewhere
                answer.status = message["status"]
                answer.started = True
                self._decorate(headers, state, stats, started)
            elif failed is not None:
                return
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                answer.complete = True
            await send(message)

        await self.app(scope, receive, respond)
        return failed

    @staticmethod
    def _replica_to_avoid(headers: MutableHeaders, method: str, state: RequestState) -> str | None:
        """The replica that failed under a first attempt at a GET, which is then run again without it; the
        marker the 503 handler set is taken off every other answer."""
        marker = headers.get(RETRY_MARKER)
        if not marker:
            return None
        if method in _SAFE_METHODS and not state.avoid_replicas:
            return marker
        del headers[RETRY_MARKER]
        return None

    def _decorate(self, headers: MutableHeaders, state: RequestState, stats: Any, started: float) -> None:
        """The answer's headers: the request id, Server-Timing, the commit's position, and the debug headers."""
        headers[REQUEST_ID_HEADER] = state.request_id
        total_ms = (time.perf_counter() - started) * 1000
        headers.append(
            "Server-Timing",
            f'db;dur={stats.db_seconds * 1000:.2f};desc="{stats.statements} statements", app;dur={total_ms:.2f}',
        )
        if state.commit_lsn is not None:
            self._send_position(headers, state.commit_lsn)
        if self.settings.debug_headers:
            headers[WORKER_HEADER] = str(os.getpid())
            if state.read_target:
                headers[READ_FROM_HEADER] = state.read_target

    def _send_position(self, headers: MutableHeaders, position: int) -> None:
        """The commit's WAL position, as a header and as the cookie the client's next reads present."""
        lsn = int_to_lsn(position)
        headers[LSN_HEADER] = lsn
        headers.append(
            "Set-Cookie",
            f"{LSN_COOKIE}={lsn}; Max-Age={self.settings.read_your_writes_seconds}; Path=/; HttpOnly; SameSite=Lax",
        )

    def _record(self, scope: Scope, answer: _Answer, elapsed: float) -> None:
        """The request's metrics and its log line."""
        template = self.templates.get(scope.get("endpoint"), "unmatched")
        state = scope_state(scope)
        server = state.read_target if state is not None else None
        self._count(scope["method"], template, answer.status, server, elapsed)
        fields: dict[str, Any] = {"aborted": answer.aborted} if answer.aborted is not None else {}
        (log.warning if answer.aborted else log.info)(
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
