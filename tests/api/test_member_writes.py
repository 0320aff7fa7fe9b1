"""Member writes: create, edit with If-Match, soft delete and restore, review decisions, notes, idempotency."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import pytest

from backend.domain.admin.schemas import OperatorRead
from backend.domain.idempotency import service as idempotency_service
from backend.domain.idempotency.service import ANSWER_LOST_AFTER_SECONDS
from backend.domain.identity import Role
from backend.domain.member import repository as member_repository
from devtools.services import ServiceUrls
from tests.conftest import wait_for_replica
from tests.factories import create_member, exited_process_identity, unique_phone

MEMBERS = "/api/v1/admin/members"


def new_member_body(**changes: Any) -> dict[str, Any]:
    return {
        "phone": unique_phone(),
        "name": "Created Member",
        "gender": "male",
        "birth_year": 1991,
        "profile": {"height_cm": 180, "job": "Designer", "region": "Seoul"},
        "lifestyle": {"smoking": "never", "drinking": "socially"},
        "preference": {"age_min": 25, "age_max": 35, "regions": ["Seoul", "Busan"]},
        **changes,
    }


async def audit_actions(db: asyncpg.Connection, member_id: uuid.UUID | str) -> list[str]:
    rows = await db.fetch("SELECT action FROM audit_log WHERE entity_id = $1 ORDER BY id", str(member_id))
    return [r["action"] for r in rows]


class TestCreateMember:
    async def test_creates_member_with_relations_in_one_transaction(
        self, admin: httpx.AsyncClient, db: asyncpg.Connection
    ) -> None:
        body = new_member_body()
        response = await admin.post(MEMBERS, json=body)
        assert response.status_code == 201, response.text
        created = response.json()
        assert response.headers["Location"] == f"{MEMBERS}/{created['id']}"
        assert response.headers["ETag"] == '"1"'
        assert created["status"] == "pending"
        assert created["profile"]["job"] == "Designer"
        assert created["lifestyle"]["smoking"] == "never"
        assert created["preference"]["regions"] == ["Seoul", "Busan"]
        member_id = uuid.UUID(created["id"])
        assert await db.fetchval("SELECT job FROM user_profiles WHERE id = $1", member_id) == "Designer"
        assert await audit_actions(db, member_id) == ["member.created"]

    async def test_a_phone_in_use_is_409_naming_the_field_and_writes_nothing(
        self, admin: httpx.AsyncClient, db: asyncpg.Connection
    ) -> None:
        phone = unique_phone()
        await create_member(db, phone=phone)
        name = f"Dup {uuid.uuid4().hex[:6]}"
        response = await admin.post(MEMBERS, json=new_member_body(phone=phone, name=name))
        assert response.status_code == 409
        assert response.json()["field"] == "phone"
        assert await db.fetchval("SELECT count(*) FROM users WHERE name = $1", name) == 0

    @pytest.mark.parametrize(
        "change",
        [
            {"phone": "010-1234"},
            {"birth_year": 1800},
            {"gender": "other"},
            {"id": str(uuid.uuid4())},
            {"version": 7},
            {"created_at": "2020-01-01T00:00:00Z"},
            {"profile": {"height_cm": 20}},
            {"preference": {"age_min": 40, "age_max": 30}},
        ],
    )
    async def test_invalid_or_forbidden_fields_are_422(self, admin: httpx.AsyncClient, change: dict[str, Any]) -> None:
        response = await admin.post(MEMBERS, json=new_member_body(**change))
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"


class TestEditMember:
    async def test_patch_changes_given_fields_and_moves_the_version(
        self, admin: httpx.AsyncClient, db: asyncpg.Connection
    ) -> None:
        member_id = await create_member(db)
        response = await admin.patch(
            f"{MEMBERS}/{member_id}", json={"name": "Renamed", "profile": {"job": "Chef"}}, headers={"If-Match": '"1"'}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["name"] == "Renamed"
        assert body["profile"]["job"] == "Chef"
        assert body["version"] == 2
        assert response.headers["ETag"] == '"2"'
        row = await db.fetchrow(
            "SELECT name, version, updated_at > created_at AS touched FROM users WHERE id = $1", member_id
        )
        assert row is not None
        assert (row["name"], row["version"], row["touched"]) == ("Renamed", 2, True)
        [audit] = await db.fetch(
            "SELECT changes FROM audit_log WHERE entity_id = $1 AND action = 'member.updated'", str(member_id)
        )
        assert json.loads(audit["changes"]) == {
            "name": {"before": "Test Member", "after": "Renamed"},
            "profile.job": {"before": "Engineer", "after": "Chef"},
        }

    async def test_stale_if_match_is_412_and_changes_nothing(
        self, admin: httpx.AsyncClient, db: asyncpg.Connection
    ) -> None:
        member_id = await create_member(db)
        await admin.patch(f"{MEMBERS}/{member_id}", json={"name": "First"}, headers={"If-Match": '"1"'})
        stale = await admin.patch(f"{MEMBERS}/{member_id}", json={"name": "Second"}, headers={"If-Match": '"1"'})
        assert stale.status_code == 412
        assert stale.json()["current_version"] == 2
        assert await db.fetchval("SELECT name FROM users WHERE id = $1", member_id) == "First"

    async def test_two_operators_at_once_exactly_one_wins(
        self, admin: httpx.AsyncClient, db: asyncpg.Connection
    ) -> None:
        member_id = await create_member(db)
        responses = await asyncio.gather(
            *(
                admin.patch(f"{MEMBERS}/{member_id}", json={"name": f"Writer {n}"}, headers={"If-Match": '"1"'})
                for n in range(6)
            )
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200, 412, 412, 412, 412, 412]
        winner = next(r for r in responses if r.status_code == 200).json()["name"]
        assert await db.fetchval("SELECT name FROM users WHERE id = $1", member_id) == winner
        assert await db.fetchval("SELECT version FROM users WHERE id = $1", member_id) == 2

    async def test_a_phone_taken_past_the_check_is_409_from_the_unique_index_and_writes_nothing(
        self, admin: httpx.AsyncClient, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A writer that took the phone without its lock (straight SQL, say) is seen by the unique index of live
        phones: the create's and the edit's one statement fail on it, and the answer is the same 409."""

        async def nobody(*args: object) -> tuple[bool, None]:
            return False, None

        monkeypatch.setattr(member_repository, "phone_in_use", nobody)
        phone = unique_phone()
        await create_member(db, phone=phone)
        name = f"Raced {uuid.uuid4().hex[:6]}"
        created = await admin.post(MEMBERS, json=new_member_body(phone=phone, name=name))
        assert created.status_code == 409, created.text
        assert created.json()["field"] == "phone"
        assert await db.fetchval("SELECT count(*) FROM users WHERE name = $1", name) == 0
        member_id = await create_member(db)
        edited = await admin.patch(f"{MEMBERS}/{member_id}", json={"phone": phone, "name": name})
        assert edited.status_code == 409, edited.text
        assert edited.json()["field"] == "phone"
        assert await db.fetchval("SELECT name FROM users WHERE id = $1", member_id) != name
        assert await db.fetchval("SELECT version FROM users WHERE id = $1", member_id) == 1

    async def test_phone_taken_by_another_live_member_is_409(
        self, admin: httpx.AsyncClient, db: asyncpg.Connection
    ) -> None:
        phone = unique_phone()
        await create_member(db, phone=phone)
        member_id = await create_member(db)
        response = await admin.patch(f"{MEMBERS}/{member_id}", json={"phone": phone})
        assert response.status_code == 409
        assert response.json()["field"] == "phone"

    async def test_a_preference_minimum_past_the_stored_maximum_is_409_and_changes_nothing(
        self, admin: httpx.AsyncClient, db: asyncpg.Connection
    ) -> None:
        # Once the table's CHECK constraint answered, as a 500.
        member_id = await create_member(db)
        await db.execute("INSERT INTO user_preferences (id, age_min, age_max) VALUES ($1, 20, 30)", member_id)
        response = await admin.patch(f"{MEMBERS}/{member_id}", json={"preference": {"age_min": 40}})
        assert response.status_code == 409, response.text
        assert response.json()["field"] == "preference.age_min"
        row = await db.fetchrow("SELECT age_min, age_max FROM user_preferences WHERE id = $1", member_id)
        assert row is not None
        assert tuple(row) == (20, 30)
        both = await admin.patch(f"{MEMBERS}/{member_id}", json={"preference": {"age_min": 40, "age_max": 50}})
        assert both.status_code == 200, both.text

    async def test_a_json_integer_written_with_a_fraction_of_zero_is_that_integer(
        self, admin: httpx.AsyncClient, db: asyncpg.Connection
    ) -> None:
        # JSON Schema counts 1991.0 as an integer; strict types still refuse "1991", true and 1991.5.
        member_id = await create_member(db)
        response = await admin.patch(f"{MEMBERS}/{member_id}", json={"birth_year": 1991.0})
        assert response.status_code == 200, response.text
        assert await db.fetchval("SELECT birth_year FROM users WHERE id = $1", member_id) == 1991
        for wrong in ("1992", True, 1992.5):
            refused = await admin.patch(f"{MEMBERS}/{member_id}", json={"birth_year": wrong})
            assert refused.status_code == 422, wrong
        assert await db.fetchval("SELECT birth_year FROM users WHERE id = $1", member_id) == 1991

    async def test_put_accepts_the_record_as_get_returned_it(
        self, admin: httpx.AsyncClient, db: asyncpg.Connection, services: ServiceUrls
    ) -> None:
        member_id = await create_member(db)
        await wait_for_replica(services)
        record = (await admin.get(f"{MEMBERS}/{member_id}")).json()
        record["name"] = "Put Name"
        record["profile"] = {**record["profile"], "bio": "edited"}
        response = await admin.put(f"{MEMBERS}/{member_id}", json=record)
        assert response.status_code == 200, response.text
        assert response.json()["name"] == "Put Name"
        assert response.json()["profile"]["bio"] == "edited"
        # The same record again carries a stale version now.
        assert (await admin.put(f"{MEMBERS}/{member_id}", json=record)).status_code == 412

    async def test_put_refuses_a_changed_read_only_field(
        self, admin: httpx.AsyncClient, db: asyncpg.Connection
    ) -> None:
        member_id = await create_member(db)
        response = await admin.put(f"{MEMBERS}/{member_id}", json={"name": "x", "status": "active"})
        assert response.status_code == 422
        assert response.json()["field"] == "status"
        assert await db.fetchval("SELECT name FROM users WHERE id = $1", member_id) == "Test Member"


