"""Member writes: create, edit under optimistic locking, soft delete and restore, review decisions, bans, notes.

Every operation runs in the request's transaction: the change, its audit row and its outbox events commit
together or not at all. Edits lock the user row (SELECT ... FOR UPDATE) and compare its version, so of two
operators editing at once exactly one wins and the other gets 412.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any, NamedTuple

from sqlalchemy.exc import IntegrityError

from backend.domain.audit.service import AuditTrail, audit_row, changes
from backend.domain.claims import service as claims
from backend.domain.errors import ConflictError, NotFoundError, PreconditionFailed, UnprocessableEntity
from backend.domain.identity import AuditContext
from backend.domain.member import repository
from backend.domain.member.models import PHONE_UNIQUE_INDEX, MemberNote, MemberStatus, NoteKind, User
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
from backend.domain.outbox.service import event as outbox_event
from backend.domain.reasons import LABELS, ReasonCode
from backend.domain.sessions import AsyncWriteSession, NewRow, WriteTarget, violated_constraint
from backend.infrastructure.storage import Storage

USER_FIELDS = ("phone", "name", "gender", "birth_year")
DECISION_COLUMNS = ("status", "suspended_until", "claimed_by", "claimed_until")  # what a review decision writes
RELATIONS = ("profile", "lifestyle", "preference")


class ReviewAction(StrEnum):
    """A review decision an operator takes on a member."""

    approve = "approve"
    reject = "reject"
    suspend = "suspend"
    ban = "ban"
    unban = "unban"


@dataclass(frozen=True)
class ReviewRule:
    """What a review decision may start from, leads to, requires and leaves behind."""

    from_statuses: frozenset[MemberStatus]
    to_status: MemberStatus
    reason_code_required: bool
    note_kind: NoteKind  # the member note the decision writes (its content: the reason, the code's label or the kind)
    audit_action: str
    outbox_topic: str


def _rule(starts: set[MemberStatus], to: MemberStatus, kind: NoteKind, *, coded: bool) -> ReviewRule:
    """A rule whose audit action and outbox topic are both `member.<note kind>`."""
    return ReviewRule(frozenset(starts), to, coded, kind, f"member.{kind.value}", f"member.{kind.value}")


_S = MemberStatus
REVIEW_RULES: Mapping[ReviewAction, ReviewRule] = MappingProxyType(
    {
        # Approving a suspended member lifts the suspension.
        ReviewAction.approve: _rule({_S.pending, _S.suspended}, _S.active, NoteKind.approved, coded=False),
        ReviewAction.reject: _rule({_S.pending}, _S.rejected, NoteKind.rejected, coded=True),
        ReviewAction.suspend: _rule({_S.active}, _S.suspended, NoteKind.suspended, coded=True),
        ReviewAction.ban: _rule(
            {_S.pending, _S.active, _S.rejected, _S.suspended}, _S.banned, NoteKind.banned, coded=True
        ),
        # An unban makes the member active again: lifting a ban says the member may use the app.
        ReviewAction.unban: _rule({_S.banned}, _S.active, NoteKind.unbanned, coded=False),
    }
)


@dataclass(frozen=True)
class Decision:
    """A review decision as a request states it (the API's schemas have checked each field)."""

    action: ReviewAction
    reason_code: ReasonCode | None = None
    reason: str | None = None
    until: datetime | None = None  # a suspension's end (suspend only)
    force: bool = False  # an admin deciding past someone else's claim


class _Decided(NamedTuple):
    """A decision checked and ready to write, in one statement: the user row's columns and the decision's rows."""

    user: User
    columns: dict[str, Any]
    records: tuple[NewRow, NewRow, NewRow]  # note, audit row, outbox event


def _user_state(user: User) -> dict[str, Any]:
    return {
        field: getattr(user, field) for field in (*USER_FIELDS, "status", "deleted_at", "suspended_until", "claimed_by")
    }


def _flat(prefix: str, values: dict[str, Any]) -> dict[str, Any]:
    return {f"{prefix}.{key}": value for key, value in values.items()}


def _phone_taken(phone: str) -> ConflictError:
    return ConflictError(f"The phone {phone} is already used by a live member.", field="phone")


@contextlib.contextmanager
def _phone_unique(phone: str) -> Iterator[None]:
    """A write refused by the unique index of live phones (a writer took the phone past the check, under no lock of
    ours) answers as the check would: 409 naming `phone`. Any other integrity error goes on."""
    try:
        yield
    except IntegrityError as exc:
        if violated_constraint(exc) != PHONE_UNIQUE_INDEX:
            raise
        raise _phone_taken(phone) from exc


def _phone_blocked(phone: str) -> ConflictError:
    return ConflictError(
        f"The phone {phone} is blocked: a member who used it was banned.", field="phone", problem="blocked"
    )


def phone_hash(key: bytes, phone: str) -> str:
    """The keyed hash a blocked phone is stored as (HMAC-SHA256 of the E.164 number), never the number."""
    return hmac.new(key, phone.encode(), hashlib.sha256).hexdigest()


async def expired_suspensions(session: AsyncWriteSession, *, now: datetime, limit: int) -> list[uuid.UUID]:
    """Up to `limit` live members whose timed suspension ended by `now`, earliest first (candidates:
    `MemberWriteService.lift_suspension` locks and checks each again)."""
    return await repository.expired_suspensions(session, now=now, limit=limit)


class MemberWriteService:
    def __init__(self, session: AsyncWriteSession, context: AuditContext, storage: Storage, phone_key: bytes) -> None:
        self.session = session
        self.context = context
        self.audit = AuditTrail(session, context)
        self.storage = storage
        self.phone_key = phone_key

    async def _detail(self, member_id: uuid.UUID) -> MemberDetailRead:
        row = await repository.member_detail(self.session, member_id, include_deleted=True)
        assert row is not None  # the row is locked by this transaction
        return await detail_of(row, self.storage)

    async def _locked(self, member_id: uuid.UUID, expected_version: int | None, *, deleted: bool = False) -> User:
        user = await repository.lock_member(self.session, member_id)
        if user is not None and user.erased_at is not None:  # every write on a member passes here, or refuses it
            raise ConflictError(
                f"The member {member_id} was erased: it can no longer be changed.", erased_at=user.erased_at
            )
        if user is None or (user.deleted_at is not None) != deleted:
            state = "deleted " if deleted else ""
            raise NotFoundError(f"No {state}member with id {member_id}.")
        if expected_version is not None and user.version != expected_version:
            raise PreconditionFailed(
                f"The member changed (version {user.version}, you had {expected_version}); reload and retry.",
                current_version=user.version,
            )
        return user

    async def _check_phone(self, phone: str, member_id: uuid.UUID | None) -> None:
        """409 naming `phone` when it is blocked or another live member uses it.

        Under the phone's lock, which a ban takes too: a ban and a sign-up (or a restore, or an edit) with the
        same phone take turns, so the one that comes second sees what the first did. (The banned member keeps the
        phone among live members, so the unique index refuses its phone anyway; the lock keeps the block check
        sound whatever else frees the phone.)"""
        digest = phone_hash(self.phone_key, phone)
        await repository.lock_phone(self.session, digest)
        blocked, owner = await repository.phone_in_use(self.session, digest, phone)
        if blocked:
            raise _phone_blocked(phone)
        if owner is not None and owner != member_id:
            raise _phone_taken(phone)

    async def _save(self, user: User, *, deleted: bool | None = None, reload: bool = True) -> None:
        with _phone_unique(_phone_of(user)):
            await repository.save_member(self.session, user, deleted=deleted, reload=reload)

    async def create(self, data: MemberCreate) -> MemberDetailRead:
        """A member with profile (and lifestyle, preference) in one transaction; 409 for a phone in use or blocked.

        The user row, its relations and the audit row are one statement (`add_member`)."""
        await self._check_phone(data.phone, None)
        member_id = uuid.uuid4()
        fields: dict[str, Any] = {field: getattr(data, field) for field in (*USER_FIELDS, "status")}
        rows = [repository.member_row({"id": member_id, **fields})]
        diff = changes(None, fields)
        for relation in RELATIONS:
            part = getattr(data, relation)
            if part is not None:
                values = part.model_dump()
                rows.append(repository.relation_row(relation, member_id, values))
                diff |= changes(None, _flat(relation, values))
        rows.append(self.audit.row("member.created", "member", member_id, diff))
        with _phone_unique(data.phone):
            await repository.add_member(self.session, rows)
        return await self._detail(member_id)

    async def update(self, member_id: uuid.UUID, data: MemberUpdate, expected_version: int | None) -> MemberDetailRead:
        """Change the given fields; 412 when `expected_version` is stale; the version moves on every change."""
        user = await self._locked(member_id, expected_version)
        before = _user_state(user)
        given = data.model_dump(exclude_unset=True, include=set(USER_FIELDS))
        if (phone := given.get("phone")) and phone != user.phone:
            await self._check_phone(phone, user.id)
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
        if not diff:
            return await self._detail(user.id)
        audit_row = self.audit.row("member.updated", "member", user.id, diff)
        with _phone_unique(_phone_of(user)):  # the row, its audit row and the answer's read in one statement
            row = await repository.save_columns_read(self.session, user, given, audit_row)
        return await detail_of(row, self.storage)

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
        """Undo a soft delete; 409 when a live member took the phone meanwhile, or the phone is blocked."""
        user = await self._locked(member_id, None, deleted=True)
        await self._check_phone(_phone_of(user), None)
        before = _user_state(user)
        await self._save(user, deleted=False)
        await self.audit.record("member.restored", "member", user.id, changes(before, _user_state(user)))
        return await self._detail(user.id)

    async def decide(self, member_id: uuid.UUID, decision: Decision, expected_version: int | None) -> MemberDetailRead:
        """A review decision on one member (see `apply`), answered with the member as it is now, read by the
        decision's own statement."""
        decided = await self._decided(member_id, decision, expected_version)
        row = await repository.save_columns_read(self.session, decided.user, decided.columns, *decided.records)
        return await detail_of(row, self.storage)

    async def apply(self, member_id: uuid.UUID, decision: Decision, expected_version: int | None = None) -> None:
        """approve, reject, suspend, ban or unban: the status, a note, an audit row and an outbox event, in the
        caller's transaction; a ban blocks the member's phone and an unban lifts the blocks its bans made.

        The member's row is locked first, then its claim checked (so a claim taken meanwhile is seen): 409 naming
        the holder unless an admin forces it (recorded in the audit row); any decision releases the claim."""
        decided = await self._decided(member_id, decision, expected_version)
        await repository.save_columns(self.session, decided.user, decided.columns, *decided.records)

    async def _decided(self, member_id: uuid.UUID, decision: Decision, expected_version: int | None) -> _Decided:
        """The decision checked under the member's lock (and a ban's or unban's phone blocks written): what is left
        to write."""
        rule = REVIEW_RULES[decision.action]
        claims.check_force(self.context.actor, decision.force)
        if rule.reason_code_required and decision.reason_code is None:
            raise UnprocessableEntity(f"A reason_code is required to {decision.action} a member.", field="reason_code")
        if decision.until is not None and decision.action != ReviewAction.suspend:
            raise UnprocessableEntity("until goes with a suspension only.", field="until")
        user = await self._locked(member_id, expected_version)
        forced = await claims.check(self.session, user, self.context.actor, force=decision.force)
        if user.status not in rule.from_statuses:
            allowed = ", ".join(sorted(s.value for s in rule.from_statuses))
            raise ConflictError(
                f"Cannot {decision.action} a member who is {user.status}; allowed from: {allowed}.",
                current_status=user.status,
            )
        before = _user_state(user)
        user.status = rule.to_status
        user.suspended_until = decision.until
        released = claims.release(user)
        diff = changes(before, _user_state(user)) | await self._phone_blocks(user, decision)
        if forced:
            diff["claim_overridden"] = claims.overridden(released)
        # One statement, the transaction's last: the UPDATE's triggers lock counter rows that every decision shares,
        # until the commit (docs/decisions.md, "A bulk decision"). `decide` reads its answer in it too.
        columns = {column: getattr(user, column) for column in DECISION_COLUMNS}
        return _Decided(user, columns, self._records(rule, decision, user, before["status"], diff))

    async def _phone_blocks(self, user: User, decision: Decision) -> dict[str, Any]:
        """A ban blocks the member's phone (under the phone's lock, as every check of it); an unban lifts the
        blocks of the member's bans. What changed, for the audit row."""
        if decision.action == ReviewAction.ban:
            assert decision.reason_code is not None
            digest = phone_hash(self.phone_key, _phone_of(user))
            await repository.lock_phone(self.session, digest)
            await repository.block_phone(self.session, digest, user.id, decision.reason_code.value)
            return {"phone_blocked": {"before": False, "after": True}}
        if decision.action == ReviewAction.unban and await repository.unblock_phones(self.session, user.id):
            return {"phone_blocked": {"before": True, "after": False}}
        return {}

    def _records(
        self, rule: ReviewRule, decision: Decision, user: User, previous: MemberStatus, diff: dict[str, Any]
    ) -> tuple[NewRow, NewRow, NewRow]:
        """The rows of the decision's note (its text, else its code's label), audit row and outbox event."""
        code = decision.reason_code.value if decision.reason_code is not None else None
        label = LABELS[decision.reason_code] if decision.reason_code is not None else rule.note_kind.value
        note = repository.note_row(
            note_id=uuid.uuid4(),
            user_id=user.id,
            author_id=_operator_id(self.context),
            kind=rule.note_kind,
            content=decision.reason or label,
            reason_code=code,
        )
        diff |= changes({}, {"reason_code": code, "reason": decision.reason})
        audit_row = self.audit.row(rule.audit_action, "member", user.id, diff)
        actor = self.context.actor
        event = outbox_event(
            self.session,
            rule.outbox_topic,
            {
                "member_id": str(user.id),
                "status": rule.to_status.value,
                "previous_status": previous,
                "reason_code": code,
                "reason": decision.reason,
                "suspended_until": _iso(user.suspended_until),
                "actor": {"kind": actor.kind.value, "id": str(actor.id) if actor.id else None},
            },
        )
        return note, audit_row, event

    async def lift_suspension(self, member_id: uuid.UUID, now: datetime) -> bool:
        """Housekeeping: a suspension whose `suspended_until` has passed ends (active again, a note, an audit row,
        a `member.unsuspended` event). The member is locked with SKIP LOCKED and checked again under the lock:
        False, and nothing changes, when an operator holds it right now or it is no longer a suspension that has
        run out (approved, banned or suspended anew meanwhile)."""
        user = await repository.lock_expired_suspension(self.session, member_id, now)
        if user is None:
            return False
        before = _user_state(user)
        user.status = MemberStatus.active
        user.suspended_until = None
        await self._save(user, reload=False)
        ended = _iso(before["suspended_until"])
        note = MemberNote(
            user_id=user.id, author_id=None, kind=NoteKind.unsuspended, content=f"The suspension ended ({ended})."
        )
        await repository.add_note(self.session, note, reload=False)
        await self.audit.record("member.unsuspended", "member", user.id, changes(before, _user_state(user)))
        await enqueue(
            self.session,
            "member.unsuspended",
            {
                "member_id": str(user.id),
                "status": MemberStatus.active.value,
                "previous_status": MemberStatus.suspended.value,
                "suspended_until": ended,
                "actor": {"kind": self.context.actor.kind.value, "id": None, "name": self.context.actor.name},
            },
        )
        return True


class NoteWriter:
    """Operators' notes about members. A note is one statement (the check, the note and its audit row), so it may be
    written alone (`OneStatement`: no BEGIN or COMMIT), or in a session's transaction with an Idempotency-Key's
    claim."""

    def __init__(self, target: WriteTarget, context: AuditContext) -> None:
        self.target = target
        self.context = context

    async def add_note(self, member_id: uuid.UUID, data: NoteCreate) -> NoteRead:
        """An operator's note about a live member; 404, and nothing written, when there is none."""
        note_id = uuid.uuid4()
        note = repository.note_row(
            note_id=note_id,
            user_id=member_id,
            author_id=_operator_id(self.context),
            kind=NoteKind.note,
            content=data.content,
            reason_code=None,
        )
        diff = {"note": {"before": None, "after": str(note_id)}}
        audit = audit_row(self.context, "member.note_added", "member", member_id, diff)
        stored = await repository.add_note_audited(self.target, member_id, note, audit)
        if stored is None:
            raise NotFoundError(f"No member with id {member_id}.")
        return NoteRead.model_validate(stored)


def _check_ranges(preference: dict[str, Any]) -> None:
    """A partial edit of a preference must leave each minimum at most its maximum (stored or given)."""
    for low, high in PREFERENCE_RANGES:
        if preference.get(low) is not None and preference.get(high) is not None and preference[low] > preference[high]:
            raise ConflictError(
                f"preference.{low} ({preference[low]}) would exceed preference.{high} ({preference[high]}); "
                "change both together.",
                field=f"preference.{low}",
            )


def _phone_of(user: User) -> str:
    """A member's phone; only an erased member has none, and `_locked` refuses those before any write."""
    assert user.phone is not None
    return user.phone


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _operator_id(context: AuditContext) -> uuid.UUID | None:
    return context.actor.id if context.actor.kind.value == "operator" else None
