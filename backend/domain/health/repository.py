"""SQL of the readiness checks."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


@dataclass(frozen=True)
class ReplicaState:
    in_recovery: bool
    replay_lsn: str | None
    lag_seconds: float | None  # time since the last replayed transaction; None before any replay


async def ping(engine: AsyncEngine) -> str:
    """The primary's current WAL position (which also proves it answers)."""
    async with engine.connect() as conn:
        return str((await conn.execute(text("SELECT pg_current_wal_lsn()::text"))).scalar_one())


async def replica_state(engine: AsyncEngine) -> ReplicaState:
    """Whether the server replays WAL, how far, and how long ago it last replayed a transaction."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    """
                    SELECT pg_is_in_recovery(),
                           pg_last_wal_replay_lsn()::text,
                           CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                                ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 END
                    """
                )
            )
        ).one()
    return ReplicaState(in_recovery=bool(row[0]), replay_lsn=row[1], lag_seconds=row[2])
