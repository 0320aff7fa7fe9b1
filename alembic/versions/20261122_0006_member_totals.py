"""Member totals without the sign-up day, for totals over all time from a few dozen rows.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 02:10:00

member_counts has a row per sign-up day and bucket (about 28,000 rows at 1M members over two years), and a total
without a date range (the dashboard's headline counts, a member list's total) summed all of them: 3-5 ms of
server CPU per request. member_totals holds the same buckets without the day (status, gender, active plan,
deleted: at most 64 rows) and is kept exact in the same writing transaction: member_counts_add adds to both.

Lock order: a move touches its two day rows in key order and then its two totals rows in key order (none when
only the day changes), and a single add touches its day row and then its totals row. Every transaction thus
locks day rows before totals rows and each kind in key order, so concurrent moves still cannot deadlock. The
totals rows are hotter than the day rows (one per bucket for all days); a sign-up already contended on today's
day row, so only moves of older members (moderation) gain a shared row, held until the writer commits.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DEFINITIONS = """
CREATE FUNCTION member_counts_day_add(p_day date, p_status text, p_gender text, p_plan text, p_deleted boolean,
                                      p_delta integer) RETURNS void LANGUAGE sql AS $$
    INSERT INTO member_counts AS c (day, status, gender, plan, deleted, n)
    VALUES (p_day, p_status, p_gender, coalesce(p_plan, ''), p_deleted, p_delta)
    ON CONFLICT (day, status, gender, plan, deleted) DO UPDATE SET n = c.n + EXCLUDED.n
$$;

CREATE FUNCTION member_totals_add(p_status text, p_gender text, p_plan text, p_deleted boolean, p_delta integer)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO member_totals AS t (status, gender, plan, deleted, n)
    VALUES (p_status, p_gender, coalesce(p_plan, ''), p_deleted, p_delta)
    ON CONFLICT (status, gender, plan, deleted) DO UPDATE SET n = t.n + EXCLUDED.n
$$;

CREATE OR REPLACE FUNCTION member_counts_add(p_day date, p_status text, p_gender text, p_plan text,
                                             p_deleted boolean, p_delta integer) RETURNS void LANGUAGE sql AS $$
    SELECT member_counts_day_add(p_day, p_status, p_gender, p_plan, p_deleted, p_delta);
    SELECT member_totals_add(p_status, p_gender, p_plan, p_deleted, p_delta);
$$;

CREATE OR REPLACE FUNCTION member_counts_move(o_day date, o_status text, o_gender text, o_plan text,
                                              o_deleted boolean, n_day date, n_status text, n_gender text,
                                              n_plan text, n_deleted boolean)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF (o_day, o_status, o_gender, coalesce(o_plan, ''), o_deleted)
       = (n_day, n_status, n_gender, coalesce(n_plan, ''), n_deleted) THEN
        RETURN;
    END IF;
    IF (o_day, o_status, o_gender, coalesce(o_plan, ''), o_deleted)
       < (n_day, n_status, n_gender, coalesce(n_plan, ''), n_deleted) THEN
        PERFORM member_counts_day_add(o_day, o_status, o_gender, o_plan, o_deleted, -1);
        PERFORM member_counts_day_add(n_day, n_status, n_gender, n_plan, n_deleted, 1);
    ELSE
        PERFORM member_counts_day_add(n_day, n_status, n_gender, n_plan, n_deleted, 1);
        PERFORM member_counts_day_add(o_day, o_status, o_gender, o_plan, o_deleted, -1);
    END IF;
    -- Then the totals rows, in their own key order (only the day changed: the totals stay).
    IF (o_status, o_gender, coalesce(o_plan, ''), o_deleted)
       = (n_status, n_gender, coalesce(n_plan, ''), n_deleted) THEN
        RETURN;
    END IF;
    IF (o_status, o_gender, coalesce(o_plan, ''), o_deleted)
       < (n_status, n_gender, coalesce(n_plan, ''), n_deleted) THEN
        PERFORM member_totals_add(o_status, o_gender, o_plan, o_deleted, -1);
        PERFORM member_totals_add(n_status, n_gender, n_plan, n_deleted, 1);
    ELSE
        PERFORM member_totals_add(n_status, n_gender, n_plan, n_deleted, 1);
        PERFORM member_totals_add(o_status, o_gender, o_plan, o_deleted, -1);
    END IF;
END $$;

