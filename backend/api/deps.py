"""Dependencies, defined once as Annotated aliases so that route signatures read like sentences."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request

from backend.domain.dashboard.service import DashboardService
from backend.domain.health.service import HealthService
from backend.domain.member.loader import UserDataLoader
from backend.domain.member.service import MemberService
from backend.infrastructure.database import AsyncReadSession, AsyncWriteSession, Database, ReadTarget
from backend.infrastructure.settings import Settings
from backend.infrastructure.storage import Storage


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def get_storage(request: Request) -> Storage:
    storage: Storage = request.app.state.storage
    return storage


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
StorageDep = Annotated[Storage, Depends(get_storage)]


def get_read_target(request: Request, database: DatabaseDep) -> ReadTarget:
    """The server this request reads from, chosen once so that all its sessions see the same server."""
    target = database.read_target()
    request.state.read_target = target.name
    return target


ReadTargetDep = Annotated[ReadTarget, Depends(get_read_target)]


async def get_read_session(target: ReadTargetDep) -> AsyncIterator[AsyncReadSession]:
    """A READ ONLY transaction on the request's read target, closed when the endpoint returns."""
    async with target.sessions() as session:
        yield session


async def get_write_session(database: DatabaseDep) -> AsyncIterator[AsyncWriteSession]:
    """The request's transaction on the primary: committed before the response is sent, rolled back on error.

    `scope="function"` ends the dependency when the endpoint returns, before the response goes out, so a
    commit that fails reaches the client as an error instead of a 200 for a write that was lost.
    """
    async with database.write_sessions() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


ReadSession = Annotated[AsyncReadSession, Depends(get_read_session, scope="function")]
WriteSession = Annotated[AsyncWriteSession, Depends(get_write_session, scope="function")]


def get_member_service(
    session: ReadSession, target: ReadTargetDep, storage: StorageDep, settings: SettingsDep
) -> MemberService:
    return MemberService(session, UserDataLoader(target.sessions), storage, settings.tz)


def get_dashboard_service(session: ReadSession, target: ReadTargetDep, settings: SettingsDep) -> DashboardService:
    return DashboardService(session, target.sessions, settings.tz)


def get_health_service(database: DatabaseDep, storage: StorageDep) -> HealthService:
    return HealthService(database, storage)


MemberServiceDep = Annotated[MemberService, Depends(get_member_service)]
DashboardServiceDep = Annotated[DashboardService, Depends(get_dashboard_service)]
HealthServiceDep = Annotated[HealthService, Depends(get_health_service)]


async def require_operator(request: Request) -> None:
    """The one guard every admin route passes through; authentication plugs in here."""
    request.state.actor = None


Operator = Depends(require_operator)
