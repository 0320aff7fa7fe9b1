"""Recording every write, in the writer's transaction, and reading the trail back."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from backend.domain.audit import repository
from backend.domain.audit.repository import AuditQuery
from backend.domain.audit.schemas import AuditFilters, AuditRead
from backend.domain.identity import Actor, AuditContext, Role
from backend.domain.ordering import created_id_position
from backend.domain.sessions import AsyncReadSession, AsyncWriteSession, NewRow
from backend.domain.timebounds import end_of, start_of


def changes(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> dict[str, Any]:
    """`{field: {"before": b, "after": a}}` for every field whose value differs."""
    before = before or {}
    after = after or {}
    return {
        key: {"before": _plain(before.get(key)), "after": _plain(after.get(key))}
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if hasattr(value, "value") and isinstance(value.value, str):
        return value.value
    return value


class AuditTrail:
    """Writes audit rows into the caller's transaction: rolled back with it, committed with it."""

    def __init__(self, session: AsyncWriteSession, context: AuditContext) -> None:
        self.session = session
        self.context = context

    async def record(self, action: str, entity_type: str, entity_id: object, diff: dict[str, Any]) -> None:
        """One audit row for a change about to be committed."""
        await repository.add(self.session, self.row(action, entity_type, entity_id, diff))

    def row(self, action: str, entity_type: str, entity_id: object, diff: dict[str, Any]) -> NewRow:
        """`record`'s row, for a caller that writes it together with its own rows (`write_together`)."""
        return audit_row(self.context, action, entity_type, entity_id, diff)


def audit_row(context: AuditContext, action: str, entity_type: str, entity_id: object, diff: dict[str, Any]) -> NewRow:
    """An audit row of `context`'s actor and request, to be written with the change it records."""
    actor = context.actor
    return repository.new_row(
        actor_type=actor.kind.value,
        actor_id=actor.id,
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        changes=diff,
        request_id=context.request_id,
    )


# Operator, API key and authentication events name operators' emails, roles and client addresses: only admins
# see them, in every view of the trail (a viewer could otherwise list every operator and whom to lock out).
ADMIN_ONLY_ENTITY_TYPES = ("admin_user", "api_key")
ADMIN_ONLY_ACTION_PREFIXES = ("auth.", "operator.", "api_key.")


class AuditService:
    """Reads the audit trail, as much of it as the reader's role may see."""

    def __init__(self, session: AsyncReadSession, tz: ZoneInfo, reader: Actor) -> None:
        self.session = session
        self.tz = tz
        self.sees_operator_events = reader.can(Role.admin)

    def build_query(
        self,
        filters: AuditFilters,
        *,
        descending: bool,
        limit: int,
        offset: int,
        after: list[Any] | None,
        entity_type: str | None = None,
        entity_id: str | None = None,
    ) -> AuditQuery:
        return AuditQuery(
            actor_ids=filters.actor,
            actor_type=filters.actor_type,
            actions=filters.action,
            entity_type=entity_type or filters.entity,
            entity_ids=[entity_id] if entity_id else filters.entity_id,
            created_from=start_of(filters.created_from, self.tz) if filters.created_from else None,
            created_before=end_of(filters.created_to, self.tz) if filters.created_to else None,
            descending=descending,
            limit=limit,
            offset=offset,
            after=created_id_position(after),
            hidden_entity_types=() if self.sees_operator_events else ADMIN_ONLY_ENTITY_TYPES,
            hidden_action_prefixes=() if self.sees_operator_events else ADMIN_ONLY_ACTION_PREFIXES,
        )

    async def list_entries(self, query: AuditQuery, *, count: bool) -> tuple[list[AuditRead], int | None, list[Any]]:
        """A page of entries, the total when asked, and the cursor values of the last row of a full page."""
        rows = await repository.list_entries(self.session, query)
        total = await repository.count_entries(self.session, query) if count else None
        next_after: list[Any] = []
        if len(rows) == query.limit:
            next_after = [rows[-1]["created_at"].isoformat(), rows[-1]["id"]]
        return [AuditRead.model_validate(row) for row in rows], total, next_after
