"""The moderation queues: a page of photos or documents across members, each with its presigned URL and member."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from backend.domain.member.models import DocumentStatus, DocumentType, PhotoStatus
from backend.domain.ordering import Page, created_uuid_position
from backend.domain.queue import repository
from backend.domain.queue.repository import DOCUMENTS, PHOTOS, Queue, QueueQuery
from backend.domain.queue.schemas import DocumentQueueFilters, PhotoQueueFilters, QueueFilters
from backend.domain.sessions import ReadSessionFactory, Row
from backend.infrastructure.storage import Storage

_UPLOADING = frozenset({PhotoStatus.uploading.value, DocumentStatus.uploading.value})


class QueuePage:
    """One page of a queue: its items (mappings in the item schema's shape), the total, and the next cursor."""

    def __init__(self, items: list[dict[str, Any]], total: int | None, next_cursor: list[Any] | None) -> None:
        self.items = items
        self.total = total
        self.next_cursor = next_cursor


class QueueService:
    """Reads of the queues, each on a session of its own from the request's read target (as MemberService)."""

    def __init__(self, sessions: ReadSessionFactory, storage: Storage) -> None:
        self.sessions = sessions
        self.storage = storage

    async def photos(self, filters: PhotoQueueFilters, page: Page, after: Sequence[Any] | None) -> QueuePage:
        """Photos across members, oldest first unless the order says otherwise."""
        return await self._page(PHOTOS, filters, page, after)

    async def documents(self, filters: DocumentQueueFilters, page: Page, after: Sequence[Any] | None) -> QueuePage:
        """Documents across members, oldest first unless the order says otherwise."""
        return await self._page(DOCUMENTS, filters, page, after)

    async def _page(self, queue: Queue, filters: QueueFilters, page: Page, after: Sequence[Any] | None) -> QueuePage:
        query = QueueQuery(
            filters=filters,
            descending=page.order[0].descending,
            limit=page.limit,
            offset=page.offset,
            after=created_uuid_position(after),
        )
        async with self.sessions() as session:
            rows, total = await repository.list_items(session, queue, query, with_total=page.count)
        items = [_item(row) for row in rows]
        served = [item for item in items if item["status"] not in _UPLOADING]
        if queue is DOCUMENTS:  # short-lived attachments, none for identity documents (document_urls_of)
            served = [item for item in served if item["doc_type"] != DocumentType.identity.value]
            urls = await self.storage.presign_documents([item["s3_key"] for item in served])
        else:
            urls = await self.storage.presign_many([item["s3_key"] for item in served])
        for item, url in zip(served, urls, strict=True):
            item["url"] = url
        next_cursor = None
        if len(rows) == query.limit:
            last = rows[-1]
            next_cursor = [last["created_at"].isoformat(), str(last["id"])]
        return QueuePage(items, total, next_cursor)


def _item(row: Row) -> dict[str, Any]:
    item = {key: value for key, value in dict(row).items() if key not in ("member_name", "member_status", "total")}
    item["url"] = None
    item["member"] = {"id": row["member_id"], "name": row["member_name"], "status": row["member_status"]}
    return item
