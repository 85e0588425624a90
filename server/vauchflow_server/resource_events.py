"""The events that report a voucher's or a redemption's change, with the payloads webhooks and the stream carry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from vauchflow_core.events import CAMPAIGN_CODES_GENERATED, Event, new_event
from vauchflow_server.campaigns import Campaign
from vauchflow_server.operations import Operation
from vauchflow_server.redemptions import Redemption
from vauchflow_server.vouchers import Voucher


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
        "flash_sale": terms.flash_sale,
        "redemption_count": voucher.redemption_count,
        "campaign_id": str(voucher.campaign_id) if voucher.campaign_id else None,
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
    return new_event(event_type, voucher_data(voucher))


def redemption_event(event_type: str, redemption: Redemption) -> Event:
    return new_event(event_type, redemption_data(redemption))


def campaign_data(campaign: Campaign) -> dict[str, Any]:
    terms = campaign.terms
    return {
        "id": str(campaign.id),
        "name": terms.name,
        "percent_off": terms.percent_off,
        "amount_off": terms.amount_off,
        "currency": terms.currency,
        "valid_from": _time(terms.valid_from),
        "valid_until": _time(terms.valid_until),
        "min_order_amount": terms.min_order_amount,
        "code_redemption_limit": terms.code_redemption_limit,
        "max_redemptions": terms.max_redemptions,
        "per_customer_limit": terms.per_customer_limit,
        "metadata": terms.metadata,
        "status": terms.status,
    }


def campaign_event(event_type: str, campaign: Campaign) -> Event:
    return new_event(event_type, campaign_data(campaign))


def codes_generated_event(operation: Operation) -> Event:
    return new_event(
        CAMPAIGN_CODES_GENERATED,
        {
            "campaign_id": str(operation.campaign_id),
            "operation": operation.name,
            "state": operation.state,
            "requested_count": operation.requested_count,
            "generated_count": operation.generated_count,
        },
    )
