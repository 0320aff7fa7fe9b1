"""Every table, imported in one place for Alembic and the tests."""

from backend.domain.admin.models import AdminUser, ApiKey
from backend.domain.audit.models import AuditLog
from backend.domain.auth.models import LoginFailure
from backend.domain.base import metadata
from backend.domain.dashboard.models import ModerationCount, SignupHour
from backend.domain.idempotency.models import IdempotencyItem, IdempotencyKey
from backend.domain.member.models import (
    MemberCount,
    MemberNote,
    MemberTotal,
    PhoneBlock,
    User,
    UserDocument,
    UserLifestyle,
    UserPhoto,
    UserPreference,
    UserProfile,
    UserSubscription,
)
from backend.domain.outbox.models import OutboxEvent
from backend.domain.privacy.models import AccessLog
from backend.domain.queue.models import QueueCount
from backend.domain.refresh.models import RefreshFamily, RefreshToken
from backend.domain.report.models import Report

__all__ = [
    "AccessLog",
    "AdminUser",
    "ApiKey",
    "AuditLog",
    "IdempotencyItem",
    "IdempotencyKey",
    "LoginFailure",
    "MemberCount",
    "MemberNote",
    "MemberTotal",
    "ModerationCount",
    "OutboxEvent",
    "PhoneBlock",
    "QueueCount",
    "RefreshFamily",
    "RefreshToken",
    "Report",
    "SignupHour",
    "User",
    "UserDocument",
    "UserLifestyle",
    "UserPhoto",
    "UserPreference",
    "UserProfile",
    "UserSubscription",
    "metadata",
]
