"""Small async factories for test data, written straight to the primary."""

from __future__ import annotations

import io
import random
import struct
import subprocess
import sys
import uuid
import zlib
from datetime import datetime

import asyncpg
from PIL import Image


def unique_phone() -> str:
    return f"+8219{random.randrange(10**8):08d}"


async def create_member(
    db: asyncpg.Connection,
    *,
    status: str = "pending",
    name: str = "Test Member",
    gender: str = "female",
    birth_year: int = 1990,
    phone: str | None = None,
    deleted: bool = False,
) -> uuid.UUID:
    """A member with a profile; returns its id."""
    member_id: uuid.UUID = await db.fetchval(
        """
        INSERT INTO users (phone, name, gender, birth_year, status, deleted_at)
        VALUES ($1, $2, $3, $4, $5, CASE WHEN $6 THEN now() END) RETURNING id
        """,
        phone or unique_phone(),
        name,
        gender,
        birth_year,
        status,
        deleted,
    )
    await db.execute("INSERT INTO user_profiles (id, job) VALUES ($1, 'Engineer')", member_id)
    return member_id


# -- file contents, for the checks of uploaded files ------------------------------------------------------------


def png_bytes() -> bytes:
    """A valid 1x1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


def jpeg_bytes(colour: tuple[int, int, int] = (52, 152, 219)) -> bytes:
    """A valid 8x8 JPEG of one colour: a few hundred bytes, under the least PHOTO_MAX_BYTES."""
    out = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(out, format="JPEG", quality=90)
    return out.getvalue()


# A 1x1 lossless WebP (RIFF header, a VP8L chunk).
WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"
HTML = b"<!doctype html><html><body><script>alert(document.domain)</script></body></html>"


async def remove_members_created_since(db: asyncpg.Connection, since: datetime) -> None:
    """Remove every member created since `since`, with its phone blocks and outbox events (notes, photos and the
    rest go by cascade): what a module's tests made, so that later modules see the seeded data as it was."""
    ids = [row["id"] for row in await db.fetch("SELECT id FROM users WHERE created_at >= $1", since)]
    await db.execute("DELETE FROM phone_blocks WHERE member_id = ANY($1)", ids)
    await db.execute("DELETE FROM outbox WHERE payload->>'member_id' = ANY($1)", [str(i) for i in ids])
    await db.execute("DELETE FROM users WHERE id = ANY($1)", ids)


PRINT_PROCESS_IDENTITY = "from backend.infrastructure.liveness import this_process; print(this_process())"
"""Python code that prints its process's identity (backend/infrastructure/liveness.py)."""


def exited_process_identity() -> str:
    """The identity (backend/infrastructure/liveness.py) of a process of this machine that has since exited."""
    child = subprocess.run(
        [sys.executable, "-c", PRINT_PROCESS_IDENTITY],
        capture_output=True,
        text=True,
        check=True,
    )
    return child.stdout.strip()
