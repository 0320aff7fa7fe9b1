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
    # The app's backend, through an API key: it files reports about members and does nothing else.
    reporter = "reporter"


# The operators' ladder: each role may do what the ones below it may. A reporter stands outside it, below
# every operator role: it passes no operator role's check (not even a viewer's), and only a route that asks for
# `reporter` lets it in.
ROLE_RANK = {Role.reporter: -1, Role.viewer: 0, Role.moderator: 1, Role.admin: 2}


class OperatorRole(StrEnum):
    """The roles an operator (a person who logs in) may hold: every role but `reporter`, which is for keys."""

    viewer = "viewer"
    moderator = "moderator"
    admin = "admin"


OPERATOR_ROLES = tuple(Role(role.value) for role in OperatorRole)
# Who may file a report: the reporter key, and the operators who moderate (a moderator relaying a complaint that
# reached support). A viewer only reads.
REPORT_FILERS = frozenset({Role.reporter, Role.moderator, Role.admin})


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
        """Whether this actor's role is `role` or above (for `reporter`: whether it may file reports)."""
        if self.role is None:
            return False
        if role is Role.reporter:
            return self.role in REPORT_FILERS
        return ROLE_RANK[self.role] >= ROLE_RANK[role] >= 0


COMMAND_LINE = Actor(ActorKind.system, None, None, "memberdesk command line")
HOUSEKEEPING = Actor(ActorKind.system, None, None, "memberdesk housekeeping")


@dataclass(frozen=True)
class AuditContext:
    """What every write records about its origin."""

    actor: Actor
    request_id: str | None
