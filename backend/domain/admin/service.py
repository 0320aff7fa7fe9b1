"""AdminService: operator and API key management, every change audited in its transaction."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy.exc import IntegrityError

from backend.domain.admin import repository
from backend.domain.admin.models import AdminUser, ApiKey
from backend.domain.admin.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyFilters,
    ApiKeyRead,
    OperatorCreate,
    OperatorFilters,
    OperatorRead,
    OperatorUpdate,
)
from backend.domain.audit.service import AuditTrail, changes
from backend.domain.errors import ConflictError, NotFoundError
from backend.domain.identity import ROLE_RANK, ActorKind, AuditContext, OperatorRole, Role
from backend.domain.ordering import Page
from backend.domain.sessions import AnySession, AsyncWriteSession
from backend.infrastructure import security

_OPERATOR_AUDITED = ("email", "name", "role", "is_active")


def _operator_state(row: AdminUser) -> dict[str, object]:
    return {field: getattr(row, field) for field in _OPERATOR_AUDITED}


class AdminService:
    def __init__(self, session: AsyncWriteSession, context: AuditContext) -> None:
        self.session = session
        self.audit = AuditTrail(session, context)
        self.actor = context.actor

    async def create_operator(self, data: OperatorCreate) -> OperatorRead:
        """A new operator; 409 when the email is taken."""
        if await repository.operator_by_email(self.session, data.email) is not None:
            raise ConflictError(f"An operator with email {data.email} exists.", field="email")
        password_hash = await security.hash_password(data.password)
        row = AdminUser(email=data.email, name=data.name, role=Role(data.role), password_hash=password_hash)
        try:
            await repository.add(self.session, row)
        except IntegrityError as exc:  # a concurrent create of the same email
            raise ConflictError(f"An operator with email {data.email} exists.", field="email") from exc
        await self.audit.record("operator.created", "admin_user", row.id, changes(None, _operator_state(row)))
        return OperatorRead.model_validate(row)

    async def update_operator(self, operator_id: uuid.UUID, data: OperatorUpdate) -> OperatorRead:
        """Change name, role, active flag or password; deactivation ends access at the next request.

        A new password, role or active flag ends every token issued before (the operator's token version goes
        up). The last active admin keeps that role and stays active, and no operator lowers their own role,
        deactivates themself or sets their own password here (that goes through POST /auth/password, which asks
        for the current one): 409 naming the field.
        """
        self._refuse_changes_to_oneself(operator_id, data)
        # Hashed before the row is locked: the lock is not held through the hashing.
        password_hash = await security.hash_password(data.password) if data.password is not None else None
        if data.role is not None or data.is_active is not None:
            await repository.lock_admin_set(self.session)  # before the row: one lock order for every change
        row = await repository.operator_for_update(self.session, operator_id)
        if row is None:
            raise NotFoundError(f"No operator with id {operator_id}.")
        before = _operator_state(row)
        was_role, was_active = Role(row.role), row.is_active
        values = data.model_dump(exclude_unset=True, exclude={"password"})
        for field, value in values.items():
            if value is not None:
                setattr(row, field, value)
        if self._is_self(operator_id) and ROLE_RANK[Role(row.role)] < ROLE_RANK[was_role]:
            raise ConflictError("You cannot lower your own role; another admin can.", field="role")
        removes_an_admin = was_role is Role.admin and was_active and (row.role != Role.admin or not row.is_active)
        if removes_an_admin and await repository.other_active_admins(self.session, operator_id) == 0:
            raise ConflictError(
                f"{row.email} is the last active admin: make another operator admin first.",
                field="is_active" if not row.is_active else "role",
            )
        diff = changes(before, _operator_state(row))
        if password_hash is not None:
            row.password_hash = password_hash
            diff["password"] = {"before": "***", "after": "***"}
        if diff.keys() & {"password", "role", "is_active"}:
            row.token_version += 1  # ends the tokens issued before this change
        await repository.flush(self.session)
        if diff:
            await self.audit.record("operator.updated", "admin_user", row.id, diff)
        return OperatorRead.model_validate(row)

    def _is_self(self, operator_id: uuid.UUID) -> bool:
        return self.actor.kind is ActorKind.operator and self.actor.id == operator_id

    def _refuse_changes_to_oneself(self, operator_id: uuid.UUID, data: OperatorUpdate) -> None:
        if not self._is_self(operator_id):
            return
        if data.password is not None:
            raise ConflictError(
                "Change your own password with POST /api/v1/auth/password, which asks for the current one.",
                field="password",
            )
        if data.is_active is False:
            raise ConflictError("You cannot deactivate yourself; another admin can.", field="is_active")

    async def create_api_key(self, data: ApiKeyCreate) -> ApiKeyCreated:
        """A key for an internal tool, returned once."""
        material = security.new_api_key()
        row = ApiKey(
            name=data.name, prefix=material.prefix, key_hash=material.key_hash, role=data.role, created_by=self.actor.id
        )
        await repository.add(self.session, row)
        await self.audit.record(
            "api_key.created", "api_key", row.id, changes(None, {"name": row.name, "role": row.role})
        )
        return ApiKeyCreated.model_validate({**ApiKeyRead.model_validate(row).model_dump(), "key": material.key})

    async def revoke_api_key(self, key_id: uuid.UUID) -> ApiKeyRead:
        """Revoke a key; it stops working at once."""
        row = await repository.revoke_api_key(self.session, key_id)
        if row is None:
            raise NotFoundError(f"No API key with id {key_id}.")
        await self.audit.record("api_key.revoked", "api_key", row.id, changes(None, {"revoked_at": row.revoked_at}))
        return ApiKeyRead.model_validate(row)


async def list_operators(
    session: AnySession, filters: OperatorFilters, page: Page
) -> tuple[list[OperatorRead], int | None]:
    """A page of operators, and how many match when the page asks."""
    query = repository.OperatorQuery(page, roles=filters.role, is_active=filters.is_active, q=filters.q, ids=filters.id)
    rows = await repository.list_operators(session, query)
    total = await _total(page, len(rows), lambda: repository.count_operators(session, query))
    return [OperatorRead.model_validate(row) for row in rows], total


async def list_api_keys(session: AnySession, filters: ApiKeyFilters, page: Page) -> tuple[list[ApiKeyRead], int | None]:
    """A page of API keys (never their secrets), and how many match when the page asks."""
    query = repository.ApiKeyQuery(
        page, roles=filters.role, revoked=filters.revoked, created_by=filters.created_by, q=filters.q, ids=filters.id
    )
    rows = await repository.list_api_keys(session, query)
    total = await _total(page, len(rows), lambda: repository.count_api_keys(session, query))
    return [ApiKeyRead.model_validate(row) for row in rows], total


async def _total(page: Page, returned: int, count: Callable[[], Awaitable[int]]) -> int | None:
    """The page's total: none unless asked; told by the page itself when it has rows and is short of its limit (or
    is an empty first page), else counted."""
    if not page.count:
        return None
    if 0 < returned < page.limit or (returned == 0 and page.offset == 0):
        return page.offset + returned
    return await count()


async def ensure_operator(
    session: AsyncWriteSession, context: AuditContext, *, email: str, name: str, role: Role, password: str
) -> OperatorRead:
    """Create the operator, or reset its password, role and active flag if the email exists."""
    service = AdminService(session, context)
    existing = await repository.operator_by_email(session, email)
    if existing is None:
        return await service.create_operator(
            OperatorCreate(email=email, name=name, role=OperatorRole(role), password=password)
        )
    # The same password again is no change: it would end the operator's tokens at every `memberdesk dev` start.
    same = await security.verify_password(existing.password_hash, password)
    return await service.update_operator(
        existing.id,
        OperatorUpdate(name=name, role=OperatorRole(role), is_active=True, password=None if same else password),
    )
