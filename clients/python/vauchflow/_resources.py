"""The resource namespaces (client.vouchers, client.redemptions, ...): each method written once as a request
builder with keyword arguments for the common fields; `request=` takes a full request message for the rest
(keyword arguments are merged into it)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar, cast, overload

import grpc
from google.longrunning import operations_pb2
from google.protobuf import field_mask_pb2, timestamp_pb2
from google.protobuf.message import Message

from vauchflow import _errors, _rpcs
from vauchflow._event_stream import DEFAULT_MAX_RECONNECTS, AsyncEventStream, EventStream
from vauchflow._methods import ListMethod, Namespace, T, UnaryMethod
from vauchflow._transport import AsyncioTransport, BlockingTransport
from vauchflow.v1 import api_key_service_pb2 as api_keys
from vauchflow.v1 import campaign_pb2, redemption_pb2, status_pb2, tenant_pb2, voucher_pb2, webhook_pb2
from vauchflow.v1 import campaign_service_pb2 as campaigns
from vauchflow.v1 import redemption_service_pb2 as redemptions
from vauchflow.v1 import status_service_pb2 as status
from vauchflow.v1 import tenant_service_pb2 as tenants
from vauchflow.v1 import voucher_service_pb2 as vouchers
from vauchflow.v1 import webhook_service_pb2 as webhooks

M = TypeVar("M", bound=Message)


def _merged(request_type: type[M], request: M | None, **fields: Any) -> M:
    """request (or an empty one) with every keyword argument that is not None merged in."""
    built = request_type()
    if request is not None:
        built.CopyFrom(request)
    built.MergeFrom(request_type(**{name: value for name, value in fields.items() if value is not None}))
    return built


def _timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def _plan(plan: tenant_pb2.Plan | str | None) -> tenant_pb2.Plan | None:
    """A Plan value, or its name with or without the prefix: "STARTER", "PLAN_STARTER"."""
    if plan is None or not isinstance(plan, str):
        return plan
    name = plan.upper()
    return cast(tenant_pb2.Plan, tenant_pb2.Plan.Value(name if name.startswith("PLAN_") else f"PLAN_{name}"))


def _order(
    order: redemption_pb2.Order | None, amount: int | None, currency: str | None, order_id: str | None
) -> redemption_pb2.Order | None:
    if order is None and amount is None and currency is None and order_id is None:
        return None
    return _merged(redemption_pb2.Order, order, amount=amount, currency=currency, id=order_id)


def _mask(fields: Mapping[str, Any]) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=sorted(name for name, value in fields.items() if value is not None))


# Vouchers


def _voucher_fields(
    *,
    percent_off: int | None,
    amount_off: int | None,
    currency: str | None,
    max_redemptions: int | None,
    per_customer_limit: int | None,
    min_order_amount: int | None,
    valid_from: datetime | None,
    valid_until: datetime | None,
    metadata: Mapping[str, str] | None,
) -> dict[str, Any]:
    discount = None
    if percent_off is not None or amount_off is not None:
        discount = voucher_pb2.Discount(percent_off=percent_off, amount_off=amount_off)
    return {
        "discount": discount,
        "currency": currency,
        "max_redemptions": max_redemptions,
        "per_customer_limit": per_customer_limit,
        "min_order_amount": min_order_amount,
        "valid_from": _timestamp(valid_from),
        "valid_until": _timestamp(valid_until),
        "metadata": metadata,
    }


def _create_voucher(
    code: str | None = None,
    *,
    percent_off: int | None = None,
    amount_off: int | None = None,
    currency: str | None = None,
    max_redemptions: int | None = None,
    per_customer_limit: int | None = None,
    min_order_amount: int | None = None,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    metadata: Mapping[str, str] | None = None,
    flash_sale: bool | None = None,
    request_id: str | None = None,
    request: vouchers.CreateVoucherRequest | None = None,
) -> vouchers.CreateVoucherRequest:
    """Creates a voucher (a code is generated when none is given). Amounts are in minor units of `currency`.
    Returns the Voucher."""
    fields = _voucher_fields(
        percent_off=percent_off,
        amount_off=amount_off,
        currency=currency,
        max_redemptions=max_redemptions,
        per_customer_limit=per_customer_limit,
        min_order_amount=min_order_amount,
        valid_from=valid_from,
        valid_until=valid_until,
        metadata=metadata,
    )
    voucher = voucher_pb2.Voucher(
        code=code, flash_sale=flash_sale, **{k: v for k, v in fields.items() if v is not None}
    )
    return _merged(vouchers.CreateVoucherRequest, request, voucher=voucher, request_id=request_id)


def _update_voucher(
    code: str,
    *,
    percent_off: int | None = None,
    amount_off: int | None = None,
    currency: str | None = None,
    max_redemptions: int | None = None,
    per_customer_limit: int | None = None,
    min_order_amount: int | None = None,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    metadata: Mapping[str, str] | None = None,
    request: vouchers.UpdateVoucherRequest | None = None,
) -> vouchers.UpdateVoucherRequest:
    """Changes exactly the fields given (the update mask names them). Returns the Voucher."""
    fields = _voucher_fields(
        percent_off=percent_off,
        amount_off=amount_off,
        currency=currency,
        max_redemptions=max_redemptions,
        per_customer_limit=per_customer_limit,
        min_order_amount=min_order_amount,
        valid_from=valid_from,
        valid_until=valid_until,
        metadata=metadata,
    )
    voucher = voucher_pb2.Voucher(code=code, **{k: v for k, v in fields.items() if v is not None})
    mask = _mask(fields) if request is None or not request.update_mask.paths else None
    return _merged(vouchers.UpdateVoucherRequest, request, voucher=voucher, update_mask=mask)


def _get_voucher(code: str) -> vouchers.GetVoucherRequest:
    """The voucher with this code. Returns the Voucher."""
    return vouchers.GetVoucherRequest(code=code)


def _enum(enum: Any, prefix: str, value: int | str | None) -> int | None:
    """An enum value, or its name with or without the prefix: "DISABLED", "VOUCHER_STATUS_DISABLED"."""
    if value is None or not isinstance(value, str):
        return value
    name = value.upper()
    return cast(int, enum.Value(name if name.startswith(prefix) else prefix + name))


def _list_vouchers(
    *,
    status: voucher_pb2.VoucherStatus | str | None = None,
    code_prefix: str | None = None,
    metadata_key: str | None = None,
    metadata_value: str | None = None,
    order_by: str | None = None,
    campaign_id: str | None = None,
    page_size: int | None = None,
    request: vouchers.ListVouchersRequest | None = None,
) -> vouchers.ListVouchersRequest:
    """The tenant's vouchers, walked page by page as you iterate; every filter given must match: status ("ACTIVE",
    "DISABLED"), code_prefix (case-insensitive), a metadata_key with its exact metadata_value, campaign_id. order_by:
    "create_time" (oldest first, the default) or "create_time desc"."""
    return _merged(
        vouchers.ListVouchersRequest,
        request,
        status=_enum(voucher_pb2.VoucherStatus, "VOUCHER_STATUS_", status),
        code_prefix=code_prefix,
        metadata_key=metadata_key,
        metadata_value=metadata_value,
        order_by=order_by,
        campaign_id=campaign_id,
        page_size=page_size,
    )


def _disable_voucher(code: str) -> vouchers.DisableVoucherRequest:
    """Stops the voucher from being redeemed (existing redemptions stay). Returns the Voucher."""
    return vouchers.DisableVoucherRequest(code=code)


class Vouchers(Namespace[T]):
    create = UnaryMethod(_rpcs.CREATE_VOUCHER, _create_voucher, lambda r: r.voucher)
    get = UnaryMethod(_rpcs.GET_VOUCHER, _get_voucher, lambda r: r.voucher)
    list = ListMethod(_rpcs.LIST_VOUCHERS, _list_vouchers, lambda r: r.vouchers)
    update = UnaryMethod(_rpcs.UPDATE_VOUCHER, _update_voucher, lambda r: r.voucher)
    disable = UnaryMethod(_rpcs.DISABLE_VOUCHER, _disable_voucher, lambda r: r.voucher)


# Redemptions


def _validate(
    code: str,
    *,
    amount: int | None = None,
    currency: str | None = None,
    order_id: str | None = None,
    customer_id: str | None = None,
    order: redemption_pb2.Order | None = None,
    request: redemptions.ValidateVoucherRequest | None = None,
) -> redemptions.ValidateVoucherRequest:
    """Would a redeem succeed now? No side effects. Returns the ValidateVoucherResponse (valid, reason,
    discount_amount, voucher)."""
    return _merged(
        redemptions.ValidateVoucherRequest,
        request,
        code=code,
        customer_id=customer_id,
        order=_order(order, amount, currency, order_id),
    )


def _redeem(
    code: str,
    *,
    amount: int | None = None,
    currency: str | None = None,
    order_id: str | None = None,
    customer_id: str | None = None,
    metadata: Mapping[str, str] | None = None,
    request_id: str | None = None,
    order: redemption_pb2.Order | None = None,
    request: redemptions.RedeemVoucherRequest | None = None,
) -> redemptions.RedeemVoucherRequest:
    """Redeems the voucher for an order. Raises a RedemptionRefused subclass (VoucherExhausted, ...) when it
    can't. Safe to retry: without a request_id the client makes one. Returns the RedeemVoucherResponse
    (redemption, voucher)."""
    return _merged(
        redemptions.RedeemVoucherRequest,
        request,
        code=code,
        customer_id=customer_id,
        order=_order(order, amount, currency, order_id),
        metadata=metadata,
        request_id=request_id,
    )


def _rollback(
    redemption_id: str, *, reason: str | None = None, request: redemptions.RollbackRedemptionRequest | None = None
) -> redemptions.RollbackRedemptionRequest:
    """Gives a redemption back, exactly once (RedemptionAlreadyRolledBack the second time). Returns the
    Redemption."""
    return _merged(redemptions.RollbackRedemptionRequest, request, id=redemption_id, reason=reason)


def _get_redemption(redemption_id: str) -> redemptions.GetRedemptionRequest:
    """Returns the Redemption."""
    return redemptions.GetRedemptionRequest(id=redemption_id)


def _list_redemptions(
    *,
    voucher_code: str | None = None,
    customer_id: str | None = None,
    status: redemption_pb2.RedemptionStatus | str | None = None,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
    order_by: str | None = None,
    campaign_id: str | None = None,
    page_size: int | None = None,
    request: redemptions.ListRedemptionsRequest | None = None,
) -> redemptions.ListRedemptionsRequest:
    """The tenant's redemptions, page by page as you iterate; every filter given must match: voucher_code,
    customer_id, status ("SUCCEEDED", "ROLLED_BACK"), created in [start_time, end_time), campaign_id (redemptions
    of its codes). order_by: "create_time" (oldest first, the default) or "create_time desc"."""
    return _merged(
        redemptions.ListRedemptionsRequest,
        request,
        voucher_code=voucher_code,
        customer_id=customer_id,
        status=_enum(redemption_pb2.RedemptionStatus, "REDEMPTION_STATUS_", status),
        start_time=_timestamp(start_time),
        end_time=_timestamp(end_time),
        order_by=order_by,
        campaign_id=campaign_id,
        page_size=page_size,
    )


def _usage_summary() -> redemptions.GetUsageSummaryRequest:
    """The tenant's last 24 hours: redemptions, rollbacks and refusals per hour, refusals by reason, webhook
    deliveries, the plan and its limits. Returns the GetUsageSummaryResponse."""
    return redemptions.GetUsageSummaryRequest()


class Redemptions(Namespace[T]):
    validate = UnaryMethod(_rpcs.VALIDATE_VOUCHER, _validate)
    redeem = UnaryMethod(_rpcs.REDEEM_VOUCHER, _redeem)
    rollback = UnaryMethod(_rpcs.ROLLBACK_REDEMPTION, _rollback, lambda r: r.redemption)
    get = UnaryMethod(_rpcs.GET_REDEMPTION, _get_redemption, lambda r: r.redemption)
    list = ListMethod(_rpcs.LIST_REDEMPTIONS, _list_redemptions, lambda r: r.redemptions)
    usage_summary = UnaryMethod(_rpcs.GET_USAGE_SUMMARY, _usage_summary)


# Webhook endpoints


def _create_endpoint(
    url: str,
    *,
    description: str | None = None,
    event_types: Sequence[str] | None = None,
    request_id: str | None = None,
    request: webhooks.CreateWebhookEndpointRequest | None = None,
) -> webhooks.CreateWebhookEndpointRequest:
    """Creates an endpoint. Returns the CreateWebhookEndpointResponse, whose `secret` (whsec_...) is shown only
    here."""
    endpoint = webhook_pb2.WebhookEndpoint(url=url, description=description, event_types=event_types)
    return _merged(webhooks.CreateWebhookEndpointRequest, request, webhook_endpoint=endpoint, request_id=request_id)


def _get_endpoint(endpoint_id: str) -> webhooks.GetWebhookEndpointRequest:
    """Returns the WebhookEndpoint."""
    return webhooks.GetWebhookEndpointRequest(id=endpoint_id)


def _list_endpoints(
    *, page_size: int | None = None, request: webhooks.ListWebhookEndpointsRequest | None = None
) -> webhooks.ListWebhookEndpointsRequest:
    """Every webhook endpoint, page by page as you iterate."""
    return _merged(webhooks.ListWebhookEndpointsRequest, request, page_size=page_size)


def _update_endpoint(
    endpoint_id: str,
    *,
    url: str | None = None,
    description: str | None = None,
    event_types: Sequence[str] | None = None,
    enabled: bool | None = None,
    request: webhooks.UpdateWebhookEndpointRequest | None = None,
) -> webhooks.UpdateWebhookEndpointRequest:
    """Changes exactly the fields given. Returns the WebhookEndpoint."""
    fields: dict[str, Any] = {"url": url, "description": description, "event_types": event_types, "enabled": enabled}
    endpoint = webhook_pb2.WebhookEndpoint(id=endpoint_id, **{k: v for k, v in fields.items() if v is not None})
    mask = _mask(fields) if request is None or not request.update_mask.paths else None
    return _merged(webhooks.UpdateWebhookEndpointRequest, request, webhook_endpoint=endpoint, update_mask=mask)


def _delete_endpoint(endpoint_id: str) -> webhooks.DeleteWebhookEndpointRequest:
    """Deletes the endpoint; its pending deliveries are dropped."""
    return webhooks.DeleteWebhookEndpointRequest(id=endpoint_id)


def _rotate_secret(endpoint_id: str) -> webhooks.RotateSecretRequest:
    """A new signing secret; the old one keeps signing alongside for 24 hours. Returns the RotateSecretResponse."""
    return webhooks.RotateSecretRequest(id=endpoint_id)


def _send_test_event(endpoint_id: str) -> webhooks.SendTestEventRequest:
    """Sends a webhook.test event to this endpoint only. Returns the Event."""
    return webhooks.SendTestEventRequest(id=endpoint_id)


def _list_deliveries(
    endpoint_id: str, *, page_size: int | None = None, request: webhooks.ListDeliveriesRequest | None = None
) -> webhooks.ListDeliveriesRequest:
    """Every delivery to the endpoint with its attempts, newest first."""
    return _merged(webhooks.ListDeliveriesRequest, request, endpoint_id=endpoint_id, page_size=page_size)


def _recover(
    endpoint_id: str,
    *,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
    request: webhooks.RecoverRequest | None = None,
) -> webhooks.RecoverRequest:
    """Queues again every failed delivery to the endpoint whose event was created in [start_time, end_time).
    Returns how many were queued."""
    return _merged(
        webhooks.RecoverRequest,
        request,
        id=endpoint_id,
        start_time=_timestamp(start_time),
        end_time=_timestamp(end_time),
    )


class WebhookEndpoints(Namespace[T]):
    create = UnaryMethod(_rpcs.CREATE_WEBHOOK_ENDPOINT, _create_endpoint)
    get = UnaryMethod(_rpcs.GET_WEBHOOK_ENDPOINT, _get_endpoint, lambda r: r.webhook_endpoint)
    list = ListMethod(_rpcs.LIST_WEBHOOK_ENDPOINTS, _list_endpoints, lambda r: r.webhook_endpoints)
    update = UnaryMethod(_rpcs.UPDATE_WEBHOOK_ENDPOINT, _update_endpoint, lambda r: r.webhook_endpoint)
    delete = UnaryMethod(_rpcs.DELETE_WEBHOOK_ENDPOINT, _delete_endpoint, lambda r: None)
    rotate_secret = UnaryMethod(_rpcs.ROTATE_SECRET, _rotate_secret)
    send_test_event = UnaryMethod(_rpcs.SEND_TEST_EVENT, _send_test_event, lambda r: r.event)
    list_deliveries = ListMethod(_rpcs.LIST_DELIVERIES, _list_deliveries, lambda r: r.deliveries)
    recover = UnaryMethod(_rpcs.RECOVER, _recover, lambda r: r.requeued_count)


# Events


def _list_events(
    *,
    types: Sequence[str] | None = None,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
    page_size: int | None = None,
    request: webhooks.ListEventsRequest | None = None,
) -> webhooks.ListEventsRequest:
    """The tenant's events, oldest first, page by page as you iterate."""
    return _merged(
        webhooks.ListEventsRequest,
        request,
        types=types,
        start_time=_timestamp(start_time),
        end_time=_timestamp(end_time),
        page_size=page_size,
    )


