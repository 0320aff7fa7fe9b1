"""Moderation queues: uploaded documents, and exact queue totals by item status, member status, gender and deletion.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 23:30:00

Documents are uploaded as photos are (a presigned form, then `complete`): user_documents gets the `uploading`
status, the declared `content_type`, the checked `size_bytes`, and a rejection's `reason_code` and `status_reason`.

queue_counts holds, per entity (photo, document), item status, member status, member gender, deletion (the item's
or its member's) and slot, how many items there are, so that a queue page's exact total sums a few dozen rows
instead of counting a queue of millions. It is kept in the writing transaction by triggers on both sides of the
join: an item's insert, status change, deletion or removal moves one item; a member's status, gender or deletion
change moves all of the member's items.

The two sides race: a member's change counts the member's items as its snapshot sees them, while an item's change
reads the member as committed. Both triggers therefore take one transaction-level advisory lock per member first,
and read after it (READ COMMITTED: each statement of a trigger sees what committed before it began), so that
whichever commits second counts from what the first committed. The lock is taken only once a counted change has
been made, after every row lock the statement needed, so it adds no lock-order cycle with the row locks of the
photo and member writes (members, then photos).

Each counter change is one INSERT ... ON CONFLICT whose rows are grouped and sorted by key, so two transactions
touch their counter rows in the same order and cannot deadlock on them. Items spread over 16 slots (by id) so that
moderators deciding at once do not queue on one counter row.

A member deleted outright (ON DELETE CASCADE) takes its items out in a BEFORE DELETE trigger; the items' own
triggers then find no member and leave the counters alone.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SLOTS = "abs(hashtext({id}::text)) % 16"
_LOCK = "PERFORM pg_advisory_xact_lock(hashtext('queue_counts'), hashtext({member}::text));"
_APPLY = """
    INSERT INTO queue_counts AS c (entity, status, member_status, gender, deleted, slot, n)
    SELECT v.entity, v.status, v.member_status, v.gender, v.deleted, v.slot, sum(v.delta)
    FROM ({rows}) AS v (entity, status, member_status, gender, deleted, slot, delta)
    GROUP BY 1, 2, 3, 4, 5, 6
    HAVING sum(v.delta) <> 0
    ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (entity, status, member_status, gender, deleted, slot) DO UPDATE SET n = c.n + EXCLUDED.n;"""


def _member_items(member: str, sign: str) -> str:
    """Rows moving every item of the member `member` (OLD or NEW) in or out (`sign`) of its buckets."""
    parts = []
    for entity, table in (("photo", "user_photos"), ("document", "user_documents")):
        parts.append(
            f"SELECT '{entity}'::text, i.status::text, {member}.status::text, {member}.gender::text,"
            f" i.deleted_at IS NOT NULL OR {member}.deleted_at IS NOT NULL, {_SLOTS.format(id='i.id')}, {sign}1"
            f" FROM {table} i WHERE i.user_id = {member}.id"
        )
    return " UNION ALL ".join(parts)


_ITEM_ROWS = (
    "SELECT TG_ARGV[0]::text, OLD.status::text, m_status, m_gender,"
    f" OLD.deleted_at IS NOT NULL OR m_deleted, {_SLOTS.format(id='OLD.id')}, -1 WHERE TG_OP <> 'INSERT'"
    " UNION ALL "
    "SELECT TG_ARGV[0]::text, NEW.status::text, m_status, m_gender,"
    f" NEW.deleted_at IS NOT NULL OR m_deleted, {_SLOTS.format(id='NEW.id')}, 1 WHERE TG_OP <> 'DELETE'"
)

_DEFINITIONS = f"""
CREATE FUNCTION queue_counts_item_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    member_id uuid;
    m_status text;
    m_gender text;
    m_deleted boolean;
BEGIN
    IF TG_OP = 'DELETE' THEN member_id := OLD.user_id; ELSE member_id := NEW.user_id; END IF;
    {_LOCK.format(member="member_id")}
    SELECT u.status, u.gender, u.deleted_at IS NOT NULL INTO m_status, m_gender, m_deleted
    FROM users u WHERE u.id = member_id;
    IF NOT FOUND THEN
        RETURN NULL;  -- the member is being deleted outright: its own trigger took its items out
    END IF;
    {_APPLY.format(rows=_ITEM_ROWS)}
    RETURN NULL;
END $$;

CREATE FUNCTION queue_counts_member_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_LOCK.format(member="OLD.id")}
    IF TG_OP = 'DELETE' THEN
        {_APPLY.format(rows=_member_items("OLD", "-"))}
        RETURN OLD;
    END IF;
    {_APPLY.format(rows=_member_items("OLD", "-") + " UNION ALL " + _member_items("NEW", ""))}
    RETURN NULL;
END $$;

CREATE FUNCTION queue_counts_rebuild() RETURNS void LANGUAGE sql AS $$
    DELETE FROM queue_counts;
    INSERT INTO queue_counts (entity, status, member_status, gender, deleted, slot, n)
    SELECT 'photo', i.status, u.status, u.gender, i.deleted_at IS NOT NULL OR u.deleted_at IS NOT NULL,
           {_SLOTS.format(id="i.id")}, count(*)
    FROM user_photos i JOIN users u ON u.id = i.user_id GROUP BY 1, 2, 3, 4, 5, 6;
    INSERT INTO queue_counts (entity, status, member_status, gender, deleted, slot, n)
    SELECT 'document', i.status, u.status, u.gender, i.deleted_at IS NOT NULL OR u.deleted_at IS NOT NULL,
           {_SLOTS.format(id="i.id")}, count(*)
    FROM user_documents i JOIN users u ON u.id = i.user_id GROUP BY 1, 2, 3, 4, 5, 6;
