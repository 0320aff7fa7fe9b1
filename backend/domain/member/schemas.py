"""What the API reads and returns about members."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from backend.domain.bulk import BulkIds
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
from backend.domain.reasons import (
    OTHER_NEEDS_REASON,
    REASON_MAX_LENGTH,
    MaybeReasoned,
    ReasonCode,
    Reasoned,
    field_error,
)
from backend.domain.schemas import (
    INT_TEXT,
    INTEGER_MAX,
    MAX_FILTER_VALUES,
    NOT_NULL,
    Choice,
    DayOrMoment,
    Moment,
    QueryBool,
    ReadSchema,
    Schema,
    Uuid,
)


class MemberFilters(Schema):
    """Filters of the member list; every one is optional and they combine with AND."""

    status: list[Choice[MemberStatus]] | None = Field(default=None, max_length=MAX_FILTER_VALUES)
    gender: list[Choice[Gender]] | None = Field(default=None, max_length=MAX_FILTER_VALUES)
    q: str | None = Field(default=None, min_length=1, max_length=100, description="Name substring or phone digits")
    signed_up_from: DayOrMoment | None = Field(default=None, description="Inclusive; a date is a day in ADMIN_TIMEZONE")
    signed_up_to: DayOrMoment | None = Field(default=None, description="Inclusive; a date covers the whole day")
    birth_year_min: Annotated[int, Field(ge=1900, le=2100), INT_TEXT] | None = None
    birth_year_max: Annotated[int, Field(ge=1900, le=2100), INT_TEXT] | None = None
    plan: list[Choice[Plan]] | None = Field(
        default=None, max_length=MAX_FILTER_VALUES, description="Members with an active subscription of these plans"
    )
    has_photos: QueryBool | None = None
    id: list[Uuid] | None = Field(default=None, max_length=MAX_FILTER_VALUES)
    include_deleted: QueryBool = False


# The member list sorts by these user columns (the repository orders by the same names); `id` ends every order.
MEMBER_SORT_FIELDS = frozenset({"created_at", "updated_at", "name", "birth_year", "status", "gender", "id"})
MULTI_VALUE_FILTERS = frozenset({"status", "gender", "plan", "id"})


class MemberFields(ReadSchema):
    """The user row's fields, common to the list and the detail."""

    id: uuid.UUID
    phone: str | None = Field(description="E.164; null once the member was erased")
    name: str
    gender: Gender
    birth_year: int
    status: MemberStatus
    suspended_until: datetime | None = Field(description="When a timed suspension ends (housekeeping lifts it)")
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    version: int


class MemberRead(MemberFields):
    """A member as listed, with the URL of their first photo."""

    photo_url: str | None = Field(description="Presigned URL of the first photo by display order")
    claimed_by: uuid.UUID | None = Field(
        default=None, description="Who took the member from the review queue (POST /reviews/next), while it holds"
    )
    claimed_until: datetime | None = Field(default=None, description="When that claim lapses")


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
    url: str | None = Field(
        description="Presigned GET URL (an attachment, DOCUMENT_URL_TTL_SECONDS); null for identity documents: "
        "POST /admin/documents/{id}/url issues one, and logs it"
    )


class MemberDetailRead(MemberFields):
    """A member with every relation; photos and documents carry presigned GET URLs."""

    profile: ProfileRead | None
    lifestyle: LifestyleRead | None
    preference: PreferenceRead | None
    subscription: SubscriptionRead | None
    photos: list[PhotoRead]
    documents: list[DocumentRead]
    open_reports: int = Field(description="Open reports about the member (GET /members/{id}/reports lists them)")
    total_reports: int = Field(description="Reports about the member, open or resolved")


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
    """What a member looks for; a minimum may not exceed its maximum (a 422 when both are given, a 409 when the
    other one is stored)."""

    age_min: int | None = Field(default=None, ge=18, le=100)
    age_max: int | None = Field(default=None, ge=18, le=100)
    height_min_cm: int | None = Field(default=None, ge=100, le=250)
    height_max_cm: int | None = Field(default=None, ge=100, le=250)
    regions: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _ranges(self) -> PreferenceWrite:
        for low, high in PREFERENCE_RANGES:
            low_value, high_value = getattr(self, low), getattr(self, high)
            if low_value is not None and high_value is not None and low_value > high_value:
                raise ValueError(f"{low} is greater than {high}")
        return self


# (minimum, maximum) pairs of a preference, also checked against the stored values by a partial edit.
PREFERENCE_RANGES = (("age_min", "age_max"), ("height_min_cm", "height_max_cm"))


class MemberCreate(Schema):
    """A new member with a profile, and optionally lifestyle and preference; created pending unless said."""

    phone: str = Field(pattern=PHONE_PATTERN, description="E.164, e.g. +821012345678")
    name: str = Field(min_length=1, max_length=100)
    gender: Choice[Gender]
    birth_year: int = Field(ge=1900, le=2100)
    status: Choice[MemberStatus] = MemberStatus.pending
    profile: ProfileWrite
    lifestyle: LifestyleWrite | None = None
    preference: PreferenceWrite | None = None


class MemberUpdate(Schema):
    """A partial edit: given fields change, absent ones stay; status changes go through the review actions."""

    # Absent means unchanged; these columns are never null, so null is refused (None only stands for absent).
    phone: Annotated[str | None, NOT_NULL] = Field(default=None, pattern=PHONE_PATTERN)
    name: Annotated[str | None, NOT_NULL] = Field(default=None, min_length=1, max_length=100)
    gender: Annotated[Choice[Gender] | None, NOT_NULL] = None
    birth_year: Annotated[int | None, NOT_NULL] = Field(default=None, ge=1900, le=2100)
    profile: ProfileWrite | None = None
    lifestyle: LifestyleWrite | None = None
    preference: PreferenceWrite | None = None


