"""The redemption export over gRPC (server-streaming google.api.HttpBody) against the real server and PostgreSQL:
complete and correct, filtered, neutralised against formula injection, streaming from the first second, and
confined to the caller's tenant."""

from __future__ import annotations

import asyncio
import csv
import io
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import grpc
import pytest
from google.protobuf import timestamp_pb2

from support.api_client import BoundStub, TenantClient, assert_error, expect_rpc_error, order
from vauchflow.v1 import data_exchange_service_pb2 as pb
from vauchflow.v1 import data_exchange_service_pb2_grpc, redemption_pb2, redemption_service_pb2
from vauchflow_core.db.queries import QUERIES

HEADER = [
    "id",
    "create_time",
    "status",
    "voucher_code",
    "customer_id",
    "order_id",
    "order_amount",
    "currency",
    "discount_amount",
    "rollback_time",
    "rollback_reason",
    "metadata",
]


def exports(tenant: TenantClient, secret: str | None = None) -> Any:
    stub = data_exchange_service_pb2_grpc.DataExchangeServiceStub(tenant.channel)
    return BoundStub(stub, secret or tenant.secret)


def export_rows(tenant: TenantClient, **filters: Any) -> list[dict[str, str]]:
    bodies = list(exports(tenant).ExportRedemptions(pb.ExportRedemptionsRequest(**filters)))
    assert bodies and all(b.content_type == "text/csv; charset=utf-8" for b in bodies)
    rows = list(csv.reader(io.StringIO(b"".join(b.data for b in bodies).decode(), newline="")))
    assert rows[0] == HEADER
    return [dict(zip(HEADER, row, strict=True)) for row in rows[1:]]


@pytest.fixture(scope="module")
def shop(api) -> dict[str, Any]:
    """A tenant with redemptions of two vouchers by three customers, one of them rolled back."""
    tenant = api.new_tenant()
    first = tenant.create_voucher(max_redemptions=100).code
    second = tenant.create_voucher().code
    made = [
        tenant.redemptions.RedeemVoucher(
            redemption_service_pb2.RedeemVoucherRequest(
                code=first, customer_id="alice", order=order(order_id='o-1, "quoted"'), metadata={"channel": "web"}
            )
        ),
        tenant.redeem(first, customer_id='=HYPERLINK("http://evil")'),
        tenant.redeem(second, customer_id="bob", amount=5_000),
        tenant.redeem(first, customer_id="alice"),
    ]
    rolled_back = made[3].redemption.id
    tenant.redemptions.RollbackRedemption(
        redemption_service_pb2.RollbackRedemptionRequest(id=rolled_back, reason="-returned")
    )
    return {"tenant": tenant, "first": first, "second": second, "made": made, "rolled_back": rolled_back}


def test_every_redemption_in_creation_order_with_its_columns(shop):
    rows = export_rows(shop["tenant"])
    assert [r["id"] for r in rows] == [m.redemption.id for m in shop["made"]]
    first = rows[0]
    assert first["voucher_code"] == shop["first"] and first["customer_id"] == "alice"
    assert first["order_id"] == 'o-1, "quoted"' and first["metadata"] == '{"channel":"web"}'
    assert (first["order_amount"], first["currency"], first["discount_amount"]) == ("10000", "EUR", "1000")
    assert first["status"] == "SUCCEEDED" and first["rollback_time"] == ""
    assert first["create_time"].endswith("Z")
    last = rows[3]
    assert last["status"] == "ROLLED_BACK" and last["rollback_time"].endswith("Z")


def test_text_cells_that_a_spreadsheet_would_evaluate_are_neutralised(shop):
    rows = export_rows(shop["tenant"])
    assert rows[1]["customer_id"] == '\'=HYPERLINK("http://evil")'
    assert rows[3]["rollback_reason"] == "'-returned"


def test_filters_by_status_voucher_customer_and_time(shop):
    tenant, made = shop["tenant"], shop["made"]
    rolled_back = export_rows(tenant, status=redemption_pb2.REDEMPTION_STATUS_ROLLED_BACK)
    assert [r["id"] for r in rolled_back] == [shop["rolled_back"]]
    succeeded = export_rows(tenant, status=redemption_pb2.REDEMPTION_STATUS_SUCCEEDED)
    assert len(succeeded) == 3
    assert [r["id"] for r in export_rows(tenant, voucher_code=shop["second"].lower())] == [made[2].redemption.id]
    assert [r["id"] for r in export_rows(tenant, customer_id="alice")] == [made[0].redemption.id, made[3].redemption.id]
    second_time = made[1].redemption.create_time
    window = export_rows(tenant, start_time=second_time, end_time=made[3].redemption.create_time)
    assert [r["id"] for r in window] == [made[1].redemption.id, made[2].redemption.id]
    assert export_rows(tenant, start_time=timestamp_pb2.Timestamp(seconds=int(time.time()) + 3600)) == []


def test_an_unknown_voucher_filter_is_not_found_before_any_byte(shop):
    error = expect_rpc_error(
        lambda: list(exports(shop["tenant"]).ExportRedemptions(pb.ExportRedemptionsRequest(voucher_code="NOPE-1")))
    )
    assert_error(error, grpc.StatusCode.NOT_FOUND, "VOUCHER_NOT_FOUND")


