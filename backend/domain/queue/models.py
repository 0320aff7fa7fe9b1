"""The counters behind the queues' exact totals, kept by triggers (see migration 0012)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, PrimaryKeyConstraint, SmallInteger, String
from sqlmodel import Field, SQLModel

from backend.domain import base as _base  # noqa: F401


class QueueCount(SQLModel, table=True):
    """Photos and documents per status, member status, member gender and deletion (the item's or its member's),
    over 16 slots so that concurrent decisions do not queue on one row."""

    __tablename__ = "queue_counts"
    __table_args__ = (
        PrimaryKeyConstraint("entity", "status", "member_status", "gender", "deleted", "slot", name="pk_queue_counts"),
    )

    entity: str = Field(sa_column=Column(String(16), nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    member_status: str = Field(sa_column=Column(String(16), nullable=False))
    gender: str = Field(sa_column=Column(String(8), nullable=False))
    deleted: bool = Field(sa_column=Column(Boolean, nullable=False))
    slot: int = Field(sa_column=Column(SmallInteger, nullable=False))
    n: int = Field(sa_column=Column(BigInteger, nullable=False))
