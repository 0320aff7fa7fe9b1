"""`memberdesk serve` run as a user runs it, for the tests that need a real HTTP server."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from backend.cli import migrate
from backend.infrastructure.settings import Settings
from backend.infrastructure.storage import s3_client
from devtools.seed import seed_members
from devtools.services import ServiceUrls


def on_database(url: str, database: str) -> str:
    """`url` naming another database on the same server."""
    return make_url(url).set(database=database).render_as_string(hide_password=False)


async def own_database(
    services: ServiceUrls, settings: Settings, name: str, *, members: int, rng_seed: int, objects: bool = False
) -> Settings:
    """A database of its own (made afresh, migrated, seeded) for a server whose writes must not reach the suite's;
    the settings that point at it. `objects`: the seed uploads an S3 object per photo and document (another random
    stream than the suite's, so no key is shared)."""
    owner = make_url(services.database_url).username
    admin = await asyncpg.connect(services.superuser_database_url.replace("+asyncpg", "", 1))
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {name} OWNER {owner}")
    finally:
        await admin.close()
    database_url = on_database(services.database_url, name)
    replica_urls = [on_database(url, name) for url in services.replica_urls]
    await asyncio.to_thread(migrate, database_url)
    conn = await asyncpg.connect(database_url.replace("+asyncpg", "", 1))
    try:
        if objects:
            async with s3_client(settings) as client:
                await seed_members(
                    conn, members=members, s3_client=client, bucket=settings.s3_bucket, rng_seed=rng_seed
                )
        else:
            await seed_members(conn, members=members, s3_client=None, bucket=settings.s3_bucket, rng_seed=rng_seed)
    finally:
        await conn.close()
    return settings.model_copy(update={"database_url": database_url, "database_replica_urls": replica_urls})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve(services: ServiceUrls, log_path: Path, settings: Mapping[str, str], *, workers: int = 1) -> Iterator[str]:
    """The server's base URL once /health/live answers; its output goes to `log_path`; stopped on exit."""
    port = free_port()
    env = {**os.environ, **services.as_env(), **settings}
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "backend.cli", "serve", "--port", str(port), "--workers", str(workers)],
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
                raise RuntimeError(f"the server did not start: {log_path.read_text()[-3000:]}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
