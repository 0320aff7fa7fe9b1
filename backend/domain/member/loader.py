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
    User,
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
    report_counts = "report_counts"


@dataclass
class MemberRelations:
    """The relations that were asked for; the others stay at their empty value."""

    profile: UserProfile | None = None
    lifestyle: UserLifestyle | None = None
    preference: UserPreference | None = None
    subscription: UserSubscription | None = None
    photos: list[UserPhoto] = field(default_factory=list)
    documents: list[UserDocument] = field(default_factory=list)
    report_counts: dict[str, int] = field(default_factory=lambda: {"open_reports": 0, "total_reports": 0})


_LOADERS: dict[Relation, Callable[[AnySession, uuid.UUID], Awaitable[Any]]] = {
    Relation.profile: repository.get_profile,
    Relation.lifestyle: repository.get_lifestyle,
    Relation.preference: repository.get_preference,
    Relation.subscription: repository.get_subscription,
    Relation.photos: repository.list_photos,
    Relation.documents: repository.list_documents,
    Relation.report_counts: repository.report_counts,
}


async def load_on(
    session: AnySession, member_id: uuid.UUID, relations: Collection[Relation] = tuple(Relation)
) -> MemberRelations:
    """The requested relations one after another on one session (e.g. inside a write transaction)."""
    loaded = MemberRelations()
    for relation in dict.fromkeys(relations):
        setattr(loaded, relation.value, await _LOADERS[relation](session, member_id))
    return loaded


def _columns(row: Any) -> dict[str, Any] | None:
    """A table row's column values (what the detail schemas read), or None."""
    if row is None:
        return None
    return {column.key: getattr(row, column.key) for column in row.__table__.columns}


def detail_row(user: User, relations: MemberRelations) -> dict[str, Any]:
    """The user and its relations as one mapping, the shape the one-statement loader returns."""
    return {
        **(_columns(user) or {}),
        "profile": _columns(relations.profile),
        "lifestyle": _columns(relations.lifestyle),
        "preference": _columns(relations.preference),
        "subscription": _columns(relations.subscription),
        "photos": [_columns(photo) for photo in relations.photos],
        "documents": [_columns(document) for document in relations.documents],
        **relations.report_counts,
    }


class LoaderKind(StrEnum):
    """How a member's detail is loaded; `make bench` measures the three."""

    joined = "joined"  # one statement on the request's session (JSON subqueries)
    sequential = "sequential"  # one query per relation, one after another on the request's session
    parallel = "parallel"  # one session and connection per relation, gathered (UserDataLoader)


async def load_detail(
    kind: LoaderKind, session: AnySession, sessions: ReadSessionFactory | None, member_id: uuid.UUID
) -> dict[str, Any] | None:
    """The member (live only) with every relation, by the chosen strategy; None when there is none."""
    if kind is LoaderKind.joined:
        return await repository.member_detail(session, member_id)
    user = await repository.get_member(session, member_id)
    if user is None:
        return None
    if kind is LoaderKind.parallel and sessions is not None:
        return detail_row(user, await UserDataLoader(sessions).load(member_id))
    return detail_row(user, await load_on(session, member_id))


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
