"""Write path: idempotency keys, photo size and status reason, kinds of member notes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 23:58:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_headers", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("response_body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("owner", "key", name="pk_idempotency_keys"),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])
    op.add_column("user_photos", sa.Column("size_bytes", sa.Integer(), nullable=True))
    op.add_column("user_photos", sa.Column("status_reason", sa.Text(), nullable=True))
    op.add_column("member_notes", sa.Column("kind", sa.String(length=16), server_default="note", nullable=False))
    op.create_check_constraint(
        op.f("ck_member_notes_kind"), "member_notes", "kind IN ('note', 'approved', 'rejected', 'suspended')"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_member_notes_kind"), "member_notes", type_="check")
    op.drop_column("member_notes", "kind")
    op.drop_column("user_photos", "status_reason")
    op.drop_column("user_photos", "size_bytes")
    op.drop_table("idempotency_keys")