class TestDeleteAndRestore:
    async def test_delete_returns_the_record_and_hides_it(
        self, admin: httpx.AsyncClient, db: asyncpg.Connection
    ) -> None:
        member_id = await create_member(db)
        response = await admin.delete(f"{MEMBERS}/{member_id}")
        assert response.status_code == 200
        assert response.json()["id"] == str(member_id)
        assert response.json()["deleted_at"] is not None
        assert (await admin.delete(f"{MEMBERS}/{member_id}")).status_code == 404
        restored = await admin.post(f"{MEMBERS}/{member_id}/restore")
        assert restored.status_code == 200
        assert restored.json()["deleted_at"] is None
        assert await audit_actions(db, member_id) == ["member.deleted", "member.restored"]

    async def test_restore_is_409_when_the_phone_was_taken(
        self, admin: httpx.AsyncClient, db: asyncpg.Connection
    ) -> None:
        phone = unique_phone()
        member_id = await create_member(db, phone=phone)
        assert (await admin.delete(f"{MEMBERS}/{member_id}")).status_code == 200
        await create_member(db, phone=phone)
        response = await admin.post(f"{MEMBERS}/{member_id}/restore")
        assert response.status_code == 409
        assert response.json()["field"] == "phone"
        assert await db.fetchval("SELECT deleted_at IS NOT NULL FROM users WHERE id = $1", member_id)


