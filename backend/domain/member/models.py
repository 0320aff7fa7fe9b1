"""Member tables: users and the one-per-user relations, photos and documents."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlmodel import Field, SQLModel

from backend.domain import base as _base  # noqa: F401  (installs the naming convention first)
from backend.domain.claims.models import claim_indexes


class Gender(StrEnum):
    male = "male"
    female = "female"


class MemberStatus(StrEnum):
    pending = "pending"
    active = "active"
    rejected = "rejected"
    suspended = "suspended"
    banned = "banned"


class Plan(StrEnum):
    free = "free"
    plus = "plus"
    premium = "premium"


class SubscriptionStatus(StrEnum):
    active = "active"
    cancelled = "cancelled"
    expired = "expired"


class PhotoStatus(StrEnum):
    uploading = "uploading"
    pending = "pending"
    approved = "approved"
    rejected = "rejected"


class DocumentType(StrEnum):
    identity = "identity"
    employment = "employment"
    education = "education"
    income = "income"


class DocumentStatus(StrEnum):
    uploading = "uploading"
    pending = "pending"
    verified = "verified"
    rejected = "rejected"


def _in(column: str, enum: type[StrEnum]) -> str:
    values = ", ".join(f"'{member.value}'" for member in enum)
    return f"{column} IN ({values})"


def _uuid_pk() -> Column[uuid.UUID]:
    return Column(UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()"))


def _user_fk(*, primary_key: bool = False) -> Column[uuid.UUID]:
    return Column(
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=primary_key,
        nullable=False,
    )


def _timestamp(*, nullable: bool = False, default_now: bool = True) -> Column[datetime]:
    return Column(
        DateTime(timezone=True),
        nullable=nullable,
        server_default=text("now()") if default_now else None,
    )


PHONE_UNIQUE_INDEX = "uq_users_phone_live"
"""The unique index of live members' phones: a write it refuses met a phone taken past the check."""


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(_in("gender", Gender), name="gender"),
        CheckConstraint(_in("status", MemberStatus), name="status"),
        CheckConstraint("phone ~ '^\\+[1-9][0-9]{6,14}$'", name="phone_e164"),
        CheckConstraint("birth_year BETWEEN 1900 AND 2100", name="birth_year"),
        CheckConstraint("version >= 1", name="version"),
        # A phone is unique among live members; a soft-deleted one frees it.
        Index(PHONE_UNIQUE_INDEX, "phone", unique=True, postgresql_where=text("deleted_at IS NULL")),
        # Keyset paging and the default order (newest first), per filter that lists commonly use.
        Index("ix_users_created_at_id", "created_at", "id"),
        Index("ix_users_status_created_at_id", "status", "created_at", "id"),
        Index("ix_users_gender_created_at_id", "gender", "created_at", "id"),
        Index("ix_users_status_gender_created_at_id", "status", "gender", "created_at", "id"),
        Index("ix_users_birth_year", "birth_year"),
        Index("ix_users_name_id", "name", "id"),
        *claim_indexes("users", "review", "status = 'pending' AND deleted_at IS NULL"),
        Index("ix_users_name_trgm", "name", postgresql_using="gin", postgresql_ops={"name": "gin_trgm_ops"}),
        Index("ix_users_phone_trgm", "phone", postgresql_using="gin", postgresql_ops={"phone": "gin_trgm_ops"}),
        # Housekeeping's retention query: soft-deleted members not erased yet, longest deleted first.
        Index(
            "ix_users_deleted_at_unerased",
            "deleted_at",
            postgresql_where=text("deleted_at IS NOT NULL AND erased_at IS NULL"),
        ),
        # Housekeeping's query for timed suspensions that have run out.
        Index(
            "ix_users_suspended_until",
            "suspended_until",
            postgresql_where=text("status = 'suspended' AND suspended_until IS NOT NULL AND deleted_at IS NULL"),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_column=_uuid_pk())
    phone: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))  # null once erased
    name: str = Field(sa_column=Column(String(100), nullable=False))
    gender: Gender = Field(sa_column=Column(String(8), nullable=False))
    birth_year: int = Field(sa_column=Column(SmallInteger, nullable=False))
    status: MemberStatus = Field(
        default=MemberStatus.pending,
        sa_column=Column(String(16), nullable=False, server_default=MemberStatus.pending.value),
    )
    created_at: datetime | None = Field(default=None, sa_column=_timestamp())
    updated_at: datetime | None = Field(default=None, sa_column=_timestamp())
    deleted_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True, default_now=False))
    version: int = Field(default=1, sa_column=Column(Integer, nullable=False, server_default="1"))
    claimed_by: uuid.UUID | None = Field(default=None, sa_column=Column(UUID(as_uuid=True), nullable=True))
    claimed_until: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True, default_now=False))
    # A timed suspension ends here (housekeeping lifts it); null: until an operator lifts it.
    suspended_until: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True, default_now=False))
    # Erased (backend/domain/privacy): personal fields gone for good; no write may touch the member again.
    erased_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True, default_now=False))


