"""Every error is application/problem+json."""

from __future__ import annotations

import httpx


async def test_unknown_route_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/admin/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Not found"


async def test_wrong_method_is_a_405_problem(client: httpx.AsyncClient) -> None:
    response = await client.delete("/health/live")
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"


async def test_validation_errors_list_loc_and_msg(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/admin/members/not-a-uuid")
    body = response.json()
    assert response.status_code == 422
    assert body["status"] == 422
    assert body["errors"][0]["loc"] == ["path", "member_id"]
    assert body["errors"][0]["msg"]


async def test_request_id_is_returned_and_kept(client: httpx.AsyncClient) -> None:
    made = await client.get("/health/live")
    assert len(made.headers["X-Request-ID"]) == 32
    kept = await client.get("/health/live", headers={"X-Request-ID": "trace-42"})
    assert kept.headers["X-Request-ID"] == "trace-42"
