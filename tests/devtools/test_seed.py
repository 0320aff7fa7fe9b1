"""The seed makes realistic data: every status, both genders, recent sign-ups, relations of each kind."""

from __future__ import annotations

import io
import uuid
from datetime import datetime

import asyncpg
import pytest
from PIL import Image

from backend.infrastructure.progress import Progress
from backend.infrastructure.settings import Settings
from backend.infrastructure.storage import s3_client
from devtools.samples import PORTRAIT_SIZE
from devtools.seed import SEEDED_TABLES, SeedReport, seed_members
from devtools.services import ServiceUrls
from devtools.vocabulary import ENGLISH_GIVEN, KOREAN_GIVEN, KOREAN_SURNAMES
from tests.conftest import SEEDED_MEMBERS, asyncpg_dsn, one, pairs


async def test_seed_report_matches_the_rows(seeded: SeedReport, seeded_at: datetime, db: asyncpg.Connection) -> None:
    # Other tests add rows later; the seed's are those created up to its `now`.
    assert (
        seeded.members
        == SEEDED_MEMBERS
        == await db.fetchval("SELECT count(*) FROM users WHERE created_at <= $1", seeded_at)
    )
    assert seeded.photos == await db.fetchval("SELECT count(*) FROM user_photos WHERE created_at <= $1", seeded_at)
    assert seeded.documents == await db.fetchval(
        "SELECT count(*) FROM user_documents WHERE created_at <= $1", seeded_at
    )
    assert seeded.photo_objects == seeded.photos


async def test_every_live_seeded_member_has_the_terms_of_its_name(db: asyncpg.Connection) -> None:
    # The seed adds them in one statement with the insert trigger off; the deleted members have none.
    assert await db.fetchval("SELECT count(*) FROM users WHERE deleted_at IS NOT NULL") > 0
    assert await db.fetchval("SELECT count(*) FROM member_name_terms") > 0
    assert await db.fetchval("SELECT count(*) FROM member_phone_terms") > 0
    assert await _terms_disagree(db) == [0, 0]


async def test_seed_covers_every_status_gender_and_plan(db: asyncpg.Connection) -> None:
    statuses = await pairs(db, "SELECT status, count(*) FROM users GROUP BY status")
    assert set(statuses) == {"pending", "active", "rejected", "suspended"}
    assert statuses["pending"] >= SEEDED_MEMBERS * 0.1
    genders = await pairs(db, "SELECT gender, count(*) FROM users GROUP BY gender")
    assert set(genders) == {"male", "female"}
    assert {r["plan"] for r in await db.fetch("SELECT DISTINCT plan FROM user_subscriptions")} == {
        "free",
        "plus",
        "premium",
    }


async def test_seed_spreads_sign_ups_with_some_recent(db: asyncpg.Connection) -> None:
    spread = await one(
        db,
        """
        SELECT min(created_at) < now() - interval '600 days' AS old,
               count(*) FILTER (WHERE created_at >= now() - interval '1 day') AS today,
               count(*) FILTER (WHERE created_at >= now() - interval '7 days') AS week,
               bool_and(updated_at >= created_at) AS ordered
        FROM users
        """,
    )
    assert spread["old"]
    assert spread["today"] > 0
    assert spread["week"] > spread["today"]
    assert spread["ordered"]


async def test_every_member_has_one_to_six_photos_in_order(db: asyncpg.Connection, seeded_at: datetime) -> None:
    counts = await one(
        db,
        """
        SELECT min(n) AS fewest, max(n) AS most,
               bool_and(orders = (SELECT array_agg(g) FROM generate_series(0, n - 1) AS g)) AS ordered
        FROM (SELECT user_id, count(*)::int AS n, array_agg(display_order::int ORDER BY display_order) AS orders
              FROM user_photos WHERE created_at <= $1 GROUP BY user_id) AS per_member
        """,
        seeded_at,
    )
    assert counts["fewest"] >= 1
    assert counts["most"] <= 6
    assert counts["ordered"]
    assert (
        await db.fetchval(
            "SELECT count(*) FROM users u WHERE u.created_at <= $1"
            " AND NOT EXISTS (SELECT 1 FROM user_photos p WHERE p.user_id = u.id)",
            seeded_at,
        )
        == 0
    )


async def test_names_are_korean_or_english_and_match_the_gender(db: asyncpg.Connection, seeded_at: datetime) -> None:
    kinds = {"korean": 0, "english given name": 0}
    for row in await db.fetch("SELECT name, gender FROM users WHERE created_at <= $1", seeded_at):
        first, _, rest = row["name"].partition(" ")
        if first in KOREAN_SURNAMES and rest in KOREAN_GIVEN[row["gender"]]:
            kinds["korean"] += 1
        else:
            assert first in ENGLISH_GIVEN[row["gender"]], dict(row)
            kinds["english given name"] += 1
    assert kinds["korean"] > SEEDED_MEMBERS / 2
    assert kinds["english given name"] > 0


