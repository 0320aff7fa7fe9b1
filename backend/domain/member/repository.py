"""All SQL about members, but for the list and its export (list_repository.py)."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Select, Update, bindparam, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import InstrumentedAttribute, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_dict, manager_of_class, set_committed_value
from sqlalchemy.orm.util import identity_key

from backend.domain.member.list_repository import photo_order, shown_documents, shown_photos
from backend.domain.member.models import (
    MemberNote,
    MemberStatus,
    NoteKind,
    PhoneBlock,
    User,
    UserDocument,
    UserLifestyle,
    UserPhoto,
    UserPreference,
    UserProfile,
    UserSubscription,
)
from backend.domain.sessions import (
    AnySession,
    AsyncWriteSession,
    NewRow,
    Row,
    WriteTarget,
    fetch,
    write_together,
    write_where,
)

users = User.__table__  # type: ignore[attr-defined]
phone_blocks = PhoneBlock.__table__  # type: ignore[attr-defined]
member_notes = MemberNote.__table__  # type: ignore[attr-defined]


async def get_member(session: AnySession, member_id: uuid.UUID, *, include_deleted: bool = False) -> User | None:
    """The user row, or None when there is none (or it is soft-deleted)."""
    stmt = select(User).where(User.id == member_id)  # type: ignore[arg-type]
    if not include_deleted:
        stmt = stmt.where(User.deleted_at.is_(None))  # type: ignore[union-attr]
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_profile(session: AnySession, member_id: uuid.UUID) -> UserProfile | None:
    return await session.get(UserProfile, member_id)


async def get_lifestyle(session: AnySession, member_id: uuid.UUID) -> UserLifestyle | None:
    return await session.get(UserLifestyle, member_id)


async def get_preference(session: AnySession, member_id: uuid.UUID) -> UserPreference | None:
    return await session.get(UserPreference, member_id)


async def get_subscription(session: AnySession, member_id: uuid.UUID) -> UserSubscription | None:
    return await session.get(UserSubscription, member_id)


def _column_of(model: type[Any], name: str) -> InstrumentedAttribute[Any]:
    column: InstrumentedAttribute[Any] = getattr(model, name)
    return column


async def list_photos(session: AnySession, member_id: uuid.UUID) -> list[UserPhoto]:
    """The photos shown with the member (`shown_photos`), in their order."""
    stmt = (
        select(UserPhoto)
        .where(_column_of(UserPhoto, "user_id") == member_id, text(shown_photos("user_photos")))
        .order_by(text(photo_order("user_photos")))
    )
    return list((await session.execute(stmt)).scalars())


async def report_counts(session: AnySession, member_id: uuid.UUID) -> dict[str, int]:
    """The member's open and total reports (the detail's counts, for the loaders that query one relation at a time)."""
    rows = await fetch(session, f"SELECT {_REPORT_COUNTS} FROM users u WHERE u.id = $1", member_id)
    return {"open_reports": int(rows[0]["open_reports"]), "total_reports": int(rows[0]["total_reports"])}


async def list_documents(session: AnySession, member_id: uuid.UUID) -> list[UserDocument]:
    """The documents shown with the member (`shown_documents`), oldest first."""
    stmt = (
        select(UserDocument)
        .where(_column_of(UserDocument, "user_id") == member_id, text(shown_documents("user_documents")))
        .order_by(_column_of(UserDocument, "created_at"), _column_of(UserDocument, "id"))
    )
    return list((await session.execute(stmt)).scalars())


# Writes ------------------------------------------------------------------------------------------------------


_LOCK_MEMBER = f"SELECT {', '.join(users.c.keys())} FROM users WHERE id = $1 FOR UPDATE"
_USER_CLASS = manager_of_class(User)


async def lock_member(session: AsyncWriteSession, member_id: uuid.UUID) -> User | None:
    """The user row, locked until the transaction ends (deleted ones too), as the session's object for it.

    Read by the driver in the session's transaction and made the session's persistent object as if the ORM had loaded
    it (`make_transient_to_detached`, then added): every write on a member starts here, and the ORM's load of one row
    cost more CPU than the statement (docs/decisions.md, "Writes below SQLAlchemy's execution"). Made as the ORM's
    loading makes an object, too: a new instance of the class, its values put in its dict, without `__init__`, which
    sets each column through the attribute's events (40 us a member against 6)."""
    rows = await fetch(session, _LOCK_MEMBER, member_id)
    if not rows:
        return None
    user = session.sync_session.identity_map.get(identity_key(User, member_id))
    if user is not None:  # already the session's (a second write on the member in one transaction): as locked now
        for key, value in dict(rows[0]).items():
            set_committed_value(user, key, value)
        return user
    user = _USER_CLASS.new_instance()
    instance_dict(user).update(rows[0])
    make_transient_to_detached(user)
    session.add(user)
    return user


