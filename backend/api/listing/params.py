"""List-query conventions shared by every list endpoint (DESIGN.md section 4).

One endpoint accepts three query styles: native (`status=pending&sort=-created_at,name&limit=25&offset=0`
or `cursor=`), react-admin's ra-data-simple-rest (`sort=["created_at","DESC"]&range=[0,24]&filter={...}`) and
ra-data-json-server (`_sort=created_at&_order=DESC&_start=0&_end=25`, flattened filters, repeated `id=`).
The style is read per parameter; combining two styles for the same concern (sorting or paging) is a 400.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Generic, Literal, TypeAlias, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from backend.domain.errors import BadRequest
from backend.domain.ordering import SortKey

JSONScalar: TypeAlias = str | int | float | bool | None
CountMode: TypeAlias = Literal["exact", "estimated", "none"]

PAGING_PARAMS = frozenset({"limit", "offset", "cursor", "range", "_start", "_end"})
RESERVED_PARAMS = PAGING_PARAMS | {"sort", "_sort", "_order", "filter"}
EXPOSED_HEADERS = "X-Total-Count, Content-Range, Link"

# PostgreSQL's OFFSET is a bigint: anything larger would fail in the driver, as a 500.
_MAX_OFFSET = 2**63 - 1
_INT_RE = re.compile(r"-?[0-9]+")
# A cursor is `<payload>.<signature>`, both base64url without padding: the payload is the JSON of the sort's
# fingerprint and the last row's values, the signature an HMAC-SHA256 of the payload (cut to 128 bits) with the
# server's cursor key, so that a client can neither make one up nor alter one.
MAX_CURSOR_LENGTH = 2048
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$"
_CURSOR_RE = re.compile(CURSOR_PATTERN)
_SIGNATURE_BYTES = 16
_COUNT_MODES: dict[str, CountMode] = {"exact": "exact", "estimated": "estimated", "none": "none"}
_SORT_ORDERS = {"ASC": False, "DESC": True}
# (parameter, parameters it cannot be combined with, the concern both address)
_INCOMPATIBLE: tuple[tuple[str, frozenset[str], str], ...] = (
    ("sort", frozenset({"_sort", "_order"}), "sorting"),
    ("cursor", frozenset({"offset", "range", "_start", "_end"}), "paging"),
    ("range", frozenset({"limit", "offset", "_start", "_end"}), "paging"),
    ("_start", frozenset({"limit", "offset"}), "paging"),
    ("_end", frozenset({"limit", "offset"}), "paging"),
)


@dataclass(frozen=True)
class ListParams:
    """A list query in one shape, whatever style it came in; filter values are raw strings for the caller to check."""

    filters: Mapping[str, tuple[str, ...]]
    sort: tuple[SortKey, ...]
    limit: int
    offset: int
    cursor: str | None
    count: CountMode


@dataclass(frozen=True)
class ListSpec:
    """What one list endpoint accepts: its filter names, sortable fields and page sizes."""

    filter_names: frozenset[str]
    sort_fields: frozenset[str]
    default_limit: int = 25
    max_limit: int = 200

    def __post_init__(self) -> None:
        clash = self.filter_names & RESERVED_PARAMS
        if clash:
            raise ValueError(f"filter names clash with list parameters: {', '.join(sorted(clash))}")
        if not 1 <= self.default_limit <= self.max_limit:
            raise ValueError("default_limit must be between 1 and max_limit")


def parse_list_params(query: Sequence[tuple[str, str]], prefer_header: str | None, spec: ListSpec) -> ListParams:
    """Turn a list endpoint's query string, in any of the three styles, into one ListParams."""
    control: dict[str, str] = {}
    flat_filters: dict[str, list[str]] = {}
    for name, value in query:
        if name in RESERVED_PARAMS:
            if name in control:
                raise BadRequest(f"'{name}' is given more than once", parameter=name)
            control[name] = value
        elif name in spec.filter_names:
            flat_filters.setdefault(name, []).append(value)
        else:
            raise _unknown_filter(name, spec, parameter=name)
    # Forms and some clients send a cleared control as `name=`; it means "not given".
    control = {name: value for name, value in control.items() if value != ""}

    for name, others, concern in _INCOMPATIBLE:
        clash = others & control.keys() if name in control else frozenset()
        if clash:
            other = min(clash)
            raise BadRequest(f"'{name}' cannot be combined with '{other}': use one style of {concern}", parameter=name)

    limit, offset = _parse_page(control, spec)
    return ListParams(
        filters=MappingProxyType(_parse_filters(control.get("filter"), flat_filters, spec)),
        sort=_parse_sort(control, spec),
        limit=limit,
        offset=offset,
        cursor=control.get("cursor"),
        count=_parse_prefer_count(prefer_header),
    )


