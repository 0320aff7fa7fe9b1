"""The access log: who was handed a URL of which identity document, when, in which request."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, Index, String, text
from sqlalchemy.dialects.postgresql import UUID
from sqlmodel import Field, SQLModel

from backend.domain import base as _base  # noqa: F401  (installs the naming convention first)


class AccessLog(SQLModel, table=True):
    """One issued URL of an identity document. No foreign keys: a row outlives the document and the member's
    erasure (it holds ids only, no personal value)."""

    __tablename__ = "access_log"
    __table_args__ = (
        Index("ix_access_log_created_at_id", "created_at", "id"),
        Index("ix_access_log_member_id_created_at", "member_id", "created_at"),
        Index("ix_access_log_actor_id_created_at", "actor_id", "created_at"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    actor_type: str = Field(sa_column=Column(String(16), nullable=False))  # operator or api_key
    actor_id: uuid.UUID | None = Field(default=None, sa_column=Column(UUID(as_uuid=True)))
    document_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), nullable=False))
    member_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), nullable=False))
    doc_type: str = Field(sa_column=Column(String(16), nullable=False))
    request_id: str | None = Field(default=None, sa_column=Column(String(64)))
    created_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=False, server_default=text("now()"))
    )
