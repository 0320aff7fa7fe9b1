"""All SQL of the audit trail."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select

from backend.domain.audit.models import AuditLog
from backend.domain.sessions import AnySession, AsyncWriteSession, NewRow, write_together
from backend.infrastructure.paging import by_created_at

audit_log = AuditLog.__table__  # type: ignore[attr-defined]


async def add(session: AsyncWriteSession, row: NewRow) -> None:
    """Append one row (`new_row`'s), in the caller's transaction."""
    await write_together(session, row)


def new_row(
    *,
    actor_type: str,
    actor_id: uuid.UUID | None,
    action: str,
    entity_type: str,
    entity_id: str,
    changes: dict[str, Any],
    request_id: str | None,
) -> NewRow:
    """One row of the trail, for `add` or for a caller that writes it together with its own rows (`write_together`)."""
    return NewRow(
        audit_log,
        {
            "actor_type": actor_type,
            "actor_id": actor_id,
            "action": action,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "changes": changes,
            "request_id": request_id,
        },
    )


@dataclass(frozen=True)
class AuditQuery:
    actor_ids: list[uuid.UUID] | None = None
    actor_type: str | None = None
    actions: list[str] | None = None
    entity_type: str | None = None
    entity_ids: list[str] | None = None
    created_from: datetime | None = None
    created_before: datetime | None = None
    descending: bool = True
    limit: int = 25
    offset: int = 0
    after: tuple[datetime, int] | None = None
    # Entries left out whatever the filters say (what the caller's role may not see).
    hidden_entity_types: tuple[str, ...] = ()
    hidden_action_prefixes: tuple[str, ...] = ()


def _conditions(query: AuditQuery) -> list[ColumnElement[bool]]:
    c = audit_log.c
    where: list[ColumnElement[bool]] = []
    if query.hidden_entity_types:
        where.append(c.entity_type.not_in(query.hidden_entity_types))
    for prefix in query.hidden_action_prefixes:
        where.append(~c.action.startswith(prefix, autoescape=True))
    if query.actor_ids:
        where.append(c.actor_id.in_(query.actor_ids))
    if query.actor_type:
        where.append(c.actor_type == query.actor_type)
    if query.actions:
        where.append(c.action.in_(query.actions))
    if query.entity_type:
        where.append(c.entity_type == query.entity_type)
    if query.entity_ids:
        where.append(c.entity_id.in_(query.entity_ids))
    if query.created_from is not None:
        where.append(c.created_at >= query.created_from)
    if query.created_before is not None:
        where.append(c.created_at < query.created_before)
    return where


def _select(query: AuditQuery) -> Select[Any]:
    stmt = select(audit_log).where(*_conditions(query))
    return by_created_at(
        stmt, audit_log, descending=query.descending, limit=query.limit, offset=query.offset, after=query.after
    )


async def list_entries(session: AnySession, query: AuditQuery) -> list[dict[str, Any]]:
    """One page of entries, newest first unless asked otherwise."""
    return [dict(row) for row in (await session.execute(_select(query))).mappings()]


async def count_entries(session: AnySession, query: AuditQuery) -> int:
    """The number of entries matching the filters."""
    stmt = select(func.count()).select_from(audit_log).where(*_conditions(query))
    return int((await session.execute(stmt)).scalar_one())
