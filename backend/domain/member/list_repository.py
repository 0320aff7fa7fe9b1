"""All SQL of the member list: its page, total, estimate and CSV export, and the photos a member shows."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from backend.domain.member.models import (
    DocumentStatus,
    PhoneBlock,
    PhotoStatus,
    User,
)
from backend.domain.member.schemas import MEMBER_SORT_FIELDS, MemberFilters
from backend.domain.member.term_repository import (
    PAGE_TERMS,
    TERM_CHARS,
    TermSearch,
    name_term_rows,
    term_matches,
    term_values,
)
from backend.domain.ordering import SortKey
from backend.domain.sessions import AnySession, Row, copy_query, fetch
from backend.domain.timebounds import next_utc_midnight, utc_midnight_before

users = User.__table__  # type: ignore[attr-defined]
phone_blocks = PhoneBlock.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class MemberListQuery:
    """A resolved list request: filters with concrete time bounds, a total order, and where to start."""

    filters: MemberFilters
    created_from: datetime | None
    created_before: datetime | None
    order: tuple[SortKey, ...]  # always ends with `id`, so the order is total and keyset paging is exact
    limit: int
    offset: int = 0
    after: tuple[Any, ...] | None = None  # sort values of the last row seen (keyset paging)


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# The member list's SQL is written by hand (docs/decisions.md: "Hand-written SQL for the hottest reads"). The
# same WHERE serves the page, the row count, the planner's estimate and the CSV export.
SORT_COLUMNS = {name: f"u.{name}" for name in MEMBER_SORT_FIELDS}
_USER_COLUMNS = (
    # The id as text: the answer wants a string, and PostgreSQL writes it for less than Python converts it.
    "u.id::text AS id, u.phone, u.name, u.gender, u.birth_year, u.status, u.suspended_until, u.created_at,"
    " u.updated_at, u.deleted_at, u.version,"
    # A claim shows while it holds; a lapsed one is no claim.
    " CASE WHEN u.claimed_until > now() THEN u.claimed_by::text END AS claimed_by,"
    " CASE WHEN u.claimed_until > now() THEN u.claimed_until END AS claimed_until"
)


def shown_photos(alias: str) -> str:
    """The SQL condition on `alias` (a user_photos row) for a photo shown with its member, in the list and the
    detail: live, and past its upload (an upload under way has no checked object to serve yet)."""
    return f"{alias}.deleted_at IS NULL AND {alias}.status <> '{PhotoStatus.uploading.value}'"


def shown_documents(alias: str) -> str:
    """The SQL condition on `alias` (a user_documents row) for a document shown with its member: live, and past its
    upload (an upload under way has no checked object to serve yet)."""
    return f"{alias}.deleted_at IS NULL AND {alias}.status <> '{DocumentStatus.uploading.value}'"


def photo_order(alias: str) -> str:
    """The order a member's photos are shown in (the first one is the list's picture)."""
    return f"{alias}.display_order, {alias}.id"


_FIRST_PHOTO_KEY = (
    "(SELECT p.s3_key FROM user_photos p"
    f" WHERE p.user_id = u.id AND {shown_photos('p')}"
    f" ORDER BY {photo_order('p')} LIMIT 1) AS photo_key"
)


class _Params:
    """The positional parameters ($1, $2, ...) of one asyncpg statement, collected while its SQL is written."""

    def __init__(self) -> None:
        self.args: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"


def _one_of(column: str, values: Sequence[StrEnum]) -> str:
    """`column = 'value'` for one value, `column IN ('a', 'b')` for several.

    The values come from a closed set (an enum's members, whose text is plain lowercase words), so they are
    written into the SQL as literals: each combination is a statement PostgreSQL plans once and keeps, and a
    single value lets a (column, ..., created_at, id) index hand rows over already in order (docs/decisions.md:
    "Filter values as SQL literals").
    """
    literals = sorted({_literal(value) for value in values})
    return f"{column} = {literals[0]}" if len(literals) == 1 else f"{column} IN ({', '.join(literals)})"


def _literal(value: StrEnum) -> str:
    text = str(value.value)
    if not text.isidentifier():  # enum values are plain words; anything else does not belong in SQL text
        raise ValueError(f"not a plain enum value: {text!r}")
    return f"'{text}'"


def _status_and_gender(f: MemberFilters, alias: str) -> list[str]:
    """The status and gender filters over `alias` (users and the counters name these columns alike)."""
    where = []
    if f.status:
        where.append(_one_of(f"{alias}.status", f.status))
    if f.gender:
        where.append(_one_of(f"{alias}.gender", f.gender))
    return where


_HAS_PHOTOS = "EXISTS (SELECT 1 FROM user_photos ph WHERE ph.user_id = {alias}.id AND ph.deleted_at IS NULL)"


def _phone_digits(needle: str) -> str | None:
    """The digits of a search text that reads as (part of) a phone number, which then matches phones too."""
    digits = "".join(ch for ch in needle if ch.isdigit())
    phone_like = needle.replace(" ", "").replace("-", "")
    return digits if digits and phone_like.lstrip("+").isdigit() else None


def _where(query: MemberListQuery, p: _Params, extra: Sequence[str] = (), *, photos: bool = True) -> str:
    """` WHERE ...` over `users u` for the query's filters (and `extra` conditions), or an empty string; without
    `photos`, leaving out `has_photos=true` (`_capped_rows` applies it itself)."""
    f = query.filters
    where: list[str] = []
    if not f.include_deleted:
        where.append("u.deleted_at IS NULL")
    where.extend(_status_and_gender(f, "u"))
    if f.q:
        needle = f.q.strip()
        digits = _phone_digits(needle)
        name_match = f"u.name ILIKE {p(f'%{_escape_like(needle)}%')} ESCAPE '\\'"
        if digits is not None:
            where.append(f"({name_match} OR u.phone LIKE {p(f'%{digits}%')})")
        else:
            where.append(name_match)
    if query.created_from is not None:
        where.append(f"u.created_at >= {p(query.created_from)}")
    if query.created_before is not None:
        where.append(f"u.created_at < {p(query.created_before)}")
    if f.birth_year_min is not None:
        where.append(f"u.birth_year >= {p(f.birth_year_min)}")
    if f.birth_year_max is not None:
        where.append(f"u.birth_year <= {p(f.birth_year_max)}")
    if f.plan:
        where.append(
            "EXISTS (SELECT 1 FROM user_subscriptions s WHERE s.id = u.id AND s.status = 'active'"
            f" AND {_one_of('s.plan', f.plan)})"
        )
    if f.has_photos is not None and (photos or not f.has_photos):
        has = _HAS_PHOTOS.format(alias="u")
        where.append(has if f.has_photos else f"NOT {has}")
    if f.id is not None:
        where.append(f"u.id = ANY({p(f.id)}::uuid[])" if f.id else "false")
    where.extend(extra)
    return f" WHERE {' AND '.join(where)}" if where else ""


def _after(p: _Params, order: Sequence[SortKey], values: Sequence[Any]) -> str:
    """Rows strictly after `values` in `order`.

    One direction throughout becomes a row comparison, `(a, b, id) < ($1, $2, $3)`, which PostgreSQL
    answers from a matching btree index; mixed directions need the expanded OR form.
    """
    columns = [SORT_COLUMNS[o.field] for o in order]
    if all(o.descending for o in order) or not any(o.descending for o in order):
        operator = "<" if order[0].descending else ">"
        return f"({', '.join(columns)}) {operator} ({', '.join(p(value) for value in values)})"
    branches = []
    for i, o in enumerate(order):
        equal = [f"{columns[j]} = {p(values[j])}" for j in range(i)]
        step = f"{columns[i]} {'<' if o.descending else '>'} {p(values[i])}"
        branches.append(f"({' AND '.join([*equal, step])})")
    return f"({' OR '.join(branches)})"


def _order_by(order: Sequence[SortKey]) -> str:
    return ", ".join(f"{SORT_COLUMNS[o.field]} {'DESC' if o.descending else 'ASC'}" for o in order)


# The filters whose totals the member counters do not hold (`counters_answer`; `id` names its rows, so counting them
# is cheap): lists with them are counted up to 10,000 by default.
UNCOUNTED_FILTERS = frozenset({"q", "has_photos", "birth_year_min", "birth_year_max"})


def counters_answer(query: MemberListQuery) -> bool:
    """Whether the member counters hold this total: only status, gender, plan, deletion and sign-up time."""
    f = query.filters
    return not (f.q or f.id is not None or f.has_photos is not None or f.birth_year_min or f.birth_year_max)


def _counted_rows(query: MemberListQuery, p: _Params) -> str:
    return f"(SELECT count(*) FROM users u{_where(query, p)})"


def _summed_counters(query: MemberListQuery, p: _Params, first_day: date | None, end_day: date | None) -> str:
    f = query.filters
    where: list[str] = []
    if not f.include_deleted:
        where.append("NOT c.deleted")
    where.extend(_status_and_gender(f, "c"))
    if f.plan:
        where.append(_one_of("c.plan", f.plan))
    if first_day is not None:
        where.append(f"c.day >= {p(first_day)}")
    if end_day is not None:
        where.append(f"c.day < {p(end_day)}")
    # Without sign-up bounds the totals answer (a few dozen rows); a range sums its days (a row per day and bucket).
    table = "member_totals" if first_day is None and end_day is None else "member_counts"
    condition = f" WHERE {' AND '.join(where)}" if where else ""
    return f"(SELECT coalesce(sum(c.n), 0) FROM {table} c{condition})"


def _total(query: MemberListQuery, p: _Params) -> str:
    """An SQL expression for the exact number of members matching the filters.

    For status, gender, plan and sign-up time the trigger-kept counters answer: whole UTC days are summed
    from them and only the partial days at the edges of a time range are counted row by row (an index range
    of at most two days). Any other filter counts the rows.
    """
    if not counters_answer(query):
        return _counted_rows(query, p)
    lower, upper = query.created_from, query.created_before
    first = next_utc_midnight(lower) if lower is not None else None
    end = utc_midnight_before(upper) if upper is not None else None
    if first is not None and end is not None and first >= end:
        return _counted_rows(query, p)
    parts = [_summed_counters(query, p, first.date() if first else None, end.date() if end else None)]
    if lower is not None and first is not None and lower < first:
        parts.append(_counted_rows(replace(query, created_from=lower, created_before=first), p))
    if upper is not None and end is not None and end < upper:
        parts.append(_counted_rows(replace(query, created_from=end, created_before=upper), p))
    return " + ".join(parts)


def _page(query: MemberListQuery, p: _Params) -> str:
    """LIMIT and OFFSET, written into the statement unless the list searches by name.

    PostgreSQL plans a prepared statement for its values five times, then keeps one generic plan if that
    looks no costlier. With the page size as a parameter a generic plan looks hopeless (it assumes a tenth of
    the table), so every page was planned anew; in the text, PostgreSQL may keep the generic plan when it is
    as good. A name search keeps them as parameters on purpose: each pattern gets its own plan, which
    chooses between the trigram index and a walk down the sign-up order.
    """
    if query.filters.q:
        return f"LIMIT {p(query.limit)} OFFSET {p(query.offset)}"
    return f"LIMIT {int(query.limit)} OFFSET {int(query.offset)}"


def _capped_rows(query: MemberListQuery, p: _Params, cap: int) -> str:
    """The number of matching members, counted no further than `cap`: the scan stops at the cap's row.

    The members matching on their own columns are a MATERIALIZED CTE, which PostgreSQL plans for all its rows and
    runs only as far as the LIMIT reads it. With the LIMIT in sight of the scan, a common name part at 5M members
    (130,000 estimated matches) was planned as a sequential scan expected to stop early: it ran `ILIKE` over
    400,000 rows, 136 to 296 ms, where the trigram index's bitmap took 25 to 42 ms (docs/decisions.md, "A search
    is counted up to 10,000").

    `has_photos=true` is applied outside the CTE, with the LIMIT in sight: inside, planned for all its rows, it was
    a hash join over every photo (3.5M at 1M members: 0.7 to 1 s for "female, has photos"), where probing the photo
    index for the members read takes 10,001 probes at most (30 to 250 ms). `has_photos=false` stays inside: its
    matches are few, and a probe per member would read them all.
    """
    return f"(WITH {_capped_matches(query, p, cap, 'u.id', _term_search(query))} SELECT count(*) FROM capped)"


_TERM_ORDER_FIELDS = ("created_at", "id")


def _term_search(query: MemberListQuery) -> TermSearch | None:
    """The search the terms answer alone, or None: only its text narrows it, the list is in sign-up order, and the
    text (and its digits) are long enough to have terms."""
    f = query.filters
    if not f.q or query.created_from is not None or query.created_before is not None:
        return None
    if (
        tuple(o.field for o in query.order) != _TERM_ORDER_FIELDS
        or query.order[0].descending != query.order[1].descending
    ):
        return None
    narrowed = f.status or f.gender or f.plan or f.id is not None or f.has_photos is not None or f.include_deleted
    if narrowed or f.birth_year_min is not None or f.birth_year_max is not None:
        return None
    needle = f.q.strip()
    digits = _phone_digits(needle)
    if len(needle) < TERM_CHARS or (digits is not None and len(digits) < TERM_CHARS):
        return None
    return TermSearch(needle, digits)


def _capped_matches(query: MemberListQuery, p: _Params, cap: int, columns: str, search: TermSearch | None) -> str:
    """The CTEs `matching` (the members matching on their own columns, `columns` of each) and `capped` (the first
    `cap` of them that pass `has_photos=true`), as `_capped_rows` explains them; a search by its text alone
    (`search`, from `_term_search`) reads the terms (`term_matches`), which hold every column the sign-up order
    needs."""
    if search is not None:
        return term_matches(*search.terms(p), cap)
    photos = " WHERE " + _HAS_PHOTOS.format(alias="m") if query.filters.has_photos else ""
    return (
        f"matching AS MATERIALIZED (SELECT {columns} FROM users u{_where(query, p, photos=False)}),"
        f" capped AS MATERIALIZED (SELECT * FROM matching m{photos} LIMIT {int(cap)})"
    )


def _capped_page(query: MemberListQuery, p: _Params, cap: int) -> str:
    """A page with its total counted no further than `cap` (`_capped_rows`), from one scan of the matches when
    they are fewer than the cap.

    The capped count reads every match below the cap, with the values the list is ordered by; when it stops short
    of the cap those are all the matches, and the page is sorted from them: a full name's few thousand matches at
    5M were read twice, by the count's trigram bitmap and again by the page's (or at 1M by a walk down the sign-up
    order that read 60,000 rows for 50). Only at the cap, where the matches are common, does the page walk the
    list's order itself, and stops after a page's worth. Both branches are gated on the count, so one runs. A search
    by its name alone has a page of its own (`_term_page`).
    """
    search = _term_search(query)
    if search is not None and search.digits is None:
        return _term_page(query, p, cap, search)
    columns = ", ".join(dict.fromkeys(["u.id", *(SORT_COLUMNS[o.field] for o in query.order)]))
    order = _order_by(query.order)
    after = [_after(p, query.order, query.after)] if query.after is not None else []
    few = " AND ".join([*after, f"(SELECT n FROM counted) < {int(cap)}"])
    many = _where(query, p, [*after, f"(SELECT n FROM counted) >= {int(cap)}"])
    return (
        f"WITH {_capped_matches(query, p, cap, columns, search)}, counted AS (SELECT count(*) AS n FROM capped),"
        f" page AS ((SELECT u.id FROM capped u WHERE {few} ORDER BY {order} {_page(query, p)})"
        f" UNION ALL (SELECT u.id FROM users u{many} ORDER BY {order} {_page(query, p)}))"
        f" SELECT {_USER_COLUMNS}, {_FIRST_PHOTO_KEY}, (SELECT n FROM counted) AS total"
        f" FROM users u WHERE u.id IN (SELECT id FROM page) ORDER BY {order}"
    )


def _term_page(query: MemberListQuery, p: _Params, cap: int, search: TermSearch) -> str:
    """`_capped_page` for a search by name alone, from the name terms.

    The distinct terms the text begins are found first, one index probe each (`term_values`, up to 257). Each holds
    a member once, in sign-up order: with one term (a full name, most name parts) the count is the number of its
    rows up to the cap, with no need to make them distinct, and with up to `PAGE_TERMS` the page is the page's first
    rows of each term, merged (a member in several terms is one row). Otherwise the count is of `term_matches`'
    distinct members (all of them only when the first rows held fewer than the cap), and the page is sorted from its
    matches under the cap and walks the list's order at it (a text that begins that many names is common: the walk finds
    its page soon; `jennifer`, just past the cap at 5M with 95 terms, walked 18,000 rows for 50, 39 ms). The
    branches are gated on the terms and the count, so one of each runs.
    """
    name, _ = search.terms(p)
    order = _order_by(query.order)
    after = [_after(p, query.order, query.after)] if query.after is not None else []
    values = "(SELECT n FROM term_count)"
    rows = f"SELECT FROM member_name_terms t WHERE t.term ^@ {name} LIMIT {int(cap)}"
    counted = (
        f"CASE WHEN {values} = 1 THEN (SELECT count(*) FROM ({rows}) one)"
        f" WHEN (SELECT count(*) FROM hits) < {int(cap)} OR (SELECT count(*) FROM firsts) = {int(cap)}"
        " THEN (SELECT count(*) FROM firsts)"
        " ELSE (SELECT count(*) FROM capped) END"
    )
    per_term = (
        f"SELECT u.id, u.created_at FROM ({name_term_rows('v.term')}) u"
        f"{' WHERE ' + ' AND '.join(after) if after else ''}"
        f" ORDER BY {order} LIMIT {p(query.limit + query.offset)}"
    )
    tops = (
        f"SELECT DISTINCT l.id, l.created_at FROM term_values v CROSS JOIN LATERAL ({per_term}) l"
        " WHERE v.term IS NOT NULL"
    )
    many_values = f"{values} > {PAGE_TERMS}"
    few = " AND ".join([*after, many_values, f"(SELECT n FROM counted) < {int(cap)}"])
    walk = _where(query, p, [*after, many_values, f"(SELECT n FROM counted) >= {int(cap)}"])
    return (
        f"WITH RECURSIVE {term_matches(name, None, cap)}, {term_values(name)},"
        " term_count AS (SELECT count(*) AS n FROM term_values WHERE term IS NOT NULL),"
        f" counted AS (SELECT {counted} AS n),"
        f" page AS ((SELECT u.id FROM ({tops}) u WHERE {values} <= {PAGE_TERMS} ORDER BY {order} {_page(query, p)})"
        f" UNION ALL (SELECT u.id FROM capped u WHERE {few} ORDER BY {order} {_page(query, p)})"
        f" UNION ALL (SELECT u.id FROM users u{walk} ORDER BY {order} {_page(query, p)}))"
        f" SELECT {_USER_COLUMNS}, {_FIRST_PHOTO_KEY}, (SELECT n FROM counted) AS total"
        f" FROM users u WHERE u.id IN (SELECT id FROM page) ORDER BY {order}"
    )


def _counted(query: MemberListQuery, p: _Params, cap: int | None) -> str:
    """The exact number of matching members (`_total`), or with `cap` counted no further (`_capped_rows`)."""
    return _total(query, p) if cap is None else _capped_rows(query, p, cap)


async def count_members(session: AnySession, query: MemberListQuery, cap: int | None = None) -> int:
    """The number of members matching the filters: exact, or `cap` when there are at least that many."""
    p = _Params()
    rows = await fetch(session, f"SELECT {_counted(query, p, cap)} AS n", *p.args)
    return int(rows[0]["n"])


async def list_members(
    session: AnySession, query: MemberListQuery, *, with_total: bool = False, total_cap: int | None = None
) -> tuple[Sequence[Row], int | None]:
    """One page of user rows, each with `photo_key` (its first photo's object key or None), and with
    `with_total` the number of matching members from the same statement and snapshot: exact, or with `total_cap`
    counted no further than the cap (see `count_members`)."""
    p = _Params()
    if with_total and total_cap is not None:
        sql = _capped_page(query, p, total_cap)
    else:
        after = [_after(p, query.order, query.after)] if query.after is not None else []
        total = f", {_total(query, p)} AS total" if with_total else ""
        sql = (
            f"SELECT {_USER_COLUMNS}, {_FIRST_PHOTO_KEY}{total} FROM users u{_where(query, p, after)}"
            f" ORDER BY {_order_by(query.order)} {_page(query, p)}"
        )
    rows = await fetch(session, sql, *p.args)
    if not with_total:
        return rows, None
    if rows:  # an uncorrelated subquery in the select list runs once
        return rows, int(rows[0]["total"])
    return rows, await count_members(session, query, total_cap)  # a page with no rows asks its total alone


async def estimate_members(session: AnySession, query: MemberListQuery) -> int:
    """The planner's estimate of the matching rows (EXPLAIN), without counting them."""
    p = _Params()
    rows = await fetch(session, f"EXPLAIN (FORMAT JSON) SELECT u.id FROM users u{_where(query, p)}", *p.args)
    plan = rows[0]["QUERY PLAN"]
    document = json.loads(plan) if isinstance(plan, str) else plan
    return int(document[0]["Plan"]["Plan Rows"])


EXPORT_COLUMNS = ("id", "name", "phone", "gender", "birth_year", "status", "created_at", "updated_at", "deleted_at")
# Written by the service in front of the rows (COPY's own header would arrive before the query has run, so an
# error in the query could no longer be answered with an error status).
EXPORT_HEADER = (",".join(EXPORT_COLUMNS) + "\n").encode()
_FREE_TEXT = ("name", "phone")  # the columns whose text comes from outside

# OWASP's CSV injection guidance: a cell a spreadsheet may read as a formula gets a leading apostrophe, and is
# quoted. That is a cell whose first visible character is = + - @ (or a full-width or small form of one, or the
# minus sign, which spreadsheets fold onto them), whatever whitespace or invisible characters come before it,
# and any cell that starts with a control character (tab, carriage return, line feed ...). PostgreSQL's regular
# expressions read the \uXXXX escapes; its [[:space:]] is ASCII-only under the C collation, hence the list.
_LEADING = r"\u0001-\u0020\u007f-\u00a0\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u2064\u3000\ufeff"
_FORMULA = r"=+@\uff1d\uff0b\uff0d\uff20\ufe66\ufe62\ufe63\ufe6b\u2212-"
FORMULA_START = rf"^([{_LEADING}]*[{_FORMULA}]|[\u0001-\u001f\u007f])"


def _spreadsheet_safe(p: _Params, column: str) -> str:
    """The text with a leading apostrophe when a spreadsheet could read it as a formula (see FORMULA_START)."""
    return f"CASE WHEN u.{column} ~ {p(FORMULA_START)} THEN '''' || u.{column} ELSE u.{column} END AS {column}"


async def export_csv(
    session: AnySession, query: MemberListQuery, sink: Callable[[bytes], Coroutine[Any, Any, None]]
) -> None:
    """Every matching member as CSV rows (without a header: EXPORT_HEADER), written by PostgreSQL (COPY) and
    handed to `sink` in chunks.

    COPY streams from the server without materialising the result, so memory stays flat at any size.
    """
    p = _Params()
    columns = ", ".join(_spreadsheet_safe(p, name) if name in _FREE_TEXT else f"u.{name}" for name in EXPORT_COLUMNS)
    sql = f"SELECT {columns} FROM users u{_where(query, p)} ORDER BY {_order_by(query.order)}"
    await copy_query(session, sql, *p.args, output=sink, format="csv", force_quote=_FREE_TEXT)


# How many reports name the member (ix_reports_reported_member_id_created_at_id), and how many of them are open.
