"""What the API reads and returns about members."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from pydantic import Field

from backend.domain.member.models import (
    DocumentStatus,
    DocumentType,
    Gender,
    MemberStatus,
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

    items: list[MemberRead]
    total: int | None
    next_cursor: str | None
