"""The process that claimed an Idempotency-Key, so that a retry can tell when that process died.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 23:00:00

A process killed between its commit and storing the answer leaves a committed key without one. A retry was told to
try again until the key was 30 s old; with the claiming process named on the key (boot, PID namespace, PID and start
time: backend/infrastructure/liveness.py), a retry served on the same machine learns at once that the answer is lost.
Keys claimed before this column existed have none, and keep the 30 s rule.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("idempotency_keys", sa.Column("claimed_by", sa.String(length=128), nullable=True))


def downgrade() -> None:
    op.drop_column("idempotency_keys", "claimed_by")
