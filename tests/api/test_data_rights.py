"""Member data rights against the real database and S3: erasure (every column scanned, the bucket listed, the
counters exact), the streamed export (byte for byte, memory flat), document URLs and the access log, and an erasure
racing an edit."""

from __future__ import annotations

import asyncio
import io
import json
import secrets
import tracemalloc
import uuid
import zipfile
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from backend.api.state import app_state
from backend.domain.identity import Role
from backend.infrastructure.settings import Settings
from backend.infrastructure.storage import Storage
from backend.runtime.housekeeping import Housekeeper
from devtools.samples import sample_pdfs
from devtools.services import ServiceUrls
from tests.api.test_export import served
from tests.conftest import wait_for_replica
from tests.domain.test_member_counts import assert_counters_exact
from tests.domain.test_queue_counts import assert_queue_counts_exact
from tests.factories import jpeg_bytes

MEMBERS = "/api/v1/admin/members"
DOCUMENTS = "/api/v1/admin/documents"
ACCESS_LOG = "/api/v1/admin/access-log"
PDF = sample_pdfs()["identity"]

pytestmark = pytest.mark.usefixtures("own_members")


@pytest.fixture
def storage(app: FastAPI) -> Storage:
    return app_state(app).storage


@dataclass
class Person:
    id: uuid.UUID
    name: str
    phone: str
    bio: str
    photos: list[tuple[uuid.UUID, str, bytes]]
    documents: list[tuple[uuid.UUID, str, bytes]]
    created: tuple[str, dict[str, object]]  # the create's Idempotency-Key and body


async def put(storage: Storage, key: str, body: bytes, content_type: str) -> None:
    await storage.client.put_object(Bucket=storage.bucket, Key=key, Body=body, ContentType=content_type)


async def add_photo(
    db: asyncpg.Connection, storage: Storage, member: uuid.UUID, order: int, body: bytes
) -> tuple[uuid.UUID, str, bytes]:
    photo_id = uuid.uuid4()
    key = f"members/{member}/photos/{photo_id}.jpg"
    await put(storage, key, body, "image/jpeg")
    await put(storage, f"members/{member}/uploads/{photo_id}.jpg", body, "image/jpeg")  # a left-over upload key
    await db.execute(
        "INSERT INTO user_photos (id, user_id, s3_key, content_type, display_order, status, size_bytes)"
        " VALUES ($1, $2, $3, 'image/jpeg', $4, 'approved', $5)",
        photo_id,
        member,
        key,
        order,
        len(body),
    )
    return photo_id, key, body


async def add_document(
    db: asyncpg.Connection, storage: Storage, member: uuid.UUID, doc_type: str = "identity"
) -> tuple[uuid.UUID, str, bytes]:
    document_id = uuid.uuid4()
    key = f"members/{member}/documents/{document_id}.pdf"
    await put(storage, key, PDF, "application/pdf")
    await db.execute(
        "INSERT INTO user_documents (id, user_id, doc_type, s3_key, content_type, status, size_bytes)"
        " VALUES ($1, $2, $3, $4, 'application/pdf', 'pending', $5)",
        document_id,
        member,
        doc_type,
        key,
        len(PDF),
    )
    return document_id, key, PDF


