"""Realistic demo and benchmark members, bulk-loaded with PostgreSQL COPY.

This is the one bulk-loading path, and it does not use the ORM on purpose: a million members come with about
3.5 million photos, 7.7 million rows in all, and row-by-row ORM inserts would take the better part of an hour.
`asyncpg.Connection.copy_records_to_table` streams binary COPY data instead. Measured on this 2-core machine
(PostgreSQL 15, default settings, every index of the schema in place): 1M members with all their relations in
~80-86 s, the server busy throughout and this process using ~16 s of CPU and <50 MB of memory. To keep it so,
every choice is a lookup in a precomputed table (devtools/vocabulary.py), ids come from a seeded
`random.Random`, and records are generated lazily, one batch of members at a time. Photo and document rows point
at real JPEG and PDF objects (devtools/samples.py).

Everything is written in one transaction: a failed seed leaves no rows behind. Photo and document objects are
uploaded to S3 before that transaction commits, so committed rows always point at objects that exist (a failed
seed may leave a few orphaned objects, which are harmless).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final

import asyncpg

from backend.infrastructure.progress import Progress
from devtools.samples import (
    DOC_TYPES,
    DOCUMENT_CONTENT_TYPE,
    PHOTO_CONTENT_TYPE,
    SAMPLE_PHOTOS,
    sample_jpegs,
    sample_pdfs,
)
from devtools.vocabulary import (
    BIOS,
    BIRTH_YEARS,
    DOCUMENT_SETS,
    DOCUMENT_STATUS,
    DRINKING,
    EDUCATION,
    EXERCISE,
    FREE_STATUS,
    GENDERS,
    HEIGHT_SAMPLES,
    JOBS,
    PAID_STATUS,
    PERIODS,
    PHOTO_STATUS,
    PLANS,
    REGIONS,
    RELIGION,
    SMOKING,
    STATUS_OLDER,
    STATUS_RECENT,
    draw_heights,
    draw_region_sets,
    name_pool,
)

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

__all__ = ["SEEDED_TABLES", "SeedReport", "seed_members"]

# ---------------------------------------------------------------------------------------------------------------
# Tuning
# ---------------------------------------------------------------------------------------------------------------

BATCH_MEMBERS: Final = 50_000
"""Members generated and copied per batch (with all their relations)."""

OBJECTS_PER_PHOTO_MAX_MEMBERS: Final = 2_000
"""Up to this many members, every photo and document row gets its own S3 object by default."""

UPLOAD_CONCURRENCY: Final = 16

_PHONE_PREFIX: Final = "+8210"
_PHONE_DIGITS: Final = 8
_PHONE_SPACE: Final = 10**_PHONE_DIGITS
_PHONE_PATTERN: Final = r"^\+8210[0-9]{8}$"

_INDEX_BUILD_MEMORY: Final = "256MB"
"""Sort memory for the index builds after a load (PostgreSQL's default, 64MB, spills the larger ones to disk)."""
_INDEX_BUILD_WORKERS: Final = 2

_SIGNUP_SPAN: Final = timedelta(days=730)
_TODAY_SHARE: Final = 0.007
_WEEK_SHARE: Final = 0.025  # the six days before today, on top of today's share
_DELETED_SHARE: Final = 0.01
_EDITED_SHARE: Final = 0.35
_LIFESTYLE_SHARE: Final = 0.85
_PREFERENCE_SHARE: Final = 0.80
_SUBSCRIPTION_SHARE: Final = 0.30
_DOCUMENT_SHARE: Final = 0.20
_ADULT_AGE: Final = 19

# The triggers that fire on inserts to keep counters and search terms; the seed turns them off, rebuilds the counters
# once and adds its members' terms in one statement per table instead.
_COUNTER_TRIGGERS: Final = (
    "ALTER TABLE users {action} TRIGGER member_counts_insert, {action} TRIGGER signup_hours_insert,"
    " {action} TRIGGER name_terms_insert, {action} TRIGGER phone_terms_insert;"
    " ALTER TABLE user_subscriptions {action} TRIGGER member_counts_plan;"
    " ALTER TABLE user_photos {action} TRIGGER moderation_counts_photos, {action} TRIGGER queue_counts_insert;"
    " ALTER TABLE user_documents {action} TRIGGER moderation_counts_documents, {action} TRIGGER queue_counts_insert"
)
# The members' search terms (migrations 0019, 0020), and how the seed adds its live members' (those whose phones are
# in the block from $1 to $2, of the seed's pattern $3).
_TERM_TABLES: Final = ("member_name_terms", "member_phone_terms")
_TERM_INSERTS: Final = (
    "INSERT INTO member_name_terms (term, created_at, member_id) SELECT term, u.created_at, u.id"
    " FROM users u, unnest(name_terms(u.name)) term"
    " WHERE u.deleted_at IS NULL AND u.phone BETWEEN $1 AND $2 AND u.phone ~ $3",
    "INSERT INTO member_phone_terms (term, created_at, member_id) SELECT term, u.created_at, u.id"
    " FROM users u, unnest(phone_terms(u.phone)) term"
    " WHERE u.deleted_at IS NULL AND u.phone BETWEEN $1 AND $2 AND u.phone ~ $3",
)
_SEED_LOCK_KEY: Final = 0x6D656D6265727364  # "membersd": serialises concurrent seeds (phone block allocation)
SEEDED_TABLES: Final = (
    "users",
    "user_profiles",
    "user_lifestyles",
    "user_preferences",
    "user_subscriptions",
    "user_photos",
    "user_documents",
)


@dataclass(frozen=True)
class SeedReport:
    """Rows written per table, S3 objects uploaded and the wall time of the whole seed (ANALYZE included)."""

    members: int
    profiles: int
    lifestyles: int
    preferences: int
    subscriptions: int
    photos: int
    documents: int
    photo_objects: int
    """Photo objects uploaded to S3 (one per photo row, or the shared pool)."""
    seconds: float
    document_objects: int = 0
    """Document objects uploaded to S3 (one per document row, or the shared pool)."""


_SHARED_PHOTO_KEYS: Final = tuple(f"seed/photos/{n}.jpg" for n in range(SAMPLE_PHOTOS))
_SHARED_DOCUMENT_KEYS: Final = {doc_type: f"seed/documents/{doc_type}.pdf" for doc_type in DOC_TYPES}


# ---------------------------------------------------------------------------------------------------------------
# Row generation
# ---------------------------------------------------------------------------------------------------------------

_USER_COLUMNS: Final = (
    "id",
    "phone",
    "name",
    "gender",
    "birth_year",
    "status",
    "created_at",
    "updated_at",
    "deleted_at",
    "version",
)
_PROFILE_COLUMNS: Final = ("id", "height_cm", "education", "job", "region", "bio")
_LIFESTYLE_COLUMNS: Final = ("id", "smoking", "drinking", "religion", "exercise")
_PREFERENCE_COLUMNS: Final = ("id", "age_min", "age_max", "height_min_cm", "height_max_cm", "regions")
_SUBSCRIPTION_COLUMNS: Final = ("id", "plan", "status", "started_at", "expires_at")
_PHOTO_COLUMNS: Final = ("id", "user_id", "s3_key", "content_type", "display_order", "status", "created_at")
_DOCUMENT_COLUMNS: Final = ("id", "user_id", "doc_type", "s3_key", "status", "created_at")

_Upload = tuple[str, bytes, str]


@dataclass
class _Batch:
    """The members of one batch; relation rows are generated from these lists."""

    ids: list[uuid.UUID] = field(default_factory=list)
    created: list[float] = field(default_factory=list)
    created_at: list[datetime] = field(default_factory=list)
    genders: list[str] = field(default_factory=list)
    birth_years: list[int] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)


