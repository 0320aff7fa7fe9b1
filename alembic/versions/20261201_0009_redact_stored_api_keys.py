"""Answers kept for Idempotency-Key retries before secrets were withheld lose the API keys they carried.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 12:00:00

Until now the answer of `POST /api/v1/admin/api-keys` was kept whole for IDEMPOTENCY_KEY_HOURS, the new key in
clear. Each such answer is rewritten as the server now keeps it: `key` null and a `secret_withheld` note, so a retry
still gets the record (and writes nothing) but never the key. Nothing is undone on downgrade: the keys are gone.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOTE = (
    "This is a replay of the answer to an earlier request with this Idempotency-Key. Its key was shown once, in that"
    " answer, and is not stored anywhere: it cannot be shown again. If it was lost, replace it (revoke the API key"
    " and create another; log in again for a token)."
)


def upgrade() -> None:
    op.execute(
        sa.text(
            """
            UPDATE idempotency_keys
               SET response_body = convert_to(
                       (convert_from(response_body, 'UTF8')::jsonb
                          || jsonb_build_object('key', NULL, 'secret_withheld', CAST(:note AS text)))::text,
                       'UTF8')
             WHERE path = '/api/v1/admin/api-keys'
               AND response_body IS NOT NULL
               AND response_status = 201
               AND jsonb_typeof(convert_from(response_body, 'UTF8')::jsonb -> 'key') = 'string'
            """
        ).bindparams(note=NOTE)
    )


def downgrade() -> None:
    pass
