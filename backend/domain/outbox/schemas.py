"""Outbox events as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from backend.domain.outbox.models import OutboxStatus
from backend.domain.schemas import BIGINT_MAX, INT_TEXT, MAX_FILTER_VALUES, Choice, ReadSchema, Schema

# The outbox id is a bigint: a larger number could only fail in the driver.
EventId = Annotated[int, Field(ge=1, le=BIGINT_MAX), INT_TEXT]


class OutboxEventRead(ReadSchema):
    id: int
    topic: str
    payload: dict[str, Any] = Field(description="The event body; its shape depends on the topic")
    status: OutboxStatus
    attempts: int = Field(description="Delivery attempts started since the event was enqueued or last retried")
    next_attempt_at: datetime = Field(description="When a pending event is next due (or its current lease ends)")
    last_error: str | None = Field(description="Why the most recent failed attempt failed")
    created_at: datetime
    delivered_at: datetime | None


class OutboxFilters(Schema):
    status: list[Choice[OutboxStatus]] | None = Field(
        default=None, max_length=MAX_FILTER_VALUES, description="pending, delivered or dead"
    )
    topic: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, max_length=MAX_FILTER_VALUES
    )
    id: list[EventId] | None = Field(default=None, max_length=MAX_FILTER_VALUES)


OUTBOX_SORT_FIELDS = frozenset({"created_at"})
OUTBOX_MULTI_VALUE = frozenset({"status", "topic", "id"})
