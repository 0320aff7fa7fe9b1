"""The OpenAPI document: FastAPI's, completed with what it cannot infer, so that clients generated from it
send exactly what the server accepts (the README's "The API" section)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from backend.api.listing import document_lists, without_null
from backend.infrastructure.settings import Settings

DESCRIPTION = """\
Admin backend: members, reviews, moderation and notes.

**Authentication.** Every operation under `/api/v1` but `POST /auth/login` needs `Authorization: Bearer <token>`
(from login) or `X-API-Key: <key>`.

**Lists** answer a bare JSON array, with the total in `X-Total-Count` and `Content-Range`, and the next page in
`Link` (rel=next/prev) and `X-Next-Cursor`. The parameters listed with each list are the native style. The same
lists also take the spellings of react-admin's data providers, as alternatives to their native twins (one style
per concern: giving both is a 400):

- `ra-data-simple-rest`: `sort=["name","ASC"]` (for `sort`), `range=[0,24]` (for `limit`/`offset`, inclusive)
  and `filter={"status":"pending","id":["..."]}` (for the filters);
- `ra-data-json-server`: `_sort=name&_order=ASC` (for `sort`), `_start=0&_end=25` (for `limit`/`offset`, end
  exclusive); filters as their own parameters, repeated for several values.

A multi-valued filter also takes comma-separated values (`status=pending,active`), except `id`.

**Input.** A parameter sent empty (`created_from=`) counts as not sent. Text may not hold NUL characters;
integers and times are bounded by what the database holds. Bodies take JSON's own types strictly (`true`,
not `1`). A date filter takes a date (a whole day in the server's ADMIN_TIMEZONE) or an RFC 3339 date-time.

**Retries.** Every POST honours an `Idempotency-Key` header (1 to 255 printable characters): a retry with the
same key and body gets the first answer back, with `Idempotent-Replayed: true`.
"""

SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "From POST /auth/login"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "An internal tool's key"},
}
# Login, and the console's session routes, which take the refresh cookie instead of a token.
PUBLIC_OPERATIONS = {("post", "/api/v1/auth/login"), ("post", "/api/v1/auth/refresh"), ("post", "/api/v1/auth/logout")}

ADMIN = "/api/v1/admin"
MEMBER = f"{ADMIN}/members/{{member_id}}"
PHOTO = f"{ADMIN}/photos/{{photo_id}}"
# (method, path, status) of an answer -> what a client can do next with it: (name, method, path, parameters).
# Parameters are runtime expressions (https://spec.openapis.org/oas/v3.1.0#runtime-expressions).
_NEW_MEMBER = {"member_id": "$response.body#/id"}
_SAME_MEMBER = {"member_id": "$request.path.member_id"}
_MEMBER_VERSION = {"member_id": "$response.body#/id", "header.If-Match": "$response.header.ETag"}
LINKS: dict[tuple[str, str, str], list[tuple[str, str, str, dict[str, str]]]] = {
    ("post", f"{ADMIN}/members", "201"): [
        ("GetMember", "get", MEMBER, _NEW_MEMBER),
        ("EditMember", "patch", MEMBER, _MEMBER_VERSION),
        ("ReplaceMember", "put", MEMBER, _MEMBER_VERSION),
        ("DeleteMember", "delete", MEMBER, _MEMBER_VERSION),
        ("ApproveMember", "post", f"{MEMBER}/approve", _MEMBER_VERSION),
        ("RejectMember", "post", f"{MEMBER}/reject", _MEMBER_VERSION),
        ("WriteNote", "post", f"{MEMBER}/notes", _NEW_MEMBER),
        ("ListNotes", "get", f"{MEMBER}/notes", _NEW_MEMBER),
        ("MemberAudit", "get", f"{MEMBER}/audit", _NEW_MEMBER),
        ("StartPhotoUpload", "post", f"{MEMBER}/photos", _NEW_MEMBER),
    ],
    ("get", MEMBER, "200"): [
        ("EditMember", "patch", MEMBER, _MEMBER_VERSION),
        ("SuspendMember", "post", f"{MEMBER}/suspend", _MEMBER_VERSION),
    ],
    ("patch", MEMBER, "200"): [("GetMember", "get", MEMBER, _NEW_MEMBER)],
    ("delete", MEMBER, "200"): [
        ("RestoreMember", "post", f"{MEMBER}/restore", _SAME_MEMBER),
        ("GetMember", "get", MEMBER, _SAME_MEMBER),
    ],
    ("post", f"{MEMBER}/restore", "200"): [("GetMember", "get", MEMBER, _NEW_MEMBER)],
    ("post", f"{MEMBER}/approve", "200"): [("SuspendMember", "post", f"{MEMBER}/suspend", _MEMBER_VERSION)],
    ("post", f"{MEMBER}/notes", "201"): [
        ("ListNotes", "get", f"{MEMBER}/notes", {"member_id": "$response.body#/user_id"})
    ],
    ("post", f"{MEMBER}/photos", "201"): [
        ("CompleteUpload", "post", f"{PHOTO}/complete", {"photo_id": "$response.body#/id"}),
        ("ModeratePhoto", "patch", PHOTO, {"photo_id": "$response.body#/id"}),
        ("DeletePhoto", "delete", PHOTO, {"photo_id": "$response.body#/id"}),
    ],
    ("post", f"{ADMIN}/operators", "201"): [
        ("EditOperator", "patch", f"{ADMIN}/operators/{{operator_id}}", {"operator_id": "$response.body#/id"})
    ],
    ("post", f"{ADMIN}/api-keys", "201"): [
        ("RevokeApiKey", "delete", f"{ADMIN}/api-keys/{{key_id}}", {"key_id": "$response.body#/id"})
    ],
}


def install(app: FastAPI, settings: Settings) -> None:
    """Make `app.openapi()` build the completed document (once, as FastAPI does)."""

    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()  # FastAPI's own, which it keeps in app.openapi_schema
            document_lists(app.routes, document["paths"])
            complete(document, settings)
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(document: dict[str, Any], settings: Settings) -> None:
    """Empty query values, security, links and configured limits: what the server does that FastAPI's document
    does not say."""
    components = document.setdefault("components", {})
    components["securitySchemes"] = SECURITY_SCHEMES
    # The configured size limit of a photo, which the server checks as soon as a size is announced.
    size = components["schemas"]["PhotoUploadCreate"]["properties"]["size_bytes"]
    size["maximum"] = settings.photo_max_bytes
    paths: dict[str, dict[str, Any]] = document["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", ()):
                # A parameter cannot be null on the wire: left out, it is the None of an optional one.
                parameter["schema"] = without_null(parameter["schema"])
                if parameter["in"] == "query" and not parameter.get("required"):
                    # Dropped before routing when empty (backend.api.rawinput): the same as not sent.
                    parameter["allowEmptyValue"] = True
            if path.startswith("/api/v1/") and (method, path) not in PUBLIC_OPERATIONS:
                operation["security"] = [{"bearer": []}, {"apiKey": []}]
    for (method, path, status), links in LINKS.items():
        response = paths[path][method]["responses"][status]
        response["links"] = {
            name: {"operationId": paths[target_path][target_method]["operationId"], "parameters": parameters}
            for name, target_method, target_path, parameters in links
        }