class TestReviewDecisions:
    async def test_approve_writes_status_note_audit_and_outbox_together(
        self, moderator: httpx.AsyncClient, db: asyncpg.Connection
    ) -> None:
        member_id = await create_member(db, status="pending")
        response = await moderator.post(f"{MEMBERS}/{member_id}/approve", json={"reason": "documents check out"})
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "active"
        note = await db.fetchrow("SELECT kind, content, author_id FROM member_notes WHERE user_id = $1", member_id)
        assert note is not None
        assert (note["kind"], note["content"]) == ("approved", "documents check out")
        assert note["author_id"] is not None
        assert await audit_actions(db, member_id) == ["member.approved"]
        event = await db.fetchrow("SELECT topic, payload FROM outbox WHERE payload->>'member_id' = $1", str(member_id))
        assert event is not None
        assert event["topic"] == "member.approved"
        assert json.loads(event["payload"])["reason"] == "documents check out"

    @pytest.mark.parametrize(
        ("start", "decision", "expected"),
        [
            ("pending", "reject", "rejected"),
            ("active", "suspend", "suspended"),
            ("suspended", "approve", "active"),
        ],
    )
    async def test_allowed_transitions(
        self, moderator: httpx.AsyncClient, db: asyncpg.Connection, start: str, decision: str, expected: str
    ) -> None:
        member_id = await create_member(db, status=start)
        body = {"reason": "because"} if decision == "approve" else {"reason_code": "spam", "reason": "because"}
        response = await moderator.post(f"{MEMBERS}/{member_id}/{decision}", json=body)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == expected

    @pytest.mark.parametrize(
        ("start", "decision"),
        [("active", "approve"), ("rejected", "approve"), ("active", "reject"), ("pending", "suspend")],
    )
    async def test_other_transitions_are_409_and_leave_nothing(
        self, moderator: httpx.AsyncClient, db: asyncpg.Connection, start: str, decision: str
    ) -> None:
        member_id = await create_member(db, status=start)
        body = {"reason": "x"} if decision == "approve" else {"reason_code": "spam", "reason": "x"}
        response = await moderator.post(f"{MEMBERS}/{member_id}/{decision}", json=body)
        assert response.status_code == 409
        assert await db.fetchval("SELECT status FROM users WHERE id = $1", member_id) == start
        assert await db.fetchval("SELECT count(*) FROM member_notes WHERE user_id = $1", member_id) == 0
        assert await db.fetchval("SELECT count(*) FROM outbox WHERE payload->>'member_id' = $1", str(member_id)) == 0
        assert await audit_actions(db, member_id) == []

    async def test_reject_needs_a_reason_code_and_a_reason_for_other(
        self, moderator: httpx.AsyncClient, db: asyncpg.Connection
    ) -> None:
        member_id = await create_member(db)
        for reason in ("  ", "\u3000\t", "\x1c", "\ufeff"):  # blank by Python's and ECMA-262's whitespace alike
            body = {"reason_code": "other", "reason": reason}
            response = await moderator.post(f"{MEMBERS}/{member_id}/reject", json=body)
            assert response.status_code == 422, reason
            assert response.json()["errors"][0]["loc"] == ["body", "reason"]
        response = await moderator.post(f"{MEMBERS}/{member_id}/reject", json={"reason": "no code"})
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "reason_code"]
        response = await moderator.post(f"{MEMBERS}/{member_id}/reject", json={"reason_code": "other"})
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "reason"]
        assert await db.fetchval("SELECT status FROM users WHERE id = $1", member_id) == "pending"

    async def test_concurrent_decisions_one_wins(self, moderator: httpx.AsyncClient, db: asyncpg.Connection) -> None:
        member_id = await create_member(db)
        approve, reject = await asyncio.gather(
            moderator.post(f"{MEMBERS}/{member_id}/approve", json={}),
            moderator.post(f"{MEMBERS}/{member_id}/reject", json={"reason_code": "spam"}),
        )
        assert sorted([approve.status_code, reject.status_code]) == [200, 409]
        assert await db.fetchval("SELECT count(*) FROM member_notes WHERE user_id = $1", member_id) == 1


