"""Reason codes: the closed list every moderation decision names, with the label an operator reads."""

from __future__ import annotations

from enum import StrEnum


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