async def person(
    admin: httpx.AsyncClient, moderator: httpx.AsyncClient, db: asyncpg.Connection, storage: Storage, photos: int = 2
) -> Person:
    """A member made through the API (so its values reach the audit trail, the outbox and stored answers), with
    photos, documents, notes, a decision, a report and an issued identity-document URL."""
    tag = secrets.token_hex(4)
    name, phone, bio = f"Zelda Quixote{tag}", f"+8210{secrets.randbelow(10**8):08d}", f"Loves hiking {tag} and tea"
    create: dict[str, object] = {
        "phone": phone,
        "name": name,
        "gender": "female",
        "birth_year": 1991,
        "profile": {"bio": bio, "job": "Engineer", "region": "Seoul"},
        "lifestyle": {"smoking": "never"},
        "preference": {"age_min": 25, "age_max": 35, "regions": ["Busan"]},
    }
    created = await admin.post(MEMBERS, headers={"Idempotency-Key": f"create-{tag}"}, json=create)
    assert created.status_code == 201, created.text
    member = uuid.UUID(created.json()["id"])
    edited = await admin.patch(f"{MEMBERS}/{member}", json={"name": f"{name} Jr", "profile": {"bio": f"{bio}!"}})
    assert edited.status_code == 200, edited.text
    note = await moderator.post(f"{MEMBERS}/{member}/notes", json={"content": f"Called {name} at {phone}"})
    assert note.status_code == 201, note.text
    report = await moderator.post(
        "/api/v1/admin/reports",
        json={"reported_member_id": str(member), "reason_code": "other", "text": f"{name} posted {phone} in a bio"},
    )
    assert report.status_code == 201, report.text
    rejected = await moderator.post(
        f"{MEMBERS}/{member}/reject", json={"reason_code": "other", "reason": f"{name} wrote {bio}"}
    )
    assert rejected.status_code == 200, rejected.text
    kept_photos = [await add_photo(db, storage, member, i, jpeg_bytes((i * 40 % 255, 90, 160))) for i in range(photos)]
    documents = [await add_document(db, storage, member), await add_document(db, storage, member, "income")]
    issued = await moderator.post(f"{DOCUMENTS}/{documents[0][0]}/url")
    assert issued.status_code == 200, issued.text
    return Person(member, name, phone, bio, kept_photos, documents, (f"create-{tag}", create))


async def text_columns(db: asyncpg.Connection) -> list[tuple[str, str, str]]:
    rows = await db.fetch(
        """SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c
           JOIN information_schema.tables t ON (t.table_schema, t.table_name) = (c.table_schema, c.table_name)
           WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
             AND (c.data_type IN ('text', 'character varying', 'jsonb', 'json', 'bytea', 'character')
                  OR (c.data_type = 'ARRAY' AND c.udt_name IN ('_varchar', '_text')))
           ORDER BY 1, 2"""
    )
    return [(r["table_name"], r["column_name"], r["data_type"]) for r in rows]


async def where_found(db: asyncpg.Connection, values: list[str]) -> list[str]:
    """Every table.column (text, varchar, jsonb, text arrays, bytea) holding any of `values` anywhere."""
    found = []
    for table, column, data_type in await text_columns(db):
        as_text = f"convert_from({column}, 'UTF8')" if data_type == "bytea" else f"{column}::text"
        hits = await db.fetchval(
            f'SELECT count(*) FROM "{table}" WHERE {as_text} ILIKE ANY($1::text[])', [f"%{v}%" for v in values]
        )
        if hits:
            found.append(f"{table}.{column}")
    return found


async def bucket_keys(storage: Storage, member: uuid.UUID) -> list[str]:
    listing = await storage.client.list_objects_v2(Bucket=storage.bucket, Prefix=f"members/{member}/")
    return [item["Key"] for item in listing.get("Contents", [])]


async def assert_all_counters_exact(db: asyncpg.Connection) -> None:
    await assert_counters_exact(db)
    await assert_queue_counts_exact(db)
    kept = await db.fetch("SELECT entity, status, sum(n) AS n FROM moderation_counts GROUP BY 1, 2 HAVING sum(n) <> 0")
    truth = await db.fetch(
        "SELECT 'photo' AS entity, status, count(*) AS n FROM user_photos WHERE deleted_at IS NULL GROUP BY 2"
        " UNION ALL SELECT 'document', status, count(*) FROM user_documents WHERE deleted_at IS NULL GROUP BY 2"
        " UNION ALL SELECT 'report', status, count(*) FROM reports GROUP BY 2"
    )
    assert {(r["entity"], r["status"]): r["n"] for r in kept} == {(r["entity"], r["status"]): r["n"] for r in truth}


def erase_body(member: uuid.UUID, reason: str = "Request REF-1 by email") -> dict[str, str]:
    return {"reason": reason, "confirm": str(member)}


