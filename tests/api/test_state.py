"""The app's and each request's state are typed objects, reached only through backend/api/state.py."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from fastapi import Depends, FastAPI, Request

from backend.api.deps import require
from backend.api.state import AppState, RequestState, app_state, request_state
from backend.domain.identity import Role
from backend.infrastructure.settings import Settings
from backend.main import create_app
from tests.conftest import api_client

BACKEND = Path(__file__).resolve().parents[2] / "backend"
ACCESSORS = BACKEND / "api" / "state.py"


def _uses(path: Path) -> list[str]:
    """Every `<anything>.state` and every read of `<anything>["state"]` in the module, by line."""
    return [
        f"{path.relative_to(BACKEND.parent)}:{node.lineno}"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute | ast.Subscript) and _is_state(node)
    ]


def _is_state(node: ast.Attribute | ast.Subscript) -> bool:
    if isinstance(node, ast.Attribute):
        return node.attr == "state"
    key = node.slice
    return isinstance(node.ctx, ast.Load) and isinstance(key, ast.Constant) and key.value == "state"


def test_backend_reaches_state_only_through_the_accessors() -> None:
    """No string keys on Starlette's untyped app.state or request.state, and the scope's "state" read only through
    request_state() or scope_state() (RequestContext sets it)."""
    assert [use for path in sorted(BACKEND.rglob("*.py")) if path != ACCESSORS for use in _uses(path)] == []
    assert _uses(ACCESSORS)  # the check sees what it looks for


def test_the_lifespan_builds_the_app_state(app: FastAPI, settings: Settings) -> None:
    state = app_state(app)
    assert isinstance(state, AppState)
    assert state.settings is settings


def test_an_app_that_never_started_has_no_state(settings: Settings) -> None:
    with pytest.raises(AttributeError):
        app_state(create_app(settings))


async def test_each_request_gets_a_state_of_its_own(settings: Settings, tokens: dict[Role, str]) -> None:
    """What one request's dependencies wrote in its state (its caller, its id) is its own."""
    app = create_app(settings)
    seen: list[RequestState] = []

    @app.get("/probe/state", dependencies=[Depends(require(Role.viewer))])
    async def probe(request: Request) -> dict[str, str]:
        seen.append(request_state(request))
        return {}

    async with app.router.lifespan_context(app):
        for role in (Role.admin, Role.viewer):
            async with api_client(app, {"Authorization": f"Bearer {tokens[role]}", "X-Request-ID": role}) as c:
                assert (await c.get("/probe/state")).status_code == 200
    admin, viewer = seen
    assert (admin.request_id, viewer.request_id) == ("admin", "viewer")
    assert [state.actor.role if state.actor else None for state in seen] == [Role.admin, Role.viewer]
