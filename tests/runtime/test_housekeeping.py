"""Housekeeping passes: delivered outbox events and old Idempotency-Key records are deleted in batches, and
nothing else is. (Abandoned photo uploads are tested with the photos.)"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from fastapi import FastAPI

from backend.api.state import app_state
from backend.infrastructure.settings import Settings
from backend.runtime import housekeeping
from backend.runtime.housekeeping import Housekeeper


async def add_event(
    db: asyncpg.Connection, status: str, created_days_ago: float, delivered_days_ago: float | None
) -> int:
    event_id: int = await db.fetchval(
        "INSERT INTO outbox (topic, payload, status, created_at, delivered_at)"
        " VALUES ('housekeeping.test', '{}', $1, now() - make_interval(secs => $2),"
        " now() - make_interval(secs => $3)) RETURNING id",
        status,
        created_days_ago * 86_400,
        None if delivered_days_ago is None else delivered_days_ago * 86_400,
    )
    return event_id


async def add_key(db: asyncpg.Connection, hours_ago: float) -> str:
    key = str(uuid.uuid4())
    await db.execute(
        "INSERT INTO idempotency_keys (owner, key, method, path, fingerprint, created_at)"
        " VALUES ('housekeeping-test', $1, 'POST', '/x', 'f', now() - make_interval(secs => $2))",
        key,
        hours_ago * 3600,
    )
    return key


async def existing_events(db: asyncpg.Connection, ids: list[int]) -> set[int]:
    return {r["id"] for r in await db.fetch("SELECT id FROM outbox WHERE id = ANY($1)", ids)}


async def test_only_delivered_events_past_their_keeping_time_are_deleted_in_batches(
    app: FastAPI, settings: Settings, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(housekeeping, "BATCH", 2)  # five old deliveries take three batches of one pass
    keep_days = settings.outbox_keep_delivered_days
    old = [await add_event(db, "delivered", keep_days + 3, keep_days + 1) for _ in range(5)]
    # Created long ago but delivered recently (after retries): kept for its full time after the delivery.
    late = await add_event(db, "delivered", keep_days + 3, keep_days - 1)
    dead = await add_event(db, "dead", keep_days + 3, None)
    pending = await add_event(db, "pending", keep_days + 3, None)

    report = await Housekeeper(app_state(app).database, app_state(app).storage, settings).run_once()

    assert report.delivered_events >= 5
    assert await existing_events(db, [*old, late, dead, pending]) == {late, dead, pending}
    await db.execute("DELETE FROM outbox WHERE id = ANY($1)", [late, dead, pending])


async def test_idempotency_keys_are_kept_for_their_hours_then_deleted(
    app: FastAPI, settings: Settings, db: asyncpg.Connection
) -> None:
    hours = settings.idempotency_key_hours
    old, young = await add_key(db, hours + 1), await add_key(db, hours - 1)

    report = await Housekeeper(app_state(app).database, app_state(app).storage, settings).run_once(datetime.now(UTC))

    assert report.idempotency_keys >= 1
    left = {r["key"] for r in await db.fetch("SELECT key FROM idempotency_keys WHERE key = ANY($1)", [old, young])}
    assert left == {young}


async def test_a_pass_at_a_later_time_counts_back_from_it(
    app: FastAPI, settings: Settings, db: asyncpg.Connection
) -> None:
    key = await add_key(db, 1)
    keeper = Housekeeper(app_state(app).database, app_state(app).storage, settings)
    await keeper.run_once()
    assert await db.fetchval("SELECT count(*) FROM idempotency_keys WHERE key = $1", key) == 1
    await keeper.run_once(datetime.now(UTC) + timedelta(hours=settings.idempotency_key_hours))
    assert await db.fetchval("SELECT count(*) FROM idempotency_keys WHERE key = $1", key) == 0
