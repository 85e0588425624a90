"""Every RPC the client calls, written once as data: its stub method, message types and retry rule.

The retry rule is the googleapis way of saying which calls may be repeated safely:
  SAFE             no side effects (reads, ValidateVoucher): retried.
  WITH_REQUEST_ID  a mutation that takes an idempotency key: retried with the same request_id, which the client
                   generates when the caller gave none, so a retry replays the first result instead of repeating it.
  NEVER            a mutation without a request_id (rollback, disable, rotate secret, redeliver, ...): the failed
                   attempt may have been applied, so it is never retried.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from google.api import httpbody_pb2
from google.longrunning import operations_pb2 as operations
from google.longrunning import operations_pb2_grpc
from google.protobuf import empty_pb2
from google.protobuf.message import Message

from vauchflow.v1 import (
    api_key_service_pb2 as api_keys,
)
from vauchflow.v1 import (
    api_key_service_pb2_grpc,
    campaign_service_pb2_grpc,
    data_exchange_service_pb2_grpc,
    event_stream_service_pb2_grpc,
    redemption_service_pb2_grpc,
    status_service_pb2_grpc,
    tenant_service_pb2_grpc,
    voucher_service_pb2_grpc,
    webhook_service_pb2_grpc,
)
from vauchflow.v1 import (
    campaign_service_pb2 as campaigns,
)
from vauchflow.v1 import (
    data_exchange_service_pb2 as data_exchange,
)
from vauchflow.v1 import (
    event_stream_service_pb2 as event_stream,
)
from vauchflow.v1 import (
    redemption_service_pb2 as redemptions,
)
from vauchflow.v1 import (
    status_service_pb2 as status,
)
from vauchflow.v1 import (
    tenant_service_pb2 as tenants,
)
from vauchflow.v1 import (
    voucher_service_pb2 as vouchers,
)
from vauchflow.v1 import (
    webhook_service_pb2 as webhooks,
)

Req = TypeVar("Req", bound=Message)
Resp = TypeVar("Resp", bound=Message)


class Retry(enum.Enum):
    SAFE = "safe"
    WITH_REQUEST_ID = "with_request_id"
    NEVER = "never"


@dataclass(frozen=True)
class Rpc(Generic[Req, Resp]):
    stub: type[Any]  # the generated stub class of the service
    method: str
    request_type: type[Req]
    response_type: type[Resp]
    retry: Retry
    package: str = "vauchflow.v1"

    @property
    def service(self) -> str:
        return self.stub.__name__.removesuffix("Stub")

    @property
    def full_method(self) -> str:
        return f"/{self.package}.{self.service}/{self.method}"


_S, _ID, _NO = Retry.SAFE, Retry.WITH_REQUEST_ID, Retry.NEVER
_VOUCHERS = voucher_service_pb2_grpc.VoucherServiceStub
_REDEMPTIONS = redemption_service_pb2_grpc.RedemptionServiceStub
_WEBHOOKS = webhook_service_pb2_grpc.WebhookServiceStub
_API_KEYS = api_key_service_pb2_grpc.ApiKeyServiceStub
_TENANTS = tenant_service_pb2_grpc.TenantServiceStub
_EVENT_STREAM = event_stream_service_pb2_grpc.EventStreamServiceStub
_CAMPAIGNS = campaign_service_pb2_grpc.CampaignServiceStub
_OPERATIONS = operations_pb2_grpc.OperationsStub
_LRO = "google.longrunning"
_STATUS = status_service_pb2_grpc.StatusServiceStub

CREATE_VOUCHER = Rpc(_VOUCHERS, "CreateVoucher", vouchers.CreateVoucherRequest, vouchers.CreateVoucherResponse, _ID)
GET_VOUCHER = Rpc(_VOUCHERS, "GetVoucher", vouchers.GetVoucherRequest, vouchers.GetVoucherResponse, _S)
LIST_VOUCHERS = Rpc(_VOUCHERS, "ListVouchers", vouchers.ListVouchersRequest, vouchers.ListVouchersResponse, _S)
# Applying the same change twice leaves the same voucher, but emits a second voucher.updated event.
UPDATE_VOUCHER = Rpc(_VOUCHERS, "UpdateVoucher", vouchers.UpdateVoucherRequest, vouchers.UpdateVoucherResponse, _NO)
DISABLE_VOUCHER = Rpc(_VOUCHERS, "DisableVoucher", vouchers.DisableVoucherRequest, vouchers.DisableVoucherResponse, _NO)

VALIDATE_VOUCHER = Rpc(
    _REDEMPTIONS, "ValidateVoucher", redemptions.ValidateVoucherRequest, redemptions.ValidateVoucherResponse, _S
)
REDEEM_VOUCHER = Rpc(
    _REDEMPTIONS, "RedeemVoucher", redemptions.RedeemVoucherRequest, redemptions.RedeemVoucherResponse, _ID
)
GET_REDEMPTION = Rpc(
    _REDEMPTIONS, "GetRedemption", redemptions.GetRedemptionRequest, redemptions.GetRedemptionResponse, _S
)
LIST_REDEMPTIONS = Rpc(
    _REDEMPTIONS, "ListRedemptions", redemptions.ListRedemptionsRequest, redemptions.ListRedemptionsResponse, _S
)
GET_USAGE_SUMMARY = Rpc(
    _REDEMPTIONS, "GetUsageSummary", redemptions.GetUsageSummaryRequest, redemptions.GetUsageSummaryResponse, _S
)
ROLLBACK_REDEMPTION = Rpc(
    _REDEMPTIONS,
    "RollbackRedemption",
    redemptions.RollbackRedemptionRequest,
    redemptions.RollbackRedemptionResponse,
    _NO,
)

CREATE_CAMPAIGN = Rpc(
    _CAMPAIGNS, "CreateCampaign", campaigns.CreateCampaignRequest, campaigns.CreateCampaignResponse, _ID
)
GET_CAMPAIGN = Rpc(_CAMPAIGNS, "GetCampaign", campaigns.GetCampaignRequest, campaigns.GetCampaignResponse, _S)
LIST_CAMPAIGNS = Rpc(_CAMPAIGNS, "ListCampaigns", campaigns.ListCampaignsRequest, campaigns.ListCampaignsResponse, _S)
UPDATE_CAMPAIGN = Rpc(
    _CAMPAIGNS, "UpdateCampaign", campaigns.UpdateCampaignRequest, campaigns.UpdateCampaignResponse, _NO
)
GENERATE_CAMPAIGN_CODES = Rpc(
    _CAMPAIGNS, "GenerateCampaignCodes", campaigns.GenerateCampaignCodesRequest, operations.Operation, _ID
)
# google.longrunning.Operations (campaign code generation). Cancel asks once: a failed attempt is not repeated.
GET_OPERATION = Rpc(_OPERATIONS, "GetOperation", operations.GetOperationRequest, operations.Operation, _S, _LRO)
LIST_OPERATIONS = Rpc(
    _OPERATIONS, "ListOperations", operations.ListOperationsRequest, operations.ListOperationsResponse, _S, _LRO
)
CANCEL_OPERATION = Rpc(_OPERATIONS, "CancelOperation", operations.CancelOperationRequest, empty_pb2.Empty, _NO, _LRO)
DELETE_OPERATION = Rpc(_OPERATIONS, "DeleteOperation", operations.DeleteOperationRequest, empty_pb2.Empty, _NO, _LRO)

CREATE_WEBHOOK_ENDPOINT = Rpc(
    _WEBHOOKS,
    "CreateWebhookEndpoint",
    webhooks.CreateWebhookEndpointRequest,
    webhooks.CreateWebhookEndpointResponse,
    _ID,
)
GET_WEBHOOK_ENDPOINT = Rpc(
    _WEBHOOKS, "GetWebhookEndpoint", webhooks.GetWebhookEndpointRequest, webhooks.GetWebhookEndpointResponse, _S
)
LIST_WEBHOOK_ENDPOINTS = Rpc(
    _WEBHOOKS,
    "ListWebhookEndpoints",
    webhooks.ListWebhookEndpointsRequest,
    webhooks.ListWebhookEndpointsResponse,
    _S,
)
UPDATE_WEBHOOK_ENDPOINT = Rpc(
    _WEBHOOKS,
    "UpdateWebhookEndpoint",
    webhooks.UpdateWebhookEndpointRequest,
    webhooks.UpdateWebhookEndpointResponse,
    _NO,
)
# A repeated delete would answer NOT_FOUND for a delete that succeeded.
DELETE_WEBHOOK_ENDPOINT = Rpc(
    _WEBHOOKS,
    "DeleteWebhookEndpoint",
    webhooks.DeleteWebhookEndpointRequest,
    webhooks.DeleteWebhookEndpointResponse,
    _NO,
)
ROTATE_SECRET = Rpc(_WEBHOOKS, "RotateSecret", webhooks.RotateSecretRequest, webhooks.RotateSecretResponse, _NO)
SEND_TEST_EVENT = Rpc(_WEBHOOKS, "SendTestEvent", webhooks.SendTestEventRequest, webhooks.SendTestEventResponse, _NO)
LIST_EVENTS = Rpc(_WEBHOOKS, "ListEvents", webhooks.ListEventsRequest, webhooks.ListEventsResponse, _S)
GET_EVENT = Rpc(_WEBHOOKS, "GetEvent", webhooks.GetEventRequest, webhooks.GetEventResponse, _S)
LIST_DELIVERIES = Rpc(_WEBHOOKS, "ListDeliveries", webhooks.ListDeliveriesRequest, webhooks.ListDeliveriesResponse, _S)
REDELIVER_EVENT = Rpc(_WEBHOOKS, "RedeliverEvent", webhooks.RedeliverEventRequest, webhooks.RedeliverEventResponse, _NO)
RECOVER = Rpc(_WEBHOOKS, "Recover", webhooks.RecoverRequest, webhooks.RecoverResponse, _NO)

CREATE_API_KEY = Rpc(_API_KEYS, "CreateApiKey", api_keys.CreateApiKeyRequest, api_keys.CreateApiKeyResponse, _ID)
LIST_API_KEYS = Rpc(_API_KEYS, "ListApiKeys", api_keys.ListApiKeysRequest, api_keys.ListApiKeysResponse, _S)
REVOKE_API_KEY = Rpc(_API_KEYS, "RevokeApiKey", api_keys.RevokeApiKeyRequest, api_keys.RevokeApiKeyResponse, _NO)
GET_CURRENT_API_KEY = Rpc(
    _API_KEYS, "GetCurrentApiKey", api_keys.GetCurrentApiKeyRequest, api_keys.GetCurrentApiKeyResponse, _S
)
LIST_API_KEY_EVENTS = Rpc(
    _API_KEYS, "ListApiKeyEvents", api_keys.ListApiKeyEventsRequest, api_keys.ListApiKeyEventsResponse, _S
)

CREATE_TENANT = Rpc(_TENANTS, "CreateTenant", tenants.CreateTenantRequest, tenants.CreateTenantResponse, _ID)
GET_TENANT = Rpc(_TENANTS, "GetTenant", tenants.GetTenantRequest, tenants.GetTenantResponse, _S)
LIST_TENANTS = Rpc(_TENANTS, "ListTenants", tenants.ListTenantsRequest, tenants.ListTenantsResponse, _S)
UPDATE_TENANT = Rpc(_TENANTS, "UpdateTenant", tenants.UpdateTenantRequest, tenants.UpdateTenantResponse, _NO)

CREATE_INCIDENT = Rpc(_STATUS, "CreateIncident", status.CreateIncidentRequest, status.CreateIncidentResponse, _ID)
# Each call appends to the incident's history: a retry after an unknown outcome could post the update twice.
ADD_INCIDENT_UPDATE = Rpc(
    _STATUS, "AddIncidentUpdate", status.AddIncidentUpdateRequest, status.AddIncidentUpdateResponse, _NO
)
GET_INCIDENT = Rpc(_STATUS, "GetIncident", status.GetIncidentRequest, status.GetIncidentResponse, _S)
LIST_INCIDENTS = Rpc(_STATUS, "ListIncidents", status.ListIncidentsRequest, status.ListIncidentsResponse, _S)
# The rest of StatusService (the prober's reports, the public summary and subscriptions) is listed so the table
# stays complete; the client offers methods for the operator's incidents only.
REPORT_CHECK_RESULTS = Rpc(
    _STATUS, "ReportCheckResults", status.ReportCheckResultsRequest, status.ReportCheckResultsResponse, _NO
)
GET_STATUS_SUMMARY = Rpc(
    _STATUS, "GetStatusSummary", status.GetStatusSummaryRequest, status.GetStatusSummaryResponse, _S
)
CREATE_SUBSCRIPTION = Rpc(
    _STATUS, "CreateSubscription", status.CreateSubscriptionRequest, status.CreateSubscriptionResponse, _NO
)
CONFIRM_SUBSCRIPTION = Rpc(
    _STATUS, "ConfirmSubscription", status.ConfirmSubscriptionRequest, status.ConfirmSubscriptionResponse, _NO
)
UNSUBSCRIBE = Rpc(_STATUS, "Unsubscribe", status.UnsubscribeRequest, status.UnsubscribeResponse, _NO)

# A stream resumes from its last cursor rather than being retried from the start (see _event_stream.py).
SUBSCRIBE_EVENTS = Rpc(
    _EVENT_STREAM,
    "SubscribeEvents",
    event_stream.SubscribeEventsRequest,
    event_stream.SubscribeEventsResponse,
    _S,
)

# CSV: exports are reads (SAFE), but a broken download is not restarted behind the caller's back (it would repeat
# the rows already read); an import reads its file once and is never retried.
_DATA_EXCHANGE = data_exchange_service_pb2_grpc.DataExchangeServiceStub
EXPORT_REDEMPTIONS = Rpc(
    _DATA_EXCHANGE, "ExportRedemptions", data_exchange.ExportRedemptionsRequest, httpbody_pb2.HttpBody, _S
)
EXPORT_CAMPAIGN_CODES = Rpc(
    _DATA_EXCHANGE, "ExportCampaignCodes", data_exchange.ExportCampaignCodesRequest, httpbody_pb2.HttpBody, _S
)
IMPORT_CAMPAIGN_CODES = Rpc(
    _DATA_EXCHANGE,
    "ImportCampaignCodes",
    data_exchange.ImportCampaignCodesRequest,
    data_exchange.ImportCampaignCodesResponse,
    _NO,
)

ALL: tuple[Rpc[Any, Any], ...] = tuple(value for value in list(globals().values()) if isinstance(value, Rpc))