class UserProfile(SQLModel, table=True):
    __tablename__ = "user_profiles"
    __table_args__ = (CheckConstraint("height_cm IS NULL OR height_cm BETWEEN 100 AND 250", name="height_cm"),)

    id: uuid.UUID = Field(sa_column=_user_fk(primary_key=True))
    height_cm: int | None = Field(default=None, sa_column=Column(SmallInteger))
    education: str | None = Field(default=None, sa_column=Column(String(100)))
    job: str | None = Field(default=None, sa_column=Column(String(100)))
    region: str | None = Field(default=None, sa_column=Column(String(100)))
    bio: str | None = Field(default=None, sa_column=Column(Text))


class UserLifestyle(SQLModel, table=True):
    __tablename__ = "user_lifestyles"

    id: uuid.UUID = Field(sa_column=_user_fk(primary_key=True))
    smoking: str | None = Field(default=None, sa_column=Column(String(32)))
    drinking: str | None = Field(default=None, sa_column=Column(String(32)))
    religion: str | None = Field(default=None, sa_column=Column(String(32)))
    exercise: str | None = Field(default=None, sa_column=Column(String(32)))


class UserPreference(SQLModel, table=True):
    __tablename__ = "user_preferences"
    __table_args__ = (
        CheckConstraint("age_min IS NULL OR age_max IS NULL OR age_min <= age_max", name="age_range"),
        CheckConstraint(
            "height_min_cm IS NULL OR height_max_cm IS NULL OR height_min_cm <= height_max_cm", name="height_range"
        ),
    )

    id: uuid.UUID = Field(sa_column=_user_fk(primary_key=True))
    age_min: int | None = Field(default=None, sa_column=Column(SmallInteger))
    age_max: int | None = Field(default=None, sa_column=Column(SmallInteger))
    height_min_cm: int | None = Field(default=None, sa_column=Column(SmallInteger))
    height_max_cm: int | None = Field(default=None, sa_column=Column(SmallInteger))
    regions: list[str] = Field(
        default_factory=list, sa_column=Column(ARRAY(String(100)), nullable=False, server_default="{}")
    )


class UserSubscription(SQLModel, table=True):
    """A member's current subscription (one row per member)."""

    __tablename__ = "user_subscriptions"
    __table_args__ = (
        CheckConstraint(_in("plan", Plan), name="plan"),
        CheckConstraint(_in("status", SubscriptionStatus), name="status"),
        Index("ix_user_subscriptions_plan_status", "plan", "status"),
    )

    id: uuid.UUID = Field(sa_column=_user_fk(primary_key=True))
    plan: Plan = Field(sa_column=Column(String(16), nullable=False))
    status: SubscriptionStatus = Field(sa_column=Column(String(16), nullable=False))
    started_at: datetime = Field(sa_column=_timestamp())
    expires_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True, default_now=False))