async def lock_phone(session: AsyncWriteSession, phone_hash: str) -> None:
    """Take the phone's lock until the transaction ends: a ban and anything that gives a member the phone (a
    create, a restore, an edit) take turns on it."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('memberdesk'), hashtext('phone:' || :hash))"), {"hash": phone_hash}
    )


async def block_phone(session: AsyncWriteSession, phone_hash: str, member_id: uuid.UUID, reason_code: str) -> None:
    """Block the phone for the ban of `member_id` (one row per phone and banned member)."""
    await session.execute(
        pg_insert(phone_blocks)
        .values(phone_hash=phone_hash, member_id=member_id, reason_code=reason_code)
        .on_conflict_do_nothing(index_elements=["phone_hash", "member_id"])
    )


async def unblock_phones(session: AsyncWriteSession, member_id: uuid.UUID) -> int:
    """Lift the blocks the bans of `member_id` made; how many there were."""
    result = await session.execute(
        delete(phone_blocks).where(phone_blocks.c.member_id == member_id).returning(phone_blocks.c.phone_hash)
    )
    return len(result.all())


async def expired_suspensions(session: AsyncWriteSession, *, now: datetime, limit: int) -> list[uuid.UUID]:
    """Live members whose timed suspension ended by `now`, earliest first (ix_users_suspended_until)."""
    stmt = (
        select(users.c.id)
        .where(
            users.c.status == MemberStatus.suspended.value,
            users.c.suspended_until.is_not(None),
            users.c.deleted_at.is_(None),
            users.c.suspended_until <= now,
        )
        .order_by(users.c.suspended_until)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def lock_expired_suspension(session: AsyncWriteSession, member_id: uuid.UUID, now: datetime) -> User | None:
    """The member, locked, if it is still a live member whose suspension ended by `now` and no other transaction
    holds its row (SKIP LOCKED: an operator deciding it now wins, and the next pass looks again)."""
    stmt = (
        select(User)
        .where(
            users.c.id == member_id,
            users.c.status == MemberStatus.suspended.value,
            users.c.suspended_until <= now,
            users.c.deleted_at.is_(None),
        )
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def phone_in_use(session: AnySession, phone_hash: str, phone: str) -> tuple[bool, uuid.UUID | None]:
    """Whether a ban blocks the phone (by its keyed hash), and the live member using it if any: one round trip."""
    blocked = select(phone_blocks.c.phone_hash).where(phone_blocks.c.phone_hash == phone_hash).exists()
    owner = select(users.c.id).where(users.c.phone == phone, users.c.deleted_at.is_(None)).scalar_subquery()
    row = (await session.execute(select(blocked.label("blocked"), owner.label("owner")))).one()
    return bool(row.blocked), row.owner


async def add_member(session: AsyncWriteSession, rows: Sequence[NewRow]) -> None:
    """Insert a new member's rows (its user row first, then its relations and audit row) in one statement."""
    await write_together(session, *rows)


def member_row(values: dict[str, Any]) -> NewRow:
    """A new user row (its id given; the server sets the rest), for `add_member`."""
    return NewRow(users, values)


def relation_row(relation: str, member_id: uuid.UUID, values: dict[str, Any]) -> NewRow:
    """A new member's one-per-member row of `relation` (profile, lifestyle, preference), for `add_member`."""
    return NewRow(_RELATION_TABLES[relation], {"id": member_id, **values})


async def save_member(
    session: AsyncWriteSession, user: User, *, deleted: bool | None = None, reload: bool = True
) -> None:
    """Write the changed user row with the next version, and (with `reload`) load what the server set.

    `deleted` True soft-deletes (deleted_at = now()), False restores, None leaves it. Without `reload` the
    server-set columns (updated_at, deleted_at) stay unloaded: for a caller that answers from its own query.
    """
    user.version += 1
    user.updated_at = func.now()  # type: ignore[assignment]
    if deleted is not None:
        user.deleted_at = func.now() if deleted else None  # type: ignore[assignment]
    await session.flush()
    if reload:
        await session.refresh(user)