def test_another_tenant_sees_none_of_the_rows_and_not_the_voucher(api, shop):
    other = api.new_tenant()
    assert export_rows(other) == []
    error = expect_rpc_error(
        lambda: list(exports(other).ExportRedemptions(pb.ExportRedemptionsRequest(voucher_code=shop["first"])))
    )
    assert_error(error, grpc.StatusCode.NOT_FOUND, "VOUCHER_NOT_FOUND")


def test_export_needs_redemptions_read(shop):
    tenant = shop["tenant"]
    _, secret = tenant.create_key(["vouchers:read"])
    error = expect_rpc_error(lambda: list(exports(tenant, secret).ExportRedemptions(pb.ExportRedemptionsRequest())))
    assert_error(error, grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_MISSING")
    _, reader = tenant.create_key(["redemptions:read"])
    assert list(exports(tenant, reader).ExportRedemptions(pb.ExportRedemptionsRequest()))


def seed_redemptions(db, tenant: TenantClient, count: int) -> str:
    """count redemptions of one new voucher, written by the owner (RLS does not apply to it), one per second."""
    tenant_id = uuid.UUID(tenant.id)
    code = f"BULK-{uuid.uuid4().hex[:8].upper()}"
    db.fetch(
        """
        WITH v AS (
            INSERT INTO vouchers (tenant_id, id, code, percent_off, status)
            VALUES ($1, gen_random_uuid(), $2, 10, 'ACTIVE') RETURNING id
        )
        INSERT INTO redemptions (tenant_id, id, voucher_id, voucher_code, customer_id, order_amount, currency,
                                 discount_amount, status, create_time)
        SELECT $1, gen_random_uuid(), v.id, $2, 'customer-' || n, 1000 + n, 'EUR', 100, 'SUCCEEDED',
               timestamptz '2026-01-01 00:00:00+00' + n * interval '1 second'
        FROM v, generate_series(1, $3) AS n
        """,
        tenant_id,
        code,
        count,
    )
    return code


def test_a_large_export_starts_at_once_and_is_complete(api, db):
    tenant = api.new_tenant()
    seed_redemptions(db, tenant, 60_000)
    started = time.perf_counter()
    stream: Iterator[Any] = exports(tenant).ExportRedemptions(pb.ExportRedemptionsRequest())
    first = next(stream)
    first_after = time.perf_counter() - started
    data = first.data + b"".join(body.data for body in stream)
    assert first_after < 1.0, f"first bytes after {first_after:.2f} s"
    rows = list(csv.reader(io.StringIO(data.decode(), newline="")))
    assert len(rows) == 60_001
    assert [r[4] for r in rows[1:]] == [f"customer-{n}" for n in range(1, 60_001)]


def generic_plan(db, tenant: TenantClient, query: str, args: tuple[Any, ...]) -> str:
    """The plan the server's pooled connection ends up with (a generic one, after five runs of the prepared
    statement), as the app role under the tenant, with row-level security in force."""

    async def explain() -> str:
        conn = await asyncpg.connect(db.dsn)
        try:
            async with conn.transaction():
                await conn.execute("SET LOCAL ROLE vauchflow_app")
                await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
                await conn.execute(QUERIES["set_tenant"], tenant.id)
                await conn.execute(f"PREPARE export_page AS {query}")
                literals = ", ".join("NULL" if a is None else f"'{a}'" for a in args)
                rows = await conn.fetch(f"EXPLAIN EXECUTE export_page({literals})")
                return "\n".join(row[0] for row in rows)
        finally:
            await conn.close()

    return asyncio.run(explain())


def test_every_page_starts_in_the_index_where_the_last_ended(api, db):
    """A page must not rescan from the export's start (a million rows would cost 100 million index entries):
    the keyset position and the end time are index conditions of redemptions_by_time (or _by_voucher)."""
    tenant = api.new_tenant()
    seed_redemptions(db, tenant, 20_000)
    db.fetch("ANALYZE redemptions")
    tenant_id, start, end = uuid.UUID(tenant.id), datetime(2026, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC)
    args = (tenant_id, start, uuid.UUID(int=0), end, None, None, 5000)
    plan = generic_plan(db, tenant, QUERIES["export_redemptions_page"], args)
    assert "Index Scan using redemptions_by_time" in plan, plan
    assert "Index Cond: ((tenant_id = $1) AND (ROW(create_time, id) > ROW($2, $3)) AND (create_time < $4))" in plan
    assert "Sort" not in plan, plan
    plan = generic_plan(db, tenant, QUERIES["export_voucher_redemptions_page"], (*args, uuid.uuid4()))
    # by_voucher or by_time, as the statistics say (here one voucher has every row): either starts at the position.
    assert "Index Cond: ((tenant_id = $1) AND" in plan and "(ROW(create_time, id) > ROW($2, $3))" in plan, plan
    codes = generic_plan(
        db, tenant, QUERIES["export_campaign_codes_page"], (tenant_id, uuid.uuid4(), start, uuid.UUID(int=0), 5000)
    )
    assert "vouchers_by_campaign" in codes and "ROW(create_time, id) > ROW($3, $4)" in codes, codes
