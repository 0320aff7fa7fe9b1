"""Every error as application/problem+json (RFC 9457)."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.status import HTTP_500_INTERNAL_SERVER_ERROR

from backend.api.context import RETRY_MARKER
from backend.api.state import app_state, scope_state
from backend.domain.errors import DomainError
from backend.domain.idempotency.service import Replay
from backend.infrastructure.database_errors import UNAVAILABLE_ERRORS, is_timed_out, is_unavailable

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


# Inline (no $refs), so that the schema stands alone in every response of the OpenAPI document.
_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["loc", "msg"],
                "properties": {
                    "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
    "additionalProperties": True,
}


def _documented(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_JSON: {"schema": _PROBLEM_SCHEMA}}}


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _documented("Bad request: an unknown or invalid parameter, named in the problem"),
    401: _documented("Missing, invalid or expired credentials"),
    403: _documented("The caller's role does not allow this"),
    404: _documented("No such resource"),
    409: _documented("Conflict with the current state"),
    412: _documented("If-Match names a version that is no longer current"),
    413: _documented("Request body too large"),
    422: _documented("The request does not validate; `errors` lists each field"),
    429: _documented("Too many attempts; see Retry-After"),
    503: _documented("A backing service is unavailable; see Retry-After"),
}
# Only a member's export answers it: the member was erased.
GONE: dict[int | str, dict[str, Any]] = {410: _documented("The member was erased: nothing of it is left to give")}
# Only the routes that take nothing but JSON (refresh, logout) answer it.
UNSUPPORTED_MEDIA_TYPE: dict[int | str, dict[str, Any]] = {
    415: _documented("The body is not JSON (Content-Type: application/json)")
}
RETRY_AFTER_SECONDS = "2"


def problem_body(status: int, title: str, detail: str | None = None, **extra: Any) -> dict[str, Any]:
    """A problem's JSON object (without headers)."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail is not None:
        body["detail"] = detail
    body.update({key: value for key, value in extra.items() if value is not None})
    return body


def problem(status: int, title: str, detail: str | None = None, **extra: Any) -> Response:
    """A problem+json response."""
    headers = extra.pop("headers", None)
    body = problem_body(status, title, detail, **extra)
    return Response(orjson.dumps(body, default=str), status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _request_id(request: Request) -> str | None:
    state = scope_state(request.scope)
    return state.request_id if state is not None else None


async def _domain_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, Replay):
        headers = {name: value for name, value in exc.response_headers}
        headers["Idempotent-Replayed"] = "true"
        return Response(exc.body, status_code=exc.response_status, headers=headers)
    assert isinstance(exc, DomainError)
    extra = dict(exc.extra)
    if exc.status == 503 and "headers" not in extra:  # a dependency the service found unavailable (S3, say)
        extra["headers"] = {"Retry-After": RETRY_AFTER_SECONDS}
    return problem(exc.status, exc.title, exc.detail, **extra)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    allowed = allowed_methods(request)
    if request.method not in allowed:
        # Routed past the resource at this path to a route of a later template (PUT /members/export.csv reached
        # PUT /members/{member_id} with member_id "export.csv"): the resource has no such method.
        return _not_allowed(request, allowed)
    errors = [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error.get("type", "")}
        for error in exc.errors()
    ]
    fields = ", ".join(".".join(str(part) for part in e["loc"]) for e in errors)
    return problem(422, "Unprocessable entity", f"Invalid request: {fields}.", errors=errors)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers) if exc.headers else {}
    if exc.status_code == 405:
        return _not_allowed(request, allowed_methods(request))
    title = {404: "Not found"}.get(exc.status_code, "Error")
    return problem(exc.status_code, title, str(exc.detail), headers=headers or None)


def _not_allowed(request: Request, allowed: list[str]) -> Response:
    methods = ", ".join(allowed)
    detail = f"{request.method} is not allowed here; allowed: {methods}."
    return problem(405, "Method not allowed", detail, headers={"Allow": methods})


_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> list[str]:
    """Every method of the resource at the request's path.

    Starlette's 405 names only the methods of the first route whose path matched; a resource served by several
    routes (GET and PATCH of a member are two) has them all. The resource is the first path template that
    matches, as in routing: `/members/export.csv` is the export, not a member whose id would be "export.csv".
    """
    template: str | None = None
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        regex = getattr(route, "path_regex", None)
        if regex is None or (template is not None and route.path != template) or not regex.match(request.url.path):
            continue
        template = route.path
        methods |= route.methods or set()
    return sorted(methods, key=lambda m: (_METHOD_ORDER.index(m) if m in _METHOD_ORDER else len(_METHOD_ORDER), m))


async def _unavailable(request: Request, exc: Exception) -> Response:
    logger.warning("dependency unavailable: %s", type(exc).__name__, exc_info=exc)
    headers = {"Retry-After": RETRY_AFTER_SECONDS}
    state = scope_state(request.scope)
    server = state.read_target if state is not None else None
    if server and server != "primary" and not isinstance(exc, PoolTimeoutError):
        # The replica failed under this read: take it out now, and let the failover run the GET elsewhere.
        app_state(request.app).database.monitor.mark_down(server, f"{type(exc).__name__} during a request")
        headers[RETRY_MARKER] = server
    return problem(
        503,
        "Service unavailable",
        "A backing service is unavailable; try again shortly.",
        request_id=_request_id(request),
        headers=headers,
    )


async def _unexpected(request: Request, exc: Exception) -> Response:
    if is_unavailable(exc):
        return await _unavailable(request, exc)
    if is_timed_out(exc):
        # The server is sound (no failover, no replica taken out): the statement ran past its bound.
        logger.warning("statement cancelled: %s", type(exc).__name__, exc_info=exc)
        return problem(
            503,
            "Service unavailable",
            "The database did not answer in time; try again shortly.",
            request_id=_request_id(request),
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
    logger.error("unhandled error", exc_info=exc)
    return problem(
        HTTP_500_INTERNAL_SERVER_ERROR,
        "Internal server error",
        "An unexpected error occurred.",
        request_id=_request_id(request),
    )


def install(app: FastAPI) -> None:
    """Register the handlers."""
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for unavailable in UNAVAILABLE_ERRORS:
        app.add_exception_handler(unavailable, _unavailable)
    # Any other database error is decided here, inside the middleware stack, so that a lost connection
    # (connection_invalidated) still reaches the failover as a 503; the rest is a logged 500.
    app.add_exception_handler(DBAPIError, _unexpected)
    app.add_exception_handler(Exception, _unexpected)
