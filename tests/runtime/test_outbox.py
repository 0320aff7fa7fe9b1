"""The outbox worker against real PostgreSQL, the real S3 server and a real webhook receiver on loopback.

These tests run on a database of their own (created and migrated here, dropped after), because every app the
test session starts runs its own worker on the shared database: that worker would deliver these events too.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
import pytest
from aiohttp import web
from botocore.exceptions import ClientError
from pydantic import HttpUrl, PostgresDsn, SecretStr
from sqlalchemy import make_url

from backend.cli import migrate
from backend.domain.outbox import service
from backend.domain.outbox.models import OutboxStatus
from backend.domain.outbox.repository import OutboxQuery
from backend.domain.outbox.service import OUTBOX_PENDING
from backend.infrastructure import webhooks
from backend.infrastructure.database import Database
from backend.infrastructure.settings import Settings
from backend.infrastructure.storage import Storage, s3_client
from backend.runtime.outbox import OutboxWorker
from devtools.services import ServiceUrls
from tests.conftest import asyncpg_dsn

WEBHOOK_SECRET = "whsec-test-" + "s" * 24
WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() on arrival

    @property
    def delivery(self) -> str:
        return self.headers[webhooks.DELIVERY_HEADER]


class Receiver:
    """A webhook receiver on 127.0.0.1: records every request, and fails or stalls the next ones on demand."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.fail_next = 0
        self.stall_next = 0
        self.stall_seconds = 5.0
        self.delay_seconds = 0.0
        self.url = ""
        self._runner: web.AppRunner | None = None

    def reset(self) -> None:
        self.requests.clear()
        self.fail_next = self.stall_next = 0
        self.delay_seconds = 0.0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        # A request the sender gave up on is cancelled here too, so that nothing is left stalling at cleanup.
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}/hooks"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests.append(Received(dict(request.headers), await request.read(), time.monotonic()))
        if self.stall_next > 0:
            self.stall_next -= 1
            await asyncio.sleep(self.stall_seconds)
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.Response(status=503, text="try again later")
        return web.Response(status=204)

    def deliveries(self) -> list[str]:
        return [request.delivery for request in self.requests]