def _get_event(event_id: str) -> webhooks.GetEventRequest:
    """Returns the Event."""
    return webhooks.GetEventRequest(id=event_id)


def _redeliver(
    event_id: str, *, endpoint_id: str | None = None, request: webhooks.RedeliverEventRequest | None = None
) -> webhooks.RedeliverEventRequest:
    """Queues the event again for one endpoint (every matching enabled endpoint when none is given). Returns the
    new deliveries."""
    return _merged(webhooks.RedeliverEventRequest, request, id=event_id, endpoint_id=endpoint_id)


class Events(Namespace[T]):
    list = ListMethod(_rpcs.LIST_EVENTS, _list_events, lambda r: r.events)
    get = UnaryMethod(_rpcs.GET_EVENT, _get_event, lambda r: r.event)
    redeliver = UnaryMethod(_rpcs.REDELIVER_EVENT, _redeliver, lambda r: list(r.deliveries))

    @overload
    def stream(
        self: Events[BlockingTransport],
        *,
        after: str = "",
        event_types: Sequence[str] = (),
        max_reconnects: int = DEFAULT_MAX_RECONNECTS,
    ) -> EventStream: ...
    @overload
    def stream(
        self: Events[AsyncioTransport],
        *,
        after: str = "",
        event_types: Sequence[str] = (),
        max_reconnects: int = DEFAULT_MAX_RECONNECTS,
    ) -> AsyncEventStream: ...
    def stream(
        self, *, after: str = "", event_types: Sequence[str] = (), max_reconnects: int = DEFAULT_MAX_RECONNECTS
    ) -> EventStream | AsyncEventStream:
        """The tenant's events after the cursor `after` (from the oldest retained one when empty), then live.
        Resumes from the last event's cursor when the connection drops, so nothing is missed or repeated; gives
        up (raising the last error) after max_reconnects attempts in a row without an event."""
        transport: BlockingTransport | AsyncioTransport = self._transport
        if isinstance(transport, AsyncioTransport):
            return AsyncEventStream(transport, after, tuple(event_types), max_reconnects)
        return EventStream(transport, after, tuple(event_types), max_reconnects)