def encode_cursor(values: Sequence[JSONScalar], sort: Sequence[SortKey], key: bytes) -> str:
    """Make an opaque keyset cursor from the last row's values, one per key of `sort`, signed with `key`."""
    if len(values) != len(sort):
        raise ValueError(f"a cursor needs one value per sort key: {len(values)} values for {len(sort)} keys")
    payload = _b64(orjson.dumps([_sort_fingerprint(sort), list(values)]))
    return f"{payload}.{_signature(payload, key)}"


def decode_cursor(cursor: str, sort: Sequence[SortKey], key: bytes) -> list[JSONScalar]:
    """Read back a cursor's values, checking that this server made it (with `key`) and for this sort."""
    if len(cursor) > MAX_CURSOR_LENGTH or not _CURSOR_RE.fullmatch(cursor):
        raise _malformed_cursor()
    payload, _, signature = cursor.partition(".")
    if not hmac.compare_digest(signature, _signature(payload, key)):
        raise BadRequest(
            "'cursor' was not issued by this server, or was altered: use the cursor from a previous page's Link header",
            parameter="cursor",
        )
    try:
        data = json.loads(
            base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)), parse_constant=_reject_json_constant
        )
    # binascii.Error, UnicodeDecodeError and JSONDecodeError are all ValueErrors.
    except (ValueError, RecursionError):
        raise _malformed_cursor() from None
    if not (isinstance(data, list) and len(data) == 2 and isinstance(data[0], str) and isinstance(data[1], list)):
        raise _malformed_cursor()
    values: list[JSONScalar] = []
    for value in data[1]:
        if value is not None and not isinstance(value, str | int | float | bool):
            raise _malformed_cursor()
        values.append(value)
    if data[0] != _sort_fingerprint(sort) or len(values) != len(sort):
        raise BadRequest(
            "cursor does not match the sort: keep the sort the cursor was made with, or start again without a cursor",
            parameter="cursor",
        )
    return values


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _signature(payload: str, key: bytes) -> str:
    return _b64(hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest()[:_SIGNATURE_BYTES])


def cursor_key(request: Request) -> bytes:
    """The app's key for signing list cursors (from its settings)."""
    key: bytes = request.app.state.settings.cursor_key
    return key


def list_headers(
    *,
    resource: str,
    offset: int,
    returned: int,
    total: int | None,
    limit: int,
    url: str,
    next_cursor: str | None,
    prev_cursor: str | None = None,
) -> dict[str, str]:
    """Build a list answer's headers: X-Total-Count, Content-Range, Link and their CORS exposure."""
    headers = {"Access-Control-Expose-Headers": EXPOSED_HEADERS}
    total_text = "*" if total is None else str(total)
    if total is not None:
        headers["X-Total-Count"] = total_text
    if returned == 0:
        headers["Content-Range"] = f"{resource} */{total_text}"
    else:
        headers["Content-Range"] = f"{resource} {offset}-{offset + returned - 1}/{total_text}"

    links: list[tuple[str, dict[str, str]]] = []
    if next_cursor is not None or prev_cursor is not None or _query_has(url, "cursor"):
        if next_cursor is not None:
            links.append(("next", {"cursor": next_cursor, "limit": str(limit)}))
        if prev_cursor is not None:
            links.append(("prev", {"cursor": prev_cursor, "limit": str(limit)}))
    else:
        # Without a total, a full page is the only hint that more rows may follow.
        more = offset + returned < total if total is not None else returned >= limit
        if returned > 0 and more:
            links.append(("next", {"offset": str(offset + returned), "limit": str(limit)}))
        if offset > 0:
            # Past the end, "prev" points at the last page rather than at another empty one.
            end = offset if total is None else min(offset, total)
            links.append(("prev", {"offset": str(max(0, end - limit)), "limit": str(limit)}))
    if links:
        headers["Link"] = ", ".join(f'<{_page_url(url, paging)}>; rel="{rel}"' for rel, paging in links)
    return headers


