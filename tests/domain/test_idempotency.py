"""What an Idempotency-Key record may keep of an answer: never a field declared shown once."""

from __future__ import annotations

import orjson
from pydantic import Field

from backend.domain.admin.schemas import ApiKeyCreated, ApiKeyRead
from backend.domain.auth.schemas import TokenRead
from backend.domain.idempotency.service import WITHHELD, without_secrets
from backend.domain.schemas import ReadSchema, shown_once, shown_once_fields


class Credentials(ReadSchema):
    id: int
    secret: str | None = shown_once("A secret")
    also: str | None = Field(default=None, alias="alsoSecret", json_schema_extra={"x-shown-once": True})
    public: str


def test_fields_declared_shown_once_are_found_by_their_json_names() -> None:
    assert shown_once_fields(Credentials) == ("secret", "alsoSecret")
    assert shown_once_fields(list[Credentials]) == ("secret", "alsoSecret")
    assert shown_once_fields(ApiKeyCreated) == ("key",)
    assert shown_once_fields(TokenRead) == ("access_token",)
    assert shown_once_fields(ApiKeyRead) == ()
    assert shown_once_fields(None) == ()
    assert shown_once_fields(dict[str, str]) == ()


def test_secrets_are_nulled_and_the_replay_says_why() -> None:
    body = orjson.dumps({"id": 1, "secret": "s3cr3t", "alsoSecret": "t0ken", "public": "p"})
    kept = orjson.loads(without_secrets(body, ("secret", "alsoSecret")))
    assert kept["secret"] is None
    assert kept["alsoSecret"] is None
    assert kept["public"] == "p"
    assert "secret, alsoSecret was shown once" in kept[WITHHELD]


def test_an_answer_without_the_secret_is_kept_as_it_is() -> None:
    problem = orjson.dumps({"type": "about:blank", "title": "Conflict", "status": 409})
    assert without_secrets(problem, ("secret",)) == problem


def test_an_answer_that_cannot_be_redacted_keeps_only_the_note() -> None:
    for body in (b"not json with s3cr3t", orjson.dumps(["s3cr3t"])):
        kept = without_secrets(body, ("secret",))
        assert b"s3cr3t" not in kept
        assert WITHHELD in orjson.loads(kept)