# API keys


def _create_api_key(
    name: str,
    *,
    permissions: Sequence[str] | None = None,
    request_id: str | None = None,
    request: api_keys.CreateApiKeyRequest | None = None,
) -> api_keys.CreateApiKeyRequest:
    """A new key with these permissions (no more than the calling key holds). Returns the CreateApiKeyResponse,
    whose `secret` is shown only here."""
    return _merged(api_keys.CreateApiKeyRequest, request, name=name, permissions=permissions, request_id=request_id)


def _list_api_keys(
    *, page_size: int | None = None, request: api_keys.ListApiKeysRequest | None = None
) -> api_keys.ListApiKeysRequest:
    """Every API key of the tenant (revoked ones included), page by page."""
    return _merged(api_keys.ListApiKeysRequest, request, page_size=page_size)


def _list_api_key_events(
    *, page_size: int | None = None, request: api_keys.ListApiKeyEventsRequest | None = None
) -> api_keys.ListApiKeyEventsRequest:
    """The tenant's audit log of key creations and revocations (who did it), newest first, page by page."""
    return _merged(api_keys.ListApiKeyEventsRequest, request, page_size=page_size)


def _revoke_api_key(key_id: str) -> api_keys.RevokeApiKeyRequest:
    """Revokes the key at once. Returns the ApiKey."""
    return api_keys.RevokeApiKeyRequest(id=key_id)