@functools.cache
def _member_update(columns: tuple[str, ...]) -> Update:
    """The UPDATE of these columns of one user row (bound as `to_<column>`, the row as `member_id`) with the next
    version: one per set of columns a write names (a decision's four, an edit's given fields), built once."""
    c = users.c
    values: dict[Any, Any] = {c[column]: bindparam(f"to_{column}", type_=c[column].type) for column in columns}
    return (
        update(users)
        .where(c.id == bindparam("member_id", type_=c.id.type))
        .values({**values, c.version: c.version + 1, c.updated_at: func.now()})
    )


@functools.cache
def _member_update_detail(columns: tuple[str, ...]) -> Select[Any]:
    """`_member_update`, answered with the member's detail read from the row it wrote."""
    written = _member_update(columns).returning(*users.c).cte("u")
    return select(text(_DETAIL_COLUMNS)).select_from(written)


async def save_columns(session: AsyncWriteSession, user: User, columns: dict[str, Any], *rows: NewRow) -> None:
    """Write these columns of the locked user row with the next version, and `rows` (a decision's note, audit row and
    event; an edit's audit row), in one statement built once (`write_together`: one round trip, and no unit of work
    to compute for one row on the hottest write paths).

    The object leaves the session first, so that the commit flushes nothing more of it; its version is moved on here
    as on the server, and its server-set `updated_at` stays unloaded (a write answers from its own query)."""
    await _save_columns(session, user, columns, rows, _member_update)


async def save_columns_read(
    session: AsyncWriteSession, user: User, columns: dict[str, Any], *rows: NewRow
) -> dict[str, Any]:
    """`save_columns`, and the member's detail as `member_detail` reads it, from the same statement: the row written
    and the relations as this transaction sees them."""
    (row,) = await _save_columns(session, user, columns, rows, _member_update_detail)
    return _detail_row(row)


async def _save_columns(
    session: AsyncWriteSession,
    user: User,
    columns: dict[str, Any],
    rows: Sequence[NewRow],
    statement: Callable[[tuple[str, ...]], Update | Select[Any]],
) -> list[Row]:
    session.expunge(user)
    params = {"member_id": user.id, **{f"to_{column}": value for column, value in columns.items()}}
    result = await write_together(session, *rows, then=statement(tuple(sorted(columns))), params=params)
    user.version += 1
    return result


_RELATION_TABLES = {
    "profile": UserProfile.__table__,  # type: ignore[attr-defined]
    "lifestyle": UserLifestyle.__table__,  # type: ignore[attr-defined]
    "preference": UserPreference.__table__,  # type: ignore[attr-defined]
}


async def upsert_relation(
    session: AsyncWriteSession, relation: str, member_id: uuid.UUID, values: dict[str, Any]
) -> None:
    """Create the member's one-per-member row, or change the given fields of it."""
    table = _RELATION_TABLES[relation]
    stmt = pg_insert(table).values(id=member_id, **values)
    if values:
        stmt = stmt.on_conflict_do_update(index_elements=["id"], set_=values)
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=["id"])
    await session.execute(stmt)


async def relation_values(session: AnySession, relation: str, member_id: uuid.UUID) -> dict[str, Any]:
    """The current values of one one-per-member row (empty when there is none)."""
    table = _RELATION_TABLES[relation]
    row = (await session.execute(select(table).where(table.c.id == member_id))).mappings().first()
    return {key: value for key, value in row.items() if key != "id"} if row else {}


async def add_note(session: AsyncWriteSession, note: MemberNote, *, reload: bool = True) -> MemberNote:
    """Insert the note and (with `reload`) load its server defaults."""
    session.add(note)
    await session.flush()
    if reload:
        await session.refresh(note)
    return note


_LIVE_MEMBER_SHARED = (
    select(users.c.id)
    .where(users.c.id == bindparam("member_id", type_=users.c.id.type), users.c.deleted_at.is_(None))
    .with_for_update(read=True)
)


async def add_note_audited(
    session: WriteTarget, member_id: uuid.UUID, note: NewRow, audit_row: NewRow
) -> dict[str, Any] | None:
    """An operator's note about a live member and its audit row, in one statement that locks the member's row FOR
    SHARE until the transaction ends (an erasure, which locks it for update, comes wholly before or after), so that it
    may run alone (`OneStatement`): the note's columns as stored, or None, and nothing written, when no live member
    has this id."""
    rows = await write_where(session, _LIVE_MEMBER_SHARED, note, audit_row, params={"member_id": member_id})
    return dict(rows[0]) if rows else None


