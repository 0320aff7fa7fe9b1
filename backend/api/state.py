"""The app's state and each request's, as typed objects, each read through one accessor.

- `AppState`: what requests reach of the process (settings, database, storage, caches, metrics, the outbox
  worker). The lifespan (backend/main.py) builds it once the database and storage are open; `app_state(app)`.
- `RequestState`: what the layers of one request tell each other (its id, the server it reads from, the caller,
  its commit's position, the Idempotency-Key it claimed). RequestContext makes one for each attempt at a request
  and keeps it as the ASGI scope's "state"; `request_state(request)`.

Starlette's untyped `app.state` and `request.state` namespaces are not used otherwise: a misspelt key there is
a silent None, here a type error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from starlette.applications import Starlette
from starlette.requests import HTTPConnection
from starlette.types import Scope

from backend.domain.auth.service import IdentityCache, PasswordCheckGate
from backend.domain.identity import Actor
from backend.infrastructure.database import Database
from backend.infrastructure.observability import Metrics
from backend.infrastructure.settings import Settings
from backend.infrastructure.storage import Storage


class OutboxDelivery(Protocol):
    """The process's outbox worker, as a request sees it: told when a commit has put events in the outbox."""

    def nudge(self) -> None: ...


@dataclass(frozen=True, slots=True)
class AppState:
    settings: Settings
    metrics: Metrics
    database: Database
    storage: Storage
    identity_cache: IdentityCache
    password_checks: PasswordCheckGate
    outbox_worker: OutboxDelivery


def app_state(app: Starlette) -> AppState:
    """The app's state; set by its lifespan, so an app that was never started has none (AttributeError)."""
    state: AppState = app.state.memberdesk
    return state


def set_app_state(app: Starlette, state: AppState) -> None:
    app.state.memberdesk = state


@dataclass(slots=True)
class RequestState:
    request_id: str
    # Replicas this attempt must not read from: one that failed the request's first attempt (see RequestContext).
    avoid_replicas: tuple[str, ...] = ()
    read_target: str | None = None  # the server the request reads from, once chosen
    actor: Actor | None = None  # the caller, once authenticated
    # An operator or key changed: once the transaction commits, this process's identity cache is cleared.
    identities_changed: bool = False
    commit_lsn: int | None = None  # the WAL position of the request's commit, sent as a header and a cookie
    idempotency_key: str | None = None  # the Idempotency-Key claimed and committed: the answer is kept for it


def request_state(request: HTTPConnection) -> RequestState:
    """The request's state (RequestContext, the outermost middleware, made it)."""
    state: RequestState = request.scope["state"]
    return state


def scope_state(scope: Scope) -> RequestState | None:
    """The request's state from its scope, or None outside RequestContext (error handlers must not fail)."""
    state = scope.get("state")
    return state if isinstance(state, RequestState) else None
