"""Several writes in one statement: `write_where` writes only where its guard finds a row, and holds its lock; a write
of one statement alone (`OneStatement`) is committed when it returns, and refuses a second statement."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError

from backend.api.state import app_state
from backend.domain.audit import repository as audit_repository
from backend.domain.member import repository
from backend.domain.member.models import NoteKind
from backend.infrastructure.database import Database
from backend.infrastructure.database_errors import violated_constraint
from backend.infrastructure.together import NewRow, write_together
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


async def _note(database: Database, member_id: uuid.UUID, marker: str, *, alone: bool) -> dict[str, object] | None:
    """A note and its audit row, written alone or in a session's transaction."""
    rows = _note_and_audit(member_id, marker)
    if alone:
        async with database.one_statement() as statement:
            return await repository.add_note_audited(statement, member_id, *rows)
    async with database.write_sessions() as session, session.begin():
        return await repository.add_note_audited(session, member_id, *rows)


@pytest.mark.parametrize("alone", [False, True], ids=["in a transaction", "alone"])
async def test_the_guard_waits_for_a_change_under_way_and_checks_its_row_again(
    app: FastAPI, db: asyncpg.Connection, services: ServiceUrls, alone: bool
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

        racing = asyncio.create_task(_note(database, member_id, marker, alone=alone))
        await asyncio.sleep(0.3)
        assert not racing.done()  # waiting for the deletion's lock
        await deletion.commit()
        assert await asyncio.wait_for(racing, 5) is None
    finally:
        await deleting.close()
    assert await _written(db, marker) == (0, 0)


async def test_a_write_alone_is_committed_when_its_statement_returns_and_refuses_a_second(
    app: FastAPI, db: asyncpg.Connection
) -> None:
    """No BEGIN and no COMMIT: the rows are there for every other connection as soon as the statement returns, and a
    second statement, which would not be atomic with the first, is refused without running."""
    database = app_state(app).database
    member_id = await create_member(db)
    first, second = (f"alone {uuid.uuid4()}" for _ in range(2))
    async with database.one_statement() as statement:
        stored = await repository.add_note_audited(statement, member_id, *_note_and_audit(member_id, first))
        assert stored is not None
        assert stored["content"] == first
        assert await _written(db, first) == (1, 1)  # committed before the write is closed
        with pytest.raises(RuntimeError, match="second"):
            await repository.add_note_audited(statement, member_id, *_note_and_audit(member_id, second))
        position = await database.commit_position(statement)
    assert await _written(db, second) == (0, 0)
    assert position >= 0
    assert await database.monitor.reached_by_primary(position)


async def test_a_write_alone_that_fails_raises_as_sqlalchemy_does_and_writes_nothing(
    app: FastAPI, db: asyncpg.Connection
) -> None:
    """A statement the server refuses comes up as SQLAlchemy's error of its kind, with the constraint's name, as one run
    in a session's transaction does; none of its rows is written, and the connection answers the position after."""
    database = app_state(app).database
    marker = f"alone {uuid.uuid4()}"
    nobody = uuid.uuid4()
    async with database.one_statement() as statement:
        with pytest.raises(IntegrityError) as refused:
            await write_together(statement, *reversed(_note_and_audit(nobody, marker)))
        assert await database.commit_position(statement) >= 0
    assert violated_constraint(refused.value) == "fk_member_notes_user_id_users"
    assert await _written(db, marker) == (0, 0)
