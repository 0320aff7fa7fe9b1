"""Counters for the dashboard's other sections: live photos and documents by status, live sign-ups by hour.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 01:25:00

Kept by triggers in the writing transaction, like member_counts. Moderation counts are spread over 16 slots
(by row id) so that concurrent moderation does not queue on one hot counter row. Hourly sign-ups let the
dashboard draw days in any whole-hour time zone from 720 rows instead of a month of members.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DEFINITIONS = """
CREATE FUNCTION moderation_counts_add(p_entity text, p_status text, p_id uuid, p_delta integer)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO moderation_counts AS c (entity, status, slot, n)
    VALUES (p_entity, p_status, abs(hashtext(p_id::text)) % 16, p_delta)
    ON CONFLICT (entity, status, slot) DO UPDATE SET n = c.n + EXCLUDED.n
$$;

CREATE FUNCTION moderation_counts_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.deleted_at IS NULL THEN
        PERFORM moderation_counts_add(TG_ARGV[0], OLD.status, OLD.id, -1);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.deleted_at IS NULL THEN
        PERFORM moderation_counts_add(TG_ARGV[0], NEW.status, NEW.id, 1);
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION signup_hours_add(p_created timestamptz, p_delta integer) RETURNS void LANGUAGE sql AS $$
    INSERT INTO signup_hours AS h (hour, n) VALUES (date_trunc('hour', p_created), p_delta)
    ON CONFLICT (hour) DO UPDATE SET n = h.n + EXCLUDED.n
$$;

CREATE FUNCTION signup_hours_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.deleted_at IS NULL THEN
        PERFORM signup_hours_add(OLD.created_at, -1);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.deleted_at IS NULL THEN
        PERFORM signup_hours_add(NEW.created_at, 1);
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION dashboard_counts_rebuild() RETURNS void LANGUAGE sql AS $$
    DELETE FROM moderation_counts;
    INSERT INTO moderation_counts (entity, status, slot, n)
    SELECT 'photo', status, abs(hashtext(id::text)) % 16, count(*) FROM user_photos
    WHERE deleted_at IS NULL GROUP BY 1, 2, 3;
    INSERT INTO moderation_counts (entity, status, slot, n)
    SELECT 'document', status, abs(hashtext(id::text)) % 16, count(*) FROM user_documents
    WHERE deleted_at IS NULL GROUP BY 1, 2, 3;
    DELETE FROM signup_hours;
    INSERT INTO signup_hours (hour, n)
    SELECT date_trunc('hour', created_at), count(*) FROM users WHERE deleted_at IS NULL GROUP BY 1;
$$;

CREATE TRIGGER moderation_counts_photos AFTER INSERT OR DELETE OR UPDATE OF status, deleted_at ON user_photos
    FOR EACH ROW EXECUTE FUNCTION moderation_counts_change('photo');

CREATE TRIGGER moderation_counts_documents AFTER INSERT OR DELETE OR UPDATE OF status, deleted_at ON user_documents
    FOR EACH ROW EXECUTE FUNCTION moderation_counts_change('document');

CREATE TRIGGER signup_hours_insert AFTER INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION signup_hours_change();

CREATE TRIGGER signup_hours_update AFTER UPDATE OF created_at, deleted_at ON users
    FOR EACH ROW WHEN ((OLD.created_at, OLD.deleted_at IS NULL)
                       IS DISTINCT FROM (NEW.created_at, NEW.deleted_at IS NULL))
    EXECUTE FUNCTION signup_hours_change();

CREATE TRIGGER signup_hours_delete AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION signup_hours_change();
"""
STATEMENTS = [block.strip() for block in _DEFINITIONS.split("\n\n") if block.strip()]


def upgrade() -> None:
    op.create_table(
        "moderation_counts",
        sa.Column("entity", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("slot", sa.SmallInteger(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("entity", "status", "slot", name="pk_moderation_counts"),
    )
    op.create_table(
        "signup_hours",
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("hour", name="pk_signup_hours"),
    )
    # asyncpg runs one statement per call: the definitions are blocks separated by blank lines.
    for statement in STATEMENTS:
        op.execute(statement)
    op.execute("SELECT dashboard_counts_rebuild()")


def downgrade() -> None:
    for trigger, table in (
        ("signup_hours_delete", "users"),
        ("signup_hours_update", "users"),
        ("signup_hours_insert", "users"),
        ("moderation_counts_documents", "user_documents"),
        ("moderation_counts_photos", "user_photos"),
    ):
        op.execute(f"DROP TRIGGER {trigger} ON {table}")
    for function in (
        "dashboard_counts_rebuild()",
        "signup_hours_change()",
        "signup_hours_add(timestamptz, integer)",
        "moderation_counts_change()",
        "moderation_counts_add(text, text, uuid, integer)",
    ):
        op.execute(f"DROP FUNCTION {function}")
    op.drop_table("signup_hours")
    op.drop_table("moderation_counts")
