"""Keeps the answer of a POST that claimed an Idempotency-Key, before the answer is sent."""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.api.state import RequestState, app_state, scope_state
from backend.domain.idempotency import service as idempotency
from backend.domain.schemas import shown_once_fields

logger = logging.getLogger(__name__)

_KEPT_HEADERS = {b"content-type", b"location", b"etag"}
# A POST's key is claimed by the write session; a bulk PATCH's (and a bulk POST's) by the bulk runner.
RECORDED_METHODS = frozenset({"POST", "PATCH"})


class IdempotencyRecorder:
    """Buffers the answer of requests whose key was claimed and committed (the write session notes it in the
    request's state after its commit), stores it, then sends it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in RECORDED_METHODS:
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def hold(message: Message) -> None:
            state = scope_state(scope)
            if state is None or state.idempotency_key is None:
                if held:
                    for earlier in held:
                        await send(earlier)
                    held.clear()
                await send(message)
                return
            held.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                await self._store(scope, state, held)
                for buffered in held:
                    await send(buffered)
                held.clear()

        await self.app(scope, receive, hold)

    async def _store(self, scope: Scope, state: RequestState, messages: list[Message]) -> None:
        start = messages[0]
        body = b"".join(m.get("body", b"") for m in messages[1:])
        headers = [[k.decode(), v.decode()] for k, v in start.get("headers", []) if k.lower() in _KEPT_HEADERS]
        # The route's response model declares the fields that carry a secret: those are never stored.
        secret_fields = shown_once_fields(getattr(scope.get("route"), "response_model", None))
        assert state.idempotency_key is not None
        try:
            async with app_state(scope["app"]).database.write_sessions() as session, session.begin():
                await idempotency.save_response(
                    session,
                    actor=state.actor,
                    key=state.idempotency_key,
                    status=start["status"],
                    headers=headers,
                    body=body,
                    secret_fields=secret_fields,
                )
        except Exception:
            # The write is committed; a retry will be told to try again rather than write twice.
            logger.exception("could not store the answer of an idempotent request")