class TestErase:
    async def test_no_personal_value_is_left_anywhere_and_the_objects_go(
        self,
        admin: httpx.AsyncClient,
        moderator: httpx.AsyncClient,
        db: asyncpg.Connection,
        storage: Storage,
    ) -> None:
        subject = await person(admin, moderator, db, storage)
        values = [subject.name, subject.phone, subject.bio]
        assert len(await bucket_keys(storage, subject.id)) == 2 * 2 + 2
        assert {"users.name", "user_profiles.bio", "audit_log.changes", "member_notes.content"} <= set(
            await where_found(db, values)
        )

        erased = await admin.post(f"{MEMBERS}/{subject.id}/erase", json=erase_body(subject.id))
        assert erased.status_code == 200, erased.text
        body = erased.json()
        assert (body["photos_removed"], body["documents_removed"], body["already_erased"]) == (2, 2, False)

        assert await where_found(db, values) == []
        async with asyncio.timeout(20):
            while await bucket_keys(storage, subject.id):
                app_state(admin._transport.app).outbox_worker.nudge()  # type: ignore[attr-defined]
                await asyncio.sleep(0.2)
        await assert_all_counters_exact(db)

        user = await db.fetchrow("SELECT * FROM users WHERE id = $1", subject.id)
        assert user is not None
        assert (user["name"], user["phone"], user["erased_at"] is not None, user["deleted_at"] is not None) == (
            "Erased member",
            None,
            True,
            True,
        )
        # The audit trail keeps who did what and when.
        actions = [
            r["action"]
            for r in await db.fetch(
                "SELECT action FROM audit_log WHERE entity_type = 'member' AND entity_id = $1 ORDER BY id",
                str(subject.id),
            )
        ]
        assert actions[:2] == ["member.created", "member.updated"]
        assert actions[-1] == "member.erased"
        events = await db.fetch("SELECT payload FROM outbox WHERE topic = 'member.erased'")
        assert {"member_id": str(subject.id)} in [json.loads(e["payload"]) for e in events]

    async def test_is_idempotent_and_the_member_is_closed_to_every_write(
        self, admin: httpx.AsyncClient, moderator: httpx.AsyncClient, db: asyncpg.Connection, storage: Storage
    ) -> None:
        subject = await person(admin, moderator, db, storage, photos=1)
        first = await admin.post(f"{MEMBERS}/{subject.id}/erase", json=erase_body(subject.id))
        again = await admin.post(f"{MEMBERS}/{subject.id}/erase", json=erase_body(subject.id))
        assert (first.status_code, again.status_code) == (200, 200)
        assert again.json()["already_erased"] is True
        assert again.json()["erased_at"] == first.json()["erased_at"]
        assert (
            await db.fetchval(
                "SELECT count(*) FROM audit_log WHERE action = 'member.erased' AND entity_id = $1", str(subject.id)
            )
            == 1
        )

        refused = {
            "restore": await admin.post(f"{MEMBERS}/{subject.id}/restore"),
            "edit": await admin.patch(f"{MEMBERS}/{subject.id}", json={"name": "Back"}),
            "put": await admin.put(f"{MEMBERS}/{subject.id}", json={"name": "Back"}),
            "approve": await moderator.post(f"{MEMBERS}/{subject.id}/approve", json={}),
            "ban": await moderator.post(f"{MEMBERS}/{subject.id}/ban", json={"reason_code": "scam"}),
            "delete": await admin.delete(f"{MEMBERS}/{subject.id}"),
        }
        assert {k: r.status_code for k, r in refused.items()} == dict.fromkeys(refused, 409)
        assert "erased" in refused["edit"].json()["detail"]
        note = await moderator.post(f"{MEMBERS}/{subject.id}/notes", json={"content": "x"})
        assert note.status_code == 404  # erased members are deleted: notes go to live members only
        export = await admin.get(f"{MEMBERS}/{subject.id}/export")
        assert export.status_code == 410
        assert export.headers["content-type"] == "application/problem+json"

    async def test_a_mistyped_confirmation_changes_nothing(
        self, admin: httpx.AsyncClient, moderator: httpx.AsyncClient, db: asyncpg.Connection, storage: Storage
    ) -> None:
        subject = await person(admin, moderator, db, storage, photos=0)
        wrong = await admin.post(f"{MEMBERS}/{subject.id}/erase", json=erase_body(uuid.uuid4()))
        assert wrong.status_code == 422
        assert "confirm" in json.dumps(wrong.json())
        assert await db.fetchval("SELECT name FROM users WHERE id = $1", subject.id) == f"{subject.name} Jr"
        missing = await admin.post(f"{MEMBERS}/{uuid.UUID(int=7)}/erase", json=erase_body(uuid.UUID(int=7)))
        assert missing.status_code == 404
        moderator_try = await moderator.post(f"{MEMBERS}/{subject.id}/erase", json=erase_body(subject.id))
        assert moderator_try.status_code == 403
        # A replay of the create's Idempotency-Key after the erasure gives no personal data back, and writes nothing.
        await admin.post(f"{MEMBERS}/{subject.id}/erase", json=erase_body(subject.id))
        members = await db.fetchval("SELECT count(*) FROM users")
        key, body = subject.created
        replay = await admin.post(MEMBERS, headers={"Idempotency-Key": key}, json=body)
        assert (replay.status_code, replay.headers["content-type"]) == (410, "application/problem+json")
        assert replay.headers.get("idempotent-replayed") == "true"
        assert subject.name not in replay.text
        assert subject.phone not in replay.text
        assert await db.fetchval("SELECT count(*) FROM users") == members

    async def test_an_erase_racing_edits_never_lets_an_edit_write_after_it(
        self, admin: httpx.AsyncClient, moderator: httpx.AsyncClient, db: asyncpg.Connection, storage: Storage
    ) -> None:
        for round_ in range(6):
            subject = await person(admin, moderator, db, storage, photos=0)
            late_name = f"Late Edit {round_} {secrets.token_hex(3)}"

            async def edit(n: int, member: uuid.UUID = subject.id, late: str = late_name) -> httpx.Response:
                return await admin.patch(f"{MEMBERS}/{member}", json={"name": f"{late} {n}", "profile": {"bio": late}})

            answers = await asyncio.gather(
                *(edit(n) for n in range(3)),
                admin.post(f"{MEMBERS}/{subject.id}/erase", json=erase_body(subject.id)),
                *(edit(n) for n in range(3, 6)),
            )
            erase = answers[3]
            edits = answers[:3] + answers[4:]
            assert erase.status_code == 200, erase.text
            assert {r.status_code for r in edits} <= {200, 409}
            # Whatever won, no personal value written by an edit survives the erasure.
            assert await where_found(db, [late_name]) == []
            refused = [r for r in edits if r.status_code == 409]
            assert all("erased" in r.json()["detail"] for r in refused)
            # The accepted edits all committed before the erasure: their audit rows come first.
            trail = await db.fetch(
                "SELECT action FROM audit_log WHERE entity_type = 'member' AND entity_id = $1 ORDER BY id",
                str(subject.id),
            )
            actions = [row["action"] for row in trail]
            assert actions[-1] == "member.erased"
            assert actions.count("member.updated") == 1 + len(edits) - len(refused)  # person() made one edit


