"""A counter per operator that ends its earlier access tokens when its password, role or active flag changes.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 09:00:00

Access tokens carry the operator's `token_version` as it was when they were issued; the identity lookup refuses a
token whose version is no longer the operator's. Existing operators start at 0.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("admin_users", sa.Column("token_version", sa.Integer(), server_default=sa.text("0"), nullable=False))


def downgrade() -> None:
    op.drop_column("admin_users", "token_version")
