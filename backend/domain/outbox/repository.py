"""All SQL of the outbox."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert

from backend.domain.outbox.models import OutboxEvent
from backend.domain.sessions import AsyncWriteSession

outbox = OutboxEvent.__table__  # type: ignore[attr-defined]


async def add(session: AsyncWriteSession, topic: str, payload: dict[str, Any]) -> None:
    """Insert one pending event in the caller's transaction."""
    await session.execute(insert(outbox).values(topic=topic, payload=payload))
