"""Prometheus metrics, for viewers and API keys, or without credentials to the scraper's networks."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from backend.api.deps import DatabaseDep, require_scraper
from backend.api.problems import PROBLEM_RESPONSES
from backend.api.state import app_state
from backend.domain.outbox.service import backlog

router = APIRouter(tags=["health"])
logger = logging.getLogger(__name__)
BACKLOG_TIMEOUT_SECONDS = 2.0


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    dependencies=[Depends(require_scraper)],
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus' text format"},
        **{code: PROBLEM_RESPONSES[code] for code in (401, 403)},
    },
)
async def metrics(request: Request, database: DatabaseDep) -> Response:
    """Latency by route, status counts, pool use per server, reads per server, replica lag, outbox backlog.

    Needs a viewer's token or an API key (Prometheus: `authorization: {credentials: <key>}`), unless
    METRICS_PUBLIC or the client is in METRICS_ALLOWED_NETWORKS.
    """
    registry = app_state(request.app).metrics
    pools = {
        "primary_writes": database.primary,
        **{t.name: t.engine for t in (database.primary_reads, *database.replicas)},
    }
    for name, engine in pools.items():
        pool = engine.pool
        registry.pool_checked_out.labels(name).set(pool.checkedout())  # type: ignore[attr-defined]
        registry.pool_size.labels(name).set(pool.size())  # type: ignore[attr-defined]
    for name, health in database.monitor.health.items():
        registry.replica_healthy.labels(name).set(1 if health.healthy else 0)
        if health.lag_seconds is not None:
            registry.replica_lag_seconds.labels(name).set(health.lag_seconds)
        if health.lag_bytes is not None:
            registry.replica_lag_bytes.labels(name).set(health.lag_bytes)
    try:
        target = await database.read_target()
        async with target.sessions() as session:
            async with asyncio.timeout(BACKLOG_TIMEOUT_SECONDS):
                counts = await backlog(session)
        for status, count in counts.items():
            registry.outbox_events.labels(status).set(count)
    except Exception:  # a scrape still answers with what it has
        logger.warning("outbox backlog unavailable for metrics", exc_info=True)
    return Response(generate_latest(registry.registry), media_type=CONTENT_TYPE_LATEST)
