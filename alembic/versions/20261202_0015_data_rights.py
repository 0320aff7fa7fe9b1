"""Member data rights: erased members, the identity-document access log, the retention index.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 03:00:00

`users.erased_at` marks a member whose personal fields were erased (no write touches it again); `users.phone`
becomes nullable, since an erased member has none. `access_log` records every URL issued for an identity document.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
    op.alter_column("users", "phone", existing_type=sa.String(length=16), nullable=True)
    op.create_index(
        "ix_users_deleted_at_unerased",
        "users",
        ["deleted_at"],
        postgresql_where=sa.text("deleted_at IS NOT NULL AND erased_at IS NULL"),
    )
    op.create_table(
        "access_log",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("actor_type", sa.String(length=16), nullable=False),
        sa.Column("actor_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("document_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("member_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("doc_type", sa.String(length=16), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_log")),
    )
    op.create_index("ix_access_log_created_at_id", "access_log", ["created_at", "id"])
    op.create_index("ix_access_log_member_id_created_at", "access_log", ["member_id", "created_at"])
    op.create_index("ix_access_log_actor_id_created_at", "access_log", ["actor_id", "created_at"])


def downgrade() -> None:
    op.drop_table("access_log")
    op.drop_index("ix_users_deleted_at_unerased", table_name="users")
    # Erased members have no phone: a placeholder (they are soft-deleted, so the live-phone index ignores it).
    op.execute("UPDATE users SET phone = '+10000000000' WHERE phone IS NULL")
    op.alter_column("users", "phone", existing_type=sa.String(length=16), nullable=False)
    op.drop_column("users", "erased_at")
