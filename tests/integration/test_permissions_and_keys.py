"""Who may call what: the permission matrix read from permissions.py, bad keys, and where secrets must not end up."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.longrunning import operations_pb2
from google.protobuf import descriptor_pool, message_factory

from support.api_client import (
    ApiSession,
    OwnerDatabase,
    TenantClient,
    assert_error,
    error_info,
    expect_rpc_error,
    order,
)
from support.polling import wait_for
from support.services import MigratedPostgres
from vauchflow.v1 import (
    api_key_pb2,
    api_key_service_pb2,
    campaign_pb2,
    campaign_service_pb2,
    health_service_pb2,
    health_service_pb2_grpc,
    redemption_service_pb2,
    tenant_pb2,
    tenant_service_pb2,
    voucher_pb2,
    voucher_service_pb2,
    voucher_service_pb2_grpc,
    webhook_pb2,
    webhook_service_pb2,
)
from vauchflow_core import api_key_secrets
from vauchflow_core.permissions import ALL_PERMISSIONS, ANY_KEY, OPERATOR, PUBLIC, REQUIRED_PERMISSION
from vauchflow_core.plans import limits_for
from vauchflow_server.app import SERVICE_NAMES

# The API server's tenant RPCs (EventStreamService is served by the webhook delivery service and tested there).
# GetCurrentApiKey (ANY_KEY) takes every valid key: tests/integration/test_python_client.py calls it with a key
# holding only events:read.
TENANT_METHODS = {
    method: perm
    for method, perm in REQUIRED_PERMISSION.items()
    if perm not in (OPERATOR, PUBLIC, ANY_KEY)
    and method.split("/")[1] in SERVICE_NAMES
    # Streaming (the CSV exports and import) can't be called as unary here; tests/integration/test_csv_*.py check
    # that each needs its permission.
    and not method.startswith("/vauchflow.v1.DataExchangeService/")
}
OPERATOR_METHODS = [method for method, perm in REQUIRED_PERMISSION.items() if perm == OPERATOR]


def _message_classes(method: str) -> tuple[type, type]:
    service, name = method.lstrip("/").rsplit("/", 1)
    descriptor = descriptor_pool.Default().FindMethodByName(f"{service}.{name}")
    return (
        message_factory.GetMessageClass(descriptor.input_type),
        message_factory.GetMessageClass(descriptor.output_type),
    )


def call_method(channel: grpc.Channel, method: str, request: Any, token: str | None) -> Any:
    """Calls any unary RPC by its full path, as REQUIRED_PERMISSION names it."""
    request_class, response_class = _message_classes(method)
    assert isinstance(request, request_class), f"{method} takes {request_class.__name__}"
    callable_ = channel.unary_unary(
        method, request_serializer=request_class.SerializeToString, response_deserializer=response_class.FromString
    )
    metadata = (("authorization", f"Bearer {token}"),) if token is not None else ()
    return callable_(request, metadata=metadata, timeout=30)


def valid_requests(owner: TenantClient) -> dict[str, Callable[[], Any]]:
    """For every tenant RPC, a request that succeeds for a key holding the permission (built fresh per call)."""
    v1 = "/vauchflow.v1."

    def fresh_redemption_id() -> str:
        return owner.redeem(owner.create_voucher().code).redemption.id

    def throwaway_key_id() -> str:
        # Within api_keys:write alone: a key may revoke only keys whose permissions it holds itself.
        return owner.create_key(["api_keys:write"])[0].id

    def new_endpoint_id() -> str:
        return owner.webhooks.CreateWebhookEndpoint(
            webhook_service_pb2.CreateWebhookEndpointRequest(
                webhook_endpoint=webhook_pb2.WebhookEndpoint(url=f"http://127.0.0.1:9/{uuid.uuid4().hex}")
            )
        ).webhook_endpoint.id

    def new_campaign() -> str:
        return owner.campaigns.CreateCampaign(
            campaign_service_pb2.CreateCampaignRequest(
                campaign=campaign_pb2.Campaign(name="matrix", discount=voucher_pb2.Discount(percent_off=5))
            )
        ).campaign.id

    def operations_done() -> None:
        """Generation runs in the background: the next method's before/after snapshots must not see it write."""

        def done() -> bool:
            listed = owner.operations.ListOperations(operations_pb2.ListOperationsRequest(page_size=100))
            return all(o.done for o in listed.operations)

        wait_for(done, what="the tenant's operations done", timeout=60)

    def finished_operation() -> str:
        operation = owner.campaigns.GenerateCampaignCodes(
            campaign_service_pb2.GenerateCampaignCodesRequest(campaign_id=campaign_id, count=1)
        )
        operations_done()
        return operation.name

    def settled(build: Callable[[], Any]) -> Callable[[], Any]:
        def settled_build() -> Any:
            request = build()
            operations_done()
            return request

        return settled_build

    voucher = owner.create_voucher()
    campaign_id = new_campaign()
    operation_name = finished_operation()
    lro = "/google.longrunning.Operations/"
    campaigns = {
        f"{v1}CampaignService/CreateCampaign": settled(
            lambda: campaign_service_pb2.CreateCampaignRequest(
                campaign=campaign_pb2.Campaign(name="matrix", discount=voucher_pb2.Discount(percent_off=5))
            )
        ),
        f"{v1}CampaignService/GetCampaign": settled(lambda: campaign_service_pb2.GetCampaignRequest(id=campaign_id)),
        f"{v1}CampaignService/ListCampaigns": settled(campaign_service_pb2.ListCampaignsRequest),
        f"{v1}CampaignService/UpdateCampaign": settled(
            lambda: campaign_service_pb2.UpdateCampaignRequest(
                campaign=campaign_pb2.Campaign(id=campaign_id, metadata={"touched": "yes"})
            )
        ),
        f"{v1}CampaignService/GenerateCampaignCodes": settled(
            lambda: campaign_service_pb2.GenerateCampaignCodesRequest(campaign_id=campaign_id, count=1)
        ),
        f"{lro}GetOperation": settled(lambda: operations_pb2.GetOperationRequest(name=operation_name)),
        f"{lro}ListOperations": settled(operations_pb2.ListOperationsRequest),
        f"{lro}CancelOperation": settled(lambda: operations_pb2.CancelOperationRequest(name=operation_name)),
        f"{lro}DeleteOperation": lambda: operations_pb2.DeleteOperationRequest(name=finished_operation()),
    }
    endpoint_id = new_endpoint_id()
    event_id = owner.webhooks.SendTestEvent(webhook_service_pb2.SendTestEventRequest(id=endpoint_id)).event.id
    hooks = f"{v1}WebhookService/"
    return {
        **campaigns,
        f"{hooks}CreateWebhookEndpoint": lambda: webhook_service_pb2.CreateWebhookEndpointRequest(
            webhook_endpoint=webhook_pb2.WebhookEndpoint(url="https://hooks.example.com/matrix")
        ),
        f"{hooks}GetWebhookEndpoint": lambda: webhook_service_pb2.GetWebhookEndpointRequest(id=endpoint_id),
        f"{hooks}ListWebhookEndpoints": webhook_service_pb2.ListWebhookEndpointsRequest,
        f"{hooks}UpdateWebhookEndpoint": lambda: webhook_service_pb2.UpdateWebhookEndpointRequest(
            webhook_endpoint=webhook_pb2.WebhookEndpoint(id=endpoint_id, description="touched")
        ),
        f"{hooks}DeleteWebhookEndpoint": lambda: webhook_service_pb2.DeleteWebhookEndpointRequest(id=new_endpoint_id()),
        f"{hooks}RotateSecret": lambda: webhook_service_pb2.RotateSecretRequest(id=endpoint_id),
        f"{hooks}SendTestEvent": lambda: webhook_service_pb2.SendTestEventRequest(id=endpoint_id),
        f"{hooks}ListEvents": webhook_service_pb2.ListEventsRequest,
        f"{hooks}GetEvent": lambda: webhook_service_pb2.GetEventRequest(id=event_id),
        f"{hooks}ListDeliveries": lambda: webhook_service_pb2.ListDeliveriesRequest(endpoint_id=endpoint_id),
        f"{hooks}RedeliverEvent": lambda: webhook_service_pb2.RedeliverEventRequest(
            id=event_id, endpoint_id=endpoint_id
        ),
        f"{hooks}Recover": lambda: webhook_service_pb2.RecoverRequest(id=endpoint_id),
        # Only permissions the calling key holds can be granted (see the escalation test below).
        f"{v1}ApiKeyService/CreateApiKey": lambda: api_key_service_pb2.CreateApiKeyRequest(
            name="made by matrix", permissions=["api_keys:write"]
        ),
        f"{v1}ApiKeyService/ListApiKeys": api_key_service_pb2.ListApiKeysRequest,
        f"{v1}ApiKeyService/ListApiKeyEvents": api_key_service_pb2.ListApiKeyEventsRequest,
        f"{v1}ApiKeyService/RevokeApiKey": lambda: api_key_service_pb2.RevokeApiKeyRequest(id=throwaway_key_id()),
        f"{v1}VoucherService/CreateVoucher": lambda: voucher_service_pb2.CreateVoucherRequest(
            voucher=voucher_pb2.Voucher(discount=voucher_pb2.Discount(percent_off=5))
        ),
        f"{v1}VoucherService/GetVoucher": lambda: voucher_service_pb2.GetVoucherRequest(code=voucher.code),
        f"{v1}VoucherService/ListVouchers": voucher_service_pb2.ListVouchersRequest,
        f"{v1}VoucherService/UpdateVoucher": lambda: voucher_service_pb2.UpdateVoucherRequest(
            voucher=voucher_pb2.Voucher(code=voucher.code, metadata={"touched": "yes"})
        ),
        f"{v1}VoucherService/DisableVoucher": lambda: voucher_service_pb2.DisableVoucherRequest(
            code=owner.create_voucher().code
        ),
        f"{v1}RedemptionService/ValidateVoucher": lambda: redemption_service_pb2.ValidateVoucherRequest(
            code=voucher.code, order=order()
        ),
        f"{v1}RedemptionService/RedeemVoucher": lambda: redemption_service_pb2.RedeemVoucherRequest(
            code=voucher.code, order=order()
        ),
        f"{v1}RedemptionService/GetRedemption": lambda: redemption_service_pb2.GetRedemptionRequest(
            id=fresh_redemption_id()
        ),
        f"{v1}RedemptionService/ListRedemptions": redemption_service_pb2.ListRedemptionsRequest,
        f"{v1}RedemptionService/GetUsageSummary": redemption_service_pb2.GetUsageSummaryRequest,
        f"{v1}RedemptionService/RollbackRedemption": lambda: redemption_service_pb2.RollbackRedemptionRequest(
            id=fresh_redemption_id()
        ),
    }


