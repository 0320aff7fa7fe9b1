"""Reports about members, the reporter role for API keys, and the indexes that hand out queue items to claim.

Revision ID: 0013
Revises: 0010
Create Date: 2026-12-01 23:00:00

- `reports`: what the app's backend (an API key with role `reporter`) files about a member. The same reporter
  reporting the same member for the same code within a day counts once: each report holds the day after it was
  filed (`dedupe_window`), and an exclusion constraint refuses a second report whose day overlaps it
  (btree_gist, for the equality of the other columns in a GiST index). Without a reporter member nothing is
  deduplicated (NULL equals nothing). Open reports are counted in `moderation_counts` ('report', 'open'), by
  trigger, as photos and documents are.
- The claim indexes: for each queue, the oldest unclaimed item is the first entry of a partial index over the
  items waiting that nobody has claimed (`claimed_until IS NULL`, so a claim takes the item out of the index and
  a pile of claims never has to be stepped over), and lapsed claims are found by a second one over
  `claimed_until` (a range up to now). Both are small: only waiting items are in them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REASON_CODES = (
    "fake_profile",
    "underage",
    "nudity",
    "violence",
    "hate",
    "harassment",
    "scam",
    "spam",
    "impersonation",
    "illegal",
    "off_platform",
    "other",
)
ACTIONS = ("reject", "suspend", "ban", "photo_rejected", "document_rejected", "warning", "other")

# (table, name, the waiting items' condition)
QUEUES = (
    ("users", "review", "status = 'pending' AND deleted_at IS NULL"),
    ("user_photos", "review", "status = 'pending' AND deleted_at IS NULL"),
    ("user_documents", "review", "status = 'pending' AND deleted_at IS NULL"),
    ("reports", "open", "status = 'open'"),
)


def _in(values: Sequence[str]) -> str:
    return ", ".join(f"'{value}'" for value in values)


_REPORT_COUNTS = """
CREATE FUNCTION report_counts_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM moderation_counts_add('report', OLD.status, OLD.id, -1);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        PERFORM moderation_counts_add('report', NEW.status, NEW.id, 1);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER moderation_counts_reports AFTER INSERT OR DELETE OR UPDATE OF status ON reports
    FOR EACH ROW EXECUTE FUNCTION report_counts_change();

CREATE OR REPLACE FUNCTION dashboard_counts_rebuild() RETURNS void LANGUAGE sql AS $$
    DELETE FROM moderation_counts;
    INSERT INTO moderation_counts (entity, status, slot, n)
    SELECT 'photo', status, abs(hashtext(id::text)) % 16, count(*) FROM user_photos
    WHERE deleted_at IS NULL GROUP BY 1, 2, 3;
    INSERT INTO moderation_counts (entity, status, slot, n)
    SELECT 'document', status, abs(hashtext(id::text)) % 16, count(*) FROM user_documents
    WHERE deleted_at IS NULL GROUP BY 1, 2, 3;
    INSERT INTO moderation_counts (entity, status, slot, n)
    SELECT 'report', status, abs(hashtext(id::text)) % 16, count(*) FROM reports GROUP BY 1, 2, 3;
    DELETE FROM signup_hours;
    INSERT INTO signup_hours (hour, n)
    SELECT date_trunc('hour', created_at), count(*) FROM users WHERE deleted_at IS NULL GROUP BY 1;
$$;
"""
_REBUILD_BEFORE = """
CREATE OR REPLACE FUNCTION dashboard_counts_rebuild() RETURNS void LANGUAGE sql AS $$
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
$$
"""


def upgrade() -> None:
    op.drop_constraint(op.f("ck_api_keys_role"), "api_keys", type_="check")
    op.create_check_constraint(
        op.f("ck_api_keys_role"), "api_keys", "role IN ('viewer', 'moderator', 'admin', 'reporter')"
    )
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.create_table(
        "reports",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("reported_member_id", sa.UUID(), nullable=False),
        sa.Column("reporter_member_id", sa.UUID(), nullable=True),
        sa.Column("reason_code", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="open", nullable=False),
        sa.Column("filed_by", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column(
            "dedupe_window",
            postgresql.TSTZRANGE(),
            server_default=sa.text("tstzrange(now(), now() + interval '1 day')"),
            nullable=False,
        ),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.UUID(), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=True),
        sa.Column("resolution_note", sa.Text(), nullable=True),
        sa.Column("claimed_by", sa.UUID(), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(f"reason_code IN ({_in(REASON_CODES)})", name=op.f("ck_reports_reason_code")),
        sa.CheckConstraint("status IN ('open', 'dismissed', 'actioned')", name=op.f("ck_reports_status")),
        sa.CheckConstraint(f"action IN ({_in(ACTIONS)})", name=op.f("ck_reports_action")),
        sa.CheckConstraint("(status = 'actioned') = (action IS NOT NULL)", name=op.f("ck_reports_action_if_actioned")),
        sa.CheckConstraint("char_length(text) <= 2000", name=op.f("ck_reports_text_length")),
        sa.ForeignKeyConstraint(
            ["reported_member_id"],
            ["users.id"],
            name=op.f("fk_reports_reported_member_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reporter_member_id"],
            ["users.id"],
            name=op.f("fk_reports_reporter_member_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
        postgresql.ExcludeConstraint(
            (sa.column("reporter_member_id"), "="),
            (sa.column("reported_member_id"), "="),
            (sa.column("reason_code"), "="),
            (sa.column("dedupe_window"), "&&"),
            name="ex_reports_once_a_day",
            using="gist",
        ),
    )
    op.create_index("ix_reports_created_at_id", "reports", ["created_at", "id"])
    op.create_index("ix_reports_status_created_at_id", "reports", ["status", "created_at", "id"])
    op.create_index(
        "ix_reports_reported_member_id_created_at_id", "reports", ["reported_member_id", "created_at", "id"]
    )
    for table, name, waiting in QUEUES:
        op.create_index(
            f"ix_{table}_{name}_unclaimed",
            table,
            ["created_at", "id"],
            postgresql_where=sa.text(f"{waiting} AND claimed_until IS NULL"),
        )
        op.create_index(
            f"ix_{table}_{name}_claims",
            table,
            ["claimed_until"],
            postgresql_where=sa.text(f"{waiting} AND claimed_until IS NOT NULL"),
        )
    for statement in (block.strip() for block in _REPORT_COUNTS.split("\n\n")):
        if statement:
            op.execute(statement)


def downgrade() -> None:
    op.execute(_REBUILD_BEFORE.strip())
    op.execute("DROP TRIGGER moderation_counts_reports ON reports")
    op.execute("DROP FUNCTION report_counts_change()")
    op.execute("DELETE FROM moderation_counts WHERE entity = 'report'")
    for table, name, _ in QUEUES:
        if table != "reports":
            op.drop_index(f"ix_{table}_{name}_claims", table_name=table)
            op.drop_index(f"ix_{table}_{name}_unclaimed", table_name=table)
    op.drop_table("reports")
    op.execute("DELETE FROM api_keys WHERE role = 'reporter'")
    op.drop_constraint(op.f("ck_api_keys_role"), "api_keys", type_="check")
    op.create_check_constraint(op.f("ck_api_keys_role"), "api_keys", "role IN ('viewer', 'moderator', 'admin')")