def _parse_page(control: Mapping[str, str], spec: ListSpec) -> tuple[int, int]:
    if "range" in control:
        start, end = _parse_range(control["range"], spec)
        return end - start + 1, start
    if "_start" in control or "_end" in control:
        start = _parse_int(control, "_start", 0, _MAX_OFFSET, default=0)
        if "_end" not in control:
            return spec.default_limit, start
        end = _parse_int(control, "_end", 0, _MAX_OFFSET, default=0)
        if end <= start:
            raise BadRequest(f"'_end' ({end}) must be greater than '_start' ({start})", parameter="_end")
        if end - start > spec.max_limit:
            raise BadRequest(
                f"'_start'..'_end' asks for {end - start} rows; at most {spec.max_limit} per page", parameter="_end"
            )
        return end - start, start
    limit = _parse_int(control, "limit", 1, spec.max_limit, default=spec.default_limit)
    offset = _parse_int(control, "offset", 0, _MAX_OFFSET, default=0)
    return limit, offset


def _parse_int(control: Mapping[str, str], name: str, minimum: int, maximum: int, *, default: int) -> int:
    raw = control.get(name)
    if raw is None:
        return default
    if not _INT_RE.fullmatch(raw):
        raise BadRequest(f"'{name}' must be an integer, got {_shown(raw)}", parameter=name)
    try:
        value = int(raw)
    except ValueError:  # more digits than int() accepts: out of range either way
        value = maximum + 1 if not raw.startswith("-") else minimum - 1
    if value < minimum:
        rule = "must not be negative" if minimum == 0 else f"must be at least {minimum}"
        raise BadRequest(f"'{name}' {rule}, got {_shown(raw)}", parameter=name)
    if value > maximum:
        raise BadRequest(f"'{name}' must be at most {maximum}, got {_shown(raw)}", parameter=name)
    return value


def _parse_range(raw: str, spec: ListSpec) -> tuple[int, int]:
    data = _load_json(raw, "range", "a JSON array [start, end] such as [0, 24]")
    if not (isinstance(data, list) and len(data) == 2 and all(_is_int(bound) for bound in data)):
        raise BadRequest(
            f"'range' must be a JSON array [start, end] such as [0, 24], got {_shown(raw)}", parameter="range"
        )
    start, end = data
    if start < 0 or end < start or start > _MAX_OFFSET:
        raise BadRequest(f"'range' must satisfy 0 <= start <= end, got {_shown(raw)}", parameter="range")
    if end - start + 1 > spec.max_limit:
        raise BadRequest(
            f"'range' asks for {end - start + 1} rows; at most {spec.max_limit} per page", parameter="range"
        )
    return start, end


def _parse_sort(control: Mapping[str, str], spec: ListSpec) -> tuple[SortKey, ...]:
    if "sort" in control:
        parameter = "sort"
        raw = control["sort"]
        keys = _parse_simple_rest_sort(raw) if raw.lstrip().startswith("[") else _parse_native_sort(raw)
    elif "_sort" in control:
        parameter = "_sort"
        keys = _parse_json_server_sort(control["_sort"], control.get("_order"))
    elif "_order" in control:
        raise BadRequest("'_order' needs '_sort' to name the fields it orders", parameter="_order")
    else:
        return ()
    kept: dict[str, SortKey] = {}
    for key in keys:
        if key.field not in spec.sort_fields:
            sortable = ", ".join(sorted(spec.sort_fields)) or "none"
            raise BadRequest(f"Unknown sort field {_shown(key.field)}. Sortable: {sortable}", parameter=parameter)
        # A field already sorted on cannot change the order again (`name,-name` orders as `name`): dropped.
        kept.setdefault(key.field, key)
    return tuple(kept.values())


def _parse_native_sort(raw: str) -> list[SortKey]:
    keys = []
    for part in raw.split(","):
        item = part.strip()
        descending = item.startswith("-")
        name = item.removeprefix("-")
        if not name:
            raise BadRequest(f"'sort' has an empty field, got {_shown(raw)}", parameter="sort")
        keys.append(SortKey(field=name, descending=descending))
    return keys