async def eventually(check: Callable[[], Awaitable[bool] | bool], what: str, timeout: float = WAIT_SECONDS) -> None:
    """Poll `check` until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if await result if inspect.isawaitable(result) else result:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def _as_superuser(services: ServiceUrls, sql: str) -> None:
    # A connection of its own: the session's `db` does not survive tests that restart the primary.
    conn = await asyncpg.connect(asyncpg_dsn(services.superuser_database_url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@asynccontextmanager
async def isolated_database(settings: Settings, services: ServiceUrls) -> AsyncIterator[Settings]:
    """A fresh database at the migrations' head, owned by the app's role: `settings` pointing at it, no replica.

    Reached directly on the primary, even when the session's tests go through PgBouncer (which serves only
    the main database).
    """
    url = make_url(services.database_url)
    name = f"outbox_test_{uuid.uuid4().hex[:12]}"
    await _as_superuser(services, f'CREATE DATABASE "{name}" OWNER "{url.username}"')
    try:
        database_url = url.set(database=name).render_as_string(hide_password=False)
        await asyncio.to_thread(migrate, database_url)
        yield settings.model_copy(
            update={"database_url": PostgresDsn(database_url), "database_replica_urls": [], "database_pgbouncer": False}
        )
    finally:
        await _as_superuser(services, f'DROP DATABASE "{name}" WITH (FORCE)')


@asynccontextmanager
async def webhook_receiver() -> AsyncIterator[Receiver]:
    """A started Receiver, stopped on exit."""
    receiver = Receiver()
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.stop()


def tuned(base: Settings, receiver: Receiver | None, **overrides: Any) -> Settings:
    """Settings for a worker that sends to `receiver` and retries within milliseconds."""
    update: dict[str, Any] = {
        "webhook_url": HttpUrl(receiver.url) if receiver else None,
        "webhook_secret": SecretStr(WEBHOOK_SECRET),
        "webhook_timeout_seconds": 2.0,
        "outbox_backoff_base_seconds": 0.05,
        "outbox_sweep_interval_seconds": 0.05,
        "outbox_max_attempts": 5,
        "outbox_batch_size": 50,
        **overrides,
    }
    return base.model_copy(update=update)


@dataclass
class Env:
    settings: Settings
    database: Database
    storage: Storage
    receiver: Receiver
    conn: asyncpg.Connection  # the isolated database, as the app's role

    def worker(self, *, lease_seconds: float | None = None, **overrides: Any) -> OutboxWorker:
        return OutboxWorker(
            self.database, self.storage, tuned(self.settings, self.receiver, **overrides), lease_seconds=lease_seconds
        )

    async def enqueue(self, topic: str, payload: dict[str, Any], *, commit: bool = True) -> bool:
        """Enqueue in a write transaction, then commit (or roll back); whether the session asked for a nudge."""
        async with self.database.write_sessions() as session:
            await service.enqueue(session, topic, payload)
            nudge = bool(session.info.get(OUTBOX_PENDING))
            if commit:
                await session.commit()
            else:
                await session.rollback()
        return nudge

    async def row(self, topic: str) -> asyncpg.Record:
        row = await self.conn.fetchrow("SELECT * FROM outbox WHERE topic = $1", topic)
        assert row is not None, topic
        return row

    async def status_is(self, topic: str, status: str) -> bool:
        return bool(await self.conn.fetchval("SELECT status = $2 FROM outbox WHERE topic = $1", topic, status))


@pytest.fixture(scope="module")
async def env(settings: Settings, services: ServiceUrls) -> AsyncIterator[Env]:
    async with isolated_database(settings, services) as isolated, webhook_receiver() as receiver:
        database = Database.from_settings(isolated)
        conn = await asyncpg.connect(asyncpg_dsn(str(isolated.database_url)))
        try:
            async with s3_client(isolated) as client:
                yield Env(isolated, database, Storage(client, isolated), receiver, conn)
        finally:
            await conn.close()
            await database.dispose()


@pytest.fixture(autouse=True)
async def _fresh(env: Env) -> None:
    await env.conn.execute("TRUNCATE outbox")
    env.receiver.reset()


@asynccontextmanager
async def running(*workers: OutboxWorker) -> AsyncIterator[None]:
    """Workers started for the block, stopped after it."""
    for worker in workers:
        worker.start()
    try:
        yield
    finally:
        for worker in workers:
            await worker.stop()


def topic() -> str:
    return f"member.approved.{uuid.uuid4().hex[:8]}"


class TestDelivery:
    async def test_a_committed_event_is_posted_signed_as_soon_as_the_worker_is_nudged(self, env: Env) -> None:
        worker = env.worker(outbox_sweep_interval_seconds=60.0)  # only the nudge can wake it in time
        name = topic()
        async with running(worker):
            await eventually(lambda: worker.stats.rounds >= 1, "the first round (nothing due)")
            assert await env.enqueue(name, {"member_id": "m-1", "reason": "looks fine"})
            worker.nudge()
            await eventually(lambda: env.status_is(name, "delivered"), "the event to be delivered")

        row = await env.row(name)
        assert row["attempts"] == 1
        assert row["delivered_at"] is not None
        [request] = env.receiver.requests
        assert request.headers[webhooks.EVENT_HEADER] == name
        assert request.delivery == str(row["id"])
        assert request.headers["Content-Type"] == "application/json"
        timestamp = request.headers[webhooks.TIMESTAMP_HEADER]
        signature = request.headers[webhooks.SIGNATURE_HEADER]
        assert webhooks.verify_signature(WEBHOOK_SECRET, timestamp, request.body, signature)
        assert not webhooks.verify_signature(WEBHOOK_SECRET, timestamp, request.body + b" ", signature)
        assert not webhooks.verify_signature("another secret", timestamp, request.body, signature)
        assert not webhooks.verify_signature(
            WEBHOOK_SECRET, timestamp, request.body, signature, now=int(timestamp) + 3600
        )
        body = orjson.loads(request.body)
        assert body["id"] == row["id"]
        assert body["topic"] == name
        assert body["data"] == {"member_id": "m-1", "reason": "looks fine"}

    async def test_a_rolled_back_event_is_never_delivered(self, env: Env) -> None:
        worker = env.worker()
        rolled_back, committed = topic(), topic()
        async with running(worker):
            await env.enqueue(rolled_back, {"n": 1}, commit=False)
            await env.enqueue(committed, {"n": 2})
            # Sweeps ran after the rollback: the later, committed event went out.
            await eventually(lambda: env.status_is(committed, "delivered"), "the committed event")
        assert [r.headers[webhooks.EVENT_HEADER] for r in env.receiver.requests] == [committed]
        assert await env.conn.fetchval("SELECT count(*) FROM outbox WHERE topic = $1", rolled_back) == 0

    async def test_without_a_webhook_url_a_notification_is_logged_and_counted_delivered(
        self, env: Env, caplog: pytest.LogCaptureFixture
    ) -> None:
        worker = OutboxWorker(env.database, env.storage, tuned(env.settings, None))
        name = topic()
        await env.enqueue(name, {"member_id": "m-2"})
        with caplog.at_level("INFO", logger=webhooks.__name__):
            try:
                assert await worker.run_once() == 1
            finally:
                await worker.stop()
        assert await env.status_is(name, "delivered")
        assert env.receiver.requests == []
        assert any(name in record.getMessage() for record in caplog.records)


class TestRounds:
    async def test_a_stream_of_nudged_commits_is_delivered_in_rounds_of_several(self, env: Env) -> None:
        """A round per nudge would be a round (two transactions) per event: the nudges that come within a round's
        spacing of its start wait for it, and the next round takes everything committed meanwhile."""
        worker = env.worker(outbox_sweep_interval_seconds=60.0)
        names = [topic() for _ in range(30)]
        async with running(worker):
            await eventually(lambda: worker.stats.rounds >= 1, "the first round (nothing due)")
            rounds_before = worker.stats.rounds
            started = time.monotonic()
            for name in names:  # one commit every 5 ms, each nudging, for 150 ms
                await env.enqueue(name, {"member_id": name})
                worker.nudge()
                await asyncio.sleep(0.005)
            await eventually(lambda: worker.stats.delivered == len(names), "every event delivered")
            elapsed = time.monotonic() - started
            rounds = worker.stats.rounds - rounds_before
        assert len(env.receiver.deliveries()) == len(names)
        # Not one round per event: at most one per spacing (and one to start with).
        assert rounds < len(names) / 2
        assert rounds <= elapsed / worker.round_spacing + 2

    async def test_a_sweep_buries_an_abandoned_last_attempt_and_a_nudged_round_only_claims(self, env: Env) -> None:
        name = topic()
        await env.enqueue(name, {"member_id": "m-8"})
        await env.conn.execute(  # its last attempt was claimed, and its lease ran out without an outcome
            "UPDATE outbox SET attempts = 5, next_attempt_at = now() - interval '1 second' WHERE topic = $1", name
        )
        worker = env.worker()  # outbox_max_attempts 5
        assert await worker.run_once(sweep=False) == 0
        assert await env.status_is(name, "pending")
        assert await worker.run_once(sweep=True) == 0
        assert await env.status_is(name, "dead")
        assert worker.stats.dead == 1
        assert env.receiver.deliveries() == []


class TestRetries:
    async def test_a_failing_receiver_is_retried_with_backoff_until_it_answers(self, env: Env) -> None:
        base = 0.1
        worker = env.worker(outbox_backoff_base_seconds=base)
        env.receiver.fail_next = 2
        name = topic()
        async with running(worker):
            await env.enqueue(name, {"member_id": "m-3"})
            await eventually(lambda: env.status_is(name, "delivered"), "delivery after two failures")

        row = await env.row(name)
        assert row["attempts"] == 3
        assert row["last_error"].startswith("HTTP 503")
        first, second, third = env.receiver.requests
        assert first.delivery == second.delivery == third.delivery == str(row["id"])
        # The waits are at least base * 2^(n-1) after the n-th failure (jitter only adds). 10 ms of clock slack.
        assert second.at - first.at >= base - 0.01
        assert third.at - second.at >= 2 * base - 0.01

    async def test_a_receiver_that_does_not_answer_in_time_is_a_failure(self, env: Env) -> None:
        worker = env.worker(webhook_timeout_seconds=0.5)
        env.receiver.stall_next = 1
        env.receiver.stall_seconds = 3.0
        name = topic()
        async with running(worker):
            await env.enqueue(name, {"member_id": "m-4"})
            await eventually(lambda: env.status_is(name, "delivered"), "delivery after a timeout")
        row = await env.row(name)
        assert row["attempts"] >= 2  # the stalled one, then one that answered (a loaded machine may need more)
        assert "timed out" in row["last_error"]

    async def test_an_event_is_dead_after_the_last_attempt_fails(self, env: Env) -> None:
        worker = env.worker(outbox_max_attempts=3)
        env.receiver.fail_next = 100
        name = topic()
        async with running(worker):
            await env.enqueue(name, {"member_id": "m-5"})
            await eventually(lambda: worker.stats.dead == 1, "the event to die")
        row = await env.row(name)
        assert (row["status"], row["attempts"]) == ("dead", 3)
        assert len(env.receiver.requests) == 3
        async with env.database.primary_reads.sessions() as session:
            assert await service.backlog(session) == {"pending": 0, "delivered": 0, "dead": 1}
            dead, total, _ = await service.list_events(session, OutboxQuery(statuses=[OutboxStatus.dead]), count=True)
        assert total == 1
        assert [event.id for event in dead] == [row["id"]]

    async def test_an_event_that_can_never_succeed_is_dead_at_once(self, env: Env) -> None:
        worker = env.worker()
        name = f"photo.deleted.{uuid.uuid4().hex[:8]}"
        await env.enqueue(name, {"action": "delete_object"})  # no s3_key
        try:
            assert await worker.run_once() == 1
        finally:
            await worker.stop()
        row = await env.row(name)
        assert (row["status"], row["attempts"]) == ("dead", 1)
        assert "s3_key" in row["last_error"]


class TestConcurrency:
    async def test_two_workers_deliver_each_of_fifty_events_exactly_once(self, env: Env) -> None:
        first, second = env.worker(outbox_batch_size=5), env.worker(outbox_batch_size=5)
        env.receiver.delay_seconds = 0.005  # deliveries take a little time, so the workers overlap
        names = [topic() for _ in range(50)]
        async with env.database.write_sessions() as session:
            for name in names:
                await service.enqueue(session, name, {"member_id": name})
            await session.commit()
        async with running(first, second):
            first.nudge()
            second.nudge()

            # Counted once each worker's outcome transaction has returned (not merely committed): stopping a
            # worker earlier could cancel it between its COMMIT and its counters.
            await eventually(
                lambda: first.stats.delivered + second.stats.delivered == 50, "all 50 events to be recorded"
            )
        assert await env.conn.fetchval("SELECT bool_and(status = 'delivered') FROM outbox")
        assert await first.run_once() == await second.run_once() == 0
        deliveries = env.receiver.deliveries()
        assert len(deliveries) == 50
        assert len(set(deliveries)) == 50
        assert first.stats.delivered > 0
        assert second.stats.delivered > 0
        assert await env.conn.fetchval("SELECT max(attempts) FROM outbox") == 1


class TestRestarts:
    async def test_an_event_committed_while_no_worker_ran_is_delivered_when_one_starts(self, env: Env) -> None:
        name = topic()
        await env.enqueue(name, {"member_id": "m-6"})  # the process died before any nudge or delivery
        worker = env.worker(outbox_sweep_interval_seconds=60.0)
        async with running(worker):  # no nudge: the round at start finds it
            await eventually(lambda: env.status_is(name, "delivered"), "delivery at start")
        assert env.receiver.deliveries() == [str((await env.row(name))["id"])]

    async def test_a_claim_abandoned_before_delivery_is_delivered_once_its_lease_ends(self, env: Env) -> None:
        lease = 0.5
        name = topic()
        await env.enqueue(name, {"member_id": "m-7"})
        crashed = env.worker(lease_seconds=lease)
        before_claim = time.monotonic()
        [claimed] = await crashed.claim()  # committed, then the process "dies" before delivering
        await crashed.stop()

        survivor = env.worker(lease_seconds=lease)
        assert await survivor.run_once() == 0, "a leased event was claimed again before its lease ended"
        async with running(survivor):
            await eventually(lambda: env.status_is(name, "delivered"), "delivery after the lease")
        [request] = env.receiver.requests
        assert request.delivery == str(claimed.id)
        assert request.at - before_claim >= lease - 0.01  # the lease runs from the claim's now()
        assert (await env.row(name))["attempts"] == 2

    async def test_a_worker_stopped_mid_delivery_leaves_the_event_to_the_next_one(self, env: Env) -> None:
        lease = 1.0
        env.receiver.stall_next = 1
        env.receiver.stall_seconds = 5.0
        name = topic()
        await env.enqueue(name, {"member_id": "m-8"})
        stopped = env.worker(lease_seconds=lease)
        async with running(stopped):
            await eventually(lambda: bool(env.receiver.requests), "the first attempt to arrive")
        assert not stopped.running
        row = await env.row(name)
        assert (row["status"], row["attempts"]) == ("pending", 1)

        async with running(env.worker(lease_seconds=lease)):
            await eventually(lambda: env.status_is(name, "delivered"), "delivery by the next worker")
        # At least once: the receiver saw the interrupted attempt and the retry, under one delivery id.
        assert env.receiver.deliveries() == [str(row["id"])] * 2

    async def test_a_database_outage_does_not_kill_the_worker(self, env: Env) -> None:
        unreachable = env.settings.model_copy(
            update={"database_url": PostgresDsn("postgresql+asyncpg://nobody@127.0.0.1:1/nothing")}
        )
        database = Database.from_settings(unreachable)
        worker = OutboxWorker(database, env.storage, tuned(unreachable, env.receiver))
        try:
            async with running(worker):
                await eventually(lambda: worker.stats.round_errors >= 3, "three failed rounds")
                assert worker.running
        finally:
            await database.dispose()


class TestObjectDeletion:
    async def test_a_delete_event_removes_the_object_from_s3(self, env: Env) -> None:
        key = f"test/outbox/{uuid.uuid4().hex}.jpg"
        client, bucket = env.storage.client, env.storage.bucket
        await client.put_object(Bucket=bucket, Key=key, Body=b"\xff\xd8 not really a jpeg", ContentType="image/jpeg")
        await client.head_object(Bucket=bucket, Key=key)
        worker = env.worker()
        async with running(worker):
            async with env.database.write_sessions() as session:
                await service.enqueue_object_deletion(session, key, photo_id="p-1")
                await session.commit()
            worker.nudge()
            await eventually(lambda: env.status_is("photo.deleted", "delivered"), "the deletion")
        with pytest.raises(ClientError) as raised:
            await client.head_object(Bucket=bucket, Key=key)
        assert raised.value.response["Error"]["Code"] in {"404", "NoSuchKey", "NotFound"}
        assert env.receiver.requests == []
        row = await env.row("photo.deleted")
        assert orjson.loads(row["payload"]) == {"photo_id": "p-1", "action": "delete_object", "s3_key": key}
