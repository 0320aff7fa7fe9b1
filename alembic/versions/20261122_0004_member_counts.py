"""Member counters kept by triggers, for exact totals without counting millions of rows.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 00:50:00

Buckets: sign-up day (UTC), status, gender, active plan ('' for none), deleted. Every insert, update and
delete of users, and every change of a subscription's plan or status, moves one member between buckets
inside the writing transaction. The users trigger runs BEFORE DELETE, while the member's subscription still
exists. Two moves touch their two buckets in key order, so concurrent moves cannot deadlock.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DEFINITIONS = """
CREATE FUNCTION member_counts_add(p_day date, p_status text, p_gender text, p_plan text, p_deleted boolean,
                                  p_delta integer) RETURNS void LANGUAGE sql AS $$
    INSERT INTO member_counts AS c (day, status, gender, plan, deleted, n)
    VALUES (p_day, p_status, p_gender, coalesce(p_plan, ''), p_deleted, p_delta)
    ON CONFLICT (day, status, gender, plan, deleted) DO UPDATE SET n = c.n + EXCLUDED.n
$$;

CREATE FUNCTION member_counts_move(o_day date, o_status text, o_gender text, o_plan text, o_deleted boolean,
                                   n_day date, n_status text, n_gender text, n_plan text, n_deleted boolean)
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

CREATE FUNCTION member_active_plan(p_user uuid) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT plan FROM user_subscriptions WHERE id = p_user AND status = 'active'
$$;

CREATE FUNCTION users_member_counts() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    active_plan text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM member_counts_add((NEW.created_at AT TIME ZONE 'UTC')::date, NEW.status, NEW.gender,
                                  member_active_plan(NEW.id), NEW.deleted_at IS NOT NULL, 1);
        RETURN NEW;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM member_counts_add((OLD.created_at AT TIME ZONE 'UTC')::date, OLD.status, OLD.gender,
                                  member_active_plan(OLD.id), OLD.deleted_at IS NOT NULL, -1);
        RETURN OLD;
    END IF;
    active_plan := member_active_plan(NEW.id);
    PERFORM member_counts_move((OLD.created_at AT TIME ZONE 'UTC')::date, OLD.status, OLD.gender, active_plan,
                               OLD.deleted_at IS NOT NULL,
                               (NEW.created_at AT TIME ZONE 'UTC')::date, NEW.status, NEW.gender, active_plan,
                               NEW.deleted_at IS NOT NULL);
    RETURN NEW;
END $$;

CREATE FUNCTION subscriptions_member_counts() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    member users%ROWTYPE;
    old_plan text;
    new_plan text;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status = 'active' THEN
        old_plan := OLD.plan;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.status = 'active' THEN
        new_plan := NEW.plan;
    END IF;
    IF old_plan IS NOT DISTINCT FROM new_plan THEN
        RETURN NULL;
    END IF;
    SELECT * INTO member FROM users WHERE id = coalesce(NEW.id, OLD.id);
    IF FOUND THEN
        PERFORM member_counts_move((member.created_at AT TIME ZONE 'UTC')::date, member.status, member.gender,
                                   old_plan, member.deleted_at IS NOT NULL,
                                   (member.created_at AT TIME ZONE 'UTC')::date, member.status, member.gender,
                                   new_plan, member.deleted_at IS NOT NULL);
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION member_counts_rebuild() RETURNS void LANGUAGE sql AS $$
    DELETE FROM member_counts;
    INSERT INTO member_counts (day, status, gender, plan, deleted, n)
    SELECT (u.created_at AT TIME ZONE 'UTC')::date, u.status, u.gender, coalesce(s.plan, ''),
           u.deleted_at IS NOT NULL, count(*)
    FROM users u LEFT JOIN user_subscriptions s ON s.id = u.id AND s.status = 'active'
    GROUP BY 1, 2, 3, 4, 5;
$$;

CREATE TRIGGER member_counts_insert AFTER INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION users_member_counts();

CREATE TRIGGER member_counts_update AFTER UPDATE OF created_at, status, gender, deleted_at ON users
    FOR EACH ROW WHEN ((OLD.created_at, OLD.status, OLD.gender, OLD.deleted_at IS NULL)
                       IS DISTINCT FROM (NEW.created_at, NEW.status, NEW.gender, NEW.deleted_at IS NULL))
    EXECUTE FUNCTION users_member_counts();

CREATE TRIGGER member_counts_delete BEFORE DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION users_member_counts();

CREATE TRIGGER member_counts_plan AFTER INSERT OR DELETE OR UPDATE OF plan, status ON user_subscriptions
    FOR EACH ROW EXECUTE FUNCTION subscriptions_member_counts();
"""
STATEMENTS = [block.strip() for block in _DEFINITIONS.split("\n\n") if block.strip()]


def upgrade() -> None:
    op.create_table(
        "member_counts",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("gender", sa.String(length=8), nullable=False),
        sa.Column("plan", sa.String(length=16), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "status", "gender", "plan", "deleted", name="pk_member_counts"),
    )
    # asyncpg runs one statement per call: the definitions are blocks separated by blank lines.
    for statement in STATEMENTS:
        op.execute(statement)
    op.execute("SELECT member_counts_rebuild()")


def downgrade() -> None:
    op.execute("DROP TRIGGER member_counts_plan ON user_subscriptions")
    op.execute("DROP TRIGGER member_counts_delete ON users")
    op.execute("DROP TRIGGER member_counts_update ON users")
    op.execute("DROP TRIGGER member_counts_insert ON users")
    for function in (
        "member_counts_rebuild()",
        "subscriptions_member_counts()",
        "users_member_counts()",
        "member_active_plan(uuid)",
        "member_counts_move(date, text, text, text, boolean, date, text, text, text, boolean)",
        "member_counts_add(date, text, text, text, boolean, integer)",
    ):
        op.execute(f"DROP FUNCTION {function}")
    op.drop_table("member_counts")
