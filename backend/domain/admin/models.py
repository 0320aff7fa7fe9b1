"""Operators and the API keys of internal tools."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Column, DateTime, ForeignKey, Index, Integer, String, text
from sqlalchemy.dialects.postgresql import UUID
from sqlmodel import Field, SQLModel

from backend.domain import base as _base  # noqa: F401
from backend.domain.identity import Role

_OPERATOR_ROLE_CHECK = "role IN ('viewer', 'moderator', 'admin')"
_KEY_ROLE_CHECK = "role IN ('viewer', 'moderator', 'admin', 'reporter')"


class AdminUser(SQLModel, table=True):
    __tablename__ = "admin_users"
    __table_args__ = (
        CheckConstraint(_OPERATOR_ROLE_CHECK, name="role"),
        Index("uq_admin_users_email", text("lower(email)"), unique=True),
    )

    id: uuid.UUID = Field(
        default_factory=uuid.uuid4,
        sa_column=Column(UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")),
    )
    email: str = Field(sa_column=Column(String(320), nullable=False))
    name: str = Field(sa_column=Column(String(100), nullable=False))
    password_hash: str = Field(sa_column=Column(String(255), nullable=False))
    role: Role = Field(sa_column=Column(String(16), nullable=False))
    is_active: bool = Field(default=True, sa_column=Column(Boolean, nullable=False, server_default=text("true")))
    created_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=False, server_default=text("now()"))
    )
    # Raised when the password, role or active flag changes: tokens issued under an older version stop working.
    token_version: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default=text("0")))


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint(_KEY_ROLE_CHECK, name="role"),
        Index("uq_api_keys_prefix", "prefix", unique=True),
    )

    id: uuid.UUID = Field(
        default_factory=uuid.uuid4,
        sa_column=Column(UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")),
    )
    name: str = Field(sa_column=Column(String(100), nullable=False))
    prefix: str = Field(sa_column=Column(String(16), nullable=False))
    key_hash: str = Field(sa_column=Column(String(255), nullable=False))
    role: Role = Field(sa_column=Column(String(16), nullable=False))
    created_by: uuid.UUID | None = Field(
        default=None, sa_column=Column(UUID(as_uuid=True), ForeignKey("admin_users.id", ondelete="SET NULL"))
    )
    created_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=False, server_default=text("now()"))
    )
    last_used_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