CREATE OR REPLACE FUNCTION member_counts_rebuild() RETURNS void LANGUAGE sql AS $$
    DELETE FROM member_counts;
    INSERT INTO member_counts (day, status, gender, plan, deleted, n)
    SELECT (u.created_at AT TIME ZONE 'UTC')::date, u.status, u.gender, coalesce(s.plan, ''),
           u.deleted_at IS NOT NULL, count(*)
    FROM users u LEFT JOIN user_subscriptions s ON s.id = u.id AND s.status = 'active'
    GROUP BY 1, 2, 3, 4, 5;
    DELETE FROM member_totals;
    INSERT INTO member_totals (status, gender, plan, deleted, n)
    SELECT status, gender, plan, deleted, sum(n) FROM member_counts GROUP BY 1, 2, 3, 4;
$$;
"""
STATEMENTS = [block.strip() for block in _DEFINITIONS.split("\n\n") if block.strip()]

# The definitions of 0004, restored by the downgrade.
_PREVIOUS = """
CREATE OR REPLACE FUNCTION member_counts_add(p_day date, p_status text, p_gender text, p_plan text,
                                             p_deleted boolean, p_delta integer) RETURNS void LANGUAGE sql AS $$
    INSERT INTO member_counts AS c (day, status, gender, plan, deleted, n)
    VALUES (p_day, p_status, p_gender, coalesce(p_plan, ''), p_deleted, p_delta)
    ON CONFLICT (day, status, gender, plan, deleted) DO UPDATE SET n = c.n + EXCLUDED.n
$$;

CREATE OR REPLACE FUNCTION member_counts_move(o_day date, o_status text, o_gender text, o_plan text,
                                              o_deleted boolean, n_day date, n_status text, n_gender text,
                                              n_plan text, n_deleted boolean)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF (o_day, o_status, o_gender, coalesce(o_plan, ''), o_deleted)
       = (n_day, n_status, n_gender, coalesce(n_plan, ''), n_deleted) THEN
        RETURN;
    END IF;
    IF (o_day, o_status, o_gender, coalesce(o_plan, ''), o_deleted)
       < (n_day, n_status, n_gender, coalesce(n_plan, ''), n_deleted) THEN
        PERFORM member_counts_add(o_day, o_status, o_gender, o_plan, o_deleted, -1);
        PERFORM member_counts_add(n_day, n_status, n_gender, n_plan, n_deleted, 1);
    ELSE
        PERFORM member_counts_add(n_day, n_status, n_gender, n_plan, n_deleted, 1);
        PERFORM member_counts_add(o_day, o_status, o_gender, o_plan, o_deleted, -1);
    END IF;
END $$;

CREATE OR REPLACE FUNCTION member_counts_rebuild() RETURNS void LANGUAGE sql AS $$
    DELETE FROM member_counts;
    INSERT INTO member_counts (day, status, gender, plan, deleted, n)
    SELECT (u.created_at AT TIME ZONE 'UTC')::date, u.status, u.gender, coalesce(s.plan, ''),
           u.deleted_at IS NOT NULL, count(*)
    FROM users u LEFT JOIN user_subscriptions s ON s.id = u.id AND s.status = 'active'
    GROUP BY 1, 2, 3, 4, 5;
$$;
"""
PREVIOUS_STATEMENTS = [block.strip() for block in _PREVIOUS.split("\n\n") if block.strip()]


def upgrade() -> None:
    # Writers wait here until this migration commits, before their counter triggers run: every change is either
    # in member_counts when the totals are filled from it below, or goes through the new functions.
    op.execute("LOCK TABLE users, user_subscriptions IN SHARE ROW EXCLUSIVE MODE")
    op.create_table(
        "member_totals",
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("gender", sa.String(length=8), nullable=False),
        sa.Column("plan", sa.String(length=16), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("status", "gender", "plan", "deleted", name="pk_member_totals"),
    )
    # asyncpg runs one statement per call: the definitions are blocks separated by blank lines.
    for statement in STATEMENTS:
        op.execute(statement)
    op.execute(
        "INSERT INTO member_totals (status, gender, plan, deleted, n)"
        " SELECT status, gender, plan, deleted, sum(n) FROM member_counts GROUP BY 1, 2, 3, 4"
    )


def downgrade() -> None:
    # The old definitions first: they no longer call the helpers, which can then go.
    for statement in PREVIOUS_STATEMENTS:
        op.execute(statement)
    op.execute("DROP FUNCTION member_totals_add(text, text, text, boolean, integer)")
    op.execute("DROP FUNCTION member_counts_day_add(date, text, text, text, boolean, integer)")
    op.drop_table("member_totals")
