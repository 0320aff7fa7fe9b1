"""Claims: a moderator's lease on a queue item, so that two moderators never work the same one.

An item (a pending member, photo, document or report) carries `claimed_by` (the id of the operator or API key
that took it from its queue) and `claimed_until`. A claim past `claimed_until` has lapsed: the item is back in
its queue and anyone may decide it. While a claim holds, a decision by anyone but its holder is a 409 naming the
holder, unless an admin forces it (and the caller audits that); a decision by anyone releases the claim.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Protocol

from backend.domain.claims import repository
from backend.domain.errors import ConflictError, PermissionDenied
from backend.domain.identity import Actor, Role
from backend.domain.sessions import AnySession


class Claimable(Protocol):
    claimed_by: uuid.UUID | None
    claimed_until: datetime | None


class ClaimedByOther(ConflictError):
    title = "Claimed by another operator"


def check_force(actor: Actor, force: bool) -> None:
    """403 for `force` asked by anyone but an admin, whether or not a claim stands in the way (a decision asks it
    up front, so that a bulk request is refused whole rather than item by item)."""
    if force and not actor.can(Role.admin):
        raise PermissionDenied("Only an admin may decide past another operator's claim (force=true).", field="force")


def holds(item: Claimable, now: datetime | None = None) -> bool:
    """Whether a claim on `item` is in force."""
    until = item.claimed_until
    return item.claimed_by is not None and until is not None and until > (now or datetime.now(UTC))


async def check(session: AnySession, item: Claimable, actor: Actor, *, force: bool = False) -> bool:
    """Let `actor` decide `item`, or raise: 409 naming the holder of a claim in force, 403 for `force` by a
    non-admin. True when an admin's `force` overrode someone else's claim (the caller records that)."""
    holder, until = item.claimed_by, item.claimed_until
    if holder is None or until is None or until <= datetime.now(UTC) or holder == actor.id:
        return False
    if force:
        if not actor.can(Role.admin):
            raise PermissionDenied("Only an admin may override another operator's claim (force=true).")
        return True
    name = await repository.holder_name(session, holder) or "an operator no longer known"
    raise ClaimedByOther(
        f"{name} is working on this item until {until.isoformat()}; "
        "take another from the queue, or wait until the claim lapses.",
        claimed_by=str(holder),
        claimed_by_name=name,
        claimed_until=until.isoformat(),
    )


def release(item: Claimable) -> dict[str, str | None]:
    """End the claim on `item`: a decision has been made. Answers the claim released, as an audit row shows it."""
    holder, until = item.claimed_by, item.claimed_until
    item.claimed_by = None
    item.claimed_until = None
    return {
        "claimed_by": str(holder) if holder is not None else None,
        "claimed_until": until.isoformat() if until is not None else None,
    }


def overridden(released: dict[str, str | None]) -> dict[str, object]:
    """The audit change that records an admin's decision past someone else's claim (`released` by `release`)."""
    return {"before": released, "after": None}
