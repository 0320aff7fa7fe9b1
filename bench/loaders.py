"""The member detail's relations loaded four ways, through SQLAlchemy AsyncSession on the replica, as the app does.

- `parallel`: six branches gathered, each on its own session (and pool connection), as issue 6 describes the
  UserDataLoader;
- `sequential`: the same six statements one after another on one session;
- `single`: one statement, every relation as a JSON subquery, on one session;
- `default`: the app's own `load_detail` with the strategy its settings choose by default (MEMBER_LOADER).

Engines and READ ONLY session factories come from `backend.infrastructure.database` with the app's settings
(pool size, overflow, timeouts), so the four compare like for like. The baseline serves them at /loader/<way>/<id>.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from sqlalchemy import Uuid, bindparam, text
from sqlmodel import SQLModel

from backend.domain.member import repository
from backend.domain.member.list_repository import photo_order, shown_photos
from backend.domain.member.models import (
    UserDocument,
    UserLifestyle,
    UserPhoto,
    UserPreference,
    UserProfile,
    UserSubscription,
)
from backend.infrastructure.database import AsyncReadSession, Database, ReadSessionFactory
from backend.infrastructure.settings import Settings

Relations = dict[str, Any]

ONE_STATEMENT = text(
    f"""
    SELECT
      (SELECT to_json(p) FROM user_profiles p WHERE p.id = :id) AS profile,
      (SELECT to_json(l) FROM user_lifestyles l WHERE l.id = :id) AS lifestyle,
      (SELECT to_json(r) FROM user_preferences r WHERE r.id = :id) AS preference,
      (SELECT to_json(s) FROM user_subscriptions s WHERE s.id = :id) AS subscription,
      (SELECT coalesce(json_agg(ph ORDER BY {photo_order("ph")}), '[]') FROM user_photos ph
        WHERE ph.user_id = :id AND {shown_photos("ph")}) AS photos,
      (SELECT coalesce(json_agg(d ORDER BY d.created_at, d.id), '[]') FROM user_documents d
        WHERE d.user_id = :id AND d.deleted_at IS NULL) AS documents
    """
).bindparams(bindparam("id", type_=Uuid()))


# The app's own statements (backend/domain/member/repository.py): session.get by primary key, two ordered selects.
BRANCHES: dict[str, Callable[[AsyncReadSession, uuid.UUID], Awaitable[Any]]] = {
    "profile": repository.get_profile,
    "lifestyle": repository.get_lifestyle,
    "preference": repository.get_preference,
    "subscription": repository.get_subscription,
    "photos": repository.list_photos,
    "documents": repository.list_documents,
}
MODELS: dict[str, type[SQLModel]] = {
    "profile": UserProfile,
    "lifestyle": UserLifestyle,
    "preference": UserPreference,
    "subscription": UserSubscription,
    "photos": UserPhoto,
    "documents": UserDocument,
}


def _dump(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        return [_dump(item) for item in value]
    if isinstance(value, SQLModel):
        return value.model_dump(mode="json", warnings=False)
    # A dataclass of relations (the app's MemberRelations) or anything with attributes per relation.
    return {name: _dump(getattr(value, name, None)) for name in BRANCHES}


class LoaderBench:
    """The four ways, sharing the app's engine for the replica."""

    def __init__(self, database: Database) -> None:
        self.database = database
        target = database.replicas[0] if database.replicas else database.primary_reads
        self.sessions: ReadSessionFactory = target.sessions
        self.ways: dict[str, Callable[[uuid.UUID], Awaitable[Relations]]] = {
            "parallel": self.parallel,
            "sequential": self.sequential,
            "single": self.single,
            "default": self.default,
        }

    @classmethod
    def from_environment(cls) -> LoaderBench:
        return cls(Database.from_settings(Settings()))

    async def close(self) -> None:
        await self.database.dispose()

    async def load(self, way: str, member_id: uuid.UUID) -> Relations:
        """The relations as JSON-ready values; KeyError for an unknown way."""
        return await self.ways[way](member_id)

    async def _branch(self, name: str, member_id: uuid.UUID) -> Any:
        async with self.sessions() as session:
            return await BRANCHES[name](session, member_id)

    async def parallel(self, member_id: uuid.UUID) -> Relations:
        async with asyncio.TaskGroup() as group:
            tasks = {name: group.create_task(self._branch(name, member_id)) for name in BRANCHES}
        return {name: _dump(task.result()) for name, task in tasks.items()}

    async def sequential(self, member_id: uuid.UUID) -> Relations:
        async with self.sessions() as session:
            return {name: _dump(await load(session, member_id)) for name, load in BRANCHES.items()}

    async def single(self, member_id: uuid.UUID) -> Relations:
        async with self.sessions() as session:
            row = (await session.execute(ONE_STATEMENT, {"id": member_id})).one()
        loaded: Relations = {}
        for name, raw in row._mapping.items():
            value = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
            model = MODELS[name]
            if isinstance(value, list):
                loaded[name] = _dump([model.model_validate(item) for item in value])
            else:
                loaded[name] = _dump(model.model_validate(value)) if value is not None else None
        return loaded

    async def default(self, member_id: uuid.UUID) -> Relations:
        from backend.domain.member.loader import LoaderKind, load_detail
        from backend.infrastructure.settings import Settings

        kind = LoaderKind(Settings.model_fields["member_loader"].default)
        async with self.sessions() as session:
            row = await load_detail(kind, session, self.sessions, member_id)
        return {name: (row or {}).get(name) for name in BRANCHES}
