"""Member totals spread over 16 slots, so that decisions at once do not take turns on one counter row.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 07:00:00

Every approval of a pending member took -1 from the (pending, gender, plan) row of member_totals and added 1 to
the (active, ...) one, and held both rows locked until its commit, which waits for the disk: decisions at once,
a bulk's sessions above all, queued on those two rows. member_totals_add now writes to the row of the writing
backend's slot (`pg_backend_pid() % 16`), as moderation_counts and queue_counts spread theirs; every reader
already sums the rows of a bucket. One transaction runs on one backend, so all its totals rows share a slot and
the lock order of migration 0006 (day rows, then totals rows, each kind in key order) still holds.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SLOTS = 16

_TOTALS_ADD = """
CREATE OR REPLACE FUNCTION member_totals_add(p_status text, p_gender text, p_plan text, p_deleted boolean,
                                             p_delta integer) RETURNS void LANGUAGE sql AS $$
    INSERT INTO member_totals AS t (status, gender, plan, deleted, slot, n)
    VALUES (p_status, p_gender, coalesce(p_plan, ''), p_deleted, pg_backend_pid() % {slots}, p_delta)
    ON CONFLICT (status, gender, plan, deleted, slot) DO UPDATE SET n = t.n + EXCLUDED.n
$$
"""

_REBUILD = """
CREATE OR REPLACE FUNCTION member_counts_rebuild() RETURNS void LANGUAGE sql AS $$
    DELETE FROM member_counts;
    INSERT INTO member_counts (day, status, gender, plan, deleted, n)
    SELECT (u.created_at AT TIME ZONE 'UTC')::date, u.status, u.gender, coalesce(s.plan, ''),
           u.deleted_at IS NOT NULL, count(*)
    FROM users u LEFT JOIN user_subscriptions s ON s.id = u.id AND s.status = 'active'
    GROUP BY 1, 2, 3, 4, 5;
    DELETE FROM member_totals;
    INSERT INTO member_totals (status, gender, plan, deleted{slot_column}, n)
    SELECT status, gender, plan, deleted{slot_value}, sum(n) FROM member_counts GROUP BY 1, 2, 3, 4;
$$
"""

_PREVIOUS_TOTALS_ADD = """
CREATE OR REPLACE FUNCTION member_totals_add(p_status text, p_gender text, p_plan text, p_deleted boolean,
                                             p_delta integer) RETURNS void LANGUAGE sql AS $$
    INSERT INTO member_totals AS t (status, gender, plan, deleted, n)
    VALUES (p_status, p_gender, coalesce(p_plan, ''), p_deleted, p_delta)
    ON CONFLICT (status, gender, plan, deleted) DO UPDATE SET n = t.n + EXCLUDED.n
$$
"""


def upgrade() -> None:
    # Writers wait on member_totals until this commits, then add to the slotted rows.
    op.execute("LOCK TABLE member_totals IN ACCESS EXCLUSIVE MODE")
    op.add_column("member_totals", sa.Column("slot", sa.SmallInteger(), nullable=False, server_default="0"))
    op.alter_column("member_totals", "slot", server_default=None)
    op.drop_constraint("pk_member_totals", "member_totals", type_="primary")
    op.create_primary_key("pk_member_totals", "member_totals", ["status", "gender", "plan", "deleted", "slot"])
    op.execute(_TOTALS_ADD.format(slots=SLOTS))
    op.execute(_REBUILD.format(slot_column=", slot", slot_value=", 0"))


def downgrade() -> None:
    op.execute("LOCK TABLE member_totals IN ACCESS EXCLUSIVE MODE")
    # Each bucket's slots summed into slot 0, then the slot dropped.
    op.execute(
        "WITH summed AS (DELETE FROM member_totals RETURNING status, gender, plan, deleted, n)"
        " INSERT INTO member_totals (status, gender, plan, deleted, slot, n)"
        " SELECT status, gender, plan, deleted, 0, sum(n) FROM summed GROUP BY 1, 2, 3, 4"
    )
    op.drop_constraint("pk_member_totals", "member_totals", type_="primary")
    op.drop_column("member_totals", "slot")
    op.create_primary_key("pk_member_totals", "member_totals", ["status", "gender", "plan", "deleted"])
    op.execute(_PREVIOUS_TOTALS_ADD)
    op.execute(_REBUILD.format(slot_column="", slot_value=""))
