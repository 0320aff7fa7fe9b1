"""The CSV export's COPY (member repository): a connection whose copy failed in its sink is never used again."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import text

from backend.domain.member import list_repository
from backend.domain.member.list_repository import MemberListQuery
from backend.domain.member.schemas import MemberFilters
from backend.domain.ordering import SortKey
from backend.infrastructure.database import create_engine, read_sessions
from backend.infrastructure.settings import Settings


async def test_a_sink_failing_on_the_last_chunk_leaves_no_connection_waiting(
    settings: Settings, db: asyncpg.Pool
) -> None:
    """asyncpg answers a sink's failure with a cancel request, and waits at the connection's next use for the
    server to acknowledge it. On the last chunk the server has finished already: no acknowledgement ever comes,
    and that next use (a rollback, the next request's query) would wait forever."""
    member_id = await db.fetchval("SELECT id FROM users ORDER BY created_at LIMIT 1")
    one_connection = settings.model_copy(update={"database_pool_size": 1, "database_max_overflow": 0})
    engine = create_engine(str(settings.database_url), one_connection, read_only=True)
    sessions = read_sessions(engine, autocommit=not settings.database_pgbouncer)
    # One member: its row, the end of the copy and the server's ready message arrive as one chunk, the last.
    query = MemberListQuery(
        filters=MemberFilters.model_validate({"id": [str(member_id)]}),
        created_from=None,
        created_before=None,
        order=(SortKey("id", descending=False),),
        limit=1,
    )

    async def fails(chunk: bytes) -> None:
        raise RuntimeError("injected: the sink failed on the last chunk")

    try:
        async with asyncio.timeout(20):
            with pytest.raises(RuntimeError, match="injected"):
                async with sessions() as session:
                    await list_repository.export_csv(session, query, fails)
            async with sessions() as session:  # the pool's only connection, or the one that replaced it
                assert (await session.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await engine.dispose()
