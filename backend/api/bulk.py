"""The bulk runner: many ids in one request, each decided in a transaction of its own, one result per id.

A bulk route validates its body, then hands `BulkRunner.run` its ids and a `decide(session, id)` that makes the
single decision on one id in the session it is given (the same service call as the single route, so the same
rules, audit rows and outbox events). Each id gets a transaction of its own, on one of up to BULK_SESSIONS sessions
that take the ids in turn (each one connection for the whole bulk; `decide` must not keep what it loaded: the
session is emptied between ids), and the claim of an Idempotency-Key another. A refusal (a domain
error, 4xx) rolls back that id only and becomes its result (`backend/domain/bulk.py`); anything else (a lost
database, a 503, a bug) ends the request as the single route would end, with what was committed so far kept.

Idempotency-Key. The write session dependency claims a key in the request's one transaction; a bulk request has
many, so it must not take that dependency (its claim and the runner's would wait on each other) and the runner
claims the key itself, on a session of its own that stays open, uncommitted, while the items run:

- a retry while the first request runs waits on that claim, then gets the stored answer (`Idempotent-Replayed`);
- each item committed under the key is recorded in the item's own transaction (`idempotency_items`), so a retry
  after the first request died mid-way (its claim rolled back with its connection) claims the key afresh, answers
  the items already committed `ok` from the record, and decides only the others: nothing is written twice;
- the claim commits once every item has run, and the answer is stored for the key as for any POST (and PATCH:
  api/idempotency.py), before it is sent.

Durability at the cost of one flush. Each item commits asynchronously (synchronous_commit off for its transaction:
no wait for the disk), and one synchronous commit after the last item flushes the WAL past all of them before the
answer goes out (docs/decisions.md, "A bulk decision: a flush per request, not per item"). An `ok` is never
answered for an item that a crash could still undo; a crash before the answer may undo the last items' commits,
and their records with them, so a retry decides them again.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated

from fastapi import Depends, Request

from backend.api.problems import problem_body
from backend.api.state import AppState, RequestState, app_state, request_state
from backend.domain.bulk import BulkAnswer, BulkItemResult, BulkOutcome
from backend.domain.claims.service import ClaimedByOther
from backend.domain.errors import DomainError, NotFoundError
from backend.domain.idempotency import service as idempotency
from backend.domain.idempotency.service import BulkProgress
from backend.domain.outbox.service import OUTBOX_PENDING
from backend.domain.sessions import AsyncWriteSession
from backend.infrastructure.database import commit_asynchronously, flush_commits

BULK_SESSIONS = 4
"""Items of one bulk decided at once, each on a session (and connection) of its own (docs/decisions.md, "A bulk
decision")."""

Decide = Callable[[AsyncWriteSession, uuid.UUID], Awaitable[object]]
"""The single decision on one id, made in the session given (its transaction is the runner's)."""


def _outcome(error: DomainError) -> BulkOutcome:
    if isinstance(error, NotFoundError):
        return BulkOutcome.not_found
    if isinstance(error, ClaimedByOther):
        return BulkOutcome.claimed
    return BulkOutcome.conflict


def refused(item_id: uuid.UUID, error: DomainError) -> BulkItemResult:
    """The result of an id whose decision was refused, with the problem the single route would answer."""
    extra = {key: value for key, value in error.extra.items() if key != "headers"}
    return BulkItemResult(
        id=item_id,
        result=_outcome(error),
        status=error.status,
        problem=problem_body(error.status, error.title, error.detail, **extra),
    )


def bulk_sessions(pool_size: int) -> int:
    """How many of a bulk's items run at once: BULK_SESSIONS, leaving at least half the pool to other requests."""
    return max(1, min(BULK_SESSIONS, pool_size // 2))


def _ok(item_id: uuid.UUID) -> BulkItemResult:
    return BulkItemResult(id=item_id, result=BulkOutcome.ok, status=200)


class BulkRunner:
    """Runs a bulk request's decisions for one request (see the module's docstring)."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.app: AppState = app_state(request.app)
        self.request_state: RequestState = request_state(request)
        self._committed = False
        self._outbox_pending = False
        self.sessions = bulk_sessions(self.app.settings.database_pool_size)

    async def run(self, ids: Sequence[uuid.UUID], decide: Decide) -> BulkAnswer:
        """Decide each id in its own transaction, in order; one result per id, and the summary."""
        key = self.request.headers.get(idempotency.HEADER) if self.request_state.actor is not None else None
        if key is None:
            results = await self._each(ids, decide, None)
        else:
            results = await self._claimed(key, ids, decide)
        await self._after_commits()
        return BulkAnswer.of(results)

    async def _claimed(self, key: str, ids: Sequence[uuid.UUID], decide: Decide) -> list[BulkItemResult]:
        """The items run while the key's claim stays open on a session of its own, committed at the end."""
        async with self.app.database.write_sessions() as claim:
            try:
                progress = await idempotency.claim_bulk(
                    claim,
                    actor=self.request_state.actor,
                    key=key,
                    method=self.request.method,
                    path=self.request.url.path,
                    body=await self.request.body(),
                    item_ids=ids,
                )
                results = await self._each(ids, decide, progress)
                await claim.commit()
            except BaseException:
                await claim.rollback()
                raise
        self.request_state.idempotency_key = key  # the recorder stores the answer for the key before sending it
        self._committed = True
        return results

    async def _each(
        self, ids: Sequence[uuid.UUID], decide: Decide, progress: BulkProgress | None
    ) -> list[BulkItemResult]:
        """Each id in a transaction of its own, on up to BULK_SESSIONS sessions at once, each taking the next id
        when it is done with one: one connection per session for the whole bulk, results in the ids' order.

        When an item fails (not a refusal: a lost database, a bug), no session starts another item, the items
        under way on the other sessions finish (committed or refused, never cut off mid-transaction), and the
        request ends with that failure, as with one session."""
        results: list[BulkItemResult | None] = [None] * len(ids)
        todo = iter(enumerate(ids))  # shared by the sessions: next() never awaits, so each index goes to one
        failures: list[BaseException] = []

        async def work() -> None:
            async with self.app.database.write_session() as session:
                for index, item_id in todo:
                    if failures:
                        break
                    if progress is not None and item_id in progress.done:
                        results[index] = _ok(item_id)  # committed by an earlier attempt under the same key
                        continue
                    try:
                        results[index] = await self._one(session, item_id, decide, progress)
                    except BaseException as failure:
                        failures.append(failure)
                        raise
                    session.expunge_all()  # what one item loaded is nothing to the next
                self._outbox_pending |= bool(session.info.get(OUTBOX_PENDING))

        ended = await asyncio.gather(*(work() for _ in range(min(self.sessions, len(ids)))), return_exceptions=True)
        failures += [error for error in ended if isinstance(error, BaseException) and error not in failures]
        if failures:
            raise failures[0]
        return [result for result in results if result is not None]

    async def _one(
        self, session: AsyncWriteSession, item_id: uuid.UUID, decide: Decide, progress: BulkProgress | None
    ) -> BulkItemResult:
        try:
            async with session.begin():
                await commit_asynchronously(session)  # made durable before the answer: see _after_commits
                if progress is not None:  # before the decision, whose last statement locks shared counter rows
                    await progress.record(session, item_id)
                await decide(session, item_id)
        except DomainError as error:
            if error.status >= 500 or isinstance(error, idempotency.Replay):
                raise
            return refused(item_id, error)
        self._committed = True
        return _ok(item_id)

    async def _after_commits(self) -> None:
        """What the commits make true, as the write session passes it on, once they are durable: the items commit
        asynchronously (no wait for the disk each), and one synchronous commit after them flushes them all (the
        key's claim when there is one, else `flush_commits`) before anything is answered. Then the position of the
        last commit goes out with the answer (read-your-writes), and events put in the outbox are handed to the
        worker."""
        if not self._committed:
            return
        async with self.app.database.write_session() as session:
            if self.request_state.idempotency_key is None:
                await flush_commits(session)
            self.request_state.commit_lsn = await self.app.database.commit_position(session)
        if self._outbox_pending:
            self.app.outbox_worker.nudge()


async def get_bulk_runner(request: Request) -> BulkRunner:
    return BulkRunner(request)


BulkRunnerDep = Annotated[BulkRunner, Depends(get_bulk_runner)]
