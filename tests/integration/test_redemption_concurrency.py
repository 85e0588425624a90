"""DESIGN.md invariant 1 over the wire: a stampede of real clients never redeems a voucher past its limits.

Each thread has its own gRPC channel (its own TCP connection), connects first, then all fire at one Barrier.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import grpc
import pytest

from support.api_client import ApiSession, OwnerDatabase, TenantClient, order, outcome, run_concurrently
from vauchflow.v1 import redemption_service_pb2, redemption_service_pb2_grpc

CALL_TIMEOUT = 60


def stampede(target: str, threads: int, request_for: Callable[[int], Any], secret: str) -> list[Any]:
    """threads clients send RedeemVoucher at the same moment; per thread the response or the grpc.RpcError."""
    metadata = (("authorization", f"Bearer {secret}"),)

    def redeem(channel: grpc.Channel, index: int) -> Any:
        stub = redemption_service_pb2_grpc.RedemptionServiceStub(channel)
        return stub.RedeemVoucher(request_for(index), metadata=metadata, timeout=CALL_TIMEOUT)

    return run_concurrently(target, threads, redeem)


def outcomes(results: list[Any]) -> Counter[str]:
    return Counter(outcome(r) for r in results)


def redeem_request(code: str, customer_id: str = "") -> Callable[[int], Any]:
    def build(index: int) -> redemption_service_pb2.RedeemVoucherRequest:
        return redemption_service_pb2.RedeemVoucherRequest(
            code=code, customer_id=customer_id or f"customer-{index}", order=order(5_000, "EUR", f"order-{index}")
        )

    return build


def voucher_row(db: OwnerDatabase, tenant: TenantClient, code: str) -> Any:
    rows = db.fetch(
        "SELECT id, redemption_count FROM vouchers WHERE tenant_id = $1 AND code = $2", uuid.UUID(tenant.id), code
    )
    assert len(rows) == 1
    return rows[0]


@pytest.mark.parametrize("max_redemptions", [1, 10])
def test_100_simultaneous_redeems_never_pass_max_redemptions(
    api: ApiSession, db: OwnerDatabase, max_redemptions: int
) -> None:
    tenant = api.new_tenant()
    voucher = tenant.create_voucher(max_redemptions=max_redemptions)

    results = stampede(api.server.target, 100, redeem_request(voucher.code), tenant.secret)

    assert outcomes(results) == {
        "OK": max_redemptions,
        "FAILED_PRECONDITION/VOUCHER_EXHAUSTED": 100 - max_redemptions,
    }
    row = voucher_row(db, tenant, voucher.code)
    assert row["redemption_count"] == max_redemptions
    redemption_ids = {
        r["id"]
        for r in db.fetch("SELECT id FROM redemptions WHERE voucher_id = $1 AND status = 'SUCCEEDED'", row["id"])
    }
    assert redemption_ids == {
        uuid.UUID(r.redemption.id) for r in results if isinstance(r, redemption_service_pb2.RedeemVoucherResponse)
    }
    assert db.fetchval("SELECT count(*) FROM redemptions WHERE voucher_id = $1", row["id"]) == max_redemptions
    events = Counter(db.event_types(tenant.id))
    assert events == {"voucher.created": 1, "redemption.succeeded": max_redemptions, "voucher.exhausted": 1}


def test_per_customer_limit_holds_under_concurrency(api: ApiSession, db: OwnerDatabase) -> None:
    tenant = api.new_tenant()
    voucher = tenant.create_voucher(per_customer_limit=2)

    results = stampede(api.server.target, 20, redeem_request(voucher.code, customer_id="same-customer"), tenant.secret)

    assert outcomes(results) == {"OK": 2, "FAILED_PRECONDITION/CUSTOMER_LIMIT_REACHED": 18}
    row = voucher_row(db, tenant, voucher.code)
    assert row["redemption_count"] == 2
    assert db.fetchval("SELECT count(*) FROM redemptions WHERE voucher_id = $1", row["id"]) == 2
    assert (
        db.fetchval(
            "SELECT redemption_count FROM customer_redemption_counts WHERE voucher_id = $1 AND customer_id = $2",
            row["id"],
            "same-customer",
        )
        == 2
    )
    # Another customer is unaffected by the first one's limit.
    other = tenant.redeem(voucher.code, customer_id="other-customer")
    assert other.redemption.customer_id == "other-customer"


def test_total_and_per_customer_limits_together_under_concurrency(api: ApiSession, db: OwnerDatabase) -> None:
    """40 threads from 4 customers (limit 3 each) on a voucher of 10: 3+3+3+1 = 10 succeed; no customer gets 4."""
    tenant = api.new_tenant()
    voucher = tenant.create_voucher(max_redemptions=10, per_customer_limit=3)

    def request_for(index: int) -> redemption_service_pb2.RedeemVoucherRequest:
        return redemption_service_pb2.RedeemVoucherRequest(
            code=voucher.code, customer_id=f"customer-{index % 4}", order=order(5_000, "EUR")
        )

    results = stampede(api.server.target, 40, request_for, tenant.secret)

    counted = outcomes(results)
    assert counted["OK"] == 10
    assert set(counted) <= {"OK", "FAILED_PRECONDITION/VOUCHER_EXHAUSTED", "FAILED_PRECONDITION/CUSTOMER_LIMIT_REACHED"}
    row = voucher_row(db, tenant, voucher.code)
    assert row["redemption_count"] == 10
    per_customer = {
        r["customer_id"]: r["n"]
        for r in db.fetch(
            "SELECT customer_id, count(*) AS n FROM redemptions WHERE voucher_id = $1 GROUP BY customer_id", row["id"]
        )
    }
    assert sum(per_customer.values()) == 10
    assert max(per_customer.values()) <= 3
    stored_usage = {
        r["customer_id"]: r["redemption_count"]
        for r in db.fetch(
            "SELECT customer_id, redemption_count FROM customer_redemption_counts WHERE voucher_id = $1", row["id"]
        )
    }
    assert {c: n for c, n in stored_usage.items() if n} == per_customer
