"""The domain error hierarchy: services raise these, one API handler turns them into problem+json."""

from __future__ import annotations

from typing import ClassVar


class DomainError(Exception):
    """An expected failure of an operation; the subclass fixes its status and problem title."""

    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal server error"

    def __init__(self, detail: str, **extra: object) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra: dict[str, object] = extra


class BadRequest(DomainError):
    status = 400
    title = "Bad request"


class Unauthorized(DomainError):
    status = 401
    title = "Unauthorized"


class PermissionDenied(DomainError):
    status = 403
    title = "Forbidden"


class NotFoundError(DomainError):
    status = 404
    title = "Not found"


class ConflictError(DomainError):
    status = 409
    title = "Conflict"


class Gone(DomainError):
    status = 410
    title = "Gone"


class PreconditionFailed(DomainError):
    status = 412
    title = "Precondition failed"


class UnsupportedMediaType(DomainError):
    status = 415
    title = "Unsupported media type"


class UnprocessableEntity(DomainError):
    status = 422
    title = "Unprocessable entity"


class ServiceUnavailable(DomainError):
    status = 503
    title = "Service unavailable"
