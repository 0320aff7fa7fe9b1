"""Login, the caller's identity, and changing one's own password."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from backend.api.deps import ClientAddressDep, CurrentAdmin, LoginServiceDep, RequireViewer, forget_identities
from backend.api.problems import problem
from backend.domain.auth.schemas import LoginRequest, MeRead, PasswordChange, TokenRead
from backend.domain.identity import ActorKind

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/login", response_model=TokenRead, summary="Exchange email and password for an access token")
async def login(credentials: LoginRequest, client: ClientAddressDep, service: LoginServiceDep) -> Response | TokenRead:
    """A short-lived bearer token; 401 for any wrong pair, 429 with Retry-After after repeated failures."""
    outcome = await service.login(credentials, client)
    if outcome.error is not None:
        # Answered, not raised: the failed attempt must be committed to count against the next one.
        error = outcome.error
        return problem(error.status, error.title, error.detail, **error.extra)
    assert outcome.token is not None
    return outcome.token


@router.post(
    "/password",
    response_model=TokenRead,
    summary="Change one's own password",
)
async def change_password(
    data: PasswordChange, actor: RequireViewer, client: ClientAddressDep, request: Request, service: LoginServiceDep
) -> Response | TokenRead:
    """The calling operator's new password, given the current one; ends every earlier token and answers a fresh
    one. A wrong `current_password` is a 403 naming it, and counts as a failed login; API keys have no password
    (403)."""
    outcome = await service.change_password(actor, data, client)
    if outcome.error is not None:
        # Answered, not raised: a wrong current password is a failure that must be committed.
        error = outcome.error
        return problem(error.status, error.title, error.detail, **error.extra)
    assert outcome.token is not None
    forget_identities(request)
    return outcome.token


@router.get("/me", summary="The calling operator or API key")
async def me(actor: CurrentAdmin) -> MeRead:
    """Who the credentials belong to, and their role."""
    kind = "operator" if actor.kind is ActorKind.operator else "api_key"
    return MeRead.model_validate({"kind": kind, "id": actor.id, "name": actor.name, "role": actor.role})
