"""Reports as the API reads and writes them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from backend.domain.member.models import MemberStatus
from backend.domain.reasons import REASON_MAX_LENGTH, ReasonCode, explained, known_code
from backend.domain.report.models import ReportAction, ReportStatus
from backend.domain.schemas import MAX_FILTER_VALUES, NOT_BLANK, NOT_NULL, Choice, ReadSchema, Schema, Uuid

ReportText = Annotated[str, Field(min_length=1, max_length=REASON_MAX_LENGTH), NOT_BLANK]


class ReportCreate(Schema):
    """A report from the app: who is reported, by whom (when known), why, and the reporter's own words."""

    model_config = Schema.model_config | {
        "json_schema_extra": {
            "if": {"properties": {"reason_code": {"const": ReasonCode.other.value}}, "required": ["reason_code"]},
            "then": {"required": ["text"], "properties": {"text": {"type": "string"}}},
        }
    }

    reported_member_id: Uuid
    reporter_member_id: Annotated[Uuid | None, NOT_NULL] = Field(
        default=None, description="The member who reported, when the app knows; reports without one are never merged"
    )
    reason_code: Choice[ReasonCode]
    text: ReportText | None = Field(
        default=None, validate_default=True, description="The reporter's words; required for reason_code other"
    )

    @field_validator("reason_code", mode="before")
    @classmethod
    def _known(cls, code: Any) -> Any:
        return known_code(code)

    @field_validator("text", mode="after")
    @classmethod
    def _explained(cls, text: str | None, info: ValidationInfo) -> Any:
        return explained(text, info, "A text")

    @field_validator("reporter_member_id", mode="after")
    @classmethod
    def _not_oneself(cls, reporter: uuid.UUID | None, info: ValidationInfo) -> Any:
        if reporter is not None and reporter == info.data.get("reported_member_id"):
            raise PydanticCustomError("self_report", "A member cannot report themself")
        return reporter


# What ReportResolve._coherent checks, as JSON Schema says it.
_COHERENT_RESOLUTION: dict[str, Any] = {
    "if": {"properties": {"status": {"const": ReportStatus.actioned.value}}},
    "then": {"required": ["action"], "properties": {"action": {"type": "string"}}},
    "else": {"properties": {"action": {"type": "null"}}},
}


class ReportResolve(Schema):
    """Close a report: `dismissed`, or `actioned` with the decision it led to."""

    model_config = Schema.model_config | {"json_schema_extra": _COHERENT_RESOLUTION}

    status: Literal["dismissed", "actioned"]
    action: Choice[ReportAction] | None = Field(
        default=None, validate_default=True, description="With actioned (and only then): the decision it led to"
    )
    note: Annotated[ReportText | None, NOT_NULL] = Field(default=None, description="What was done, for the record")
    force: bool = Field(default=False, description="An admin overriding another operator's claim (audited)")

    @field_validator("action", mode="after")
    @classmethod
    def _coherent(cls, action: ReportAction | None, info: ValidationInfo) -> Any:
        status = info.data.get("status")
        if status == ReportStatus.actioned.value and action is None:
            raise PydanticCustomError("action_required", "An actioned report names its action")
        if status == ReportStatus.dismissed.value and action is not None:
            raise PydanticCustomError("action_unexpected", "A dismissed report takes no action")
        return action


class MemberSummary(ReadSchema):
    id: uuid.UUID
    name: str
    status: MemberStatus


class ReportRead(ReadSchema):
    id: uuid.UUID
    reported_member_id: uuid.UUID
    reporter_member_id: uuid.UUID | None
    reason_code: ReasonCode
    text: str | None
    status: ReportStatus
    created_at: datetime
    filed_by: uuid.UUID | None = Field(description="The API key (or operator) that filed it")
    resolved_at: datetime | None
    resolved_by: uuid.UUID | None
    action: ReportAction | None
    resolution_note: str | None
    claimed_by: uuid.UUID | None
    claimed_until: datetime | None
    member: MemberSummary = Field(description="The reported member")


class ReportGroupRead(ReadSchema):
    """`group_by=member`: one row per reported member, with how many reports match and the newest of them."""

    id: uuid.UUID = Field(description="The reported member's id")
    member: MemberSummary
    reports: int = Field(description="Reports about the member that match the filters")
    first_reported_at: datetime
    last_reported_at: datetime
    newest: ReportRead


class ReportFilters(Schema):
    """Filters of the report list; they combine with AND."""

    status: list[Choice[ReportStatus]] | None = Field(default=None, max_length=MAX_FILTER_VALUES)
    reason_code: list[Choice[ReasonCode]] | None = Field(default=None, max_length=MAX_FILTER_VALUES)
    reported_member_id: list[Uuid] | None = Field(default=None, max_length=MAX_FILTER_VALUES)
    reporter_member_id: list[Uuid] | None = Field(default=None, max_length=MAX_FILTER_VALUES)
    id: list[Uuid] | None = Field(default=None, max_length=MAX_FILTER_VALUES)
    group_by: Literal["member"] | None = Field(
        default=None, description="member: one row per reported member, sorted by its newest matching report"
    )


REPORT_SORT_FIELDS = frozenset({"created_at"})
REPORT_MULTI_VALUE = frozenset({"status", "reason_code", "reported_member_id", "reporter_member_id", "id"})
