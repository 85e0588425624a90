"""GetUsageSummary on the real server, PostgreSQL and Redis: redemptions and rollbacks per hour, refusals by reason
counted in Redis without a PostgreSQL write (DESIGN.md invariant 2), webhook deliveries and the share delivered
within an hour, the plan and its limits; one tenant never sees another's figures; without Redis a refusal is still
answered (counting fails open, with a metric)."""

from __future__ import annotations

import itertools
import secrets
import signal
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import timestamp_pb2

from support.api_client import ApiSession, OwnerDatabase, TenantClient, expect_rpc_error, reason
from support.ports import free_port
from support.services import MigratedPostgres, start_api_server
from vauchflow.v1 import (
    redemption_service_pb2,
    tenant_pb2,
    webhook_pb2,
    webhook_service_pb2,
)
from vauchflow_devstack import stop_child

Summary = redemption_service_pb2.GetUsageSummaryRequest


def summary(tenant: TenantClient) -> redemption_service_pb2.GetUsageSummaryResponse:
    return tenant.redemptions.GetUsageSummary(Summary())


def refusals(tenant: TenantClient) -> dict[str, int]:
    return {r.reason: r.count for r in summary(tenant).refusals}


def refused_reason(tenant: TenantClient, code: str) -> str:
    return reason(expect_rpc_error(tenant.redeem, code)) or ""


def current_xid(db: OwnerDatabase) -> int:
    """PostgreSQL's transaction id counter: only a transaction that writes (or tries to) consumes one."""
    return int(db.fetchval("SELECT pg_current_xact_id()::text"))


def test_redemptions_and_rollbacks_per_hour_with_the_plan(api: ApiSession) -> None:
    tenant = api.new_tenant(plan=tenant_pb2.PLAN_GROWTH)
    voucher = tenant.create_voucher()
    made = [tenant.redeem(voucher.code).redemption for _ in range(3)]
    tenant.redemptions.RollbackRedemption(redemption_service_pb2.RollbackRedemptionRequest(id=made[0].id))

    result = summary(tenant)
    assert len(result.hours) == 24
    starts = [h.start_time.ToDatetime(tzinfo=UTC) for h in result.hours]
    assert starts == sorted(starts) and all(b - a == timedelta(hours=1) for a, b in itertools.pairwise(starts))
    assert result.window_start == result.hours[0].start_time
    now = result.window_end.ToDatetime(tzinfo=UTC)
    assert starts[-1] <= now < starts[-1] + timedelta(hours=1)
    assert (result.hours[-1].redemptions, result.hours[-1].rollbacks) == (3, 1)
    assert sum(h.redemptions for h in result.hours[:-1]) == 0
    assert (result.redemptions, result.rollbacks) == (3, 1)
    assert result.plan == tenant_pb2.PLAN_GROWTH
    assert result.limits.requests_per_second > 0 and result.limits.HasField("max_vouchers")


def test_refusals_are_counted_by_reason_without_a_postgres_write(api: ApiSession, db: OwnerDatabase) -> None:
    tenant = api.new_tenant()
    single = tenant.create_voucher(max_redemptions=1)
    tenant.redeem(single.code)
    flash = tenant.create_voucher(max_redemptions=1, flash_sale=True)
    tenant.redeem(flash.code)
    assert refused_reason(tenant, flash.code) == "VOUCHER_EXHAUSTED"  # the gate now knows it is sold out
    before = refusals(tenant)

    # A flash-sale refusal is decided in Redis: counting it there adds no PostgreSQL transaction either.
    xid = current_xid(db)
    for _ in range(3):
        assert refused_reason(tenant, flash.code) == "VOUCHER_EXHAUSTED"
    assert current_xid(db) == xid + 1  # + 1: current_xid's own call consumed the one before
    assert refused_reason(tenant, single.code) == "VOUCHER_EXHAUSTED"
    assert refused_reason(tenant, "NO-SUCH-CODE") == "VOUCHER_NOT_FOUND"
    expired = tenant.create_voucher(valid_until=_stamp(datetime.now(UTC) - timedelta(days=1)),
                                    valid_from=_stamp(datetime.now(UTC) - timedelta(days=2)))  # fmt: skip
    assert refused_reason(tenant, expired.code) == "VOUCHER_EXPIRED"

    after = refusals(tenant)
    assert after["VOUCHER_EXHAUSTED"] == before["VOUCHER_EXHAUSTED"] + 4
    assert after["VOUCHER_NOT_FOUND"] == 1 and after["VOUCHER_EXPIRED"] == 1
    assert list(after) == sorted(after, key=lambda r: -after[r])  # most frequent first
    assert summary(tenant).hours[-1].refusals == sum(after.values())


