"""All SQL of the data-rights chores: erasing a member's personal data wherever it landed, the rows of an export,
the retention query, and the identity-document access log."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, func, select, text

from backend.domain.member.models import User
from backend.domain.privacy.models import AccessLog
from backend.domain.sessions import AnySession, AsyncWriteSession, Row, fetch
from backend.infrastructure.paging import by_created_at

users = User.__table__  # type: ignore[attr-defined]
access_log = AccessLog.__table__  # type: ignore[attr-defined]

ERASED_NAME = "Erased member"
ERASED_BIRTH_YEAR = 1900  # the lowest the column takes: lists sort and page by it, so it cannot be null
ERASED_TEXT = "[erased]"


async def lock_member(
    session: AsyncWriteSession, member_id: uuid.UUID, *, skip_locked: bool = False, share: bool = False
) -> User | None:
    """The user row, locked until the transaction ends: for update (the lock every member write takes first), or
    with `share` FOR SHARE (an export: it waits for an erasure under way, and exports do not wait for each other)."""
    stmt = select(User).where(users.c.id == member_id).with_for_update(skip_locked=skip_locked, read=share)
    return (await session.execute(stmt)).scalar_one_or_none()


@dataclass(frozen=True)
class StoredFile:
    """A photo's or document's row, as the erasure and the export need it."""

    id: uuid.UUID
    kind: str  # photo or document
    s3_key: str
    content_type: str | None
    doc_type: str | None
    status: str
    display_order: int | None
    created_at: datetime
    deleted_at: datetime | None


_FILES = """
    SELECT id, 'photo' AS kind, s3_key, content_type, NULL AS doc_type, status, display_order, created_at, deleted_at
    FROM user_photos WHERE user_id = $1
    UNION ALL
    SELECT id, 'document', s3_key, content_type, doc_type, status, NULL, created_at, deleted_at
    FROM user_documents WHERE user_id = $1
    ORDER BY kind DESC, display_order NULLS LAST, created_at, id
"""


async def member_files(session: AnySession, member_id: uuid.UUID) -> list[StoredFile]:
    """Every photo and document row of the member (deleted ones too), photos first in their order."""
    return [StoredFile(**dict(row)) for row in await fetch(session, _FILES, member_id)]


# The personal fields of the member's own rows: null, or a fixed placeholder where the column needs a value.
_ERASE_MEMBER = [
    """UPDATE users SET name = :name, phone = NULL, birth_year = :birth_year, erased_at = now(),
           deleted_at = COALESCE(deleted_at, now()), updated_at = now(), version = version + 1,
           claimed_by = NULL, claimed_until = NULL
       WHERE id = :id""",
    """UPDATE user_profiles SET height_cm = NULL, education = NULL, job = NULL, region = NULL, bio = NULL
       WHERE id = :id""",
    "UPDATE user_lifestyles SET smoking = NULL, drinking = NULL, religion = NULL, exercise = NULL WHERE id = :id",
    """UPDATE user_preferences SET age_min = NULL, age_max = NULL, height_min_cm = NULL, height_max_cm = NULL,
           regions = '{}' WHERE id = :id""",
    "UPDATE member_notes SET content = :erased WHERE user_id = :id",
    # Reports about the member, and those the member filed: their free text goes, the codes and outcomes stay.
    """UPDATE reports SET text = NULL, resolution_note = NULL
       WHERE reported_member_id = :id OR reporter_member_id = :id""",
    "DELETE FROM user_photos WHERE user_id = :id",
    "DELETE FROM user_documents WHERE user_id = :id",
]


async def erase_member_rows(session: AsyncWriteSession, member_id: uuid.UUID) -> datetime:
    """Null or replace every personal field of the member's rows, and remove its photo and document rows (the
    counters follow by trigger, in this transaction); the erasure's time."""
    values = {"id": member_id, "name": ERASED_NAME, "birth_year": ERASED_BIRTH_YEAR, "erased": ERASED_TEXT}
    for statement in _ERASE_MEMBER:
        await session.execute(text(statement), values)
    erased_at: datetime = (
        await session.execute(text("SELECT erased_at FROM users WHERE id = :id"), {"id": member_id})
    ).scalar_one()
    session.expire_all()  # the ORM's copies of the rows are stale now
    return erased_at


