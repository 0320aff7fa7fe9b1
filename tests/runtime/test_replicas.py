"""Replica checks in the background: a replica taken out of rotation comes back once a check finds it well."""

from __future__ import annotations

import asyncio
import logging

import pytest

from backend.infrastructure.database import Database
from backend.infrastructure.settings import Settings
from backend.runtime.replicas import ReplicaChecks

WAIT_SECONDS = 10.0


async def test_a_replica_marked_down_is_back_after_the_next_check(settings: Settings) -> None:
    database = Database.from_settings(settings)
    checks = ReplicaChecks(database.monitor, interval=0.05)
    try:
        checks.start()
        assert checks.running
        database.monitor.mark_down("replica0", "a request lost it")
        assert database.monitor.healthy(["replica0"]) == []
        async with asyncio.timeout(WAIT_SECONDS):
            while database.monitor.healthy(["replica0"]) != ["replica0"]:
                await asyncio.sleep(0.02)
    finally:
        await checks.stop()
        await database.dispose()
    assert not checks.running


async def test_a_failing_check_is_logged_and_the_next_one_runs(
    settings: Settings, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = Database.from_settings(settings)
    checks = ReplicaChecks(database.monitor, interval=0.01)
    calls = 0

    async def failing() -> None:
        nonlocal calls
        calls += 1
        raise ConnectionResetError("injected fault")

    monkeypatch.setattr(database.monitor, "check", failing)
    try:
        with caplog.at_level(logging.ERROR, logger="backend.runtime.replicas"):
            checks.start()
            async with asyncio.timeout(WAIT_SECONDS):
                while calls < 3:
                    await asyncio.sleep(0.01)
            assert checks.running
    finally:
        await checks.stop()
        await database.dispose()
    assert any(record.getMessage() == "replica check failed" for record in caplog.records)