class TestRetention:
    async def test_housekeeping_erases_members_deleted_longer_ago_than_the_setting(
        self,
        app: FastAPI,
        settings: Settings,
        admin: httpx.AsyncClient,
        moderator: httpx.AsyncClient,
        db: asyncpg.Connection,
        storage: Storage,
    ) -> None:
        old = await person(admin, moderator, db, storage, photos=1)
        recent = await person(admin, moderator, db, storage, photos=0)
        live = await person(admin, moderator, db, storage, photos=0)
        for member, days in ((old, 31), (recent, 29)):
            assert (await admin.delete(f"{MEMBERS}/{member.id}")).status_code == 200
            await db.execute(
                "UPDATE users SET deleted_at = now() - make_interval(days => $2) WHERE id = $1", member.id, days
            )
        state = app_state(app)
        report = await Housekeeper(state.database, state.storage, settings).run_once()
        assert report.members_erased >= 1
        erased = {
            r["id"]: r["erased_at"]
            for r in await db.fetch(
                "SELECT id, erased_at FROM users WHERE id = ANY($1::uuid[])", [old.id, recent.id, live.id]
            )
        }
        assert erased[old.id] is not None
        assert (erased[recent.id], erased[live.id]) == (None, None)
        row = await db.fetchrow(
            "SELECT actor_type, changes FROM audit_log WHERE action = 'member.erased' AND entity_id = $1", str(old.id)
        )
        assert row is not None
        assert row["actor_type"] == "system"
        assert await where_found(db, [old.name, old.phone, old.bio]) == []


