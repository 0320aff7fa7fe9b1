"""The react-admin spellings of the list parameters, beside the native ones (params.py).

- ra-data-simple-rest: `sort=["created_at","DESC"]`, `range=[0,24]` (inclusive), `filter={"status":"pending"}`;
- ra-data-json-server: `_sort=created_at,name&_order=DESC,ASC`, `_start=0&_end=25` (end exclusive), filters as
  their own parameters (flattened, `id` repeated).
"""

from __future__ import annotations

from collections.abc import Mapping

from backend.api.listing.inputs import MAX_OFFSET, is_int, load_json, parse_int, shown, unknown_filter
from backend.domain.errors import BadRequest
from backend.domain.ordering import SortKey

_SORT_ORDERS = {"ASC": False, "DESC": True}


def parse_range(raw: str, max_limit: int) -> tuple[int, int]:
    """simple-rest's `range=[start, end]`, both ends included: (start, end)."""
    data = load_json(raw, "range", "a JSON array [start, end] such as [0, 24]")
    if not (isinstance(data, list) and len(data) == 2 and all(is_int(bound) for bound in data)):
        raise BadRequest(
            f"'range' must be a JSON array [start, end] such as [0, 24], got {shown(raw)}", parameter="range"
        )
    start, end = data
    if start < 0 or end < start or start > MAX_OFFSET:
        raise BadRequest(f"'range' must satisfy 0 <= start <= end, got {shown(raw)}", parameter="range")
    if end - start + 1 > max_limit:
        raise BadRequest(f"'range' asks for {end - start + 1} rows; at most {max_limit} per page", parameter="range")
    return start, end


def parse_start_end(control: Mapping[str, str], default_limit: int, max_limit: int) -> tuple[int, int]:
    """json-server's `_start` and `_end` (exclusive), either alone: (limit, offset)."""
    start = parse_int(control, "_start", 0, MAX_OFFSET, default=0)
    if "_end" not in control:
        return default_limit, start
    end = parse_int(control, "_end", 0, MAX_OFFSET, default=0)
    if end <= start:
        raise BadRequest(f"'_end' ({end}) must be greater than '_start' ({start})", parameter="_end")
    if end - start > max_limit:
        raise BadRequest(
            f"'_start'..'_end' asks for {end - start} rows; at most {max_limit} per page", parameter="_end"
        )
    return end - start, start


def parse_simple_rest_sort(raw: str) -> list[SortKey]:
    """simple-rest's `sort=["field", "ASC" or "DESC"]`."""
    expected = 'a JSON array ["field", "ASC" or "DESC"]'
    data = load_json(raw, "sort", expected)
    if not (isinstance(data, list) and len(data) == 2 and all(isinstance(item, str) for item in data)):
        raise BadRequest(f"'sort' must be {expected}, got {shown(raw)}", parameter="sort")
    name, order = data
    descending = _SORT_ORDERS.get(order.upper())
    if descending is None:
        raise BadRequest(f"'sort' order must be ASC or DESC, got {shown(order)}", parameter="sort")
    return [SortKey(field=name, descending=descending)]


def parse_json_server_sort(raw_fields: str, raw_orders: str | None) -> list[SortKey]:
    """json-server's `_sort=a,b` with `_order=DESC` (for all) or `_order=DESC,ASC` (one per field)."""
    names = [name.strip() for name in raw_fields.split(",")]
    if not all(names):
        raise BadRequest(f"'_sort' has an empty field, got {shown(raw_fields)}", parameter="_sort")
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
            raise BadRequest(f"'_order' values must be ASC or DESC, got {shown(raw_orders or '')}", parameter="_order")
        keys.append(SortKey(field=name, descending=descending))
    return keys


def parse_filter_object(
    raw_json: str, flat: Mapping[str, tuple[str, ...]], known: frozenset[str]
) -> dict[str, tuple[str, ...]]:
    """simple-rest's `filter={...}` merged with the filters given as their own parameters (`flat`)."""
    filters = dict(flat)
    expected = 'a JSON object such as {"status": "pending", "id": ["a", "b"]}'
    # Numbers keep their JSON text, so "12.50" reaches the caller as written rather than as a float's repr.
    data = load_json(raw_json, "filter", expected, numbers_as_text=True)
    if not isinstance(data, dict):
        raise BadRequest(f"'filter' must be {expected}, got {shown(raw_json)}", parameter="filter")
    for name, value in data.items():
        if name not in known:
            raise unknown_filter(name, known, parameter="filter")
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