def _read_only(description: str) -> Any:
    return Field(default=None, description=description, json_schema_extra={"readOnly": True})


class MemberReplace(MemberUpdate):
    """react-admin's PUT: the record as GET returned it, edited.

    Read-only fields may be echoed back but not changed (a change is refused); `version` acts as If-Match.
    The computed parts (photos, documents, subscription, photo URL) are not writable here and are skipped.
    """

    id: Uuid | None = _read_only("The path's id, if echoed")
    version: int | None = Field(default=None, ge=1, le=INTEGER_MAX, description="As If-Match: 412 when stale")
    status: Choice[MemberStatus] | None = _read_only("Echoed unchanged; changes go through the review actions")
    suspended_until: Moment | None = _read_only("Echoed unchanged; changes go through the review actions")
    created_at: Moment | None = _read_only("Echoed unchanged")
    updated_at: Moment | None = _read_only("Ignored")
    deleted_at: Moment | None = _read_only("Echoed unchanged")
    photo_url: str | None = Field(default=None, max_length=4096, json_schema_extra={"readOnly": True})
    subscription: dict[str, Any] | None = _read_only("Ignored")
    photos: list[dict[str, Any]] | None = Field(default=None, max_length=1000, json_schema_extra={"readOnly": True})
    documents: list[dict[str, Any]] | None = Field(default=None, max_length=1000, json_schema_extra={"readOnly": True})
    open_reports: int | None = Field(default=None, ge=0, le=INTEGER_MAX, json_schema_extra={"readOnly": True})
    total_reports: int | None = Field(default=None, ge=0, le=INTEGER_MAX, json_schema_extra={"readOnly": True})
    claimed_by: Uuid | None = _read_only("Ignored (claims come from POST /reviews/next)")
    claimed_until: Moment | None = _read_only("Ignored")


READ_ONLY_ECHO = ("id", "status", "suspended_until", "created_at", "deleted_at")
COMPUTED = (
    "version",
    "updated_at",
    "photo_url",
    "subscription",
    "photos",
    "documents",
    "open_reports",
    "total_reports",
    "claimed_by",
    "claimed_until",
)


def _in_future(moment: datetime) -> datetime:
    if moment <= datetime.now(UTC):
        raise PydanticCustomError("past_until", "until must be in the future")
    return moment


FutureMoment = Annotated[Moment, AfterValidator(_in_future)]
FORCE_DESCRIPTION = "Admins only: decide even though another operator holds the item's claim (audited)"


class ReviewDecision(Schema):
    """An approval (or an unban): no reason code, an optional note."""

    reason: str | None = Field(default=None, max_length=REASON_MAX_LENGTH, description="A note on the decision")
    force: bool = Field(default=False, description=FORCE_DESCRIPTION)


class ReviewReason(Reasoned):
    """A rejection or a ban: a reason code, and free text (required for `other`)."""

    force: bool = Field(default=False, description=FORCE_DESCRIPTION)


class SuspensionReason(ReviewReason):
    """A suspension: a reason code, free text (required for `other`), and optionally when it ends."""

    until: Annotated[FutureMoment | None, NOT_NULL] = Field(
        default=None, description="A future moment: housekeeping lifts the suspension then (none: until lifted)"
    )


class MemberBulkAction(StrEnum):
    approve = "approve"
    reject = "reject"
    suspend = "suspend"
    ban = "ban"


_CODED_ACTIONS = [MemberBulkAction.reject.value, MemberBulkAction.suspend.value, MemberBulkAction.ban.value]


def _when_action(condition: dict[str, Any], then: dict[str, Any]) -> dict[str, Any]:
    return {"if": {"properties": {"action": condition}, "required": ["action"]}, "then": then}


class MemberBulk(MaybeReasoned):
    """One decision for many members: approve (an optional note as `reason`), or reject, suspend or ban (with a
    reason code, and for a suspension an optional `until`). Each member is decided in a transaction of its own."""

    model_config = MaybeReasoned.model_config | {
        "json_schema_extra": {
            "allOf": [
                OTHER_NEEDS_REASON,
                _when_action({"enum": _CODED_ACTIONS}, {"required": ["reason_code"]}),
                _when_action({"const": MemberBulkAction.approve.value}, {"not": {"required": ["reason_code"]}}),
                _when_action({"not": {"const": MemberBulkAction.suspend.value}}, {"not": {"required": ["until"]}}),
            ]
        }
    }

    action: Choice[MemberBulkAction]
    ids: BulkIds
    until: Annotated[FutureMoment | None, NOT_NULL] = Field(
        default=None, description="suspend only: when the suspensions end"
    )
    force: bool = Field(default=False, description=FORCE_DESCRIPTION)

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.action == MemberBulkAction.approve:
            if self.reason_code is not None:
                raise field_error("MemberBulk", "reason_code", "approve_coded", "approve takes no reason_code")
        elif self.reason_code is None:
            message = f"reason_code is required to {self.action.value}"
            raise field_error("MemberBulk", "reason_code", "reason_code_required", message)
        if self.until is not None and self.action != MemberBulkAction.suspend:
            raise field_error("MemberBulk", "until", "until_not_suspend", "until goes with suspend only")
        return self


class NoteCreate(Schema):
    content: str = Field(min_length=1, max_length=10_000)


class NoteRead(ReadSchema):
    id: uuid.UUID
    user_id: uuid.UUID
    author_id: uuid.UUID | None
    kind: NoteKind
    content: str
    reason_code: ReasonCode | None = Field(description="The reason code of a decision's note")
    created_at: datetime