class TestExport:
    async def test_the_zip_holds_every_object_byte_for_byte_and_the_member_json(
        self, admin: httpx.AsyncClient, moderator: httpx.AsyncClient, db: asyncpg.Connection, storage: Storage
    ) -> None:
        subject = await person(admin, moderator, db, storage, photos=3)
        assert (await admin.delete(f"{MEMBERS}/{subject.id}")).status_code == 200  # works for a deleted member
        response = await admin.get(f"{MEMBERS}/{subject.id}/export")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/zip"
        assert response.headers["content-disposition"] == f'attachment; filename="member-{subject.id}.zip"'
        archive = zipfile.ZipFile(io.BytesIO(response.content))
        assert archive.testzip() is None
        names = archive.namelist()
        for file_id, key, _ in [*subject.photos, *subject.documents]:
            [name] = [n for n in names if str(file_id) in n]
            stored = await storage.client.get_object(Bucket=storage.bucket, Key=key)
            assert archive.read(name) == await stored["Body"].read()
        assert sorted(n.split("/")[0] for n in names) == ["documents", "documents", "member.json"] + ["photos"] * 3
        data = json.loads(archive.read("member.json"))
        assert data["member"]["name"] == f"{subject.name} Jr"
        assert data["profile"]["bio"] == f"{subject.bio}!"
        assert {n["kind"] for n in data["notes"]} == {"note", "rejected"}
        assert [r["text"] for r in data["reports"]] == [f"{subject.name} posted {subject.phone} in a bio"]
        assert {"member.created", "member.updated", "member.deleted"} <= {a["action"] for a in data["audit"]}
        assert all(f["in_archive"] for f in data["files"])
        assert "url" not in json.dumps(data["files"])  # never a document URL
        audit = await db.fetchrow(
            "SELECT actor_type, changes FROM audit_log WHERE action = 'member.exported' AND entity_id = $1",
            str(subject.id),
        )
        assert audit is not None

    async def test_an_unknown_member_is_a_404(self, admin: httpx.AsyncClient) -> None:
        response = await admin.get(f"{MEMBERS}/{uuid.UUID(int=9)}/export")
        assert response.status_code == 404

    async def test_peak_memory_stays_flat_from_5_to_50_photos(
        self,
        app: FastAPI,
        tokens: dict[Role, str],
        admin: httpx.AsyncClient,
        moderator: httpx.AsyncClient,
        db: asyncpg.Connection,
        storage: Storage,
    ) -> None:
        """Against a real server in this process: tracemalloc's peak while the ZIP streams, 5 photos against 50
        (each 256 kB of incompressible bytes: 12.5 MB in all, which a buffering export would hold)."""
        small = await person(admin, moderator, db, storage, photos=0)
        large = await person(admin, moderator, db, storage, photos=0)
        body = jpeg_bytes()[:-2] + secrets.token_bytes(256 * 1024) + b"\xff\xd9"
        for member, count in ((small, 5), (large, 50)):
            for i in range(count):
                await add_photo(db, storage, member.id, i, body)

        async def peak(member: uuid.UUID) -> tuple[int, int]:
            async with served(app) as url, httpx.AsyncClient(base_url=url, timeout=60) as http:
                tracemalloc.start()
                try:
                    size = 0
                    headers = {"Authorization": f"Bearer {tokens[Role.admin]}"}
                    async with http.stream("GET", f"{MEMBERS}/{member}/export", headers=headers) as response:
                        assert response.status_code == 200
                        async for chunk in response.aiter_raw():
                            size += len(chunk)
                    return tracemalloc.get_traced_memory()[1], size
                finally:
                    tracemalloc.stop()

        small_peak, small_size = await peak(small.id)
        large_peak, large_size = await peak(large.id)
        assert large_size > 12 * 1024 * 1024 > small_size
        # Flat: ten times the photos, not ten times the memory (a buffered archive would peak past 12 MB).
        assert large_peak < small_peak * 2 + 2 * 1024 * 1024, (small_peak, large_peak)
        assert large_peak < 6 * 1024 * 1024, large_peak


