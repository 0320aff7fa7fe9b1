"""PATCH /admin/photos and PATCH /admin/documents: one decision for many items, each in a transaction of its own
(backend/api/bulk.py), one result per id, and retries with an Idempotency-Key that write nothing twice."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from backend.domain.admin.schemas import OperatorRead
from backend.domain.identity import Role

PHOTOS = "/api/v1/admin/photos"
DOCUMENTS = "/api/v1/admin/documents"


@pytest.fixture
async def member(db: asyncpg.Connection) -> AsyncIterator[uuid.UUID]:
    member_id: uuid.UUID = await db.fetchval(
        "INSERT INTO users (phone, name, gender, birth_year, status) VALUES"
        " ('+8216' || lpad((random() * 1e8)::bigint::text, 8, '0'), 'Bulk Queue', 'female', 1991, 'pending')"
        " RETURNING id"
    )
    try:
        yield member_id
    finally:
        await db.execute("DELETE FROM outbox WHERE payload->>'member_id' = $1", str(member_id))
        await db.execute("DELETE FROM users WHERE id = $1", member_id)


async def add_photos(
    db: asyncpg.Connection, member_id: uuid.UUID, count: int, status: str = "pending"
) -> list[uuid.UUID]:
    """`count` photo rows of one member in one statement (no objects: decisions do not read them)."""
    start = await db.fetchval(
        "SELECT coalesce(max(display_order) + 1, 0) FROM user_photos WHERE user_id = $1 AND deleted_at IS NULL",
        member_id,
    )
    rows = await db.fetch(
        "INSERT INTO user_photos (user_id, s3_key, content_type, display_order, status)"
        " SELECT $1::uuid, 'members/' || $1::text || '/photos/' || n || '.jpg', 'image/jpeg', $2 + n, $3"
        " FROM generate_series(0, $4 - 1) AS n RETURNING id",
        member_id,
        start,
        status,
        count,
    )
    return [row["id"] for row in rows]


async def add_documents(
    db: asyncpg.Connection, member_id: uuid.UUID, count: int, status: str = "pending"
) -> list[uuid.UUID]:
    rows = await db.fetch(
        "INSERT INTO user_documents (user_id, doc_type, s3_key, content_type, status)"
        " SELECT $1::uuid, 'identity', 'members/' || $1::text || '/documents/' || n || '.pdf', 'application/pdf', $2"
        " FROM generate_series(1, $3) AS n RETURNING id",
        member_id,
        status,
        count,
    )
    return [row["id"] for row in rows]


async def claim(db: asyncpg.Connection, table: str, ids: list[uuid.UUID], holder: OperatorRead) -> None:
    await db.execute(
        f"UPDATE {table} SET claimed_by = $2, claimed_until = now() + interval '5 minutes' WHERE id = ANY($1)",
        ids,
        holder.id,
    )


async def audit_count(db: asyncpg.Connection, entity: str, ids: list[uuid.UUID]) -> dict[str, int]:
    rows = await db.fetch(
        "SELECT entity_id, count(*) AS n FROM audit_log WHERE entity_type = $1 AND entity_id = ANY($2)"
        " GROUP BY entity_id",
        entity,
        [str(i) for i in ids],
    )
    return {row["entity_id"]: row["n"] for row in rows}


def strs(ids: list[uuid.UUID]) -> list[str]:
    return [str(i) for i in ids]


def by_id(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in answer["results"]}


class TestBulkPhotos:
    async def test_500_ids_valid_conflicting_claimed_and_unknown_get_the_right_result_each_and_their_audit_rows(
        self,
        moderator: httpx.AsyncClient,
        member: uuid.UUID,
        db: asyncpg.Connection,
        operators: dict[Role, OperatorRead],
    ) -> None:
        valid = await add_photos(db, member, 440)
        uploading = await add_photos(db, member, 20, status="uploading")
        claimed = await add_photos(db, member, 20)
        await claim(db, "user_photos", claimed, operators[Role.admin])
        unknown = [uuid.uuid4() for _ in range(20)]
        ids = valid[:200] + uploading + unknown + claimed + valid[200:]
        assert len(ids) == 500
        body = {"status": "rejected", "reason_code": "nudity", "ids": strs(ids)}

        response = await moderator.patch(PHOTOS, json=body)

        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["summary"] == {"total": 500, "ok": 440, "conflict": 20, "not_found": 20, "claimed": 20}
        assert [item["id"] for item in answer["results"]] == strs(ids)  # in the request's order
        results = by_id(answer)
        assert {results[str(i)]["result"] for i in valid} == {"ok"}
        conflict = results[str(uploading[0])]
        assert (conflict["result"], conflict["status"], conflict["problem"]["photo_status"]) == (
            "conflict",
            409,
            "uploading",
        )
        assert {(results[str(i)]["result"], results[str(i)]["status"]) for i in unknown} == {("not_found", 404)}
        held = results[str(claimed[0])]
        assert (held["result"], held["status"]) == ("claimed", 409)
        assert held["problem"]["claimed_by_name"] == operators[Role.admin].name

        rows = await db.fetch("SELECT id, status FROM user_photos WHERE id = ANY($1)", ids)
        statuses = {row["id"]: row["status"] for row in rows}
        assert {statuses[i] for i in valid} == {"rejected"}
        assert {statuses[i] for i in uploading} == {"uploading"}
        assert {statuses[i] for i in claimed} == {"pending"}
        assert await audit_count(db, "photo", ids) == {str(i): 1 for i in valid}
        events = await db.fetch(
            "SELECT payload FROM outbox WHERE topic = 'photo.rejected' AND payload->>'member_id' = $1", str(member)
        )
        assert len(events) == 440
        assert {json.loads(e["payload"])["reason_code"] for e in events} == {"nudity"}

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"status": "rejected"}, "reason_code"),
            ({"status": "approved", "reason_code": "spam"}, "reason_code"),
            ({"status": "rejected", "reason_code": "other"}, "reason"),
            ({"status": "rejected", "reason_code": "made_up"}, "reason_code"),
            ({"status": "pending"}, "status"),
            ({"status": "approved", "ids": []}, "ids"),
        ],
    )
    async def test_a_bad_body_is_422_naming_the_field_and_decides_nothing(
        self, moderator: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection, body: dict[str, Any], field: str
    ) -> None:
        ids = await add_photos(db, member, 3)
        response = await moderator.patch(PHOTOS, json={"ids": strs(ids), **body})
        assert response.status_code == 422, response.text
        assert field in json.dumps(response.json()["errors"])
        assert await audit_count(db, "photo", ids) == {}

    async def test_more_than_500_ids_or_a_repeated_id_is_422(self, moderator: httpx.AsyncClient) -> None:
        too_many = [str(uuid.uuid4()) for _ in range(501)]
        assert (await moderator.patch(PHOTOS, json={"status": "approved", "ids": too_many})).status_code == 422
        twice = [too_many[0], too_many[0]]
        assert (await moderator.patch(PHOTOS, json={"status": "approved", "ids": twice})).status_code == 422

    async def test_force_is_for_admins_only_and_overrides_claims(
        self,
        moderator: httpx.AsyncClient,
        admin: httpx.AsyncClient,
        member: uuid.UUID,
        db: asyncpg.Connection,
        operators: dict[Role, OperatorRead],
    ) -> None:
        ids = await add_photos(db, member, 3)
        await claim(db, "user_photos", ids, operators[Role.viewer])
        body = {"status": "approved", "force": True, "ids": strs(ids)}
        refused = await moderator.patch(PHOTOS, json=body)
        assert refused.status_code == 403  # the whole request, before any photo
        assert await audit_count(db, "photo", ids) == {}
        forced = await admin.patch(PHOTOS, json=body)
        assert forced.json()["summary"]["ok"] == 3
        rows = await db.fetch("SELECT status, claimed_by FROM user_photos WHERE id = ANY($1)", ids)
        assert {(r["status"], r["claimed_by"]) for r in rows} == {("approved", None)}

    async def test_a_viewer_may_not(self, client: httpx.AsyncClient) -> None:
        response = await client.patch(PHOTOS, json={"status": "approved", "ids": [str(uuid.uuid4())]})
        assert response.status_code == 403


class TestBulkDocuments:
    async def test_a_mix_gets_one_result_each_with_the_reason_code_stored(
        self,
        moderator: httpx.AsyncClient,
        member: uuid.UUID,
        db: asyncpg.Connection,
        operators: dict[Role, OperatorRead],
    ) -> None:
        valid = await add_documents(db, member, 30)
        uploading = await add_documents(db, member, 5, status="uploading")
        claimed = await add_documents(db, member, 5)
        await claim(db, "user_documents", claimed, operators[Role.admin])
        unknown = [uuid.uuid4() for _ in range(5)]
        ids = valid + uploading + claimed + unknown
        body = {"status": "rejected", "reason_code": "other", "reason": "Expired", "ids": strs(ids)}
        response = await moderator.patch(DOCUMENTS, json=body)
        assert response.status_code == 200, response.text
        assert response.json()["summary"] == {"total": 45, "ok": 30, "conflict": 5, "not_found": 5, "claimed": 5}
        rows = await db.fetch("SELECT status, reason_code, status_reason FROM user_documents WHERE id = ANY($1)", valid)
        assert {tuple(r.values()) for r in rows} == {("rejected", "other", "Expired")}
        assert await audit_count(db, "document", ids) == {str(i): 1 for i in valid}

        verified = await moderator.patch(DOCUMENTS, json={"status": "verified", "ids": strs(valid)})
        assert verified.json()["summary"]["ok"] == 30

    async def test_a_bad_body_is_422(self, moderator: httpx.AsyncClient) -> None:
        ids = [str(uuid.uuid4())]
        assert (await moderator.patch(DOCUMENTS, json={"status": "rejected", "ids": ids})).status_code == 422
        assert (await moderator.patch(DOCUMENTS, json={"status": "approved", "ids": ids})).status_code == 422


class TestBulkIdempotency:
    async def test_a_retry_gets_the_first_answer_and_writes_nothing(
        self, moderator: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection
    ) -> None:
        ids = await add_photos(db, member, 20)
        body = {"status": "approved", "ids": strs(ids)}
        key = {"Idempotency-Key": str(uuid.uuid4())}
        first = await moderator.patch(PHOTOS, json=body, headers=key)
        # The photos change meanwhile: a decision made again would now write (rejected -> approved).
        await db.execute("UPDATE user_photos SET status = 'rejected' WHERE id = ANY($1)", ids)
        again = await moderator.patch(PHOTOS, json=body, headers=key)
        assert first.status_code == again.status_code == 200
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == first.json()
        assert await audit_count(db, "photo", ids) == {str(i): 1 for i in ids}
        assert (
            await db.fetchval("SELECT count(*) FROM user_photos WHERE id = ANY($1) AND status = 'rejected'", ids) == 20
        )

    async def test_concurrent_retries_decide_each_document_once(
        self, moderator: httpx.AsyncClient, member: uuid.UUID, db: asyncpg.Connection
    ) -> None:
        ids = await add_documents(db, member, 40)
        body = {"status": "rejected", "reason_code": "fake_profile", "ids": strs(ids)}
        key = {"Idempotency-Key": str(uuid.uuid4())}
        responses = await asyncio.gather(*(moderator.patch(DOCUMENTS, json=body, headers=key) for _ in range(4)))
        assert {r.status_code for r in responses} <= {200, 409}
        answered = [r.json() for r in responses if r.status_code == 200]
        assert answered
        assert all(a["summary"]["ok"] == 40 for a in answered)
        assert await audit_count(db, "document", ids) == {str(i): 1 for i in ids}
        events = await db.fetchval(
            "SELECT count(*) FROM outbox WHERE topic = 'document.rejected' AND payload->>'document_id' = ANY($1)",
            strs(ids),
        )
        assert events == 40
