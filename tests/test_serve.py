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

from backend.domain.identity import Role
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
        "JWT_SECRET": settings.token_secret(),
        "DEBUG_HEADERS": "true",
        "LOG_FORMAT": "json",
        "HTTP_HEADER_TIMEOUT_SECONDS": "2",
        "HTTP_BODY_TIMEOUT_SECONDS": "2",
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


async def _workers_answering(url: str, want: int, timeout: float = 90.0) -> set[int]:
    """The worker pids that answer fresh connections, once `want` different ones have (or the timeout: two
    workers starting on a busy machine took over 30 s)."""
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


# The HTTP limits of `serve`, on raw connections to a real server (two workers, head and body timeouts of 2 s).
DRIP_FOR_SECONDS = 30.0  # far longer than the timeouts: a server that never cuts the client off fails the test


async def _connect(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = url.removeprefix("http://").split(":")
    return await asyncio.open_connection(host, int(port))


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """The status of the answer the server sent before closing, and everything it sent (until it closes)."""
    async with asyncio.timeout(DRIP_FOR_SECONDS):
        received = await reader.read()  # to EOF: the server must close the connection
    status = int(received.split(b" ", 2)[1]) if received.startswith(b"HTTP/1.1 ") else 0
    return status, received


async def _drip(writer: asyncio.StreamWriter, data: bytes, answered: asyncio.Task[tuple[int, bytes]]) -> bool:
    """Send `data` a byte at a time while `answered` reads; False once the server has answered (or closed)."""
    deadline = time.monotonic() + DRIP_FOR_SECONDS
    for byte in data:
        if answered.done() or time.monotonic() > deadline:
            return False
        try:
            writer.write(bytes([byte]))
            await writer.drain()
        except ConnectionError:
            return False
        await asyncio.sleep(0.25)
    return True


class TestHttpLimits:
    async def test_a_head_of_several_megabytes_is_refused_with_431(self, two_workers: tuple[str, Path]) -> None:
        url, _ = two_workers
        reader, writer = await _connect(url)

        async def send_huge_header() -> None:
            with contextlib.suppress(ConnectionError):
                writer.write(b"GET /health/live HTTP/1.1\r\nHost: memberdesk\r\nX-Big: ")
                for _ in range(80):  # 5 MB, never finished
                    writer.write(b"a" * 65536)
                    await writer.drain()

        answered = asyncio.create_task(_answer(reader))
        sending = asyncio.create_task(send_huge_header())
        status, received = await answered
        sending.cancel()
        writer.close()
        assert status == 431
        assert b"application/problem+json" in received

    @pytest.mark.parametrize("shape", ["one long header", "many headers", "a long url"])
    async def test_a_complete_head_over_the_limit_is_refused_with_431(
        self, two_workers: tuple[str, Path], shape: str
    ) -> None:
        url, _ = two_workers
        headers = {
            "one long header": b"X-Big: " + b"a" * 20_000 + b"\r\n",
            "many headers": b"".join(b"X-H%d: %s\r\n" % (n, b"v" * 30) for n in range(600)),
            "a long url": b"",
        }[shape]
        path = b"/health/live?" + b"q" * 20_000 if shape == "a long url" else b"/health/live"
        reader, writer = await _connect(url)
        with contextlib.suppress(ConnectionError):
            writer.write(b"GET " + path + b" HTTP/1.1\r\nHost: memberdesk\r\n" + headers + b"\r\n")
            await writer.drain()
        status, _ = await _answer(reader)
        writer.close()
        assert status == 431

    async def test_a_head_sent_a_byte_at_a_time_is_cut_off_with_408(self, two_workers: tuple[str, Path]) -> None:
        url, _ = two_workers
        reader, writer = await _connect(url)
        slow_head = b"GET /health/live HTTP/1.1\r\nHost: memberdesk\r\n" + b"X-Slow: " + b"s" * 500 + b"\r\n\r\n"
        answered = asyncio.create_task(_answer(reader))
        finished = await _drip(writer, slow_head, answered)
        status, _ = await answered
        writer.close()
        assert not finished, "the server let a slowloris send its whole head"
        assert status == 408

    async def test_a_connection_that_sends_nothing_is_closed(self, two_workers: tuple[str, Path]) -> None:
        url, _ = two_workers
        reader, writer = await _connect(url)
        status, _ = await _answer(reader)
        writer.close()
        assert status == 408

    async def test_a_body_sent_a_byte_at_a_time_is_cut_off(self, two_workers: tuple[str, Path]) -> None:
        url, _ = two_workers
        reader, writer = await _connect(url)
        body = b'{"email": "' + b"e" * 300 + b'@memberdesk.test", "password": "x"}'
        writer.write(
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: memberdesk\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)
        )
        await writer.drain()
        answered = asyncio.create_task(_answer(reader))
        finished = await _drip(writer, body, answered)
        status, _ = await answered
        writer.close()
        assert not finished, "the server let a client send its body as slowly as it liked"
        assert status == 408

    async def test_well_behaved_requests_keep_their_connection(self, two_workers: tuple[str, Path]) -> None:
        url, _ = two_workers
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            for _ in range(3):
                response = await client.get("/health/live", headers={"X-Padding": "p" * 8000})
                assert response.status_code == 200