class TestDocumentAccess:
    async def test_identity_urls_are_issued_only_on_their_own_and_logged(
        self,
        admin: httpx.AsyncClient,
        moderator: httpx.AsyncClient,
        client: httpx.AsyncClient,
        db: asyncpg.Connection,
        storage: Storage,
        services: ServiceUrls,
    ) -> None:
        subject = await person(admin, moderator, db, storage, photos=1)
        (identity, identity_key, _), (income, _, _) = subject.documents
        await wait_for_replica(services)

        # No read hands out an identity document's URL: not the list, not the detail, not the queue.
        listed = (await client.get(MEMBERS, params={"id": str(subject.id)})).json()
        assert "documents" not in listed[0]
        assert ".pdf" not in json.dumps(listed)
        detail = (await client.get(f"{MEMBERS}/{subject.id}")).json()
        urls = {d["id"]: d["url"] for d in detail["documents"]}
        assert urls[str(identity)] is None
        assert "X-Amz-Expires=60&" in urls[str(income)]
        queue = (await client.get(DOCUMENTS, params={"member_id": str(subject.id)})).json()
        assert {d["id"]: d["url"] is None for d in queue} == {str(identity): True, str(income): False}
        async with httpx.AsyncClient() as http:
            fetched = await http.get(urls[str(income)])
        assert (fetched.status_code, fetched.content, fetched.headers["content-disposition"]) == (
            200,
            PDF,
            "attachment",
        )

        before = await db.fetchval("SELECT count(*) FROM access_log WHERE document_id = $1", identity)
        issued = await moderator.post(f"{DOCUMENTS}/{identity}/url", headers={"X-Request-ID": "req-access-1"})
        assert issued.status_code == 200, issued.text
        body = issued.json()
        assert (body["member_id"], body["doc_type"], body["expires_in"]) == (str(subject.id), "identity", 60)
        row = await db.fetchrow("SELECT * FROM access_log WHERE id = $1", body["access_id"])
        assert row is not None
        moderator_id = await db.fetchval("SELECT id FROM admin_users WHERE email LIKE 'moderator%'")
        assert (row["document_id"], row["member_id"], row["request_id"], row["actor_type"], row["actor_id"]) == (
            identity,
            subject.id,
            "req-access-1",
            "operator",
            moderator_id,
        )
        assert await db.fetchval("SELECT count(*) FROM access_log WHERE document_id = $1", identity) == before + 1
        async with httpx.AsyncClient() as http:
            fetched = await http.get(body["url"])
        stored = await (await storage.client.get_object(Bucket=storage.bucket, Key=identity_key))["Body"].read()
        assert (fetched.status_code, fetched.content, fetched.headers["content-disposition"]) == (
            200,
            stored,
            "attachment",
        )
        tampered = body["url"].replace("response-content-disposition=attachment", "response-content-disposition=inline")
        async with httpx.AsyncClient() as http:
            assert (await http.get(tampered)).status_code == 403  # the disposition is signed

        other = await moderator.post(f"{DOCUMENTS}/{income}/url")
        assert (other.status_code, other.json()["access_id"]) == (200, None)
        assert await db.fetchval("SELECT count(*) FROM access_log WHERE document_id = $1", income) == 0
        assert (await client.post(f"{DOCUMENTS}/{identity}/url")).status_code == 403
        assert (await moderator.post(f"{DOCUMENTS}/{uuid.UUID(int=3)}/url")).status_code == 404

        await wait_for_replica(services)
        log = await admin.get(ACCESS_LOG, params={"member_id": str(subject.id)})
        assert log.status_code == 200, log.text
        entries = log.json()
        assert log.headers["x-total-count"] == str(len(entries)) == "2"  # the one in person() and this one
        assert entries[0]["request_id"] == "req-access-1"  # newest first
        assert {e["document_id"] for e in entries} == {str(identity)}
        assert (await moderator.get(ACCESS_LOG)).status_code == 403
        bad = await admin.get(ACCESS_LOG, params={"member_id": "nope"})
        assert bad.status_code in (400, 422)
        assert "member_id" in bad.text

        # The access rows outlive the member's erasure (they hold ids only).
        await admin.post(f"{MEMBERS}/{subject.id}/erase", json=erase_body(subject.id))
        assert await db.fetchval("SELECT count(*) FROM access_log WHERE member_id = $1", subject.id) == 2

    async def test_a_claimed_identity_document_is_a_logged_read(
        self, moderator: httpx.AsyncClient, db: asyncpg.Connection, app: FastAPI
    ) -> None:
        before = await db.fetchval("SELECT count(*) FROM access_log")
        claimed = await moderator.post("/api/v1/admin/reviews/next", json={"queue": "documents"})
        if claimed.status_code == 204:
            pytest.skip("no pending document to claim")
        assert claimed.status_code == 200, claimed.text
        document = claimed.json()["document"]
        logged = await db.fetchval("SELECT count(*) FROM access_log")
        assert logged == before + (1 if document["doc_type"] == "identity" else 0)
        assert "response-content-disposition=attachment" in document["url"]
        await db.execute(
            "UPDATE user_documents SET claimed_by = NULL, claimed_until = NULL WHERE id = $1",
            uuid.UUID(document["id"]),
        )
