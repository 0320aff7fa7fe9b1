"""Side effects recorded in the writing transaction and delivered after its commit."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Column, DateTime, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from backend.domain import base as _base  # noqa: F401


class OutboxStatus(StrEnum):
    pending = "pending"
    delivered = "delivered"
    dead = "dead"


class OutboxEvent(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'delivered', 'dead')", name="status"),
        Index("ix_outbox_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
        Index("ix_outbox_status_created_at", "status", "created_at"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    topic: str = Field(sa_column=Column(String(64), nullable=False))
    # The event body; its shape depends on the topic, hence Any.
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    status: OutboxStatus = Field(
        default=OutboxStatus.pending,
        sa_column=Column(String(16), nullable=False, server_default=OutboxStatus.pending.value),
    )
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    next_attempt_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=False, server_default=text("now()"))
    )
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=False, server_default=text("now()"))
    )
    delivered_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