def note_row(
    *,
    note_id: uuid.UUID,
    user_id: uuid.UUID,
    author_id: uuid.UUID | None,
    kind: NoteKind,
    content: str,
    reason_code: str | None,
) -> NewRow:
    """One note, for a caller that writes it together with other rows (`write_together`)."""
    return NewRow(
        member_notes,
        {
            "id": note_id,
            "user_id": user_id,
            "author_id": author_id,
            "kind": kind,
            "content": content,
            "reason_code": reason_code,
        },
    )


# A member's notes page and their number, from one statement (so one snapshot): no row when there is no such
# member (deleted ones included), one row with a null note when the page is past the end.
_NOTES = """
    SELECT (SELECT count(*) FROM member_notes c WHERE c.user_id = u.id) AS total,
           n.id, n.user_id, n.author_id, n.kind, n.content, n.reason_code, n.created_at
    FROM users u
    LEFT JOIN LATERAL (
        SELECT * FROM member_notes n WHERE n.user_id = u.id ORDER BY n.created_at DESC, n.id DESC LIMIT $2 OFFSET $3
    ) n ON true
    WHERE u.id = $1
"""
_NOTE_COLUMNS = ("id", "user_id", "author_id", "kind", "content", "reason_code", "created_at")


async def list_notes(
    session: AnySession, member_id: uuid.UUID, *, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int] | None:
    """A member's notes, newest first, and how many there are; None when there is no such member."""
    rows = await fetch(session, _NOTES, member_id, limit, offset)
    if not rows:
        return None
    notes = [{name: row[name] for name in _NOTE_COLUMNS} for row in rows if row["id"] is not None]
    return notes, int(rows[0]["total"])


_REPORT_COUNTS = (
    "(SELECT count(*) FROM reports r WHERE r.reported_member_id = u.id AND r.status = 'open') AS open_reports,"
    " (SELECT count(*) FROM reports r WHERE r.reported_member_id = u.id) AS total_reports"
)

# The whole detail in one round trip: the user row, each one-per-member relation as a JSON object, photos
# and documents as JSON arrays in their order (docs/decisions.md: "A member's detail in one statement"). The
# columns read the user row as `u`: the table, or the row an UPDATE returns (`save_columns_read`).
_DETAIL_COLUMNS = f"""
    u.id, u.phone, u.name, u.gender, u.birth_year, u.status, u.suspended_until, u.created_at, u.updated_at,
    u.deleted_at, u.version,
    (SELECT to_jsonb(p) - 'id' FROM user_profiles p WHERE p.id = u.id) AS profile,
    (SELECT to_jsonb(l) - 'id' FROM user_lifestyles l WHERE l.id = u.id) AS lifestyle,
    (SELECT to_jsonb(r) - 'id' FROM user_preferences r WHERE r.id = u.id) AS preference,
    (SELECT to_jsonb(s) - 'id' FROM user_subscriptions s WHERE s.id = u.id) AS subscription,
    COALESCE((SELECT jsonb_agg(to_jsonb(ph) ORDER BY {photo_order("ph")}) FROM user_photos ph
              WHERE ph.user_id = u.id AND {shown_photos("ph")}),
             '[]'::jsonb) AS photos,
    COALESCE((SELECT jsonb_agg(to_jsonb(d) ORDER BY d.created_at, d.id) FROM user_documents d
              WHERE d.user_id = u.id AND {shown_documents("d")}),
             '[]'::jsonb) AS documents,
    {_REPORT_COUNTS}
"""
_DETAIL = f"SELECT {_DETAIL_COLUMNS} FROM users u WHERE u.id = $1 AND (u.deleted_at IS NULL OR $2)"
_JSON_COLUMNS = ("profile", "lifestyle", "preference", "subscription", "photos", "documents")


async def member_detail(
    session: AnySession, member_id: uuid.UUID, *, include_deleted: bool = False
) -> dict[str, Any] | None:
    """The member with every relation in one statement, or None (relations as plain JSON values)."""
    rows = await fetch(session, _DETAIL, member_id, include_deleted)
    return _detail_row(rows[0]) if rows else None


def _detail_row(found: Row) -> dict[str, Any]:
    row = dict(found)
    for name in _JSON_COLUMNS:
        if isinstance(row[name], str | bytes):
            row[name] = orjson.loads(row[name])
    return row
