"""Realistic demo and benchmark members, bulk-loaded with PostgreSQL COPY.

This is the one bulk-loading path, and it does not use the ORM on purpose: a million members come with about
3.5 million photos, 7.7 million rows in all, and row-by-row ORM inserts would take the better part of an hour.
`asyncpg.Connection.copy_records_to_table` streams binary COPY data instead. Measured on this 2-core machine
(PostgreSQL 15, default settings, every index of the schema in place): 1M members with all their relations in
~80-86 s, the server busy throughout and this process using ~16 s of CPU and <50 MB of memory. To keep it so,
every choice is a lookup in a precomputed table, ids come from a seeded `random.Random`, and records are
generated lazily, one batch of members at a time.

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
from typing import TYPE_CHECKING, Final, TypeVar

import asyncpg

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

__all__ = ["SeedReport", "seed_members"]

_T = TypeVar("_T")

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

_SIGNUP_SPAN: Final = timedelta(days=730)
_TODAY_SHARE: Final = 0.007
_WEEK_SHARE: Final = 0.025  # the six days before today, on top of today's share
_DELETED_SHARE: Final = 0.01
_EDITED_SHARE: Final = 0.35
_LIFESTYLE_SHARE: Final = 0.85
_PREFERENCE_SHARE: Final = 0.80
_SUBSCRIPTION_SHARE: Final = 0.30
_DOCUMENT_SHARE: Final = 0.20
_MIN_BIRTH_YEAR: Final = 1960
_MAX_BIRTH_YEAR: Final = 2006
_ADULT_AGE: Final = 19

# The counter triggers that fire on inserts; the seed turns them off and rebuilds the counters once instead.
_COUNTER_TRIGGERS: Final = (
    "ALTER TABLE users {action} TRIGGER member_counts_insert, {action} TRIGGER signup_hours_insert;"
    " ALTER TABLE user_subscriptions {action} TRIGGER member_counts_plan;"
    " ALTER TABLE user_photos {action} TRIGGER moderation_counts_photos;"
    " ALTER TABLE user_documents {action} TRIGGER moderation_counts_documents"
)
_SEED_LOCK_KEY: Final = 0x6D656D6265727364  # "membersd": serialises concurrent seeds (phone block allocation)
_TABLES: Final = (
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


# ---------------------------------------------------------------------------------------------------------------
# Sample objects: tiny valid JPEGs and PDFs, built once at import time
# ---------------------------------------------------------------------------------------------------------------

_PHOTO_CONTENT_TYPE: Final = "image/jpeg"
_DOCUMENT_CONTENT_TYPE: Final = "application/pdf"

_COLOURS: Final[tuple[tuple[int, int, int], ...]] = (
    (231, 76, 60),
    (230, 126, 34),
    (241, 196, 15),
    (46, 204, 113),
    (26, 188, 156),
    (52, 152, 219),
    (155, 89, 182),
    (52, 73, 94),
    (192, 57, 43),
    (211, 84, 0),
    (39, 174, 96),
    (22, 160, 133),
    (41, 128, 185),
    (142, 68, 173),
    (236, 112, 160),
    (127, 140, 141),
)

# Standard JPEG luminance DC table (ITU T.81 K.3): categories 0-11.
_DC_BITS: Final = (0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0)
_DC_VALUES: Final = tuple(range(12))
# Every block of these images is flat (DC only), so the AC table needs one symbol: end-of-block, code "0".
_AC_BITS: Final = (1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
_AC_VALUES: Final = (0x00,)


def _huffman_codes(bits: Sequence[int], values: Sequence[int]) -> dict[int, tuple[int, int]]:
    """Canonical Huffman codes (symbol -> (code, length)) from a JPEG DHT description."""
    codes: dict[int, tuple[int, int]] = {}
    code = 0
    index = 0
    for length, count in enumerate(bits, start=1):
        for _ in range(count):
            codes[values[index]] = (code, length)
            code += 1
            index += 1
        code <<= 1
    return codes


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + (len(payload) + 2).to_bytes(2, "big") + payload


def _jpeg(rgb: tuple[int, int, int], size: int = 64) -> bytes:
    """A baseline JPEG, `size` x `size`, shading from `rgb` (top) towards white (bottom), one flat block per 8x8.

    Quantisation is 1 everywhere, so the colours are exact; only DC coefficients are coded.
    """
    dc_codes = _huffman_codes(_DC_BITS, _DC_VALUES)
    eob_code, eob_length = _huffman_codes(_AC_BITS, _AC_VALUES)[0x00]
    blocks = size // 8

    out = bytearray()
    accumulator = 0
    filled = 0

    def put(code: int, length: int) -> None:
        nonlocal accumulator, filled
        for shift in range(length - 1, -1, -1):
            accumulator = (accumulator << 1) | ((code >> shift) & 1)
            filled += 1
            if filled == 8:
                out.append(accumulator)
                if accumulator == 0xFF:
                    out.append(0x00)  # byte stuffing
                accumulator = 0
                filled = 0

    previous = [0, 0, 0]
    for row in range(blocks):
        mix = 0.6 * row / max(blocks - 1, 1)
        r, g, b = (channel + (255 - channel) * mix for channel in rgb)
        ycbcr = (
            0.299 * r + 0.587 * g + 0.114 * b,
            -0.168736 * r - 0.331264 * g + 0.5 * b + 128,
            0.5 * r - 0.418688 * g - 0.081312 * b + 128,
        )
        # A flat 8x8 block of value v has DC coefficient 8 * (v - 128) with quantisation 1.
        dcs = [round(8 * (min(max(value, 0.0), 255.0) - 128)) for value in ycbcr]
        for _ in range(blocks):
            for component in range(3):
                diff = dcs[component] - previous[component]
                previous[component] = dcs[component]
                category = abs(diff).bit_length()
                put(*dc_codes[category])
                if category:
                    put(diff if diff > 0 else diff + (1 << category) - 1, category)
                put(eob_code, eob_length)
    if filled:
        put((1 << (8 - filled)) - 1, 8 - filled)  # pad the last byte with 1-bits

    def dht(table_class: int, bits: Sequence[int], values: Sequence[int]) -> bytes:
        return bytes((table_class << 4,)) + bytes(bits) + bytes(values)

    side = size.to_bytes(2, "big")
    return b"".join(
        (
            b"\xff\xd8",
            _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
            _segment(0xDB, b"\x00" + b"\x01" * 64),
            _segment(0xC0, b"\x08" + side + side + b"\x03" + b"\x01\x11\x00\x02\x11\x00\x03\x11\x00"),
            _segment(0xC4, dht(0, _DC_BITS, _DC_VALUES) + dht(1, _AC_BITS, _AC_VALUES)),
            _segment(0xDA, b"\x03\x01\x00\x02\x00\x03\x00\x00\x3f\x00"),
            bytes(out),
            b"\xff\xd9",
        )
    )


def _pdf(title: str) -> bytes:
    """A one-page PDF saying `title`, with a correct cross-reference table."""
    stream = f"BT /F1 20 Tf 72 760 Td ({title}) Tj ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


SAMPLE_JPEGS: Final[tuple[bytes, ...]] = tuple(_jpeg(colour) for colour in _COLOURS)
"""One small valid JPEG per colour; seeded photo objects use these bytes."""

_DOC_TYPES: Final = ("identity", "employment", "education", "income")
SAMPLE_PDFS: Final[dict[str, bytes]] = {doc_type: _pdf(f"Sample {doc_type} document") for doc_type in _DOC_TYPES}
"""One small valid PDF per document type; seeded document objects use these bytes."""

_SHARED_PHOTO_KEYS: Final = tuple(f"seed/photos/{n}.jpg" for n in range(len(SAMPLE_JPEGS)))
_SHARED_DOCUMENT_KEYS: Final = {doc_type: f"seed/documents/{doc_type}.pdf" for doc_type in _DOC_TYPES}


# ---------------------------------------------------------------------------------------------------------------
# Vocabularies. A weighted choice is a lookup in a table where each value is repeated by its weight:
# `table[int(random() * len(table))]` is several times cheaper per row than `random.choices`.
# ---------------------------------------------------------------------------------------------------------------


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _table(weights: Sequence[tuple[_T, int]]) -> tuple[_T, ...]:
    return tuple(value for value, weight in weights for _ in range(weight))


_KOREAN_SURNAMES: Final = _words(
    "Kim Kim Kim Lee Lee Lee Park Park Choi Jung Kang Cho Yoon Jang Lim Han Oh Seo Shin Kwon Hwang Ahn "
    "Song Jeon Hong Yoo Ko Moon Yang Son Bae Baek Heo Nam Noh"
)
_KOREAN_GIVEN: Final = {
    "male": _words(
        "Minjun Seojun Doyun Yejun Siwoo Hajun Jiho Juwon Jihoon Hyunwoo Junseo Woojin Dohyun Seungmin "
        "Taeyang Sungmin Jaehyun Donghyun Minho Jinwoo Youngho Sanghoon Kyungsoo Jongin Taehyun Joonho Wonjae "
        "Hyunsoo"
    ),
    "female": _words(
        "Seoyeon Seoyun Jiwoo Seohyun Minseo Haeun Hayoon Jiyu Yuna Chaewon Jimin Subin Yerin Soyeon Minji "
        "Eunji Hyejin Jiyeon Sujin Yujin Dahye Nayeon Jieun Seulgi Hyeri Soojin Eunbi Areum"
    ),
}
_ENGLISH_GIVEN: Final = {
    "male": _words(
        "James John Michael David Daniel Matthew Andrew Ryan Kevin Brian Jason Eric Justin Thomas Chris "
        "Samuel Benjamin Lucas Nathan Ethan Paul Peter"
    ),
    "female": _words(
        "Emily Sarah Jessica Emma Olivia Sophia Grace Hannah Chloe Rachel Amy Julia Lauren Megan Natalie "
        "Victoria Claire Alice Rebecca Lily Sophie Jenny"
    ),
}
_ENGLISH_SURNAMES: Final = _words(
    "Smith Johnson Williams Brown Jones Miller Davis Wilson Anderson Taylor Thomas Moore Martin Jackson "
    "White Harris Clark Lewis Walker Young Hall Allen Wright Scott Baker"
)


def _names(gender: str) -> tuple[str, ...]:
    korean = [f"{surname} {given}" for surname in _KOREAN_SURNAMES for given in _KOREAN_GIVEN[gender]]
    english = [f"{given} {surname}" for given in _ENGLISH_GIVEN[gender] for surname in _ENGLISH_SURNAMES]
    # English given name with a Korean surname ("Grace Kim"), common among Korean diaspora members.
    mixed = [f"{given} {surname}" for given in _ENGLISH_GIVEN[gender] for surname in _KOREAN_SURNAMES[:12]]
    # About 80% Korean romanised, 15% English, 4% mixed.
    return tuple(korean * 6 + english * 2 + mixed)


_NAMES: Final = {gender: _names(gender) for gender in ("male", "female")}

_REGIONS: Final = _table(
    [
        ("Seoul Gangnam-gu", 9),
        ("Seoul Seocho-gu", 6),
        ("Seoul Songpa-gu", 6),
        ("Seoul Mapo-gu", 6),
        ("Seoul Yongsan-gu", 4),
        ("Seoul Jongno-gu", 3),
        ("Seoul Seongdong-gu", 4),
        ("Seoul Gwanak-gu", 4),
        ("Gyeonggi Seongnam", 5),
        ("Gyeonggi Suwon", 5),
        ("Gyeonggi Goyang", 4),
        ("Gyeonggi Yongin", 4),
        ("Incheon", 6),
        ("Busan", 8),
        ("Daegu", 5),
        ("Daejeon", 4),
        ("Gwangju", 3),
        ("Ulsan", 2),
        ("Sejong", 1),
        ("Jeju", 2),
        ("Gangwon Chuncheon", 1),
        ("Chungbuk Cheongju", 2),
        ("Jeonbuk Jeonju", 2),
        ("Gyeongnam Changwon", 2),
    ]
)
_REGION_NAMES: Final = tuple(dict.fromkeys(_REGIONS))
_EDUCATION: Final = _table(
    [
        ("High school", 12),
        ("Associate degree", 14),
        ("Bachelor's degree", 52),
        ("Master's degree", 16),
        ("Doctorate", 4),
        (None, 2),
    ]
)
_JOBS: Final = _table(
    [
        ("Software engineer", 8),
        ("Designer", 5),
        ("Teacher", 6),
        ("Nurse", 5),
        ("Doctor", 2),
        ("Pharmacist", 2),
        ("Accountant", 4),
        ("Lawyer", 1),
        ("Civil servant", 7),
        ("Marketing manager", 4),
        ("Sales representative", 5),
        ("Researcher", 3),
        ("Architect", 2),
        ("Chef", 2),
        ("Entrepreneur", 3),
        ("Financial analyst", 3),
        ("Product manager", 3),
        ("Data scientist", 2),
        ("Flight attendant", 2),
        ("Photographer", 1),
        ("Graduate student", 4),
        ("Consultant", 2),
        ("Mechanical engineer", 4),
        ("Police officer", 1),
        ("Office worker", 10),
        (None, 3),
    ]
)
_LIKES: Final = (
    "hiking",
    "good coffee",
    "jazz",
    "baking",
    "running along the Han river",
    "board games",
    "travel",
    "film photography",
    "old movies",
    "reading",
    "yoga",
    "camping",
    "cooking for friends",
    "cycling",
    "K-dramas",
    "live music",
    "museums",
    "tennis",
    "swimming",
    "wine bars",
    "my dog",
    "weekend markets",
)
_BIO_TEMPLATES: Final = (
    "Into {a} and {b}.",
    "Weekends are for {a} and {b}.",
    "Looking for someone who enjoys {a} as much as I do.",
    "{A}, {b}, and long walks.",
    "Ask me about {a}.",
    "Happiest with {a} and {b}. Let's talk!",
    "Work hard, then {a}.",
    "New to the app. I like {a}, {b} and honest people.",
)
_BIOS: Final = (
    tuple(
        template.format(a=a, b=b, A=a[0].upper() + a[1:])
        for template in _BIO_TEMPLATES
        for a in _LIKES
        for b in _LIKES
        if a != b
    )
    + (None,) * 400
)  # ~5% without a bio

_SMOKING: Final = _table([("never", 70), ("quit", 8), ("sometimes", 12), ("regularly", 7), (None, 3)])
_DRINKING: Final = _table([("never", 14), ("rarely", 20), ("socially", 48), ("often", 15), (None, 3)])
_RELIGION: Final = _table([("none", 50), ("christian", 19), ("catholic", 9), ("buddhist", 14), ("other", 3), (None, 5)])
_EXERCISE: Final = _table([("never", 10), ("sometimes", 38), ("regularly", 34), ("daily", 14), (None, 4)])

_STATUS_OLDER: Final = _table([("active", 62), ("pending", 17), ("rejected", 10), ("suspended", 11)])
_STATUS_RECENT: Final = _table([("active", 28), ("pending", 65), ("rejected", 5), ("suspended", 2)])

# Photo status depends on the member's status: a pending member's photos await review.
_PHOTO_STATUS: Final = {
    "active": _table([("approved", 93), ("pending", 5), ("rejected", 2)]),
    "pending": _table([("approved", 20), ("pending", 75), ("rejected", 5)]),
    "rejected": _table([("approved", 40), ("pending", 10), ("rejected", 50)]),
    "suspended": _table([("approved", 80), ("pending", 5), ("rejected", 15)]),
}
_DOCUMENT_STATUS: Final = _table([("verified", 75), ("pending", 20), ("rejected", 5)])
_DOCUMENT_SETS: Final = _table(
    [
        (("identity",), 40),
        (("employment",), 12),
        (("education",), 10),
        (("income",), 5),
        (("identity", "employment"), 15),
        (("identity", "income"), 8),
        (("education", "employment"), 6),
        (("identity", "education", "income"), 4),
    ]
)

_PLANS: Final = _table([("free", 40), ("plus", 35), ("premium", 25)])
_PAID_STATUS: Final = _table([("active", 55), ("cancelled", 20), ("expired", 25)])
_FREE_STATUS: Final = _table([("active", 85), ("cancelled", 15)])
_PERIODS: Final = _table([(30 * 86_400.0, 8), (365 * 86_400.0, 2)])

# Birth years 1960-2006, most members between their mid-twenties and early forties.
_BIRTH_YEARS: Final = _table(
    [
        (year, max(1, round(40 * math.exp(-(((year - 1993) / 7.5) ** 2) / 2))))
        for year in range(_MIN_BIRTH_YEAR, _MAX_BIRTH_YEAR + 1)
    ]
)


_HEIGHT_SAMPLES: Final = 2_000


def _heights(rng: random.Random, mean: float, sd: float) -> tuple[int, ...]:
    return tuple(min(210, max(140, round(rng.gauss(mean, sd)))) for _ in range(_HEIGHT_SAMPLES))


def _region_sets(rng: random.Random) -> tuple[list[str], ...]:
    # Shared list objects are fine: asyncpg only reads them while encoding.
    sets: list[list[str]] = []
    for _ in range(1_000):
        home = _REGIONS[int(rng.random() * len(_REGIONS))]
        more = rng.sample(_REGION_NAMES, k=int(rng.random() * 3))
        sets.append(list(dict.fromkeys([home, *more])))
    return tuple(sets)


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

        self.heights = {"male": _heights(rng, 175.0, 6.0), "female": _heights(rng, 162.0, 5.5)}
        self.region_sets = _region_sets(rng)

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
        names_male, names_female = _NAMES["male"], _NAMES["female"]
        n_male, n_female = len(names_male), len(names_female)
        birth_years, n_birth_years = _BIRTH_YEARS, len(_BIRTH_YEARS)
        status_older, status_recent = _STATUS_OLDER, _STATUS_RECENT
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
        n_heights = _HEIGHT_SAMPLES
        education, jobs, regions, bios = _EDUCATION, _JOBS, _REGIONS, _BIOS
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
        smoking, drinking, religion, exercise = _SMOKING, _DRINKING, _RELIGION, _EXERCISE
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
        plans, paid_status, free_status, periods = _PLANS, _PAID_STATUS, _FREE_STATUS, _PERIODS
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
        shared_keys, jpegs = _SHARED_PHOTO_KEYS, SAMPLE_JPEGS
        n_keys = len(shared_keys)
        photo_status = _PHOTO_STATUS
        content_type = _PHOTO_CONTENT_TYPE
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
        sets, statuses = _DOCUMENT_SETS, _DOCUMENT_STATUS
        n_sets, n_statuses = len(sets), len(statuses)
        for user_id, ts in zip(batch.ids, batch.created, strict=True):
            if rand() >= _DOCUMENT_SHARE:
                continue
            for doc_type in sets[int(rand() * n_sets)]:
                doc_id = make_uuid(int=getrandbits(128), version=4)
                if per_object:
                    key = f"members/{user_id}/documents/{doc_id}.pdf"
                    if collect:
                        uploads.append((key, SAMPLE_PDFS[doc_type], _DOCUMENT_CONTENT_TYPE))
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
) -> SeedReport:
    """Insert `members` members with profiles, lifestyles, preferences, subscriptions, photos and documents.

    `conn` is a raw asyncpg connection to the primary. All rows go in one transaction (a savepoint if the
    caller already holds one). Seeding again into the same database is safe: phones continue after the highest
    seeded one and the random stream is keyed on that position too, so ids never repeat. The same seed into an
    empty database gives the same rows (for the same `now`).

    `objects_per_photo` (default: `members <= 2000`) uploads one S3 object per photo and document row at its own
    key; otherwise rows point at a small shared pool under `seed/`, uploaded once. With `s3_client=None`
    nothing is uploaded (rows only).
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

    counts = dict.fromkeys(_TABLES, 0)
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
                [(key, body, _PHOTO_CONTENT_TYPE) for key, body in zip(_SHARED_PHOTO_KEYS, SAMPLE_JPEGS, strict=True)],
            )
            document_objects = await _upload(
                s3_client,
                bucket,
                [(_SHARED_DOCUMENT_KEYS[t], SAMPLE_PDFS[t], _DOCUMENT_CONTENT_TYPE) for t in _DOC_TYPES],
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
                        1 for _key, _body, content_type in uploads if content_type == _PHOTO_CONTENT_TYPE
                    )
                    photo_objects += photos_uploaded
                    document_objects += len(uploads) - photos_uploaded
        await conn.execute("SELECT member_counts_rebuild(); SELECT dashboard_counts_rebuild();")
        await conn.execute(_COUNTER_TRIGGERS.format(action="ENABLE"))

    # Planner statistics now rather than whenever autovacuum gets there (it also vacuums these tables, setting
    # hint bits and the visibility map, within a minute or so of the commit).
    await conn.execute(f"ANALYZE {', '.join(_TABLES)}")

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
