"""The CSV export: formula cells escaped (OWASP), and a failure at any point ends the answer as an error."""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from backend.api.context import REQUEST_LOGGER
from backend.domain.identity import Role
from backend.domain.member import list_repository
from backend.domain.member.list_repository import EXPORT_COLUMNS, MemberListQuery
from backend.domain.sessions import AnySession
from backend.infrastructure.settings import Settings
from backend.main import create_app
from devtools.services import ServiceUrls
from tests.conftest import VIA_PGBOUNCER, api_client, wait_for_replica
from tests.factories import create_member

EXPORT = "/api/v1/admin/members/export.csv"
Sink = Callable[[bytes], Coroutine[Any, Any, None]]

# Cells a spreadsheet may run as a formula: = + - @ and their full-width and small forms, after any leading
# whitespace or invisible characters, and anything starting with a control character.
HOSTILE = [
    "=1+1",
    "+1",
    "-1",
    "@SUM(A1)",
    " =1+1",
    "   @x",
    "\t=1",
    "\tplain after a tab",
    "\rplain after a carriage return",
    "\n=1",
    "\nplain after a line feed",
    "\u00a0=1",
    "\u3000=1",
    "\u2003+1",
    "\u200b=1",
    "\ufeff@x",
    " \t\u00a0-1",
    "\uff1d1+1",  # full-width =
    "\uff0b1",  # full-width +
    "\uff0d1",  # full-width -
    "\uff20x",  # full-width @
    "\ufe66x",  # small =
    "\ufe62x",  # small +
    "\ufe63x",  # small -
    "\ufe6bx",  # small @
    " \uff1dcmd|' /C calc'!A0",
    "\u2212 1",  # minus sign
]
HARMLESS = ["Kim", " Kim", "Kim=1", "a-b", "O'Brien", "李 =x", "\u00a0Lee"]


def export_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


class TestFormulaEscaping:
    async def test_every_formula_start_is_escaped_and_plain_text_is_not(
        self, client: httpx.AsyncClient, db: asyncpg.Connection, services: ServiceUrls
    ) -> None:
        ids = {await create_member(db, name=name): name for name in HOSTILE + HARMLESS}
        try:
            await wait_for_replica(services)
            response = await client.get(EXPORT, params=[("id", str(member_id)) for member_id in ids])
            assert response.status_code == 200
            rows = {row["id"]: row for row in export_rows(response.text)}
            assert len(rows) == len(ids)
            for member_id, name in ids.items():
                cell = rows[str(member_id)]["name"]
                if name in HOSTILE:
                    assert cell == "'" + name, f"{name!r} was exported as {cell!r}"
                else:
                    assert cell == name
                assert rows[str(member_id)]["phone"].startswith("'+")
            # The free-text cells are always quoted, as OWASP advises.
            assert '"\'=1+1"' in response.text
            assert '"Kim"' in response.text
        finally:
            await db.execute("DELETE FROM users WHERE id = ANY($1::uuid[])", list(ids))

    async def test_an_export_without_rows_is_the_header(self, client: httpx.AsyncClient) -> None:
        response = await client.get(EXPORT, params={"id": str(uuid.uuid4())})
        assert response.status_code == 200
        assert response.text == ",".join(EXPORT_COLUMNS) + "\n"


@asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """`app` (already started) behind a real uvicorn server on a free loopback port, in this event loop."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_config=None, access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            assert not task.done(), "the server did not start"
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


def viewer(app: FastAPI, tokens: dict[Role, str]) -> httpx.AsyncClient:
    """A viewer's client that gets a 500 as the server sends it (the test transport would raise its cause)."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://memberdesk.test",
        headers={"Authorization": f"Bearer {tokens[Role.viewer]}"},
    )


def request_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == REQUEST_LOGGER and getattr(r, "route", None) == EXPORT]


class TestExportFailures:
    async def test_a_failure_before_the_first_rows_is_an_error_answer_not_a_hang(
        self, app: FastAPI, tokens: dict[Role, str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        async def fails(session: AnySession, query: MemberListQuery, sink: Sink) -> None:
            raise RuntimeError("injected: the copy failed before its first row")

        monkeypatch.setattr(list_repository, "export_csv", fails)
        caplog.set_level(logging.INFO)
        async with viewer(app, tokens) as c, asyncio.timeout(30):
            response = await c.get(EXPORT)
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/problem+json"
        [line] = request_lines(caplog)
        assert line.status == 500  # type: ignore[attr-defined]
        assert not hasattr(line, "aborted")

    async def test_a_failure_after_the_first_rows_truncates_the_stream_and_is_logged_as_failed(
        self, app: FastAPI, tokens: dict[Role, str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        copy = list_repository.export_csv

        async def fails_midway(session: AnySession, query: MemberListQuery, sink: Sink) -> None:
            async def first_chunk_then_fail(chunk: bytes) -> None:
                await sink(chunk)
                raise RuntimeError("injected: the copy failed after its first rows")

            await copy(session, query, first_chunk_then_fail)

        monkeypatch.setattr(list_repository, "export_csv", fails_midway)
        caplog.set_level(logging.INFO)
        received = bytearray()
        statuses: list[int] = []
        async with (
            served(app) as url,
            httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {tokens[Role.viewer]}"}) as c,
            asyncio.timeout(30),
        ):

            async def read() -> None:
                async with c.stream("GET", EXPORT) as response:
                    statuses.append(response.status_code)
                    async for part in response.aiter_bytes():
                        received.extend(part)

            with pytest.raises(httpx.RemoteProtocolError):  # an incomplete chunked body, not a clean end
                await read()
            assert statuses == [200]
            monkeypatch.undo()
            again = await c.get(EXPORT, params={"id": str(uuid.uuid4())})  # the server and its pool are fine
            assert again.status_code == 200
        assert received.startswith(",".join(EXPORT_COLUMNS).encode())
        [line, _] = request_lines(caplog)
        assert line.status == 500  # type: ignore[attr-defined]
        assert line.aborted == "RuntimeError"  # type: ignore[attr-defined]
        assert line.levelno == logging.WARNING

    @pytest.mark.skipif(VIA_PGBOUNCER, reason="PgBouncer refuses the statement_timeout startup parameter")
    async def test_a_statement_timeout_is_a_503_with_retry_after(
        self, settings: Settings, tokens: dict[Role, str], db: asyncpg.Pool
    ) -> None:
        app = create_app(
            settings.model_copy(update={"database_replica_urls": [], "database_statement_timeout_ms": 300})
        )
        async with (
            app.router.lifespan_context(app),
            api_client(app, {"Authorization": f"Bearer {tokens[Role.viewer]}"}) as c,
        ):
            async with db.acquire() as blocker, blocker.transaction():
                # The export waits on this lock until its statement timeout cancels it: a real timeout.
                await blocker.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
                async with asyncio.timeout(30):
                    response = await c.get(EXPORT)
            assert response.status_code == 503
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["Retry-After"]
            assert (await c.get(EXPORT, params={"id": str(uuid.uuid4())})).status_code == 200

    async def test_a_nul_in_the_filter_is_an_error_answer(self, app: FastAPI, tokens: dict[Role, str]) -> None:
        async with viewer(app, tokens) as c, asyncio.timeout(30):
            response = await c.get(EXPORT, params={"q": "\x00"})
        assert response.status_code >= 400
        assert response.headers["content-type"] == "application/problem+json"