class UserPhoto(SQLModel, table=True):
    __tablename__ = "user_photos"
    __table_args__ = (
        CheckConstraint(_in("status", PhotoStatus), name="status"),
        CheckConstraint("display_order >= 0", name="display_order"),
        # Not partial: ON DELETE CASCADE from users needs to find deleted photos too.
        Index("ix_user_photos_user_id_display_order", "user_id", "display_order"),
        # "Has photos?" for a member, answered from the index alone (member lists' has_photos filter).
        Index("ix_user_photos_live_user_id", "user_id", postgresql_where=text("deleted_at IS NULL")),
        Index("ix_user_photos_status", "status", postgresql_where=text("deleted_at IS NULL AND status = 'pending'")),
        Index(
            "ix_user_photos_uploading_created_at",
            "created_at",
            postgresql_where=text("deleted_at IS NULL AND status = 'uploading'"),
        ),
        # The photo queue's order (GET /admin/photos): by status, oldest first.
        Index("ix_user_photos_status_created_at_id", "status", "created_at", "id"),
        *claim_indexes("user_photos", "review", "status = 'pending' AND deleted_at IS NULL"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_column=_uuid_pk())
    user_id: uuid.UUID = Field(sa_column=_user_fk())
    s3_key: str = Field(sa_column=Column(String(512), nullable=False))
    content_type: str | None = Field(default=None, sa_column=Column(String(64)))
    display_order: int = Field(default=0, sa_column=Column(SmallInteger, nullable=False, server_default="0"))
    status: PhotoStatus = Field(
        default=PhotoStatus.uploading,
        sa_column=Column(String(16), nullable=False, server_default=PhotoStatus.uploading.value),
    )
    size_bytes: int | None = Field(default=None, sa_column=Column(Integer))
    status_reason: str | None = Field(default=None, sa_column=Column(Text))
    reason_code: str | None = Field(default=None, sa_column=Column(String(32)))  # of a rejection
    created_at: datetime | None = Field(default=None, sa_column=_timestamp())
    deleted_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True, default_now=False))
    claimed_by: uuid.UUID | None = Field(default=None, sa_column=Column(UUID(as_uuid=True), nullable=True))
    claimed_until: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True, default_now=False))


class UserDocument(SQLModel, table=True):
    __tablename__ = "user_documents"
    __table_args__ = (
        CheckConstraint(_in("doc_type", DocumentType), name="doc_type"),
        CheckConstraint(_in("status", DocumentStatus), name="status"),
        Index("ix_user_documents_user_id", "user_id"),
        Index("ix_user_documents_status", "status", postgresql_where=text("deleted_at IS NULL AND status = 'pending'")),
        Index("ix_user_documents_status_created_at_id", "status", "created_at", "id"),
        Index(
            "ix_user_documents_uploading_created_at",
            "created_at",
            postgresql_where=text("deleted_at IS NULL AND status = 'uploading'"),
        ),
        *claim_indexes("user_documents", "review", "status = 'pending' AND deleted_at IS NULL"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_column=_uuid_pk())
    user_id: uuid.UUID = Field(sa_column=_user_fk())
    doc_type: DocumentType = Field(sa_column=Column(String(16), nullable=False))
    s3_key: str = Field(sa_column=Column(String(512), nullable=False))
    content_type: str | None = Field(default=None, sa_column=Column(String(64)))
    status: DocumentStatus = Field(
        default=DocumentStatus.pending,
        sa_column=Column(String(16), nullable=False, server_default=DocumentStatus.pending.value),
    )
    size_bytes: int | None = Field(default=None, sa_column=Column(Integer))
    status_reason: str | None = Field(default=None, sa_column=Column(Text))
    reason_code: str | None = Field(default=None, sa_column=Column(String(32)))
    created_at: datetime | None = Field(default=None, sa_column=_timestamp())
    deleted_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True, default_now=False))
    claimed_by: uuid.UUID | None = Field(default=None, sa_column=Column(UUID(as_uuid=True), nullable=True))
    claimed_until: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True, default_now=False))


class NoteKind(StrEnum):
    note = "note"
    approved = "approved"
    rejected = "rejected"
    suspended = "suspended"
    banned = "banned"
    unbanned = "unbanned"
    unsuspended = "unsuspended"


