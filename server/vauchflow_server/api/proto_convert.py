"""Conversions between protobuf messages and domain objects. No rules live here, only shapes."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from google.longrunning import operations_pb2
from google.protobuf import struct_pb2, timestamp_pb2
from google.rpc import error_details_pb2, status_pb2

from vauchflow.v1 import (
    api_key_pb2,
    api_key_service_pb2,
    campaign_pb2,
    campaign_service_pb2,
    redemption_pb2,
    redemption_service_pb2,
    tenant_pb2,
    voucher_pb2,
    voucher_service_pb2,
    webhook_pb2,
)
from vauchflow_core import event_cursor
from vauchflow_core.errors import Violations
from vauchflow_core.events import StoredEvent, public_event_id
from vauchflow_core.permissions import VOUCHERS_READ
from vauchflow_core.plans import LimitOverrides, PlanLimits
from vauchflow_core.rpc.error_mapping import ERROR_DOMAIN
from vauchflow_core.tenancy import ApiKey, ApiKeyAuditEvent, Tenant
from vauchflow_core.webhook_deliveries import Delivery
from vauchflow_core.webhook_endpoints import EndpointSettings, WebhookEndpoint
from vauchflow_server import list_filters
from vauchflow_server.campaign_codes import CodePattern
from vauchflow_server.campaigns import ACTIVE as CAMPAIGN_ACTIVE
from vauchflow_server.campaigns import Campaign, CampaignTerms
from vauchflow_server.list_filters import RedemptionFilter, VoucherFilter
from vauchflow_server.operations import SUCCEEDED as OPERATION_SUCCEEDED
from vauchflow_server.operations import Operation
from vauchflow_server.redemption_rules import Order
from vauchflow_server.redemptions import Redemption
from vauchflow_server.usage_summary import UsageSummary
from vauchflow_server.vouchers import ACTIVE, Voucher, VoucherTerms

_PLAN_PREFIX = "PLAN_"
_VOUCHER_STATUS_PREFIX = "VOUCHER_STATUS_"


def timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def _datetime(message: Any, field_name: str, violations: Violations, field_path: str) -> datetime | None:
    if not message.HasField(field_name):
        return None
    try:
        return getattr(message, field_name).ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        violations.add(field_path, "is not a valid timestamp")
        return None


def optional_datetime(message: Any, field_name: str, violations: Violations, field_path: str) -> datetime | None:
    """A Timestamp field as an aware datetime, None when unset; a violation when out of range."""
    return _datetime(message, field_name, violations, field_path)


def _optional(message: Any, field_name: str) -> Any:
    return getattr(message, field_name) if message.HasField(field_name) else None


def _currency(raw: str) -> str | None:
    return raw.strip().upper() or None


# Tenants and API keys


def plan_name(plan: int) -> str | None:
    """PLAN_UNSPECIFIED → None; PLAN_SCALE → "SCALE"."""
    if plan == tenant_pb2.PLAN_UNSPECIFIED:
        return None
    name = tenant_pb2.Plan.Name(plan) if plan in tenant_pb2.Plan.values() else ""
    return name.removeprefix(_PLAN_PREFIX) or f"unknown({plan})"


def tenant_message(tenant: Tenant) -> tenant_pb2.Tenant:
    return tenant_pb2.Tenant(
        id=str(tenant.id),
        name=tenant.name,
        plan=_PLAN_PREFIX + tenant.plan,  # an enum value by its name
        create_time=timestamp(tenant.create_time),
        update_time=timestamp(tenant.update_time),
        # Only the overrides; an absent field means the plan's default.
        limits=tenant_pb2.TenantLimits(
            **{name: value for name, value in dataclasses.asdict(tenant.limits).items() if value is not None}
        ),
    )


TENANT_LIMIT_FIELDS = tuple(field.name for field in dataclasses.fields(LimitOverrides))


def tenant_limit_changes(message: tenant_pb2.Tenant, mask_paths: set[str]) -> dict[str, int | None]:
    """The limits an UpdateTenant changes: limit name → new value, None to clear it (back to the plan's default).

    "limits" in the mask replaces every limit with the request's (absent fields are cleared), "limits.<name>" just
    that one; without a mask, every limit set in the request.
    """
    limits = message.limits
    if not mask_paths:
        return {name: getattr(limits, name) for name in TENANT_LIMIT_FIELDS if limits.HasField(name)}
    names = (
        TENANT_LIMIT_FIELDS
        if "limits" in mask_paths
        else [name for name in TENANT_LIMIT_FIELDS if f"limits.{name}" in mask_paths]
    )
    return {name: getattr(limits, name) if limits.HasField(name) else None for name in names}


def effective_limits_message(limits: PlanLimits) -> api_key_service_pb2.EffectiveLimits:
    """Absent fields are unlimited."""
    rate_limit = limits.rate_limit
    return api_key_service_pb2.EffectiveLimits(
        requests_per_second=rate_limit.requests_per_second if rate_limit else None,
        burst=rate_limit.burst if rate_limit else None,
        max_vouchers=limits.vouchers,
        max_webhook_endpoints=limits.webhook_endpoints,
    )


def api_key_message(api_key: ApiKey) -> api_key_pb2.ApiKey:
    return api_key_pb2.ApiKey(
        id=str(api_key.id),
        tenant_id=str(api_key.tenant_id),
        name=api_key.name,
        permissions=list(api_key.permissions),
        secret_prefix=api_key.secret_prefix,
        create_time=timestamp(api_key.create_time),
        revoke_time=timestamp(api_key.revoke_time),
        created_by_key_id=str(api_key.created_by_key_id) if api_key.created_by_key_id else "",
    )


def api_key_event_message(event: ApiKeyAuditEvent) -> api_key_pb2.ApiKeyEvent:
    return api_key_pb2.ApiKeyEvent(
        id=event.id,
        action="API_KEY_EVENT_ACTION_" + event.action,  # an enum value by its name
        api_key_id=str(event.key_id),
        api_key_name=event.key_name,
        permissions=list(event.permissions),
        actor_api_key_id=str(event.actor_key_id) if event.actor_key_id else "",
        create_time=timestamp(event.create_time),
    )


# Vouchers


def _status_name(status: int, violations: Violations, field_path: str) -> str | None:
    if status == voucher_pb2.VOUCHER_STATUS_UNSPECIFIED:
        return None
    if status not in voucher_pb2.VoucherStatus.values():
        violations.add(field_path, "is not a known voucher status")
        return None
    return voucher_pb2.VoucherStatus.Name(status).removeprefix(_VOUCHER_STATUS_PREFIX)


def _discount(message: voucher_pb2.Discount) -> tuple[int | None, int | None]:
    kind = message.WhichOneof("value")
    return (
        message.percent_off if kind == "percent_off" else None,
        message.amount_off if kind == "amount_off" else None,
    )


def voucher_terms(message: voucher_pb2.Voucher, violations: Violations) -> VoucherTerms:
    percent_off, amount_off = _discount(message.discount)
    return VoucherTerms(
        percent_off=percent_off,
        amount_off=amount_off,
        currency=_currency(message.currency),
        max_redemptions=_optional(message, "max_redemptions"),
        per_customer_limit=_optional(message, "per_customer_limit"),
        valid_from=_datetime(message, "valid_from", violations, "voucher.valid_from"),
        valid_until=_datetime(message, "valid_until", violations, "voucher.valid_until"),
        min_order_amount=_optional(message, "min_order_amount"),
        metadata=dict(message.metadata),
        status=_status_name(message.status, violations, "voucher.status") or ACTIVE,
        flash_sale=message.flash_sale,
    )


_MASKABLE = (
    "discount",
    "currency",
    "max_redemptions",
    "per_customer_limit",
    "valid_from",
    "valid_until",
    "min_order_amount",
    "metadata",
    "status",
    "flash_sale",
)


def voucher_changes(message: voucher_pb2.Voucher, mask_paths: list[str]) -> dict[str, Any]:
    """The fields an UpdateVoucher asks to change: those in the mask, or else every field that is set."""
    violations = Violations()
    if mask_paths:
        paths = []
        for path in mask_paths:
            top = path.split(".")[0]
            if top not in _MASKABLE:
                violations.add("update_mask", f"cannot update {path}")
            elif top not in paths:
                paths.append(top)
    else:
        paths = [p for p in _MASKABLE if _is_set(message, p)]
    changes: dict[str, Any] = {}
    for path in paths:
        if path == "discount":
            changes["discount"] = _discount(message.discount)
        elif path == "currency":
            changes["currency"] = _currency(message.currency)
        elif path == "metadata":
            changes["metadata"] = dict(message.metadata)
        elif path == "status":
            changes["status"] = _status_name(message.status, violations, "voucher.status") or ACTIVE
        elif path == "flash_sale":
            changes["flash_sale"] = message.flash_sale
        elif path in ("valid_from", "valid_until"):
            changes[path] = _datetime(message, path, violations, f"voucher.{path}")
        else:
            changes[path] = _optional(message, path)
    violations.raise_if_any()
    return changes


def _is_set(message: voucher_pb2.Voucher, path: str) -> bool:
    if path in ("currency",):
        return bool(message.currency)
    if path == "metadata":
        return bool(message.metadata)
    if path == "status":
        return message.status != voucher_pb2.VOUCHER_STATUS_UNSPECIFIED
    if path == "flash_sale":
        return message.flash_sale  # without a mask only true reads as set; turning it off needs the mask
    return message.HasField(path)


def voucher_message(voucher: Voucher) -> voucher_pb2.Voucher:
    terms = voucher.terms
    message = voucher_pb2.Voucher(
        id=str(voucher.id),
        code=voucher.code,
        currency=terms.currency or "",
        metadata=terms.metadata,
        status=_VOUCHER_STATUS_PREFIX + terms.status,  # an enum value by its name
        redemption_count=voucher.redemption_count,
        create_time=timestamp(voucher.create_time),
        update_time=timestamp(voucher.update_time),
        valid_from=timestamp(terms.valid_from),
        valid_until=timestamp(terms.valid_until),
        flash_sale=terms.flash_sale,
        campaign_id=str(voucher.campaign_id) if voucher.campaign_id else "",
    )
    if terms.percent_off is not None:
        message.discount.percent_off = terms.percent_off
    if terms.amount_off is not None:
        message.discount.amount_off = terms.amount_off
    for name in ("max_redemptions", "per_customer_limit", "min_order_amount"):
        value = getattr(terms, name)
        if value is not None:
            setattr(message, name, value)
    return message


def voucher_message_for(voucher: Voucher, permissions: frozenset[str]) -> voucher_pb2.Voucher:
    """The whole voucher for a key that may read vouchers; for any other key (one that may only validate or
    redeem) the terms a checkout shows, without metadata, counts or limits."""
    full = voucher_message(voucher)
    if VOUCHERS_READ in permissions:
        return full
    view = voucher_pb2.Voucher(id=full.id, code=full.code, currency=full.currency, status=full.status)
    for name in ("discount", "valid_from", "valid_until", "min_order_amount"):
        if full.HasField(name):
            if name == "min_order_amount":
                view.min_order_amount = full.min_order_amount
            else:
                getattr(view, name).CopyFrom(getattr(full, name))
    return view


# Redemptions


def order(message: redemption_pb2.Order) -> Order:
    return Order(id=message.id, amount=message.amount, currency=_currency(message.currency))


def redemption_message(redemption: Redemption) -> redemption_pb2.Redemption:
    return redemption_pb2.Redemption(
        id=str(redemption.id),
        voucher_id=str(redemption.voucher_id),
        voucher_code=redemption.voucher_code,
        customer_id=redemption.customer_id,
        order=redemption_pb2.Order(
            id=redemption.order.id, amount=redemption.order.amount, currency=redemption.order.currency or ""
        ),
        discount_amount=redemption.discount_amount,
        status="REDEMPTION_STATUS_" + redemption.status,  # an enum value by its name
        metadata=redemption.metadata,
        create_time=timestamp(redemption.create_time),
        rollback_time=timestamp(redemption.rollback_time),
        rollback_reason=redemption.rollback_reason,
    )


# Webhooks


def endpoint_settings(message: webhook_pb2.WebhookEndpoint) -> EndpointSettings:
    """A new endpoint's settings. Endpoints start enabled: `enabled` cannot be told apart from unset here."""
    return EndpointSettings(
        url=message.url, description=message.description, event_types=tuple(message.event_types), enabled=True
    )


_ENDPOINT_MASKABLE = ("url", "description", "event_types", "enabled")


def endpoint_changes(message: webhook_pb2.WebhookEndpoint, mask_paths: list[str]) -> dict[str, Any]:
    """The fields an UpdateWebhookEndpoint asks to change: those in the mask, or else every field that is set.

    Without a mask, `enabled: false` is indistinguishable from an absent field, so only `enabled: true` counts;
    disabling needs update_mask "enabled".
    """
    violations = Violations()
    if mask_paths:
        paths = []
        for path in mask_paths:
            if path not in _ENDPOINT_MASKABLE:
                violations.add("update_mask", f"cannot update {path}")
            elif path not in paths:
                paths.append(path)
    else:
        paths = [p for p in _ENDPOINT_MASKABLE if _endpoint_field_set(message, p)]
    violations.raise_if_any()
    changes: dict[str, Any] = {}
    for path in paths:
        value = getattr(message, path)
        changes[path] = tuple(value) if path == "event_types" else value
    return changes


def _endpoint_field_set(message: webhook_pb2.WebhookEndpoint, path: str) -> bool:
    value = getattr(message, path)
    return bool(len(value)) if path == "event_types" else bool(value)


def webhook_endpoint_message(endpoint: WebhookEndpoint) -> webhook_pb2.WebhookEndpoint:
    settings = endpoint.settings
    return webhook_pb2.WebhookEndpoint(
        id=str(endpoint.id),
        url=settings.url,
        description=settings.description,
        event_types=list(settings.event_types),
        enabled=settings.enabled,
        disabled_reason=endpoint.disabled_reason,
        create_time=timestamp(endpoint.create_time),
        update_time=timestamp(endpoint.update_time),
    )


def event_message(event: StoredEvent) -> webhook_pb2.Event:
    data = struct_pb2.Struct()
    data.update(event.payload.get("data") or {})
    return webhook_pb2.Event(
        id=event.public_id,
        type=event.type,
        create_time=timestamp(event.create_time),
        data=data,
        cursor=event_cursor.encode(event.position),
    )


def delivery_message(delivery: Delivery) -> webhook_pb2.WebhookDelivery:
    return webhook_pb2.WebhookDelivery(
        id=str(delivery.id),
        endpoint_id=str(delivery.endpoint_id),
        event_id=public_event_id(delivery.event_id),
        event_type=delivery.event_type,
        status="WEBHOOK_DELIVERY_STATUS_" + delivery.status,  # an enum value by its name
        attempt_count=delivery.attempt_count,
        next_attempt_time=timestamp(delivery.next_attempt_time),
        create_time=timestamp(delivery.create_time),
        delivered_time=timestamp(delivery.delivered_time),
        attempts=[
            webhook_pb2.WebhookDeliveryAttempt(
                attempt_number=a.attempt_number,
                attempt_time=timestamp(a.attempt_time),
                http_status=a.http_status or 0,
                latency_ms=a.latency_ms,
                response_body=a.response_body,
                error=a.error,
            )
            for a in delivery.attempts
        ],
    )


# List filters


def voucher_filter(request: voucher_service_pb2.ListVouchersRequest) -> VoucherFilter:
    violations = Violations()
    status = _status_name(request.status, violations, "status")
    filters = VoucherFilter(
        status=status,
        code_prefix=list_filters.code_prefix(request.code_prefix, violations),
        metadata=list_filters.metadata_pair(request.metadata_key, request.metadata_value, violations),
        campaign_id=list_filters.campaign_id(request.campaign_id, violations),
        newest_first=list_filters.newest_first(request.order_by, violations),
    )
    violations.raise_if_any()
    return filters


def redemption_filter(request: redemption_service_pb2.ListRedemptionsRequest) -> RedemptionFilter:
    violations = Violations()
    status = None
    if request.status != redemption_pb2.REDEMPTION_STATUS_UNSPECIFIED:
        if request.status in redemption_pb2.RedemptionStatus.values():
            status = redemption_pb2.RedemptionStatus.Name(request.status).removeprefix("REDEMPTION_STATUS_")
        else:
            violations.add("status", "is not a known redemption status")
    start = _datetime(request, "start_time", violations, "start_time")
    end = _datetime(request, "end_time", violations, "end_time")
    list_filters.time_range(start, end, violations)
    filters = RedemptionFilter(
        voucher_code=request.voucher_code or None,
        customer_id=list_filters.customer_id(request.customer_id, violations),
        status=status,
        start_time=start,
        end_time=end,
        campaign_id=list_filters.campaign_id(request.campaign_id, violations),
        newest_first=list_filters.newest_first(request.order_by, violations),
    )
    violations.raise_if_any()
    return filters


def usage_summary_message(summary: UsageSummary) -> redemption_service_pb2.GetUsageSummaryResponse:
    deliveries = summary.deliveries
    return redemption_service_pb2.GetUsageSummaryResponse(
        window_start=timestamp(summary.window_start),
        window_end=timestamp(summary.window_end),
        hours=[
            redemption_service_pb2.UsageHour(
                start_time=timestamp(h.start_time),
                redemptions=h.redemptions,
                rollbacks=h.rollbacks,
                refusals=h.refusals,
            )
            for h in summary.hours
        ],
        redemptions=summary.redemptions,
        rollbacks=summary.rollbacks,
        refusals=[redemption_service_pb2.RefusalCount(reason=r, count=c) for r, c in summary.refusals],
        webhook_deliveries=redemption_service_pb2.WebhookDeliveryUsage(
            total=deliveries.total,
            delivered=deliveries.delivered,
            delivered_within_hour=deliveries.delivered_within_hour,
            pending=deliveries.pending,
            failed=deliveries.failed,
            share_delivered_within_hour=deliveries.share_delivered_within_hour,
        ),
        plan=_PLAN_PREFIX + summary.plan,  # an enum value by its name
        limits=effective_limits_message(summary.limits),
    )


# Campaigns and their long-running operations

_CAMPAIGN_STATUS_PREFIX = "CAMPAIGN_STATUS_"
_CAMPAIGN_MASKABLE = (
    "name",
    "valid_from",
    "valid_until",
    "max_redemptions",
    "per_customer_limit",
    "metadata",
    "status",
)


def _campaign_status(status: int, violations: Violations) -> str | None:
    if status == campaign_pb2.CAMPAIGN_STATUS_UNSPECIFIED:
        return None
    if status not in campaign_pb2.CampaignStatus.values():
        violations.add("campaign.status", "is not a known campaign status")
        return None
    return campaign_pb2.CampaignStatus.Name(status).removeprefix(_CAMPAIGN_STATUS_PREFIX)


def campaign_terms(message: campaign_pb2.Campaign, violations: Violations) -> CampaignTerms:
    percent_off, amount_off = _discount(message.discount)
    return CampaignTerms(
        name=message.name,
        percent_off=percent_off,
        amount_off=amount_off,
        currency=_currency(message.currency),
        valid_from=_datetime(message, "valid_from", violations, "campaign.valid_from"),
        valid_until=_datetime(message, "valid_until", violations, "campaign.valid_until"),
        min_order_amount=_optional(message, "min_order_amount"),
        code_redemption_limit=_optional(message, "code_redemption_limit") or 1,
        max_redemptions=_optional(message, "max_redemptions"),
        per_customer_limit=_optional(message, "per_customer_limit"),
        metadata=dict(message.metadata),
        status=_campaign_status(message.status, violations) or CAMPAIGN_ACTIVE,
    )


def campaign_changes(message: campaign_pb2.Campaign, mask_paths: list[str]) -> dict[str, Any]:
    """The fields an UpdateCampaign asks to change: those in the mask, or else every updatable field that is set."""
    violations = Violations()
    if mask_paths:
        paths = []
        for path in mask_paths:
            top = path.split(".")[0]
            if top not in _CAMPAIGN_MASKABLE:
                violations.add(
                    "update_mask", f"names a field that cannot be updated; updatable: {', '.join(_CAMPAIGN_MASKABLE)}"
                )
            elif top not in paths:
                paths.append(top)
    else:
        paths = [p for p in _CAMPAIGN_MASKABLE if _campaign_field_set(message, p)]
    changes: dict[str, Any] = {}
    for path in paths:
        if path == "name":
            changes["name"] = message.name
        elif path == "metadata":
            changes["metadata"] = dict(message.metadata)
        elif path == "status":
            changes["status"] = _campaign_status(message.status, violations) or CAMPAIGN_ACTIVE
        elif path in ("valid_from", "valid_until"):
            changes[path] = _datetime(message, path, violations, f"campaign.{path}")
        else:
            changes[path] = _optional(message, path)
    violations.raise_if_any()
    return changes


def _campaign_field_set(message: campaign_pb2.Campaign, path: str) -> bool:
    if path == "name":
        return bool(message.name)
    if path == "metadata":
        return bool(message.metadata)
    if path == "status":
        return message.status != campaign_pb2.CAMPAIGN_STATUS_UNSPECIFIED
    return message.HasField(path)


def campaign_message(campaign: Campaign) -> campaign_pb2.Campaign:
    terms = campaign.terms
    message = campaign_pb2.Campaign(
        id=str(campaign.id),
        name=terms.name,
        currency=terms.currency or "",
        valid_from=timestamp(terms.valid_from),
        valid_until=timestamp(terms.valid_until),
        code_redemption_limit=terms.code_redemption_limit,
        metadata=terms.metadata,
        status=_CAMPAIGN_STATUS_PREFIX + terms.status,  # an enum value by its name
        code_count=campaign.code_count,
        redemption_count=campaign.redemption_count,
        create_time=timestamp(campaign.create_time),
        update_time=timestamp(campaign.update_time),
    )
    if terms.percent_off is not None:
        message.discount.percent_off = terms.percent_off
    if terms.amount_off is not None:
        message.discount.amount_off = terms.amount_off
    for name in ("min_order_amount", "max_redemptions", "per_customer_limit"):
        value = getattr(terms, name)
        if value is not None:
            setattr(message, name, value)
    return message


def code_pattern(message: campaign_pb2.CodePattern) -> CodePattern:
    return CodePattern(pattern=message.pattern, charset=message.charset, prefix=message.prefix, suffix=message.suffix)


def operation_message(operation: Operation) -> operations_pb2.Operation:
    """An operation as google.longrunning has it: metadata with the progress; when done, the response or the
    error (a google.rpc.Status with an ErrorInfo, like every error of the API)."""
    message = operations_pb2.Operation(name=operation.name, done=operation.done)
    message.metadata.Pack(
        campaign_pb2.GenerateCampaignCodesMetadata(
            campaign_id=str(operation.campaign_id),
            requested_count=operation.requested_count,
            generated_count=operation.generated_count,
            cancel_requested=operation.cancel_requested,
            create_time=timestamp(operation.create_time),
            update_time=timestamp(operation.update_time),
            end_time=timestamp(operation.end_time),
        )
    )
    if operation.state == OPERATION_SUCCEEDED:
        message.response.Pack(
            campaign_service_pb2.GenerateCampaignCodesResponse(
                campaign_id=str(operation.campaign_id), generated_count=operation.generated_count
            )
        )
    elif operation.done:
        info = error_details_pb2.ErrorInfo(
            reason=operation.error_reason or "INTERNAL",
            domain=ERROR_DOMAIN,
            metadata={"generated_count": str(operation.generated_count)},
        )
        error = status_pb2.Status(code=operation.error_code or 2, message=operation.error_message or "")
        error.details.add().Pack(info)
        message.error.CopyFrom(error)
    return message
