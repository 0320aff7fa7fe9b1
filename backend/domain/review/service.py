"""Claiming: a moderator takes the oldest unclaimed item of a queue, so that two never work the same one."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from backend.domain.audit.service import AuditTrail, changes
from backend.domain.errors import PermissionDenied
from backend.domain.identity import AuditContext
from backend.domain.privacy.service import DocumentAccess
from backend.domain.report import repository as reports
from backend.domain.report.schemas import MemberSummary
from backend.domain.report.service import report_of
from backend.domain.review import repository
from backend.domain.review.schemas import ClaimedDocument, ClaimedItem, ClaimedPhoto, Queue
from backend.domain.sessions import AsyncWriteSession, Row
from backend.infrastructure.storage import Storage

# The audit trail's entity type of each queue's items.
ENTITIES: Mapping[Queue, str] = {
    Queue.members: "member",
    Queue.photos: "photo",
    Queue.documents: "document",
    Queue.reports: "report",
}


class ReviewService:
    def __init__(
        self, session: AsyncWriteSession, context: AuditContext, storage: Storage, *, claim_seconds: int
    ) -> None:
        self.session = session
        self.context = context
        self.storage = storage
        self.claim_seconds = claim_seconds
        self.audit = AuditTrail(session, context)

    async def claim_next(self, queue: Queue, exclude: Sequence[uuid.UUID] = ()) -> ClaimedItem | None:
        """The oldest unclaimed item of `queue` (but those the caller skipped, `exclude`), now the caller's for
        REVIEW_CLAIM_SECONDS (audited as `<entity>.claimed`); None when nothing waits. A lapsed claim is taken
        over like a fresh item."""
        holder = self.context.actor.id
        if holder is None:
            raise PermissionDenied("Only an operator or an API key can claim queue items.")
        row = await repository.claim_next(self.session, queue, holder, self.claim_seconds, exclude)
        if row is None:
            return None
        before = {"claimed_by": row["previous_by"], "claimed_until": row["previous_until"]}
        after = {"claimed_by": row["claimed_by"], "claimed_until": row["claimed_until"]}
        await self.audit.record(f"{ENTITIES[queue]}.claimed", ENTITIES[queue], row["id"], changes(before, after))
        return await self._item(queue, row)

    async def release(self, queue: Queue, item_id: uuid.UUID) -> bool:
        """Give back the caller's claim on an item it skipped (audited as `<entity>.released`): the item is back
        in its queue, at its place, for the next claimer. False when the caller held no claim on it."""
        holder = self.context.actor.id
        if holder is None:
            return False
        row = await repository.release(self.session, queue, item_id, holder)
        if row is None:
            return False
        before = {"claimed_by": row["claimed_by"], "claimed_until": row["claimed_until"]}
        after = {"claimed_by": None, "claimed_until": None}
        await self.audit.record(f"{ENTITIES[queue]}.released", ENTITIES[queue], item_id, changes(before, after))
        return True

    async def _item(self, queue: Queue, row: Row) -> ClaimedItem:
        member = MemberSummary(id=row["member_id"], name=row["member_name"], status=row["member_status"])
        item: dict[str, Any] = {
            "queue": queue,
            "id": row["id"],
            "claimed_by": row["claimed_by"],
            "claimed_until": row["claimed_until"],
            "waiting_since": row["created_at"],
            "member": member,
        }
        if queue is Queue.photos:
            url = await self.storage.presign_get(row["s3_key"])
            item["photo"] = ClaimedPhoto.model_validate({**dict(row), "url": url})
        elif queue is Queue.documents:
            # The claimed document is handed to its reviewer: for an identity document, a logged sensitive read.
            await DocumentAccess(self.session, self.context, self.storage).record(
                row["id"], row["member_id"], row["doc_type"]
            )
            [url] = await self.storage.presign_documents([row["s3_key"]])
            item["document"] = ClaimedDocument.model_validate({**dict(row), "url": url})
        elif queue is Queue.reports:
            item["report"] = report_of((await reports.reports_by_id(self.session, [row["id"]]))[0])
        return ClaimedItem.model_validate(item)