def _parse_simple_rest_sort(raw: str) -> list[SortKey]:
    expected = 'a JSON array ["field", "ASC" or "DESC"]'
    data = _load_json(raw, "sort", expected)
    if not (isinstance(data, list) and len(data) == 2 and all(isinstance(item, str) for item in data)):
        raise BadRequest(f"'sort' must be {expected}, got {_shown(raw)}", parameter="sort")
    name, order = data
    descending = _SORT_ORDERS.get(order.upper())
    if descending is None:
        raise BadRequest(f"'sort' order must be ASC or DESC, got {_shown(order)}", parameter="sort")
    return [SortKey(field=name, descending=descending)]


def _parse_json_server_sort(raw_fields: str, raw_orders: str | None) -> list[SortKey]:
    names = [name.strip() for name in raw_fields.split(",")]
    if not all(names):
        raise BadRequest(f"'_sort' has an empty field, got {_shown(raw_fields)}", parameter="_sort")
    orders = [order.strip().upper() for order in (raw_orders or "ASC").split(",")]
    if len(orders) == 1:
        orders *= len(names)
    elif len(orders) != len(names):
        raise BadRequest(
            f"'_order' has {len(orders)} values for {len(names)} '_sort' fields; give one, or one per field",
            parameter="_order",
        )
    keys = []
    for name, order in zip(names, orders, strict=True):
        descending = _SORT_ORDERS.get(order)
        if descending is None:
            raise BadRequest(f"'_order' values must be ASC or DESC, got {_shown(raw_orders or '')}", parameter="_order")
        keys.append(SortKey(field=name, descending=descending))
    return keys


def _parse_filters(raw_json: str | None, flat: Mapping[str, list[str]], spec: ListSpec) -> dict[str, tuple[str, ...]]:
    filters = {name: tuple(values) for name, values in flat.items()}
    if raw_json is None:
        return filters
    expected = 'a JSON object such as {"status": "pending", "id": ["a", "b"]}'
    # Numbers keep their JSON text, so "12.50" reaches the caller as written rather than as a float's repr.
    data = _load_json(raw_json, "filter", expected, numbers_as_text=True)
    if not isinstance(data, dict):
        raise BadRequest(f"'filter' must be {expected}, got {_shown(raw_json)}", parameter="filter")
    for name, value in data.items():
        if name not in spec.filter_names:
            raise _unknown_filter(name, spec, parameter="filter")
        if name in filters:
            raise BadRequest(
                f"Filter '{name}' is given both in 'filter' and as its own parameter; give it once", parameter="filter"
            )
        texts = [_filter_text(item) for item in (value if isinstance(value, list) else [value])]
        if None in texts:
            raise BadRequest(
                f"Filter '{name}' in 'filter' must be a string, number or boolean, or a list of them",
                parameter="filter",
            )
        filters[name] = tuple(text for text in texts if text is not None)
    return filters


def _filter_text(value: object) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return None


def _parse_prefer_count(header: str | None) -> CountMode:
    # RFC 7240: a server ignores preferences it does not understand, so a bad value means the default.
    for preference in (header or "").split(","):
        token, _, value = preference.split(";", 1)[0].partition("=")
        if token.strip().lower() == "count":
            return _COUNT_MODES.get(value.strip().strip('"').lower(), "exact")
    return "exact"


def _load_json(raw: str, parameter: str, expected: str, *, numbers_as_text: bool = False) -> object:
    try:
        if numbers_as_text:
            return json.loads(raw, parse_int=str, parse_float=str, parse_constant=_reject_json_constant)
        return json.loads(raw, parse_constant=_reject_json_constant)
    # Deeply nested input raises RecursionError, which must stay a 400 like any other bad JSON.
    except (ValueError, RecursionError):
        raise BadRequest(f"'{parameter}' is not valid JSON; expected {expected}", parameter=parameter) from None


def _reject_json_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _sort_fingerprint(sort: Sequence[SortKey]) -> str:
    return _fingerprint_of(",".join(("-" if key.descending else "") + key.field for key in sort))


@functools.lru_cache(maxsize=256)
def _fingerprint_of(canonical: str) -> str:
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def _malformed_cursor() -> BadRequest:
    return BadRequest("'cursor' is malformed: use the cursor from a previous page's Link header", parameter="cursor")


