"""A process's background work starts and stops as one, and the app's lifespan runs it."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from backend.api.state import app_state
from backend.infrastructure.database import Database
from backend.infrastructure.settings import Settings
from backend.infrastructure.storage import Storage, s3_client
from backend.main import create_app
from backend.runtime.outbox import OutboxWorker
from backend.runtime.process import BackgroundWork
from backend.runtime.task import BackgroundTask


async def test_start_checks_the_replicas_once_then_runs_every_loop_until_stop(settings: Settings) -> None:
    database = Database.from_settings(settings)
    try:
        async with s3_client(settings) as client:
            database.monitor.mark_down("replica0", "not checked yet")
            work = BackgroundWork(database, Storage(client, settings), settings)
            await work.start()
            try:
                assert database.monitor.healthy(["replica0"]) == ["replica0"], (
                    "the first check ran before start returned"
                )
                assert work.replica_checks.running
                assert work.outbox.running
                assert not work.housekeeper.running  # the test settings turn the passes off
            finally:
                await work.stop()
            assert [task.running for task in (work.replica_checks, work.outbox, work.housekeeper)] == [False] * 3
    finally:
        await database.dispose()


async def test_the_app_runs_its_outbox_worker_for_its_lifespan(settings: Settings) -> None:
    app: FastAPI = create_app(settings)
    async with app.router.lifespan_context(app):
        worker = app_state(app).outbox_worker
        assert isinstance(worker, OutboxWorker)
        assert worker.running
    assert not worker.running


async def test_stop_ends_a_loop_that_swallowed_its_first_cancellation() -> None:
    """Python 3.11's asyncio.wait_for can swallow a cancellation that arrives as what it awaits ends; a loop that
    lost one must still end on stop (a test's app once waited for ever on its shutdown)."""
    swallowed: list[bool] = []

    class Stubborn(BackgroundTask):
        name = "stubborn"
        STOP_RECANCEL_SECONDS = 0.05

        async def run(self) -> None:
            while True:
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    if swallowed:
                        raise
                    swallowed.append(True)  # the first one is lost, as wait_for may lose it

    task = Stubborn()
    task.start()
    await asyncio.sleep(0)
    await asyncio.wait_for(task.stop(), timeout=5)
    assert swallowed == [True]
    assert not task.running
