"""All SQL about members."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, exists, false, func, literal, or_, select, text, tuple_
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import InstrumentedAttribute

from backend.domain.member.models import (
    MemberCount,
    MemberNote,
    User,
    UserDocument,
    UserLifestyle,
    UserPhoto,
    UserPreference,
    UserProfile,
    UserSubscription,
)
from backend.domain.member.schemas import MemberFilters
from backend.domain.ordering import SortKey
from backend.domain.sessions import AnySession, AsyncWriteSession
from backend.domain.timebounds import next_utc_midnight, utc_midnight_before

users = User.__table__  # type: ignore[attr-defined]
member_counts = MemberCount.__table__  # type: ignore[attr-defined]
photos = UserPhoto.__table__  # type: ignore[attr-defined]
subscriptions = UserSubscription.__table__  # type: ignore[attr-defined]

SORT_COLUMNS = {name: users.c[name] for name in ("created_at", "updated_at", "name", "birth_year", "status", "gender")}


@dataclass(frozen=True)
class MemberListQuery:
    """A resolved list request: filters with concrete time bounds, a total order, and where to start."""

    filters: MemberFilters
    created_from: datetime | None
    created_before: datetime | None
    order: tuple[SortKey, ...]  # always ends with `id`, so the order is total and keyset paging is exact
    limit: int
    offset: int = 0
    after: tuple[Any, ...] | None = None  # sort values of the last row seen (keyset paging)


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _conditions(query: MemberListQuery) -> list[ColumnElement[bool]]:
    f = query.filters
    where: list[ColumnElement[bool]] = []
    if not f.include_deleted:
        where.append(users.c.deleted_at.is_(None))
    if f.status:
        where.append(users.c.status.in_([s.value for s in f.status]))
    if f.gender:
        where.append(users.c.gender.in_([g.value for g in f.gender]))
    if f.q:
        needle = f.q.strip()
        digits = "".join(ch for ch in needle if ch.isdigit())
        name_match = users.c.name.ilike(f"%{_escape_like(needle)}%", escape="\\")
        phone_like = needle.replace(" ", "").replace("-", "")
        if digits and phone_like.lstrip("+").isdigit():
            where.append(or_(name_match, users.c.phone.like(f"%{digits}%")))
        else:
            where.append(name_match)
    if query.created_from is not None:
        where.append(users.c.created_at >= query.created_from)
    if query.created_before is not None:
        where.append(users.c.created_at < query.created_before)
    if f.birth_year_min is not None:
        where.append(users.c.birth_year >= f.birth_year_min)
    if f.birth_year_max is not None:
        where.append(users.c.birth_year <= f.birth_year_max)
    if f.plan:
        where.append(
            exists().where(
                subscriptions.c.id == users.c.id,
                subscriptions.c.status == "active",
                subscriptions.c.plan.in_([p.value for p in f.plan]),
            )
        )
    if f.has_photos is not None:
        has = exists().where(photos.c.user_id == users.c.id, photos.c.deleted_at.is_(None))
        where.append(has if f.has_photos else ~has)
    if f.id is not None:
        where.append(users.c.id.in_(f.id) if f.id else false())
    return where


def _column(field: str) -> Any:
    return users.c.id if field == "id" else SORT_COLUMNS[field]


def _after(order: Sequence[SortKey], values: Sequence[Any]) -> ColumnElement[bool]:
    """Rows strictly after `values` in `order`.

    One direction throughout becomes a row comparison, `(a, b, id) < (:a, :b, :id)`, which PostgreSQL
    answers from a matching btree index; mixed directions need the expanded OR form.
    """
    columns = [_column(o.field) for o in order]
    if all(o.descending for o in order):
        return tuple_(*columns) < tuple_(*values)
    if not any(o.descending for o in order):
        return tuple_(*columns) > tuple_(*values)
    branches = []
    for i, o in enumerate(order):
        equal = [columns[j] == values[j] for j in range(i)]
        step = columns[i] < values[i] if o.descending else columns[i] > values[i]
        branches.append(and_(*equal, step))
    return or_(*branches)


def _first_photo_key() -> Any:
    return (
        select(photos.c.s3_key)
        .where(photos.c.user_id == users.c.id, photos.c.deleted_at.is_(None), photos.c.status != "uploading")
        .order_by(photos.c.display_order, photos.c.id)
        .limit(1)
        .scalar_subquery()
        .label("photo_key")
    )


def _list_select(query: MemberListQuery) -> Select[Any]:
    stmt = select(users, _first_photo_key()).where(*_conditions(query))
    if query.after is not None:
        stmt = stmt.where(_after(query.order, query.after))
    ordering = [_column(o.field).desc() if o.descending else _column(o.field).asc() for o in query.order]
    return stmt.order_by(*ordering).limit(query.limit).offset(query.offset)


async def list_members(session: AnySession, query: MemberListQuery) -> list[dict[str, Any]]:
    """One page of user rows, each with `photo_key` (its first photo's object key or None)."""
    result = await session.execute(_list_select(query))
    return [dict(row) for row in result.mappings()]


async def _count_rows(session: AnySession, query: MemberListQuery) -> int:
    stmt = select(func.count()).select_from(users).where(*_conditions(query))
    return int((await session.execute(stmt)).scalar_one())


def _counters_answer(query: MemberListQuery) -> bool:
    """Whether the member counters hold this total: only status, gender, plan, deletion and sign-up time."""
    f = query.filters
    return not (f.q or f.id is not None or f.has_photos is not None or f.birth_year_min or f.birth_year_max)


async def _count_counters(
    session: AnySession, query: MemberListQuery, first_day: date | None, end_day: date | None
) -> int:
    f = query.filters
    c = member_counts.c
    where: list[ColumnElement[bool]] = []
    if not f.include_deleted:
        where.append(c.deleted.is_(False))
    if f.status:
        where.append(c.status.in_([s.value for s in f.status]))
    if f.gender:
        where.append(c.gender.in_([g.value for g in f.gender]))
    if f.plan:
        where.append(c.plan.in_([p.value for p in f.plan]))
    if first_day is not None:
        where.append(c.day >= first_day)
    if end_day is not None:
        where.append(c.day < end_day)
    stmt = select(func.coalesce(func.sum(c.n), 0)).where(*where)
    return int((await session.execute(stmt)).scalar_one())


async def count_members(session: AnySession, query: MemberListQuery) -> int:
    """The exact number of members matching the filters.

    For status, gender, plan and sign-up time the trigger-kept counters answer: whole UTC days are summed
    from them and only the partial days at the edges of a time range are counted row by row (an index range
    of at most two days). Any other filter counts the rows.
    """
    if not _counters_answer(query):
        return await _count_rows(session, query)
    lower, upper = query.created_from, query.created_before
    first = next_utc_midnight(lower) if lower is not None else None
    end = utc_midnight_before(upper) if upper is not None else None
    if first is not None and end is not None and first >= end:
        return await _count_rows(session, query)
    total = await _count_counters(session, query, first.date() if first else None, end.date() if end else None)
    if lower is not None and first is not None and lower < first:
        total += await _count_rows(session, replace(query, created_from=lower, created_before=first))
    if upper is not None and end is not None and end < upper:
        total += await _count_rows(session, replace(query, created_from=end, created_before=upper))
    return total


async def estimate_members(session: AnySession, query: MemberListQuery) -> int:
    """The planner's estimate of the matching rows (EXPLAIN), without counting them."""
    stmt = select(users.c.id).where(*_conditions(query))
    connection = await session.connection()
    compiled = stmt.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
    params = [compiled.params[name] for name in compiled.positiontup or ()]
    # EXPLAIN of the same statement with the same bound values; SQLAlchemy has no EXPLAIN construct, so the
    # compiled SQL goes to the driver connection, inside this session's transaction.
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    plan = await driver.fetchval(f"EXPLAIN (FORMAT JSON) {compiled}", *params)
    document = json.loads(plan) if isinstance(plan, str) else plan
    return int(document[0]["Plan"]["Plan Rows"])


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
    """Live photos in display order (an upload still under way has no object yet, so it is left out)."""
    stmt = (
        select(UserPhoto)
        .where(
            _column_of(UserPhoto, "user_id") == member_id,
            _column_of(UserPhoto, "deleted_at").is_(None),
            _column_of(UserPhoto, "status") != "uploading",
        )
        .order_by(_column_of(UserPhoto, "display_order"), _column_of(UserPhoto, "id"))
    )
    return list((await session.execute(stmt)).scalars())


async def list_documents(session: AnySession, member_id: uuid.UUID) -> list[UserDocument]:
    """Live documents, oldest first."""
    stmt = (
        select(UserDocument)
        .where(_column_of(UserDocument, "user_id") == member_id, _column_of(UserDocument, "deleted_at").is_(None))
        .order_by(_column_of(UserDocument, "created_at"), _column_of(UserDocument, "id"))
    )
    return list((await session.execute(stmt)).scalars())


# Writes ------------------------------------------------------------------------------------------------------


async def lock_member(session: AsyncWriteSession, member_id: uuid.UUID) -> User | None:
    """The user row, locked until the transaction ends (deleted ones too)."""
    stmt = select(User).where(users.c.id == member_id).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def live_phone_owner(session: AnySession, phone: str) -> uuid.UUID | None:
    """The live member using `phone`, if any."""
    stmt = select(users.c.id).where(users.c.phone == phone, users.c.deleted_at.is_(None))
    owner: uuid.UUID | None = (await session.execute(stmt)).scalar_one_or_none()
    return owner


async def add_member(session: AsyncWriteSession, user: User) -> None:
    """Insert the user row and load its server defaults."""
    session.add(user)
    await session.flush()
    await session.refresh(user)


async def save_member(session: AsyncWriteSession, user: User, *, deleted: bool | None = None) -> None:
    """Write the changed user row with the next version, and load what the server set.

    `deleted` True soft-deletes (deleted_at = now()), False restores, None leaves it.
    """
    user.version += 1
    user.updated_at = func.now()  # type: ignore[assignment]
    if deleted is not None:
        user.deleted_at = func.now() if deleted else None  # type: ignore[assignment]
    await session.flush()
    await session.refresh(user)


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


async def add_note(session: AsyncWriteSession, note: MemberNote) -> MemberNote:
    session.add(note)
    await session.flush()
    await session.refresh(note)
    return note


async def list_notes(session: AnySession, member_id: uuid.UUID, *, limit: int, offset: int) -> list[MemberNote]:
    """A member's notes, newest first."""
    stmt = (
        select(MemberNote)
        .where(_column_of(MemberNote, "user_id") == member_id)
        .order_by(_column_of(MemberNote, "created_at").desc(), _column_of(MemberNote, "id").desc())
        .limit(limit)
        .offset(offset)
    )
    return list((await session.execute(stmt)).scalars())


async def count_notes(session: AnySession, member_id: uuid.UUID) -> int:
    stmt = select(func.count()).select_from(MemberNote).where(_column_of(MemberNote, "user_id") == member_id)
    return int((await session.execute(stmt)).scalar_one())


EXPORT_COLUMNS = ("id", "name", "phone", "gender", "birth_year", "status", "created_at", "updated_at", "deleted_at")
_FORMULA_START = "^[=+@\t\r-]"


def _spreadsheet_safe(column: Any) -> Any:
    """The text with a leading apostrophe when a spreadsheet would read it as a formula (= + - @ tab CR)."""
    return case((column.regexp_match(_FORMULA_START), literal("'") + column), else_=column).label(column.name)


async def export_csv(
    session: AnySession, query: MemberListQuery, sink: Callable[[bytes], Coroutine[Any, Any, None]]
) -> None:
    """Every matching member as CSV with a header, written by PostgreSQL (COPY) and handed to `sink` in chunks.

    COPY streams from the server without materialising the result, so memory stays flat at any size.
    """
    columns = [
        _spreadsheet_safe(users.c[name]) if name in ("name", "phone") else users.c[name] for name in EXPORT_COLUMNS
    ]
    ordering = [_column(o.field).desc() if o.descending else _column(o.field).asc() for o in query.order]
    stmt = select(*columns).where(*_conditions(query)).order_by(*ordering)
    connection = await session.connection()
    compiled = stmt.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
    params = [compiled.params[name] for name in compiled.positiontup or ()]
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None

    # asyncpg quotes the arguments into the COPY statement server-side (COPY takes no bind parameters).
    async def write(data: bytes | bytearray) -> None:
        await sink(bytes(data))

    await driver.copy_from_query(str(compiled), *params, output=write, format="csv", header=True)


# The whole detail in one round trip: the user row, each one-per-member relation as a JSON object, photos
# and documents as JSON arrays in their order. Measured against the parallel loader and a sequence of
# queries on one connection by `make bench`.
_DETAIL = text(
    """
    SELECT u.id, u.phone, u.name, u.gender, u.birth_year, u.status, u.created_at, u.updated_at, u.deleted_at,
           u.version,
           (SELECT to_jsonb(p) - 'id' FROM user_profiles p WHERE p.id = u.id) AS profile,
           (SELECT to_jsonb(l) - 'id' FROM user_lifestyles l WHERE l.id = u.id) AS lifestyle,
           (SELECT to_jsonb(r) - 'id' FROM user_preferences r WHERE r.id = u.id) AS preference,
           (SELECT to_jsonb(s) - 'id' FROM user_subscriptions s WHERE s.id = u.id) AS subscription,
           COALESCE((SELECT jsonb_agg(to_jsonb(ph) ORDER BY ph.display_order, ph.id) FROM user_photos ph
                     WHERE ph.user_id = u.id AND ph.deleted_at IS NULL AND ph.status <> 'uploading'),
                    '[]'::jsonb) AS photos,
           COALESCE((SELECT jsonb_agg(to_jsonb(d) ORDER BY d.created_at, d.id) FROM user_documents d
                     WHERE d.user_id = u.id AND d.deleted_at IS NULL),
                    '[]'::jsonb) AS documents
    FROM users u
    WHERE u.id = :member_id AND (u.deleted_at IS NULL OR :include_deleted)
    """
).columns(
    profile=JSONB,
    lifestyle=JSONB,
    preference=JSONB,
    subscription=JSONB,
    photos=JSONB,
    documents=JSONB,
)


async def member_detail(
    session: AnySession, member_id: uuid.UUID, *, include_deleted: bool = False
) -> dict[str, Any] | None:
    """The member with every relation in one statement, or None (relations as plain JSON values)."""
    result = await session.execute(_DETAIL, {"member_id": member_id, "include_deleted": include_deleted})
    row = result.mappings().first()
    return dict(row) if row is not None else None