def _current_api_key() -> api_keys.GetCurrentApiKeyRequest:
    """Who am I: the calling key, its tenant, plan, effective limits and permissions (GetCurrentApiKeyResponse)."""
    return api_keys.GetCurrentApiKeyRequest()


class ApiKeys(Namespace[T]):
    create = UnaryMethod(_rpcs.CREATE_API_KEY, _create_api_key)
    list = ListMethod(_rpcs.LIST_API_KEYS, _list_api_keys, lambda r: r.api_keys)
    revoke = UnaryMethod(_rpcs.REVOKE_API_KEY, _revoke_api_key, lambda r: r.api_key)
    current = UnaryMethod(_rpcs.GET_CURRENT_API_KEY, _current_api_key)
    events = ListMethod(_rpcs.LIST_API_KEY_EVENTS, _list_api_key_events, lambda r: r.api_key_events)


# Tenants (operator)


def _create_tenant(
    name: str,
    *,
    plan: tenant_pb2.Plan | str | None = None,
    request_id: str | None = None,
    request: tenants.CreateTenantRequest | None = None,
) -> tenants.CreateTenantRequest:
    """A tenant and its first API key (every permission). plan: a Plan value or name ("STARTER"); FREE when
    omitted. Returns the CreateTenantResponse, whose `secret` is shown only here."""
    return _merged(tenants.CreateTenantRequest, request, name=name, plan=_plan(plan), request_id=request_id)


