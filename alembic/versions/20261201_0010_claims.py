"""Claims: who is working on a pending member, photo or document, and until when.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 22:00:00

`claimed_by` is the id of the operator or API key that took the item from its queue (no foreign key: it may be
either); `claimed_until` ends the claim. Both null: nobody holds it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("users", "user_photos", "user_documents")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("claimed_by", postgresql.UUID(as_uuid=True), nullable=True))
        op.add_column(table, sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        op.drop_column(table, "claimed_until")
        op.drop_column(table, "claimed_by")
