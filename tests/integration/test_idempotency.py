"""request_id: a replay returns the original and changes nothing; a different request with the key is refused;
the same key sent concurrently has exactly one side effect."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2

from support.api_client import (
    ApiSession,
    OwnerDatabase,
    assert_error,
    assert_invalid,
    expect_rpc_error,
    order,
    outcome,
    run_concurrently,
    unique_code,
)
from vauchflow.v1 import (
    api_key_service_pb2,
    api_key_service_pb2_grpc,
    redemption_service_pb2,
    redemption_service_pb2_grpc,
    tenant_pb2,
    tenant_service_pb2,
    tenant_service_pb2_grpc,
    voucher_pb2,
    voucher_service_pb2,
    voucher_service_pb2_grpc,
)

REUSED = "IDEMPOTENCY_KEY_REUSED"


def request_id() -> str:
    return f"req-{uuid.uuid4()}"


def auth(secret: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {secret}"),)


def voucher_request(
    rid: str, code: str | None = None, percent_off: int = 10
) -> voucher_service_pb2.CreateVoucherRequest:
    voucher = voucher_pb2.Voucher(discount=voucher_pb2.Discount(percent_off=percent_off), max_redemptions=100)
    if code is not None:
        voucher.code = code
    return voucher_service_pb2.CreateVoucherRequest(voucher=voucher, request_id=rid)


def redeem_request(code: str, rid: str, amount: int = 10_000) -> redemption_service_pb2.RedeemVoucherRequest:
    return redemption_service_pb2.RedeemVoucherRequest(
        code=code, customer_id="cust-1", order=order(amount, "EUR", "order-1"), metadata={"k": "v"}, request_id=rid
    )


def voucher_count(db: OwnerDatabase, voucher_id: str) -> int:
    return db.fetchval("SELECT redemption_count FROM vouchers WHERE id = $1", uuid.UUID(voucher_id))


# CreateVoucher


@pytest.mark.parametrize("explicit_code", [True, False], ids=["explicit code", "generated code"])
def test_create_voucher_replay_returns_the_original_and_writes_nothing(
    api: ApiSession, db: OwnerDatabase, explicit_code: bool
) -> None:
    tenant = api.new_tenant()
    request = voucher_request(request_id(), unique_code() if explicit_code else None)
    first = tenant.vouchers.CreateVoucher(request).voucher
    after_first = db.tenant_snapshot(tenant.id)

    replay = tenant.vouchers.CreateVoucher(request).voucher

    assert (replay.id, replay.code) == (first.id, first.code)
    assert db.tenant_snapshot(tenant.id) == after_first
    assert Counter(db.event_types(tenant.id)) == {"voucher.created": 1}


def test_create_voucher_same_key_different_request_is_refused(api: ApiSession, db: OwnerDatabase) -> None:
    tenant = api.new_tenant()
    rid = request_id()
    tenant.vouchers.CreateVoucher(voucher_request(rid, "SAME-KEY", percent_off=10))
    before = db.tenant_snapshot(tenant.id)

    for different in (voucher_request(rid, "SAME-KEY", percent_off=20), voucher_request(rid, "OTHER-CODE")):
        error = expect_rpc_error(tenant.vouchers.CreateVoucher, different)
        assert_error(error, grpc.StatusCode.ALREADY_EXISTS, REUSED)
    assert db.tenant_snapshot(tenant.id) == before


def test_create_voucher_concurrent_same_key_creates_one(api: ApiSession, db: OwnerDatabase) -> None:
    tenant = api.new_tenant()
    request = voucher_request(request_id())  # generated code: only the key ties the retries together

    def create(channel: grpc.Channel, _: int) -> Any:
        stub = voucher_service_pb2_grpc.VoucherServiceStub(channel)
        return stub.CreateVoucher(request, metadata=auth(tenant.secret), timeout=60)

    results = run_concurrently(api.server.target, 20, create)

    assert Counter(outcome(r) for r in results) == {"OK": 20}
    assert len({r.voucher.id for r in results}) == 1
    assert db.fetchval("SELECT count(*) FROM vouchers WHERE tenant_id = $1", uuid.UUID(tenant.id)) == 1
    assert Counter(db.event_types(tenant.id)) == {"voucher.created": 1}


def test_request_ids_are_scoped_per_tenant_and_per_operation(api: ApiSession) -> None:
    a, b = api.new_tenant(), api.new_tenant()
    rid = request_id()
    a_voucher = a.vouchers.CreateVoucher(voucher_request(rid, "SHARED-CODE")).voucher
    b_voucher = b.vouchers.CreateVoucher(voucher_request(rid, "SHARED-CODE")).voucher
    assert a_voucher.id != b_voucher.id
    # The same key on another operation is another key.
    redemption = a.redemptions.RedeemVoucher(redeem_request(a_voucher.code, rid)).redemption
    assert redemption.voucher_id == a_voucher.id


# RedeemVoucher


def test_redeem_replay_returns_the_original_redemption_and_changes_nothing(api: ApiSession, db: OwnerDatabase) -> None:
    tenant = api.new_tenant()
    voucher = tenant.create_voucher(max_redemptions=5, per_customer_limit=3)
    request = redeem_request(voucher.code, request_id())
    first = tenant.redemptions.RedeemVoucher(request)
    after_first = db.tenant_snapshot(tenant.id)

    for _ in range(3):
        replay = tenant.redemptions.RedeemVoucher(request)
        assert replay.redemption == first.redemption
        assert replay.voucher.id == voucher.id

    assert db.tenant_snapshot(tenant.id) == after_first
    assert voucher_count(db, voucher.id) == 1
    assert Counter(db.event_types(tenant.id)) == {"voucher.created": 1, "redemption.succeeded": 1}


def test_redeem_same_key_different_request_is_refused(api: ApiSession, db: OwnerDatabase) -> None:
    tenant = api.new_tenant()
    voucher, other = tenant.create_voucher(), tenant.create_voucher()
    rid = request_id()
    tenant.redemptions.RedeemVoucher(redeem_request(voucher.code, rid, amount=10_000))
    before = db.tenant_snapshot(tenant.id)

    different = [
        redeem_request(voucher.code, rid, amount=20_000),
        redeem_request(other.code, rid),
        redemption_service_pb2.RedeemVoucherRequest(
            code=voucher.code, customer_id="someone-else", order=order(10_000, "EUR", "order-1"), request_id=rid
        ),
    ]
    for request in different:
        error = expect_rpc_error(tenant.redemptions.RedeemVoucher, request)
        assert_error(error, grpc.StatusCode.ALREADY_EXISTS, REUSED)
    assert db.tenant_snapshot(tenant.id) == before


def test_redeem_concurrent_same_key_has_exactly_one_side_effect(api: ApiSession, db: OwnerDatabase) -> None:
    tenant = api.new_tenant()
    voucher = tenant.create_voucher(max_redemptions=50)
    request = redeem_request(voucher.code, request_id())

    def redeem(channel: grpc.Channel, _: int) -> Any:
        stub = redemption_service_pb2_grpc.RedemptionServiceStub(channel)
        return stub.RedeemVoucher(request, metadata=auth(tenant.secret), timeout=60)

    results = run_concurrently(api.server.target, 20, redeem)

    assert Counter(outcome(r) for r in results) == {"OK": 20}
    redemption_ids = {r.redemption.id for r in results}
    assert len(redemption_ids) == 1
    rows = db.fetch("SELECT id FROM redemptions WHERE voucher_id = $1", uuid.UUID(voucher.id))
    assert [str(r["id"]) for r in rows] == list(redemption_ids)
    assert voucher_count(db, voucher.id) == 1
    assert Counter(db.event_types(tenant.id)) == {"voucher.created": 1, "redemption.succeeded": 1}


def test_a_refused_redeem_keeps_no_key_so_a_retry_asks_again(api: ApiSession, db: OwnerDatabase) -> None:
    tenant = api.new_tenant()
    voucher = tenant.create_voucher()
    tenant.vouchers.DisableVoucher(voucher_service_pb2.DisableVoucherRequest(code=voucher.code))
    request = redeem_request(voucher.code, request_id())

    error = expect_rpc_error(tenant.redemptions.RedeemVoucher, request)
    assert_error(error, grpc.StatusCode.FAILED_PRECONDITION, "VOUCHER_DISABLED")
    assert db.fetchval("SELECT count(*) FROM idempotency_keys WHERE tenant_id = $1", uuid.UUID(tenant.id)) == 0

    tenant.vouchers.UpdateVoucher(
        voucher_service_pb2.UpdateVoucherRequest(
            voucher=voucher_pb2.Voucher(code=voucher.code, status=voucher_pb2.VOUCHER_STATUS_ACTIVE),
            update_mask=field_mask_pb2.FieldMask(paths=["status"]),
        )
    )
    redeemed = tenant.redemptions.RedeemVoucher(request).redemption
    assert tenant.redemptions.RedeemVoucher(request).redemption.id == redeemed.id
    assert voucher_count(db, voucher.id) == 1


def test_replay_after_rollback_returns_the_rolled_back_redemption_and_redeems_nothing(
    api: ApiSession, db: OwnerDatabase
) -> None:
    tenant = api.new_tenant()
    voucher = tenant.create_voucher(max_redemptions=1)
    request = redeem_request(voucher.code, request_id())
    redemption = tenant.redemptions.RedeemVoucher(request).redemption
    tenant.redemptions.RollbackRedemption(redemption_service_pb2.RollbackRedemptionRequest(id=redemption.id))
    before = db.tenant_snapshot(tenant.id)

    replay = tenant.redemptions.RedeemVoucher(request).redemption

    assert replay.id == redemption.id
    assert (
        replay.status
        == tenant.redemptions.GetRedemption(
            redemption_service_pb2.GetRedemptionRequest(id=redemption.id)
        ).redemption.status
    )
    assert db.tenant_snapshot(tenant.id) == before
    assert voucher_count(db, voucher.id) == 0


# CreateApiKey


def key_request(rid: str, permissions: list[str] | None = None) -> api_key_service_pb2.CreateApiKeyRequest:
    return api_key_service_pb2.CreateApiKeyRequest(
        name="checkout", permissions=permissions or ["redemptions:write"], request_id=rid
    )


def test_create_api_key_replay_returns_the_same_key_without_its_secret(api: ApiSession, db: OwnerDatabase) -> None:
    tenant = api.new_tenant()
    request = key_request(request_id())
    first = tenant.api_keys.CreateApiKey(request)
    assert first.secret.startswith("vf_sk_")
    after_first = db.tenant_snapshot(tenant.id)

    replay = tenant.api_keys.CreateApiKey(request)

    assert replay.api_key == first.api_key
    assert replay.secret == ""
    assert db.tenant_snapshot(tenant.id) == after_first

    error = expect_rpc_error(tenant.api_keys.CreateApiKey, key_request(request.request_id, ["vouchers:read"]))
    assert_error(error, grpc.StatusCode.ALREADY_EXISTS, REUSED)
    assert db.tenant_snapshot(tenant.id) == after_first


def test_create_api_key_concurrent_same_key_creates_one(api: ApiSession, db: OwnerDatabase) -> None:
    tenant = api.new_tenant()
    request = key_request(request_id())

    def create(channel: grpc.Channel, _: int) -> Any:
        stub = api_key_service_pb2_grpc.ApiKeyServiceStub(channel)
        return stub.CreateApiKey(request, metadata=auth(tenant.secret), timeout=60)

    results = run_concurrently(api.server.target, 20, create)

    assert Counter(outcome(r) for r in results) == {"OK": 20}
    assert len({r.api_key.id for r in results}) == 1
    assert sum(1 for r in results if r.secret) == 1, "the secret is shown exactly once"
    assert db.fetchval("SELECT count(*) FROM api_keys WHERE tenant_id = $1", uuid.UUID(tenant.id)) == 2


# CreateTenant


def test_create_tenant_replay_returns_the_same_tenant_and_first_key(api: ApiSession, db: OwnerDatabase) -> None:
    request = tenant_service_pb2.CreateTenantRequest(
        name="Idempotent GmbH", plan=tenant_pb2.PLAN_STARTER, request_id=request_id()
    )
    first = api.tenants.CreateTenant(request)
    assert first.secret
    tenants_before = db.fetchval("SELECT count(*) FROM tenants")
    after_first = db.tenant_snapshot(first.tenant.id)

    replay = api.tenants.CreateTenant(request)

    assert replay.tenant == first.tenant
    assert replay.api_key == first.api_key
    assert replay.secret == ""
    assert db.fetchval("SELECT count(*) FROM tenants") == tenants_before
    assert db.tenant_snapshot(first.tenant.id) == after_first

    for different in (
        tenant_service_pb2.CreateTenantRequest(
            name="Other GmbH", plan=tenant_pb2.PLAN_STARTER, request_id=request.request_id
        ),
        tenant_service_pb2.CreateTenantRequest(
            name="Idempotent GmbH", plan=tenant_pb2.PLAN_SCALE, request_id=request.request_id
        ),
    ):  # fmt: skip
        error = expect_rpc_error(api.tenants.CreateTenant, different)
        assert_error(error, grpc.StatusCode.ALREADY_EXISTS, REUSED)
    assert db.fetchval("SELECT count(*) FROM tenants") == tenants_before


def test_create_tenant_concurrent_same_key_creates_one(api: ApiSession, db: OwnerDatabase) -> None:
    rid = request_id()
    request = tenant_service_pb2.CreateTenantRequest(name="Stampede AG", request_id=rid)

    def create(channel: grpc.Channel, _: int) -> Any:
        stub = tenant_service_pb2_grpc.TenantServiceStub(channel)
        return stub.CreateTenant(request, metadata=auth(api.server.admin_token), timeout=60)

    results = run_concurrently(api.server.target, 20, create)

    assert Counter(outcome(r) for r in results) == {"OK": 20}
    assert len({r.tenant.id for r in results}) == 1
    assert len({r.api_key.id for r in results}) == 1
    assert sum(1 for r in results if r.secret) == 1
    tenant_ids = db.fetch("SELECT id FROM tenants WHERE creation_request_id = $1", rid)
    assert [str(r["id"]) for r in tenant_ids] == [results[0].tenant.id]
    assert db.fetchval("SELECT count(*) FROM api_keys WHERE tenant_id = $1", tenant_ids[0]["id"]) == 1


def test_overlong_request_id_is_invalid(api: ApiSession, db: OwnerDatabase) -> None:
    tenant = api.new_tenant()
    voucher = tenant.create_voucher()
    before = db.tenant_snapshot(tenant.id)
    long_id = "r" * 201
    calls: list[tuple[Any, Any]] = [
        (tenant.vouchers.CreateVoucher, voucher_request(long_id)),
        (tenant.redemptions.RedeemVoucher, redeem_request(voucher.code, long_id)),
        (tenant.api_keys.CreateApiKey, key_request(long_id)),
        (api.tenants.CreateTenant, tenant_service_pb2.CreateTenantRequest(name="x", request_id=long_id)),
    ]
    for call, request in calls:
        error = expect_rpc_error(call, request)
        assert_invalid(error, "request_id")
    assert db.tenant_snapshot(tenant.id) == before


def test_a_redeem_replayed_with_the_code_in_another_case_is_the_same_request(
    api: ApiSession, db: OwnerDatabase
) -> None:
    tenant = api.new_tenant()
    voucher = tenant.create_voucher(max_redemptions=5)
    rid = request_id()
    first = tenant.redemptions.RedeemVoucher(redeem_request(voucher.code, rid))
    replay = tenant.redemptions.RedeemVoucher(redeem_request(voucher.code.lower(), rid))
    assert replay.redemption == first.redemption
    assert voucher_count(db, voucher.id) == 1
