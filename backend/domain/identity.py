"""Who is calling: an operator or an internal tool's API key, with the role that bounds what it may do.

Every domain package speaks of identities, so they live here, in a module that imports nothing else of the
project: no package has to import another (admin, auth, audit) to name a role or an actor.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    viewer = "viewer"
    moderator = "moderator"
    admin = "admin"


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


COMMAND_LINE = Actor(ActorKind.system, None, None, "memberdesk command line")
HOUSEKEEPING = Actor(ActorKind.system, None, None, "memberdesk housekeeping")


@dataclass(frozen=True)
class AuditContext:
    """What every write records about its origin."""

    actor: Actor
    request_id: str | None