async def member_report_ids(session: AsyncWriteSession, member_id: uuid.UUID) -> list[str]:
    rows = await session.execute(
        text("SELECT id::text FROM reports WHERE reported_member_id = :id OR reporter_member_id = :id"),
        {"id": member_id},
    )
    return [row[0] for row in rows]


async def audit_rows_about(
    session: AnySession, member_id: uuid.UUID, file_ids: list[str], report_ids: list[str]
) -> list[Row]:
    """The audit rows about the member, its photos and documents, and the reports about it or by it, oldest first."""
    rows = await fetch(
        session,
        """SELECT id, actor_type, actor_id, action, entity_type, entity_id, changes, request_id, created_at
           FROM audit_log
           WHERE (entity_type = 'member' AND entity_id = $1)
              OR (entity_type IN ('photo', 'document') AND entity_id = ANY($2::text[]))
              OR (entity_type = 'report' AND entity_id = ANY($3::text[]))
           ORDER BY created_at, id""",
        str(member_id),
        file_ids,
        report_ids,
    )
    return list(rows)


async def set_audit_changes(session: AsyncWriteSession, redacted: list[tuple[int, dict[str, Any]]]) -> None:
    for audit_id, changes in redacted:
        await session.execute(
            text("UPDATE audit_log SET changes = CAST(:changes AS jsonb) WHERE id = :id"),
            {"id": audit_id, "changes": orjson.dumps(changes).decode()},
        )


async def outbox_rows_about(session: AsyncWriteSession, member_id: uuid.UUID) -> list[tuple[int, dict[str, Any]]]:
    """Outbox events whose payload names the member (a scan: erasures are rare, and delivered events are pruned)."""
    rows = await session.execute(
        text("SELECT id, payload FROM outbox WHERE payload::text LIKE :pattern FOR UPDATE"),
        {"pattern": f"%{member_id}%"},
    )
    return [(row[0], row[1]) for row in rows]


async def set_outbox_payloads(session: AsyncWriteSession, redacted: list[tuple[int, dict[str, Any]]]) -> None:
    for event_id, payload in redacted:
        await session.execute(
            text("UPDATE outbox SET payload = CAST(:payload AS jsonb) WHERE id = :id"),
            {"id": event_id, "payload": orjson.dumps(payload).decode()},
        )


