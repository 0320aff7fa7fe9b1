"""Counters behind the dashboard's sections, kept by triggers (see migration 0005)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, PrimaryKeyConstraint, SmallInteger, String
from sqlmodel import Field, SQLModel

from backend.domain import base as _base  # noqa: F401


class ModerationCount(SQLModel, table=True):
    """Live photos and documents by status, over 16 slots so concurrent moderation does not queue."""

    __tablename__ = "moderation_counts"
    __table_args__ = (PrimaryKeyConstraint("entity", "status", "slot", name="pk_moderation_counts"),)

    entity: str = Field(sa_column=Column(String(16), nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    slot: int = Field(sa_column=Column(SmallInteger, nullable=False))
    n: int = Field(sa_column=Column(BigInteger, nullable=False))


class SignupHour(SQLModel, table=True):
    """Live members by the hour they signed up in."""

    __tablename__ = "signup_hours"
    __table_args__ = (PrimaryKeyConstraint("hour", name="pk_signup_hours"),)

    hour: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    n: int = Field(sa_column=Column(BigInteger, nullable=False))
