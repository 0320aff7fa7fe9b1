"""The audit trail as the API shows it."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import Field

from backend.domain.schemas import ReadSchema, Schema


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
    actor: list[uuid.UUID] | None = Field(default=None, description="Actor ids (operators or API keys)")
    actor_type: str | None = Field(default=None, max_length=16)
    action: list[str] | None = None
    entity: str | None = Field(default=None, max_length=32, description="Entity type, e.g. member")
    entity_id: list[str] | None = None
    created_from: date | datetime | None = None
    created_to: date | datetime | None = None


AUDIT_SORT_FIELDS = frozenset({"created_at"})
AUDIT_MULTI_VALUE = frozenset({"actor", "action", "entity_id"})
