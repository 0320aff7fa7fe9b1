"""`memberdesk serve --workers 2` as a user runs it: JSON logs with request ids, read-your-writes across
processes (the position travels with the client)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from backend.domain.admin.models import Role
from backend.infrastructure.devservices import ServiceUrls
from backend.infrastructure.settings import Settings
from tests.factories import create_member
from tests.servers import serve


@pytest.fixture(scope="module")
def two_workers(
    services: ServiceUrls, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    log_path = tmp_path_factory.mktemp("serve") / "serve.log"
    environment = {
        "ENVIRONMENT": "production",
        "JWT_SECRET": settings.jwt_secret.get_secret_value(),
        "DEBUG_HEADERS": "true",
        "LOG_FORMAT": "json",
    }
    with serve(services, log_path, environment, workers=2) as url:
        yield url, log_path


async def test_two_processes_share_the_work_and_the_client_reads_its_writes(
    two_workers: tuple[str, Path], db: asyncpg.Connection, tokens: dict[Role, str]
) -> None:
    url, log_path = two_workers
    member_id = await create_member(db)
    # A connection per request, so that both processes get some.
    fresh = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, timeout=10, limits=fresh) as client:
        # (Not through /auth/login: other tests fail logins from this same loopback address on purpose.)
        client.headers["Authorization"] = f"Bearer {tokens[Role.admin]}"
        workers: set[str] = set()
        for n in range(8):
            edit = await client.patch(f"/api/v1/admin/members/{member_id}", json={"name": f"Edit {n}"})
            assert edit.status_code == 200
            read = await client.get(f"/api/v1/admin/members/{member_id}", headers={"X-Request-ID": f"rw-{n}"})
            assert read.json()["name"] == f"Edit {n}", "a read missed the same client's write"
            workers |= {edit.headers["X-Memberdesk-Worker"], read.headers["X-Memberdesk-Worker"]}
        # The kernel hands a new connection to whichever process wakes first, often the one that served the
        # last: concurrent connections make both take some.
        for _ in range(40):
            if len(workers) == 2:
                break
            batch = await asyncio.gather(*(client.get("/health/live") for _ in range(10)))
            workers |= {response.headers["X-Memberdesk-Worker"] for response in batch}
    assert len(workers) == 2

    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("event") == "request"]
    tagged = [line for line in requests if line.get("request_id") == "rw-3"]
    assert tagged
    assert tagged[0]["route"] == "/api/v1/admin/members/{member_id}"
    assert tagged[0]["status"] == 200
    assert all("timestamp" in line and "level" in line for line in requests)