def test_one_tenant_never_sees_another_tenants_figures(api: ApiSession) -> None:
    busy, quiet = api.new_tenant(), api.new_tenant()
    voucher = busy.create_voucher(max_redemptions=1)
    busy.redeem(voucher.code)
    expect_rpc_error(busy.redeem, voucher.code)
    # The same code at the quiet tenant is simply unknown there.
    expect_rpc_error(quiet.redeem, voucher.code)
    assert refusals(busy) == {"VOUCHER_EXHAUSTED": 1}
    assert refusals(quiet) == {"VOUCHER_NOT_FOUND": 1}
    assert summary(quiet).redemptions == 0 and summary(busy).redemptions == 1


def test_it_needs_redemptions_read(api: ApiSession) -> None:
    tenant = api.new_tenant()
    _, secret = tenant.create_key(["webhooks:read"])
    error = expect_rpc_error(tenant.with_key(secret).redemptions.GetUsageSummary, Summary())
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    _, reader = tenant.create_key(["redemptions:read"])
    assert len(tenant.with_key(reader).redemptions.GetUsageSummary(Summary()).hours) == 24


def test_webhook_deliveries_and_the_share_within_an_hour(api: ApiSession, db: OwnerDatabase) -> None:
    tenant = api.new_tenant()
    endpoint = tenant.webhooks.CreateWebhookEndpoint(
        webhook_service_pb2.CreateWebhookEndpointRequest(
            webhook_endpoint=webhook_pb2.WebhookEndpoint(url="http://127.0.0.1:9/hook")
        )
    ).webhook_endpoint
    for _ in range(5):
        tenant.create_voucher()  # five voucher.created events to deliver
    events = db.fetch("SELECT event_id FROM outbox_events WHERE tenant_id = $1 ORDER BY id", uuid.UUID(tenant.id))
    assert len(events) >= 5
    now = datetime.now(UTC)
    rows = [  # (status, created ago, delivered after)
        ("DELIVERED", timedelta(hours=3), timedelta(minutes=10)),  # within the hour
        ("DELIVERED", timedelta(hours=5), timedelta(hours=2)),  # late
        ("PENDING", timedelta(minutes=10), None),  # its hour is not up: not judged yet
        ("FAILED", timedelta(hours=3), None),
        ("DELIVERED", timedelta(hours=30), timedelta(minutes=1)),  # before the window
    ]
    for (status, ago, after), event in zip(rows, events, strict=False):
        created = now - ago
        db.fetch(
            "INSERT INTO webhook_deliveries (tenant_id, id, endpoint_id, event_id, event_type, status, create_time,"
            " delivered_time) VALUES ($1, $2, $3, $4, 'voucher.created', $5, $6, $7)",
            uuid.UUID(tenant.id), uuid.uuid4(), uuid.UUID(endpoint.id), event["event_id"], status, created,
            created + after if after else None,
        )  # fmt: skip
    deliveries = summary(tenant).webhook_deliveries
    assert (deliveries.total, deliveries.delivered, deliveries.delivered_within_hour) == (4, 2, 1)
    assert (deliveries.pending, deliveries.failed) == (1, 1)
    assert deliveries.share_delivered_within_hour == pytest.approx(1 / 3)
    assert not summary(api.new_tenant()).webhook_deliveries.HasField("share_delivered_within_hour")


@pytest.fixture(scope="module")
def redisless(postgres: MigratedPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ApiSession, int]]:
    """A server whose Redis never answers (nothing listens on its port)."""
    database = postgres.create_database("redisless")
    metrics_port = free_port()
    server = start_api_server(
        database=database, redis_url=f"redis://127.0.0.1:{free_port()}/0",
        admin_token="vf_op_" + secrets.token_urlsafe(24), port=free_port(),
        log_path=tmp_path_factory.mktemp("redisless") / "server.log",
        extra_env={"VAUCHFLOW_METRICS_PORT": str(metrics_port)},
    )  # fmt: skip
    try:
        with ApiSession(server) as session:
            yield session, metrics_port
    finally:
        assert stop_child(server.process, name="api-server", sig=signal.SIGTERM, timeout=30) == 0
        postgres.drop_database(database.name)


def test_without_redis_a_refusal_is_still_answered_and_the_summary_still_served(
    redisless: tuple[ApiSession, int],
) -> None:
    session, metrics_port = redisless
    tenant = session.new_tenant()
    voucher = tenant.create_voucher(max_redemptions=1)
    tenant.redeem(voucher.code)
    assert refused_reason(tenant, voucher.code) == "VOUCHER_EXHAUSTED"
    result = summary(tenant)
    assert result.redemptions == 1 and list(result.refusals) == []
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as response:
        metrics = response.read().decode()
    assert "vauchflow_refusal_count_failures_total 1.0" in metrics


def _stamp(when: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(when)
    return stamp
