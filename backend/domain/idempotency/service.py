"""Idempotency-Key on POST: the first answer is kept; a retry gets it back and writes nothing new.

The key is claimed inside the request's own transaction, so a key is committed exactly when the write is:
a failed request leaves no key and may be retried. The answer is stored right after the commit, before it
is sent; a retry that arrives in between (or after a crash there) is told to try again shortly.
"""

from __future__ import annotations

import hashlib

from backend.domain.actors import Actor
from backend.domain.errors import ConflictError, DomainError, UnprocessableEntity
from backend.domain.idempotency import repository
from backend.domain.sessions import AsyncWriteSession

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


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
    """Claim `key` for this request, or raise Replay / 422 (another body) / 409 (answer not stored yet)."""
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise UnprocessableEntity(f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable characters.", header=HEADER)
    print_ = fingerprint(method, path, body)
    stored = await repository.claim(
        session, owner=owner_of(actor), key=key, method=method, path=path, fingerprint=print_
    )
    if stored is None:
        return
    if stored.fingerprint != print_:
        raise UnprocessableEntity(
            f"This {HEADER} was used with another request; use a new key for a new request.", header=HEADER
        )
    if stored.response_status is None or stored.response_body is None:
        raise ConflictError(
            f"The first request with this {HEADER} was processed but its answer is not stored yet; retry shortly.",
            header=HEADER,
            headers={"Retry-After": "1"},
        )
    raise Replay(stored.response_status, stored.response_headers or [], stored.response_body)


async def save_response(
    session: AsyncWriteSession, *, actor: Actor | None, key: str, status: int, headers: list[list[str]], body: bytes
) -> None:
    """Keep the answer of the request that claimed `key`."""
    await repository.save_response(session, owner=owner_of(actor), key=key, status=status, headers=headers, body=body)
