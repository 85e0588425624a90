"""Over gRPC, another tenant's voucher codes, redemption ids and key ids do not exist: NOT_FOUND, nothing changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from google.longrunning import operations_pb2
from google.protobuf import field_mask_pb2

from support.api_client import ApiSession, OwnerDatabase, TenantClient, assert_error, expect_rpc_error, order
from support.polling import wait_for
from vauchflow.v1 import (
    api_key_service_pb2,
    campaign_pb2,
    campaign_service_pb2,
    redemption_service_pb2,
    voucher_pb2,
    voucher_service_pb2,
    webhook_pb2,
    webhook_service_pb2,
)


def cross_tenant_calls(b: TenantClient, code: str, redemption_id: str, key_id: str) -> dict[str, Callable[[], Any]]:
    """Every RPC that takes a voucher code, redemption id or key id, aimed by tenant B at tenant A's."""
    return {
        "GetVoucher": lambda: b.vouchers.GetVoucher(voucher_service_pb2.GetVoucherRequest(code=code)),
        "UpdateVoucher": lambda: b.vouchers.UpdateVoucher(
            voucher_service_pb2.UpdateVoucherRequest(
                voucher=voucher_pb2.Voucher(code=code, discount=voucher_pb2.Discount(percent_off=99)),
                update_mask=field_mask_pb2.FieldMask(paths=["discount"]),
            )
        ),
        "DisableVoucher": lambda: b.vouchers.DisableVoucher(voucher_service_pb2.DisableVoucherRequest(code=code)),
        "ValidateVoucher": lambda: b.redemptions.ValidateVoucher(
            redemption_service_pb2.ValidateVoucherRequest(code=code, order=order())
        ),
        "RedeemVoucher": lambda: b.redemptions.RedeemVoucher(
            redemption_service_pb2.RedeemVoucherRequest(code=code, order=order())
        ),
        "RedeemVoucher(request_id)": lambda: b.redemptions.RedeemVoucher(
            redemption_service_pb2.RedeemVoucherRequest(code=code, order=order(), request_id="isolation-probe")
        ),
        "GetRedemption": lambda: b.redemptions.GetRedemption(
            redemption_service_pb2.GetRedemptionRequest(id=redemption_id)
        ),
        "RollbackRedemption": lambda: b.redemptions.RollbackRedemption(
            redemption_service_pb2.RollbackRedemptionRequest(id=redemption_id, reason="not mine")
        ),
        "ListRedemptions(voucher_code)": lambda: b.redemptions.ListRedemptions(
            redemption_service_pb2.ListRedemptionsRequest(voucher_code=code)
        ),
        "RevokeApiKey": lambda: b.api_keys.RevokeApiKey(api_key_service_pb2.RevokeApiKeyRequest(id=key_id)),
    }


EXPECTED_REASONS = {
    "GetVoucher": "VOUCHER_NOT_FOUND",
    "UpdateVoucher": "VOUCHER_NOT_FOUND",
    "DisableVoucher": "VOUCHER_NOT_FOUND",
    "ValidateVoucher": "VOUCHER_NOT_FOUND",
    "RedeemVoucher": "VOUCHER_NOT_FOUND",
    "RedeemVoucher(request_id)": "VOUCHER_NOT_FOUND",
    "GetRedemption": "REDEMPTION_NOT_FOUND",
    "RollbackRedemption": "REDEMPTION_NOT_FOUND",
    "ListRedemptions(voucher_code)": "VOUCHER_NOT_FOUND",
    "RevokeApiKey": "API_KEY_NOT_FOUND",
}


def test_tenant_b_gets_not_found_for_every_rpc_on_tenant_a_resources(api: ApiSession, db: OwnerDatabase) -> None:
    a, b = api.new_tenant("tenant A"), api.new_tenant("tenant B")
    voucher = a.create_voucher(max_redemptions=5, per_customer_limit=2)
    redemption = a.redeem(voucher.code, customer_id="alice").redemption
    a_key, a_secret = a.create_key(["vouchers:read"], name="A's reader")
    before_a = db.tenant_snapshot(a.id)
    before_b = db.tenant_snapshot(b.id)

    calls = cross_tenant_calls(b, voucher.code, redemption.id, a_key.id)
    assert set(calls) == set(EXPECTED_REASONS)
    for name, call in calls.items():
        error = expect_rpc_error(call)
        assert_error(error, grpc.StatusCode.NOT_FOUND, EXPECTED_REASONS[name])

    assert db.tenant_snapshot(a.id) == before_a, "tenant B changed tenant A's data"
    assert db.tenant_snapshot(b.id) == before_b, "a refused call wrote to tenant B"
    # A still sees and uses everything as before, including the key B tried to revoke.
    assert a.vouchers.GetVoucher(voucher_service_pb2.GetVoucherRequest(code=voucher.code)).voucher.redemption_count == 1
    got = a.redemptions.GetRedemption(redemption_service_pb2.GetRedemptionRequest(id=redemption.id)).redemption
    assert got.status == redemption.status
    reader = a.with_key(a_secret)
    assert reader.vouchers.GetVoucher(voucher_service_pb2.GetVoucherRequest(code=voucher.code)).voucher.id == voucher.id