def _get_tenant(tenant_id: str) -> tenants.GetTenantRequest:
    """Returns the Tenant."""
    return tenants.GetTenantRequest(id=tenant_id)


def _list_tenants(
    *, page_size: int | None = None, request: tenants.ListTenantsRequest | None = None
) -> tenants.ListTenantsRequest:
    """Every tenant, page by page."""
    return _merged(tenants.ListTenantsRequest, request, page_size=page_size)


def _update_tenant(
    tenant_id: str,
    *,
    name: str | None = None,
    plan: tenant_pb2.Plan | str | None = None,
    limits: tenant_pb2.TenantLimits | None = None,
    request: tenants.UpdateTenantRequest | None = None,
) -> tenants.UpdateTenantRequest:
    """Changes exactly the fields given. Returns the Tenant."""
    fields: dict[str, Any] = {"name": name, "plan": _plan(plan), "limits": limits}
    tenant = tenant_pb2.Tenant(id=tenant_id, **{k: v for k, v in fields.items() if v is not None})
    mask = _mask(fields) if request is None or not request.update_mask.paths else None
    return _merged(tenants.UpdateTenantRequest, request, tenant=tenant, update_mask=mask)


class Tenants(Namespace[T]):
    create = UnaryMethod(_rpcs.CREATE_TENANT, _create_tenant)
    get = UnaryMethod(_rpcs.GET_TENANT, _get_tenant, lambda r: r.tenant)
    list = ListMethod(_rpcs.LIST_TENANTS, _list_tenants, lambda r: r.tenants)
    update = UnaryMethod(_rpcs.UPDATE_TENANT, _update_tenant, lambda r: r.tenant)


