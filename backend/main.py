"""The application: built by create_app(), resources opened and closed by its lifespan."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import iter_route_contexts

from backend.api import console, openapi, problems
from backend.api.context import LSN_HEADER, REQUEST_ID_HEADER, RequestContext
from backend.api.idempotency import IdempotencyRecorder
from backend.api.limits import BodySizeLimit
from backend.api.rawinput import InputGuard
from backend.api.state import AppState, set_app_state
from backend.api.v1 import include_routes
from backend.domain.auth.service import IdentityCache, PasswordCheckGate
from backend.infrastructure import security
from backend.infrastructure.database import Database
from backend.infrastructure.observability import (
    Metrics,
    configure_logging,
    instrument_engine,
    route_structlog_to_stdlib,
)
from backend.infrastructure.settings import Settings
from backend.infrastructure.storage import Storage, s3_client
from backend.runtime.process import BackgroundWork

GC_THRESHOLDS = (10_000, 20, 20)


def settle_garbage_collector() -> None:
    """Freeze what startup made, collect young objects less often (docs/decisions.md: "A frozen garbage collector")."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The FastAPI app for `settings` (read from the environment when not given)."""
    settings = settings or Settings()
    settings.token_secret()  # no app without a secret to sign tokens with: refused here, at start-up
    metrics = Metrics()
    app = FastAPI(
        title="Memberdesk",
        version="1.0.0",
        summary="Admin backend: members, reviews, moderation and notes.",
        description=openapi.DESCRIPTION,
        lifespan=_lifespan(settings, metrics),
        docs_url=None,  # served from local files by backend/api/console.py
        redoc_url=None,  # ReDoc loads its script from a CDN
    )
    problems.install(app)
    include_routes(app)
    console.install(app)
    openapi.install(app, settings)
    _add_middleware(app, settings, metrics)
    return app


def _lifespan(settings: Settings, metrics: Metrics) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Opens the database and the S3 client, starts the background work, and sets the app's state."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _configure_logging(settings)
        database = _open_database(settings)
        try:
            async with s3_client(settings) as client:
                storage = Storage(client, settings)
                # Stopped before the S3 client closes (the outbox worker deletes objects with it) and before the
                # engines are disposed of.
                background = BackgroundWork(database, storage, settings)
                set_app_state(
                    app,
                    AppState(
                        settings=settings,
                        metrics=metrics,
                        database=database,
                        storage=storage,
                        identity_cache=IdentityCache(settings.auth_cache_seconds),
                        password_checks=PasswordCheckGate(settings.login_checks_per_client),
                        outbox_worker=background.outbox,  # nudged after a commit that enqueued events
                    ),
                )
                await background.start()
                security.prepare_hashing()
                settle_garbage_collector()
                try:
                    yield
                finally:
                    await background.stop()
        finally:
            await database.dispose()

    return lifespan


def _configure_logging(settings: Settings) -> None:
    if settings.log_format == "none":
        route_structlog_to_stdlib()
    else:
        # Here rather than in the command line, so that every uvicorn worker process is configured.
        configure_logging(settings.log_level, json=settings.log_format == "json")


def _open_database(settings: Settings) -> Database:
    """The engines, instrumented for Server-Timing (the replicas are checked by the process's background work)."""
    database = Database.from_settings(settings)
    engines = (database.primary, database.primary_reads.engine, *(r.engine for r in database.replicas))
    for engine in dict.fromkeys(engines):
        instrument_engine(engine)
    return database


EXPOSED_HEADERS = [
    "X-Total-Count",
    "Content-Range",
    "Link",
    "X-Next-Cursor",
    "ETag",
    REQUEST_ID_HEADER,
    LSN_HEADER,
    "Server-Timing",
]


def _add_middleware(app: FastAPI, settings: Settings, metrics: Metrics) -> None:
    """Innermost first: each one added wraps those before it, and RequestContext wraps them all."""
    app.add_middleware(IdempotencyRecorder)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(InputGuard)
    if settings.cors_origins:  # none by default: the console is served from the API's own origin
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=EXPOSED_HEADERS,
        )
    templates: dict[Any, str] = {
        route.endpoint: str(route.path) for route in iter_route_contexts(app.routes) if route.endpoint is not None
    }
    app.add_middleware(RequestContext, settings=settings, metrics=metrics, templates=templates)
