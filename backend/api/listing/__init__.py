"""List-query conventions shared by every list endpoint (DESIGN.md section 4)."""

from backend.api.listing.cursors import (
    CURSOR_PATTERN,
    MAX_CURSOR_LENGTH,
    JSONScalar,
    cursor_key,
    decode_cursor,
    encode_cursor,
)
from backend.api.listing.dependency import NewestFirst, parse_newest_first, request_list_params
from backend.api.listing.headers import EXPOSED_HEADERS, NEXT_CURSOR_HEADER, json_list, list_headers, page_response
from backend.api.listing.openapi import openapi_parameters, without_null
from backend.api.listing.params import (
    PAGING_PARAMS,
    RESERVED_PARAMS,
    CountMode,
    ListParams,
    ListSpec,
    parse_list_params,
    typed_filters,
)

__all__ = [
    "CURSOR_PATTERN",
    "EXPOSED_HEADERS",
    "MAX_CURSOR_LENGTH",
    "NEXT_CURSOR_HEADER",
    "PAGING_PARAMS",
    "RESERVED_PARAMS",
    "CountMode",
    "JSONScalar",
    "ListParams",
    "ListSpec",
    "NewestFirst",
    "cursor_key",
    "decode_cursor",
    "encode_cursor",
    "json_list",
    "list_headers",
    "openapi_parameters",
    "page_response",
    "parse_list_params",
    "parse_newest_first",
    "request_list_params",
    "typed_filters",
    "without_null",
]
