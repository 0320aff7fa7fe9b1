"""Recording side effects: written in the change's transaction, delivered by the worker after commit."""

from __future__ import annotations

from typing import Any

from backend.domain.outbox import repository
from backend.domain.sessions import AsyncWriteSession

# Set on a session that enqueued events, so the request can nudge the worker right after its commit.
OUTBOX_PENDING = "outbox_pending"


async def enqueue(session: AsyncWriteSession, topic: str, payload: dict[str, Any]) -> None:
    """An event to deliver once (and only if) this transaction commits."""
    await repository.add(session, topic, payload)
    session.info[OUTBOX_PENDING] = True