class MemberNote(SQLModel, table=True):
    __tablename__ = "member_notes"
    __table_args__ = (
        Index("ix_member_notes_user_id_created_at", "user_id", "created_at"),
        CheckConstraint(_in("kind", NoteKind), name="kind"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_column=_uuid_pk())
    user_id: uuid.UUID = Field(sa_column=_user_fk())
    author_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(UUID(as_uuid=True), ForeignKey("admin_users.id", ondelete="SET NULL"))
    )
    kind: NoteKind = Field(
        default=NoteKind.note, sa_column=Column(String(16), nullable=False, server_default=NoteKind.note.value)
    )
    content: str = Field(sa_column=Column(Text, nullable=False))
    reason_code: str | None = Field(default=None, sa_column=Column(String(32)))  # of a decision
    created_at: datetime | None = Field(default=None, sa_column=_timestamp())


class PhoneBlock(SQLModel, table=True):
    """A banned member's phone, as a keyed hash (HMAC-SHA256 with PHONE_BLOCK_SECRET), never the number.

    A phone is blocked while any row has its hash; each ban adds its own row and its unban removes it. No foreign
    key: a block outlives its member's row.
    """

    __tablename__ = "phone_blocks"
    __table_args__ = (
        PrimaryKeyConstraint("phone_hash", "member_id", name="pk_phone_blocks"),
        Index("ix_phone_blocks_member_id", "member_id"),
    )

    phone_hash: str = Field(sa_column=Column(String(64), nullable=False))
    member_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), nullable=False))
    reason_code: str = Field(sa_column=Column(String(32), nullable=False))
    created_at: datetime | None = Field(default=None, sa_column=_timestamp())


class MemberNameTerm(SQLModel, table=True):
    """A suffix of a live member's lower-cased name (3 characters or more), with the member's place in the list.

    A name contains a text exactly when the text begins one of its suffixes: the search by name reads a range of
    this key, only its matches, in the list's order within each suffix (migration 0019). Kept by triggers on users
    in the writing transaction; a soft-deleted member has none.
    """

    __tablename__ = "member_name_terms"
    __table_args__ = (PrimaryKeyConstraint("term", "created_at", "member_id", name="pk_member_name_terms"),)

    term: str = Field(sa_column=Column(Text(collation="C"), nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    member_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), nullable=False))


class MemberPhoneTerm(SQLModel, table=True):
    """A suffix of a live member's phone digits (3 digits or more), with the member's place in the list: the
    phone's counterpart of MemberNameTerm, for a search by digits (migration 0020)."""

    __tablename__ = "member_phone_terms"
    __table_args__ = (PrimaryKeyConstraint("term", "created_at", "member_id", name="pk_member_phone_terms"),)

    term: str = Field(sa_column=Column(Text(collation="C"), nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    member_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), nullable=False))


class MemberCount(SQLModel, table=True):
    """Members per sign-up day (UTC), status, gender, active plan ('' for none) and deletion.

    Kept by triggers in the same transaction as every change to users and subscriptions, so exact totals
    for those filters cost a sum over a few hundred rows instead of a count over millions.
    """

    __tablename__ = "member_counts"
    __table_args__ = (PrimaryKeyConstraint("day", "status", "gender", "plan", "deleted", name="pk_member_counts"),)

    day: date = Field(sa_column=Column(Date, nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    gender: str = Field(sa_column=Column(String(8), nullable=False))
    plan: str = Field(sa_column=Column(String(16), nullable=False))
    deleted: bool = Field(sa_column=Column(Boolean, nullable=False))
    n: int = Field(sa_column=Column(BigInteger, nullable=False))


class MemberTotal(SQLModel, table=True):
    """Members per status, gender, active plan ('' for none) and deletion: member_counts without the day.

    Kept by the same triggers in the same transaction (migration 0006), so a total over all time is a sum over
    a few dozen rows instead of one per sign-up day. A bucket is spread over 16 slots, one per writing backend
    (migration 0016): readers sum its rows.
    """

    __tablename__ = "member_totals"
    __table_args__ = (PrimaryKeyConstraint("status", "gender", "plan", "deleted", "slot", name="pk_member_totals"),)

    status: str = Field(sa_column=Column(String(16), nullable=False))
    gender: str = Field(sa_column=Column(String(8), nullable=False))
    plan: str = Field(sa_column=Column(String(16), nullable=False))
    deleted: bool = Field(sa_column=Column(Boolean, nullable=False))
    slot: int = Field(sa_column=Column(SmallInteger, nullable=False))
    n: int = Field(sa_column=Column(BigInteger, nullable=False))
