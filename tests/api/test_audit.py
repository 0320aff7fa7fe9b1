"""The audit trail: every write has its row in the same transaction; the trail is listed and filtered."""

from __future__ import annotations

import uuid

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from backend.domain.admin.schemas import OperatorRead
from backend.domain.identity import Role
from devtools.services import ServiceUrls
from tests.conftest import OPERATOR_PASSWORD, api_client, wait_for_replica

OPERATORS = "/api/v1/admin/operators"
AUDIT = "/api/v1/admin/audit-log"


async def audit_rows(db: asyncpg.Connection, entity_id: str) -> list[asyncpg.Record]:
    return await db.fetch("SELECT * FROM audit_log WHERE entity_id = $1 ORDER BY id", entity_id)


class TestAuditAtomicity:
    async def test_a_committed_write_has_its_audit_row(
        self, admin: httpx.AsyncClient, db: asyncpg.Connection, operators: dict[Role, OperatorRead]
    ) -> None:
        email = f"audited-{uuid.uuid4().hex[:8]}@memberdesk.test"
        response = await admin.post(
            OPERATORS,
            json={"email": email, "name": "Audited", "role": "viewer", "password": OPERATOR_PASSWORD},
            headers={"X-Request-ID": "req-audit-1"},
        )
        assert response.status_code == 201
        [row] = await audit_rows(db, response.json()["id"])
        assert row["action"] == "operator.created"
        assert row["actor_type"] == "operator"
        assert row["actor_id"] == operators[Role.admin].id
        assert row["request_id"] == "req-audit-1"
        changes = __import__("json").loads(row["changes"])
        assert changes["email"] == {"before": None, "after": email}
        assert changes["role"] == {"before": None, "after": "viewer"}

    async def test_a_rolled_back_write_leaves_no_audit_row(
        self, admin: httpx.AsyncClient, db: asyncpg.Connection
    ) -> None:
        before = await db.fetchval("SELECT count(*) FROM audit_log")
        # The duplicate is refused after the service has started its transaction.
        email = f"dup-{uuid.uuid4().hex[:8]}@memberdesk.test"
        body = {"email": email, "name": "Dup", "role": "viewer", "password": OPERATOR_PASSWORD}
        assert (await admin.post(OPERATORS, json=body)).status_code == 201
        conflict = await admin.post(OPERATORS, json=body)
        assert conflict.status_code == 409
        assert conflict.json()["field"] == "email"
        assert await db.fetchval("SELECT count(*) FROM audit_log") == before + 1

    async def test_an_update_records_before_and_after(self, admin: httpx.AsyncClient, db: asyncpg.Connection) -> None:
        email = f"upd-{uuid.uuid4().hex[:8]}@memberdesk.test"
        created = (
            await admin.post(
                OPERATORS, json={"email": email, "name": "Old", "role": "viewer", "password": OPERATOR_PASSWORD}
            )
        ).json()
        await admin.patch(f"{OPERATORS}/{created['id']}", json={"name": "New", "role": "moderator"})
        rows = await audit_rows(db, created["id"])
        assert [r["action"] for r in rows] == ["operator.created", "operator.updated"]
        changes = __import__("json").loads(rows[-1]["changes"])
        assert changes == {
            "name": {"before": "Old", "after": "New"},
            "role": {"before": "viewer", "after": "moderator"},
        }