def _unknown_filter(name: str, spec: ListSpec, *, parameter: str) -> BadRequest:
    known = ", ".join(sorted(spec.filter_names)) or "none"
    return BadRequest(f"Unknown filter {_shown(name)}. Known filters: {known}", parameter=parameter)


def _shown(raw: str) -> str:
    """Quote client input for a message, cut short so a huge parameter does not make a huge answer."""
    return repr(raw if len(raw) <= 60 else raw[:57] + "...")


def _query_has(url: str, name: str) -> bool:
    return any(key == name and value for key, value in parse_qsl(urlsplit(url).query, keep_blank_values=True))


def _page_url(url: str, paging: Mapping[str, str]) -> str:
    """The request URL with its paging parameters replaced by `paging`, every other parameter kept."""
    parts = urlsplit(url)
    kept = [(key, value) for key, value in parse_qsl(parts.query, keep_blank_values=True) if key not in PAGING_PARAMS]
    return urlunsplit(parts._replace(query=urlencode([*kept, *paging.items()])))


ModelT = TypeVar("ModelT", bound=BaseModel)


def typed_filters(params: ListParams, model: type[ModelT], multi_value: frozenset[str]) -> ModelT:
    """The raw filters validated into `model`; a 400 names each filter whose value is not valid.

    Multi-value filters take repeated parameters or comma-separated values (ids only repeated).
    """
    raw: dict[str, object] = {}
    for name, values in params.filters.items():
        if name in multi_value:
            raw[name] = (
                [part for value in values for part in value.split(",") if part] if name != "id" else list(values)
            )
        elif len(values) > 1:
            raise BadRequest(f"Filter '{name}' takes one value, got {len(values)}.", parameter=name)
        else:
            raw[name] = values[0]
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        errors = [{"loc": [str(part) for part in e["loc"]], "msg": e["msg"]} for e in exc.errors()]
        names = ", ".join(dict.fromkeys(str(e["loc"][0]) for e in exc.errors() if e["loc"]))
        raise BadRequest(f"Invalid value for filter {names}.", parameter=names, errors=errors) from exc


NEXT_CURSOR_HEADER = "X-Next-Cursor"


def page_response(
    *,
    resource: str,
    url: str,
    params: ListParams,
    items: Sequence[BaseModel | Mapping[str, Any]],
    total: int | None,
    next_after: Sequence[JSONScalar] | None,
    order: Sequence[SortKey],
    key: bytes,
) -> Response:
    """A list answer: the bare JSON array, the paging headers, and X-Next-Cursor when a page may follow."""
    next_cursor = encode_cursor(next_after, order, key) if next_after else None
    headers = list_headers(
        resource=resource,
        offset=params.offset,
        returned=len(items),
        total=total,
        limit=params.limit,
        url=url,
        next_cursor=next_cursor if params.cursor is not None else None,
    )
    if next_cursor is not None:
        headers[NEXT_CURSOR_HEADER] = next_cursor
    headers["Access-Control-Expose-Headers"] += f", {NEXT_CURSOR_HEADER}"
    if params.count == "estimated" and total is not None:
        headers["Preference-Applied"] = "count=estimated"
    return Response(json_list(items), media_type="application/json", headers=headers)


def _plain(value: Any) -> str:
    # Types orjson leaves to us: the driver's UUID subclass, and anything else with a canonical str().
    return str(value)


def json_list(items: Sequence[BaseModel | Mapping[str, Any]]) -> bytes:
    """A JSON array of models (as pydantic renders them) or of plain rows (the same JSON for the same values:
    UTC times end in Z, UUIDs are strings)."""
    return orjson.dumps(
        [item.model_dump(mode="json") if isinstance(item, BaseModel) else item for item in items],
        default=_plain,
        option=orjson.OPT_UTC_Z,
    )


