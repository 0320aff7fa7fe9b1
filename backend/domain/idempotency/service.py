"""Idempotency-Key on POST: the first answer is kept; a retry gets it back and writes nothing new.

The key is claimed inside the request's own transaction, so a key is committed exactly when the write is:
a failed request leaves no key and may be retried. The answer is stored right after the commit, before it
is sent; a retry that arrives in between is told to try again shortly (409, Retry-After: 1). A process that
dies in between (kill -9, `make chaos`) leaves a committed key without an answer: a retry is told that the request
was carried out and its answer lost (409, `"problem": "answer_lost"`, no Retry-After), instead of to try again for
as long as the key lives, as soon as the process that claimed the key is surely gone (the key names it; a process
on the same machine can tell), or else once the key is ANSWER_LOST_AFTER_SECONDS old.

Secrets are never stored: an answer whose schema declares fields `shown_once` (an API key, a token) is kept
with those fields null and a `secret_withheld` note, so a retry gets the record and learns that the secret
was shown once, in the first answer.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson

from backend.domain.errors import ConflictError, DomainError, UnprocessableEntity
from backend.domain.idempotency import repository
from backend.domain.identity import Actor
from backend.domain.sessions import AsyncWriteSession
from backend.infrastructure import liveness

HEADER = "Idempotency-Key"
ANSWER_LOST_AFTER_SECONDS = 30.0
"""A key committed without its answer this long after its claim began lost it for good (the default
WORKER_TIMEOUT_SECONDS: a worker silent that long has been killed)."""
MAX_KEY_LENGTH = 255
WITHHELD = "secret_withheld"


class Replay(DomainError):
    """The stored answer of the first request with this key (not an error: the handler sends it as it was)."""

    status = 200
    title = "Replay"

    def __init__(self, status: int, headers: list[list[str]], body: bytes) -> None:
        super().__init__("replayed")
        self.response_status = status
        self.response_headers = headers
        self.body = body


def owner_of(actor: Actor | None) -> str:
    return f"{actor.kind.value}:{actor.id}" if actor is not None and actor.id is not None else "anonymous"


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(b"\0".join([method.encode(), path.encode(), body])).hexdigest()


async def claim(
    session: AsyncWriteSession, *, actor: Actor | None, key: str, method: str, path: str, body: bytes
) -> None:
    """Claim `key` for this request, or raise Replay / 422 (another body) / 409 (answer not stored yet, or lost)."""
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise UnprocessableEntity(f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable characters.", header=HEADER)
    print_ = fingerprint(method, path, body)
    stored = await repository.claim(
        session,
        owner=owner_of(actor),
        key=key,
        method=method,
        path=path,
        fingerprint=print_,
        claimed_by=liveness.this_process(),
    )
    if stored is None:
        return
    if stored.fingerprint != print_:
        raise UnprocessableEntity(
            f"This {HEADER} was used with another request; use a new key for a new request.", header=HEADER
        )
    if stored.response_status is None or stored.response_body is None:
        claimer_gone = stored.claimed_by is not None and liveness.surely_gone(stored.claimed_by)
        if claimer_gone or stored.age_seconds >= ANSWER_LOST_AFTER_SECONDS:
            raise ConflictError(
                f"The first request with this {HEADER} was carried out, but it ended before its answer was stored:"
                " it will not be carried out again. Read the resource to see the result.",
                header=HEADER,
                problem="answer_lost",
            )
        raise ConflictError(
            f"The first request with this {HEADER} was processed but its answer is not stored yet; retry shortly.",
            header=HEADER,
            headers={"Retry-After": "1"},
        )
    raise Replay(stored.response_status, stored.response_headers or [], stored.response_body)


def without_secrets(body: bytes, secret_fields: Sequence[str]) -> bytes:
    """The answer as it may be kept: each secret field null, and a note saying why; never the secret itself.

    An answer without the fields (a problem) is kept as it is; one that is not a JSON object cannot be redacted
    field by field, so only the note is kept.
    """
    try:
        record = orjson.loads(body)
    except orjson.JSONDecodeError:
        record = None
    present = [name for name in secret_fields if isinstance(record, dict) and record.get(name) is not None]
    if isinstance(record, dict) and not present:
        return body
    names = ", ".join(present or secret_fields)
    note = (
        f"This is a replay of the answer to an earlier request with this {HEADER}. Its {names} was shown once,"
        " in that answer, and is not stored anywhere: it cannot be shown again. If it was lost, replace it"
        " (revoke the API key and create another; log in again for a token)."
    )
    if not isinstance(record, dict):
        return orjson.dumps({WITHHELD: note})
    return orjson.dumps({**record, **dict.fromkeys(present), WITHHELD: note})


async def save_response(
    session: AsyncWriteSession,
    *,
    actor: Actor | None,
    key: str,
    status: int,
    headers: list[list[str]],
    body: bytes,
    secret_fields: Sequence[str] = (),
) -> None:
    """Keep the answer of the request that claimed `key`, without the secrets it declares."""
    if secret_fields:
        body = without_secrets(body, secret_fields)
    await repository.save_response(session, owner=owner_of(actor), key=key, status=status, headers=headers, body=body)


async def prune(session: AsyncWriteSession, *, created_before: datetime, limit: int) -> int:
    """Delete up to `limit` keys and up to `limit` bulk item records created before `created_before`
    (IDEMPOTENCY_KEY_HOURS ago: a retry is answered from its record for at least that long); the number deleted."""
    deleted = await repository.prune(session, created_before=created_before, limit=limit)
    return deleted + await repository.prune_items(session, created_before=created_before, limit=limit)


@dataclass(frozen=True)
class BulkProgress:
    """A bulk request's claim on its Idempotency-Key: which of its items an earlier attempt (one that died before
    its answer was stored) committed, and how to record the ones it commits now.

    The claim stays open, uncommitted, on a session of its own while each item is decided in a transaction of its
    own: a concurrent retry waits on the claim, and a retry after a crash claims the key afresh (the claim died
    with its connection) and finds the items already committed here, so that it decides each item once."""

    owner: str
    key: str
    fingerprint: str
    done: frozenset[uuid.UUID]

    async def record(self, session: AsyncWriteSession, item_id: uuid.UUID) -> None:
        """In the item's transaction: the item is committed under this key."""
        await repository.record_item(
            session, owner=self.owner, key=self.key, fingerprint=self.fingerprint, item_id=item_id
        )


async def claim_bulk(
    session: AsyncWriteSession,
    *,
    actor: Actor | None,
    key: str,
    method: str,
    path: str,
    body: bytes,
    item_ids: Sequence[uuid.UUID],
) -> BulkProgress:
    """Claim `key` for a bulk request (as `claim`: Replay, 422, 409) and learn which items are done already."""
    await claim(session, actor=actor, key=key, method=method, path=path, body=body)
    owner, print_ = owner_of(actor), fingerprint(method, path, body)
    done = await repository.items_done(session, owner=owner, key=key, fingerprint=print_, item_ids=item_ids)
    return BulkProgress(owner=owner, key=key, fingerprint=print_, done=frozenset(done))