class _Generator:
    """Deterministic row generator for one seed run (members numbered 0..total-1 in sign-up order)."""

    def __init__(
        self,
        *,
        rng: random.Random,
        total: int,
        now: datetime,
        phone_base: int,
        objects_per_photo: bool,
        collect_uploads: bool,
    ) -> None:
        self.rng = rng
        self.total = total
        self.now = now
        self.now_ts = now.timestamp()
        self.phone_base = phone_base
        self.objects_per_photo = objects_per_photo
        self.collect_uploads = collect_uploads
        self.uploads: list[_Upload] = []

        # Sign-ups in created_at order (as a real table fills): a long tail over two years, growing towards the
        # present, then a denser last week and today. Each segment is (first index, count, start, end, ramp).
        today_start = now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        week_start = today_start - 6 * 86_400.0
        span_start = (now - _SIGNUP_SPAN).timestamp()
        n_today = round(total * _TODAY_SHARE)
        n_week = round(total * _WEEK_SHARE)
        if total >= 3:
            n_today, n_week = max(n_today, 1), max(n_week, 1)
        n_old = max(total - n_today - n_week, 0)
        self.segments = (
            (0, n_old, span_start, week_start, True),
            (n_old, n_week, week_start, today_start, False),
            (n_old + n_week, total - n_old - n_week, today_start, self.now_ts, False),
        )

        # Phones: this run owns the block [phone_base, phone_base + total) of +8210XXXXXXXX; an affine
        # permutation inside the block keeps them unique while not following sign-up order.
        self.phone_step = _coprime_near(total, 0.618_033_988_7)
        self.phone_shift = rng.randrange(max(total, 1))

        self.heights = {"male": draw_heights(rng, 175.0, 6.0), "female": draw_heights(rng, 162.0, 5.5)}
        self.region_sets = draw_region_sets(rng)
        self.names = {gender: name_pool(rng, gender) for gender in GENDERS}

    def uuid4(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    # -- users ----------------------------------------------------------------------------------------------

    def users(self, start: int, count: int, batch: _Batch) -> Iterator[tuple[object, ...]]:
        rng = self.rng
        rand = rng.random
        getrandbits = rng.getrandbits
        make_uuid = uuid.UUID
        fromtimestamp = datetime.fromtimestamp
        utc = UTC
        sqrt = math.sqrt
        now_ts = self.now_ts
        total = self.total
        phone_base, phone_step, phone_shift = self.phone_base, self.phone_step, self.phone_shift
        names_male, names_female = self.names["male"], self.names["female"]
        n_male, n_female = len(names_male), len(names_female)
        birth_years, n_birth_years = BIRTH_YEARS, len(BIRTH_YEARS)
        status_older, status_recent = STATUS_OLDER, STATUS_RECENT
        year_seconds = 365.2425 * 86_400.0
        ids, created, created_at = batch.ids, batch.created, batch.created_at
        genders, birth_year_list, statuses = batch.genders, batch.birth_years, batch.statuses

        for first, size, seg_start, seg_end, ramp in self.segments:
            statuses_table = status_older if ramp else status_recent
            n_statuses = len(statuses_table)
            seg_length = seg_end - seg_start
            for index in range(max(start, first), min(start + count, first + size)):
                # Stratified sampling keeps created_at increasing with the index.
                u = (index - first + rand()) / size
                if ramp:  # density rising linearly to 3x: inverse CDF of (1 + 2t) / 2
                    u = (sqrt(1.0 + 8.0 * u) - 1.0) / 2.0
                ts = seg_start + u * seg_length
                created_dt = fromtimestamp(ts, utc)

                if getrandbits(1):
                    gender = "male"
                    name = names_male[int(rand() * n_male)]
                else:
                    gender = "female"
                    name = names_female[int(rand() * n_female)]
                birth_year = birth_years[int(rand() * n_birth_years)]
                adult_by = int(1970 + ts / year_seconds) - _ADULT_AGE
                if birth_year > adult_by:
                    birth_year = adult_by
                status = statuses_table[int(rand() * n_statuses)]

                r = rand()
                if r < _DELETED_SHARE:
                    deleted_dt: datetime | None = fromtimestamp(ts + rand() * (now_ts - ts), utc)
                    updated_dt = deleted_dt
                    version = 2 + int(rand() * 4)
                elif r < _DELETED_SHARE + _EDITED_SHARE:
                    deleted_dt = None
                    updated_dt = fromtimestamp(ts + rand() * (now_ts - ts), utc)
                    version = 2 + int(rand() * 6)
                else:
                    deleted_dt = None
                    updated_dt = created_dt
                    version = 1

                phone = f"{_PHONE_PREFIX}{phone_base + (index * phone_step + phone_shift) % total:08d}"
                user_id = make_uuid(int=getrandbits(128), version=4)
                ids.append(user_id)
                created.append(ts)
                created_at.append(created_dt)
                genders.append(gender)
                birth_year_list.append(birth_year)
                statuses.append(status)
                yield (user_id, phone, name, gender, birth_year, status, created_dt, updated_dt, deleted_dt, version)

    # -- one-per-member relations -----------------------------------------------------------------------------

    def profiles(self, batch: _Batch) -> Iterator[tuple[object, ...]]:
        rand = self.rng.random
        heights = self.heights
        n_heights = HEIGHT_SAMPLES
        education, jobs, regions, bios = EDUCATION, JOBS, REGIONS, BIOS
        n_education, n_jobs, n_regions, n_bios = len(education), len(jobs), len(regions), len(bios)
        for user_id, gender in zip(batch.ids, batch.genders, strict=True):
            yield (
                user_id,
                heights[gender][int(rand() * n_heights)],
                education[int(rand() * n_education)],
                jobs[int(rand() * n_jobs)],
                regions[int(rand() * n_regions)],
                bios[int(rand() * n_bios)],
            )

    def lifestyles(self, batch: _Batch) -> Iterator[tuple[object, ...]]:
        rand = self.rng.random
        smoking, drinking, religion, exercise = SMOKING, DRINKING, RELIGION, EXERCISE
        n_smoking, n_drinking, n_religion, n_exercise = len(smoking), len(drinking), len(religion), len(exercise)
        for user_id in batch.ids:
            if rand() < _LIFESTYLE_SHARE:
                yield (
                    user_id,
                    smoking[int(rand() * n_smoking)],
                    drinking[int(rand() * n_drinking)],
                    religion[int(rand() * n_religion)],
                    exercise[int(rand() * n_exercise)],
                )

    def preferences(self, batch: _Batch) -> Iterator[tuple[object, ...]]:
        rand = self.rng.random
        region_sets = self.region_sets
        n_region_sets = len(region_sets)
        year = self.now.year
        for user_id, gender, birth_year in zip(batch.ids, batch.genders, batch.birth_years, strict=True):
            if rand() >= _PREFERENCE_SHARE:
                continue
            age = year - birth_year
            if gender == "male":
                age_min = max(_ADULT_AGE, age - 3 - int(rand() * 6))
                age_max = age + int(rand() * 4)
                height_min = 150 + int(rand() * 11)
                height_max = 165 + int(rand() * 11)
            else:
                age_min = max(_ADULT_AGE, age - int(rand() * 4))
                age_max = max(age_min, age + 3 + int(rand() * 6))
                height_min = 168 + int(rand() * 11)
                height_max = 184 + int(rand() * 12)
            yield (user_id, age_min, age_max, height_min, height_max, region_sets[int(rand() * n_region_sets)])

    def subscriptions(self, batch: _Batch) -> Iterator[tuple[object, ...]]:
        rand = self.rng.random
        fromtimestamp = datetime.fromtimestamp
        utc = UTC
        now_ts = self.now_ts
        plans, paid_status, free_status, periods = PLANS, PAID_STATUS, FREE_STATUS, PERIODS
        n_plans, n_paid, n_free, n_periods = len(plans), len(paid_status), len(free_status), len(periods)
        for user_id, ts in zip(batch.ids, batch.created, strict=True):
            if rand() >= _SUBSCRIPTION_SHARE:
                continue
            plan = plans[int(rand() * n_plans)]
            if plan == "free":
                status = free_status[int(rand() * n_free)]
                yield (user_id, plan, status, fromtimestamp(ts + rand() * (now_ts - ts), utc), None)
                continue
            status = paid_status[int(rand() * n_paid)]
            period = periods[int(rand() * n_periods)]
            if status == "expired":
                # Ended some time between sign-up and now; started one period earlier (or at sign-up).
                expires = ts + rand() * (now_ts - ts)
                started = max(ts, expires - period)
            else:
                # Active, or cancelled but running until the end of the current period.
                started = max(ts, now_ts - period) + rand() * (now_ts - max(ts, now_ts - period))
                expires = started + period
            yield (user_id, plan, status, fromtimestamp(started, utc), fromtimestamp(expires, utc))

    # -- photos and documents -----------------------------------------------------------------------------------

    def photos(self, batch: _Batch) -> Iterator[tuple[object, ...]]:
        rand = self.rng.random
        getrandbits = self.rng.getrandbits
        make_uuid = uuid.UUID
        fromtimestamp = datetime.fromtimestamp
        utc = UTC
        now_ts = self.now_ts
        per_object = self.objects_per_photo
        collect = self.collect_uploads
        uploads = self.uploads
        shared_keys, jpegs = _SHARED_PHOTO_KEYS, sample_jpegs() if collect else ()
        n_keys = len(shared_keys)
        photo_status = PHOTO_STATUS
        content_type = PHOTO_CONTENT_TYPE
        for user_id, ts, created_dt, member_status in zip(
            batch.ids, batch.created, batch.created_at, batch.statuses, strict=True
        ):
            statuses = photo_status[member_status]
            n_statuses = len(statuses)
            count = 1 + int(rand() * 6)
            # The first photo comes with the sign-up; later ones over the member's first weeks.
            later = min(now_ts - ts, 45 * 86_400.0)
            for order in range(count):
                photo_id = make_uuid(int=getrandbits(128), version=4)
                colour = int(rand() * n_keys)
                if per_object:
                    key = f"members/{user_id}/photos/{photo_id}.jpg"
                    if collect:
                        uploads.append((key, jpegs[colour], content_type))
                else:
                    key = shared_keys[colour]
                photo_dt = created_dt if order == 0 else fromtimestamp(ts + rand() * later, utc)
                yield (photo_id, user_id, key, content_type, order, statuses[int(rand() * n_statuses)], photo_dt)

    def documents(self, batch: _Batch) -> Iterator[tuple[object, ...]]:
        rand = self.rng.random
        getrandbits = self.rng.getrandbits
        make_uuid = uuid.UUID
        fromtimestamp = datetime.fromtimestamp
        utc = UTC
        now_ts = self.now_ts
        per_object = self.objects_per_photo
        collect = self.collect_uploads
        uploads = self.uploads
        sets, statuses = DOCUMENT_SETS, DOCUMENT_STATUS
        pdfs = sample_pdfs() if collect and per_object else {}
        n_sets, n_statuses = len(sets), len(statuses)
        for user_id, ts in zip(batch.ids, batch.created, strict=True):
            if rand() >= _DOCUMENT_SHARE:
                continue
            for doc_type in sets[int(rand() * n_sets)]:
                doc_id = make_uuid(int=getrandbits(128), version=4)
                if per_object:
                    key = f"members/{user_id}/documents/{doc_id}.pdf"
                    if collect:
                        uploads.append((key, pdfs[doc_type], DOCUMENT_CONTENT_TYPE))
                else:
                    key = _SHARED_DOCUMENT_KEYS[doc_type]
                yield (
                    doc_id,
                    user_id,
                    doc_type,
                    key,
                    statuses[int(rand() * n_statuses)],
                    fromtimestamp(ts + rand() * (now_ts - ts), utc),
                )


def _coprime_near(n: int, fraction: float) -> int:
    """A step coprime with `n` near `n * fraction`, so `i * step mod n` permutes 0..n-1."""
    if n <= 2:
        return 1
    step = max(1, int(n * fraction))
    while math.gcd(step, n) != 1:
        step += 1
    return step


# ---------------------------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------------------------


async def _copy(
    conn: asyncpg.Connection, table: str, columns: Sequence[str], records: Iterator[tuple[object, ...]]
) -> int:
    status = await conn.copy_records_to_table(table, records=records, columns=columns)
    return int(status.rsplit(" ", 1)[-1])


async def _upload(s3_client: S3Client, bucket: str, objects: Sequence[_Upload]) -> int:
    """Put `objects` (key, body, content type) with at most UPLOAD_CONCURRENCY requests in flight."""
    pending = iter(objects)

    async def worker() -> None:
        for key, body, content_type in pending:
            await s3_client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(UPLOAD_CONCURRENCY, len(objects))):
                group.create_task(worker())
    except ExceptionGroup as errors:
        # The other workers are cancelled by now; surface the first failure itself (e.g. botocore's ClientError).
        raise errors.exceptions[0] from errors
    return len(objects)


