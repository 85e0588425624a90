"""Campaigns over gRPC on the real server: CRUD with events, pause/resume/end, code generation as a long-running
operation (progress, cancel, the pattern-space and quota refusals), and the campaign-wide and per-customer limits
under a stampede, with rollbacks giving the campaign's counts back."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from typing import Any

import grpc
from google.longrunning import operations_pb2
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2

from support.api_client import (
    ApiSession,
    OwnerDatabase,
    TenantClient,
    assert_error,
    assert_invalid,
    expect_rpc_error,
    order,
    outcome,
    run_concurrently,
)
from support.polling import wait_for
from vauchflow.v1 import (
    campaign_pb2,
    campaign_service_pb2,
    redemption_service_pb2,
    redemption_service_pb2_grpc,
    tenant_pb2,
    voucher_pb2,
    voucher_service_pb2,
)

GENERATION_TIMEOUT = 120


def create_campaign(tenant: TenantClient, **fields: Any) -> campaign_pb2.Campaign:
    fields.setdefault("name", "newsletter")
    fields.setdefault("discount", voucher_pb2.Discount(percent_off=10))
    return tenant.campaigns.CreateCampaign(
        campaign_service_pb2.CreateCampaignRequest(campaign=campaign_pb2.Campaign(**fields))
    ).campaign


def generate(tenant: TenantClient, campaign_id: str, count: int, **pattern: str) -> operations_pb2.Operation:
    return tenant.campaigns.GenerateCampaignCodes(
        campaign_service_pb2.GenerateCampaignCodesRequest(
            campaign_id=campaign_id, count=count, code_pattern=campaign_pb2.CodePattern(**pattern)
        )
    )


def wait_done(tenant: TenantClient, name: str) -> operations_pb2.Operation:
    latest: dict[str, operations_pb2.Operation] = {}

    def done() -> bool:
        latest["op"] = tenant.operations.GetOperation(operations_pb2.GetOperationRequest(name=name))
        return latest["op"].done

    wait_for(done, what=f"{name} done", timeout=GENERATION_TIMEOUT, interval=0.1)
    return latest["op"]


def progress(operation: operations_pb2.Operation) -> campaign_pb2.GenerateCampaignCodesMetadata:
    metadata = campaign_pb2.GenerateCampaignCodesMetadata()
    assert operation.metadata.Unpack(metadata)
    return metadata


def campaign_codes(db: OwnerDatabase, tenant: TenantClient, campaign_id: str) -> list[str]:
    rows = db.fetch(
        "SELECT code FROM vouchers WHERE tenant_id = $1 AND campaign_id = $2 ORDER BY code",
        uuid.UUID(tenant.id),
        uuid.UUID(campaign_id),
    )
    return [r["code"] for r in rows]


def generated_campaign(tenant: TenantClient, count: int, **fields: Any) -> tuple[campaign_pb2.Campaign, list[str]]:
    campaign = create_campaign(tenant, **fields)
    done = wait_done(tenant, generate(tenant, campaign.id, count, pattern="????-????-????").name)
    assert done.HasField("response"), done.error
    return campaign, []


def redeem_request(code: str, customer_id: str, index: int) -> redemption_service_pb2.RedeemVoucherRequest:
    return redemption_service_pb2.RedeemVoucherRequest(
        code=code, customer_id=customer_id, order=order(5_000, "EUR", f"order-{index}")
    )


def stampede(api: ApiSession, tenant: TenantClient, requests: list[Any]) -> Counter[str]:
    metadata = (("authorization", f"Bearer {tenant.secret}"),)

    def redeem(channel: grpc.Channel, index: int) -> Any:
        stub = redemption_service_pb2_grpc.RedemptionServiceStub(channel)
        return stub.RedeemVoucher(requests[index], metadata=metadata, timeout=60)

    return Counter(outcome(r) for r in run_concurrently(api.server.target, len(requests), redeem))


# --- CRUD, status and events --------------------------------------------------------------------------------


def test_a_campaign_is_created_read_listed_and_updated_with_its_events(api: ApiSession, db: OwnerDatabase) -> None:
    tenant = api.new_tenant()
    campaign = create_campaign(tenant, name="summer", max_redemptions=50, metadata={"channel": "newsletter"})
    assert campaign.status == campaign_pb2.CAMPAIGN_STATUS_ACTIVE
    assert campaign.code_redemption_limit == 1  # single-use codes unless asked otherwise
    assert (campaign.code_count, campaign.redemption_count) == (0, 0)

    got = tenant.campaigns.GetCampaign(campaign_service_pb2.GetCampaignRequest(id=campaign.id)).campaign
    assert got == campaign
    listed = tenant.campaigns.ListCampaigns(campaign_service_pb2.ListCampaignsRequest()).campaigns
    assert [c.id for c in listed] == [campaign.id]

    updated = tenant.campaigns.UpdateCampaign(
        campaign_service_pb2.UpdateCampaignRequest(
            campaign=campaign_pb2.Campaign(id=campaign.id, name="summer sale", max_redemptions=80),
            update_mask=field_mask_pb2.FieldMask(paths=["name", "max_redemptions"]),
        )
    ).campaign
    assert (updated.name, updated.max_redemptions, updated.metadata["channel"]) == ("summer sale", 80, "newsletter")
    assert db.event_types(tenant.id) == ["campaign.created", "campaign.updated"]


def test_bad_campaigns_and_changes_are_refused_with_field_violations(api: ApiSession) -> None:
    tenant = api.new_tenant()
    error = expect_rpc_error(
        tenant.campaigns.CreateCampaign,
        campaign_service_pb2.CreateCampaignRequest(campaign=campaign_pb2.Campaign(name="", max_redemptions=0)),
    )
    assert_invalid(error, "campaign.name")
    campaign = create_campaign(tenant)
    for paths, fields, field_path in (
        (["max_redemptions"], {"max_redemptions": 5}, "campaign.max_redemptions"),  # added after create
        (["discount"], {}, "update_mask"),  # fixed: copied into every code
    ):
        error = expect_rpc_error(
            tenant.campaigns.UpdateCampaign,
            campaign_service_pb2.UpdateCampaignRequest(
                campaign=campaign_pb2.Campaign(id=campaign.id, **fields),
                update_mask=field_mask_pb2.FieldMask(paths=paths),
            ),
        )
        assert_invalid(error, field_path)
    error = expect_rpc_error(
        tenant.campaigns.GetCampaign, campaign_service_pb2.GetCampaignRequest(id=str(uuid.uuid4()))
    )
    assert_error(error, grpc.StatusCode.NOT_FOUND, "CAMPAIGN_NOT_FOUND")


def set_status(tenant: TenantClient, campaign_id: str, status: int) -> campaign_pb2.Campaign:
    return tenant.campaigns.UpdateCampaign(
        campaign_service_pb2.UpdateCampaignRequest(
            campaign=campaign_pb2.Campaign(id=campaign_id, status=status),
            update_mask=field_mask_pb2.FieldMask(paths=["status"]),
        )
    ).campaign


def test_paused_and_ended_campaigns_refuse_their_codes_and_ended_is_final(api: ApiSession, db: OwnerDatabase) -> None:
    tenant = api.new_tenant()
    campaign = create_campaign(tenant, code_redemption_limit=5)
    wait_done(tenant, generate(tenant, campaign.id, 3).name)
    code = campaign_codes(db, tenant, campaign.id)[0]

    set_status(tenant, campaign.id, campaign_pb2.CAMPAIGN_STATUS_PAUSED)
    assert_error(expect_rpc_error(tenant.redeem, code), grpc.StatusCode.FAILED_PRECONDITION, "CAMPAIGN_NOT_ACTIVE")
    validated = tenant.redemptions.ValidateVoucher(
        redemption_service_pb2.ValidateVoucherRequest(code=code, order=order())
    )
    assert validated.reason == "CAMPAIGN_NOT_ACTIVE"

    set_status(tenant, campaign.id, campaign_pb2.CAMPAIGN_STATUS_ACTIVE)
    redeemed = tenant.redeem(code)
    assert redeemed.voucher.campaign_id == campaign.id
    assert redeemed.redemption.discount_amount == 1_000

    set_status(tenant, campaign.id, campaign_pb2.CAMPAIGN_STATUS_ENDED)
    assert_error(expect_rpc_error(tenant.redeem, code), grpc.StatusCode.FAILED_PRECONDITION, "CAMPAIGN_NOT_ACTIVE")
    error = expect_rpc_error(set_status, tenant, campaign.id, campaign_pb2.CAMPAIGN_STATUS_ACTIVE)
    assert_invalid(error, "campaign.status")
    got = tenant.campaigns.GetCampaign(campaign_service_pb2.GetCampaignRequest(id=campaign.id)).campaign
    assert (got.code_count, got.redemption_count) == (3, 1)


# --- Generation as a long-running operation -------------------------------------------------------------------


def test_generation_is_an_operation_with_progress_and_one_event(api: ApiSession, db: OwnerDatabase) -> None:
    tenant = api.new_tenant()
    campaign = create_campaign(tenant, currency="EUR", min_order_amount=2_000, code_redemption_limit=2)
    started = generate(tenant, campaign.id, 1_000, pattern="####-????", charset="ABCDEF", prefix="SUMMER-")
    assert started.name.startswith("operations/")
    assert progress(started).requested_count == 1_000

    done = wait_done(tenant, started.name)
    response = campaign_service_pb2.GenerateCampaignCodesResponse()
    assert done.response.Unpack(response)
    assert (response.campaign_id, response.generated_count) == (campaign.id, 1_000)
    assert progress(done).generated_count == 1_000
    assert progress(done).HasField("end_time")

    codes = campaign_codes(db, tenant, campaign.id)
    assert len(codes) == len(set(codes)) == 1_000
    assert all(re.fullmatch(r"SUMMER-[0-9]{4}-[A-F]{4}", code) for code in codes)
    # The codes are vouchers with the campaign's terms.
    voucher = tenant.vouchers.GetVoucher(voucher_service_pb2.GetVoucherRequest(code=codes[0].lower())).voucher
    assert (voucher.campaign_id, voucher.max_redemptions, voucher.currency) == (campaign.id, 2, "EUR")
    assert voucher.min_order_amount == 2_000
    events = Counter(db.event_types(tenant.id))
    assert events == {"campaign.created": 1, "campaign.codes_generated": 1}
    listed = tenant.operations.ListOperations(operations_pb2.ListOperationsRequest(name="operations")).operations
    assert [o.name for o in listed] == [started.name]


def test_campaign_codes_and_plain_vouchers_share_one_namespace(api: ApiSession, db: OwnerDatabase) -> None:
    tenant = api.new_tenant()
    # 200 of the pattern's 1,000 codes are already plain vouchers: the generation skips and redraws them.
    taken = [f"NS-{i:03d}" for i in range(0, 1_000, 5)]
    for code in taken:
        tenant.create_voucher(code=code)
    campaign = create_campaign(tenant)
    done = wait_done(tenant, generate(tenant, campaign.id, 100, pattern="###", prefix="NS-").name)
    assert progress(done).generated_count == 100
    codes = campaign_codes(db, tenant, campaign.id)
    assert len(codes) == 100
    assert not set(codes) & set(taken)
    # And a plain voucher cannot take a campaign's code.
    error = expect_rpc_error(tenant.create_voucher, code=codes[0])
    assert_error(error, grpc.StatusCode.ALREADY_EXISTS, "VOUCHER_CODE_TAKEN")


def test_a_pattern_with_under_ten_times_the_count_is_refused(api: ApiSession, db: OwnerDatabase) -> None:
    tenant = api.new_tenant()
    campaign = create_campaign(tenant)
    # "##" allows 100 codes: 11 would be under ten times.
    error = expect_rpc_error(generate, tenant, campaign.id, 11, pattern="##")
    assert_invalid(error, "code_pattern.pattern")
    for pattern, field_path in (("SUMMER", "code_pattern.pattern"), ("#?!", "code_pattern.pattern")):
        assert_invalid(expect_rpc_error(generate, tenant, campaign.id, 1, pattern=pattern), field_path)
    assert_invalid(expect_rpc_error(generate, tenant, campaign.id, 0), "count")
    assert_invalid(expect_rpc_error(generate, tenant, campaign.id, 1, charset="abc$"), "code_pattern.charset")
    assert db.fetchval("SELECT count(*) FROM operations WHERE tenant_id = $1", uuid.UUID(tenant.id)) == 0


def test_generation_past_the_plan_quota_is_refused(api: ApiSession) -> None:
    tenant = api.new_tenant(plan=tenant_pb2.PLAN_FREE)  # 100 vouchers
    tenant.create_voucher()
    campaign = create_campaign(tenant)
    error = expect_rpc_error(generate, tenant, campaign.id, 100)
    assert_error(error, grpc.StatusCode.RESOURCE_EXHAUSTED, "PLAN_QUOTA_EXCEEDED")
    assert "campaign codes included" in error.details()
    assert "99 more" not in error.details() and "100 more" in error.details()
    done = wait_done(tenant, generate(tenant, campaign.id, 99).name)
    assert progress(done).generated_count == 99


def test_a_running_generation_can_be_cancelled_and_keeps_what_it_made(api: ApiSession, db: OwnerDatabase) -> None:
    tenant = api.new_tenant(plan=tenant_pb2.PLAN_ENTERPRISE)
    campaign = create_campaign(tenant)
    started = generate(tenant, campaign.id, 1_000_000, pattern="????-????-????")
    tenant.operations.CancelOperation(operations_pb2.CancelOperationRequest(name=started.name))
    done = wait_done(tenant, started.name)
    assert done.error.code == grpc.StatusCode.CANCELLED.value[0]
    info = error_details_pb2.ErrorInfo()
    assert done.error.details[0].Unpack(info) and info.reason == "OPERATION_CANCELLED"
    made = progress(done).generated_count
    assert 0 < made < 1_000_000
    assert len(campaign_codes(db, tenant, campaign.id)) == made
    assert Counter(db.event_types(tenant.id))["campaign.codes_generated"] == 1
    # Finished: it can be deleted; then it is gone.
    tenant.operations.DeleteOperation(operations_pb2.DeleteOperationRequest(name=started.name))
    error = expect_rpc_error(tenant.operations.GetOperation, operations_pb2.GetOperationRequest(name=started.name))
    assert_error(error, grpc.StatusCode.NOT_FOUND, "OPERATION_NOT_FOUND")


def test_an_operation_whose_server_died_is_reported_failed(api: ApiSession, db: OwnerDatabase) -> None:
    tenant = api.new_tenant()
    campaign = create_campaign(tenant)
    # A RUNNING operation whose lease ran out, as a server that died mid-generation leaves it.
    operation_id = uuid.uuid4()
    db.fetch(
        "INSERT INTO operations (tenant_id, id, kind, campaign_id, state, request, requested_count, generated_count,"
        " lease_expire_time) VALUES ($1, $2, 'GENERATE_CAMPAIGN_CODES', $3, 'RUNNING', '{}', 500, 120,"
        " now() - interval '1 second')",
        uuid.UUID(tenant.id),
        operation_id,
        uuid.UUID(campaign.id),
    )
    got = tenant.operations.GetOperation(operations_pb2.GetOperationRequest(name=f"operations/{operation_id}"))
    assert got.done and got.error.code == grpc.StatusCode.ABORTED.value[0]
    info = error_details_pb2.ErrorInfo()
    assert got.error.details[0].Unpack(info) and info.reason == "OPERATION_ABANDONED"
    assert progress(got).generated_count == 120


# --- Campaign-wide limits under a stampede ----------------------------------------------------------------------


def test_1000_concurrent_redeems_of_distinct_codes_give_exactly_the_campaign_limit(
    api: ApiSession, db: OwnerDatabase
) -> None:
    tenant = api.new_tenant()
    campaign = create_campaign(tenant, max_redemptions=100)
    wait_done(tenant, generate(tenant, campaign.id, 1_000, pattern="????-????-????").name)
    codes = campaign_codes(db, tenant, campaign.id)
    assert len(codes) == 1_000

    outcomes = stampede(api, tenant, [redeem_request(code, f"customer-{i}", i) for i, code in enumerate(codes)])

    assert outcomes == {"OK": 100, "FAILED_PRECONDITION/CAMPAIGN_EXHAUSTED": 900}
    row = db.fetch("SELECT redemption_count FROM campaigns WHERE id = $1", uuid.UUID(campaign.id))[0]
    assert row["redemption_count"] == 100
    assert (
        db.fetchval(
            "SELECT count(*) FROM redemptions r JOIN vouchers v ON v.tenant_id = r.tenant_id AND v.id = r.voucher_id"
            " WHERE v.campaign_id = $1 AND r.status = 'SUCCEEDED'",
            uuid.UUID(campaign.id),
        )
        == 100
    )
    got = tenant.campaigns.GetCampaign(campaign_service_pb2.GetCampaignRequest(id=campaign.id)).campaign
    assert got.redemption_count == 100


def test_the_per_customer_limit_holds_across_the_campaigns_codes_and_rollback_gives_counts_back(
    api: ApiSession, db: OwnerDatabase
) -> None:
    tenant = api.new_tenant()
    campaign = create_campaign(tenant, per_customer_limit=3, max_redemptions=1_000)
    wait_done(tenant, generate(tenant, campaign.id, 210, pattern="????-????-????").name)
    codes = campaign_codes(db, tenant, campaign.id)

    outcomes = stampede(api, tenant, [redeem_request(code, "alice", i) for i, code in enumerate(codes[:200])])

    assert outcomes == {"OK": 3, "FAILED_PRECONDITION/CUSTOMER_LIMIT_REACHED": 197}
    campaign_row = "SELECT redemption_count FROM campaigns WHERE id = $1"
    customer_row = "SELECT redemption_count FROM campaign_customer_redemption_counts WHERE campaign_id = $1"
    assert db.fetchval(campaign_row, uuid.UUID(campaign.id)) == 3
    assert db.fetchval(customer_row, uuid.UUID(campaign.id)) == 3
    # Without a customer the campaign's per-customer limit cannot be kept: refused.
    assert_invalid(expect_rpc_error(tenant.redeem, codes[-1]), "customer_id")

    redemption = db.fetch(
        "SELECT r.id FROM redemptions r JOIN vouchers v ON v.tenant_id = r.tenant_id AND v.id = r.voucher_id"
        " WHERE v.campaign_id = $1 LIMIT 1",
        uuid.UUID(campaign.id),
    )[0]["id"]
    tenant.redemptions.RollbackRedemption(
        redemption_service_pb2.RollbackRedemptionRequest(id=str(redemption), reason="returned")
    )
    assert db.fetchval(campaign_row, uuid.UUID(campaign.id)) == 2
    assert db.fetchval(customer_row, uuid.UUID(campaign.id)) == 2
    # The rolled-back use is alice's to take again, on another code.
    assert tenant.redeem(codes[-1], customer_id="alice").voucher.campaign_id == campaign.id
    error = expect_rpc_error(tenant.redeem, codes[-2], customer_id="alice")
    assert_error(error, grpc.StatusCode.FAILED_PRECONDITION, "CUSTOMER_LIMIT_REACHED")


def test_a_code_of_a_campaign_without_shared_limits_redeems_on_the_batched_path(
    api: ApiSession, db: OwnerDatabase
) -> None:
    tenant = api.new_tenant()
    campaign = create_campaign(tenant, code_redemption_limit=50)
    wait_done(tenant, generate(tenant, campaign.id, 1).name)
    (code,) = campaign_codes(db, tenant, campaign.id)
    outcomes = stampede(api, tenant, [redeem_request(code, f"c-{i}", i) for i in range(100)])
    assert outcomes == {"OK": 50, "FAILED_PRECONDITION/VOUCHER_EXHAUSTED": 50}
    # Never counted on the campaign's row: that is what keeps it off the hot row.
    assert db.fetchval("SELECT redemption_count FROM campaigns WHERE id = $1", uuid.UUID(campaign.id)) == 0
    got = tenant.campaigns.GetCampaign(campaign_service_pb2.GetCampaignRequest(id=campaign.id)).campaign
    assert got.redemption_count == 50
