"""Housekeeping: what would otherwise pile up forever, removed in small batches by every API process.

- **Delivered outbox events** older than OUTBOX_KEEP_DELIVERED_DAYS are deleted (pending and dead ones stay:
  operators list and retry those).
- **Idempotency-Key records** older than IDEMPOTENCY_KEY_HOURS are deleted: a retry is answered from its record
  for at least that long.
- **Ended console sessions**: refresh families past their max age (REFRESH_MAX_AGE_SECONDS) are deleted with
  their tokens.
- **Abandoned photo uploads**: a photo still `uploading` PHOTO_UPLOAD_GRACE_SECONDS after its upload form expired
  is removed as an operator's DELETE would (the order closed, audited as `photo.upload_abandoned`, its objects
  deleted by the outbox worker in case the file did arrive), also when its member was deleted meanwhile (the
  form outlived that), each in a transaction of its own that re-checks the photo under the same locks as every
  other photo write, so a completion that wins the race is kept. Documents likewise (their form lives
  DOCUMENT_UPLOAD_TTL_SECONDS; the same grace), audited as `document.upload_abandoned`.
- **Retention**: members soft-deleted more than ERASE_DELETED_AFTER_DAYS ago (0 turns it off) are erased
  (backend/domain/privacy), each in a transaction of its own that locks it with SKIP LOCKED and checks it again,
  audited as `member.erased` by "memberdesk housekeeping".
- **Timed suspensions** whose `suspended_until` has passed are lifted: the member is active again, with a note, an
  audit row by "memberdesk housekeeping" and a `member.unsuspended` event, each member in a transaction of its own
  that locks it with SKIP LOCKED and checks it again (an operator deciding it at that moment wins; one who decided
  it since the candidates were listed is seen).

Deletions take rows with SKIP LOCKED, so processes running passes at the same time share the work instead of
queueing, and each chore stops after MAX_BATCHES batches: a backlog is worked off over several passes, never in
one long transaction.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from backend.domain.document import service as documents
from backend.domain.document.service import DocumentService
from backend.domain.idempotency import service as idempotency
from backend.domain.identity import HOUSEKEEPING, AuditContext
from backend.domain.member import writes as member_writes
from backend.domain.member.writes import MemberWriteService
from backend.domain.outbox import service as outbox
from backend.domain.photo import service as photos
from backend.domain.photo.service import PhotoService
from backend.domain.privacy import service as privacy
from backend.domain.privacy.service import ErasureService
from backend.domain.refresh import service as refresh_sessions
from backend.domain.sessions import AsyncWriteSession
from backend.infrastructure.database import Database
from backend.infrastructure.progress import Progress
from backend.infrastructure.settings import Settings
from backend.infrastructure.storage import Storage
from backend.runtime.task import BackgroundTask

logger = logging.getLogger(__name__)

BATCH = 1000
MAX_BATCHES = 20
CHORES = 7
"""Chores in a pass (what `memberdesk housekeep` counts its progress in)."""
FIRST_PASS_WITHIN_SECONDS = 60.0  # processes started together spread their first passes over this


@dataclass(frozen=True)
class HousekeepingReport:
    """What one pass removed."""

    delivered_events: int
    idempotency_keys: int
    abandoned_uploads: int
    suspensions_lifted: int = 0
    ended_sessions: int = 0
    members_erased: int = 0

    @property
    def removed(self) -> int:
        return (
            self.delivered_events
            + self.idempotency_keys
            + self.abandoned_uploads
            + self.suspensions_lifted
            + self.ended_sessions
            + self.members_erased
        )


class Housekeeper(BackgroundTask):
    """Runs a pass every HOUSEKEEPING_INTERVAL_SECONDS (with a tenth of jitter) for the app's life."""

    name = "housekeeping"

    def __init__(self, database: Database, storage: Storage, settings: Settings) -> None:
        super().__init__()
        self.database = database
        self.storage = storage
        self.settings = settings
        self.interval = settings.housekeeping_interval_seconds

    def start(self) -> None:
        """Start the passes (none when HOUSEKEEPING_INTERVAL_SECONDS is 0)."""
        if self.interval > 0:
            super().start()

    async def run_once(self, now: datetime | None = None, progress: Progress | None = None) -> HousekeepingReport:
        """One pass of every chore, with cut-offs counted back from `now`; `progress` counts the chores done."""
        now = now or datetime.now(UTC)
        s = self.settings
        delivered_before = now - timedelta(days=s.outbox_keep_delivered_days)
        keys_before = now - timedelta(hours=s.idempotency_key_hours)
        uploads_before = now - timedelta(seconds=s.photo_upload_ttl_seconds + s.photo_upload_grace_seconds)
        documents_before = now - timedelta(seconds=s.document_upload_ttl_seconds + s.photo_upload_grace_seconds)

        async def delivered(session: AsyncWriteSession) -> int:
            return await outbox.prune_delivered(session, delivered_before=delivered_before, limit=BATCH)

        async def keys(session: AsyncWriteSession) -> int:
            return await idempotency.prune(session, created_before=keys_before, limit=BATCH)

        async def sessions(session: AsyncWriteSession) -> int:
            return await refresh_sessions.prune_expired(session, expired_before=now, limit=BATCH)

        chores: tuple[Callable[[], Awaitable[int]], ...] = (
            lambda: self._in_batches(delivered),
            lambda: self._in_batches(keys),
            lambda: self._abandon_uploads(uploads_before),
            lambda: self._abandon_document_uploads(documents_before),
            lambda: self._lift_suspensions(now),
            lambda: self._in_batches(sessions),
            lambda: self._erase_deleted(now),
        )
        assert len(chores) == CHORES, "CHORES counts the chores of a pass"
        done: list[int] = []
        for chore in chores:
            done.append(await chore())
            if progress is not None:
                progress.advance()
        delivered_events, idempotency_keys, photo_uploads, document_uploads, lifted, ended, erased = done
        return HousekeepingReport(
            delivered_events=delivered_events,
            idempotency_keys=idempotency_keys,
            abandoned_uploads=photo_uploads + document_uploads,
            suspensions_lifted=lifted,
            ended_sessions=ended,
            members_erased=erased,
        )

    async def _in_batches(self, delete_batch: Callable[[AsyncWriteSession], Awaitable[int]]) -> int:
        removed = 0
        for _ in range(MAX_BATCHES):
            async with self.database.write_sessions() as session, session.begin():
                count = await delete_batch(session)
            removed += count
            if count < BATCH:
                break
        return removed

    async def _abandon_uploads(self, started_before: datetime) -> int:
        async with self.database.write_sessions() as session, session.begin():
            candidates = await photos.abandoned_uploads(session, started_before=started_before, limit=BATCH)
        removed = 0
        for photo_id in candidates:
            async with self.database.write_sessions() as session, session.begin():
                service = PhotoService(
                    session,
                    AuditContext(HOUSEKEEPING, None),
                    self.storage,
                    max_bytes=self.settings.photo_max_bytes,
                    upload_ttl_seconds=self.settings.photo_upload_ttl_seconds,
                )
                if await service.abandon_upload(photo_id, started_before=started_before):
                    removed += 1
        return removed

    async def _abandon_document_uploads(self, started_before: datetime) -> int:
        async with self.database.write_sessions() as session, session.begin():
            candidates = await documents.abandoned_uploads(session, started_before=started_before, limit=BATCH)
        removed = 0
        for document_id in candidates:
            async with self.database.write_sessions() as session, session.begin():
                service = DocumentService(
                    session,
                    AuditContext(HOUSEKEEPING, None),
                    self.storage,
                    max_bytes=self.settings.document_max_bytes,
                    upload_ttl_seconds=self.settings.document_upload_ttl_seconds,
                )
                if await service.abandon_upload(document_id, started_before=started_before):
                    removed += 1
        return removed

    async def _each_member(
        self,
        candidates: Callable[[AsyncWriteSession], Awaitable[list[uuid.UUID]]],
        act: Callable[[AsyncWriteSession, uuid.UUID], Awaitable[bool]],
    ) -> int:
        """`act` on each candidate member in a transaction of its own (it locks and checks the member again), a
        batch of candidates at a time; how many it acted on."""
        done = 0
        for _ in range(MAX_BATCHES):
            async with self.database.write_sessions() as session, session.begin():
                found = await candidates(session)
            for member_id in found:
                async with self.database.write_sessions() as session, session.begin():
                    done += await act(session, member_id)
            if len(found) < BATCH:
                break
        return done

    async def _lift_suspensions(self, now: datetime) -> int:
        context = AuditContext(HOUSEKEEPING, None)

        async def lift(session: AsyncWriteSession, member_id: uuid.UUID) -> bool:
            service = MemberWriteService(session, context, self.storage, self.settings.phone_block_key())
            return await service.lift_suspension(member_id, now)

        return await self._each_member(
            lambda session: member_writes.expired_suspensions(session, now=now, limit=BATCH), lift
        )

    async def _erase_deleted(self, now: datetime) -> int:
        """Retention: members soft-deleted before the cut-off are erased, one transaction each."""
        if self.settings.erase_deleted_after_days <= 0:
            return 0
        before = now - timedelta(days=self.settings.erase_deleted_after_days)
        reason = f"Retention: deleted more than {self.settings.erase_deleted_after_days:g} days ago"
        context = AuditContext(HOUSEKEEPING, None)

        async def erase(session: AsyncWriteSession, member_id: uuid.UUID) -> bool:
            return await ErasureService(session, context).erase_if_deleted_before(member_id, before, reason)

        return await self._each_member(
            lambda session: privacy.deleted_before(session, before=before, limit=BATCH), erase
        )

    async def run(self) -> None:
        await asyncio.sleep(random.uniform(0.0, min(self.interval, FIRST_PASS_WITHIN_SECONDS)))
        while True:
            try:
                report = await self.run_once()
            except Exception as exc:  # a database outage: the next pass tries again
                logger.error("housekeeping pass failed: %s", exc, exc_info=True)
            else:
                if report.removed:
                    logger.info(
                        "housekeeping removed %d delivered outbox event(s), %d idempotency key(s), "
                        "%d abandoned upload(s); lifted %d suspension(s); erased %d member(s)",
                        report.delivered_events,
                        report.idempotency_keys,
                        report.abandoned_uploads,
                        report.suspensions_lifted,
                        report.members_erased,
                    )
            await asyncio.sleep(self.interval * random.uniform(0.9, 1.1))
