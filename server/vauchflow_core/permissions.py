"""Which permission each RPC needs. The auth interceptor consults this table and nothing else."""

from __future__ import annotations

VOUCHERS_READ = "vouchers:read"
VOUCHERS_WRITE = "vouchers:write"
REDEMPTIONS_READ = "redemptions:read"
REDEMPTIONS_WRITE = "redemptions:write"
WEBHOOKS_READ = "webhooks:read"
WEBHOOKS_WRITE = "webhooks:write"
EVENTS_READ = "events:read"
API_KEYS_WRITE = "api_keys:write"

ALL_PERMISSIONS: tuple[str, ...] = (
    VOUCHERS_READ,
    VOUCHERS_WRITE,
    REDEMPTIONS_READ,
    REDEMPTIONS_WRITE,
    WEBHOOKS_READ,
    WEBHOOKS_WRITE,
    EVENTS_READ,
    API_KEYS_WRITE,
)

# Marker values for RPCs that are not authorised by a tenant permission.
OPERATOR = "operator"
PUBLIC = "public"
# Any valid tenant API key, whatever its permissions (who am I).
ANY_KEY = "any_key"

_V1 = "/vauchflow.v1."
REQUIRED_PERMISSION: dict[str, str] = {
    f"{_V1}TenantService/CreateTenant": OPERATOR,
    f"{_V1}TenantService/GetTenant": OPERATOR,
    f"{_V1}TenantService/ListTenants": OPERATOR,
    f"{_V1}TenantService/UpdateTenant": OPERATOR,
    f"{_V1}ApiKeyService/CreateApiKey": API_KEYS_WRITE,
    f"{_V1}ApiKeyService/ListApiKeys": API_KEYS_WRITE,
    f"{_V1}ApiKeyService/RevokeApiKey": API_KEYS_WRITE,
    f"{_V1}ApiKeyService/GetCurrentApiKey": ANY_KEY,
    f"{_V1}ApiKeyService/ListApiKeyEvents": API_KEYS_WRITE,
    f"{_V1}VoucherService/CreateVoucher": VOUCHERS_WRITE,
    f"{_V1}VoucherService/GetVoucher": VOUCHERS_READ,
    f"{_V1}VoucherService/ListVouchers": VOUCHERS_READ,
    f"{_V1}VoucherService/UpdateVoucher": VOUCHERS_WRITE,
    f"{_V1}VoucherService/DisableVoucher": VOUCHERS_WRITE,
    # Campaigns (issue 17): their codes are vouchers, so the voucher permissions; their operations likewise.
    f"{_V1}CampaignService/CreateCampaign": VOUCHERS_WRITE,
    f"{_V1}CampaignService/GetCampaign": VOUCHERS_READ,
    f"{_V1}CampaignService/ListCampaigns": VOUCHERS_READ,
    f"{_V1}CampaignService/UpdateCampaign": VOUCHERS_WRITE,
    f"{_V1}CampaignService/GenerateCampaignCodes": VOUCHERS_WRITE,
    "/google.longrunning.Operations/GetOperation": VOUCHERS_READ,
    "/google.longrunning.Operations/ListOperations": VOUCHERS_READ,
    "/google.longrunning.Operations/CancelOperation": VOUCHERS_WRITE,
    "/google.longrunning.Operations/DeleteOperation": VOUCHERS_WRITE,
    f"{_V1}RedemptionService/ValidateVoucher": REDEMPTIONS_READ,
    f"{_V1}RedemptionService/RedeemVoucher": REDEMPTIONS_WRITE,
    f"{_V1}RedemptionService/GetRedemption": REDEMPTIONS_READ,
    f"{_V1}RedemptionService/ListRedemptions": REDEMPTIONS_READ,
    f"{_V1}RedemptionService/RollbackRedemption": REDEMPTIONS_WRITE,
    f"{_V1}RedemptionService/GetUsageSummary": REDEMPTIONS_READ,
    f"{_V1}WebhookService/CreateWebhookEndpoint": WEBHOOKS_WRITE,
    f"{_V1}WebhookService/GetWebhookEndpoint": WEBHOOKS_READ,
    f"{_V1}WebhookService/ListWebhookEndpoints": WEBHOOKS_READ,
    f"{_V1}WebhookService/UpdateWebhookEndpoint": WEBHOOKS_WRITE,
    f"{_V1}WebhookService/DeleteWebhookEndpoint": WEBHOOKS_WRITE,
    f"{_V1}WebhookService/RotateSecret": WEBHOOKS_WRITE,
    f"{_V1}WebhookService/SendTestEvent": WEBHOOKS_WRITE,
    f"{_V1}WebhookService/ListEvents": EVENTS_READ,
    f"{_V1}WebhookService/GetEvent": EVENTS_READ,
    f"{_V1}WebhookService/ListDeliveries": WEBHOOKS_READ,
    f"{_V1}WebhookService/RedeliverEvent": WEBHOOKS_WRITE,
    f"{_V1}WebhookService/Recover": WEBHOOKS_WRITE,
    # Served by the webhook delivery service, which authorises with this same table.
    f"{_V1}EventStreamService/SubscribeEvents": EVENTS_READ,
    # The status page (issue 15): the prober and operators with the operator token; the summary is public and
    # rate-limited per client address by its servicer.
    f"{_V1}StatusService/ReportCheckResults": OPERATOR,
    f"{_V1}StatusService/GetStatusSummary": PUBLIC,
    f"{_V1}StatusService/CreateIncident": OPERATOR,
    f"{_V1}StatusService/AddIncidentUpdate": OPERATOR,
    f"{_V1}StatusService/GetIncident": OPERATOR,
    f"{_V1}StatusService/ListIncidents": OPERATOR,
    f"{_V1}StatusService/CreateSubscription": PUBLIC,
    f"{_V1}StatusService/ConfirmSubscription": PUBLIC,
    f"{_V1}StatusService/Unsubscribe": PUBLIC,
    # CSV exports and imports (issue 17): an export reads what its resource's reads may, an import writes codes.
    f"{_V1}DataExchangeService/ExportRedemptions": REDEMPTIONS_READ,
    f"{_V1}DataExchangeService/ExportCampaignCodes": VOUCHERS_READ,
    f"{_V1}DataExchangeService/ImportCampaignCodes": VOUCHERS_WRITE,
    f"{_V1}HealthService/Check": PUBLIC,
    f"{_V1}HealthService/CheckLiveness": PUBLIC,
    f"{_V1}HealthService/CheckReadiness": PUBLIC,
    "/grpc.health.v1.Health/Check": PUBLIC,
    "/grpc.health.v1.Health/Watch": PUBLIC,
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": PUBLIC,
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo": PUBLIC,
}
