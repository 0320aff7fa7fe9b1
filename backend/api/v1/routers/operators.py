"""Operator and API key management (admin role)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response, status

from backend.api.deps import AdminServiceDep, ReadSession, RequireAdmin, forget_identities
from backend.domain.admin import service as admin_service
from backend.domain.admin.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    OperatorCreate,
    OperatorRead,
    OperatorUpdate,
)

router = APIRouter(tags=["operators"])


@router.get("/operators", summary="List operators")
async def list_operators(_: RequireAdmin, session: ReadSession, response: Response) -> list[OperatorRead]:
    """Every operator, oldest first."""
    operators = await admin_service.list_operators(session)
    response.headers["X-Total-Count"] = str(len(operators))
    return operators


@router.post("/operators", status_code=status.HTTP_201_CREATED, summary="Create an operator")
async def create_operator(data: OperatorCreate, _: RequireAdmin, service: AdminServiceDep) -> OperatorRead:
    """A new operator with a role; 409 when the email is taken."""
    return await service.create_operator(data)


@router.patch("/operators/{operator_id}", summary="Change an operator")
async def update_operator(
    operator_id: uuid.UUID, data: OperatorUpdate, request: Request, _: RequireAdmin, service: AdminServiceDep
) -> OperatorRead:
    """Name, role, password or active flag; deactivating ends the operator's access at once."""
    operator = await service.update_operator(operator_id, data)
    forget_identities(request)
    return operator


@router.get("/api-keys", summary="List API keys")
async def list_api_keys(_: RequireAdmin, session: ReadSession, response: Response) -> list[ApiKeyRead]:
    """Every key, without its secret."""
    keys = await admin_service.list_api_keys(session)
    response.headers["X-Total-Count"] = str(len(keys))
    return keys


@router.post("/api-keys", status_code=status.HTTP_201_CREATED, summary="Create an API key")
async def create_api_key(data: ApiKeyCreate, _: RequireAdmin, service: AdminServiceDep) -> ApiKeyCreated:
    """A key for an internal tool; the key is in this answer only."""
    return await service.create_api_key(data)


@router.delete("/api-keys/{key_id}", summary="Revoke an API key")
async def revoke_api_key(key_id: uuid.UUID, request: Request, _: RequireAdmin, service: AdminServiceDep) -> ApiKeyRead:
    """The key stops working at once."""
    key = await service.revoke_api_key(key_id)
    forget_identities(request)
    return key
