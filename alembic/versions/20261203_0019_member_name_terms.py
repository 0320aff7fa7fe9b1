"""Name terms: every suffix of each live member's lower-cased name, so that a name search reads only its matches.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 00:40:00

A name contains a search text exactly when the text begins one of the name's suffixes, so a btree over the suffixes
(with the sign-up time and the id, the list's order) finds the matches of `ILIKE '%text%'` by a range of the index,
in an index-only scan that can stop at the list's count cap. The trigram index reads the posting lists of the
text's trigrams whole before any row, and they grow with the members (docs/decisions.md, "Name terms").

Suffixes shorter than 3 characters are left out (a shorter search walks the list as before). Only live members have
terms: a member's rows go on a soft delete and come back on a restore. Triggers keep them in the writing
transaction; `memberdesk seed` turns the insert trigger off and adds its members' terms in one statement.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DEFINITIONS = """
CREATE FUNCTION name_terms(name text) RETURNS text[] LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT array(SELECT substr(lower(name), i) FROM generate_series(1, length(lower(name)) - 2) i)
$$;

CREATE FUNCTION users_name_terms() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.deleted_at IS NULL THEN
        DELETE FROM member_name_terms
        WHERE term = ANY (name_terms(OLD.name)) AND created_at = OLD.created_at AND member_id = OLD.id;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.deleted_at IS NULL THEN
        INSERT INTO member_name_terms (term, created_at, member_id)
        SELECT term, NEW.created_at, NEW.id FROM unnest(name_terms(NEW.name)) term;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION users_name_terms_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE member_name_terms;
    RETURN NULL;
END $$;

CREATE TRIGGER name_terms_insert AFTER INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION users_name_terms();

CREATE TRIGGER name_terms_update AFTER UPDATE OF name, created_at, deleted_at ON users
    FOR EACH ROW WHEN ((OLD.name, OLD.created_at, OLD.deleted_at IS NULL)
                       IS DISTINCT FROM (NEW.name, NEW.created_at, NEW.deleted_at IS NULL))
    EXECUTE FUNCTION users_name_terms();

CREATE TRIGGER name_terms_delete AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION users_name_terms();

CREATE TRIGGER name_terms_truncate AFTER TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION users_name_terms_truncate()
"""
STATEMENTS = [block.strip() for block in _DEFINITIONS.split("\n\n") if block.strip()]


def upgrade() -> None:
    op.create_table(
        "member_name_terms",
        sa.Column("term", sa.Text(collation="C"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("member_id", sa.UUID(), nullable=False),
        sa.PrimaryKeyConstraint("term", "created_at", "member_id", name="pk_member_name_terms"),
    )
    # asyncpg runs one statement per call: the definitions are blocks separated by blank lines.
    for statement in STATEMENTS:
        op.execute(statement)
    op.execute(
        "INSERT INTO member_name_terms (term, created_at, member_id)"
        " SELECT term, u.created_at, u.id FROM users u, unnest(name_terms(u.name)) term WHERE u.deleted_at IS NULL"
    )
    op.execute("ANALYZE member_name_terms")


def downgrade() -> None:
    for trigger in ("name_terms_truncate", "name_terms_delete", "name_terms_update", "name_terms_insert"):
        op.execute(f"DROP TRIGGER {trigger} ON users")
    op.drop_table("member_name_terms")
    for function in ("users_name_terms_truncate()", "users_name_terms()", "name_terms(text)"):
        op.execute(f"DROP FUNCTION {function}")