@dataclass(frozen=True)
class _Deferred:
    """The seeded tables' indexes, keys and the foreign keys on or to them, dropped for a load and made again."""

    keys: tuple[tuple[str, str, str], ...]
    """(table, constraint name, definition) of each primary key and unique or exclusion constraint."""
    indexes: tuple[str, ...]
    """CREATE INDEX statement of every other index."""
    foreign_keys: tuple[tuple[str, str, str], ...]
    """(table, constraint name, definition) of every foreign key from or to a seeded table."""


async def _defer_indexes(conn: asyncpg.Connection) -> _Deferred:
    """Drop the seeded tables' indexes, keys and the foreign keys touching them, keeping how to make them again.

    Maintaining thirteen indexes on users (two of them trigram GIN), seven on photos and a random-UUID primary
    key on each table row by row, and checking a foreign key per relation row, is most of a seed's time; one
    sorted build per index and one join per foreign key after the load cost a fraction of it. It is all DDL in
    the seed's transaction: a failed seed puts everything back.
    """
    tables = [*SEEDED_TABLES, *_TERM_TABLES]
    keys = await conn.fetch(
        """
        SELECT conrelid::regclass::text AS "table", conname AS name, pg_get_constraintdef(oid) AS definition
        FROM pg_constraint WHERE contype IN ('p', 'u', 'x') AND conrelid = ANY($1::regclass[]) ORDER BY 1, 2
        """,
        tables,
    )
    indexes = await conn.fetch(
        """
        SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS definition
        FROM pg_index i
        WHERE i.indrelid = ANY($1::regclass[])
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        ORDER BY 1
        """,
        tables,
    )
    foreign_keys = await conn.fetch(
        """
        SELECT conrelid::regclass::text AS "table", conname AS name, pg_get_constraintdef(oid) AS definition
        FROM pg_constraint
        WHERE contype = 'f' AND (conrelid = ANY($1::regclass[]) OR confrelid = ANY($1::regclass[]))
        ORDER BY 1, 2
        """,
        tables,
    )
    for row in foreign_keys:
        await conn.execute(f'ALTER TABLE {row["table"]} DROP CONSTRAINT "{row["name"]}"')
    for row in indexes:
        await conn.execute(f"DROP INDEX {row['name']}")
    for row in keys:
        await conn.execute(f'ALTER TABLE {row["table"]} DROP CONSTRAINT "{row["name"]}"')
    return _Deferred(
        keys=tuple((row["table"], row["name"], row["definition"]) for row in keys),
        indexes=tuple(row["definition"] for row in indexes),
        foreign_keys=tuple((row["table"], row["name"], row["definition"]) for row in foreign_keys),
    )


