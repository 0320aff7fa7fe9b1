"""Several writes in one statement: `write_where` writes only where its guard finds a row, and holds its lock."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
from fastapi import FastAPI

from backend.api.state import app_state
from backend.domain.audit import repository as audit_repository
from backend.domain.member import repository
from backend.domain.member.models import NoteKind
from backend.infrastructure.together import NewRow
from devtools.services import ServiceUrls
from tests.conftest import asyncpg_dsn
from tests.factories import create_member


def _note_and_audit(member_id: uuid.UUID, marker: str) -> tuple[NewRow, NewRow]:
    note = repository.note_row(
        note_id=uuid.uuid4(), user_id=member_id, author_id=None, kind=NoteKind.note, content=marker, reason_code=None
    )
    audit = audit_repository.new_row(
        actor_type="api_key",
        actor_id=None,
        action="member.note_added",
        entity_type="member",
        entity_id=str(member_id),
        changes={"marker": marker},
        request_id=None,
    )
    return note, audit


async def _written(db: asyncpg.Connection, marker: str) -> tuple[int, int]:
    notes = await db.fetchval("SELECT count(*) FROM member_notes WHERE content = $1", marker)
    audits = await db.fetchval("SELECT count(*) FROM audit_log WHERE changes->>'marker' = $1", marker)
    return notes, audits


async def test_rows_are_written_with_the_first_returned_only_where_the_guard_finds_its_row(
    app: FastAPI, db: asyncpg.Connection
) -> None:
    database = app_state(app).database
    member_id = await create_member(db)
    deleted_id = await create_member(db)
    await db.execute("UPDATE users SET deleted_at = now() WHERE id = $1", deleted_id)
    live, gone, unknown = (f"together {uuid.uuid4()}" for _ in range(3))

    async with database.write_sessions() as session, session.begin():
        stored = await repository.add_note_audited(session, member_id, *_note_and_audit(member_id, live))
        assert await repository.add_note_audited(session, deleted_id, *_note_and_audit(deleted_id, gone)) is None
        missing = uuid.uuid4()
        assert await repository.add_note_audited(session, missing, *_note_and_audit(missing, unknown)) is None

    assert stored is not None
    assert stored["content"] == live
    assert stored["created_at"] is not None
    assert await _written(db, live) == (1, 1)
    assert await _written(db, gone) == (0, 0)
    assert await _written(db, unknown) == (0, 0)


async def test_the_guard_waits_for_a_change_under_way_and_checks_its_row_again(
    app: FastAPI, db: asyncpg.Connection, services: ServiceUrls
) -> None:
    """The note's guard locks the member FOR SHARE: a note racing a deletion (or an erasure) under way waits for its
    commit, then finds no live member and writes nothing. Read in the statement's snapshot alone, the member would
    look live, and the note would go to a member deleted by then."""
    database = app_state(app).database
    member_id = await create_member(db)
    marker = f"together {uuid.uuid4()}"
    deleting = await asyncpg.connect(asyncpg_dsn(services.superuser_database_url))
    try:
        deletion = deleting.transaction()
        await deletion.start()
        await deleting.execute("UPDATE users SET deleted_at = now() WHERE id = $1", member_id)

        async def note() -> dict[str, object] | None:
            async with database.write_sessions() as session, session.begin():
                return await repository.add_note_audited(session, member_id, *_note_and_audit(member_id, marker))

        racing = asyncio.create_task(note())
        await asyncio.sleep(0.3)
        assert not racing.done()  # waiting for the deletion's lock
        await deletion.commit()
        assert await asyncio.wait_for(racing, 5) is None
    finally:
        await deleting.close()
    assert await _written(db, marker) == (0, 0)
