"""Reason codes: the closed list every moderation decision names, with the label an operator reads."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from backend.domain.schemas import NOT_BLANK, NOT_NULL, Choice, ReadSchema, Schema


class ReasonCode(StrEnum):
    fake_profile = "fake_profile"
    underage = "underage"
    nudity = "nudity"
    violence = "violence"
    hate = "hate"
    harassment = "harassment"
    scam = "scam"
    spam = "spam"
    impersonation = "impersonation"
    illegal = "illegal"
    off_platform = "off_platform"
    other = "other"


LABELS: dict[ReasonCode, str] = {
    ReasonCode.fake_profile: "Fake profile",
    ReasonCode.underage: "Under the minimum age",
    ReasonCode.nudity: "Nudity or sexual content",
    ReasonCode.violence: "Violence or gore",
    ReasonCode.hate: "Hate speech or symbols",
    ReasonCode.harassment: "Harassment or bullying",
    ReasonCode.scam: "Scam or fraud",
    ReasonCode.spam: "Spam or advertising",
    ReasonCode.impersonation: "Impersonation",
    ReasonCode.illegal: "Illegal goods or activity",
    ReasonCode.off_platform: "Moving contact off the platform",
    ReasonCode.other: "Other (explain in the reason)",
}

FREE_TEXT_REQUIRED = frozenset({ReasonCode.other})
"""Codes that say too little on their own: a decision with one of them needs a free-text reason."""


def needs_reason(code: ReasonCode) -> bool:
    """Whether a decision with `code` must also carry a free-text reason."""
    return code in FREE_TEXT_REQUIRED


REASON_MAX_LENGTH = 2000
_CODES = frozenset(code.value for code in ReasonCode)

# `other` needs a reason, as JSON Schema says it: every body with a reason code carries this rule.
OTHER_NEEDS_REASON: dict[str, Any] = {
    "if": {"properties": {"reason_code": {"const": ReasonCode.other.value}}, "required": ["reason_code"]},
    # Required and a string: `reason` may otherwise be null, which `required` alone would let through.
    "then": {"required": ["reason"], "properties": {"reason": {"type": "string"}}},
}


def known_code(code: Any) -> Any:
    """A `before` validator of a reason_code field: an unknown code is a 422 naming it (and where the codes are)."""
    if isinstance(code, str) and code not in _CODES:
        raise PydanticCustomError(
            "unknown_reason_code",
            "Unknown reason code '{code}'; GET /api/v1/admin/reason-codes lists the codes",
            # Shown as UTF-8 can carry it: a lone surrogate in the code would break the message's rendering.
            {"code": code[:100].encode("utf-8", "backslashreplace").decode("utf-8")},
        )
    return code


def explained(text: str | None, info: ValidationInfo, what: str) -> str | None:
    """A field validator's check that a code needing free text (`other`) came with it; `what` names the text."""
    code = info.data.get("reason_code")
    if text is None and code is not None and needs_reason(code):
        raise PydanticCustomError(
            "reason_required", "{what} is required when reason_code is {code}", {"what": what, "code": str(code)}
        )
    return text


class Reasoned(Schema):
    """A decision that says why: a code from the closed list and free text, which `other` requires.

    Reject, suspend and ban bodies, and the rejection of a photo or document, derive from it; the JSON Schema
    says the same (`if reason_code is other then reason is required`), so a generated client knows the rule."""

    model_config = Schema.model_config | {"json_schema_extra": OTHER_NEEDS_REASON}

    reason_code: Choice[ReasonCode]
    reason: Annotated[str, Field(min_length=1, max_length=REASON_MAX_LENGTH), NOT_BLANK] | None = Field(
        default=None, validate_default=True
    )

    @field_validator("reason_code", mode="before")
    @classmethod
    def _known(cls, code: Any) -> Any:
        return known_code(code)

    @field_validator("reason", mode="after")
    @classmethod
    def _explained(cls, reason: str | None, info: ValidationInfo) -> Any:
        return explained(reason, info, "A reason")


class MaybeReasoned(Reasoned):
    """A body whose reason code applies to some of its decisions only (a bulk's approve, a photo's approval).

    `reason_code` may be left out (not sent as null); the subclass says when it is required (a model validator
    raising `field_error`, so that the problem names the field) and keeps OTHER_NEEDS_REASON beside its own rules
    in its JSON Schema (`allOf` of if/then)."""

    reason_code: Annotated[Choice[ReasonCode] | None, NOT_NULL] = None  # type: ignore[assignment]


def field_error(model: str, field: str, kind: str, message: str, value: Any = None) -> ValidationError:
    """A validation error about `field` raised from a model validator (which would otherwise name no field)."""
    return ValidationError.from_exception_data(
        model, [InitErrorDetails(type=PydanticCustomError(kind, message), loc=(field,), input=value)]
    )


class ReasonCodeRead(ReadSchema):
    """A reason code as clients list it (`id` is the code, as react-admin's references want)."""

    id: ReasonCode
    label: str
    reason_required: bool = Field(description="Whether a decision with this code needs a free-text reason")


def reason_codes() -> list[ReasonCodeRead]:
    """Every reason code with its label, in the list's order."""
    return [ReasonCodeRead(id=code, label=LABELS[code], reason_required=needs_reason(code)) for code in ReasonCode]
