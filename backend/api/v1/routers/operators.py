"""Operator and API key management (admin role)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from backend.api.deps import AdminServiceDep, ReadSession, RequireAdmin, forget_identities
from backend.api.listing import OLDEST_FIRST, ListQuery, ListSpec, list_query
from backend.domain.admin import service as admin_service
from backend.domain.admin.schemas import (
    API_KEY_MULTI_VALUE,
    API_KEY_SORT_FIELDS,
    OPERATOR_MULTI_VALUE,
    OPERATOR_SORT_FIELDS,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyFilters,
    ApiKeyRead,
    OperatorCreate,
    OperatorFilters,
    OperatorRead,
    OperatorUpdate,
)

router = APIRouter(tags=["operators"])

# Operators and keys are a few dozen rows: a request without paging gets them all, as it did before these lists
# had paging (a page of 25 would have cut off clients that never sent a limit).
EVERY_ROW = 1000
OPERATOR_LIST = ListSpec(
    resource="operators",
    filters=OperatorFilters,
    multi_value=OPERATOR_MULTI_VALUE,
    sort_fields=OPERATOR_SORT_FIELDS,
    default_sort=OLDEST_FIRST,
    default_limit=EVERY_ROW,
    max_limit=EVERY_ROW,
    keyset=False,
)
API_KEY_LIST = ListSpec(
    resource="api-keys",
    filters=ApiKeyFilters,
    multi_value=API_KEY_MULTI_VALUE,
    sort_fields=API_KEY_SORT_FIELDS,
    default_sort=OLDEST_FIRST,
    default_limit=EVERY_ROW,
    max_limit=EVERY_ROW,
    keyset=False,
)
OperatorListing = Annotated[ListQuery[OperatorFilters], Depends(list_query(OPERATOR_LIST))]
ApiKeyListing = Annotated[ListQuery[ApiKeyFilters], Depends(list_query(API_KEY_LIST))]


@router.get("/operators", response_model=list[OperatorRead], summary="List operators")
async def list_operators(_: RequireAdmin, session: ReadSession, listing: OperatorListing) -> Response:
    """Operators matching the filters, oldest first unless sorted otherwise."""
    operators, total = await admin_service.list_operators(session, listing.filters, listing.page)
    return listing.respond(operators, total=total)


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


@router.get("/api-keys", response_model=list[ApiKeyRead], summary="List API keys")
async def list_api_keys(_: RequireAdmin, session: ReadSession, listing: ApiKeyListing) -> Response:
    """Keys matching the filters, without their secrets, oldest first unless sorted otherwise."""
    keys, total = await admin_service.list_api_keys(session, listing.filters, listing.page)
    return listing.respond(keys, total=total)


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
