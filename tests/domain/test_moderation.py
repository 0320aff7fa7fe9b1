"""What every moderation decision checks: who may decide an item someone took from its queue, and why it is decided."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from backend.api.state import app_state
from backend.domain.admin.schemas import OperatorRead
from backend.domain.claims import service as claims
from backend.domain.errors import PermissionDenied
from backend.domain.identity import Actor, ActorKind, Role
from backend.domain.reasons import LABELS, ReasonCode, Reasoned, needs_reason


@dataclass
class Item:
    claimed_by: uuid.UUID | None = None
    claimed_until: datetime | None = None


def operator(operators: dict[Role, OperatorRead], role: Role) -> Actor:
    record = operators[role]
    return Actor(ActorKind.operator, record.id, role, record.name)


def in_minutes(minutes: int) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


async def test_an_unclaimed_a_lapsed_or_ones_own_item_may_be_decided(
    app: FastAPI, operators: dict[Role, OperatorRead]
) -> None:
    moderator = operator(operators, Role.moderator)
    other = uuid.uuid4()
    async with app_state(app).database.primary_reads.sessions() as session:
        assert await claims.check(session, Item(), moderator) is False
        assert await claims.check(session, Item(other, in_minutes(-1)), moderator) is False
        assert await claims.check(session, Item(moderator.id, in_minutes(5)), moderator) is False
    assert not claims.holds(Item(other, in_minutes(-1)))
    assert claims.holds(Item(other, in_minutes(5)))


async def test_someone_elses_claim_is_a_conflict_naming_the_holder(
    app: FastAPI, operators: dict[Role, OperatorRead]
) -> None:
    holder, moderator = operator(operators, Role.admin), operator(operators, Role.moderator)
    item = Item(holder.id, in_minutes(5))
    async with app_state(app).database.primary_reads.sessions() as session:
        with pytest.raises(claims.ClaimedByOther) as raised:
            await claims.check(session, item, moderator)
        assert raised.value.status == 409
        assert raised.value.extra["claimed_by"] == str(holder.id)
        assert raised.value.extra["claimed_by_name"] == holder.name
        assert holder.name in raised.value.detail
        with pytest.raises(claims.ClaimedByOther, match="no longer known"):
            await claims.check(session, Item(uuid.uuid4(), in_minutes(5)), moderator)


async def test_only_an_admin_may_force_past_a_claim(app: FastAPI, operators: dict[Role, OperatorRead]) -> None:
    moderator, admin = operator(operators, Role.moderator), operator(operators, Role.admin)
    item = Item(uuid.uuid4(), in_minutes(5))
    async with app_state(app).database.primary_reads.sessions() as session:
        with pytest.raises(PermissionDenied):
            await claims.check(session, item, moderator, force=True)
        assert await claims.check(session, item, admin, force=True) is True
    claims.release(item)
    assert item == Item()


def test_every_reason_code_has_a_label_and_other_needs_a_reason() -> None:
    assert set(LABELS) == set(ReasonCode)
    assert [code for code in ReasonCode if needs_reason(code)] == [ReasonCode.other]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"reason_code": "nope"}, "reason_code", "Unknown reason code 'nope'"),
        ({"reason_code": "other"}, "reason", "required when reason_code is other"),
        ({"reason_code": "other", "reason": " \t"}, "reason", "blank"),
        ({"reason_code": "spam", "reason": "x" * 2001}, "reason", "at most 2000"),
    ],
)
def test_a_decision_names_a_known_code_and_explains_other(body: dict[str, str], field: str, message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Reasoned.model_validate(body)
    [error] = raised.value.errors()
    assert error["loc"] == (field,)
    assert message in error["msg"]


def test_a_known_code_needs_no_text_and_the_schema_says_when_it_does() -> None:
    assert Reasoned.model_validate({"reason_code": "spam"}).reason is None
    assert Reasoned.model_validate({"reason_code": "other", "reason": "seen twice"}).reason == "seen twice"
    schema = Reasoned.model_json_schema()
    assert schema["if"]["properties"]["reason_code"] == {"const": "other"}
    assert schema["then"] == {"required": ["reason"], "properties": {"reason": {"type": "string"}}}