# Campaigns and their long-running operations

CampaignStatus = campaign_pb2.CampaignStatus


def _campaign_fields(
    *,
    name: str | None,
    valid_from: datetime | None,
    valid_until: datetime | None,
    max_redemptions: int | None,
    per_customer_limit: int | None,
    metadata: Mapping[str, str] | None,
    status: campaign_pb2.CampaignStatus | None,
) -> dict[str, Any]:
    return {
        "name": name,
        "valid_from": _timestamp(valid_from),
        "valid_until": _timestamp(valid_until),
        "max_redemptions": max_redemptions,
        "per_customer_limit": per_customer_limit,
        "metadata": metadata,
        "status": status,
    }


def _create_campaign(
    name: str,
    *,
    percent_off: int | None = None,
    amount_off: int | None = None,
    currency: str | None = None,
    min_order_amount: int | None = None,
    code_redemption_limit: int | None = None,
    max_redemptions: int | None = None,
    per_customer_limit: int | None = None,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    metadata: Mapping[str, str] | None = None,
    request_id: str | None = None,
    request: campaigns.CreateCampaignRequest | None = None,
) -> campaigns.CreateCampaignRequest:
    """Creates a campaign: the terms its codes inherit (each code single-use unless code_redemption_limit says
    otherwise), an optional limit across all its codes and one per customer. Returns the Campaign."""
    fields = _campaign_fields(
        name=name,
        valid_from=valid_from,
        valid_until=valid_until,
        max_redemptions=max_redemptions,
        per_customer_limit=per_customer_limit,
        metadata=metadata,
        status=None,
    )
    discount = None
    if percent_off is not None or amount_off is not None:
        discount = voucher_pb2.Discount(percent_off=percent_off, amount_off=amount_off)
    fields.update(
        discount=discount,
        currency=currency,
        min_order_amount=min_order_amount,
        code_redemption_limit=code_redemption_limit,
    )
    campaign = campaign_pb2.Campaign(**{k: v for k, v in fields.items() if v is not None})
    return _merged(campaigns.CreateCampaignRequest, request, campaign=campaign, request_id=request_id)


def _get_campaign(campaign_id: str) -> campaigns.GetCampaignRequest:
    """The campaign with its counts (codes, redemptions). Returns the Campaign."""
    return campaigns.GetCampaignRequest(id=campaign_id)


def _list_campaigns(
    *, page_size: int | None = None, request: campaigns.ListCampaignsRequest | None = None
) -> campaigns.ListCampaignsRequest:
    """Every campaign of the tenant, walked page by page as you iterate."""
    return _merged(campaigns.ListCampaignsRequest, request, page_size=page_size)


def _update_campaign(
    campaign_id: str,
    *,
    name: str | None = None,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    max_redemptions: int | None = None,
    per_customer_limit: int | None = None,
    metadata: Mapping[str, str] | None = None,
    status: campaign_pb2.CampaignStatus | None = None,
) -> campaigns.UpdateCampaignRequest:
    """Changes the fields given (and only those). Returns the Campaign."""
    fields = _campaign_fields(
        name=name,
        valid_from=valid_from,
        valid_until=valid_until,
        max_redemptions=max_redemptions,
        per_customer_limit=per_customer_limit,
        metadata=metadata,
        status=status,
    )
    campaign = campaign_pb2.Campaign(id=campaign_id, **{k: v for k, v in fields.items() if v is not None})
    return campaigns.UpdateCampaignRequest(campaign=campaign, update_mask=_mask(fields))