class TestAuditLog:
    async def test_lists_newest_first_with_filters(self, admin: httpx.AsyncClient, db: asyncpg.Connection) -> None:
        email = f"listed-{uuid.uuid4().hex[:8]}@memberdesk.test"
        created = (
            await admin.post(
                OPERATORS, json={"email": email, "name": "Listed", "role": "viewer", "password": OPERATOR_PASSWORD}
            )
        ).json()
        await admin.patch(f"{OPERATORS}/{created['id']}", json={"name": "Listed Again"})
        response = await admin.get(AUDIT, params={"entity_id": created["id"]})
        assert response.status_code == 200
        assert [e["action"] for e in response.json()] == ["operator.updated", "operator.created"]
        assert response.headers["X-Total-Count"] == "2"
        by_action = await admin.get(
            AUDIT, params={"action": "operator.updated", "entity": "admin_user", "limit": "200"}
        )
        assert all(e["action"] == "operator.updated" for e in by_action.json())
        expected = await db.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'operator.updated' AND entity_type = 'admin_user'"
        )
        assert by_action.headers["X-Total-Count"] == str(expected)

    async def test_cursor_paging_visits_every_entry_once(
        self, admin: httpx.AsyncClient, db: asyncpg.Connection
    ) -> None:
        total = await db.fetchval("SELECT count(*) FROM audit_log")
        seen: list[int] = []
        response = await admin.get(AUDIT, params={"limit": "3"})
        seen += [e["id"] for e in response.json()]
        while cursor := response.headers.get("X-Next-Cursor"):
            response = await admin.get(AUDIT, params={"limit": "3", "cursor": cursor})
            seen += [e["id"] for e in response.json()]
        assert len(seen) == len(set(seen))
        assert len(seen) >= total

    async def test_unknown_filter_is_400(self, admin: httpx.AsyncClient) -> None:
        response = await admin.get(AUDIT, params={"password": "x"})
        assert response.status_code == 400
        assert response.json()["parameter"] == "password"

    async def test_member_audit_lists_that_members_entries(
        self, admin: httpx.AsyncClient, db: asyncpg.Connection, services: ServiceUrls
    ) -> None:
        member_id = await db.fetchval("SELECT id FROM users LIMIT 1")
        await db.execute(
            "INSERT INTO audit_log (actor_type, action, entity_type, entity_id, changes)"
            " VALUES ('system', 'member.noted', 'member', $1, '{}')",
            str(member_id),
        )
        await wait_for_replica(services)  # written behind the API's back: no write position to present
        response = await admin.get(f"/api/v1/admin/members/{member_id}/audit")
        assert response.status_code == 200
        assert [e["action"] for e in response.json()] == ["member.noted"]


class TestWhoSeesOperatorEvents:
    """Operator, API key and authentication events name operators' emails, roles and addresses: admins only."""

    @pytest.fixture
    async def operator_events(self, admin: httpx.AsyncClient, anon: httpx.AsyncClient) -> str:
        email = f"private-{uuid.uuid4().hex[:8]}@memberdesk.test"
        body = {"email": email, "name": "Private", "role": "viewer", "password": OPERATOR_PASSWORD}
        created = (await admin.post(OPERATORS, json=body)).json()
        await admin.patch(f"{OPERATORS}/{created['id']}", json={"role": "moderator"})
        key = (await admin.post("/api/v1/admin/api-keys", json={"name": "private tool", "role": "viewer"})).json()
        await admin.delete(f"/api/v1/admin/api-keys/{key['id']}")
        await anon.post("/api/v1/auth/login", json={"email": email, "password": "wrong"})
        await anon.post("/api/v1/auth/login", json={"email": email, "password": OPERATOR_PASSWORD})
        return email

    @staticmethod
    async def everything(c: httpx.AsyncClient, **params: str) -> list[dict[str, object]]:
        response = await c.get(AUDIT, params={"limit": "200", **params})
        assert response.status_code == 200, response.text
        entries: list[dict[str, object]] = response.json()
        while cursor := response.headers.get("X-Next-Cursor"):
            response = await c.get(AUDIT, params={"limit": "200", "cursor": cursor, **params})
            entries += response.json()
        return entries

    async def test_admins_see_them(self, admin: httpx.AsyncClient, operator_events: str) -> None:
        actions = {e["action"] for e in await self.everything(admin)}
        assert {"operator.created", "operator.updated", "api_key.created", "api_key.revoked"} <= actions
        assert {"auth.login_failed", "auth.login"} <= actions

    @pytest.mark.parametrize("role", [Role.viewer, Role.moderator])
    @pytest.mark.parametrize(
        "params",
        [
            {},
            {"entity": "admin_user"},
            {"entity": "api_key"},
            {"action": "auth.login_failed"},
            {"actor_type": "anonymous"},
        ],
    )
    async def test_viewers_and_moderators_do_not(
        self,
        app: FastAPI,
        tokens: dict[Role, str],
        db: asyncpg.Connection,
        operator_events: str,
        role: Role,
        params: dict[str, str],
    ) -> None:
        async with api_client(app, {"Authorization": f"Bearer {tokens[role]}"}) as c:
            entries = await self.everything(c, **params)
            total = (await c.get(AUDIT, params={"limit": "1", **params})).headers["X-Total-Count"]
        assert not [e for e in entries if e["entity_type"] in ("admin_user", "api_key")]
        assert not [e for e in entries if str(e["action"]).startswith(("operator.", "api_key.", "auth."))]
        assert operator_events not in str(entries)
        assert int(total) == len(entries)
