"""Single decisions on a member: reason codes (the list, and where a decision stores its code), timed suspensions,
bans that block the phone (create, restore and edit refused; an unban lifts both), claims."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from backend.domain.admin.schemas import OperatorRead
from backend.domain.identity import Role
from backend.domain.reasons import LABELS, ReasonCode
from backend.infrastructure.settings import Settings
from devtools.services import ServiceUrls
from tests.conftest import wait_for_replica
from tests.domain.test_member_counts import assert_counters_exact
from tests.factories import create_member, unique_phone

MEMBERS = "/api/v1/admin/members"


pytestmark = pytest.mark.usefixtures("own_members")


def new_member(phone: str) -> dict[str, Any]:
    return {"phone": phone, "name": "Signs Up Again", "gender": "male", "birth_year": 1990, "profile": {}}


async def outbox_payload(db: asyncpg.Connection, topic: str, member_id: uuid.UUID) -> dict[str, Any]:
    [row] = await db.fetch(
        "SELECT payload FROM outbox WHERE topic = $1 AND payload->>'member_id' = $2", topic, str(member_id)
    )
    payload: dict[str, Any] = json.loads(row["payload"])
    return payload


async def audit_changes(db: asyncpg.Connection, action: str, member_id: uuid.UUID) -> dict[str, Any]:
    [row] = await db.fetch("SELECT changes FROM audit_log WHERE action = $1 AND entity_id = $2", action, str(member_id))
    changes: dict[str, Any] = json.loads(row["changes"])
    return changes


class TestReasonCodes:
    async def test_every_code_is_listed_with_its_label_to_a_viewer(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/v1/admin/reason-codes")
        assert response.status_code == 200
        assert response.json() == [
            {"id": code.value, "label": LABELS[code], "reason_required": code == ReasonCode.other}
            for code in ReasonCode
        ]
        assert response.headers["X-Total-Count"] == str(len(ReasonCode))
        assert response.headers["Content-Range"] == f"reason-codes 0-{len(ReasonCode) - 1}/{len(ReasonCode)}"
        page = await client.get("/api/v1/admin/reason-codes", params={"range": "[0,1]"})
        assert [item["id"] for item in page.json()] == ["fake_profile", "underage"]

    async def test_a_rejection_stores_its_code_on_the_note_the_audit_row_and_the_event(
        self, moderator: httpx.AsyncClient, db: asyncpg.Connection, services: ServiceUrls
    ) -> None:
        member_id = await create_member(db)
        response = await moderator.post(f"{MEMBERS}/{member_id}/reject", json={"reason_code": "underage"})
        assert response.status_code == 200, response.text
        note = await db.fetchrow("SELECT kind, content, reason_code FROM member_notes WHERE user_id = $1", member_id)
        assert note is not None
        assert tuple(note) == ("rejected", LABELS[ReasonCode.underage], "underage")
        assert (await audit_changes(db, "member.rejected", member_id))["reason_code"] == {
            "before": None,
            "after": "underage",
        }
        assert (await outbox_payload(db, "member.rejected", member_id))["reason_code"] == "underage"
        await wait_for_replica(services)
        [listed] = (await moderator.get(f"{MEMBERS}/{member_id}/notes")).json()
        assert (listed["kind"], listed["reason_code"]) == ("rejected", "underage")

    @pytest.mark.parametrize(
        ("path", "body", "field"),
        [
            ("reject", {}, "reason_code"),
            ("reject", {"reason_code": "rude"}, "reason_code"),
            ("suspend", {"reason_code": "other"}, "reason"),
            ("ban", {"reason_code": None}, "reason_code"),
            ("suspend", {"reason_code": "spam", "until": "2001-01-01T00:00:00Z"}, "until"),
            ("suspend", {"reason_code": "spam", "until": "tomorrow"}, "until"),
            ("ban", {"reason_code": "spam", "until": "2099-01-01T00:00:00Z"}, "until"),
            ("approve", {"reason_code": "spam"}, "reason_code"),
        ],
    )
    async def test_a_bad_decision_is_422_naming_the_field_and_changes_nothing(
        self, moderator: httpx.AsyncClient, db: asyncpg.Connection, path: str, body: dict[str, Any], field: str
    ) -> None:
        member_id = await create_member(db, status="active")
        response = await moderator.post(f"{MEMBERS}/{member_id}/{path}", json=body)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["loc"] == ["body", field]
        if path == "reject" and body:
            assert "Unknown reason code 'rude'" in response.json()["errors"][0]["msg"]
        assert await db.fetchval("SELECT status FROM users WHERE id = $1", member_id) == "active"
        assert await db.fetchval("SELECT count(*) FROM audit_log WHERE entity_id = $1", str(member_id)) == 0


class TestTimedSuspension:
    async def test_suspend_until_a_future_moment_stores_it_everywhere(
        self, moderator: httpx.AsyncClient, db: asyncpg.Connection
    ) -> None:
        member_id = await create_member(db, status="active")
        until = datetime.now(UTC).replace(microsecond=0) + timedelta(days=7)
        body = {"reason_code": "harassment", "until": until.astimezone().isoformat()}
        response = await moderator.post(f"{MEMBERS}/{member_id}/suspend", json=body)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert (answer["status"], datetime.fromisoformat(answer["suspended_until"])) == ("suspended", until)
        assert await db.fetchval("SELECT suspended_until FROM users WHERE id = $1", member_id) == until
        assert (await audit_changes(db, "member.suspended", member_id))["suspended_until"]["after"] == until.isoformat()
        assert (await outbox_payload(db, "member.suspended", member_id))["suspended_until"] == until.isoformat()

    async def test_without_until_a_suspension_lasts_until_lifted_and_approving_lifts_it(
        self, moderator: httpx.AsyncClient, db: asyncpg.Connection
    ) -> None:
        member_id = await create_member(db, status="active")
        suspended = await moderator.post(f"{MEMBERS}/{member_id}/suspend", json={"reason_code": "spam"})
        assert suspended.json()["suspended_until"] is None
        await db.execute("UPDATE users SET suspended_until = now() + interval '1 day' WHERE id = $1", member_id)
        approved = await moderator.post(f"{MEMBERS}/{member_id}/approve", json={})
        assert (approved.json()["status"], approved.json()["suspended_until"]) == ("active", None)


class TestBans:
    async def test_a_ban_blocks_the_phone_as_a_keyed_hash_never_the_number(
        self, moderator: httpx.AsyncClient, db: asyncpg.Connection, settings: Settings
    ) -> None:
        phone = unique_phone()
        member_id = await create_member(db, status="active", phone=phone)
        response = await moderator.post(f"{MEMBERS}/{member_id}/ban", json={"reason_code": "scam", "reason": "fraud"})
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "banned"
        [block] = await db.fetch("SELECT phone_hash, reason_code FROM phone_blocks WHERE member_id = $1", member_id)
        expected = hmac.new(settings.phone_block_key(), phone.encode(), hashlib.sha256).hexdigest()
        assert (block["phone_hash"], block["reason_code"]) == (expected, "scam")
        assert phone.lstrip("+") not in block["phone_hash"]
        note = await db.fetchrow("SELECT kind, content, reason_code FROM member_notes WHERE user_id = $1", member_id)
        assert note is not None
        assert tuple(note) == ("banned", "fraud", "scam")
        changes = await audit_changes(db, "member.banned", member_id)
        assert changes["status"] == {"before": "active", "after": "banned"}
        assert changes["phone_blocked"] == {"before": False, "after": True}
        assert (await outbox_payload(db, "member.banned", member_id))["reason_code"] == "scam"
        again = await moderator.post(f"{MEMBERS}/{member_id}/ban", json={"reason_code": "scam"})
        assert again.status_code == 409

    async def test_a_blocked_phone_cannot_sign_up_be_restored_or_be_given(
        self, moderator: httpx.AsyncClient, admin: httpx.AsyncClient, db: asyncpg.Connection
    ) -> None:
        phone = unique_phone()
        banned = await create_member(db, status="pending", phone=phone)
        assert (
            await moderator.post(f"{MEMBERS}/{banned}/ban", json={"reason_code": "fake_profile"})
        ).status_code == 200
        # Deleted, the banned member frees the phone among live members; the block still holds it.
        assert (await admin.delete(f"{MEMBERS}/{banned}")).status_code == 200
        earlier = await create_member(db, phone=phone, deleted=True)
        other = await create_member(db)
        created = await admin.post(MEMBERS, json=new_member(phone))
        restored = await admin.post(f"{MEMBERS}/{earlier}/restore")
        edited = await admin.patch(f"{MEMBERS}/{other}", json={"phone": phone})
        for response in (created, restored, edited):
            assert response.status_code == 409, response.text
            problem = response.json()
            assert (problem["field"], problem["problem"]) == ("phone", "blocked")
            assert "blocked" in problem["detail"]
        assert await db.fetchval("SELECT count(*) FROM users WHERE phone = $1 AND deleted_at IS NULL", phone) == 0
        assert await db.fetchval("SELECT count(*) FROM audit_log WHERE entity_id = $1", str(earlier)) == 0

    async def test_an_unban_is_for_admins_and_lifts_the_status_and_the_block(
        self, moderator: httpx.AsyncClient, admin: httpx.AsyncClient, db: asyncpg.Connection
    ) -> None:
        phone = unique_phone()
        member_id = await create_member(db, status="suspended", phone=phone)
        await moderator.post(f"{MEMBERS}/{member_id}/ban", json={"reason_code": "spam"})
        assert (await moderator.post(f"{MEMBERS}/{member_id}/unban", json={})).status_code == 403
        response = await admin.post(f"{MEMBERS}/{member_id}/unban", json={"reason": "appeal upheld"})
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "active"
        assert await db.fetchval("SELECT count(*) FROM phone_blocks WHERE member_id = $1", member_id) == 0
        assert (await audit_changes(db, "member.unbanned", member_id))["phone_blocked"] == {
            "before": True,
            "after": False,
        }
        assert (await admin.post(f"{MEMBERS}/{member_id}/unban", json={})).status_code == 409
        # The phone is free again once its member is gone.
        assert (await admin.delete(f"{MEMBERS}/{member_id}")).status_code == 200
        assert (await admin.post(MEMBERS, json=new_member(phone))).status_code == 201

    async def test_a_ban_racing_sign_ups_with_the_same_phone_lets_none_through(
        self, moderator: httpx.AsyncClient, admin: httpx.AsyncClient, db: asyncpg.Connection
    ) -> None:
        phone = unique_phone()
        member_id = await create_member(db, status="active", phone=phone)

        async def ban_then_delete() -> None:
            assert (await moderator.post(f"{MEMBERS}/{member_id}/ban", json={"reason_code": "scam"})).status_code == 200
            assert (await admin.delete(f"{MEMBERS}/{member_id}")).status_code == 200

        async def sign_ups() -> list[int]:
            return [(await admin.post(MEMBERS, json=new_member(phone))).status_code for _ in range(12)]

        _, *attempts = await asyncio.gather(ban_then_delete(), sign_ups(), sign_ups())
        statuses = [status for batch in attempts for status in batch]
        assert set(statuses) == {409}
        assert await db.fetchval("SELECT count(*) FROM users WHERE phone = $1", phone) == 1


class TestBannedStatus:
    async def test_banned_is_a_status_the_list_filters_and_the_counters_total(
        self,
        moderator: httpx.AsyncClient,
        client: httpx.AsyncClient,
        db: asyncpg.Connection,
        services: ServiceUrls,
    ) -> None:
        member_id = await create_member(db, status="rejected")
        assert (await moderator.post(f"{MEMBERS}/{member_id}/ban", json={"reason_code": "spam"})).status_code == 200
        await assert_counters_exact(db)
        await wait_for_replica(services)
        response = await client.get(MEMBERS, params={"status": "banned", "sort": "-created_at"})
        assert response.status_code == 200
        assert response.json()[0]["id"] == str(member_id)
        assert {member["status"] for member in response.json()} == {"banned"}
        banned = await db.fetchval("SELECT count(*) FROM users WHERE status = 'banned' AND deleted_at IS NULL")
        assert response.headers["X-Total-Count"] == str(banned)


class TestClaims:
    async def test_a_member_claimed_by_another_operator_is_409_naming_them(
        self, moderator: httpx.AsyncClient, db: asyncpg.Connection, operators: dict[Role, OperatorRead]
    ) -> None:
        member_id = await create_member(db)
        holder = operators[Role.admin]
        await db.execute(
            "UPDATE users SET claimed_by = $2, claimed_until = now() + interval '5 minutes' WHERE id = $1",
            member_id,
            holder.id,
        )
        response = await moderator.post(f"{MEMBERS}/{member_id}/reject", json={"reason_code": "spam"})
        assert response.status_code == 409
        assert (response.json()["claimed_by"], response.json()["claimed_by_name"]) == (str(holder.id), holder.name)
        await db.execute("UPDATE users SET claimed_until = now() - interval '1 second' WHERE id = $1", member_id)
        lapsed = await moderator.post(f"{MEMBERS}/{member_id}/reject", json={"reason_code": "spam"})
        assert lapsed.status_code == 200
        row = await db.fetchrow("SELECT claimed_by, claimed_until FROM users WHERE id = $1", member_id)
        assert row is not None
        assert tuple(row) == (None, None)
