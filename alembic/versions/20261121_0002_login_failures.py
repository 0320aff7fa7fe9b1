"""Failed logins, counted in PostgreSQL so that every API process shares the throttle.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 23:55:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    op.create_index("ix_login_failures_client_created_at", "login_failures", ["client", "created_at"])
    op.create_index("ix_login_failures_email_created_at", "login_failures", ["email", "created_at"])


def downgrade() -> None:
    op.drop_table("login_failures")
