"""UserDataLoader: a member's relations, loaded in parallel, each branch on its own session.

One AsyncSession (one asyncpg connection) runs one statement at a time; `gather` over a shared session fails
with "another operation is in progress". Each branch therefore opens its own session from the read session
factory of the request's read target, so all branches read the same server.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from backend.domain.member import repository
from backend.domain.member.models import (
    UserDocument,
    UserLifestyle,
    UserPhoto,
    UserPreference,
    UserProfile,
    UserSubscription,
)
from backend.domain.sessions import AnySession, ReadSessionFactory


class Relation(StrEnum):
    profile = "profile"
    lifestyle = "lifestyle"
    preference = "preference"
    subscription = "subscription"
    photos = "photos"
    documents = "documents"


@dataclass
class MemberRelations:
    """The relations that were asked for; the others stay at their empty value."""

    profile: UserProfile | None = None
    lifestyle: UserLifestyle | None = None
    preference: UserPreference | None = None
    subscription: UserSubscription | None = None
    photos: list[UserPhoto] = field(default_factory=list)
    documents: list[UserDocument] = field(default_factory=list)


_LOADERS: dict[Relation, Callable[[AnySession, uuid.UUID], Awaitable[Any]]] = {
    Relation.profile: repository.get_profile,
    Relation.lifestyle: repository.get_lifestyle,
    Relation.preference: repository.get_preference,
    Relation.subscription: repository.get_subscription,
    Relation.photos: repository.list_photos,
    Relation.documents: repository.list_documents,
}


async def load_on(
    session: AnySession, member_id: uuid.UUID, relations: Collection[Relation] = tuple(Relation)
) -> MemberRelations:
    """The requested relations one after another on one session (e.g. inside a write transaction)."""
    loaded = MemberRelations()
    for relation in dict.fromkeys(relations):
        setattr(loaded, relation.value, await _LOADERS[relation](session, member_id))
    return loaded


class UserDataLoader:
    """Loads the requested relations of one member concurrently."""

    def __init__(self, sessions: ReadSessionFactory) -> None:
        self._sessions = sessions

    async def _branch(self, relation: Relation, member_id: uuid.UUID) -> Any:
        async with self._sessions() as session:
            return await _LOADERS[relation](session, member_id)

    async def load(self, member_id: uuid.UUID, relations: Collection[Relation] = tuple(Relation)) -> MemberRelations:
        """The member's relations; a failing branch fails the load once every branch has finished."""
        wanted = list(dict.fromkeys(relations))
        async with asyncio.TaskGroup() as group:
            tasks = {relation: group.create_task(self._branch(relation, member_id)) for relation in wanted}
        loaded = MemberRelations()
        for relation, task in tasks.items():
            setattr(loaded, relation.value, task.result())
        return loaded
