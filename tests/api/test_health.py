"""Liveness and readiness."""

from __future__ import annotations

import httpx


async def test_live(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_reports_primary_replica_lag_and_bucket(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert body["primary"]["status"] == "ok"
    assert body["storage"]["status"] == "ok"
    [replica] = body["replicas"]
    assert replica["status"] == "ok"
    assert replica["lag_bytes"] is not None
    assert replica["lag_bytes"] >= 0
    assert replica["lag_seconds"] is not None
