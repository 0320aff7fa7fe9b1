"""Reports about members, filed by the app's backend (migration 0013)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, Column, DateTime, ForeignKey, Index, String, Text
from sqlalchemy import text as sql
from sqlalchemy.dialects.postgresql import TSTZRANGE, UUID, ExcludeConstraint
from sqlmodel import Field, SQLModel

from backend.domain import base as _base  # noqa: F401  (installs the naming convention first)
from backend.domain.claims.models import claim_indexes
from backend.domain.reasons import ReasonCode


class ReportStatus(StrEnum):
    open = "open"
    dismissed = "dismissed"
    actioned = "actioned"


class ReportAction(StrEnum):
    """What an actioned report led to: the decision an operator took (recorded, with its own audit row)."""

    reject = "reject"  # the member was rejected
    suspend = "suspend"
    ban = "ban"
    photo_rejected = "photo_rejected"
    document_rejected = "document_rejected"
    warning = "warning"  # the member was warned (outside this API)
    other = "other"  # say what in the note


def _in(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


def _timestamp(*, nullable: bool = True) -> Any:
    return Column(DateTime(timezone=True), nullable=nullable)


class Report(SQLModel, table=True):
    __tablename__ = "reports"
    __table_args__ = (
        CheckConstraint(_in("reason_code", ReasonCode), name="reason_code"),
        CheckConstraint(_in("status", ReportStatus), name="status"),
        CheckConstraint(_in("action", ReportAction), name="action"),
        CheckConstraint("(status = 'actioned') = (action IS NOT NULL)", name="action_if_actioned"),
        CheckConstraint("char_length(text) <= 2000", name="text_length"),
        ExcludeConstraint(
            (Column("reporter_member_id"), "="),
            (Column("reported_member_id"), "="),
            (Column("reason_code"), "="),
            (Column("dedupe_window"), "&&"),
            name="ex_reports_once_a_day",
            using="gist",
        ),
        Index("ix_reports_created_at_id", "created_at", "id"),
        Index("ix_reports_status_created_at_id", "status", "created_at", "id"),
        Index("ix_reports_reported_member_id_created_at_id", "reported_member_id", "created_at", "id"),
        *claim_indexes("reports", "open", "status = 'open'"),
    )

    id: uuid.UUID = Field(
        default_factory=uuid.uuid4,
        sa_column=Column(UUID(as_uuid=True), primary_key=True, server_default=sql("gen_random_uuid()")),
    )
    reported_member_id: uuid.UUID = Field(
        sa_column=Column(UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    reporter_member_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL"))
    )
    reason_code: str = Field(sa_column=Column(String(32), nullable=False))
    text: str | None = Field(default=None, sa_column=Column(Text))
    status: str = Field(default="open", sa_column=Column(String(16), nullable=False, server_default="open"))
    # The API key (or operator) that filed it.
    filed_by: uuid.UUID | None = Field(default=None, sa_column=Column(UUID(as_uuid=True)))
    created_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=False, server_default=sql("now()"))
    )
    # The day after filing in which the same reporter's report of the same member for the same code counts once.
    dedupe_window: Any = Field(
        default=None,
        sa_column=Column(TSTZRANGE, nullable=False, server_default=sql("tstzrange(now(), now() + interval '1 day')")),
    )
    resolved_at: datetime | None = Field(default=None, sa_column=_timestamp())
    resolved_by: uuid.UUID | None = Field(default=None, sa_column=Column(UUID(as_uuid=True)))
    action: str | None = Field(default=None, sa_column=Column(String(32)))
    resolution_note: str | None = Field(default=None, sa_column=Column(Text))
    claimed_by: uuid.UUID | None = Field(default=None, sa_column=Column(UUID(as_uuid=True)))
    claimed_until: datetime | None = Field(default=None, sa_column=_timestamp())
