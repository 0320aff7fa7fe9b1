"""Logs, metrics and per-request database timing.

- Logs are JSON lines (structlog), every line of a request carrying its request id; the stdlib loggers of
  the app and its libraries go through the same renderer.
- Metrics live in one registry per app (no process-wide globals to reset between tests) and are served at
  /metrics in the Prometheus text format.
- Database time and statement count per request come from engine events into a context variable (asyncio
  copies it per task, SQLAlchemy's greenlets keep it), and go out as Server-Timing.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


def route_structlog_to_stdlib() -> None:
    """structlog events through the standard library's loggers, leaving their handlers as they are (tests)."""
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, structlog.stdlib.render_to_log_kwargs],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def configure_logging(level: str = "INFO", *, json: bool = True) -> None:
    """JSON (or console) lines on stderr for structlog and the standard library alike.

    structlog's events (the request log, one line per request) are rendered and written by structlog itself,
    without a standard-library record and handler per line: a third of the cost. The standard library's
    loggers (the app's modules, uvicorn, SQLAlchemy) go through the same processors and renderer.
    """
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_json_line)
        if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        logger_factory=structlog.WriteLoggerFactory(sys.stderr),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    # httpx logs a line per request at INFO: one per webhook delivered, which at thousands a second cost the outbox
    # worker more than the delivery (failures are logged by the worker itself).
    for noisy in ("uvicorn.access", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _json_line(event: dict[str, Any], **_: Any) -> str:
    return orjson.dumps(event, default=str).decode()


@dataclass
class RequestStats:
    """Database work of one request."""

    statements: int = 0
    db_seconds: float = 0.0


_request_stats: contextvars.ContextVar[RequestStats | None] = contextvars.ContextVar("request_stats", default=None)


def begin_request() -> RequestStats:
    stats = RequestStats()
    _request_stats.set(stats)
    return stats


def note_statement(seconds: float) -> None:
    """Add one statement of `seconds` to the current request's stats (statements sent to the driver directly)."""
    stats = _request_stats.get()
    if stats is not None:
        stats.statements += 1
        stats.db_seconds += seconds


def instrument_engine(engine: AsyncEngine) -> None:
    """Count statements and their time into the current request's stats."""

    def before(conn: Any, cursor: Any, statement: Any, parameters: Any, context: Any, executemany: Any) -> None:
        conn.info.setdefault("query_started", []).append(time.perf_counter())

    def after(conn: Any, cursor: Any, statement: Any, parameters: Any, context: Any, executemany: Any) -> None:
        note_statement(time.perf_counter() - conn.info["query_started"].pop())

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    event.listen(engine.sync_engine, "after_cursor_execute", after)


@dataclass
class Metrics:
    """The app's metrics, in a registry of its own."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.request_seconds = Histogram(
            "memberdesk_request_seconds",
            "Request latency by route",
            ["method", "route"],
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.responses = Counter(
            "memberdesk_responses_total", "Responses by route and status", ["method", "route", "status"], registry=r
        )
        self.reads = Counter(
            "memberdesk_reads_total", "Requests served by each database server", ["server"], registry=r
        )
        self.read_fallbacks = Counter(
            "memberdesk_read_fallbacks_total",
            "Reads sent to the primary or retried elsewhere, by reason",
            ["reason"],
            registry=r,
        )
        self.pool_checked_out = Gauge("memberdesk_db_pool_checked_out", "Connections in use", ["server"], registry=r)
        self.pool_size = Gauge("memberdesk_db_pool_size", "Pool size (without overflow)", ["server"], registry=r)
        self.replica_healthy = Gauge(
            "memberdesk_replica_healthy", "1 when the replica is in rotation", ["replica"], registry=r
        )
        self.replica_lag_seconds = Gauge(
            "memberdesk_replica_lag_seconds", "Replay lag in time", ["replica"], registry=r
        )
        self.replica_lag_bytes = Gauge(
            "memberdesk_replica_lag_bytes", "Replay lag in WAL bytes", ["replica"], registry=r
        )
        self.outbox_events = Gauge("memberdesk_outbox_events", "Outbox events by status", ["status"], registry=r)
