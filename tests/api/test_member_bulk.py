"""POST /admin/members/bulk and the bulk runner under it: a transaction per id, one result per id, retries with an
Idempotency-Key that write nothing twice (concurrent ones, and one after a request that died mid-way)."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from backend.domain.admin.schemas import OperatorRead
from backend.domain.errors import ServiceUnavailable
from backend.domain.identity import Role
from backend.domain.member import writes
from backend.domain.member.writes import Decision, MemberWriteService

BULK = "/api/v1/admin/members/bulk"


pytestmark = pytest.mark.usefixtures("own_members")


async def create_members(
    db: asyncpg.Connection | asyncpg.Pool, count: int, *, status: str = "pending"
) -> list[uuid.UUID]:
    """`count` members in one statement, in the order returned."""
    rows = await db.fetch(
        """
        INSERT INTO users (phone, name, gender, birth_year, status)
        SELECT '+8217' || lpad($3::text, 5, '0') || lpad(n::text, 4, '0'), 'Bulk Member', 'male', 1990, $2
        FROM generate_series(1, $1) AS n
        RETURNING id
        """,
        count,
        status,
        str(random.randrange(10**5)),
    )
    return [row["id"] for row in rows]


async def notes_per_member(db: asyncpg.Connection | asyncpg.Pool, ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    rows = await db.fetch(
        "SELECT user_id, count(*) AS n FROM member_notes WHERE user_id = ANY($1) GROUP BY user_id", ids
    )
    return {row["user_id"]: row["n"] for row in rows}


def by_id(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in answer["results"]}


class TestMemberBulk:
    async def test_a_mix_of_valid_conflicting_claimed_and_unknown_ids_gets_one_result_each(
        self, moderator: httpx.AsyncClient, db: asyncpg.Connection, operators: dict[Role, OperatorRead]
    ) -> None:
        pending = await create_members(db, 300)
        active = await create_members(db, 100, status="active")
        claimed = await create_members(db, 50)
        holder = operators[Role.admin]
        await db.execute(
            "UPDATE users SET claimed_by = $2, claimed_until = now() + interval '5 minutes' WHERE id = ANY($1)",
            claimed,
            holder.id,
        )
        unknown = [uuid.uuid4() for _ in range(50)]
        ids = [*pending, *active, *claimed, *unknown]
        ids = ids[::2] + ids[1::2]  # interleaved, so that order is kept whatever the outcome

        response = await moderator.post(BULK, json={"action": "approve", "ids": [str(i) for i in ids]})

        assert response.status_code == 200, response.text
        answer = response.json()
        assert [item["id"] for item in answer["results"]] == [str(i) for i in ids]
        assert answer["summary"] == {"total": 500, "ok": 300, "conflict": 100, "not_found": 50, "claimed": 50}
        results = by_id(answer)
        assert {results[str(i)]["result"] for i in pending} == {"ok"}
        assert all(results[str(i)]["problem"] is None and results[str(i)]["status"] == 200 for i in pending)
        conflict = results[str(active[0])]
        assert (conflict["result"], conflict["status"]) == ("conflict", 409)
        assert "Cannot approve a member who is active" in conflict["problem"]["detail"]
        assert conflict["problem"]["current_status"] == "active"
        held = results[str(claimed[0])]
        assert (held["result"], held["status"]) == ("claimed", 409)
        assert held["problem"]["claimed_by"] == str(holder.id)
        assert held["problem"]["claimed_by_name"] == holder.name
        missing = results[str(unknown[0])]
        assert (missing["result"], missing["status"], missing["problem"]["status"]) == ("not_found", 404, 404)

        rows = await db.fetch("SELECT id, status FROM users WHERE id = ANY($1)", [*pending, *active, *claimed])
        statuses = {row["id"]: row["status"] for row in rows}
        assert {statuses[i] for i in pending} == {"active"}
        assert {statuses[i] for i in claimed} == {"pending"}
        audited = await db.fetch(
            "SELECT entity_id, action FROM audit_log WHERE entity_id = ANY($1)", [str(i) for i in ids]
        )
        assert sorted(row["entity_id"] for row in audited) == sorted(str(i) for i in pending)
        assert {row["action"] for row in audited} == {"member.approved"}
        events = await db.fetchval(
            "SELECT count(*) FROM outbox WHERE topic = 'member.approved' AND payload->>'member_id' = ANY($1)",
            [str(i) for i in ids],
        )
        assert events == 300
        assert await notes_per_member(db, ids) == dict.fromkeys(pending, 1)

    async def test_members_are_decided_several_at_once_each_in_its_own_transaction(
        self, moderator: httpx.AsyncClient, db: asyncpg.Pool
    ) -> None:
        ids = await create_members(db, 12)
        async with db.acquire() as holder:
            held = holder.transaction()
            await held.start()
            await holder.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", ids[0])
            bulk = asyncio.create_task(moderator.post(BULK, json={"action": "approve", "ids": [str(i) for i in ids]}))
            # While the first member's row is locked elsewhere, the bulk's other sessions decide all the others.
            for _ in range(300):
                if len(await notes_per_member(db, ids[1:])) == len(ids) - 1:
                    break
                await asyncio.sleep(0.05)
            assert await notes_per_member(db, ids[1:]) == dict.fromkeys(ids[1:], 1)
            assert not bulk.done()
            await held.rollback()
        answer = await bulk
        assert answer.status_code == 200, answer.text
        assert [item["id"] for item in answer.json()["results"]] == [str(i) for i in ids]
        assert answer.json()["summary"]["ok"] == len(ids)
        assert await notes_per_member(db, ids) == dict.fromkeys(ids, 1)

    async def test_reject_suspend_and_ban_carry_the_reason_code_everywhere(
        self, moderator: httpx.AsyncClient, db: asyncpg.Connection
    ) -> None:
        [pending] = await create_members(db, 1)
        [active] = await create_members(db, 1, status="active")
        until = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
        reject = await moderator.post(
            BULK, json={"action": "reject", "ids": [str(pending)], "reason_code": "fake_profile"}
        )
        suspend = await moderator.post(
            BULK,
            json={
                "action": "suspend",
                "ids": [str(active)],
                "reason_code": "other",
                "reason": "asked for money",
                "until": until.isoformat(),
            },
        )
        assert reject.json()["summary"]["ok"] == suspend.json()["summary"]["ok"] == 1
        row = await db.fetchrow("SELECT status, suspended_until FROM users WHERE id = $1", active)
        assert row is not None
        assert (row["status"], row["suspended_until"]) == ("suspended", until)
        note = await db.fetchrow("SELECT kind, content, reason_code FROM member_notes WHERE user_id = $1", pending)
        assert note is not None
        assert tuple(note) == ("rejected", "Fake profile", "fake_profile")
        [audit] = await db.fetch("SELECT changes FROM audit_log WHERE entity_id = $1", str(active))
        changes = json.loads(audit["changes"])
        assert changes["reason_code"] == {"before": None, "after": "other"}
        assert changes["reason"] == {"before": None, "after": "asked for money"}
        assert changes["suspended_until"]["after"] == until.isoformat()
        payload = json.loads(
            await db.fetchval("SELECT payload FROM outbox WHERE payload->>'member_id' = $1", str(active))
        )
        assert (payload["reason_code"], payload["suspended_until"]) == ("other", until.isoformat())

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"action": "reject"}, "reason_code"),
            ({"action": "approve", "reason_code": "spam"}, "reason_code"),
            ({"action": "ban", "reason_code": "nope"}, "reason_code"),
            ({"action": "suspend", "reason_code": "other"}, "reason"),
            ({"action": "ban", "reason_code": "spam", "until": "2099-01-01T00:00:00Z"}, "until"),
            ({"action": "suspend", "reason_code": "spam", "until": "2001-01-01T00:00:00Z"}, "until"),
            ({"action": "erase", "reason_code": "spam"}, "action"),
        ],
    )
    async def test_a_bad_body_is_422_naming_the_field_and_decides_nothing(
        self, moderator: httpx.AsyncClient, db: asyncpg.Connection, body: dict[str, Any], field: str
    ) -> None:
        [member] = await create_members(db, 1, status="active")
        response = await moderator.post(BULK, json={**body, "ids": [str(member)]})
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert [error["loc"] for error in response.json()["errors"]] == [["body", field]]
        assert await notes_per_member(db, [member]) == {}

    async def test_more_than_500_ids_or_a_repeated_id_is_422(self, moderator: httpx.AsyncClient) -> None:
        too_many = await moderator.post(
            BULK, json={"action": "approve", "ids": [str(uuid.uuid4()) for _ in range(501)]}
        )
        assert too_many.status_code == 422
        assert too_many.json()["errors"][0]["loc"] == ["body", "ids"]
        same = str(uuid.uuid4())
        repeated = await moderator.post(BULK, json={"action": "approve", "ids": [same, same]})
        assert repeated.status_code == 422
        assert same in repeated.json()["errors"][0]["msg"]
        empty = await moderator.post(BULK, json={"action": "approve", "ids": []})
        assert empty.status_code == 422

    async def test_force_is_for_admins_only_and_overrides_claims_on_the_record(
        self,
        moderator: httpx.AsyncClient,
        admin: httpx.AsyncClient,
        db: asyncpg.Connection,
        operators: dict[Role, OperatorRead],
    ) -> None:
        [member] = await create_members(db, 1)
        holder = operators[Role.moderator]
        await db.execute(
            "UPDATE users SET claimed_by = $2, claimed_until = now() + interval '5 minutes' WHERE id = $1",
            member,
            holder.id,
        )
        refused = await moderator.post(BULK, json={"action": "approve", "ids": [str(member)], "force": True})
        assert refused.status_code == 403
        assert refused.json()["field"] == "force"
        forced = await admin.post(BULK, json={"action": "approve", "ids": [str(member)], "force": True})
        assert forced.json()["summary"]["ok"] == 1
        row = await db.fetchrow("SELECT status, claimed_by FROM users WHERE id = $1", member)
        assert row is not None
        assert (row["status"], row["claimed_by"]) == ("active", None)
        [audit] = await db.fetch("SELECT changes FROM audit_log WHERE entity_id = $1", str(member))
        assert json.loads(audit["changes"])["claim_overridden"]["before"]["claimed_by"] == str(holder.id)

    async def test_the_claimer_decides_its_own_claim_and_releases_it(
        self, moderator: httpx.AsyncClient, db: asyncpg.Connection, operators: dict[Role, OperatorRead]
    ) -> None:
        [member] = await create_members(db, 1)
        await db.execute(
            "UPDATE users SET claimed_by = $2, claimed_until = now() + interval '5 minutes' WHERE id = $1",
            member,
            operators[Role.moderator].id,
        )
        response = await moderator.post(BULK, json={"action": "ban", "reason_code": "scam", "ids": [str(member)]})
        assert response.json()["summary"]["ok"] == 1
        row = await db.fetchrow("SELECT status, claimed_by, claimed_until FROM users WHERE id = $1", member)
        assert row is not None
        assert tuple(row) == ("banned", None, None)

    async def test_a_viewer_may_not(self, client: httpx.AsyncClient) -> None:
        response = await client.post(BULK, json={"action": "approve", "ids": [str(uuid.uuid4())]})
        assert response.status_code == 403


class TestBulkIdempotency:
    async def test_a_retry_gets_the_first_answer_and_writes_nothing(
        self, moderator: httpx.AsyncClient, db: asyncpg.Connection
    ) -> None:
        ids = await create_members(db, 20)
        body = {"action": "approve", "ids": [str(i) for i in ids]}
        key = {"Idempotency-Key": str(uuid.uuid4())}
        first = await moderator.post(BULK, json=body, headers=key)
        again = await moderator.post(BULK, json=body, headers=key)
        assert first.status_code == again.status_code == 200
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == first.json()
        assert first.json()["summary"]["ok"] == 20
        assert await notes_per_member(db, ids) == dict.fromkeys(ids, 1)
        other = await moderator.post(BULK, json={**body, "action": "reject", "reason_code": "spam"}, headers=key)
        assert other.status_code == 422
        assert other.json()["header"] == "Idempotency-Key"

    async def test_concurrent_retries_decide_each_member_once(
        self, moderator: httpx.AsyncClient, db: asyncpg.Connection
    ) -> None:
        ids = await create_members(db, 40)
        body = {"action": "ban", "reason_code": "spam", "ids": [str(i) for i in ids]}
        key = {"Idempotency-Key": str(uuid.uuid4())}
        responses = await asyncio.gather(*(moderator.post(BULK, json=body, headers=key) for _ in range(4)))
        assert {r.status_code for r in responses} <= {200, 409}
        answered = [r.json() for r in responses if r.status_code == 200]
        assert answered
        assert all(
            a["summary"] == {"total": 40, "ok": 40, "conflict": 0, "not_found": 0, "claimed": 0} for a in answered
        )
        assert await notes_per_member(db, ids) == dict.fromkeys(ids, 1)
        blocks = await db.fetchval("SELECT count(*) FROM phone_blocks WHERE member_id = ANY($1)", ids)
        assert blocks == 40

    async def test_a_retry_after_a_request_died_midway_decides_only_the_rest(
        self, moderator: httpx.AsyncClient, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        ids = await create_members(db, 10)
        body = {"action": "approve", "ids": [str(i) for i in ids]}
        key = {"Idempotency-Key": str(uuid.uuid4())}
        apply = MemberWriteService.apply

        async def dies_on_the_fifth(self: MemberWriteService, member_id: uuid.UUID, decision: Decision) -> Any:
            if member_id == ids[4]:
                raise ServiceUnavailable("the primary went away")
            return await apply(self, member_id, decision)

        monkeypatch.setattr(writes.MemberWriteService, "apply", dies_on_the_fifth)
        died = await moderator.post(BULK, json=body, headers=key)
        assert died.status_code == 503
        # The ids before the fifth were taken before it and finish; others under way on other sessions when it
        # failed finish too (never cut off mid-transaction), and no session takes another.
        noted = await notes_per_member(db, ids)
        assert noted.items() >= dict.fromkeys(ids[:4], 1).items()
        assert ids[4] not in noted
        assert set(noted.values()) == {1}
        monkeypatch.setattr(writes.MemberWriteService, "apply", apply)

        retried = await moderator.post(BULK, json=body, headers=key)

        assert retried.status_code == 200, retried.text
        assert "Idempotent-Replayed" not in retried.headers
        assert retried.json()["summary"]["ok"] == 10  # the first four answered from their records
        assert await notes_per_member(db, ids) == dict.fromkeys(ids, 1)
        assert (
            await db.fetchval("SELECT count(*) FROM audit_log WHERE entity_id = ANY($1)", [str(i) for i in ids]) == 10
        )
        replayed = await moderator.post(BULK, json=body, headers=key)
        assert replayed.headers["Idempotent-Replayed"] == "true"
        assert replayed.json() == retried.json()
