"""Who is calling: an operator or an internal tool's API key, with the role that bounds what it may do."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from backend.domain.admin.models import Role

ROLE_RANK = {Role.viewer: 0, Role.moderator: 1, Role.admin: 2}


class ActorKind(StrEnum):
    operator = "operator"
    api_key = "api_key"
    anonymous = "anonymous"
    system = "system"  # the command line: seeding, create-admin


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    id: uuid.UUID | None
    role: Role | None
    name: str

    def can(self, role: Role) -> bool:
        """Whether this actor's role is `role` or above."""
        return self.role is not None and ROLE_RANK[self.role] >= ROLE_RANK[role]


ANONYMOUS = Actor(ActorKind.anonymous, None, None, "anonymous")
COMMAND_LINE = Actor(ActorKind.system, None, None, "memberdesk command line")
HOUSEKEEPING = Actor(ActorKind.system, None, None, "memberdesk housekeeping")


@dataclass(frozen=True)
class AuditContext:
    """What every write records about its origin."""

    actor: Actor
    request_id: str | None
