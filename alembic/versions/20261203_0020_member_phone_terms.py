"""Phone terms: every suffix of each live member's phone digits, so that a search by digits reads only its matches.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 01:00:00

The phone's counterpart of the name terms (0019): a search whose text reads as phone digits matches names or
phones, and the trigram index's posting lists of digit trigrams grow with the members as the names' did. The
digits alone are kept (a search's digits never hold the `+`); an erased member's phone is null, and has no terms.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DEFINITIONS = """
CREATE FUNCTION phone_terms(phone text) RETURNS text[] LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT name_terms(regexp_replace(phone, '[^0-9]', '', 'g'))
$$;

CREATE FUNCTION users_phone_terms() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.deleted_at IS NULL THEN
        DELETE FROM member_phone_terms
        WHERE term = ANY (phone_terms(OLD.phone)) AND created_at = OLD.created_at AND member_id = OLD.id;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.deleted_at IS NULL THEN
        INSERT INTO member_phone_terms (term, created_at, member_id)
        SELECT term, NEW.created_at, NEW.id FROM unnest(phone_terms(NEW.phone)) term;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION users_phone_terms_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE member_phone_terms;
    RETURN NULL;
END $$;

CREATE TRIGGER phone_terms_insert AFTER INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION users_phone_terms();

CREATE TRIGGER phone_terms_update AFTER UPDATE OF phone, created_at, deleted_at ON users
    FOR EACH ROW WHEN ((OLD.phone, OLD.created_at, OLD.deleted_at IS NULL)
                       IS DISTINCT FROM (NEW.phone, NEW.created_at, NEW.deleted_at IS NULL))
    EXECUTE FUNCTION users_phone_terms();

CREATE TRIGGER phone_terms_delete AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION users_phone_terms();

CREATE TRIGGER phone_terms_truncate AFTER TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION users_phone_terms_truncate()
"""
STATEMENTS = [block.strip() for block in _DEFINITIONS.split("\n\n") if block.strip()]


def upgrade() -> None:
    op.create_table(
        "member_phone_terms",
        sa.Column("term", sa.Text(collation="C"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("member_id", sa.UUID(), nullable=False),
    )
    # asyncpg runs one statement per call: the definitions are blocks separated by blank lines.
    for statement in STATEMENTS:
        op.execute(statement)
    # The key is built after the rows are in: one sorted build instead of an insert into the index per row.
    op.execute(
        "INSERT INTO member_phone_terms (term, created_at, member_id)"
        " SELECT term, u.created_at, u.id FROM users u, unnest(phone_terms(u.phone)) term WHERE u.deleted_at IS NULL"
    )
    op.create_primary_key("pk_member_phone_terms", "member_phone_terms", ["term", "created_at", "member_id"])
    op.execute("ANALYZE member_phone_terms")


def downgrade() -> None:
    for trigger in ("phone_terms_truncate", "phone_terms_delete", "phone_terms_update", "phone_terms_insert"):
        op.execute(f"DROP TRIGGER {trigger} ON users")
    op.drop_table("member_phone_terms")
    for function in ("users_phone_terms_truncate()", "users_phone_terms()", "phone_terms(text)"):
        op.execute(f"DROP FUNCTION {function}")