def test_every_tenant_rpc_needs_its_permission_and_no_other(api: ApiSession, db: OwnerDatabase) -> None:
    owner = api.new_tenant()
    requests = valid_requests(owner)
    assert set(requests) == set(TENANT_METHODS), "a tenant RPC in permissions.py has no case in this matrix"

    for method, permission in TENANT_METHODS.items():
        _, all_but_one = owner.create_key([p for p in ALL_PERMISSIONS if p != permission], name=f"no {permission}")
        _, only_this = owner.create_key([permission], name=f"only {permission}")
        request = requests[method]()

        before = db.tenant_snapshot(owner.id)
        error = expect_rpc_error(call_method, api.channel, method, request, all_but_one)
        assert_error(error, grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_MISSING")
        assert error_info(error).metadata["permission"] == permission, method
        assert db.tenant_snapshot(owner.id) == before, f"{method} changed data without its permission"

        call_method(api.channel, method, request, only_this)  # the one permission is enough


def test_revoked_key_is_refused(api: ApiSession) -> None:
    tenant = api.new_tenant()
    key, secret = tenant.create_key(["vouchers:read"])
    reader = tenant.with_key(secret)
    reader.vouchers.ListVouchers(voucher_service_pb2.ListVouchersRequest())

    revoked = tenant.api_keys.RevokeApiKey(api_key_service_pb2.RevokeApiKeyRequest(id=key.id)).api_key
    assert revoked.HasField("revoke_time")

    error = expect_rpc_error(reader.vouchers.ListVouchers, voucher_service_pb2.ListVouchersRequest())
    assert_error(error, grpc.StatusCode.UNAUTHENTICATED, "API_KEY_INVALID")
    listed = {k.id: k for k in tenant.api_keys.ListApiKeys(api_key_service_pb2.ListApiKeysRequest()).api_keys}
    assert listed[key.id].HasField("revoke_time")
    # Revoking again is harmless and keeps the first revoke time.
    again = tenant.api_keys.RevokeApiKey(api_key_service_pb2.RevokeApiKeyRequest(id=key.id)).api_key
    assert again.revoke_time == revoked.revoke_time


def test_a_key_can_revoke_itself_and_is_refused_afterwards(api: ApiSession) -> None:
    tenant = api.new_tenant()
    tenant.api_keys.RevokeApiKey(api_key_service_pb2.RevokeApiKeyRequest(id=tenant.api_key.id))
    error = expect_rpc_error(tenant.vouchers.ListVouchers, voucher_service_pb2.ListVouchersRequest())
    assert_error(error, grpc.StatusCode.UNAUTHENTICATED, "API_KEY_INVALID")


def _bad_keys(secret: str) -> dict[str, str]:
    body = secret[len(api_key_secrets.PREFIX) :]
    flipped_last = body[:-1] + ("A" if body[-1] != "A" else "B")
    unknown = api_key_secrets.generate().secret
    assert api_key_secrets.is_well_formed(unknown)
    return {
        "bad checksum": api_key_secrets.PREFIX + flipped_last,
        "changed random part": api_key_secrets.PREFIX + ("x" if body[0] != "x" else "y") + body[1:],
        "wrong prefix": "vf_pk_" + body,
        "no prefix": body,
        "truncated": secret[:-1],
        "extended": secret + "0",
        "lower-cased": secret.lower() if secret.lower() != secret else secret.upper(),
        "well-formed but never issued": unknown,
        "empty-ish": "vf_sk_",
        "operator token": "",  # filled in by the test: the operator token is not a tenant key
    }


def test_malformed_and_unknown_keys_are_unauthenticated(api: ApiSession) -> None:
    tenant = api.new_tenant()
    tenant.vouchers.ListVouchers(voucher_service_pb2.ListVouchersRequest())  # the real key works
    cases = _bad_keys(tenant.secret)
    cases["operator token"] = api.server.admin_token
    for label, bad in cases.items():
        assert bad != tenant.secret, label
        stub = api.stub(voucher_service_pb2_grpc.VoucherServiceStub, bad)
        error = expect_rpc_error(stub.ListVouchers, voucher_service_pb2.ListVouchersRequest())
        assert_error(error, grpc.StatusCode.UNAUTHENTICATED, "API_KEY_INVALID")
        assert bad not in (error.details() or ""), f"{label}: the refused secret was echoed back"


def test_missing_or_non_bearer_credentials_are_unauthenticated(api: ApiSession) -> None:
    tenant = api.new_tenant()
    stub = voucher_service_pb2_grpc.VoucherServiceStub(api.channel)
    request = voucher_service_pb2.ListVouchersRequest()
    for metadata in ((), (("authorization", "Bearer "),), (("authorization", f"Basic {tenant.secret}"),),
                     (("authorization", tenant.secret),), (("x-api-key", tenant.secret),)):  # fmt: skip
        error = expect_rpc_error(stub.ListVouchers, request, metadata=metadata, timeout=30)
        assert_error(error, grpc.StatusCode.UNAUTHENTICATED, "API_KEY_INVALID")
    # The scheme is case-insensitive, as HTTP says.
    stub.ListVouchers(request, metadata=(("authorization", f"bearer {tenant.secret}"),), timeout=30)


def test_tenant_service_refuses_tenant_keys_and_missing_tokens(api: ApiSession) -> None:
    tenant = api.new_tenant()
    requests = {
        "/vauchflow.v1.TenantService/CreateTenant": tenant_service_pb2.CreateTenantRequest(name="sneaky"),
        "/vauchflow.v1.TenantService/GetTenant": tenant_service_pb2.GetTenantRequest(id=tenant.id),
        "/vauchflow.v1.TenantService/ListTenants": tenant_service_pb2.ListTenantsRequest(),
        "/vauchflow.v1.TenantService/UpdateTenant": tenant_service_pb2.UpdateTenantRequest(
            tenant=tenant_pb2.Tenant(id=tenant.id, plan=tenant_pb2.PLAN_ENTERPRISE)
        ),
    }
    # StatusService's operator calls are refused the same way in tests/e2e/test_status_incidents.py (kept apart:
    # more wrong tokens from one address here would trip the per-address limit on failed authentications).
    assert set(requests) == {m for m in OPERATOR_METHODS if m.startswith("/vauchflow.v1.TenantService/")}
    for method, request in requests.items():
        for token in (tenant.secret, None, api.server.admin_token + "x", api.server.admin_token[:-1]):
            error = expect_rpc_error(call_method, api.channel, method, request, token)
            assert_error(error, grpc.StatusCode.UNAUTHENTICATED, "API_KEY_INVALID")
    assert api.tenants.GetTenant(tenant_service_pb2.GetTenantRequest(id=tenant.id)).tenant.plan == tenant.tenant.plan


def test_health_needs_no_credentials(api: ApiSession) -> None:
    response = health_service_pb2_grpc.HealthServiceStub(api.channel).Check(
        health_service_pb2.CheckRequest(), timeout=30
    )
    assert response.status == "UP"


def test_api_keys_are_shown_once_and_listed_without_secrets(api: ApiSession) -> None:
    tenant = api.new_tenant()
    key, secret = tenant.create_key(["vouchers:read", "vouchers:read", "redemptions:read"], name="reader")
    assert api_key_secrets.is_well_formed(secret)
    assert sorted(key.permissions) == ["redemptions:read", "vouchers:read"]
    assert secret.startswith(key.secret_prefix) and len(key.secret_prefix) < len(secret) // 2
    listed = tenant.api_keys.ListApiKeys(api_key_service_pb2.ListApiKeysRequest()).api_keys
    assert {k.id for k in listed} == {tenant.api_key.id, key.id}
    assert all(secret not in str(k) and tenant.secret not in str(k) for k in listed)


def test_no_api_key_secret_in_a_database_dump_or_the_server_log(
    api: ApiSession, postgres: MigratedPostgres, db: OwnerDatabase
) -> None:
    tenant = api.new_tenant("secret keeper")
    secrets = {"first key": tenant.secret}
    _, secrets["second key"] = tenant.create_key(list(ALL_PERMISSIONS), name="second")
    revoked, secrets["revoked key"] = tenant.create_key(["vouchers:read"], name="revoked")
    tenant.api_keys.RevokeApiKey(api_key_service_pb2.RevokeApiKeyRequest(id=revoked.id))
    # Use each key, so authentication and error paths have had every chance to log it.
    for secret in secrets.values():
        try:
            tenant.with_key(secret).vouchers.ListVouchers(voucher_service_pb2.ListVouchersRequest())
        except grpc.RpcError as error:
            assert_error(error, grpc.StatusCode.UNAUTHENTICATED, "API_KEY_INVALID")
    expect_rpc_error(tenant.vouchers.GetVoucher, voucher_service_pb2.GetVoucherRequest(code="NO-SUCH-VOUCHER"))
    assert db.fetchval("SELECT count(*) FROM api_keys WHERE tenant_id = $1", uuid.UUID(tenant.id)) == 3

    dump = subprocess.run(
        [str(postgres.bin_dir / "pg_dump"), "--no-owner", "--data-only", "--dbname", api.server.owner_dsn],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert dump.returncode == 0, dump.stderr
    assert "COPY public.api_keys" in dump.stdout
    assert tenant.id in dump.stdout  # the dump does hold this tenant's rows
    log = api.server.log_path.read_text(errors="replace")
    for label, secret in secrets.items():
        random_part = secret[len(api_key_secrets.PREFIX) :]
        assert random_part not in dump.stdout, f"the {label}'s secret is in the database dump"
        assert random_part not in log, f"the {label}'s secret is in the server log"


def test_a_key_cannot_create_a_key_with_permissions_it_does_not_hold(api: ApiSession) -> None:
    tenant = api.new_tenant()
    _, key_manager_secret = tenant.create_key(["api_keys:write"], name="key manager")
    key_manager = tenant.with_key(key_manager_secret)
    for permissions in (["vouchers:write"], ["api_keys:write", "redemptions:write"], list(ALL_PERMISSIONS)):
        with pytest.raises(grpc.RpcError) as raised:
            key_manager.api_keys.CreateApiKey(
                api_key_service_pb2.CreateApiKeyRequest(name="escalated", permissions=permissions)
            )
        assert_error(raised.value, grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_MISSING")
    # Within its own permissions it still works, and nothing was created by the refused calls.
    created = key_manager.api_keys.CreateApiKey(
        api_key_service_pb2.CreateApiKeyRequest(name="another manager", permissions=["api_keys:write"])
    )
    assert list(created.api_key.permissions) == ["api_keys:write"]
    listed = tenant.api_keys.ListApiKeys(api_key_service_pb2.ListApiKeysRequest()).api_keys
    assert sorted(k.name for k in listed) == sorted(["default", "key manager", "another manager"])


def test_a_key_that_may_only_validate_sees_the_checkouts_view_of_the_voucher(api: ApiSession) -> None:
    """redemptions:read covers validating a code, not reading the voucher: no metadata, counts or limits."""
    tenant = api.new_tenant()
    voucher = tenant.create_voucher(currency="EUR", max_redemptions=5, metadata={"internal": "cost centre 7"})
    _, secret = tenant.create_key(["redemptions:read"], name="checkout")
    answer = tenant.with_key(secret).redemptions.ValidateVoucher(
        redemption_service_pb2.ValidateVoucherRequest(code=voucher.code, order=order(currency="EUR"))
    )
    assert answer.valid and answer.voucher.code == voucher.code
    assert answer.voucher.discount == voucher.discount and answer.voucher.currency == "EUR"
    assert dict(answer.voucher.metadata) == {} and not answer.voucher.HasField("max_redemptions")
    # A key that may read vouchers sees all of it.
    _, reader = tenant.create_key(["redemptions:read", "vouchers:read"], name="back office")
    full = tenant.with_key(reader).redemptions.ValidateVoucher(
        redemption_service_pb2.ValidateVoucherRequest(code=voucher.code, order=order(currency="EUR"))
    )
    assert dict(full.voucher.metadata) == {"internal": "cost centre 7"} and full.voucher.max_redemptions == 5


def test_a_key_may_revoke_only_keys_within_its_own_permissions_and_the_audit_log_says_who(
    api: ApiSession, db: OwnerDatabase
) -> None:
    """Issue 16, finding 5: an api_keys:write-only key can't revoke the all-powerful first key."""
    tenant = api.new_tenant()
    manager_key, manager_secret = tenant.create_key(["api_keys:write"], name="key manager")
    manager = tenant.with_key(manager_secret)
    error = expect_rpc_error(
        manager.api_keys.RevokeApiKey, api_key_service_pb2.RevokeApiKeyRequest(id=tenant.api_key.id)
    )
    assert_error(error, grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_MISSING")
    assert "vouchers:read" in (error.details() or "")
    # The default key still works.
    tenant.vouchers.ListVouchers(voucher_service_pb2.ListVouchersRequest())
    # Within its permissions it may: the key it minted, and itself.
    minted = manager.api_keys.CreateApiKey(
        api_key_service_pb2.CreateApiKeyRequest(name="minted", permissions=["api_keys:write"])
    ).api_key
    manager.api_keys.RevokeApiKey(api_key_service_pb2.RevokeApiKeyRequest(id=minted.id))
    # The record: who minted what, and every creation and revocation in order.
    created_by = db.fetchval("SELECT created_by_key_id::text FROM api_keys WHERE id = $1", uuid.UUID(minted.id))
    assert created_by == manager_key.id
    assert db.fetchval("SELECT created_by_key_id FROM api_keys WHERE id = $1", uuid.UUID(tenant.api_key.id)) is None
    log = db.fetch(
        "SELECT action, key_id::text, actor_key_id::text FROM api_key_audit_events WHERE tenant_id = $1 ORDER BY id",
        uuid.UUID(tenant.id),
    )
    assert [tuple(r) for r in log] == [
        ("CREATED", tenant.api_key.id, None),
        ("CREATED", manager_key.id, tenant.api_key.id),
        ("CREATED", minted.id, manager_key.id),
        ("REVOKED", minted.id, manager_key.id),
    ]
    # Revoking again changes nothing and logs nothing.
    manager.api_keys.RevokeApiKey(api_key_service_pb2.RevokeApiKeyRequest(id=minted.id))
    assert db.fetchval("SELECT count(*) FROM api_key_audit_events WHERE tenant_id = $1", uuid.UUID(tenant.id)) == 4
    # The tenant reads the same log through the API, newest first, page by page.
    pages, token = [], ""
    while True:
        page = manager.api_keys.ListApiKeyEvents(
            api_key_service_pb2.ListApiKeyEventsRequest(page_size=3, page_token=token)
        )
        pages.append(page.api_key_events)
        token = page.next_page_token
        if not token:
            break
    listed = [event for events in pages for event in events]
    assert [len(events) for events in pages] == [3, 1]
    assert [(api_key_pb2.ApiKeyEventAction.Name(e.action), e.api_key_id, e.actor_api_key_id) for e in listed] == [
        ("API_KEY_EVENT_ACTION_REVOKED", minted.id, manager_key.id),
        ("API_KEY_EVENT_ACTION_CREATED", minted.id, manager_key.id),
        ("API_KEY_EVENT_ACTION_CREATED", manager_key.id, tenant.api_key.id),
        ("API_KEY_EVENT_ACTION_CREATED", tenant.api_key.id, ""),
    ]
    assert minted.created_by_key_id == manager_key.id and tenant.api_key.created_by_key_id == ""


def test_a_plan_caps_the_active_keys_and_revoking_one_frees_a_slot(api: ApiSession) -> None:
    tenant = api.new_tenant(plan=tenant_pb2.PLAN_FREE)
    cap = limits_for("FREE").active_api_keys
    assert cap is not None
    keys = [tenant.create_key(["vouchers:read"], name=f"key {n}")[0] for n in range(cap - 1)]  # + the first key
    error = expect_rpc_error(tenant.create_key, ["vouchers:read"], name="one too many")
    assert_error(error, grpc.StatusCode.RESOURCE_EXHAUSTED, "PLAN_QUOTA_EXCEEDED")
    tenant.api_keys.RevokeApiKey(api_key_service_pb2.RevokeApiKeyRequest(id=keys[0].id))
    tenant.create_key(["vouchers:read"], name="after a revocation")
