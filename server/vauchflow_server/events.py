"""Outbox events: their types and payloads. Written in the same transaction as the change they report."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from vauchflow_server.redemptions import Redemption
from vauchflow_server.vouchers import Voucher

VOUCHER_CREATED = "voucher.created"
VOUCHER_UPDATED = "voucher.updated"
VOUCHER_DISABLED = "voucher.disabled"
VOUCHER_EXHAUSTED = "voucher.exhausted"
REDEMPTION_SUCCEEDED = "redemption.succeeded"
REDEMPTION_ROLLED_BACK = "redemption.rolled_back"


@dataclass(frozen=True)
class Event:
    id: uuid.UUID
    type: str
    payload: dict[str, Any]


def _event(event_type: str, data: dict[str, Any]) -> Event:
    event_id = uuid.uuid4()
    payload = {
        "id": f"evt_{event_id.hex}",
        "type": event_type,
        "timestamp": datetime.now(timezone.utc).isoformat(),
        "data": data,
    }
    return Event(event_id, event_type, payload)


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def voucher_data(voucher: Voucher) -> dict[str, Any]:
    terms = voucher.terms
    return {
        "id": str(voucher.id),
        "code": voucher.code,
        "percent_off": terms.percent_off,
        "amount_off": terms.amount_off,
        "currency": terms.currency,
        "max_redemptions": terms.max_redemptions,
        "per_customer_limit": terms.per_customer_limit,
        "valid_from": _time(terms.valid_from),
        "valid_until": _time(terms.valid_until),
        "min_order_amount": terms.min_order_amount,
        "metadata": terms.metadata,
        "status": terms.status,
        "redemption_count": voucher.redemption_count,
    }


def redemption_data(redemption: Redemption) -> dict[str, Any]:
    return {
        "id": str(redemption.id),
        "voucher_id": str(redemption.voucher_id),
        "voucher_code": redemption.voucher_code,
        "customer_id": redemption.customer_id,
        "order": {
            "id": redemption.order.id,
            "amount": redemption.order.amount,
            "currency": redemption.order.currency,
        },
        "discount_amount": redemption.discount_amount,
        "status": redemption.status,
        "metadata": redemption.metadata,
        "rollback_reason": redemption.rollback_reason,
    }


def voucher_event(event_type: str, voucher: Voucher) -> Event:
    return _event(event_type, voucher_data(voucher))


def redemption_event(event_type: str, redemption: Redemption) -> Event:
    return _event(event_type, redemption_data(redemption))
