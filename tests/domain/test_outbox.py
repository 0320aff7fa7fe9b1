"""The outbox's delivery rules: what an event asks for, when a failure is retried and when it is dead."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from backend.domain.outbox.repository import ClaimedEvent
from backend.domain.outbox.service import (
    Notification,
    ObjectDeletion,
    Outcome,
    PermanentFailure,
    backoff_seconds,
    delivery_of,
)

CREATED = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def event(payload: dict[str, object], *, attempts: int = 1, topic: str = "member.approved") -> ClaimedEvent:
    return ClaimedEvent(id=7, topic=topic, payload=payload, attempts=attempts, created_at=CREATED)


class TestDeliveryOf:
    def test_a_delete_object_payload_deletes_its_key(self) -> None:
        target = delivery_of(event({"action": "delete_object", "s3_key": "members/m/photos/p.jpg", "photo_id": "p"}))
        assert target == ObjectDeletion("members/m/photos/p.jpg")

    @pytest.mark.parametrize("key", [None, "", 3])
    def test_a_delete_object_payload_without_a_key_can_never_succeed(self, key: object) -> None:
        with pytest.raises(PermanentFailure, match="s3_key"):
            delivery_of(event({"action": "delete_object", "s3_key": key}))

    def test_any_other_payload_is_a_notification_under_the_event_id(self) -> None:
        target = delivery_of(event({"member_id": "m-1"}))
        assert isinstance(target, Notification)
        assert (target.topic, target.delivery_id) == ("member.approved", "7")
        assert orjson.loads(target.body) == {
            "id": 7,
            "topic": "member.approved",
            "created_at": CREATED.isoformat(),
            "data": {"member_id": "m-1"},
        }


class TestRetries:
    def test_backoff_doubles_is_capped_and_only_jitters_upwards(self) -> None:
        for attempts, nominal in [(1, 2.0), (2, 4.0), (5, 32.0), (60, 3600.0)]:
            wait = backoff_seconds(2.0, attempts)
            assert nominal <= wait <= nominal * 1.25

    def test_a_failure_is_dead_on_the_last_attempt_or_when_permanent(self) -> None:
        assert not Outcome(event({}, attempts=2), "HTTP 503").is_dead(3)
        assert Outcome(event({}, attempts=3), "HTTP 503").is_dead(3)
        assert Outcome(event({}, attempts=1), "malformed", permanent=True).is_dead(3)
        assert not Outcome(event({}, attempts=3)).is_dead(3)  # delivered
