"""bench/procs.py: the environment the bench and make chaos give their app processes."""

from __future__ import annotations

import os
import subprocess
import sys

import asyncpg
import pytest

from bench.procs import cpu_ticks, descendants, postgres_servers, service_env
from devtools.services import ServiceUrls

URLS = ServiceUrls(
    database_url="postgresql+asyncpg://run/primary",
    replica_urls=("postgresql+asyncpg://run/replica",),
    superuser_database_url="postgresql://run/primary",
    superuser_replica_urls=("postgresql://run/replica",),
    s3_endpoint_url="http://127.0.0.1:1",
    s3_bucket="run",
    s3_region="us-east-1",
    s3_access_key_id="key",
    s3_secret_access_key="secret",
    jwt_secret="run-secret",
    phone_block_secret="run-phone-block-secret",
)


def test_the_callers_own_services_and_knobs_stay_out(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "DATABASE_URL": "postgresql://mine",
        "WEBHOOK_URL": "http://mine",
        "PHONE_BLOCK_SECRET": "mine-" + "x" * 32,
        "BENCH_ONLY": "list",
        "ENVIRONMENT": "development",
        "KEPT_SETTING": "1",
    }.items():
        monkeypatch.setenv(key, value)
    env = service_env(URLS, "production", own_prefix="BENCH_")
    assert env["ENVIRONMENT"] == "production"
    assert env["ADMIN_TIMEZONE"] == "UTC"
    assert env["KEPT_SETTING"] == "1"
    assert "BENCH_ONLY" not in env
    assert "WEBHOOK_URL" not in env
    assert env["PHONE_BLOCK_SECRET"] == URLS.phone_block_secret  # the run's root keeps its blocks' key
    assert env["DATABASE_URL"] != "postgresql://mine"


async def test_postgresql_servers_are_found_with_their_backends_and_their_cpu(db: asyncpg.Connection) -> None:
    """The write loads' CPU per request counts PostgreSQL's backends through their postmasters."""
    backend = await db.fetchval("SELECT pg_backend_pid()")  # a connection of the pool stays open below
    servers = [server for server in postgres_servers() if backend in descendants(server)]
    assert len(servers) == 1
    before = cpu_ticks(servers[0])
    await db.fetchval("SELECT count(*) FROM generate_series(1, 5000000)")  # a few hundred ms of one backend's CPU
    assert cpu_ticks(servers[0]) - before >= 5  # ticks of 10 ms


def test_the_ticks_of_a_tree_keep_those_of_its_members_that_exited() -> None:
    """A child that burns CPU and exits leaves its ticks in its parent's: the tree's total does not fall."""
    before = cpu_ticks(os.getpid())
    subprocess.run([sys.executable, "-c", "sum(range(30_000_000))"], check=True)  # a few hundred ms of CPU
    assert cpu_ticks(os.getpid()) - before >= 10  # ticks of 10 ms, the child's among them