def openapi_parameters(
    spec: ListSpec, filters: type[BaseModel], *, counted: bool = True, paged: bool = True
) -> dict[str, Any]:
    """The list's parameters for the OpenAPI document (they are parsed by hand, not by FastAPI): the native style,
    with the filters' own types from `filters`. The react-admin spellings of the same things (`range`, `filter`,
    `_sort`, `_order`, `_start`, `_end`) are described in the API's description rather than listed, since each
    excludes its native twin and a parameter list cannot say so."""
    model = filters.model_json_schema()
    definitions = model.get("$defs", {})
    sortable = sorted(spec.sort_fields)
    parameters: list[dict[str, Any]] = [
        _query_parameter(
            "sort",
            {
                "type": "array",
                "items": {"type": "string", "enum": [*sortable, *(f"-{name}" for name in sortable)]},
            },
            "Fields to sort by, comma-separated; `-` for descending. Default: newest first.",
            explode=False,
        ),
    ]
    paging = [
        _query_parameter(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": spec.max_limit, "default": spec.default_limit},
            "Rows per page.",
        ),
        _query_parameter(
            "offset", {"type": "integer", "minimum": 0, "maximum": _MAX_OFFSET, "default": 0}, "Rows to skip."
        ),
        _query_parameter(
            "cursor",
            {"type": "string", "pattern": CURSOR_PATTERN, "maxLength": MAX_CURSOR_LENGTH},
            "Keyset paging: the X-Next-Cursor of the previous page (also in its Link rel=next), with the same sort;"
            " not with offset. Cursors are signed: one made up or altered is a 400.",
        ),
    ]
    if paged:
        parameters += paging
    for name in sorted(spec.filter_names):
        field = _inline(model["properties"][name], definitions)
        description = field.pop("description", None)
        for key in ("title", "default"):
            field.pop(key, None)
        schema = without_null(field)
        parameters.append(_query_parameter(name, schema, description, explode=True))
    if counted:
        parameters.append(
            {
                "name": "Prefer",
                "in": "header",
                "required": False,
                "description": "count=exact (the default), count=estimated (the planner's estimate above 10,000 rows)"
                " or count=none (no total); other preferences are ignored (RFC 7240)",
                "schema": {"type": "string"},
            }
        )
    return {"parameters": parameters}


def _query_parameter(
    name: str, schema: dict[str, Any], description: str | None, *, explode: bool = True
) -> dict[str, Any]:
    parameter: dict[str, Any] = {"name": name, "in": "query", "required": False, "schema": schema}
    if schema.get("type") == "array":
        parameter |= {"style": "form", "explode": explode}
    if description:
        parameter["description"] = description
    return parameter


def _inline(schema: Any, definitions: Mapping[str, Any]) -> Any:
    """`schema` with its `$ref`s to `definitions` replaced by what they name."""
    if isinstance(schema, list):
        return [_inline(item, definitions) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        target = dict(definitions[schema["$ref"].rsplit("/", 1)[-1]])
        target.pop("title", None)
        return _inline({**target, **{k: v for k, v in schema.items() if k != "$ref"}}, definitions)
    return {key: _inline(value, definitions) for key, value in schema.items()}


def without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A parameter's schema without its null branch: a parameter left out is the null."""
    branches = [branch for branch in schema.get("anyOf", ()) if branch != {"type": "null"}]
    if "anyOf" not in schema or len(branches) == len(schema["anyOf"]):
        return schema
    rest = {key: value for key, value in schema.items() if key != "anyOf"}
    return {**rest, **branches[0]} if len(branches) == 1 else {**rest, "anyOf": branches}


@dataclass(frozen=True)
class NewestFirst(Generic[ModelT]):
    """A newest-first list request (created_at, then id): parameters, typed filters, order and cursor values."""

    params: ListParams
    filters: ModelT
    descending: bool
    order: tuple[SortKey, SortKey]
    after: list[JSONScalar] | None


def request_list_params(request: Request, spec: ListSpec) -> ListParams:
    """`parse_list_params` of a request: its query parameters and its Prefer header."""
    return parse_list_params(list(request.query_params.multi_items()), request.headers.get("prefer"), spec)


def parse_newest_first(
    request: Request, spec: ListSpec, model: type[ModelT], multi_value: frozenset[str]
) -> NewestFirst[ModelT]:
    """Parse a list that sorts only by time (`sort=created_at` turns it oldest first), with keyset paging."""
    params = request_list_params(request, spec)
    descending = params.sort[0].descending if params.sort else True
    order = (SortKey("created_at", descending), SortKey("id", descending))
    after = decode_cursor(params.cursor, order, cursor_key(request)) if params.cursor is not None else None
    return NewestFirst(params, typed_filters(params, model, multi_value), descending, order, after)
