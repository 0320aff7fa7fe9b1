"""A list's parameters in the OpenAPI document come from the spec its dependency parses with."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts

from backend.api.listing import OLDEST_FIRST, ListQueryDependency, list_parameters
from backend.domain.ordering import SortKey
from backend.infrastructure.settings import Settings
from backend.main import create_app
from tests.api.listing import SPEC


def names(parameters: list[dict[str, Any]]) -> list[str]:
    return [parameter["name"] for parameter in parameters]


class TestListParameters:
    def test_a_full_list_documents_sort_paging_filters_and_prefer(self) -> None:
        documented = list_parameters(SPEC)
        assert names(documented) == [
            "sort",
            "limit",
            "offset",
            "cursor",
            "age",
            "gender",
            "id",
            "include_deleted",
            "q",
            "status",
            "Prefer",
        ]
        sort = documented[0]
        assert sort["schema"]["items"]["enum"] == ["created_at", "id", "name", "-created_at", "-id", "-name"]
        assert sort["description"].endswith("Default: newest first.")
        limit = documented[1]["schema"]
        assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, 200, 25)

    @pytest.mark.parametrize(
        ("changes", "left_out"),
        [
            ({"paged": False}, {"limit", "offset", "cursor"}),
            ({"keyset": False}, {"cursor"}),
            ({"counted": False}, {"Prefer"}),
            ({"sort_fields": frozenset()}, {"sort"}),
            ({"only": frozenset({"q"})}, {"age", "gender", "id", "include_deleted", "status"}),
        ],
    )
    def test_leaves_out_what_the_list_does_not_take(self, changes: dict[str, Any], left_out: set[str]) -> None:
        assert set(names(list_parameters(SPEC))) - set(names(list_parameters(replace(SPEC, **changes)))) == left_out

    @pytest.mark.parametrize(
        ("default", "text"),
        [
            (OLDEST_FIRST, "Default: oldest first."),
            ((SortKey("name", descending=False), SortKey("created_at", descending=True)), "Default: name,-created_at."),
        ],
    )
    def test_names_the_default_order(self, default: tuple[SortKey, ...], text: str) -> None:
        assert list_parameters(replace(SPEC, default_sort=default))[0]["description"].endswith(text)


@pytest.fixture(scope="module")
def app_document() -> tuple[FastAPI, dict[str, Any]]:
    settings = Settings(
        _env_file=None,
        environment="test",
        jwt_secret="openapi-" + "x" * 32,
        phone_block_secret="openapi-phone-blocks-" + "x" * 32,
        database_url="postgresql+asyncpg://memberdesk:unused@127.0.0.1:1/memberdesk",
    )
    app = create_app(settings)
    return app, app.openapi()


LISTS = {  # every list route, with what it documents besides its path parameters
    ("GET", "/api/v1/admin/members"): "sort limit offset cursor *filters Prefer",
    ("GET", "/api/v1/admin/members/export.csv"): "sort *filters",
    ("GET", "/api/v1/admin/reviews/pending"): "sort limit offset cursor gender q Prefer",
    ("GET", "/api/v1/admin/members/{member_id}/notes"): "limit offset",
    ("GET", "/api/v1/admin/audit-log"): "sort limit offset cursor *filters Prefer",
    ("GET", "/api/v1/admin/members/{member_id}/audit"): "sort limit offset cursor *filters Prefer",
    ("GET", "/api/v1/admin/access-log"): "sort limit offset cursor *filters Prefer",
    ("GET", "/api/v1/admin/outbox"): "sort limit offset cursor *filters Prefer",
    ("GET", "/api/v1/admin/photos"): "sort limit offset cursor *filters Prefer",
    ("GET", "/api/v1/admin/documents"): "sort limit offset cursor *filters Prefer",
    ("GET", "/api/v1/admin/operators"): "sort limit offset *filters Prefer",
    ("GET", "/api/v1/admin/api-keys"): "sort limit offset *filters Prefer",
    ("GET", "/api/v1/admin/reports"): "sort limit offset cursor *filters Prefer",
    ("GET", "/api/v1/admin/members/{member_id}/reports"): (
        "sort limit offset cursor id reason_code reporter_member_id status Prefer"
    ),
    ("GET", "/api/v1/admin/reason-codes"): "limit offset",
}


def test_every_list_route_documents_what_its_spec_takes(app_document: tuple[FastAPI, dict[str, Any]]) -> None:
    app, document = app_document
    found = {}
    for route in iter_route_contexts(app.routes):
        dependant: Dependant | None = getattr(route, "dependant", None)
        for dependency in dependant.dependencies if dependant is not None else ():
            if not isinstance(dependency.call, ListQueryDependency):
                continue
            spec = dependency.call.spec
            for method in route.methods or ():
                operation = document["paths"][route.path_format][method.lower()]
                documented = [p["name"] for p in operation["parameters"] if p["in"] != "path"]
                assert documented == names(list_parameters(spec))
                filters = sorted(spec.filter_names)
                if filters and spec.only is None:  # the model's filters, every one: shown as *filters
                    documented = [name for name in documented if name not in filters]
                    documented.insert(
                        documented.index("Prefer") if "Prefer" in documented else len(documented), "*filters"
                    )
                found[(method, route.path_format)] = " ".join(documented)
    assert found == LISTS