class TestNotesAndQueue:
    async def test_notes_are_written_and_listed_newest_first(
        self, moderator: httpx.AsyncClient, db: asyncpg.Connection, services: ServiceUrls
    ) -> None:
        member_id = await create_member(db)
        for text in ("first", "second"):
            created = await moderator.post(f"{MEMBERS}/{member_id}/notes", json={"content": text})
            assert created.status_code == 201
        await wait_for_replica(services)
        listed = await moderator.get(f"{MEMBERS}/{member_id}/notes")
        assert [n["content"] for n in listed.json()] == ["second", "first"]
        assert listed.headers["X-Total-Count"] == "2"

    async def test_a_note_is_answered_as_stored_with_its_audit_row_and_a_deleted_member_takes_none(
        self, moderator: httpx.AsyncClient, db: asyncpg.Connection, operators: dict[Role, OperatorRead]
    ) -> None:
        member_id = await create_member(db)
        created = await moderator.post(f"{MEMBERS}/{member_id}/notes", json={"content": "Called back"})
        assert created.status_code == 201, created.text
        note = created.json()
        row = await db.fetchrow("SELECT * FROM member_notes WHERE id = $1", uuid.UUID(note["id"]))
        assert row is not None
        assert note == {
            "id": str(row["id"]),
            "user_id": str(member_id),
            "author_id": str(operators[Role.moderator].id),
            "kind": "note",
            "content": "Called back",
            "reason_code": None,
            "created_at": note["created_at"],
        }
        assert datetime.fromisoformat(note["created_at"]) == row["created_at"]
        [audit] = await db.fetch(
            "SELECT actor_id, changes FROM audit_log WHERE action = 'member.note_added' AND entity_id = $1",
            str(member_id),
        )
        assert audit["actor_id"] == operators[Role.moderator].id
        assert json.loads(audit["changes"]) == {"note": {"before": None, "after": note["id"]}}

        await db.execute("UPDATE users SET deleted_at = now() WHERE id = $1", member_id)
        refused = await moderator.post(f"{MEMBERS}/{member_id}/notes", json={"content": "Too late"})
        assert refused.status_code == 404
        assert await db.fetchval("SELECT count(*) FROM member_notes WHERE user_id = $1", member_id) == 1
        assert (
            await db.fetchval(
                "SELECT count(*) FROM audit_log WHERE action = 'member.note_added' AND entity_id = $1", str(member_id)
            )
            == 1
        )

    async def test_notes_pages_keep_their_total_past_the_end_and_an_unknown_member_is_404(
        self, moderator: httpx.AsyncClient, db: asyncpg.Connection, services: ServiceUrls
    ) -> None:
        member_id = await create_member(db)
        for text in ("one", "two", "three"):
            assert (await moderator.post(f"{MEMBERS}/{member_id}/notes", json={"content": text})).status_code == 201
        await db.execute("UPDATE users SET deleted_at = now() WHERE id = $1", member_id)
        await wait_for_replica(services)
        pages = [
            await moderator.get(f"{MEMBERS}/{member_id}/notes", params={"limit": "2", "offset": str(offset)})
            for offset in (0, 2, 4)
        ]
        assert [[n["content"] for n in page.json()] for page in pages] == [["three", "two"], ["one"], []]
        assert [page.headers["X-Total-Count"] for page in pages] == ["3", "3", "3"]
        missing = await moderator.get(f"{MEMBERS}/{uuid.uuid4()}/notes")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"

    async def test_review_queue_is_pending_members_oldest_first(
        self, client: httpx.AsyncClient, db: asyncpg.Connection, services: ServiceUrls
    ) -> None:
        await wait_for_replica(services)
        expected = [
            str(r["id"])
            for r in await db.fetch(
                "SELECT id FROM users WHERE status = 'pending' AND deleted_at IS NULL ORDER BY created_at, id"
            )
        ]
        seen: list[str] = []
        response = await client.get("/api/v1/admin/reviews/pending", params={"limit": "20"})
        seen += [m["id"] for m in response.json()]
        while cursor := response.headers.get("X-Next-Cursor"):
            response = await client.get("/api/v1/admin/reviews/pending", params={"limit": "20", "cursor": cursor})
            seen += [m["id"] for m in response.json()]
        assert seen == expected