def _status_change(status: campaign_pb2.CampaignStatus, doc: str) -> Callable[[str], campaigns.UpdateCampaignRequest]:
    def build(campaign_id: str) -> campaigns.UpdateCampaignRequest:
        return _update_campaign(campaign_id, status=status)

    build.__doc__ = doc
    return build


def _generate_codes(
    campaign_id: str,
    count: int,
    *,
    pattern: str | None = None,
    charset: str | None = None,
    prefix: str | None = None,
    suffix: str | None = None,
    request_id: str | None = None,
) -> campaigns.GenerateCampaignCodesRequest:
    """Starts generating `count` codes into the campaign from `prefix` + `pattern` + `suffix` ("#" a digit, "?" a
    character of `charset`). Returns the google.longrunning.Operation; `client.operations.wait(op)` waits for it."""
    code_pattern = campaign_pb2.CodePattern(pattern=pattern, charset=charset, prefix=prefix, suffix=suffix)
    return campaigns.GenerateCampaignCodesRequest(
        campaign_id=campaign_id, count=count, code_pattern=code_pattern, request_id=request_id
    )


class Campaigns(Namespace[T]):
    create = UnaryMethod(_rpcs.CREATE_CAMPAIGN, _create_campaign, lambda r: r.campaign)
    get = UnaryMethod(_rpcs.GET_CAMPAIGN, _get_campaign, lambda r: r.campaign)
    list = ListMethod(_rpcs.LIST_CAMPAIGNS, _list_campaigns, lambda r: r.campaigns)
    update = UnaryMethod(_rpcs.UPDATE_CAMPAIGN, _update_campaign, lambda r: r.campaign)
    pause = UnaryMethod(
        _rpcs.UPDATE_CAMPAIGN,
        _status_change(CampaignStatus.CAMPAIGN_STATUS_PAUSED, "Pauses the campaign. Returns the Campaign."),
        lambda r: r.campaign,
    )
    resume = UnaryMethod(
        _rpcs.UPDATE_CAMPAIGN,
        _status_change(CampaignStatus.CAMPAIGN_STATUS_ACTIVE, "Resumes a paused campaign. Returns the Campaign."),
        lambda r: r.campaign,
    )
    end = UnaryMethod(
        _rpcs.UPDATE_CAMPAIGN,
        _status_change(CampaignStatus.CAMPAIGN_STATUS_ENDED, "Ends the campaign for good. Returns the Campaign."),
        lambda r: r.campaign,
    )
    generate_codes = UnaryMethod(_rpcs.GENERATE_CAMPAIGN_CODES, _generate_codes)


def _operation_name(operation: operations_pb2.Operation | str) -> str:
    return operation if isinstance(operation, str) else operation.name


def _get_operation(operation: operations_pb2.Operation | str) -> operations_pb2.GetOperationRequest:
    """The operation as it is now (its metadata carries the progress). Returns the Operation."""
    return operations_pb2.GetOperationRequest(name=_operation_name(operation))


def _list_operations(*, page_size: int | None = None) -> operations_pb2.ListOperationsRequest:
    """Every operation of the tenant, oldest first, walked page by page as you iterate."""
    return operations_pb2.ListOperationsRequest(name="operations", page_size=page_size or 0)


def _cancel_operation(operation: operations_pb2.Operation | str) -> operations_pb2.CancelOperationRequest:
    """Asks a running operation to stop after its current chunk (what it did stays)."""
    return operations_pb2.CancelOperationRequest(name=_operation_name(operation))


def _delete_operation(operation: operations_pb2.Operation | str) -> operations_pb2.DeleteOperationRequest:
    """Forgets a finished operation."""
    return operations_pb2.DeleteOperationRequest(name=_operation_name(operation))


def operation_result(operation: operations_pb2.Operation) -> operations_pb2.Operation:
    """A done operation as it is, or the typed error (e.g. OperationError, QuotaExceededError) it ended with."""
    if operation.HasField("error"):
        code = next((c for c in grpc.StatusCode if c.value[0] == operation.error.code), grpc.StatusCode.UNKNOWN)
        raise _errors.from_status(code, operation.error.message, operation.error)
    return operation


