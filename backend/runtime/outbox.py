"""The outbox worker: delivers committed side effects, at least once, from any number of processes.

Why it works this way:

- **Written with the change.** `service.enqueue` inserts the event in the change's own transaction, so a change
  that rolls back leaves no event, and a committed change cannot lose its event, whatever happens to the
  process afterwards: the row waits in `outbox` until some worker delivers it.
- **Claimed with SKIP LOCKED, held by a lease.** A round claims due rows in a short transaction on the primary:
  `SELECT ... FOR UPDATE SKIP LOCKED` (concurrent claimers pass over each other's rows instead of queueing on
  them), `attempts + 1` and `next_attempt_at = now() + lease`, committed before anything is sent. No lock or
  transaction stays open while S3 or a webhook is called; the lease keeps every other worker off the event,
  and if this process dies the lease simply runs out and the event is claimed again.
- **Never twice at the same time.** Each attempt is cut off at three quarters of its lease, so a lease cannot
  expire while its delivery is still in flight. A failure is recorded only while the row still carries this
  attempt's number (a fencing token); a success is recorded whoever sent it.
- **At least once.** A process that dies after the target acted but before the outcome was recorded sends the
  event again once the lease ends. Targets must therefore be idempotent: S3 DeleteObject is, and webhook
  receivers dedupe on `X-Memberdesk-Delivery` (the event id, the same on every attempt).
- **Retries.** A failed attempt is due again after OUTBOX_BACKOFF_BASE_SECONDS * 2^(attempts - 1), capped at
  an hour, plus up to 25% random jitter so that events failing together do not retry in lockstep. After
  OUTBOX_MAX_ATTEMPTS attempts (or at once, for an event that can never succeed) the event is dead: listed by
  `GET /api/v1/admin/outbox?status=dead`, put back by `POST /api/v1/admin/outbox/{id}/retry`.
- **Throughput.** A round claims up to OUTBOX_BATCH_SIZE events (200) and sends up to DEFAULT_CONCURRENCY (50) at
  once, on aiohttp; its outcomes commit without waiting for the disk. Figures: README, "Performance".
- **Wake-ups.** `nudge()` after a commit that enqueued starts a round in this process, at once when the last one
  started ROUND_SPACING_SECONDS ago or more, else when it is that old: under a stream of commits a round takes
  what a few dozen milliseconds committed, instead of a round (two transactions, eight round trips) per event,
  whose CPU the requests that make the events need (docs/decisions.md, "The outbox's rounds"). A sweep every
  OUTBOX_SWEEP_INTERVAL_SECONDS catches the rest (other processes' events, retries coming due, expired leases),
  and buries the events whose last attempt never reported back; the rounds in between only claim.
- **Never dies.** A delivery error is an outcome; a database error is logged and the loop backs off and tries
  again. Only `stop()` ends it.

What an event asks for is read from its payload by the outbox service (`delivery_of`): an object deleted through
the app's one S3 client, or a notification POSTed by `infrastructure.webhooks`. The service also decides the
retries (`backoff_seconds`) and when an event is dead; this module claims, sends and records.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from backend.domain.outbox import service
from backend.domain.outbox.repository import ClaimedEvent
from backend.domain.outbox.service import ObjectDeletion, Outcome, PermanentFailure
from backend.infrastructure.database import Database, commit_asynchronously
from backend.infrastructure.settings import Settings
from backend.infrastructure.storage import Storage
from backend.infrastructure.webhooks import WebhookError, WebhookSender
from backend.runtime.task import BackgroundTask

logger = logging.getLogger(__name__)

MIN_LEASE_SECONDS = 60.0
DEFAULT_CONCURRENCY = 50
# An attempt must end (and its outcome be recorded) before its lease does.
DEADLINE_SHARE_OF_LEASE = 0.75
OUTAGE_BACKOFF_CAP_SECONDS = 60.0
# The least time from one round's start to the next one's when nudged (a full batch goes on at once).
ROUND_SPACING_SECONDS = 0.05


@dataclass
class WorkerStats:
    """Counters since start, for logs and metrics."""

    rounds: int = 0
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    round_errors: int = 0


class OutboxWorker(BackgroundTask):
    """One asyncio task for the app's life that claims due events, delivers them and records the outcome."""

    name = "outbox-worker"

    def __init__(
        self,
        database: Database,
        storage: Storage,
        settings: Settings,
        *,
        lease_seconds: float | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        round_spacing: float = ROUND_SPACING_SECONDS,
    ) -> None:
        super().__init__()
        self.database = database
        self.storage = storage
        self.batch_size = settings.outbox_batch_size
        self.max_attempts = settings.outbox_max_attempts
        self.backoff_base = settings.outbox_backoff_base_seconds
        self.sweep_interval = settings.outbox_sweep_interval_seconds
        self.lease_seconds = lease_seconds or max(MIN_LEASE_SECONDS, 4 * settings.webhook_timeout_seconds)
        self.round_spacing = round_spacing
        self.stats = WorkerStats()
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        url = str(settings.webhook_url) if settings.webhook_url else None
        self._webhooks = WebhookSender(url, secret, settings.webhook_timeout_seconds)
        self._slots = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()

    def nudge(self) -> None:
        """Run a round now: events were just committed."""
        self._wake.set()

    async def stop(self) -> None:
        """Cancel the task and wait for it; events it had claimed are retried once their lease ends."""
        await super().stop()
        await self._webhooks.aclose()

    async def run_once(self, *, sweep: bool = True) -> int:
        """One round: claim due events (a sweep first buries abandoned ones), deliver them, record the outcomes; the
        number claimed."""
        self.stats.rounds += 1
        events = await self.claim(sweep=sweep)
        if events:
            await self.record(await self.deliver(events))
        return len(events)

    async def claim(self, *, sweep: bool = True) -> list[ClaimedEvent]:
        """Lease up to a batch of due events to this worker, in a committed transaction of its own."""
        async with self.database.write_sessions() as session, session.begin():
            events, buried = await service.claim_due(
                session,
                batch_size=self.batch_size,
                lease_seconds=self.lease_seconds,
                max_attempts=self.max_attempts,
                bury=sweep,
            )
        if buried:
            self.stats.dead += buried
            logger.error("%d outbox event(s) dead: their last attempt never reported an outcome", buried)
        return events

    async def deliver(self, events: list[ClaimedEvent]) -> list[Outcome]:
        """Deliver claimed events concurrently, each cut off before its lease ends; never raises for one event."""
        deadline = asyncio.get_running_loop().time() + self.lease_seconds * DEADLINE_SHARE_OF_LEASE
        return list(await asyncio.gather(*(self._attempt(event, deadline) for event in events)))

    async def record(self, outcomes: list[Outcome]) -> None:
        """Write the outcomes (delivered, due again after a backoff, or dead), then count and log them."""
        async with self.database.write_sessions() as session, session.begin():
            # No wait for the disk: an outcome a crash loses leaves its event to be sent again once its lease ends,
            # which at-least-once delivery allows; the claims stay synchronous (docs/decisions.md, "A bulk decision").
            await commit_asynchronously(session)
            await service.record_outcomes(
                session, outcomes, max_attempts=self.max_attempts, backoff_base=self.backoff_base
            )
        for outcome in outcomes:
            if outcome.error is None:
                self.stats.delivered += 1
            elif outcome.is_dead(self.max_attempts):
                self.stats.dead += 1
                logger.error("outbox event %d (%s) is dead after %d attempt(s): %s", *_described(outcome))
            else:
                self.stats.failed += 1
                logger.warning("outbox event %d (%s) attempt %d failed: %s", *_described(outcome))

    async def _attempt(self, event: ClaimedEvent, deadline: float) -> Outcome:
        try:
            async with asyncio.timeout_at(deadline), self._slots:
                await self._send(event)
        except PermanentFailure as exc:
            return Outcome(event, str(exc), permanent=True)
        except TimeoutError:
            return Outcome(event, "timed out: the attempt did not finish within its lease")
        except WebhookError as exc:
            return Outcome(event, str(exc))
        except Exception as exc:  # any failure of one delivery is that event's outcome, never the worker's
            return Outcome(event, f"{type(exc).__name__}: {exc}")
        return Outcome(event)

    async def _send(self, event: ClaimedEvent) -> None:
        target = service.delivery_of(event)
        if isinstance(target, ObjectDeletion):
            await self.storage.client.delete_object(Bucket=self.storage.bucket, Key=target.key)
        else:
            await self._webhooks.send(topic=target.topic, delivery_id=target.delivery_id, body=target.body)

    async def run(self) -> None:
        clock = asyncio.get_running_loop().time
        errors_in_a_row = 0
        last_sweep = -float("inf")
        while True:
            self._wake.clear()
            started = clock()
            sweep = started - last_sweep >= self.sweep_interval
            try:
                claimed = await self.run_once(sweep=sweep)
            except Exception as exc:  # a database outage: log, back off, carry on
                errors_in_a_row += 1
                self.stats.round_errors += 1
                delay = min(OUTAGE_BACKOFF_CAP_SECONDS, self.sweep_interval * 2.0 ** min(errors_in_a_row, 16))
                logger.error(
                    "outbox round failed (%d in a row), next try in %.1fs: %s",
                    errors_in_a_row,
                    delay,
                    exc,
                    exc_info=errors_in_a_row == 1,
                )
                await asyncio.sleep(delay)
                continue
            errors_in_a_row = 0
            if sweep:
                last_sweep = started
            if claimed < self.batch_size:  # a full batch means more may be due: go on at once
                try:
                    async with asyncio.timeout(self.sweep_interval):
                        await self._wake.wait()
                except TimeoutError:
                    continue
                # Nudged: what commits until the spacing is up goes in the same round.
                await asyncio.sleep(max(0.0, started + self.round_spacing - clock()))


def _described(outcome: Outcome) -> tuple[int, str, int, str | None]:
    return outcome.event.id, outcome.event.topic, outcome.event.attempts, outcome.error
