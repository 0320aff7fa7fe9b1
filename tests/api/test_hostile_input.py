"""Hostile input, over every operation of the OpenAPI document and every role (issue 11 items 9 and 14).

The probes are generated from the document itself, as schemathesis does: for each operation, each of its query,
path and header parameters and each field of its body (nested ones included) gets NUL characters, lone
surrogates, invalid UTF-8, boundary and out-of-range integers, dates at and past the ends of what PostgreSQL and
Python hold, wrong JSON types, huge values, and an empty value; every operation also gets malformed and huge
headers, and every list forged, altered and foreign cursors. A new route, parameter or field is probed without a
line here. Whatever the probe: no 5xx, an answer within the timeout, every error as application/problem+json,
a refused value named in the problem, an empty parameter taken as not sent, and nothing written.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from backend.api.listing import encode_cursor
from backend.domain.admin.schemas import EMAIL_PATTERN
from backend.domain.auth.schemas import LOGIN_EMAIL_PATTERN
from backend.domain.identity import Role
from backend.domain.member.schemas import PHONE_PATTERN
from backend.domain.member.service import total_order
from backend.domain.ordering import SortKey
from backend.domain.schemas import NO_NUL_PATTERN, NOT_BLANK_PATTERN
from backend.infrastructure.settings import Settings
from backend.main import create_app
from tests.conftest import OPERATOR_PASSWORD, VIA_PGBOUNCER, api_client

OPERATORS = "/api/v1/admin/operators"
MEMBERS = "/api/v1/admin/members"
PROBLEM = "application/problem+json"
TIMEOUT_SECONDS = 30  # no probe may hang: far above what any answer takes

# A valid value for each pattern a request schema uses (a new pattern needs one here).
PATTERN_EXAMPLES = {
    PHONE_PATTERN: "+821055501234",
    EMAIL_PATTERN: "hostile@memberdesk.test",
    LOGIN_EMAIL_PATTERN: "hostile@memberdesk.test",
    NO_NUL_PATTERN: "x",
    NOT_BLANK_PATTERN: "x",
}


@dataclass
class Probe:
    """One request: an operation with one hostile part, `target`, which a refusal must name."""

    method: str
    path: str
    target: str
    what: str
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    refuse: bool = True  # False: a value at the edge, which may be accepted (but never a 5xx)
    empty: bool = False  # an empty parameter: answered as if it were not sent

    def describe(self) -> str:
        return f"{self.method} {self.path}{'?' + self.query[:80] if self.query else ''}: {self.target} {self.what}"


# ---------------------------------------------------------------------------------------------------- the document


class Document:
    """The app's OpenAPI document, with $refs resolved."""

    def __init__(self, app: FastAPI) -> None:
        self.raw = app.openapi()
        self.schemas: dict[str, Any] = self.raw["components"]["schemas"]

    def resolve(self, schema: Any) -> Any:
        if isinstance(schema, dict) and "$ref" in schema:
            return self.resolve(self.schemas[schema["$ref"].rsplit("/", 1)[-1]])
        return schema

    def operations(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for path, operations in self.raw["paths"].items():
            for method, operation in operations.items():
                yield method.upper(), path, operation

    def body_schema(self, operation: dict[str, Any]) -> dict[str, Any] | None:
        content = operation.get("requestBody", {}).get("content", {}).get("application/json")
        return self.resolve(content["schema"]) if content else None

    def branches(self, schema: dict[str, Any]) -> list[dict[str, Any]]:
        """The non-null alternatives of a schema, resolved."""
        schema = self.resolve(schema)
        if "anyOf" in schema and "type" not in schema:  # an object's anyOf of `required` is not a type choice
            return [b for branch in schema["anyOf"] for b in self.branches(branch) if b.get("type") != "null"]
        return [schema]

    def example(self, schema: dict[str, Any]) -> Any:
        """A valid value (the required fields of an object only)."""
        schema = self.branches(schema)[0]
        if "enum" in schema:
            return schema["enum"][0]
        if "const" in schema:
            return schema["const"]
        kind = schema.get("type")
        if kind == "object":
            properties = schema.get("properties", {})
            value = {name: self.example(properties[name]) for name in schema.get("required", [])}
            if "anyOf" in schema:  # "one of these is required" (PhotoUpdate)
                for name in schema["anyOf"][0].get("required", []):
                    value[name] = self.example(properties[name])
            return value
        if kind == "array":
            return [self.example(schema["items"])] * schema.get("minItems", 0)
        if kind == "integer":
            return schema.get("minimum", 1)
        if kind == "boolean":
            return True
        if kind == "string":
            if schema.get("format") == "uuid":
                return str(uuid.uuid4())
            if schema.get("format") == "date-time":
                return "2024-05-01T09:30:00+09:00"
            if schema.get("format") == "date":
                return "2024-05-01"
            text = PATTERN_EXAMPLES[schema["pattern"]] if "pattern" in schema else "x"
            return text * max(1, schema.get("minLength", 1) // len(text) + 1)
        raise AssertionError(f"no example for {schema}")

    def fields(self, schema: dict[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
        """Every (path, schema) of an object's properties, nested objects' too."""
        for branch in self.branches(schema):
            if branch.get("type") != "object":
                continue
            for name, prop in branch.get("properties", {}).items():
                if prop.get("readOnly"):
                    continue
                yield (*prefix, name), prop
                yield from self.fields(prop, (*prefix, name))


# ------------------------------------------------------------------------------------------------ hostile values

# Text that PostgreSQL cannot store or that is not text at all; huge text.
HOSTILE_TEXT = [("\x00", "NUL"), ("a\x00b", "NUL inside"), ("\ud800", "lone surrogate"), ("x" * 20_001, "huge")]
HOSTILE_INTEGERS = [2**15, 2**31, -(2**31) - 1, 2**63, -(2**63) - 1, 2**64, 10**40]
HOSTILE_MOMENTS = [
    ("9999-12-31T23:59:59-23:59", False),  # past year 9999 once in UTC: beyond every stored time, still valid
    ("0001-01-01T00:00:00+23:59", False),  # before year 1 once in UTC
    ("9999-12-31", False),  # the last day, whose end is in year 10000
    ("0001-01-01", False),
    ("10000-01-01T00:00:00Z", True),
    ("0000-01-01", True),
    ("2024-02-30", True),
    ("2024-01-01T24:00:00Z", True),
    ("2024-01-01T00:00:00+24:00", True),
    ("1700000000", True),  # a Unix time is not a date
    ("-infinity", True),
]


def _json(value: Any) -> bytes:
    # The standard json module writes lone surrogates as \ud800 escapes (orjson refuses them).
    return json.dumps(value).encode()


def _q(value: str) -> str:
    return quote(value, safe="", errors="surrogatepass")


def query_values(name: str, schema: dict[str, Any], document: Document) -> Iterator[tuple[str, str, bool]]:
    """(raw query value, what it is, whether it must be refused) for the query parameter `name` of `schema`."""
    yield "%00", "NUL", True
    yield "a%00b", "NUL inside", True
    yield "%FF%FE", "not UTF-8", True
    yield "%ED%A0%80", "an encoded surrogate (not UTF-8)", True
    branches = document.branches(schema)
    kinds = {b.get("type") for b in branches}
    item = document.branches(branches[0]["items"])[0] if "array" in kinds else None
    scalar = item if item is not None else branches[0]
    if scalar.get("type") == "integer" or "integer" in kinds:
        for number in (*HOSTILE_INTEGERS, -1):
            outside = not scalar.get("minimum", -(10**99)) <= number <= scalar.get("maximum", 10**99)
            yield str(number), f"integer {number}", outside
        yield "9" * 5000, "a 5,000-digit integer", True
        for text in ("1.0", "1e3", "+1", "1_0", " 1", "%EF%BC%91"):
            yield _q(text) if "%" not in text else text, f"not an integer ({text})", True
    elif scalar.get("type") == "boolean":
        for text in ("0", "1", "yes", "TRUE", "null"):
            yield text, f"not a boolean ({text})", True
    elif any(b.get("format") in ("date", "date-time") for b in branches):
        for text, refuse in HOSTILE_MOMENTS:
            yield _q(text), f"time {text}", refuse
    elif scalar.get("format") == "uuid":
        for text in ("not-a-uuid", "0" * 5000, str(2**128)):
            yield text, f"not a UUID ({text[:10]})", True
    elif "enum" in scalar:
        yield "0", "not one of the enum", True
    if "maxLength" in scalar:
        yield "x" * (scalar["maxLength"] + 1), "over maxLength", True
    if item is not None:
        many = _q(str(document.example(item)))
        # Past maxItems: unbounded, a list could pass PostgreSQL's limit of 32,767 parameters to a statement. (A
        # list of choices needs no bound: repeating one changes nothing.)
        bounded = "maxItems" in branches[0]
        yield f"&{name}=".join([many] * 300), "repeated 300 times", bounded
        yield f"{many}%2C" * 300 + many, "300 values separated by commas", bounded


def body_values(schema: dict[str, Any], document: Document) -> Iterator[tuple[Any, str, bool]]:
    """(JSON value, what it is, whether it must be refused) for a body field of `schema`."""
    branches = document.branches(schema)
    nullable = len(branches) < len(schema.get("anyOf", branches))
    if not nullable:
        yield None, "null", True
    first = branches[0]
    kind = first.get("type")
    if kind == "string" or "enum" in first:
        for text, what in HOSTILE_TEXT:
            yield text, what, True
        yield 1, "a number for text", True
        yield True, "a boolean for text", True
        if "maxLength" in first:
            yield "x" * (first["maxLength"] + 1), "over maxLength", True
        if first.get("format") == "date-time":
            for text, refuse in HOSTILE_MOMENTS:
                yield text, f"time {text}", refuse or "T" not in text
    elif kind == "integer":
        for number in HOSTILE_INTEGERS:
            outside = not first.get("minimum", -(10**99)) <= number <= first.get("maximum", 10**99)
            yield number, f"integer {number}", outside
        yield "1", "a string for an integer", True
        yield 1.5, "a fraction", True
        yield True, "a boolean for an integer", True
    elif kind == "boolean":
        yield 0, "0 for false", True
        yield 1, "1 for true", True
        yield "true", "a string for a boolean", True
    elif kind == "array":
        yield "x", "text for a list", True
        yield [None] * 10_000, "ten thousand nulls", True
    elif kind == "object":
        yield "x", "text for an object", True
        yield [], "a list for an object", True


HEADER_PROBES: list[tuple[str, str, str]] = [
    ("If-Match", '"' + "9" * 5000 + '"', "a 5,000-digit entity tag"),
    ("If-Match", "9" * 5000, "5,000 digits, unquoted"),
    ("If-Match", '"3\x00"', "NUL"),
    ("If-Match", '"99999999999999999999"', "a version past any integer column"),
    ("If-Match", "W/", "malformed"),
    ("Prefer", "count=\x00", "NUL"),
    ("Prefer", "count=" + "x" * 20_000, "huge"),
    ("Idempotency-Key", "\x00", "NUL"),
    ("Idempotency-Key", "k" * 20_000, "huge"),
    ("X-Memberdesk-LSN", "\x00", "NUL"),
    ("X-Memberdesk-LSN", "F" * 20_000 + "/0", "huge"),
    ("X-Request-ID", "\x00\r\n", "control characters"),
    ("X-Request-ID", "r" * 20_000, "huge"),
    ("Cookie", "memberdesk_lsn=\x00", "NUL"),
    ("Cookie", "memberdesk_lsn=" + "0" * 20_000, "huge"),
    ("Content-Type", "application/json; charset=\x00", "NUL"),
    ("Content-Type", "text/plain", "not JSON"),
    ("X-API-Key", "\x00", "NUL"),
    ("X-API-Key", "mdk_" + "k" * 20_000, "huge"),
    ("Authorization", "Bearer \x00", "NUL"),
    ("Authorization", "Bearer " + "e" * 20_000, "huge"),
    ("Authorization", "Bearer a.b.c", "malformed token"),
    ("Authorization", "Basic Zm9vOmJhcg==", "another scheme"),
    ("Accept", "\x00", "NUL"),
    ("X-Hostile", "\x01\x02\x7f", "control characters in a header the app never reads"),
]

# Request bodies that are not JSON, or JSON no schema can hold.
RAW_BODIES: list[tuple[bytes, str]] = [
    (b"\xff\xfe\x00", "not UTF-8"),
    (b"[" * 100_000, "nested 100,000 deep"),
    (b'{"a": NaN}', "NaN"),
    (b'{"a": Infinity}', "Infinity"),
    (b'{"a": 1e999}', "a number past a double"),
    (b'{"a": ' + b"9" * 5000 + b"}", "a 5,000-digit number"),
    (b'"\\ud800"', "a lone surrogate"),
    (b"", "empty"),
    (b"null", "null"),
]


# ------------------------------------------------------------------------------------------------------ the probes


def _concrete(path: str, operation: dict[str, Any], document: Document) -> str:
    for parameter in operation.get("parameters", ()):
        if parameter["in"] == "path":
            schema = document.branches(parameter["schema"])[0]
            value = "1" if schema.get("type") == "integer" else str(uuid.uuid4())
            path = path.replace(f"{{{parameter['name']}}}", value)
    return path


def probes(document: Document) -> Iterator[Probe]:
    """Every hostile probe of every operation in the document."""
    for method, template, operation in document.operations():
        yield from _operation_probes(method, template, operation, document)


def _operation_probes(method: str, template: str, operation: dict[str, Any], document: Document) -> Iterator[Probe]:
    path = _concrete(template, operation, document)
    body_schema = document.body_schema(operation)
    base: dict[str, Any] = document.example(body_schema) if body_schema is not None else {}
    base_body = _json(base) if body_schema is not None else None

    for parameter in operation.get("parameters", ()):
        name, where = parameter["name"], parameter["in"]
        if where == "query":
            yield Probe(method, path, name, "empty", query=f"{name}=", body=base_body, refuse=False, empty=True)
            for raw, what, refuse in query_values(name, parameter["schema"], document):
                yield Probe(method, path, name, what, query=f"{name}={raw}", body=base_body, refuse=refuse)
        elif where == "path":
            for raw, what in (("%00", "NUL"), ("9" * 5000, "5,000 digits"), (str(2**63), "2^63"), ("%FF", "bad")):
                yield Probe(method, template.replace(f"{{{name}}}", raw), name, what, body=base_body)
    if body_schema is not None:
        for names, schema in document.fields(body_schema):
            for value, what, refuse in body_values(schema, document):
                body = _json(_replace(base, names, value))
                yield Probe(method, path, ".".join(names), what, body=body, refuse=refuse)
        yield Probe(method, path, "body", "an unknown field", body=_json({**base, "hostile": "\x00"}))
        for content, what in RAW_BODIES:
            yield Probe(method, path, "body", what, body=content)
    declared = {p["name"].lower(): p["schema"] for p in operation.get("parameters", ()) if p["in"] == "header"}
    for name, value, what in HEADER_PROBES:
        # Control characters are refused in any header; other values where the document says they are invalid.
        control = any(ord(c) < 32 or c == "\x7f" for c in value)
        refuse = control or (name.lower() in declared and _violates(declared[name.lower()], value, document))
        # Without a body: a well-formed login would count as a failed one (and throttle the test client).
        yield Probe(method, path, name, what, headers={name: value}, refuse=refuse)


def _violates(schema: dict[str, Any], value: str, document: Document) -> bool:
    """Whether a header value breaks its declared string schema (the patterns here read alike in Python)."""
    branch = document.branches(schema)[0]
    too_long = len(value) > branch.get("maxLength", len(value))
    return too_long or ("pattern" in branch and re.search(branch["pattern"], value) is None)


def _replace(base: Any, names: tuple[str, ...], value: Any) -> Any:
    """`base` with the field at `names` set to `value` (parents made when absent)."""
    copy = json.loads(json.dumps(base))
    target = copy
    for name in names[:-1]:
        if not isinstance(target.get(name), dict):
            target[name] = {}
        target = target[name]
    target[names[-1]] = value
    return copy


# ----------------------------------------------------------------------------------------------------- the checks


def _named(problem: dict[str, Any], target: str) -> bool:
    """Whether a problem names `target` (a parameter, a header, a body field or its last part)."""
    last = target.rsplit(".", 1)[-1].lower()
    names = {str(problem.get(key, "")).lower() for key in ("parameter", "header", "field")}
    for error in problem.get("errors", ()):
        names.update(str(part).lower() for part in error.get("loc", ()))
    return last in names or target.lower() in names or last in str(problem.get("detail", "")).lower()


async def send(client: httpx.AsyncClient, probe: Probe) -> httpx.Response:
    url = probe.path + (f"?{probe.query}" if probe.query else "")
    headers = {**probe.headers}
    if probe.body is not None and "Content-Type" not in headers:
        headers["Content-Type"] = "application/json"
    async with asyncio.timeout(TIMEOUT_SECONDS):
        return await client.request(probe.method, httpx.URL(url), content=probe.body, headers=headers)


def failures_of(probe: Probe, response: httpx.Response, baseline: int | None) -> list[str]:
    problems = []
    if response.status_code >= 500:
        problems.append(f"{response.status_code}: {response.text[:300]}")
    if response.status_code >= 400:
        if response.headers.get("content-type") != PROBLEM:
            problems.append(f"{response.status_code} as {response.headers.get('content-type')}")
        else:
            body = response.json()
            if body.get("status") != response.status_code:
                problems.append(f"problem status {body.get('status')} on a {response.status_code}")
            if (
                probe.refuse
                and response.status_code in (400, 422)
                and probe.target != "body"
                and not _named(body, probe.target)
            ):
                problems.append(f"{response.status_code} does not name {probe.target}: {response.text[:300]}")
    if probe.refuse and 200 <= response.status_code < 300:
        problems.append(f"accepted: {response.status_code} {response.text[:200]}")
    if probe.empty and baseline is not None and response.status_code != baseline:
        problems.append(f"an empty value answered {response.status_code}, not sending it {baseline}")
    return problems


@pytest.fixture(scope="module")
def document(app: FastAPI) -> Document:
    return Document(app)


@pytest.fixture(scope="module")
async def clients(app: FastAPI, tokens: dict[Role, str]) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    made = {"nobody": api_client(app)}
    for role in (Role.viewer, Role.moderator, Role.admin):
        made[role.value] = api_client(app, {"Authorization": f"Bearer {tokens[role]}"})
    try:
        yield made
    finally:
        for client in made.values():
            await client.aclose()


async def _written(db: asyncpg.Pool) -> tuple[int, ...]:
    row = await db.fetchrow(
        "SELECT (SELECT count(*) FROM audit_log), (SELECT count(*) FROM users), (SELECT count(*) FROM outbox),"
        " (SELECT count(*) FROM admin_users), (SELECT count(*) FROM api_keys), (SELECT count(*) FROM member_notes)"
    )
    assert row is not None
    return tuple(row)


@pytest.mark.skipif(VIA_PGBOUNCER, reason="checks input, not pooling: the direct pass runs it")
@pytest.mark.parametrize("role", ["nobody", "viewer", "moderator", "admin"])
async def test_no_probe_gets_a_5xx_a_bare_error_or_an_unnamed_refusal(
    document: Document, clients: dict[str, httpx.AsyncClient], db: asyncpg.Pool, role: str
) -> None:
    client = clients[role]
    before = await _written(db)
    baselines: dict[tuple[str, str], int] = {}
    failed: list[str] = []
    count = 0
    for probe in probes(document):
        key = (probe.method, probe.path)
        if probe.empty and key not in baselines:
            baselines[key] = (await send(client, Probe(probe.method, probe.path, "", "", body=probe.body))).status_code
        response = await send(client, probe)
        count += 1
        failed += [f"{probe.describe()} -> {problem}" for problem in failures_of(probe, response, baselines.get(key))]
    assert count > 1000
    assert failed == [], f"{len(failed)} of {count} probes failed:\n" + "\n".join(failed[:60])
    assert await _written(db) == before, "a hostile request wrote something"


def _unbounded(schema: dict[str, Any], document: Document) -> list[str]:
    """What a schema leaves unbounded: text without a length (or a format, enum, pattern of fixed shape),
    integers without both bounds, lists of free values without a count."""
    found = []
    for branch in document.branches(schema):
        kind = branch.get("type")
        fixed = {"enum", "const", "format"} & branch.keys()
        if kind == "string" and not fixed and "maxLength" not in branch and branch.get("pattern") != PHONE_PATTERN:
            found.append("text without maxLength")
        if kind == "integer" and not {"minimum", "maximum"} <= branch.keys():
            found.append("an integer without minimum and maximum")
        if kind == "array":
            if "maxItems" not in branch and "enum" not in document.branches(branch["items"])[0]:
                found.append("a list without maxItems")
            found += _unbounded(branch["items"], document)
    return found


def test_the_document_bounds_every_input(document: Document) -> None:
    # What the server holds every input to is in the document, for clients generated from it.
    unbounded = []
    for method, path, operation in document.operations():
        for parameter in operation.get("parameters", ()):
            if parameter["in"] in ("header", "cookie"):
                # Read as text whatever their length, which the server's header limit bounds. (A cookie declares no
                # maxLength: the Cookie header is split on `;` and `=`, so a value over it can arrive cut shorter and
                # be taken, and schemathesis would see a violating value accepted; the refresh cookie's route
                # treats an over-long one as no session instead.)
                continue
            where = f"{method} {path} {parameter['in']} {parameter['name']}"
            unbounded += [f"{where}: {what}" for what in _unbounded(parameter["schema"], document)]
        body = document.body_schema(operation)
        for names, schema in document.fields(body) if body is not None else ():
            unbounded += [f"{method} {path} body {'.'.join(names)}: {what}" for what in _unbounded(schema, document)]
    assert unbounded == []


# -------------------------------------------------------------------------------------------- cursors and the rest


def _forge(payload: list[Any], key: bytes) -> str:
    text = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    digest = hmac.new(key, text.encode(), hashlib.sha256).digest()[:16]
    return f"{text}.{base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}"


class TestCursors:
    async def test_a_forged_or_altered_cursor_is_a_400_on_every_list(
        self, document: Document, admin: httpx.AsyncClient
    ) -> None:
        lists = [
            (method, path, operation)
            for method, path, operation in document.operations()
            if any(p["name"] == "cursor" for p in operation.get("parameters", ()))
        ]
        assert len(lists) >= 4
        for _, template, operation in lists:
            path = _concrete(template, operation, document)
            first = await admin.get(path, params={"limit": "1"})
            assert first.status_code == 200, f"{template}: {first.text}"
            genuine = first.headers.get("X-Next-Cursor")
            fakes = ["x" * 5000, "a.b", "\x00"]
            if genuine is not None:
                payload, signature = genuine.split(".")
                fakes += [payload, f"{payload[:-1]}A.{signature}", f"{payload}.{signature[::-1]}", f"{genuine}x"]
                assert (await admin.get(path, params={"limit": "1", "cursor": genuine})).status_code == 200
            for fake in fakes:
                response = await admin.get(path, params={"limit": "1", "cursor": fake})
                assert response.status_code == 400, f"{template} with {fake[:40]!r}: {response.text}"
                assert response.json()["parameter"] == "cursor"

    @pytest.mark.parametrize(
        ("path", "sort", "values"),
        [
            # A cursor's birth_year of 2^31 (the column is a smallint), a name with NUL, a time past year 9999.
            (MEMBERS, "birth_year", [2**31, str(uuid.uuid4())]),
            (MEMBERS, "name", ["a\x00", str(uuid.uuid4())]),
            (MEMBERS, "created_at", ["9999-12-31T23:59:59-23:59", str(uuid.uuid4())]),
            (MEMBERS, "created_at", ["0001-01-01T00:00:00+23:59", str(uuid.uuid4())]),
            # An audit or outbox id of 2^63 (bigint columns), and a negative one.
            ("/api/v1/admin/audit-log", "-created_at", ["2024-05-01T00:00:00+00:00", 2**63]),
            ("/api/v1/admin/outbox", "-created_at", ["2024-05-01T00:00:00+00:00", -1]),
            ("/api/v1/admin/audit-log", "-created_at", ["2024-05-01T00:00:00", 1]),
        ],
    )
    async def test_a_signed_cursor_with_values_no_column_holds_is_a_400(
        self, admin: httpx.AsyncClient, settings: Settings, path: str, sort: str, values: list[Any]
    ) -> None:
        # Only someone holding the server's key could make these; they are refused all the same.
        if path == MEMBERS:
            order = total_order((SortKey(sort.lstrip("-"), sort.startswith("-")),))
        else:
            order = (SortKey("created_at", True), SortKey("id", True))
        cursor = encode_cursor(values, order, settings.cursor_key)
        response = await admin.get(path, params={"sort": sort, "cursor": cursor})
        if response.status_code == 200:  # clamped to the end of time: a valid position, past every row
            assert values[0] in ("9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59")
            return
        assert response.status_code == 400, response.text
        assert response.json()["parameter"] == "cursor"

    async def test_a_cursor_signed_with_another_key_is_a_400(self, admin: httpx.AsyncClient) -> None:
        genuine = (await admin.get(MEMBERS, params={"limit": "1"})).headers["X-Next-Cursor"]
        payload = json.loads(base64.urlsafe_b64decode(genuine.split(".")[0] + "==="))
        response = await admin.get(MEMBERS, params={"limit": "1", "cursor": _forge(payload, b"not the key" * 3)})
        assert response.status_code == 400
        assert "not issued by this server" in response.json()["detail"]


class TestRawInput:
    async def test_nul_in_a_query_value_is_a_400_naming_it(self, admin: httpx.AsyncClient) -> None:
        # Once a 500 at PostgreSQL (and a CSV export that hung): refused before any handler runs.
        for path in (MEMBERS, f"{MEMBERS}/export.csv", "/api/v1/admin/audit-log"):
            response = await admin.get(f"{path}?q=%00")
            assert response.status_code == 400, response.text
            assert response.json()["parameter"] == "q"

    async def test_an_empty_parameter_counts_as_not_sent(self, admin: httpx.AsyncClient) -> None:
        plain = await admin.get(MEMBERS, params={"limit": "3"})
        empty = await admin.get(
            f"{MEMBERS}?limit=3&signed_up_from=&signed_up_to=&q=&status=&has_photos=&birth_year_min=&cursor=&sort"
        )
        assert empty.status_code == 200, empty.text
        assert empty.json() == plain.json()
        audit = await admin.get("/api/v1/admin/audit-log?created_from=&created_to=&actor_type=")
        assert audit.status_code == 200, audit.text

    @pytest.mark.parametrize(
        ("path", "parameter", "value"),
        [
            (MEMBERS, "signed_up_to", "9999-12-31"),  # its end is in year 10000
            (MEMBERS, "signed_up_from", "9999-12-31T23:59:59-23:59"),  # year 10000 once in UTC
            (MEMBERS, "signed_up_to", "0001-01-01T00:00:00+23:59"),  # year 0 once in UTC
            ("/api/v1/admin/audit-log", "created_to", "9999-12-31T23:59:59-05:00"),
            ("/api/v1/admin/audit-log", "created_from", "0001-01-01"),
        ],
    )
    async def test_a_time_past_the_ends_of_time_is_a_bound_not_a_500(
        self, admin: httpx.AsyncClient, path: str, parameter: str, value: str
    ) -> None:
        # Each overflowed Python's datetime on its way to PostgreSQL: a 500.
        response = await admin.get(path, params={parameter: value})
        assert response.status_code == 200, response.text

    async def test_the_export_takes_no_paging(self, admin: httpx.AsyncClient) -> None:
        for parameter, value in (("limit", "5"), ("offset", "10"), ("cursor", "a.b"), ("range", "[0,9]")):
            response = await admin.get(f"{MEMBERS}/export.csv", params={parameter: value})
            assert response.status_code == 400, response.text
            assert response.json()["parameter"] == parameter

    async def test_a_header_with_a_control_character_is_a_400_naming_it(self, admin: httpx.AsyncClient) -> None:
        response = await admin.get(MEMBERS, headers={"X-Request-ID": "a\x00b"})
        assert response.status_code == 400
        assert response.json()["header"].lower() == "x-request-id"

    async def test_a_5000_digit_if_match_is_refused_or_stale_never_a_500(
        self, admin: httpx.AsyncClient, db: asyncpg.Pool
    ) -> None:
        member = (await admin.get(MEMBERS, params={"limit": "1"})).json()[0]["id"]
        for value, statuses in (
            ('"' + "9" * 5000 + '"', {400, 422}),
            ("9" * 5000, {400, 422}),
            ('"99999999999"', {412}),
        ):
            response = await admin.patch(f"{MEMBERS}/{member}", json={"name": "x"}, headers={"If-Match": value})
            assert response.status_code in statuses, response.text
            assert response.headers["content-type"] == PROBLEM

    async def test_405_lists_every_method_of_the_resource(self, admin: httpx.AsyncClient) -> None:
        response = await admin.request("OPTIONS", f"{MEMBERS}/{uuid.uuid4()}")
        assert response.status_code == 405
        assert set(response.headers["allow"].split(", ")) == {"GET", "PATCH", "PUT", "DELETE"}
        assert (await admin.post(f"{MEMBERS}/export.csv")).headers["allow"] == "GET"
        # A method of a later route with a parameter is not the export's: 405, not a 422 about a member id.
        put = await admin.put(f"{MEMBERS}/export.csv", json={})
        assert (put.status_code, put.headers["allow"]) == (405, "GET")

    async def test_request_bodies_take_strict_json_types(self, admin: httpx.AsyncClient) -> None:
        # The probe's `{"is_active": 0}`: refused, the operator untouched.
        created = await admin.post(
            OPERATORS,
            json={
                "email": f"s-{uuid.uuid4().hex[:8]}@memberdesk.test",
                "name": "S",
                "role": "viewer",
                "password": OPERATOR_PASSWORD,
            },
        )
        operator = created.json()["id"]
        for body in ({"is_active": 0}, {"is_active": "false"}, {"name": 0}, {"role": 1}):
            response = await admin.patch(f"{OPERATORS}/{operator}", json=body)
            assert response.status_code == 422, (body, response.text)
            assert response.json()["errors"][0]["loc"] == ["body", next(iter(body))]
        listed = {o["id"]: o for o in (await admin.get(OPERATORS)).json()}
        assert (listed[operator]["name"], listed[operator]["is_active"]) == ("S", True)
        # JSON's own spellings of what JSON lacks are taken: a UUID, a date-time and an enum as strings.
        member = (await admin.get(MEMBERS, params={"limit": "1"})).json()[0]
        echoed = {k: member[k] for k in ("id", "status", "created_at", "name", "gender", "birth_year", "version")}
        response = await admin.put(f"{MEMBERS}/{member['id']}", json=echoed)
        assert response.status_code == 200, response.text


async def test_a_body_over_the_limit_is_413(admin: httpx.AsyncClient, settings: Settings) -> None:
    body = b'{"name": "' + b"x" * settings.max_body_bytes + b'"}'
    response = await admin.post(OPERATORS, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM


async def test_a_chunked_body_over_the_limit_is_413(admin: httpx.AsyncClient, settings: Settings) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(settings.max_body_bytes // 65536 + 2):
            yield b"x" * 65536

    response = await admin.post(OPERATORS, content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


async def test_fields_a_client_may_not_set_are_refused(admin: httpx.AsyncClient) -> None:
    for forbidden in ({"id": str(uuid.uuid4())}, {"password_hash": "x"}, {"created_at": "2020-01-01T00:00:00Z"}):
        body = {
            "email": f"f-{uuid.uuid4().hex[:8]}@memberdesk.test",
            "name": "F",
            "role": "viewer",
            "password": OPERATOR_PASSWORD,
            **forbidden,
        }
        response = await admin.post(OPERATORS, json=body)
        assert response.status_code == 422, response.text
        assert [e["loc"][-1] for e in response.json()["errors"]] == list(forbidden)


async def test_cors_allows_configured_origins_and_exposes_list_headers(
    settings: Settings, admin: httpx.AsyncClient
) -> None:
    app: FastAPI = create_app(settings.model_copy(update={"cors_origins": ["https://admin.example"]}))
    async with app.router.lifespan_context(app), api_client(app) as c:
        preflight = await c.options(
            "/api/v1/admin/members",
            headers={"Origin": "https://admin.example", "Access-Control-Request-Method": "GET"},
        )
        assert preflight.headers["access-control-allow-origin"] == "https://admin.example"
        other = await c.options(
            "/api/v1/admin/members", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
        )
        assert "access-control-allow-origin" not in other.headers
        listed = await c.get(
            "/api/v1/admin/members",
            headers={"Origin": "https://admin.example", "Authorization": admin.headers["Authorization"]},
        )
        exposed = {h.strip() for h in listed.headers["access-control-expose-headers"].split(",")}
        assert {"X-Total-Count", "Content-Range", "Link"} <= exposed
    # Without CORS_ORIGINS (the default: the console is served from the API's origin) no origin is allowed.
    same_origin_only = await admin.get("/api/v1/admin/members", headers={"Origin": "https://admin.example"})
    assert same_origin_only.status_code == 200
    assert "access-control-allow-origin" not in same_origin_only.headers
