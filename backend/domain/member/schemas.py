"""What the API reads and returns about members."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from backend.domain.member.models import (
    DocumentStatus,
    DocumentType,
    Gender,
    MemberStatus,
    NoteKind,
    PhotoStatus,
    Plan,
    SubscriptionStatus,
)
from backend.domain.schemas import ReadSchema, Schema


class MemberFilters(Schema):
    """Filters of the member list; every one is optional and they combine with AND."""

    status: list[MemberStatus] | None = None
    gender: list[Gender] | None = None
    q: str | None = Field(default=None, min_length=1, max_length=100, description="Name substring or phone digits")
    signed_up_from: date | datetime | None = Field(
        default=None, description="Inclusive; a date is a day in ADMIN_TIMEZONE"
    )
    signed_up_to: date | datetime | None = Field(default=None, description="Inclusive; a date covers the whole day")
    birth_year_min: int | None = Field(default=None, ge=1900, le=2100)
    birth_year_max: int | None = Field(default=None, ge=1900, le=2100)
    plan: list[Plan] | None = Field(default=None, description="Members with an active subscription of these plans")
    has_photos: bool | None = None
    id: list[uuid.UUID] | None = Field(default=None, max_length=1000)
    include_deleted: bool = False


MEMBER_SORT_FIELDS = frozenset({"created_at", "updated_at", "name", "birth_year", "status", "gender", "id"})
MULTI_VALUE_FILTERS = frozenset({"status", "gender", "plan", "id"})


class MemberFields(ReadSchema):
    """The user row's fields, common to the list and the detail."""

    id: uuid.UUID
    phone: str
    name: str
    gender: Gender
    birth_year: int
    status: MemberStatus
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    version: int


class MemberRead(MemberFields):
    """A member as listed, with the URL of their first photo."""

    photo_url: str | None = Field(description="Presigned URL of the first photo by display order")


class ProfileRead(ReadSchema):
    height_cm: int | None
    education: str | None
    job: str | None
    region: str | None
    bio: str | None


class LifestyleRead(ReadSchema):
    smoking: str | None
    drinking: str | None
    religion: str | None
    exercise: str | None


class PreferenceRead(ReadSchema):
    age_min: int | None
    age_max: int | None
    height_min_cm: int | None
    height_max_cm: int | None
    regions: list[str]


class SubscriptionRead(ReadSchema):
    plan: Plan
    status: SubscriptionStatus
    started_at: datetime
    expires_at: datetime | None


class PhotoRead(ReadSchema):
    id: uuid.UUID
    display_order: int
    status: PhotoStatus
    content_type: str | None
    created_at: datetime
    url: str


class DocumentRead(ReadSchema):
    id: uuid.UUID
    doc_type: DocumentType
    status: DocumentStatus
    created_at: datetime
    url: str


class MemberDetailRead(MemberFields):
    """A member with every relation; photos and documents carry presigned GET URLs."""

    profile: ProfileRead | None
    lifestyle: LifestyleRead | None
    preference: PreferenceRead | None
    subscription: SubscriptionRead | None
    photos: list[PhotoRead]
    documents: list[DocumentRead]


@dataclass(frozen=True)
class MemberPage:
    """One page of the member list, with the total when it was asked for."""

    items: list[dict[str, Any]]  # in MemberRead's shape
    total: int | None
    next_cursor: list[Any] | None  # the last row's sort values, when a page may follow


PHONE_PATTERN = r"^\+[1-9][0-9]{6,14}$"
Smoking = Literal["never", "quit", "sometimes", "regularly"]
Drinking = Literal["never", "rarely", "socially", "often"]
Religion = Literal["none", "christian", "catholic", "buddhist", "other"]
Exercise = Literal["never", "sometimes", "regularly", "daily"]


class ProfileWrite(Schema):
    height_cm: int | None = Field(default=None, ge=100, le=250)
    education: str | None = Field(default=None, max_length=100)
    job: str | None = Field(default=None, max_length=100)
    region: str | None = Field(default=None, max_length=100)
    bio: str | None = Field(default=None, max_length=2000)


class LifestyleWrite(Schema):
    smoking: Smoking | None = None
    drinking: Drinking | None = None
    religion: Religion | None = None
    exercise: Exercise | None = None


class PreferenceWrite(Schema):
    age_min: int | None = Field(default=None, ge=18, le=100)
    age_max: int | None = Field(default=None, ge=18, le=100)
    height_min_cm: int | None = Field(default=None, ge=100, le=250)
    height_max_cm: int | None = Field(default=None, ge=100, le=250)
    regions: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _ranges(self) -> PreferenceWrite:
        if self.age_min is not None and self.age_max is not None and self.age_min > self.age_max:
            raise ValueError("age_min is greater than age_max")
        if (
            self.height_min_cm is not None
            and self.height_max_cm is not None
            and self.height_min_cm > self.height_max_cm
        ):
            raise ValueError("height_min_cm is greater than height_max_cm")
        return self


class MemberCreate(Schema):
    """A new member with a profile, and optionally lifestyle and preference; created pending unless said."""

    phone: str = Field(pattern=PHONE_PATTERN, description="E.164, e.g. +821012345678")
    name: str = Field(min_length=1, max_length=100)
    gender: Gender
    birth_year: int = Field(ge=1900, le=2100)
    status: MemberStatus = MemberStatus.pending
    profile: ProfileWrite
    lifestyle: LifestyleWrite | None = None
    preference: PreferenceWrite | None = None


class MemberUpdate(Schema):
    """A partial edit: given fields change, absent ones stay; status changes go through the review actions."""

    phone: str | None = Field(default=None, pattern=PHONE_PATTERN)
    name: str | None = Field(default=None, min_length=1, max_length=100)
    gender: Gender | None = None
    birth_year: int | None = Field(default=None, ge=1900, le=2100)
    profile: ProfileWrite | None = None
    lifestyle: LifestyleWrite | None = None
    preference: PreferenceWrite | None = None


class MemberReplace(MemberUpdate):
    """react-admin's PUT: the record as GET returned it, edited.

    Read-only fields may be echoed back but not changed (a change is refused); `version` acts as If-Match.
    The computed parts (photos, documents, subscription, photo URL) are not writable here and are skipped.
    """

    id: uuid.UUID | None = None
    version: int | None = None
    status: MemberStatus | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    deleted_at: datetime | None = None
    photo_url: str | None = None
    subscription: dict[str, Any] | None = None
    photos: list[dict[str, Any]] | None = None
    documents: list[dict[str, Any]] | None = None


READ_ONLY_ECHO = ("id", "status", "created_at", "deleted_at")
COMPUTED = ("version", "updated_at", "photo_url", "subscription", "photos", "documents")


class ReviewDecision(Schema):
    reason: str | None = Field(default=None, max_length=2000, description="Required to reject or suspend")


class NoteCreate(Schema):
    content: str = Field(min_length=1, max_length=10_000)


class NoteRead(ReadSchema):
    id: uuid.UUID
    user_id: uuid.UUID
    author_id: uuid.UUID | None
    kind: NoteKind
    content: str
    created_at: datetime
