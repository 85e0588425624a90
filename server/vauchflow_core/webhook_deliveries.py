"""Webhook deliveries: one event on its way to one endpoint, and the log of its attempts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

PENDING = "PENDING"
DELIVERED = "DELIVERED"
FAILED = "FAILED"

# ListDeliveries shows at most this many attempts per delivery, newest first.
MAX_LISTED_ATTEMPTS = 20


@dataclass(frozen=True)
class DeliveryAttempt:
    attempt_number: int
    attempt_time: datetime
    http_status: int | None
    latency_ms: int
    response_body: str
    error: str


@dataclass(frozen=True)
class Delivery:
    id: UUID
    endpoint_id: UUID
    event_id: UUID
    event_type: str
    status: str
    attempt_count: int
    next_attempt_time: datetime
    create_time: datetime
    delivered_time: datetime | None
    attempts: tuple[DeliveryAttempt, ...] = ()