async def gone_idempotent_answers(session: AsyncWriteSession, member_id: uuid.UUID, body: bytes) -> int:
    """Stored answers of Idempotency-Key requests that name the member (a create's or an edit's answer holds the
    member's fields): replaced by a 410 problem, so that a retry neither replays personal data nor writes again."""
    result = await session.execute(
        text(
            """UPDATE idempotency_keys
               SET response_status = 410, response_body = :body,
                   response_headers = '[["content-type", "application/problem+json"]]'::jsonb
               WHERE response_body IS NOT NULL AND position(convert_to(:id, 'UTF8') IN response_body) > 0"""
        ),
        {"id": str(member_id), "body": body},
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def deleted_before(session: AsyncWriteSession, *, before: datetime, limit: int) -> list[uuid.UUID]:
    """Members soft-deleted before `before` and not erased yet, longest deleted first (ix_users_deleted_at_unerased)."""
    stmt = (
        select(users.c.id)
        .where(users.c.deleted_at.is_not(None), users.c.erased_at.is_(None), users.c.deleted_at < before)
        .order_by(users.c.deleted_at)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


# Export ---------------------------------------------------------------------------------------------------------

_EXPORT_MEMBER = """
    SELECT to_jsonb(u) - 'claimed_by' - 'claimed_until' AS member,
           (SELECT to_jsonb(p) - 'id' FROM user_profiles p WHERE p.id = u.id) AS profile,
           (SELECT to_jsonb(l) - 'id' FROM user_lifestyles l WHERE l.id = u.id) AS lifestyle,
           (SELECT to_jsonb(r) - 'id' FROM user_preferences r WHERE r.id = u.id) AS preference,
           (SELECT to_jsonb(s) - 'id' FROM user_subscriptions s WHERE s.id = u.id) AS subscription,
           COALESCE((SELECT jsonb_agg(to_jsonb(n) - 'user_id' ORDER BY n.created_at, n.id)
                     FROM member_notes n WHERE n.user_id = u.id), '[]'::jsonb) AS notes,
           COALESCE((SELECT jsonb_agg(to_jsonb(r) - 'dedupe_window' - 'claimed_by' - 'claimed_until'
                                      ORDER BY r.created_at, r.id)
                     FROM reports r WHERE r.reported_member_id = u.id), '[]'::jsonb) AS reports
    FROM users u WHERE u.id = $1
"""


async def export_member(session: AnySession, member_id: uuid.UUID) -> dict[str, Any] | None:
    """The member's row and every relation, notes (decisions among them) and reports about it, as JSON values."""
    rows = await fetch(session, _EXPORT_MEMBER, member_id)
    if not rows:
        return None
    row = dict(rows[0])
    return {key: orjson.loads(value) if isinstance(value, str | bytes) else value for key, value in row.items()}


# Access log -----------------------------------------------------------------------------------------------------


async def add_access(session: AsyncWriteSession, row: AccessLog) -> AccessLog:
    session.add(row)
    await session.flush()
    await session.refresh(row)
    return row


@dataclass(frozen=True)
class AccessQuery:
    member_ids: list[uuid.UUID] | None
    document_ids: list[uuid.UUID] | None
    actor_ids: list[uuid.UUID] | None
    created_from: datetime | None
    created_before: datetime | None
    descending: bool
    limit: int
    offset: int
    after: tuple[datetime, int] | None


def _access_conditions(query: AccessQuery) -> list[ColumnElement[bool]]:
    c = access_log.c
    where: list[ColumnElement[bool]] = []
    if query.member_ids is not None:
        where.append(c.member_id.in_(query.member_ids))
    if query.document_ids is not None:
        where.append(c.document_id.in_(query.document_ids))
    if query.actor_ids is not None:
        where.append(c.actor_id.in_(query.actor_ids))
    if query.created_from is not None:
        where.append(c.created_at >= query.created_from)
    if query.created_before is not None:
        where.append(c.created_at < query.created_before)
    return where


async def list_access(session: AnySession, query: AccessQuery) -> list[dict[str, Any]]:
    """One page of the access log, in (created_at, id) order (an append-only log, paged as the audit log is)."""
    stmt = by_created_at(
        select(access_log).where(*_access_conditions(query)),
        access_log,
        descending=query.descending,
        limit=query.limit,
        offset=query.offset,
        after=query.after,
    )
    return [dict(row) for row in (await session.execute(stmt)).mappings()]


async def count_access(session: AnySession, query: AccessQuery) -> int:
    stmt = select(func.count()).select_from(access_log).where(*_access_conditions(query))
    return int((await session.execute(stmt)).scalar_one())


async def document_for_url(session: AsyncWriteSession, document_id: uuid.UUID) -> Row | None:
    """A live document of a live member (with its type, key and status), or None."""
    rows = await fetch(
        session,
        """SELECT d.id, d.user_id, d.doc_type, d.s3_key, d.status FROM user_documents d
           JOIN users u ON u.id = d.user_id
           WHERE d.id = $1 AND d.deleted_at IS NULL AND u.deleted_at IS NULL""",
        document_id,
    )
    return rows[0] if rows else None
