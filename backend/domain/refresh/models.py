"""Refresh families (one per login) and their tokens, each used once."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer, String, text
from sqlalchemy.dialects.postgresql import UUID
from sqlmodel import Field, SQLModel

from backend.domain import base as _base  # noqa: F401


class RefreshFamily(SQLModel, table=True):
    """A login's session: every refresh token rotated from it, revoked together."""

    __tablename__ = "refresh_families"
    __table_args__ = (
        Index("ix_refresh_families_operator_id", "operator_id"),
        Index("ix_refresh_families_expires_at", "expires_at"),
    )

    id: uuid.UUID = Field(
        default_factory=uuid.uuid4,
        sa_column=Column(UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")),
    )
    operator_id: uuid.UUID = Field(
        sa_column=Column(UUID(as_uuid=True), ForeignKey("admin_users.id", ondelete="CASCADE"), nullable=False)
    )
    # The operator's token_version at login: a password, role or active-flag change ends the family.
    token_version: int = Field(sa_column=Column(Integer, nullable=False))
    created_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=False, server_default=text("now()"))
    )
    # The session's absolute end (REFRESH_MAX_AGE_SECONDS after login), however often it is refreshed.
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    # logout, reuse, operator_changed
    revoked_reason: str | None = Field(default=None, sa_column=Column(String(32)))


class RefreshToken(SQLModel, table=True):
    """One refresh token, stored as its SHA-256; `used_at` set when it was rotated (a second use is a reuse)."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (Index("ix_refresh_tokens_family_id", "family_id"),)

    token_hash: str = Field(sa_column=Column(String(64), primary_key=True))
    family_id: uuid.UUID = Field(
        sa_column=Column(UUID(as_uuid=True), ForeignKey("refresh_families.id", ondelete="CASCADE"), nullable=False)
    )
    created_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=False, server_default=text("now()"))
    )
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
