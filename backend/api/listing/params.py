"""A list's query in one shape, whatever style it came in (DESIGN.md section 4).

One endpoint accepts three query styles: native (`status=pending&sort=-created_at,name&limit=25&offset=0`
or `cursor=`), react-admin's ra-data-simple-rest (`sort=["created_at","DESC"]&range=[0,24]&filter={...}`) and
ra-data-json-server (`_sort=created_at&_order=DESC&_start=0&_end=25`, flattened filters, repeated `id=`).
The style is read per parameter; combining two styles for the same concern (sorting or paging) is a 400.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Generic, Literal, TypeAlias, TypeVar

from pydantic import BaseModel, ValidationError

from backend.api.listing import dialects
from backend.api.listing.inputs import MAX_OFFSET, parse_int, shown, unknown_filter
from backend.domain.errors import BadRequest
from backend.domain.ordering import SortKey

CountMode: TypeAlias = Literal["exact", "estimated", "none"]

PAGING_PARAMS = frozenset({"limit", "offset", "cursor", "range", "_start", "_end"})
RESERVED_PARAMS = PAGING_PARAMS | {"sort", "_sort", "_order", "filter"}

_COUNT_MODES: dict[str, CountMode] = {"exact": "exact", "estimated": "estimated", "none": "none"}
# (parameter, parameters it cannot be combined with, the concern both address)
_INCOMPATIBLE: tuple[tuple[str, frozenset[str], str], ...] = (
    ("sort", frozenset({"_sort", "_order"}), "sorting"),
    ("cursor", frozenset({"offset", "range", "_start", "_end"}), "paging"),
    ("range", frozenset({"limit", "offset", "_start", "_end"}), "paging"),
    ("_start", frozenset({"limit", "offset"}), "paging"),
    ("_end", frozenset({"limit", "offset"}), "paging"),
)


NEWEST_FIRST = (SortKey("created_at", descending=True),)
OLDEST_FIRST = (SortKey("created_at", descending=False),)


class NoFilters(BaseModel):
    """The filters of a list that has none."""


@dataclass(frozen=True)
class ListParams:
    """A list query in one shape, whatever style it came in; filter values are raw strings for the caller to check."""

    filters: Mapping[str, tuple[str, ...]]
    sort: tuple[SortKey, ...]
    limit: int
    offset: int
    cursor: str | None
    count: CountMode


F = TypeVar("F", bound=BaseModel)


@dataclass(frozen=True)
class ListSpec(Generic[F]):
    """What one list endpoint accepts and answers: its filters, sortable fields, default order and page sizes.

    `filters` is the model its filter parameters are validated into (`only` names the fields this list takes, when
    not all); `multi_value` the filters that take several values. A list without `paged` answers every matching
    row (the CSV export): paging parameters are a 400. Without `keyset` it pages by offset only, and without
    `counted` its total is always exact (no Prefer: count=...). A filter in `estimated_with`, when given, makes
    `count=estimated` the default (a search, whose exact total would count every match); Prefer still chooses.
    """

    resource: str  # the unit of Content-Range: `members 0-24/319`
    filters: type[F]
    sort_fields: frozenset[str]
    default_sort: tuple[SortKey, ...]
    multi_value: frozenset[str] = frozenset()
    only: frozenset[str] | None = None
    default_limit: int = 25
    max_limit: int = 200
    paged: bool = True
    keyset: bool = True
    counted: bool = True
    estimated_with: frozenset[str] = frozenset()
    filter_names: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        names = frozenset(self.filters.model_fields)
        if self.only is not None:
            if not self.only <= names:
                raise ValueError(f"not filters of {self.filters.__name__}: {', '.join(sorted(self.only - names))}")
            names = self.only
        object.__setattr__(self, "filter_names", names)
        clash = names & RESERVED_PARAMS
        if clash:
            raise ValueError(f"filter names clash with list parameters: {', '.join(sorted(clash))}")
        if not self.estimated_with <= names:
            raise ValueError(f"not filters of this list: {', '.join(sorted(self.estimated_with - names))}")
        if not 1 <= self.default_limit <= self.max_limit:
            raise ValueError("default_limit must be between 1 and max_limit")


def parse_list_params(query: Sequence[tuple[str, str]], prefer_header: str | None, spec: ListSpec[Any]) -> ListParams:
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
            raise unknown_filter(name, spec.filter_names, parameter=name)
    # Forms and some clients send a cleared control as `name=`; it means "not given".
    control = {name: value for name, value in control.items() if value != ""}
    _refuse_paging_it_lacks(control, spec)

    for name, others, concern in _INCOMPATIBLE:
        clash = others & control.keys() if name in control else frozenset()
        if clash:
            other = min(clash)
            raise BadRequest(f"'{name}' cannot be combined with '{other}': use one style of {concern}", parameter=name)

    limit, offset = _parse_page(control, spec)
    filters = {name: tuple(values) for name, values in flat_filters.items()}
    if "filter" in control:
        filters = dialects.parse_filter_object(control["filter"], filters, spec.filter_names)
    return ListParams(
        filters=MappingProxyType(filters),
        sort=_parse_sort(control, spec),
        limit=limit,
        offset=offset,
        cursor=control.get("cursor"),
        count=_parse_prefer_count(prefer_header, _default_count(filters, spec)) if spec.counted else "exact",
    )


def _refuse_paging_it_lacks(control: Mapping[str, str], spec: ListSpec[Any]) -> None:
    if not spec.paged:
        paging = sorted(PAGING_PARAMS & control.keys())
        if paging:
            raise BadRequest(
                f"This list has no paging: it answers every matching row, so '{paging[0]}' does not apply.",
                parameter=paging[0],
            )
    elif not spec.keyset and "cursor" in control:
        raise BadRequest("This list has no cursor paging: page it with limit and offset.", parameter="cursor")


def _parse_page(control: Mapping[str, str], spec: ListSpec[Any]) -> tuple[int, int]:
    if "range" in control:
        start, end = dialects.parse_range(control["range"], spec.max_limit)
        return end - start + 1, start
    if "_start" in control or "_end" in control:
        return dialects.parse_start_end(control, spec.default_limit, spec.max_limit)
    limit = parse_int(control, "limit", 1, spec.max_limit, default=spec.default_limit)
    offset = parse_int(control, "offset", 0, MAX_OFFSET, default=0)
    return limit, offset


def _parse_sort(control: Mapping[str, str], spec: ListSpec[Any]) -> tuple[SortKey, ...]:
    if "sort" in control:
        parameter = "sort"
        raw = control["sort"]
        keys = dialects.parse_simple_rest_sort(raw) if raw.lstrip().startswith("[") else _parse_native_sort(raw)
    elif "_sort" in control:
        parameter = "_sort"
        keys = dialects.parse_json_server_sort(control["_sort"], control.get("_order"))
    elif "_order" in control:
        raise BadRequest("'_order' needs '_sort' to name the fields it orders", parameter="_order")
    else:
        return ()
    kept: dict[str, SortKey] = {}
    for key in keys:
        if key.field not in spec.sort_fields:
            sortable = ", ".join(sorted(spec.sort_fields)) or "none"
            raise BadRequest(f"Unknown sort field {shown(key.field)}. Sortable: {sortable}", parameter=parameter)
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
            raise BadRequest(f"'sort' has an empty field, got {shown(raw)}", parameter="sort")
        keys.append(SortKey(field=name, descending=descending))
    return keys


def _default_count(filters: Mapping[str, tuple[str, ...]], spec: ListSpec[Any]) -> CountMode:
    """`estimated` when a filter of `spec.estimated_with` is given (docs/decisions.md: "A search is counted up to
    10,000"), else `exact`."""
    return "estimated" if any(any(filters.get(name, ())) for name in spec.estimated_with) else "exact"


def _parse_prefer_count(header: str | None, default: CountMode = "exact") -> CountMode:
    # RFC 7240: a server ignores preferences it does not understand, so a bad value means the default.
    for preference in (header or "").split(","):
        token, _, value = preference.split(";", 1)[0].partition("=")
        if token.strip().lower() == "count":
            return _COUNT_MODES.get(value.strip().strip('"').lower(), default)
    return default


def typed_filters(params: ListParams, spec: ListSpec[F]) -> F:
    """The raw filters validated into the spec's model; a 400 names each filter whose value is not valid.

    Multi-value filters take repeated parameters or comma-separated values (ids only repeated).
    """
    raw: dict[str, object] = {}
    for name, values in params.filters.items():
        if name in spec.multi_value:
            raw[name] = (
                [part for value in values for part in value.split(",") if part] if name != "id" else list(values)
            )
        elif len(values) > 1:
            raise BadRequest(f"Filter '{name}' takes one value, got {len(values)}.", parameter=name)
        else:
            raw[name] = values[0]
    try:
        return spec.filters.model_validate(raw)
    except ValidationError as exc:
        errors = [{"loc": [str(part) for part in e["loc"]], "msg": e["msg"]} for e in exc.errors()]
        names = ", ".join(dict.fromkeys(str(e["loc"][0]) for e in exc.errors() if e["loc"]))
        raise BadRequest(f"Invalid value for filter {names}.", parameter=names, errors=errors) from exc
