"""Operators and API keys as the API reads and writes them."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field, field_validator

from backend.domain.identity import OperatorRole, Role
from backend.domain.schemas import (
    BLANK_CLASS,
    MAX_FILTER_VALUES,
    Choice,
    QueryBool,
    ReadSchema,
    Schema,
    Uuid,
    shown_once,
)

_EMAIL_PART = f"[^@\\u0000{BLANK_CLASS}]+"
EMAIL_PATTERN = f"^{_EMAIL_PART}@{_EMAIL_PART}\\.{_EMAIL_PART}$"


class OperatorCreate(Schema):
    email: str = Field(max_length=320, pattern=EMAIL_PATTERN)
    name: str = Field(min_length=1, max_length=100)
    role: Choice[OperatorRole] = Field(description="reporter is for API keys only")
    password: str = Field(min_length=12, max_length=1024)

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()


class OperatorUpdate(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    role: Choice[OperatorRole] | None = Field(default=None, description="reporter is for API keys only")
    is_active: bool | None = Field(default=None, description="false ends the operator's access at once")
    password: str | None = Field(default=None, min_length=12, max_length=1024)


class OperatorRead(ReadSchema):
    id: uuid.UUID
    email: str
    name: str
    role: Role
    is_active: bool
    created_at: datetime


class ApiKeyCreate(Schema):
    name: str = Field(min_length=1, max_length=100)
    role: Choice[Role] = Field(description="reporter: the app's backend, which may file reports and nothing else")


class ApiKeyRead(ReadSchema):
    id: uuid.UUID
    name: str
    prefix: str
    role: Role
    created_by: uuid.UUID | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str | None = shown_once("The key itself, kept only as a hash")


class OperatorFilters(Schema):
    """Filters of the operator list; they combine with AND."""

    role: list[Choice[Role]] | None = Field(default=None, max_length=MAX_FILTER_VALUES)
    is_active: QueryBool | None = None
    q: str | None = Field(default=None, min_length=1, max_length=100, description="Email or name substring")
    id: list[Uuid] | None = Field(default=None, max_length=MAX_FILTER_VALUES)


OPERATOR_SORT_FIELDS = frozenset({"created_at", "email", "name", "role", "id"})
OPERATOR_MULTI_VALUE = frozenset({"role", "id"})


class ApiKeyFilters(Schema):
    """Filters of the API key list; they combine with AND."""

    role: list[Choice[Role]] | None = Field(default=None, max_length=MAX_FILTER_VALUES)
    revoked: QueryBool | None = Field(default=None, description="true: revoked keys only; false: keys in use only")
    created_by: list[Uuid] | None = Field(
        default=None, max_length=MAX_FILTER_VALUES, description="Ids of the operators who created them"
    )
    q: str | None = Field(default=None, min_length=1, max_length=100, description="Name substring")
    id: list[Uuid] | None = Field(default=None, max_length=MAX_FILTER_VALUES)


API_KEY_SORT_FIELDS = frozenset({"created_at", "name", "role", "last_used_at", "id"})
API_KEY_MULTI_VALUE = frozenset({"role", "created_by", "id"})
