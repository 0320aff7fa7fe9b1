"""`memberdesk serve --workers 2` as a user runs it: JSON logs with request ids, read-your-writes across
processes (the position travels with the client)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest

from backend.domain.admin.models import Role
from backend.infrastructure.settings import Settings
from backend.infrastructure.workers import MIN_WORKER_LIFE_SECONDS
from devtools.services import ServiceUrls, process_alive
from tests.factories import create_member
from tests.servers import free_port, serve


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


def _serve_command(port: int) -> list[str]:
    return [sys.executable, "-m", "backend.cli", "serve", "--port", str(port), "--workers", "2"]


async def _workers_answering(url: str, want: int, timeout: float = 30.0) -> set[int]:
    """The worker pids that answer fresh connections, once `want` different ones have (or the timeout)."""
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=url, timeout=5, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        while len(seen) < want and time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                batch = await asyncio.gather(*(client.get("/health/live") for _ in range(10)))
                seen |= {int(response.headers["X-Memberdesk-Worker"]) for response in batch}
            await asyncio.sleep(0.1)
    return seen


@dataclass
class Supervised:
    """A `memberdesk serve --workers 2` under test: its URL, the two workers that answered first, its log."""

    url: str
    first: set[int]
    log: Path
    returncode: int | None = None


@contextlib.asynccontextmanager
async def supervised(services: ServiceUrls, tmp_path: Path, **settings: str) -> AsyncIterator[Supervised]:
    """Two workers up and answering; SIGTERM to the supervisor on exit, its exit status then recorded."""
    port = free_port()
    env = {**os.environ, **services.as_env(), "ENVIRONMENT": "development", "DEBUG_HEADERS": "true", **settings}
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        supervisor = await asyncio.create_subprocess_exec(
            *_serve_command(port), env=env, stdout=output, stderr=subprocess.STDOUT
        )
    server = Supervised(f"http://127.0.0.1:{port}", set(), log)
    try:
        server.first = await _workers_answering(server.url, 2)
        assert len(server.first) == 2, log.read_text()[-3000:]
        await asyncio.sleep(MIN_WORKER_LIFE_SECONDS)  # past start-up: a death now is a crash, not a failed start
        yield server
    finally:
        supervisor.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            server.returncode = await supervisor.wait()


async def test_a_worker_that_dies_is_replaced_and_sigterm_stops_every_worker(
    services: ServiceUrls, tmp_path: Path
) -> None:
    async with supervised(services, tmp_path) as server:
        victim = min(server.first)
        os.kill(victim, signal.SIGKILL)
        now: set[int] = set()
        deadline = time.monotonic() + 30
        while not (now and victim not in now and len(now) == 2) and time.monotonic() < deadline:
            now = await _workers_answering(server.url, 2, timeout=5)
        assert victim not in now
        assert len(now) == 2
    assert server.returncode == 0
    assert [pid for pid in server.first | now if process_alive(pid)] == []


async def test_a_hung_worker_is_killed_and_replaced(services: ServiceUrls, tmp_path: Path) -> None:
    async with supervised(services, tmp_path, WORKER_TIMEOUT_SECONDS="2") as server:
        hung = min(server.first)
        os.kill(hung, signal.SIGSTOP)  # alive, answering nothing
        deadline = time.monotonic() + 30
        while process_alive(hung) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert not process_alive(hung)
        assert "has not answered" in server.log.read_text()
        now = await _workers_answering(server.url, 2)
        assert len(now) == 2
        assert hung not in now
    assert server.returncode == 0


def test_serve_refuses_a_port_another_server_listens_on(services: ServiceUrls) -> None:
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # would let a careless bind join it
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, **services.as_env(), "ENVIRONMENT": "development"}
        done = subprocess.run(_serve_command(port), env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr + done.stdout