class OperationWaiter:
    """operations.wait(operation, timeout=..., poll_interval=...): polls GetOperation until the operation is done;
    returns it, or raises the typed error it ended with (DeadlineExceededError past the timeout)."""

    @overload
    def __get__(self, namespace: Namespace[BlockingTransport], owner: type[Any]) -> Callable[..., Any]: ...
    @overload
    def __get__(
        self, namespace: Namespace[AsyncioTransport], owner: type[Any]
    ) -> Callable[..., Coroutine[Any, Any, Any]]: ...
    def __get__(self, namespace: Namespace[Any], owner: type[Any]) -> Any:
        transport = namespace._transport

        def timed_out(name: str, timeout: float) -> _errors.DeadlineExceededError:
            return _errors.DeadlineExceededError(
                f"{name} was not done within {timeout:g} s; it keeps running (wait again, or cancel it)",
                grpc_code=grpc.StatusCode.DEADLINE_EXCEEDED,
            )

        if isinstance(transport, AsyncioTransport):

            async def wait_async(
                operation: operations_pb2.Operation | str, *, timeout: float = 600.0, poll_interval: float = 0.5
            ) -> operations_pb2.Operation:
                name, deadline = _operation_name(operation), time.monotonic() + timeout
                while True:
                    current = await transport.unary(_rpcs.GET_OPERATION, _get_operation(name))
                    if current.done:
                        return operation_result(current)
                    if time.monotonic() >= deadline:
                        raise timed_out(name, timeout)
                    await asyncio.sleep(poll_interval)

            return wait_async

        def wait(
            operation: operations_pb2.Operation | str, *, timeout: float = 600.0, poll_interval: float = 0.5
        ) -> operations_pb2.Operation:
            name, deadline = _operation_name(operation), time.monotonic() + timeout
            while True:
                current = transport.unary(_rpcs.GET_OPERATION, _get_operation(name))
                if current.done:
                    return operation_result(current)
                if time.monotonic() >= deadline:
                    raise timed_out(name, timeout)
                time.sleep(poll_interval)

        return wait


class Operations(Namespace[T]):
    get = UnaryMethod(_rpcs.GET_OPERATION, _get_operation)
    list = ListMethod(_rpcs.LIST_OPERATIONS, _list_operations, lambda r: r.operations)
    cancel = UnaryMethod(_rpcs.CANCEL_OPERATION, _cancel_operation, lambda r: None)
    delete = UnaryMethod(_rpcs.DELETE_OPERATION, _delete_operation, lambda r: None)
    wait = OperationWaiter()


# The status page's incidents (operator token)


def _component(value: status_pb2.MonitoredComponent | str) -> status_pb2.MonitoredComponent:
    """A MonitoredComponent value or name ("API", "WEBHOOKS", "MONITORED_COMPONENT_MCP")."""
    if isinstance(value, str):
        name = value.upper()
        return cast(status_pb2.MonitoredComponent, status_pb2.MonitoredComponent.Value(
            name if name.startswith("MONITORED_COMPONENT_") else "MONITORED_COMPONENT_" + name
        ))  # fmt: skip
    return value


def _create_incident(
    title: str,
    components: Sequence[status_pb2.MonitoredComponent | str],
    *,
    affected_plans: Sequence[tenant_pb2.Plan | str] = (),
    message: str | None = None,
    request_id: str | None = None,
    request: status.CreateIncidentRequest | None = None,
) -> status.CreateIncidentRequest:
    """Opens an incident in state Investigating. Returns the Incident."""
    return _merged(
        status.CreateIncidentRequest,
        request,
        title=title,
        components=[_component(c) for c in components],
        affected_plans=[_plan(p) for p in affected_plans],
        message=message,
        request_id=request_id,
    )


def _add_incident_update(incident_id: str, update: status_pb2.IncidentUpdate) -> status.AddIncidentUpdateRequest:
    """Appends an update (its state may move the incident on). Returns the Incident."""
    return status.AddIncidentUpdateRequest(incident_id=incident_id, update=update)


def _get_incident(incident_id: str) -> status.GetIncidentRequest:
    """Returns the Incident with its updates, newest first."""
    return status.GetIncidentRequest(id=incident_id)


def _list_incidents(
    *, page_size: int | None = None, request: status.ListIncidentsRequest | None = None
) -> status.ListIncidentsRequest:
    """Every incident, newest first, page by page."""
    return _merged(status.ListIncidentsRequest, request, page_size=page_size)


class Incidents(Namespace[T]):
    create = UnaryMethod(_rpcs.CREATE_INCIDENT, _create_incident, lambda r: r.incident)
    add_update = UnaryMethod(_rpcs.ADD_INCIDENT_UPDATE, _add_incident_update, lambda r: r.incident)
    get = UnaryMethod(_rpcs.GET_INCIDENT, _get_incident, lambda r: r.incident)
    list = ListMethod(_rpcs.LIST_INCIDENTS, _list_incidents, lambda r: r.incidents)