async def _restore_indexes(conn: asyncpg.Connection, deferred: _Deferred, progress: Progress | None) -> None:
    """Build the dropped keys and indexes (with more sort memory), then add the foreign keys back, checking them."""
    await conn.execute(
        f"SET LOCAL maintenance_work_mem = '{_INDEX_BUILD_MEMORY}';"
        f" SET LOCAL max_parallel_maintenance_workers = {_INDEX_BUILD_WORKERS}"
    )
    statements = [
        *(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}' for table, name, definition in deferred.keys),
        *deferred.indexes,
        *(
            f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'
            for table, name, definition in deferred.foreign_keys
        ),
    ]
    stage = progress.stage("Building keys, indexes and foreign keys", len(statements)) if progress else None
    for statement in statements:
        await conn.execute(statement)
        if stage is not None:
            stage.advance()
    if stage is not None:
        stage.close()


async def _add_terms(conn: asyncpg.Connection, phone_base: int, members: int) -> None:
    """The name and phone terms (migrations 0019, 0020) of this seed's live members: those with its block of
    phones."""
    if members == 0:
        return
    first, last = (f"{_PHONE_PREFIX}{n:0{_PHONE_DIGITS}d}" for n in (phone_base, phone_base + members - 1))
    for statement in _TERM_INSERTS:
        await conn.execute(statement, first, last, _PHONE_PATTERN)


