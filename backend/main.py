"""The application: built by create_app(), resources opened and closed by its lifespan."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware

from backend.api import problems
from backend.api.idempotency import IdempotencyRecorder
from backend.api.limits import BodySizeLimit
from backend.api.v1 import api_router, health_router
from backend.infrastructure.database import Database
from backend.infrastructure.settings import Settings
from backend.infrastructure.storage import Storage, s3_client

REQUEST_ID_HEADER = "X-Request-ID"


def create_app(settings: Settings | None = None) -> FastAPI:
    """The FastAPI app for `settings` (read from the environment when not given)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database.from_settings(settings)
        try:
            async with s3_client(settings) as client:
                app.state.database = database
                app.state.storage = Storage(client, settings)
                yield
        finally:
            await database.dispose()

    app = FastAPI(
        title="Memberdesk",
        version="1.0.0",
        summary="Admin backend: members, reviews, moderation and notes.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    problems.install(app)
    app.include_router(api_router)
    app.include_router(health_router)
    app.add_middleware(IdempotencyRecorder)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=["X-Total-Count", "Content-Range", "Link", "X-Next-Cursor", "ETag", REQUEST_ID_HEADER],
    )

    @app.middleware("http")
    async def request_id(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request.state.request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex
        response = await call_next(request)
        response.headers[REQUEST_ID_HEADER] = request.state.request_id
        return response

    return app
