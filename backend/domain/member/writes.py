"""Member writes: create, edit under optimistic locking, soft delete and restore, review decisions, notes.

Every operation runs in the request's transaction: the change, its audit row and its outbox events commit
together or not at all. Edits lock the user row (SELECT ... FOR UPDATE) and compare its version, so of two
operators editing at once exactly one wins and the other gets 412.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from sqlalchemy.exc import IntegrityError

from backend.domain.audit.service import AuditTrail, changes
from backend.domain.errors import BadRequest, ConflictError, NotFoundError, PreconditionFailed, UnprocessableEntity
from backend.domain.identity import AuditContext
from backend.domain.member import repository
from backend.domain.member.models import MemberNote, MemberStatus, NoteKind, User
from backend.domain.member.schemas import (
    COMPUTED,
    PREFERENCE_RANGES,
    READ_ONLY_ECHO,
    MemberCreate,
    MemberDetailRead,
    MemberFields,
    MemberReplace,
    MemberUpdate,
    NoteCreate,
    NoteRead,
)
from backend.domain.member.service import detail_of
from backend.domain.outbox.service import enqueue
from backend.domain.schemas import BLANK
from backend.domain.sessions import AsyncWriteSession
from backend.infrastructure.storage import Storage

USER_FIELDS = ("phone", "name", "gender", "birth_year")
RELATIONS = ("profile", "lifestyle", "preference")


class ReviewAction(StrEnum):
    """A review decision an operator takes on a member."""

    approve = "approve"
    reject = "reject"
    suspend = "suspend"


@dataclass(frozen=True)
class ReviewRule:
    """What a review decision may start from, leads to, requires and leaves behind."""

    from_statuses: frozenset[MemberStatus]
    to_status: MemberStatus
    reason_required: bool
    note_kind: NoteKind  # the member note the decision writes (its content: the reason, else the kind)
    audit_action: str
    outbox_topic: str


REVIEW_RULES: Mapping[ReviewAction, ReviewRule] = MappingProxyType(
    {
        ReviewAction.approve: ReviewRule(
            from_statuses=frozenset({MemberStatus.pending, MemberStatus.suspended}),
            to_status=MemberStatus.active,
            reason_required=False,
            note_kind=NoteKind.approved,
            audit_action="member.approved",
            outbox_topic="member.approved",
        ),
        ReviewAction.reject: ReviewRule(
            from_statuses=frozenset({MemberStatus.pending}),
            to_status=MemberStatus.rejected,
            reason_required=True,
            note_kind=NoteKind.rejected,
            audit_action="member.rejected",
            outbox_topic="member.rejected",
        ),
        ReviewAction.suspend: ReviewRule(
            from_statuses=frozenset({MemberStatus.active}),
            to_status=MemberStatus.suspended,
            reason_required=True,
            note_kind=NoteKind.suspended,
            audit_action="member.suspended",
            outbox_topic="member.suspended",
        ),
    }
)


def _user_state(user: User) -> dict[str, Any]:
    return {field: getattr(user, field) for field in (*USER_FIELDS, "status", "deleted_at")}


def _flat(prefix: str, values: dict[str, Any]) -> dict[str, Any]:
    return {f"{prefix}.{key}": value for key, value in values.items()}


def _phone_taken(phone: str) -> ConflictError:
    return ConflictError(f"The phone {phone} is already used by a live member.", field="phone")


class MemberWriteService:
    def __init__(self, session: AsyncWriteSession, context: AuditContext, storage: Storage) -> None:
        self.session = session
        self.context = context
        self.audit = AuditTrail(session, context)
        self.storage = storage

    async def _detail(self, user: User) -> MemberDetailRead:
        row = await repository.member_detail(self.session, user.id, include_deleted=True)
        assert row is not None  # the row is locked by this transaction
        return await detail_of(row, self.storage)

    async def _locked(self, member_id: uuid.UUID, expected_version: int | None, *, deleted: bool = False) -> User:
        user = await repository.lock_member(self.session, member_id)
        if user is None or (user.deleted_at is not None) != deleted:
            state = "deleted " if deleted else ""
            raise NotFoundError(f"No {state}member with id {member_id}.")
        if expected_version is not None and user.version != expected_version:
            raise PreconditionFailed(
                f"The member changed (version {user.version}, you had {expected_version}); reload and retry.",
                current_version=user.version,
            )
        return user

    async def _save(self, user: User, *, deleted: bool | None = None) -> None:
        try:
            await repository.save_member(self.session, user, deleted=deleted)
        except IntegrityError as exc:  # a concurrent writer took the phone first
            raise _phone_taken(user.phone) from exc

    async def create(self, data: MemberCreate) -> MemberDetailRead:
        """A member with profile (and lifestyle, preference) in one transaction; 409 for a phone in use."""
        if await repository.live_phone_owner(self.session, data.phone):
            raise _phone_taken(data.phone)
        user = User(
            phone=data.phone, name=data.name, gender=data.gender, birth_year=data.birth_year, status=data.status
        )
        try:
            await repository.add_member(self.session, user)
        except IntegrityError as exc:
            raise _phone_taken(data.phone) from exc
        diff = changes(None, {field: getattr(user, field) for field in (*USER_FIELDS, "status")})
        for relation in RELATIONS:
            part = getattr(data, relation)
            if part is not None:
                values = part.model_dump()
                await repository.upsert_relation(self.session, relation, user.id, values)
                diff |= changes(None, _flat(relation, values))
        await self.audit.record("member.created", "member", user.id, diff)
        return await self._detail(user)

    async def update(self, member_id: uuid.UUID, data: MemberUpdate, expected_version: int | None) -> MemberDetailRead:
        """Change the given fields; 412 when `expected_version` is stale; the version moves on every change."""
        user = await self._locked(member_id, expected_version)
        before = _user_state(user)
        given = data.model_dump(exclude_unset=True, include=set(USER_FIELDS))
        if (phone := given.get("phone")) and phone != user.phone:
            owner = await repository.live_phone_owner(self.session, phone)
            if owner is not None and owner != user.id:
                raise _phone_taken(phone)
        for field, value in given.items():
            if value is None:
                raise UnprocessableEntity(f"{field} cannot be null.", field=field)
            setattr(user, field, value)
        diff = changes(before, _user_state(user))
        for relation in RELATIONS:
            if relation not in data.model_fields_set or getattr(data, relation) is None:
                continue
            values = getattr(data, relation).model_dump(exclude_unset=True)
            current = await repository.relation_values(self.session, relation, user.id)
            if relation == "preference":
                _check_ranges({**current, **values})
            await repository.upsert_relation(self.session, relation, user.id, values)
            diff |= changes(_flat(relation, current), _flat(relation, {**current, **values}))
        if diff:
            await self._save(user)
            await self.audit.record("member.updated", "member", user.id, diff)
        return await self._detail(user)

    async def replace(self, member_id: uuid.UUID, data: MemberReplace, if_match: int | None) -> MemberDetailRead:
        """react-admin's PUT: read-only fields echoed unchanged are accepted, changed ones refused."""
        user = await self._locked(member_id, if_match if if_match is not None else data.version)
        for field in READ_ONLY_ECHO:
            if field in data.model_fields_set and getattr(data, field) != getattr(user, field):
                raise UnprocessableEntity(f"{field} is read-only and cannot be changed here.", field=field)
        edit = MemberUpdate.model_validate(data.model_dump(exclude_unset=True, exclude={*READ_ONLY_ECHO, *COMPUTED}))
        return await self.update(member_id, edit, None)

    async def delete(self, member_id: uuid.UUID, expected_version: int | None) -> MemberFields:
        """Soft delete: the member disappears from lists and frees its phone; restore undoes it."""
        user = await self._locked(member_id, expected_version)
        before = _user_state(user)
        await self._save(user, deleted=True)
        await self.audit.record("member.deleted", "member", user.id, changes(before, _user_state(user)))
        return MemberFields.model_validate(user)

    async def restore(self, member_id: uuid.UUID) -> MemberDetailRead:
        """Undo a soft delete; 409 when a live member took the phone meanwhile."""
        user = await self._locked(member_id, None, deleted=True)
        if await repository.live_phone_owner(self.session, user.phone):
            raise _phone_taken(user.phone)
        before = _user_state(user)
        await self._save(user, deleted=False)
        await self.audit.record("member.restored", "member", user.id, changes(before, _user_state(user)))
        return await self._detail(user)

    async def decide(
        self, member_id: uuid.UUID, action: ReviewAction, reason: str | None, expected_version: int | None
    ) -> MemberDetailRead:
        """approve, reject or suspend: status, a note, an audit row and an outbox event, in one transaction."""
        rule = REVIEW_RULES[action]
        reason = (reason or "").strip(BLANK) or None
        if rule.reason_required and reason is None:
            raise BadRequest(f"A reason is required to {action} a member.", field="reason")
        user = await self._locked(member_id, expected_version)
        if user.status not in rule.from_statuses:
            allowed = ", ".join(sorted(s.value for s in rule.from_statuses))
            raise ConflictError(
                f"Cannot {action} a member who is {user.status}; allowed from: {allowed}.",
                current_status=user.status,
            )
        before = _user_state(user)
        user.status = rule.to_status
        await self._save(user)
        actor = self.context.actor
        note = MemberNote(
            user_id=user.id,
            author_id=_operator_id(self.context),
            kind=rule.note_kind,
            content=reason or rule.note_kind.value,
        )
        await repository.add_note(self.session, note)
        diff = changes(before, _user_state(user)) | ({"reason": {"before": None, "after": reason}} if reason else {})
        await self.audit.record(rule.audit_action, "member", user.id, diff)
        await enqueue(
            self.session,
            rule.outbox_topic,
            {
                "member_id": str(user.id),
                "status": rule.to_status.value,
                "previous_status": before["status"],
                "reason": reason,
                "actor": {"kind": actor.kind.value, "id": str(actor.id) if actor.id else None},
            },
        )
        return await self._detail(user)

    async def add_note(self, member_id: uuid.UUID, data: NoteCreate) -> NoteRead:
        """An operator's note about a live member."""
        user = await repository.get_member(self.session, member_id)
        if user is None:
            raise NotFoundError(f"No member with id {member_id}.")
        note = await repository.add_note(
            self.session, MemberNote(user_id=member_id, author_id=_operator_id(self.context), content=data.content)
        )
        await self.audit.record(
            "member.note_added", "member", member_id, {"note": {"before": None, "after": str(note.id)}}
        )
        return NoteRead.model_validate(note)


def _check_ranges(preference: dict[str, Any]) -> None:
    """A partial edit of a preference must leave each minimum at most its maximum (stored or given)."""
    for low, high in PREFERENCE_RANGES:
        if preference.get(low) is not None and preference.get(high) is not None and preference[low] > preference[high]:
            raise ConflictError(
                f"preference.{low} ({preference[low]}) would exceed preference.{high} ({preference[high]}); "
                "change both together.",
                field=f"preference.{low}",
            )


def _operator_id(context: AuditContext) -> uuid.UUID | None:
    return context.actor.id if context.actor.kind.value == "operator" else None
