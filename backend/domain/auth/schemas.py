"""Login and identity."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import Field

from backend.domain.identity import Role
from backend.domain.schemas import ReadSchema, Schema, shown_once

# Any text but control characters: a login names an email that may not exist, so it is not held to EMAIL_PATTERN.
LOGIN_EMAIL_PATTERN = r"^[^\x00-\x1f\x7f]+$"


class LoginRequest(Schema):
    email: str = Field(min_length=3, max_length=320, pattern=LOGIN_EMAIL_PATTERN)
    password: str = Field(min_length=1, max_length=1024)


class PasswordChange(Schema):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=12, max_length=1024)


class SessionRequest(Schema):
    """The body of refresh and logout: an empty JSON object (a JSON body is what keeps other sites out)."""


class TokenRead(ReadSchema):
    access_token: str | None = shown_once("The bearer token")
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int = Field(description="Seconds until the token expires")


class MeRead(ReadSchema):
    kind: Literal["operator", "api_key"]
    id: uuid.UUID
    name: str
    role: Role
    email: str | None = None
