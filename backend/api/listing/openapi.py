"""A list's parameters in the OpenAPI document: they are parsed by hand, not by FastAPI, so they are written here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute

from backend.api.listing.cursors import CURSOR_PATTERN, MAX_CURSOR_LENGTH
from backend.api.listing.dependency import ListQueryDependency
from backend.api.listing.inputs import MAX_OFFSET
from backend.api.listing.params import ListSpec
from backend.domain.ordering import SortKey


def document_lists(routes: Sequence[BaseRoute], paths: dict[str, dict[str, Any]]) -> None:
    """Add to the document's `paths` the list parameters of every list route (one with a `list_query` dependency)."""
    for route in iter_route_contexts(routes):
        dependant: Dependant | None = getattr(route, "dependant", None)
        operations = paths.get(route.path_format or "")
        if dependant is None or operations is None:
            continue
        for dependency in dependant.dependencies:
            if isinstance(dependency.call, ListQueryDependency):
                for method in route.methods or ():
                    operation = operations[method.lower()]
                    operation["parameters"] = [*operation.get("parameters", ()), *list_parameters(dependency.call.spec)]


def list_parameters(spec: ListSpec[Any]) -> list[dict[str, Any]]:
    """The list's parameters for the OpenAPI document (they are parsed by hand, not by FastAPI): the native style,
    with the filters' own types from the spec's model. The react-admin spellings of the same things (`range`,
    `filter`, `_sort`, `_order`, `_start`, `_end`) are described in the API's description rather than listed, since
    each excludes its native twin and a parameter list cannot say so."""
    parameters: list[dict[str, Any]] = []
    if spec.sort_fields:
        parameters.append(_sort_parameter(spec))
    if spec.paged:
        parameters += _paging_parameters(spec)
    parameters += _filter_parameters(spec)
    if spec.counted:
        parameters.append(
            {
                "name": "Prefer",
                "in": "header",
                "required": False,
                "description": _prefer_text(spec),
                "schema": {"type": "string"},
            }
        )
    return parameters


def _prefer_text(spec: ListSpec[Any]) -> str:
    searched = " or ".join(f"`{name}`" for name in sorted(spec.estimated_with))
    default = f"the default, except with {searched}" if searched else "the default"
    estimated = "the default with " + searched + ": " if searched else ""
    return (
        f"count=exact ({default}), count=estimated ({estimated}rows counted exactly up to 10,000, past that the"
        " planner's estimate, never below 10,001, with Preference-Applied: count=estimated) or count=none (no"
        " total); other preferences are ignored (RFC 7240)"
    )


def _sort_parameter(spec: ListSpec[Any]) -> dict[str, Any]:
    sortable = sorted(spec.sort_fields)
    return _query_parameter(
        "sort",
        {"type": "array", "items": {"type": "string", "enum": [*sortable, *(f"-{name}" for name in sortable)]}},
        f"Fields to sort by, comma-separated; `-` for descending. Default: {_order_text(spec.default_sort)}.",
        explode=False,
    )


def _order_text(order: tuple[SortKey, ...]) -> str:
    if [key.field for key in order] == ["created_at"]:
        return "newest first" if order[0].descending else "oldest first"
    return ",".join(("-" if key.descending else "") + key.field for key in order)


def _paging_parameters(spec: ListSpec[Any]) -> list[dict[str, Any]]:
    paging = [
        _query_parameter(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": spec.max_limit, "default": spec.default_limit},
            "Rows per page.",
        ),
        _query_parameter(
            "offset", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0}, "Rows to skip."
        ),
    ]
    if spec.keyset:
        paging.append(
            _query_parameter(
                "cursor",
                {"type": "string", "pattern": CURSOR_PATTERN, "maxLength": MAX_CURSOR_LENGTH},
                "Keyset paging: the X-Next-Cursor of the previous page (also in its Link rel=next), with the same"
                " sort; not with offset. Cursors are signed: one made up or altered is a 400.",
            )
        )
    return paging


def _filter_parameters(spec: ListSpec[Any]) -> list[dict[str, Any]]:
    model = spec.filters.model_json_schema()
    definitions = model.get("$defs", {})
    parameters = []
    for name in sorted(spec.filter_names):
        field = _inline(model["properties"][name], definitions)
        description = field.pop("description", None)
        for key in ("title", "default"):
            field.pop(key, None)
        parameters.append(_query_parameter(name, without_null(field), description, explode=True))
    return parameters


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
