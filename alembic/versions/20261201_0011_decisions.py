"""Decisions: bans and blocked phones, timed suspensions, reason codes, bulk progress under an Idempotency-Key.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 23:30:00

- users: status `banned`; `suspended_until` (a timed suspension, lifted by housekeeping), with a partial index
  on it for the housekeeping query.
- phone_blocks: the keyed hashes (HMAC-SHA256) of banned members' phones, one row per (phone, banning member):
  a phone is blocked while any row has its hash. Never the number itself. No foreign key: a block outlives its
  member's row, whatever removes it.
- member_notes: `reason_code` of the decision, and the kinds `banned`, `unbanned`, `unsuspended`.
- user_photos: `reason_code` of a rejection.
- idempotency_items: each item a bulk decision committed under an Idempotency-Key, written in the item's own
  transaction, so that a retry after a crash answers it from the record instead of deciding it again.

The member counters (0004, 0006) bucket by whatever status a row has, so `banned` needs nothing there.
Downgrade turns banned members into suspended ones and the new kinds of notes into plain notes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = "status IN ('pending', 'active', 'rejected', 'suspended')"
NEW_STATUSES = "status IN ('pending', 'active', 'rejected', 'suspended', 'banned')"
OLD_KINDS = "kind IN ('note', 'approved', 'rejected', 'suspended')"
NEW_KINDS = "kind IN ('note', 'approved', 'rejected', 'suspended', 'banned', 'unbanned', 'unsuspended')"


def upgrade() -> None:
    op.drop_constraint(op.f("ck_users_status"), "users", type_="check")
    op.create_check_constraint(op.f("ck_users_status"), "users", NEW_STATUSES)
    op.add_column("users", sa.Column("suspended_until", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_users_suspended_until",
        "users",
        ["suspended_until"],
        postgresql_where=sa.text("status = 'suspended' AND suspended_until IS NOT NULL AND deleted_at IS NULL"),
    )
    op.create_table(
        "phone_blocks",
        sa.Column("phone_hash", sa.String(length=64), nullable=False),
        sa.Column("member_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("reason_code", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("phone_hash", "member_id", name=op.f("pk_phone_blocks")),
    )
    op.create_index("ix_phone_blocks_member_id", "phone_blocks", ["member_id"])
    op.add_column("member_notes", sa.Column("reason_code", sa.String(length=32), nullable=True))
    op.drop_constraint(op.f("ck_member_notes_kind"), "member_notes", type_="check")
    op.create_check_constraint(op.f("ck_member_notes_kind"), "member_notes", NEW_KINDS)
    op.add_column("user_photos", sa.Column("reason_code", sa.String(length=32), nullable=True))
    op.create_table(
        "idempotency_items",
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("item_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("owner", "key", "fingerprint", "item_id", name=op.f("pk_idempotency_items")),
    )
    op.create_index("ix_idempotency_items_created_at", "idempotency_items", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_items_created_at", table_name="idempotency_items")
    op.drop_table("idempotency_items")
    op.drop_column("user_photos", "reason_code")
    op.drop_constraint(op.f("ck_member_notes_kind"), "member_notes", type_="check")
    op.execute("UPDATE member_notes SET kind = 'note' WHERE kind IN ('banned', 'unbanned', 'unsuspended')")
    op.create_check_constraint(op.f("ck_member_notes_kind"), "member_notes", OLD_KINDS)
    op.drop_column("member_notes", "reason_code")
    op.drop_index("ix_phone_blocks_member_id", table_name="phone_blocks")
    op.drop_table("phone_blocks")
    op.drop_index("ix_users_suspended_until", table_name="users")
    op.drop_column("users", "suspended_until")
    op.drop_constraint(op.f("ck_users_status"), "users", type_="check")
    op.execute("UPDATE users SET status = 'suspended' WHERE status = 'banned'")
    op.create_check_constraint(op.f("ck_users_status"), "users", OLD_STATUSES)
