"""Login, console sessions (refresh, logout), the caller's identity, and changing one's own password.

Sessions: login answers a short-lived access token and sets a refresh token in a cookie that only
`/api/v1/auth` ever receives (HttpOnly, SameSite=Strict, Secure outside development). `POST /auth/refresh`
trades it for a new access token and a new refresh token. Against cross-site requests, besides SameSite=Strict,
refresh and logout take only a JSON body (`Content-Type: application/json`), which no HTML form can send and
which a script on another origin can send only after a CORS preflight that the API does not grant.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Cookie, Depends, Request, Response, status

from backend.api.deps import (
    ClientAddressDep,
    CurrentAdmin,
    LoginServiceDep,
    RefreshServiceDep,
    RequireViewer,
    SettingsDep,
    forget_identities,
)
from backend.api.problems import UNSUPPORTED_MEDIA_TYPE, problem
from backend.domain.auth.schemas import LoginRequest, MeRead, PasswordChange, SessionRequest, TokenRead
from backend.domain.errors import DomainError, Unauthorized, UnsupportedMediaType
from backend.domain.identity import ActorKind
from backend.domain.refresh.service import IssuedRefresh
from backend.infrastructure.settings import Settings

router = APIRouter(prefix="/auth", tags=["auth"])

REFRESH_COOKIE = "memberdesk_refresh"
REFRESH_COOKIE_PATH = "/api/v1/auth"
# A longer cookie is no token of ours: it is taken as no session. (Not a declared maxLength: the Cookie header is
# split on `;` and `=`, so a value that breaks the limit as a client sent it can reach the route cut shorter, and
# a schema-checking client such as Schemathesis then sees an over-long value accepted.)
REFRESH_COOKIE_MAX_LENGTH = 128
RefreshCookie = Annotated[
    str | None,
    Cookie(
        alias=REFRESH_COOKIE,
        description="The refresh token login set (HttpOnly; sent by the browser, never read by scripts)",
    ),
]


def _presented(token: str | None) -> str | None:
    return token if token and len(token) <= REFRESH_COOKIE_MAX_LENGTH else None


async def json_only(request: Request) -> None:
    """Refuse any body but JSON: a form or a `no-cors` fetch from another site cannot send one."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType("Send a JSON body (`{}`) with Content-Type: application/json.")


def _set_refresh_cookie(response: Response, refresh: IssuedRefresh, settings: Settings) -> None:
    max_age = max(1, int((refresh.expires_at - datetime.now(UTC)).total_seconds()))
    response.set_cookie(
        REFRESH_COOKIE,
        refresh.token,
        max_age=max_age,
        path=REFRESH_COOKIE_PATH,
        secure=settings.secure_cookies,
        httponly=True,
        samesite="strict",
    )


def _clear_refresh_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        REFRESH_COOKIE, path=REFRESH_COOKIE_PATH, secure=settings.secure_cookies, httponly=True, samesite="strict"
    )


def _error(error: DomainError) -> Response:
    return problem(error.status, error.title, error.detail, **error.extra)


@router.post("/login", response_model=TokenRead, summary="Exchange email and password for an access token")
async def login(
    credentials: LoginRequest,
    client: ClientAddressDep,
    service: LoginServiceDep,
    response: Response,
    settings: SettingsDep,
) -> Response | TokenRead:
    """A short-lived bearer token, and a refresh token in an HttpOnly cookie (for `POST /auth/refresh`); 401 for any
    wrong pair, 429 with Retry-After after repeated failures."""
    outcome = await service.login(credentials, client)
    if outcome.error is not None:
        # Answered, not raised: the failed attempt must be committed to count against the next one.
        return _error(outcome.error)
    assert outcome.token is not None
    assert outcome.refresh is not None
    _set_refresh_cookie(response, outcome.refresh, settings)
    return outcome.token


@router.post(
    "/refresh",
    response_model=TokenRead,
    summary="Renew the access token from the refresh cookie",
    dependencies=[Depends(json_only)],
    responses=UNSUPPORTED_MEDIA_TYPE,
)
async def refresh(
    _: SessionRequest,
    service: RefreshServiceDep,
    response: Response,
    settings: SettingsDep,
    token: RefreshCookie = None,
) -> Response | TokenRead:
    """A new access token and a new refresh cookie; the presented refresh token is used up. 401 (and the cookie
    cleared) when the session is unknown, expired or ended, or the operator changed; presenting a token that was
    used already revokes its whole session. 409 with Retry-After when another request refreshed the same token a
    moment ago (two tabs): retry, with the cookie that request set."""
    token = _presented(token)
    if not token:
        answer = _error(Unauthorized("No session: log in first (the refresh cookie is missing)."))
        _clear_refresh_cookie(answer, settings)
        return answer
    outcome = await service.renew(token, datetime.now(UTC))
    if outcome.error is not None:
        # Answered, not raised: a revocation for reuse must be committed.
        answer = _error(outcome.error)
        if not outcome.keep_cookie:
            _clear_refresh_cookie(answer, settings)
        return answer
    assert outcome.renewal is not None
    _set_refresh_cookie(response, outcome.renewal.refresh, settings)
    return TokenRead(access_token=outcome.renewal.access_token, expires_in=outcome.renewal.expires_in)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End the session of the refresh cookie",
    dependencies=[Depends(json_only)],
    responses=UNSUPPORTED_MEDIA_TYPE,
)
async def logout(
    _: SessionRequest,
    request: Request,
    service: RefreshServiceDep,
    response: Response,
    settings: SettingsDep,
    token: RefreshCookie = None,
) -> None:
    """Revokes the session (every refresh token of it, and the access tokens it issued) and clears the cookie;
    204 also without a cookie or for a session that had ended."""
    token = _presented(token)
    if token:
        await service.end(token, datetime.now(UTC))
        forget_identities(request)
    _clear_refresh_cookie(response, settings)


@router.post(
    "/password",
    response_model=TokenRead,
    summary="Change one's own password",
)
async def change_password(
    data: PasswordChange,
    actor: RequireViewer,
    client: ClientAddressDep,
    request: Request,
    service: LoginServiceDep,
    response: Response,
    settings: SettingsDep,
) -> Response | TokenRead:
    """The calling operator's new password, given the current one; ends every earlier token and session, and
    answers a fresh token with a new session's refresh cookie. A wrong `current_password` is a 403 naming it, and
    counts as a failed login; API keys have no password (403)."""
    outcome = await service.change_password(actor, data, client)
    if outcome.error is not None:
        # Answered, not raised: a wrong current password is a failure that must be committed.
        return _error(outcome.error)
    assert outcome.token is not None
    assert outcome.refresh is not None
    forget_identities(request)
    _set_refresh_cookie(response, outcome.refresh, settings)
    return outcome.token


@router.get("/me", summary="The calling operator or API key")
async def me(actor: CurrentAdmin) -> MeRead:
    """Who the credentials belong to, and their role."""
    kind = "operator" if actor.kind is ActorKind.operator else "api_key"
    return MeRead.model_validate({"kind": kind, "id": actor.id, "name": actor.name, "role": actor.role})