def test_lists_show_only_the_callers_own_resources(api: ApiSession) -> None:
    a, b = api.new_tenant("tenant A"), api.new_tenant("tenant B")
    a_voucher = a.create_voucher()
    a.redeem(a_voucher.code)
    b_voucher = b.create_voucher(code=a_voucher.code)  # codes are unique per tenant, not globally
    assert b_voucher.id != a_voucher.id

    b_vouchers = b.vouchers.ListVouchers(voucher_service_pb2.ListVouchersRequest(page_size=100)).vouchers
    assert [v.id for v in b_vouchers] == [b_voucher.id]
    assert b.redemptions.ListRedemptions(redemption_service_pb2.ListRedemptionsRequest()).redemptions == []
    b_keys = b.api_keys.ListApiKeys(api_key_service_pb2.ListApiKeysRequest()).api_keys
    assert {k.tenant_id for k in b_keys} == {b.id}
    # Same code, different tenants: each redeems its own voucher.
    assert b.redeem(b_voucher.code).voucher.id == b_voucher.id
    assert (
        b.vouchers.GetVoucher(voucher_service_pb2.GetVoucherRequest(code=a_voucher.code)).voucher.redemption_count == 1
    )
    assert (
        a.vouchers.GetVoucher(voucher_service_pb2.GetVoucherRequest(code=a_voucher.code)).voucher.redemption_count == 1
    )
    # Webhook endpoints and events too.
    a.webhooks.CreateWebhookEndpoint(
        webhook_service_pb2.CreateWebhookEndpointRequest(
            webhook_endpoint=webhook_pb2.WebhookEndpoint(url="https://hooks.example.com/a")
        )
    )
    assert b.webhooks.ListWebhookEndpoints(webhook_service_pb2.ListWebhookEndpointsRequest()).webhook_endpoints == []
    b_events = b.webhooks.ListEvents(webhook_service_pb2.ListEventsRequest(page_size=100)).events
    assert [e.type for e in b_events] == ["voucher.created", "redemption.succeeded"]


def test_campaigns_and_operations_of_another_tenant_do_not_exist(api: ApiSession, db: OwnerDatabase) -> None:
    a, b = api.new_tenant("tenant A"), api.new_tenant("tenant B")
    campaign = a.campaigns.CreateCampaign(
        campaign_service_pb2.CreateCampaignRequest(
            campaign=campaign_pb2.Campaign(name="A's", discount=voucher_pb2.Discount(percent_off=5), max_redemptions=9)
        )
    ).campaign
    operation = a.campaigns.GenerateCampaignCodes(
        campaign_service_pb2.GenerateCampaignCodesRequest(campaign_id=campaign.id, count=20)
    )
    get = operations_pb2.GetOperationRequest(name=operation.name)
    wait_for(lambda: a.operations.GetOperation(get).done, what="A's generation done", timeout=60)
    before_a, before_b = db.tenant_snapshot(a.id), db.tenant_snapshot(b.id)

    calls = {
        "GetCampaign": lambda: b.campaigns.GetCampaign(campaign_service_pb2.GetCampaignRequest(id=campaign.id)),
        "UpdateCampaign": lambda: b.campaigns.UpdateCampaign(
            campaign_service_pb2.UpdateCampaignRequest(
                campaign=campaign_pb2.Campaign(id=campaign.id, status=campaign_pb2.CAMPAIGN_STATUS_ENDED),
                update_mask=field_mask_pb2.FieldMask(paths=["status"]),
            )
        ),
        "GenerateCampaignCodes": lambda: b.campaigns.GenerateCampaignCodes(
            campaign_service_pb2.GenerateCampaignCodesRequest(campaign_id=campaign.id, count=5)
        ),
        "GetOperation": lambda: b.operations.GetOperation(get),
        "CancelOperation": lambda: b.operations.CancelOperation(
            operations_pb2.CancelOperationRequest(name=operation.name)
        ),
        "DeleteOperation": lambda: b.operations.DeleteOperation(
            operations_pb2.DeleteOperationRequest(name=operation.name)
        ),
    }
    for name, call in calls.items():
        expected = "OPERATION_NOT_FOUND" if "Operation" in name and "Codes" not in name else "CAMPAIGN_NOT_FOUND"
        assert_error(expect_rpc_error(call), grpc.StatusCode.NOT_FOUND, expected)
    assert b.campaigns.ListCampaigns(campaign_service_pb2.ListCampaignsRequest()).campaigns == []
    assert b.operations.ListOperations(operations_pb2.ListOperationsRequest(name="operations")).operations == []
    assert db.tenant_snapshot(a.id) == before_a, "tenant B changed tenant A's data"
    assert db.tenant_snapshot(b.id) == before_b, "a refused call wrote to tenant B"
    assert a.operations.GetOperation(get).done