class TestIdempotency:
    async def test_a_retry_returns_the_first_answer_and_writes_nothing(
        self, admin: httpx.AsyncClient, db: asyncpg.Connection
    ) -> None:
        key = str(uuid.uuid4())
        body = new_member_body()
        first = await admin.post(MEMBERS, json=body, headers={"Idempotency-Key": key})
        again = await admin.post(MEMBERS, json=body, headers={"Idempotency-Key": key})
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json()
        assert again.headers["Location"] == first.headers["Location"]
        assert again.headers["Idempotent-Replayed"] == "true"
        assert await db.fetchval("SELECT count(*) FROM users WHERE phone = $1", body["phone"]) == 1

    async def test_the_same_key_with_another_body_is_422(self, admin: httpx.AsyncClient) -> None:
        key = str(uuid.uuid4())
        assert (await admin.post(MEMBERS, json=new_member_body(), headers={"Idempotency-Key": key})).status_code == 201
        other = await admin.post(MEMBERS, json=new_member_body(), headers={"Idempotency-Key": key})
        assert other.status_code == 422

    async def test_concurrent_retries_write_once(self, moderator: httpx.AsyncClient, db: asyncpg.Connection) -> None:
        member_id = await create_member(db)
        key = str(uuid.uuid4())
        responses = await asyncio.gather(
            *(
                moderator.post(
                    f"{MEMBERS}/{member_id}/notes", json={"content": "once"}, headers={"Idempotency-Key": key}
                )
                for _ in range(5)
            )
        )
        assert {r.status_code for r in responses} <= {201, 409}
        assert any(r.status_code == 201 for r in responses)
        assert await db.fetchval("SELECT count(*) FROM member_notes WHERE user_id = $1", member_id) == 1

    async def test_a_failed_request_does_not_burn_the_key(
        self, moderator: httpx.AsyncClient, db: asyncpg.Connection
    ) -> None:
        member_id = await create_member(db, status="active")
        key = str(uuid.uuid4())
        refused = await moderator.post(f"{MEMBERS}/{member_id}/approve", json={}, headers={"Idempotency-Key": key})
        assert refused.status_code == 409
        await db.execute("UPDATE users SET status = 'pending' WHERE id = $1", member_id)
        retried = await moderator.post(f"{MEMBERS}/{member_id}/approve", json={}, headers={"Idempotency-Key": key})
        assert retried.status_code == 200

    async def test_a_retry_after_the_answer_was_lost_is_told_so_once_the_first_request_is_surely_over(
        self,
        moderator: httpx.AsyncClient,
        db: asyncpg.Connection,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """`make chaos` found it: a worker killed between the commit and storing the answer left the key committed
        without one, and every retry was told "retry shortly" (409, Retry-After) for as long as the key lived."""
        member_id, path, key = await _approved_without_its_answer_stored(moderator, db, monkeypatch)
        assert "could not store the answer" in caplog.text

        soon = await moderator.post(path, json={}, headers=key)
        assert soon.status_code == 409
        assert soon.headers["Retry-After"] == "1"  # the first request may still store it

        await db.execute(
            "UPDATE idempotency_keys SET created_at = created_at - make_interval(secs => $2) WHERE key = $1",
            key["Idempotency-Key"],
            ANSWER_LOST_AFTER_SECONDS + 1,
        )
        later = await moderator.post(path, json={}, headers=key)
        assert later.status_code == 409
        assert "Retry-After" not in later.headers
        assert later.json()["problem"] == "answer_lost"
        assert later.json()["header"] == "Idempotency-Key"
        # Carried out once, never again.
        assert await db.fetchval("SELECT status FROM users WHERE id = $1", member_id) == "active"
        assert await db.fetchval("SELECT count(*) FROM member_notes WHERE user_id = $1", member_id) == 1
        assert await db.fetchval("SELECT count(*) FROM outbox WHERE payload->>'member_id' = $1", str(member_id)) == 1


class TestExport:
    async def test_a_retry_is_told_the_answer_was_lost_at_once_when_the_claiming_process_is_gone(
        self, moderator: httpx.AsyncClient, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The key names the process that claimed it: when that process has ended (killed between its commit and
        storing the answer), a retry learns at once that the answer is lost, instead of after 30 s."""
        member_id, path, key = await _approved_without_its_answer_stored(moderator, db, monkeypatch)
        alive = await moderator.post(path, json={}, headers=key)
        assert alive.status_code == 409  # its claimer (this process) still runs and may store the answer
        assert alive.headers["Retry-After"] == "1"

        await db.execute(
            "UPDATE idempotency_keys SET claimed_by = $2 WHERE key = $1",
            key["Idempotency-Key"],
            exited_process_identity(),
        )
        gone = await moderator.post(path, json={}, headers=key)
        assert gone.status_code == 409
        assert "Retry-After" not in gone.headers
        assert gone.json()["problem"] == "answer_lost"
        assert await db.fetchval("SELECT count(*) FROM member_notes WHERE user_id = $1", member_id) == 1

    async def test_export_streams_every_matching_member_as_csv(
        self, client: httpx.AsyncClient, db: asyncpg.Connection, services: ServiceUrls
    ) -> None:
        await wait_for_replica(services)
        response = await client.get(f"{MEMBERS}/export.csv", params={"status": "active"})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.text)))
        expected = await db.fetch(
            "SELECT id FROM users WHERE status = 'active' AND deleted_at IS NULL ORDER BY created_at DESC, id DESC"
        )
        assert [r["id"] for r in rows] == [str(r["id"]) for r in expected]

    async def test_formula_cells_are_escaped(
        self, client: httpx.AsyncClient, db: asyncpg.Connection, services: ServiceUrls
    ) -> None:
        member_id = await create_member(db, name='=HYPERLINK("http://evil.example","x")')
        await wait_for_replica(services)
        response = await client.get(f"{MEMBERS}/export.csv", params={"id": str(member_id)})
        [row] = list(csv.DictReader(io.StringIO(response.text)))
        assert row["name"].startswith("'=HYPERLINK")
        assert row["phone"].startswith("'+")


async def _approved_without_its_answer_stored(
    moderator: httpx.AsyncClient, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> tuple[uuid.UUID, str, dict[str, str]]:
    """An approval with an Idempotency-Key whose process "died" between its commit and storing its answer: the
    member, the approval's path and the key's header."""
    member_id = await create_member(db, status="pending")
    key = {"Idempotency-Key": str(uuid.uuid4())}
    path = f"{MEMBERS}/{member_id}/approve"

    async def dies_before_storing(*args: object, **kwargs: object) -> None:
        raise ConnectionResetError("the process died between the commit and storing the answer")

    monkeypatch.setattr(idempotency_service, "save_response", dies_before_storing)
    first = await moderator.post(path, json={}, headers=key)
    monkeypatch.undo()
    assert first.status_code == 200  # the answer itself got out; a client that lost it retries
    return member_id, path, key