$$;

CREATE TRIGGER queue_counts_insert AFTER INSERT OR DELETE ON user_photos
    FOR EACH ROW EXECUTE FUNCTION queue_counts_item_change('photo');

CREATE TRIGGER queue_counts_update AFTER UPDATE OF status, deleted_at ON user_photos
    FOR EACH ROW WHEN ((OLD.status, OLD.deleted_at IS NULL) IS DISTINCT FROM (NEW.status, NEW.deleted_at IS NULL))
    EXECUTE FUNCTION queue_counts_item_change('photo');

CREATE TRIGGER queue_counts_insert AFTER INSERT OR DELETE ON user_documents
    FOR EACH ROW EXECUTE FUNCTION queue_counts_item_change('document');

CREATE TRIGGER queue_counts_update AFTER UPDATE OF status, deleted_at ON user_documents
    FOR EACH ROW WHEN ((OLD.status, OLD.deleted_at IS NULL) IS DISTINCT FROM (NEW.status, NEW.deleted_at IS NULL))
    EXECUTE FUNCTION queue_counts_item_change('document');

CREATE TRIGGER queue_counts_member AFTER UPDATE OF status, gender, deleted_at ON users
    FOR EACH ROW WHEN ((OLD.status, OLD.gender, OLD.deleted_at IS NULL)
                       IS DISTINCT FROM (NEW.status, NEW.gender, NEW.deleted_at IS NULL))
    EXECUTE FUNCTION queue_counts_member_change();

CREATE TRIGGER queue_counts_member_delete BEFORE DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION queue_counts_member_change();
"""
STATEMENTS = [block.strip() for block in _DEFINITIONS.split("\n\n") if block.strip()]

_DOCUMENT_STATUSES = "('uploading', 'pending', 'verified', 'rejected')"
_OLD_DOCUMENT_STATUSES = "('pending', 'verified', 'rejected')"


def upgrade() -> None:
    # Writers wait until this migration commits: the counters are rebuilt from rows nobody changes meanwhile.
    op.execute("LOCK TABLE users, user_photos, user_documents IN SHARE ROW EXCLUSIVE MODE")
    op.add_column("user_documents", sa.Column("content_type", sa.String(length=64), nullable=True))
    op.add_column("user_documents", sa.Column("size_bytes", sa.Integer(), nullable=True))
    op.add_column("user_documents", sa.Column("status_reason", sa.Text(), nullable=True))
    op.add_column("user_documents", sa.Column("reason_code", sa.String(length=32), nullable=True))
    op.drop_constraint(op.f("ck_user_documents_status"), "user_documents", type_="check")
    op.create_check_constraint(op.f("ck_user_documents_status"), "user_documents", f"status IN {_DOCUMENT_STATUSES}")
    # The queues' order: by status, oldest first (and newest first, read backwards), for live and deleted rows.
    op.create_index("ix_user_photos_status_created_at_id", "user_photos", ["status", "created_at", "id"])
    op.create_index("ix_user_documents_status_created_at_id", "user_documents", ["status", "created_at", "id"])
    op.create_index(
        "ix_user_documents_uploading_created_at",
        "user_documents",
        ["created_at"],
        postgresql_where=sa.text("deleted_at IS NULL AND status = 'uploading'"),
    )
    op.create_table(
        "queue_counts",
        sa.Column("entity", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("member_status", sa.String(length=16), nullable=False),
        sa.Column("gender", sa.String(length=8), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("slot", sa.SmallInteger(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "entity", "status", "member_status", "gender", "deleted", "slot", name="pk_queue_counts"
        ),
    )
    # asyncpg runs one statement per call: the definitions are blocks separated by blank lines.
    for statement in STATEMENTS:
        op.execute(statement)
    op.execute("SELECT queue_counts_rebuild()")


def downgrade() -> None:
    for trigger, table in (
        ("queue_counts_member_delete", "users"),
        ("queue_counts_member", "users"),
        ("queue_counts_update", "user_documents"),
        ("queue_counts_insert", "user_documents"),
        ("queue_counts_update", "user_photos"),
        ("queue_counts_insert", "user_photos"),
    ):
        op.execute(f"DROP TRIGGER {trigger} ON {table}")
    for function in ("queue_counts_rebuild()", "queue_counts_member_change()", "queue_counts_item_change()"):
        op.execute(f"DROP FUNCTION {function}")
    op.drop_table("queue_counts")
    op.drop_index("ix_user_documents_uploading_created_at", table_name="user_documents")
    op.drop_index("ix_user_documents_status_created_at_id", table_name="user_documents")
    op.drop_index("ix_user_photos_status_created_at_id", table_name="user_photos")
    # Documents that exist only since this revision (uploads under way) cannot stay under the old constraint.
    op.execute("DELETE FROM user_documents WHERE status = 'uploading'")
    op.drop_constraint(op.f("ck_user_documents_status"), "user_documents", type_="check")
    op.create_check_constraint(
        op.f("ck_user_documents_status"), "user_documents", f"status IN {_OLD_DOCUMENT_STATUSES}"
    )
    for column in ("reason_code", "status_reason", "size_bytes", "content_type"):
        op.drop_column("user_documents", column)
