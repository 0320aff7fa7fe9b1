"""Initial schema: members and their relations, operators, API keys, audit log, outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-21 23:23:42.355845

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    # Trigram indexes serve the name/phone substring search; pg_trgm is a trusted extension.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "admin_users",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("role IN ('viewer', 'moderator', 'admin')", name=op.f("ck_admin_users_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_users")),
    )
    op.create_index("uq_admin_users_email", "admin_users", [sa.literal_column("lower(email)")], unique=True)
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("actor_type", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.UUID(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("entity_type", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column(
            "changes", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_action_created_at", "audit_log", ["action", "created_at"], unique=False)
    op.create_index("ix_audit_log_actor", "audit_log", ["actor_type", "actor_id", "created_at"], unique=False)
    op.create_index("ix_audit_log_created_at", "audit_log", ["created_at"], unique=False)
    op.create_index("ix_audit_log_entity", "audit_log", ["entity_type", "entity_id", "created_at"], unique=False)
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'delivered', 'dead')", name=op.f("ck_outbox_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_index(
        "ix_outbox_due", "outbox", ["next_attempt_at"], unique=False, postgresql_where=sa.text("status = 'pending'")
    )
    op.create_index("ix_outbox_status_created_at", "outbox", ["status", "created_at"], unique=False)
    op.create_table(
        "users",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("gender", sa.String(length=8), nullable=False),
        sa.Column("birth_year", sa.SmallInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.CheckConstraint("gender IN ('male', 'female')", name=op.f("ck_users_gender")),
        sa.CheckConstraint("phone ~ '^\\+[1-9][0-9]{6,14}$'", name=op.f("ck_users_phone_e164")),
        sa.CheckConstraint("status IN ('pending', 'active', 'rejected', 'suspended')", name=op.f("ck_users_status")),
        sa.CheckConstraint("birth_year BETWEEN 1900 AND 2100", name=op.f("ck_users_birth_year")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_users_version")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    op.create_index("ix_users_birth_year", "users", ["birth_year"], unique=False)
    op.create_index("ix_users_created_at_id", "users", ["created_at", "id"], unique=False)
    op.create_index("ix_users_gender_created_at_id", "users", ["gender", "created_at", "id"], unique=False)
    op.create_index("ix_users_name_id", "users", ["name", "id"], unique=False)
    op.create_index(
        "ix_users_name_trgm",
        "users",
        ["name"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_users_phone_trgm",
        "users",
        ["phone"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"phone": "gin_trgm_ops"},
    )
    op.create_index("ix_users_status_created_at_id", "users", ["status", "created_at", "id"], unique=False)
    op.create_index(
        "ix_users_status_gender_created_at_id", "users", ["status", "gender", "created_at", "id"], unique=False
    )
    op.create_index(
        "uq_users_phone_live", "users", ["phone"], unique=True, postgresql_where=sa.text("deleted_at IS NULL")
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('viewer', 'moderator', 'admin')", name=op.f("ck_api_keys_role")),
        sa.ForeignKeyConstraint(
            ["created_by"], ["admin_users.id"], name=op.f("fk_api_keys_created_by_admin_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
    )
    op.create_index("uq_api_keys_prefix", "api_keys", ["prefix"], unique=True)
    op.create_table(
        "member_notes",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("author_id", sa.UUID(), nullable=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["admin_users.id"], name=op.f("fk_member_notes_author_id_admin_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_member_notes_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_notes")),
    )
    op.create_index("ix_member_notes_user_id_created_at", "member_notes", ["user_id", "created_at"], unique=False)
    op.create_table(
        "user_documents",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("doc_type", sa.String(length=16), nullable=False),
        sa.Column("s3_key", sa.String(length=512), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "doc_type IN ('identity', 'employment', 'education', 'income')", name=op.f("ck_user_documents_doc_type")
        ),
        sa.CheckConstraint("status IN ('pending', 'verified', 'rejected')", name=op.f("ck_user_documents_status")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_documents_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_documents")),
    )
    op.create_index(
        "ix_user_documents_status",
        "user_documents",
        ["status"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL AND status = 'pending'"),
    )
    op.create_index(
        "ix_user_documents_user_id",
        "user_documents",
        ["user_id"],
        unique=False,
    )
    op.create_table(
        "user_lifestyles",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("smoking", sa.String(length=32), nullable=True),
        sa.Column("drinking", sa.String(length=32), nullable=True),
        sa.Column("religion", sa.String(length=32), nullable=True),
        sa.Column("exercise", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["id"], ["users.id"], name=op.f("fk_user_lifestyles_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_lifestyles")),
    )
    op.create_table(
        "user_photos",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("s3_key", sa.String(length=512), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=True),
        sa.Column("display_order", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("status", sa.String(length=16), server_default="uploading", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('uploading', 'pending', 'approved', 'rejected')", name=op.f("ck_user_photos_status")
        ),
        sa.CheckConstraint("display_order >= 0", name=op.f("ck_user_photos_display_order")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_photos_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_photos")),
    )
    op.create_index(
        "ix_user_photos_status",
        "user_photos",
        ["status"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL AND status = 'pending'"),
    )
    op.create_index(
        "ix_user_photos_user_id_display_order",
        "user_photos",
        ["user_id", "display_order"],
        unique=False,
    )
    op.create_table(
        "user_preferences",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("age_min", sa.SmallInteger(), nullable=True),
        sa.Column("age_max", sa.SmallInteger(), nullable=True),
        sa.Column("height_min_cm", sa.SmallInteger(), nullable=True),
        sa.Column("height_max_cm", sa.SmallInteger(), nullable=True),
        sa.Column("regions", sa.ARRAY(sa.String(length=100)), server_default="{}", nullable=False),
        sa.CheckConstraint(
            "age_min IS NULL OR age_max IS NULL OR age_min <= age_max", name=op.f("ck_user_preferences_age_range")
        ),
        sa.CheckConstraint(
            "height_min_cm IS NULL OR height_max_cm IS NULL OR height_min_cm <= height_max_cm",
            name=op.f("ck_user_preferences_height_range"),
        ),
        sa.ForeignKeyConstraint(["id"], ["users.id"], name=op.f("fk_user_preferences_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_preferences")),
    )
    op.create_table(
        "user_profiles",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("height_cm", sa.SmallInteger(), nullable=True),
        sa.Column("education", sa.String(length=100), nullable=True),
        sa.Column("job", sa.String(length=100), nullable=True),
        sa.Column("region", sa.String(length=100), nullable=True),
        sa.Column("bio", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "height_cm IS NULL OR height_cm BETWEEN 100 AND 250", name=op.f("ck_user_profiles_height_cm")
        ),
        sa.ForeignKeyConstraint(["id"], ["users.id"], name=op.f("fk_user_profiles_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_profiles")),
    )
    op.create_table(
        "user_subscriptions",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("plan", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("plan IN ('free', 'plus', 'premium')", name=op.f("ck_user_subscriptions_plan")),
        sa.CheckConstraint("status IN ('active', 'cancelled', 'expired')", name=op.f("ck_user_subscriptions_status")),
        sa.ForeignKeyConstraint(["id"], ["users.id"], name=op.f("fk_user_subscriptions_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_subscriptions")),
    )
    op.create_index("ix_user_subscriptions_plan_status", "user_subscriptions", ["plan", "status"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("user_subscriptions")
    op.drop_table("user_profiles")
    op.drop_table("user_preferences")
    op.drop_table("user_photos")
    op.drop_table("user_lifestyles")
    op.drop_table("user_documents")
    op.drop_table("member_notes")
    op.drop_table("api_keys")
    op.drop_table("users")
    op.drop_table("outbox")
    op.drop_table("audit_log")
    op.drop_table("admin_users")
    op.execute("DROP EXTENSION IF EXISTS pg_trgm")
