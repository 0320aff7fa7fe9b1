"""The audit trail as the API shows it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from backend.domain.identity import ActorKind
from backend.domain.schemas import MAX_FILTER_VALUES, Choice, DayOrMoment, ReadSchema, Schema, Uuid


class AuditRead(ReadSchema):
    id: int
    actor_type: str
    actor_id: uuid.UUID | None
    action: str
    entity_type: str
    entity_id: str
    changes: dict[str, Any] = Field(description='{"field": {"before": ..., "after": ...}}')
    request_id: str | None
    created_at: datetime


class AuditFilters(Schema):
    actor: list[Uuid] | None = Field(
        default=None, max_length=MAX_FILTER_VALUES, description="Actor ids (operators or API keys)"
    )
    actor_type: Choice[ActorKind] | None = None
    action: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, max_length=MAX_FILTER_VALUES, description="e.g. member.updated"
    )
    entity: str | None = Field(default=None, min_length=1, max_length=32, description="Entity type, e.g. member")
    entity_id: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, max_length=MAX_FILTER_VALUES
    )
    created_from: DayOrMoment | None = Field(default=None, description="Inclusive; a date is a day in ADMIN_TIMEZONE")
    created_to: DayOrMoment | None = Field(default=None, description="Inclusive; a date covers the whole day")


AUDIT_SORT_FIELDS = frozenset({"created_at"})
AUDIT_MULTI_VALUE = frozenset({"actor", "action", "entity_id"})
