"""Helpers of the list-convention tests: a list spec and its parser."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest
from pydantic import BaseModel

from backend.api.listing import NEWEST_FIRST, ListParams, ListSpec, parse_list_params
from backend.domain.errors import BadRequest


class Filters(BaseModel):
    status: str | None = None
    gender: str | None = None
    q: str | None = None
    id: list[str] | None = None
    include_deleted: bool = False
    age: list[str] | None = None


SPEC = ListSpec(
    resource="members",
    filters=Filters,
    sort_fields=frozenset({"created_at", "name", "id"}),
    default_sort=NEWEST_FIRST,
)


def parse(query: str, prefer: str | None = None, spec: ListSpec[Any] = SPEC) -> ListParams:
    # The same decoding Starlette applies to request.query_params.multi_items().
    return parse_list_params(parse_qsl(query, keep_blank_values=True), prefer, spec)


def bad_request(query: str) -> BadRequest:
    with pytest.raises(BadRequest) as caught:
        parse(query)
    return caught.value


def links(headers: dict[str, str]) -> dict[str, dict[str, list[str]]]:
    """The Link header as {rel: parsed query of its URL}."""
    found = re.findall(r'<([^>]*)>; rel="(\w+)"', headers.get("Link", ""))
    return {rel: parse_qs(urlsplit(url).query, keep_blank_values=True) for url, rel in found}
