"""All SQL of idempotency keys."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert

from backend.domain.idempotency.models import IdempotencyItem, IdempotencyKey
from backend.domain.sessions import AsyncWriteSession

keys = IdempotencyKey.__table__  # type: ignore[attr-defined]
items = IdempotencyItem.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class StoredKey:
    fingerprint: str
    response_status: int | None
    response_headers: list[list[str]] | None
    response_body: bytes | None
    age_seconds: float
    """How long ago the transaction that claimed the key began."""
    claimed_by: str | None
    """The process that claimed it (`liveness.this_process`), if known."""


async def claim(
    session: AsyncWriteSession,
    *,
    owner: str,
    key: str,
    method: str,
    path: str,
    fingerprint: str,
    claimed_by: str | None,
) -> StoredKey | None:
    """Insert the key in this transaction, or return the one already committed.

    A concurrent request with the same key blocks on the unique index until the first commits or rolls back,
    so only one of them ever runs the write.
    """
    inserted = await session.execute(
        insert(keys)
        .values(owner=owner, key=key, method=method, path=path, fingerprint=fingerprint, claimed_by=claimed_by)
        .on_conflict_do_nothing(index_elements=["owner", "key"])
        .returning(keys.c.key)
    )
    if inserted.first() is not None:
        return None
    row = (
        await session.execute(
            select(
                keys.c.fingerprint,
                keys.c.response_status,
                keys.c.response_headers,
                keys.c.response_body,
                func.extract("epoch", func.now() - keys.c.created_at),
                keys.c.claimed_by,
            ).where(keys.c.owner == owner, keys.c.key == key)
        )
    ).one()
    fingerprint, status, headers, body, age, claimer = row
    return StoredKey(fingerprint, status, headers, body, float(age), claimer)


async def save_response(
    session: AsyncWriteSession, *, owner: str, key: str, status: int, headers: list[list[str]], body: bytes
) -> None:
    await session.execute(
        update(keys)
        .where(keys.c.owner == owner, keys.c.key == key)
        .values(response_status=status, response_headers=headers, response_body=body)
    )


async def prune(session: AsyncWriteSession, *, created_before: datetime, limit: int) -> int:
    """Delete up to `limit` keys created before `created_before` (rows another transaction holds are skipped)."""
    old = (
        select(keys.c.owner, keys.c.key)
        .where(keys.c.created_at < created_before)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("old")
    )
    result = await session.execute(
        delete(keys).where(keys.c.owner == old.c.owner, keys.c.key == old.c.key).returning(keys.c.key)
    )
    return len(result.all())


async def record_item(
    session: AsyncWriteSession, *, owner: str, key: str, fingerprint: str, item_id: uuid.UUID
) -> None:
    """Note, in the item's own transaction, that a bulk request under `key` committed `item_id`."""
    await session.execute(
        insert(items)
        .values(owner=owner, key=key, fingerprint=fingerprint, item_id=item_id)
        .on_conflict_do_nothing(index_elements=["owner", "key", "fingerprint", "item_id"])
    )


async def items_done(
    session: AsyncWriteSession, *, owner: str, key: str, fingerprint: str, item_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of `item_ids` an earlier attempt of the same request (`fingerprint`) under `key` committed."""
    rows = await session.execute(
        select(items.c.item_id).where(
            items.c.owner == owner,
            items.c.key == key,
            items.c.fingerprint == fingerprint,
            items.c.item_id.in_(list(item_ids)),
        )
    )
    return set(rows.scalars())


async def prune_items(session: AsyncWriteSession, *, created_before: datetime, limit: int) -> int:
    """Delete up to `limit` bulk item records created before `created_before`."""
    old = (
        select(items.c.owner, items.c.key, items.c.fingerprint, items.c.item_id)
        .where(items.c.created_at < created_before)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("old")
    )
    result = await session.execute(
        delete(items)
        .where(
            items.c.owner == old.c.owner,
            items.c.key == old.c.key,
            items.c.fingerprint == old.c.fingerprint,
            items.c.item_id == old.c.item_id,
        )
        .returning(items.c.item_id)
    )
    return len(result.all())
