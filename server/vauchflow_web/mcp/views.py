"""What an agent sees of the API's messages: plain JSON objects (integers as numbers, enums without their prefix,
times as RFC 3339), each with the JSON Schema the tools declare as their output, so the two are written side by
side and cannot drift apart."""

from __future__ import annotations

from typing import Any

from google.longrunning import operations_pb2
from google.protobuf import json_format, timestamp_pb2

from vauchflow.v1 import campaign_pb2, redemption_pb2, voucher_pb2, webhook_pb2

Json = dict[str, Any]

# Schema building blocks.
STRING: Json = {"type": "string"}
INTEGER: Json = {"type": "integer"}
BOOLEAN: Json = {"type": "boolean"}
OPTIONAL_STRING: Json = {"type": ["string", "null"]}
OPTIONAL_INTEGER: Json = {"type": ["integer", "null"]}
TIME: Json = {"type": ["string", "null"], "description": "RFC 3339 time, null when not set"}
STRING_MAP: Json = {"type": "object", "additionalProperties": {"type": "string"}}


def obj(properties: Json, required: tuple[str, ...] | None = None) -> Json:
    """An object schema; every property is required unless a narrower list is given (outputs always carry all)."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties if required is None else required),
    }


def _time(message: Any, field: str) -> str | None:
    if not message.HasField(field):
        return None
    stamp: timestamp_pb2.Timestamp = getattr(message, field)
    return str(stamp.ToJsonString())


def _optional(message: Any, field: str) -> Any:
    return getattr(message, field) if message.HasField(field) else None


def _enum_name(full_name: str, prefix: str) -> str:
    return full_name.removeprefix(prefix)


VOUCHER_SCHEMA = obj(
    {
        "code": STRING,
        "status": {"type": "string", "enum": ["ACTIVE", "DISABLED", "UNSPECIFIED"]},
        "percent_off": OPTIONAL_INTEGER,
        "amount_off": {**OPTIONAL_INTEGER, "description": "minor units of currency"},
        "currency": STRING,
        "max_redemptions": {**OPTIONAL_INTEGER, "description": "null: unlimited (or not visible to this key)"},
        "redemption_count": INTEGER,
        "per_customer_limit": OPTIONAL_INTEGER,
        "min_order_amount": OPTIONAL_INTEGER,
        "valid_from": TIME,
        "valid_until": TIME,
        "flash_sale": BOOLEAN,
        "metadata": STRING_MAP,
        "create_time": TIME,
        "update_time": TIME,
    }
)


def voucher_view(voucher: voucher_pb2.Voucher) -> Json:
    discount = voucher.discount
    kind = discount.WhichOneof("value")
    return {
        "code": voucher.code,
        "status": _enum_name(voucher_pb2.VoucherStatus.Name(voucher.status), "VOUCHER_STATUS_"),
        "percent_off": discount.percent_off if kind == "percent_off" else None,
        "amount_off": discount.amount_off if kind == "amount_off" else None,
        "currency": voucher.currency,
        "max_redemptions": _optional(voucher, "max_redemptions"),
        "redemption_count": voucher.redemption_count,
        "per_customer_limit": _optional(voucher, "per_customer_limit"),
        "min_order_amount": _optional(voucher, "min_order_amount"),
        "valid_from": _time(voucher, "valid_from"),
        "valid_until": _time(voucher, "valid_until"),
        "flash_sale": voucher.flash_sale,
        "metadata": dict(voucher.metadata),
        "create_time": _time(voucher, "create_time"),
        "update_time": _time(voucher, "update_time"),
    }


REDEMPTION_SCHEMA = obj(
    {
        "id": STRING,
        "voucher_code": STRING,
        "customer_id": STRING,
        "order": obj({"id": STRING, "amount": INTEGER, "currency": STRING}),
        "discount_amount": {**INTEGER, "description": "minor units of the order's currency"},
        "status": {"type": "string", "enum": ["SUCCEEDED", "ROLLED_BACK", "UNSPECIFIED"]},
        "metadata": STRING_MAP,
        "create_time": TIME,
        "rollback_time": TIME,
        "rollback_reason": STRING,
    }
)


def redemption_view(redemption: redemption_pb2.Redemption) -> Json:
    return {
        "id": redemption.id,
        "voucher_code": redemption.voucher_code,
        "customer_id": redemption.customer_id,
        "order": {
            "id": redemption.order.id,
            "amount": redemption.order.amount,
            "currency": redemption.order.currency,
        },
        "discount_amount": redemption.discount_amount,
        "status": _enum_name(redemption_pb2.RedemptionStatus.Name(redemption.status), "REDEMPTION_STATUS_"),
        "metadata": dict(redemption.metadata),
        "create_time": _time(redemption, "create_time"),
        "rollback_time": _time(redemption, "rollback_time"),
        "rollback_reason": redemption.rollback_reason,
    }


WEBHOOK_ENDPOINT_SCHEMA = obj(
    {
        "id": STRING,
        "url": STRING,
        "description": STRING,
        "event_types": {"type": "array", "items": STRING},
        "enabled": BOOLEAN,
        "disabled_reason": STRING,
        "create_time": TIME,
        "update_time": TIME,
    }
)


def webhook_endpoint_view(endpoint: webhook_pb2.WebhookEndpoint) -> Json:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": list(endpoint.event_types),
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "create_time": _time(endpoint, "create_time"),
        "update_time": _time(endpoint, "update_time"),
    }


DELIVERY_SCHEMA = obj(
    {
        "id": STRING,
        "endpoint_id": STRING,
        "event_id": STRING,
        "event_type": STRING,
        "status": {"type": "string", "enum": ["PENDING", "DELIVERED", "FAILED", "UNSPECIFIED"]},
        "attempt_count": INTEGER,
        "next_attempt_time": TIME,
        "create_time": TIME,
        "delivered_time": TIME,
        "attempts": {
            "type": "array",
            "items": obj(
                {
                    "attempt_number": INTEGER,
                    "attempt_time": TIME,
                    "http_status": INTEGER,
                    "latency_ms": INTEGER,
                    "error": STRING,
                }
            ),
        },
    }
)


def delivery_view(delivery: webhook_pb2.WebhookDelivery) -> Json:
    return {
        "id": delivery.id,
        "endpoint_id": delivery.endpoint_id,
        "event_id": delivery.event_id,
        "event_type": delivery.event_type,
        "status": _enum_name(webhook_pb2.WebhookDeliveryStatus.Name(delivery.status), "WEBHOOK_DELIVERY_STATUS_"),
        "attempt_count": delivery.attempt_count,
        "next_attempt_time": _time(delivery, "next_attempt_time"),
        "create_time": _time(delivery, "create_time"),
        "delivered_time": _time(delivery, "delivered_time"),
        # The receiver's response body is left out: it is the merchant's server talking, not data for an agent.
        "attempts": [
            {
                "attempt_number": attempt.attempt_number,
                "attempt_time": _time(attempt, "attempt_time"),
                "http_status": attempt.http_status,
                "latency_ms": attempt.latency_ms,
                "error": attempt.error,
            }
            for attempt in delivery.attempts
        ],
    }


EVENT_SCHEMA = obj({"id": STRING, "type": STRING, "create_time": TIME, "data": {"type": "object"}})


def event_view(event: webhook_pb2.Event) -> Json:
    return {
        "id": event.id,
        "type": event.type,
        "create_time": _time(event, "create_time"),
        "data": json_format.MessageToDict(event.data) if event.HasField("data") else {},
    }


CAMPAIGN_SCHEMA = obj(
    {
        "id": STRING,
        "name": STRING,
        "status": {"type": "string", "enum": ["ACTIVE", "PAUSED", "ENDED", "UNSPECIFIED"]},
        "percent_off": OPTIONAL_INTEGER,
        "amount_off": {**OPTIONAL_INTEGER, "description": "minor units of currency"},
        "currency": STRING,
        "code_redemption_limit": {**INTEGER, "description": "how often each code can be redeemed"},
        "max_redemptions": {**OPTIONAL_INTEGER, "description": "across all codes; null: unlimited"},
        "per_customer_limit": {**OPTIONAL_INTEGER, "description": "per customer across all codes; null: unlimited"},
        "min_order_amount": OPTIONAL_INTEGER,
        "valid_from": TIME,
        "valid_until": TIME,
        "code_count": INTEGER,
        "redemption_count": INTEGER,
        "metadata": STRING_MAP,
        "create_time": TIME,
    }
)


def campaign_view(campaign: campaign_pb2.Campaign) -> Json:
    discount = campaign.discount
    kind = discount.WhichOneof("value")
    return {
        "id": campaign.id,
        "name": campaign.name,
        "status": _enum_name(campaign_pb2.CampaignStatus.Name(campaign.status), "CAMPAIGN_STATUS_"),
        "percent_off": discount.percent_off if kind == "percent_off" else None,
        "amount_off": discount.amount_off if kind == "amount_off" else None,
        "currency": campaign.currency,
        "code_redemption_limit": campaign.code_redemption_limit,
        "max_redemptions": _optional(campaign, "max_redemptions"),
        "per_customer_limit": _optional(campaign, "per_customer_limit"),
        "min_order_amount": _optional(campaign, "min_order_amount"),
        "valid_from": _time(campaign, "valid_from"),
        "valid_until": _time(campaign, "valid_until"),
        "code_count": campaign.code_count,
        "redemption_count": campaign.redemption_count,
        "metadata": dict(campaign.metadata),
        "create_time": _time(campaign, "create_time"),
    }


OPERATION_SCHEMA = obj(
    {
        "name": {**STRING, "description": "operations/{id}: pass it to get_operation"},
        "done": BOOLEAN,
        "campaign_id": STRING,
        "requested_count": INTEGER,
        "generated_count": {**INTEGER, "description": "codes generated so far (the progress)"},
        "error": {
            "type": ["object", "null"],
            "description": "why it ended without its result (null while running or when it succeeded)",
        },
    }
)


def operation_view(operation: operations_pb2.Operation) -> Json:
    metadata = campaign_pb2.GenerateCampaignCodesMetadata()
    operation.metadata.Unpack(metadata)
    error = None
    if operation.HasField("error"):
        error = {"code": operation.error.code, "message": operation.error.message}
    return {
        "name": operation.name,
        "done": operation.done,
        "campaign_id": metadata.campaign_id,
        "requested_count": metadata.requested_count,
        "generated_count": metadata.generated_count,
        "error": error,
    }
