"""`memberdesk serve --workers 2` as a user runs it: JSON logs with request ids, read-your-writes across
processes (the position travels with the client)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from backend.domain.admin.models import Role
from backend.infrastructure.devservices import ServiceUrls
from backend.infrastructure.settings import Settings
from tests.factories import create_member
from tests.test_schemathesis import _free_port


@pytest.fixture(scope="module")
def two_workers(
    services: ServiceUrls, settings: Settings, tokens: dict[Role, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    port = _free_port()
    log_path = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {
        **os.environ,
        **services.as_env(),
        "ENVIRONMENT": "production",
        "JWT_SECRET": settings.jwt_secret.get_secret_value(),
        "DEBUG_HEADERS": "true",
        "LOG_FORMAT": "json",
    }
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "backend.cli", "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve did not start: {log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield url, log_path
    finally:
        process.terminate()
        process.wait(timeout=30)


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
        for _ in range(40):
            workers.add((await client.get("/health/live")).headers["X-Memberdesk-Worker"])
    assert len(workers) == 2

    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("event") == "request"]
    tagged = [line for line in requests if line.get("request_id") == "rw-3"]
    assert tagged
    assert tagged[0]["route"] == "/api/v1/admin/members/{member_id}"
    assert tagged[0]["status"] == 200
    assert all("timestamp" in line and "level" in line for line in requests)
