"""The SQL of a search read from the search terms (migrations 0019, 0020; docs/decisions.md, "Search terms"): the
rows of a text's matches, its distinct members up to the list's count cap, and the distinct terms it begins.
`list_repository` decides when a search is read from here and writes the statement around these pieces."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# A search reads the terms (migrations 0019 and 0020) when nothing but its text narrows it, the list is in sign-up
# order, and the text is long enough to have terms (suffixes of 3 characters or more).
TERM_CHARS = 3
# The page takes the first rows of each distinct term the text begins, when it begins this few: a text common enough
# to begin more is common enough for a walk down the list to find its page soon. The most common surnames and given
# names of the bench's 5M members begin 59 to 190 (`kim` 117, `son` 190, `jennifer` 95).
PAGE_TERMS = 256


@dataclass(frozen=True)
class TermSearch:
    """A search the terms answer alone: its text for the name terms, and its digits for the phone terms or None."""

    text: str
    digits: str | None

    def terms(self, p: Callable[[Any], str]) -> tuple[str, str | None]:
        """The name terms' and the phone terms' SQL values: lower-cased by PostgreSQL (as ILIKE does, and as the
        terms were), in the terms' collation."""
        name = f'(lower({p(self.text)}) COLLATE "C")'
        return name, None if self.digits is None else f'({p(self.digits)} COLLATE "C")'


def _rows(table: str, condition: str) -> str:
    """The rows (`id`, `created_at`) of the terms in `table` whose `t.term` meets `condition`."""
    return f"SELECT t.member_id AS id, t.created_at FROM {table} t WHERE t.term {condition}"


def term_rows(name: str, digits: str | None) -> str:
    """The term rows of a search's matches (`id`, `created_at`; a member once per term it matches), from the name
    terms `name` begins, then the phone terms `digits` begins."""
    sources = [("member_name_terms", name)] + ([("member_phone_terms", digits)] if digits is not None else [])
    return " UNION ALL ".join(_rows(table, f"^@ {term}") for table, term in sources)


def name_term_rows(term: str) -> str:
    """The rows (`id`, `created_at`) of the one name term `term`: each member once, in the key's order."""
    return _rows("member_name_terms", f"= {term}")


def term_matches(name: str, digits: str | None, cap: int) -> str:
    """The CTEs `matching` and `capped` of `list_repository._capped_matches` from the terms: the members whose name
    (or phone, for digits) contains the search's text, with their sign-up time and id.

    A member has one term per suffix, and a text that occurs twice in a name begins two of them: the first `cap`
    term rows are read (index-only scans that stop there), and only when they hold fewer than `cap` members are all
    of them read to count the members.
    """
    rows = term_rows(name, digits)
    refill = f"((SELECT count(*) FROM hits) = {int(cap)} AND (SELECT count(*) FROM firsts) < {int(cap)})"
    return (
        f"hits AS MATERIALIZED ({rows} LIMIT {int(cap)}),"
        " firsts AS MATERIALIZED (SELECT DISTINCT id, created_at FROM hits),"
        f" matching AS MATERIALIZED (SELECT * FROM firsts WHERE NOT {refill}"
        f" UNION ALL SELECT DISTINCT * FROM ({rows}) every WHERE {refill}),"
        f" capped AS MATERIALIZED (SELECT * FROM matching LIMIT {int(cap)})"
    )


def term_values(term: str) -> str:
    """The CTE `term_values`: the distinct name terms `term` begins, one index probe each, no more than
    `PAGE_TERMS` + 1 of them (PostgreSQL has no skip scan; this is its recursive form)."""
    first = f"SELECT t.term FROM member_name_terms t WHERE t.term ^@ {term}"
    return (
        f"term_values(term, n) AS ((SELECT ({first} ORDER BY t.term LIMIT 1), 1)"
        f" UNION ALL (SELECT ({first} AND t.term > v.term ORDER BY t.term LIMIT 1), v.n + 1 FROM term_values v"
        f" WHERE v.term IS NOT NULL AND v.n <= {PAGE_TERMS}))"
    )
