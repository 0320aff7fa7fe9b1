"""List-query conventions shared by every list endpoint (DESIGN.md section 4).

A list route declares a `ListSpec` and takes its parameters through `Depends(list_query(SPEC))`, which gives it
a `ListQuery`; `ListQuery.respond` answers the page. By concern: params.py (the one shape, the native style),
dialects.py (react-admin's two), cursors.py (signed keyset cursors), headers.py (the answer), openapi.py (the
parameters in the document), dependency.py (the dependency and ListQuery), inputs.py (reading raw text).
"""

from backend.api.listing.cursors import (
    CURSOR_PATTERN,
    MAX_CURSOR_LENGTH,
    JSONScalar,
    cursor_key,
    decode_cursor,
    encode_cursor,
)
from backend.api.listing.dependency import (
    ListQuery,
    ListQueryDependency,
    ServedListQuery,
    ServedListQueryDependency,
    list_query,
)
from backend.api.listing.headers import EXPOSED_HEADERS, NEXT_CURSOR_HEADER, json_list, list_headers, page_response
from backend.api.listing.openapi import document_lists, list_parameters, without_null
from backend.api.listing.params import (
    NEWEST_FIRST,
    OLDEST_FIRST,
    PAGING_PARAMS,
    RESERVED_PARAMS,
    CountMode,
    ListParams,
    ListSpec,
    NoFilters,
    parse_list_params,
    typed_filters,
)

__all__ = [
    "CURSOR_PATTERN",
    "EXPOSED_HEADERS",
    "MAX_CURSOR_LENGTH",
    "NEWEST_FIRST",
    "NEXT_CURSOR_HEADER",
    "OLDEST_FIRST",
    "PAGING_PARAMS",
    "RESERVED_PARAMS",
    "CountMode",
    "JSONScalar",
    "ListParams",
    "ListQuery",
    "ListQueryDependency",
    "ListSpec",
    "NoFilters",
    "ServedListQuery",
    "ServedListQueryDependency",
    "cursor_key",
    "decode_cursor",
    "document_lists",
    "encode_cursor",
    "json_list",
    "list_headers",
    "list_parameters",
    "list_query",
    "page_response",
    "parse_list_params",
    "typed_filters",
    "without_null",
]
