"""Idempotency keys: a POST retried with the same key gets the first answer and writes nothing new."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, DateTime, Index, Integer, LargeBinary, PrimaryKeyConstraint, String, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlmodel import Field, SQLModel

from backend.domain import base as _base  # noqa: F401


class IdempotencyKey(SQLModel, table=True):
    __tablename__ = "idempotency_keys"
    __table_args__ = (
        PrimaryKeyConstraint("owner", "key", name="pk_idempotency_keys"),
        Index("ix_idempotency_keys_created_at", "created_at"),
    )

    owner: str = Field(sa_column=Column(String(64), nullable=False))  # the actor the key belongs to
    key: str = Field(sa_column=Column(String(255), nullable=False))
    method: str = Field(sa_column=Column(String(8), nullable=False))
    path: str = Field(sa_column=Column(String(512), nullable=False))
    fingerprint: str = Field(sa_column=Column(String(64), nullable=False))  # sha256 of method, path and body
    # The process that claimed the key (backend/infrastructure/liveness.py), so that a retry can tell when it died.
    claimed_by: str | None = Field(default=None, sa_column=Column(String(128)))
    response_status: int | None = Field(default=None, sa_column=Column(Integer))
    # Stored response headers, a list of [name, value] pairs; free-form JSON.
    response_headers: list[list[str]] | None = Field(default=None, sa_column=Column(JSONB))
    response_body: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    created_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=False, server_default=text("now()"))
    )


class IdempotencyItem(SQLModel, table=True):
    """An item a bulk request committed under an Idempotency-Key, written in that item's own transaction.

    A bulk decision runs a transaction per item while its key's claim stays open; when the request dies before
    the claim commits, a retry with the same key claims it afresh and answers these items from here, `ok`,
    instead of deciding them again."""

    __tablename__ = "idempotency_items"
    __table_args__ = (
        PrimaryKeyConstraint("owner", "key", "fingerprint", "item_id", name="pk_idempotency_items"),
        Index("ix_idempotency_items_created_at", "created_at"),
    )

    owner: str = Field(sa_column=Column(String(64), nullable=False))
    key: str = Field(sa_column=Column(String(255), nullable=False))
    fingerprint: str = Field(sa_column=Column(String(64), nullable=False))
    item_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), nullable=False))
    created_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=False, server_default=text("now()"))
    )
