"""An index of the photo uploads still under way, for housekeeping to find the abandoned ones.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 04:20:00

Housekeeping looks for photos still `uploading` long after their upload form expired. They are few (an upload is
completed within minutes), so a partial index holds only them and the search reads a handful of index entries
instead of every photo.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_user_photos_uploading_created_at",
        "user_photos",
        ["created_at"],
        postgresql_where=sa.text("deleted_at IS NULL AND status = 'uploading'"),
    )


def downgrade() -> None:
    op.drop_index("ix_user_photos_uploading_created_at", table_name="user_photos")
