"""Sessions: reads on the replica inside READ ONLY transactions, writes on the primary."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from backend.infrastructure.database import Database
from backend.infrastructure.settings import Settings


class TestReadSession:
    async def test_reads_come_from_the_replica(self, app: FastAPI) -> None:
        database: Database = app.state.database
        target = await database.read_target()
        assert target.name.startswith("replica")
        async with target.sessions() as session:
            assert (await session.execute(text("SELECT pg_is_in_recovery()"))).scalar_one() is True

    async def test_a_write_through_a_read_session_fails(self, app: FastAPI) -> None:
        database: Database = app.state.database
        async with database.primary_reads.sessions() as session:
            assert (await session.execute(text("SELECT pg_is_in_recovery()"))).scalar_one() is False
            assert (await session.execute(text("SHOW transaction_read_only"))).scalar_one() == "on"
            with pytest.raises(DBAPIError, match="read-only transaction"):
                await session.execute(text("UPDATE users SET name = name WHERE false"))

    async def test_without_replicas_reads_use_the_primary_still_read_only(self, settings: Settings) -> None:
        database = Database.from_settings(settings.model_copy(update={"database_replica_urls": []}))
        try:
            target = await database.read_target()
            assert target.name == "primary"
            async with target.sessions() as session:
                assert (await session.execute(text("SELECT pg_is_in_recovery()"))).scalar_one() is False
                assert (await session.execute(text("SHOW transaction_read_only"))).scalar_one() == "on"
        finally:
            await database.dispose()

    async def test_write_sessions_are_read_write_on_the_primary(self, app: FastAPI) -> None:
        database: Database = app.state.database
        async with database.write_sessions() as session:
            assert (await session.execute(text("SHOW transaction_read_only"))).scalar_one() == "off"
            assert (await session.execute(text("SELECT pg_is_in_recovery()"))).scalar_one() is False
            await session.rollback()