async def test_photo_and_document_objects_are_real_jpegs_and_pdfs(
    db: asyncpg.Connection, settings: Settings, seeded_at: datetime
) -> None:
    photo_key = await db.fetchval("SELECT s3_key FROM user_photos WHERE created_at <= $1 LIMIT 1", seeded_at)
    document_key = await db.fetchval("SELECT s3_key FROM user_documents WHERE created_at <= $1 LIMIT 1", seeded_at)
    async with s3_client(settings) as client:
        photo = await client.get_object(Bucket=settings.s3_bucket, Key=photo_key)
        document = await client.get_object(Bucket=settings.s3_bucket, Key=document_key)
        photo_body, document_body = await photo["Body"].read(), await document["Body"].read()
    assert photo["ContentType"] == "image/jpeg"
    with Image.open(io.BytesIO(photo_body)) as image:
        image.load()  # decodes every pixel: a broken JPEG raises
        assert (image.format, image.mode, image.size) == ("JPEG", "RGB", PORTRAIT_SIZE)
    assert document["ContentType"] == "application/pdf"
    assert document_body.startswith(b"%PDF-1.")
    assert document_body.rstrip().endswith(b"%%EOF")
    assert b"/Type /Page" in document_body


_SEEDED_TABLES = [*SEEDED_TABLES, "member_name_terms", "member_phone_terms"]
# Members whose search terms (migrations 0019, 0020) are not exactly those of their name or phone (suffixes of 3 or
# more characters) when live, or none when deleted, and terms of no member: 0 when the triggers and the seed work.
_TERMS_DISAGREE = """
    WITH kept AS (
        SELECT member_id, created_at, array_agg(term::text ORDER BY length(term) DESC) AS terms
        FROM {table} GROUP BY 1, 2)
    SELECT count(*) FROM users u FULL JOIN kept k ON k.member_id = u.id AND k.created_at = u.created_at
    WHERE u.id IS NULL
        OR coalesce(k.terms, '{{}}') <> CASE WHEN u.deleted_at IS NULL THEN {function}(u.{column}) ELSE '{{}}' END
"""
TERMS_DISAGREE = [
    _TERMS_DISAGREE.format(table=table, function=function, column=column)
    for table, function, column in (
        ("member_name_terms", "name_terms", "name"),
        ("member_phone_terms", "phone_terms", "phone"),
    )
]


async def _terms_disagree(db: asyncpg.Connection) -> list[int]:
    return [await db.fetchval(check) for check in TERMS_DISAGREE]


_SCHEMA = """
    SELECT 'index' AS kind, indexrelid::regclass::text AS name, pg_get_indexdef(indexrelid) AS definition
    FROM pg_index WHERE indrelid = ANY($1::regclass[])
    UNION ALL
    SELECT 'constraint', conname, pg_get_constraintdef(oid) || ' ' || convalidated::text
    FROM pg_constraint WHERE conrelid = ANY($1::regclass[])
    UNION ALL
    SELECT 'trigger', tgname, tgenabled::text FROM pg_trigger WHERE tgrelid = ANY($1::regclass[]) AND NOT tgisinternal
    ORDER BY 1, 2, 3
"""


async def test_a_seed_that_doubles_the_members_builds_the_same_indexes_and_keys_again(
    services: ServiceUrls, seeded: SeedReport
) -> None:
    # Rolled back at the end: the session's data stays as seeded.
    out = io.StringIO()
    conn = await asyncpg.connect(asyncpg_dsn(services.database_url))
    try:
        before = await conn.fetch(_SCHEMA, _SEEDED_TABLES)
        assert any(row["kind"] == "index" and row["name"] == "ix_users_name_trgm" for row in before)
        for key in ("pk_member_name_terms", "pk_member_phone_terms"):
            assert any(row["kind"] == "constraint" and row["name"] == key for row in before), before
        outer = conn.transaction()
        await outer.start()
        try:
            present = await conn.fetchval("SELECT count(*) FROM users")
            with Progress("Seeding", present, unit="members", stream=out) as progress:
                report = await seed_members(conn, members=present, s3_client=None, bucket="unused", progress=progress)
            assert report.members == present
            assert await conn.fetch(_SCHEMA, _SEEDED_TABLES) == before
            # The foreign keys hold again, and were checked against every row when they were added back.
            with pytest.raises(asyncpg.ForeignKeyViolationError):
                async with conn.transaction():
                    await conn.execute("INSERT INTO user_lifestyles (id) VALUES ($1)", uuid.uuid4())
            assert await conn.fetchval("SELECT count(*) FROM users") == 2 * present
            assert await _terms_disagree(conn) == [0, 0]
        finally:
            await outer.rollback()
    finally:
        await conn.close()
    lines = out.getvalue().splitlines()
    assert any(line.startswith("Building keys, indexes and foreign keys: ") for line in lines), lines
    assert lines[-1].startswith(f"Seeding: {present:,}/{present:,} members in "), lines
