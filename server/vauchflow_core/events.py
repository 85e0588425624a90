"""Outbox events: their types and payloads. Written in the same transaction as the change they report."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from vauchflow_core.event_cursor import EventPosition

VOUCHER_CREATED = "voucher.created"
VOUCHER_UPDATED = "voucher.updated"
VOUCHER_DISABLED = "voucher.disabled"
VOUCHER_EXHAUSTED = "voucher.exhausted"
REDEMPTION_SUCCEEDED = "redemption.succeeded"
REDEMPTION_ROLLED_BACK = "redemption.rolled_back"
WEBHOOK_ENDPOINT_DISABLED = "webhook_endpoint.disabled"
WEBHOOK_TEST = "webhook.test"
CAMPAIGN_CREATED = "campaign.created"
CAMPAIGN_UPDATED = "campaign.updated"
# One event when a generation operation ends, however many codes it generated (never one per code).
CAMPAIGN_CODES_GENERATED = "campaign.codes_generated"

# Every type a webhook endpoint may subscribe to (DESIGN.md, Webhooks).
EVENT_TYPES: tuple[str, ...] = (
    VOUCHER_CREATED,
    VOUCHER_UPDATED,
    VOUCHER_DISABLED,
    VOUCHER_EXHAUSTED,
    REDEMPTION_SUCCEEDED,
    REDEMPTION_ROLLED_BACK,
    WEBHOOK_ENDPOINT_DISABLED,
    WEBHOOK_TEST,
    CAMPAIGN_CREATED,
    CAMPAIGN_UPDATED,
    CAMPAIGN_CODES_GENERATED,
)


@dataclass(frozen=True)
class Event:
    id: uuid.UUID
    type: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class StoredEvent:
    """An event as the outbox holds it: with its time and its position in the tenant's stream."""

    id: uuid.UUID
    type: str
    payload: dict[str, Any]
    create_time: datetime
    position: EventPosition

    @property
    def public_id(self) -> str:
        return public_event_id(self.id)


EVENT_ID_PREFIX = "evt_"


def public_event_id(event_id: uuid.UUID) -> str:
    """ "evt_" + 32 hex digits: the Event.id clients see and every delivery's webhook-id."""
    return f"{EVENT_ID_PREFIX}{event_id.hex}"


def parse_public_event_id(public_id: str) -> uuid.UUID | None:
    if not public_id.startswith(EVENT_ID_PREFIX):
        return None
    hex_part = public_id[len(EVENT_ID_PREFIX) :]
    if len(hex_part) != 32 or any(c not in "0123456789abcdef" for c in hex_part):
        return None
    return uuid.UUID(hex=hex_part)


def new_event(event_type: str, data: dict[str, Any]) -> Event:
    event_id = uuid.uuid4()
    payload = {
        "id": public_event_id(event_id),
        "type": event_type,
        "timestamp": datetime.now(UTC).isoformat(),
        "data": data,
    }
    return Event(event_id, event_type, payload)


def webhook_test_event(endpoint_id: UUID) -> Event:
    return new_event(WEBHOOK_TEST, {"endpoint_id": str(endpoint_id), "message": "a test event from Vauchflow"})


def webhook_endpoint_disabled_event(endpoint_id: UUID, url: str, disabled_reason: str) -> Event:
    """Tells the tenant Vauchflow disabled its endpoint (it answered 410, or failed for too long)."""
    return new_event(
        WEBHOOK_ENDPOINT_DISABLED,
        {"id": str(endpoint_id), "url": url, "enabled": False, "disabled_reason": disabled_reason},
    )