async def _next_phone_base(conn: asyncpg.Connection) -> int:
    """The first +8210 suffix after every seeded phone already in the table (live or soft-deleted)."""
    highest: str | None = await conn.fetchval(
        "SELECT max(phone) FROM users WHERE phone ~ $1",
        _PHONE_PATTERN,
    )
    return 0 if highest is None else int(highest[len(_PHONE_PREFIX) :]) + 1


async def seed_members(
    conn: asyncpg.Connection,
    *,
    members: int,
    s3_client: S3Client | None,
    bucket: str,
    rng_seed: int = 42,
    now: datetime | None = None,
    objects_per_photo: bool | None = None,
    progress: Progress | None = None,
) -> SeedReport:
    """Insert `members` members with profiles, lifestyles, preferences, subscriptions, photos and documents.

    `conn` is a raw asyncpg connection to the primary. All rows go in one transaction (a savepoint if the
    caller already holds one). Seeding again into the same database is safe: phones continue after the highest
    seeded one and the random stream is keyed on that position too, so ids never repeat. The same seed into an
    empty database gives the same rows (for the same `now`).

    `objects_per_photo` (default: `members <= 2000`) uploads one S3 object per photo and document row at its own
    key; otherwise rows point at a small shared pool under `seed/`, uploaded once. With `s3_client=None`
    nothing is uploaded (rows only).

    When the seed at least doubles the members, the seeded tables' secondary indexes and foreign keys are dropped
    for the load and built again after it (see _defer_indexes): the tables are locked against every other
    session until the seed commits. `progress` is advanced by each batch of members and told of the phases.
    """
    if members < 0:
        raise ValueError("members must be >= 0")
    started = time.perf_counter()
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC)
    if objects_per_photo is None:
        objects_per_photo = members <= OBJECTS_PER_PHOTO_MAX_MEMBERS

    counts = dict.fromkeys(SEEDED_TABLES, 0)
    photo_objects = 0
    document_objects = 0
    async with conn.transaction():
        # A big batch may outlast the app's statement timeout, and S3 uploads leave the transaction idle.
        await conn.execute("SET LOCAL statement_timeout = 0; SET LOCAL idle_in_transaction_session_timeout = 0")
        # Serialise concurrent seeds: each takes the next block of phone numbers.
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _SEED_LOCK_KEY)
        # The member counters are rebuilt once at the end instead of row by row (a trigger call per row would
        # add most of a minute at 1M members); ALTER TABLE is transactional, so a failed seed restores them.
        await conn.execute(_COUNTER_TRIGGERS.format(action="DISABLE"))
        phone_base = await _next_phone_base(conn)
        if phone_base + members > _PHONE_SPACE:
            raise ValueError(f"no room for {members} more seeded phones (+8210 block starts at {phone_base})")
        present = await conn.fetchval("SELECT count(*) FROM users")
        deferred = await _defer_indexes(conn) if members > 0 and members >= present else None

        rng = random.Random(rng_seed + phone_base * 2**32)
        generator = _Generator(
            rng=rng,
            total=members,
            now=now,
            phone_base=phone_base,
            objects_per_photo=objects_per_photo,
            collect_uploads=s3_client is not None,
        )
        if s3_client is not None and not objects_per_photo:
            photo_objects = await _upload(
                s3_client,
                bucket,
                [(key, body, PHOTO_CONTENT_TYPE) for key, body in zip(_SHARED_PHOTO_KEYS, sample_jpegs(), strict=True)],
            )
            document_objects = await _upload(
                s3_client,
                bucket,
                [(_SHARED_DOCUMENT_KEYS[t], sample_pdfs()[t], DOCUMENT_CONTENT_TYPE) for t in DOC_TYPES],
            )

        steps: tuple[tuple[str, Sequence[str], Callable[[_Batch], Iterator[tuple[object, ...]]]], ...] = (
            ("user_profiles", _PROFILE_COLUMNS, generator.profiles),
            ("user_lifestyles", _LIFESTYLE_COLUMNS, generator.lifestyles),
            ("user_preferences", _PREFERENCE_COLUMNS, generator.preferences),
            ("user_subscriptions", _SUBSCRIPTION_COLUMNS, generator.subscriptions),
            ("user_photos", _PHOTO_COLUMNS, generator.photos),
            ("user_documents", _DOCUMENT_COLUMNS, generator.documents),
        )
        for start in range(0, members, BATCH_MEMBERS):
            batch = _Batch()
            size = min(BATCH_MEMBERS, members - start)
            counts["users"] += await _copy(conn, "users", _USER_COLUMNS, generator.users(start, size, batch))
            for table, columns, rows in steps:
                counts[table] += await _copy(conn, table, columns, rows(batch))
            if generator.uploads:
                uploads, generator.uploads = generator.uploads, []
                if s3_client is not None:
                    await _upload(s3_client, bucket, uploads)
                    photos_uploaded = sum(
                        1 for _key, _body, content_type in uploads if content_type == PHOTO_CONTENT_TYPE
                    )
                    photo_objects += photos_uploaded
                    document_objects += len(uploads) - photos_uploaded
            if progress is not None:
                progress.advance(size)
        if progress is not None:
            progress.note("search terms")
        await _add_terms(conn, phone_base, members)
        if deferred is not None:
            await _restore_indexes(conn, deferred, progress)
        # Planner statistics before the counters' rebuild joins the tables (its plans were made for the empty
        # tables' statistics otherwise), and for the app rather than whenever autovacuum gets there. ANALYZE
        # counts this transaction's own rows, and its statistics commit with them.
        if progress is not None:
            progress.note("ANALYZE")
        await conn.execute(f"ANALYZE {', '.join([*SEEDED_TABLES, *_TERM_TABLES])}")
        if progress is not None:
            progress.note("rebuilding the counters")
        await conn.execute(
            f"SET LOCAL work_mem = '{_INDEX_BUILD_MEMORY}'; SELECT member_counts_rebuild();"
            " SELECT dashboard_counts_rebuild(); SELECT queue_counts_rebuild();"
        )
        await conn.execute(_COUNTER_TRIGGERS.format(action="ENABLE"))

    return SeedReport(
        members=counts["users"],
        profiles=counts["user_profiles"],
        lifestyles=counts["user_lifestyles"],
        preferences=counts["user_preferences"],
        subscriptions=counts["user_subscriptions"],
        photos=counts["user_photos"],
        documents=counts["user_documents"],
        photo_objects=photo_objects,
        seconds=time.perf_counter() - started,
        document_objects=document_objects,
    )
