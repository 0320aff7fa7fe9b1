"""Member reads: the list with its total, and the detail with presigned URLs."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from backend.domain import ordering
from backend.domain.errors import BadRequest, NotFoundError
from backend.domain.member import list_repository, repository
from backend.domain.member.list_repository import MemberListQuery
from backend.domain.member.loader import LoaderKind, load_detail
from backend.domain.member.models import DocumentType
from backend.domain.member.schemas import (
    MemberDetailRead,
    MemberFilters,
    MemberPage,
    NoteRead,
)
from backend.domain.ordering import SortKey
from backend.domain.schemas import SMALLINT_MAX, check_text
from backend.domain.sessions import ReadSessionFactory
from backend.domain.timebounds import end_of, in_utc, start_of
from backend.infrastructure.storage import Storage

DEFAULT_ORDER = (SortKey("created_at", descending=True),)
CountMode = Literal["exact", "estimated", "none"]
# `count=estimated` (a search's default) counts exactly up to this many rows, and answers the planner's estimate
# (never below EXACT_COUNT_BELOW + 1) only past it (docs/decisions.md: "A search is counted up to 10,000").
EXACT_COUNT_BELOW = 10_000
EXPORT_QUEUE_CHUNKS = 16
MAX_CURSOR_TEXT = 1000  # longer than any sortable text column


def total_order(order: Sequence[SortKey]) -> tuple[SortKey, ...]:
    """The requested order (or the default) with `id` appended, so that no two rows tie."""
    return ordering.total_order(order, DEFAULT_ORDER)


def _cursor_value(field: str, value: Any) -> Any:
    """A cursor's value for `field`, as its column holds it: the cursor is signed, but a value that could not be
    stored is refused all the same rather than handed to the driver."""
    try:
        if field == "id":
            return uuid.UUID(str(value))
        if field in ("created_at", "updated_at"):
            parsed = datetime.fromisoformat(str(value))
            if parsed.tzinfo is None:
                raise ValueError("naive timestamp")
            return in_utc(parsed)
        if field == "birth_year":
            if not isinstance(value, int) or isinstance(value, bool) or not -SMALLINT_MAX - 1 <= value <= SMALLINT_MAX:
                raise ValueError("not a smallint")
            return value
        if not isinstance(value, str) or len(value) > MAX_CURSOR_TEXT:
            raise ValueError("not a short string")
        return check_text(value)
    except ValueError as exc:
        raise BadRequest("The cursor is not valid for this list.", parameter="cursor") from exc


def _cursor_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _with_url(item: Mapping[str, Any], url: str | None) -> dict[str, Any]:
    return {**item, "url": url}


async def document_urls_of(documents: Sequence[Mapping[str, Any]], storage: Storage) -> list[str | None]:
    """Short-lived attachment URLs of documents, but none for identity documents: issuing one of those is a
    sensitive read, logged (POST /admin/documents/{id}/url, backend/domain/privacy), never a side effect of a read."""
    shown = [d for d in documents if d["doc_type"] != DocumentType.identity.value]
    urls = iter(await storage.presign_documents([d["s3_key"] for d in shown]))
    return [None if d["doc_type"] == DocumentType.identity.value else next(urls) for d in documents]


async def detail_of(row: Mapping[str, Any], storage: Storage) -> MemberDetailRead:
    """The detail answer from a loaded row: relations, and presigned URLs for photos and documents."""
    photos = row["photos"]
    documents = row["documents"]
    photo_urls = await storage.presign_many([photo["s3_key"] for photo in photos])
    document_urls = await document_urls_of(documents, storage)
    return MemberDetailRead.model_validate(
        {
            **row,
            "photos": [_with_url(p, url) for p, url in zip(photos, photo_urls, strict=True)],
            "documents": [_with_url(d, url) for d, url in zip(documents, document_urls, strict=True)],
        }
    )


class MemberService:
    """Read operations on members.

    Each operation reads on a session of its own from the request's read target, held only while its
    statements run: in autocommit there is no transaction for the request to own, and the connection is
    back in the pool before the answer is serialised and sent.
    """

    def __init__(
        self,
        sessions: ReadSessionFactory,
        storage: Storage,
        tz: ZoneInfo,
        loader_kind: LoaderKind = LoaderKind.joined,
    ) -> None:
        self.sessions = sessions
        self.loader_kind = loader_kind
        self.storage = storage
        self.tz = tz

    def build_query(
        self,
        filters: MemberFilters,
        order: Sequence[SortKey],
        *,
        limit: int,
        offset: int = 0,
        after: Sequence[Any] | None = None,
    ) -> MemberListQuery:
        """Resolve filters and paging into a query; the cursor's values must match the order.

        A range whose minimum lies above its maximum (birth years, sign-up dates) is valid and matches nobody.
        """
        full_order = total_order(order)
        after_values = None
        if after is not None:
            if len(after) != len(full_order):
                raise BadRequest("The cursor is not valid for this list.", parameter="cursor")
            after_values = tuple(_cursor_value(o.field, v) for o, v in zip(full_order, after, strict=True))
        return MemberListQuery(
            filters=filters,
            created_from=start_of(filters.signed_up_from, self.tz) if filters.signed_up_from else None,
            created_before=end_of(filters.signed_up_to, self.tz) if filters.signed_up_to else None,
            order=full_order,
            limit=limit,
            offset=offset,
            after=after_values,
        )

    async def list_members(self, query: MemberListQuery, count: CountMode = "exact") -> MemberPage:
        """A page of members, each with its first photo's URL, and the total as asked.

        The items are plain mappings in MemberRead's shape, straight from the rows: the list is the hottest
        read, and the rows' types are already the answer's (the schema still documents it in OpenAPI).
        """
        # A total the counters do not hold (a search, above all) is counted up to EXACT_COUNT_BELOW rows with
        # count=estimated; past that, the planner's estimate is the answer.
        bounded = count == "estimated" and not list_repository.counters_answer(query)
        async with self.sessions() as session:
            rows, total = await list_repository.list_members(
                session, query, with_total=count != "none", total_cap=EXACT_COUNT_BELOW + 1 if bounded else None
            )
            if bounded and total is not None and total > EXACT_COUNT_BELOW:
                total = max(total, await list_repository.estimate_members(session, query))
        items = [dict(row) for row in rows]
        keys = [item.pop("photo_key") for item in items]
        urls = iter(await self.storage.presign_many([key for key in keys if key]))
        for item, key in zip(items, keys, strict=True):
            item.pop("total", None)
            item["photo_url"] = next(urls) if key else None
        next_cursor = None
        if len(rows) == query.limit:
            last = rows[-1]
            next_cursor = [_cursor_json(last[o.field]) for o in query.order]
        return MemberPage(items=items, total=total, next_cursor=next_cursor)

    async def get_member(self, member_id: uuid.UUID) -> MemberDetailRead:
        """The member with every relation and presigned URLs; NotFoundError when absent or deleted."""
        async with self.sessions() as session:
            row = await load_detail(self.loader_kind, session, self.sessions, member_id)
        if row is None:
            raise NotFoundError(f"No member with id {member_id}.")
        return await detail_of(row, self.storage)

    async def list_notes(self, member_id: uuid.UUID, *, limit: int, offset: int) -> tuple[list[NoteRead], int]:
        """A member's notes, newest first, and how many there are."""
        async with self.sessions() as session:
            found = await repository.list_notes(session, member_id, limit=limit, offset=offset)
        if found is None:
            raise NotFoundError(f"No member with id {member_id}.")
        notes, total = found
        return [NoteRead.model_validate(n) for n in notes], total

    async def export_csv(self, query: MemberListQuery) -> AsyncIterator[bytes]:
        """The members of `query` as CSV chunks, streamed from a session of its own while the client reads.

        Returns once the query has produced its first rows (or ended), so that a failure until then (a bad
        value, a statement timeout, a lost replica) is raised here and answered with an error status; a failure
        after that ends the stream with the exception, and the client sees a truncated answer, never a hang.
        """
        stream = self._export(query)
        try:
            first = await anext(stream)
        except BaseException:
            await stream.aclose()
            raise
        return _prepended(first, stream)

    async def _export(self, query: MemberListQuery) -> AsyncGenerator[bytes, None]:
        """The header with the first rows, then the rest as the copy goes.

        A bounded queue couples PostgreSQL's COPY to the client's pace, so a slow reader holds back the copy
        instead of filling memory. The copy ends by putting its outcome in the queue (None, or the exception),
        so the reader always learns how it ended.
        """
        chunks: asyncio.Queue[bytes | _Failed | None] = asyncio.Queue(maxsize=EXPORT_QUEUE_CHUNKS)

        async def copy() -> None:
            try:
                async with self.sessions() as session:
                    await list_repository.export_csv(session, query, chunks.put)
            except asyncio.CancelledError:
                raise  # the reader is gone: nobody to tell
            except Exception as exc:  # handed to the reader, which raises it
                await chunks.put(_Failed(exc))
                return
            await chunks.put(None)

        task = asyncio.create_task(copy())
        try:
            first = _unwrap(await chunks.get())
            yield list_repository.EXPORT_HEADER + (first or b"")
            if first is None:
                return  # nothing matched
            while (chunk := _unwrap(await chunks.get())) is not None:
                yield chunk
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


class _Failed:
    """The copy's exception, carried through the queue to the reader."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def _unwrap(chunk: bytes | _Failed | None) -> bytes | None:
    if isinstance(chunk, _Failed):
        raise chunk.error
    return chunk


async def _prepended(first: bytes, rest: AsyncGenerator[bytes, None]) -> AsyncIterator[bytes]:
    try:
        yield first
        async for chunk in rest:
            yield chunk
    finally:
        await rest.aclose()
