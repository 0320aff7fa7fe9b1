"""All SQL of claims: who holds one, by name."""

from __future__ import annotations

import uuid

from sqlalchemy import literal, select, union_all

from backend.domain.admin.models import AdminUser, ApiKey
from backend.domain.sessions import AnySession

_operators = AdminUser.__table__  # type: ignore[attr-defined]
_keys = ApiKey.__table__  # type: ignore[attr-defined]


async def holder_name(session: AnySession, holder_id: uuid.UUID) -> str | None:
    """The name of the operator or API key with this id (a claim may be held by either)."""
    stmt = union_all(
        select(_operators.c.name, literal(0).label("rank")).where(_operators.c.id == holder_id),
        select(_keys.c.name, literal(1).label("rank")).where(_keys.c.id == holder_id),
    ).order_by("rank")
    row = (await session.execute(stmt)).first()
    return str(row[0]) if row is not None else None
