"""The API server with a real streaming hot standby: lists read from it, writes answer with their commit position,
a read carrying one never sees an older state (the replica waits or the primary answers), a replica that falls
behind leaves rotation and comes back, and row-level security holds there exactly as on the primary."""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

import vauchflow
from support.api_client import ApiSession, TenantClient, assert_error, expect_rpc_error, unique_code
from support.gateway import Gateway, start_gateway
from support.polling import wait_for
from support.ports import free_port
from support.services import ApiServer, MigratedDatabase, start_api_server
from vauchflow.v1 import (
    api_key_service_pb2,
    campaign_service_pb2,
    data_exchange_service_pb2,
    data_exchange_service_pb2_grpc,
    redemption_service_pb2,
    tenant_service_pb2,
    voucher_pb2,
    voucher_service_pb2,
    voucher_service_pb2_grpc,
    webhook_pb2,
    webhook_service_pb2,
)
from vauchflow_core.db.migrate import APP_ROLE, migrate
from vauchflow_devstack import EmbeddedPostgres, EmbeddedRedis, stop_child
from vauchflow_devstack.postgres_replica import EmbeddedStandby

HEADER = "x-vauchflow-commit-position"
# Short enough that the pause test sees the replica leave rotation quickly, long enough that an idle machine's
# replica never does by accident.
MAX_LAG_SECONDS = 1.0


@dataclass
class Replicated:
    primary: EmbeddedPostgres
    standby: EmbeddedStandby
    server: ApiServer
    metrics_url: str

    def reads(self) -> dict[tuple[str, str], float]:
        """vauchflow_db_reads_total by (target, reason)."""
        return {
            (sample.labels["target"], sample.labels["reason"]): sample.value
            for family in self._families()
            if family.name == "vauchflow_db_reads"
            for sample in family.samples
            if sample.name == "vauchflow_db_reads_total"
        }

    def gauge(self, name: str) -> float:
        return next(s.value for f in self._families() if f.name == name for s in f.samples)

    def replica_reads(self) -> float:
        return sum(value for (target, _), value in self.reads().items() if target == "replica")

    def primary_reads(self, reason: str) -> float:
        return self.reads().get(("primary", reason), 0.0)

    def _families(self) -> Any:
        with urllib.request.urlopen(self.metrics_url, timeout=5) as response:
            return list(text_string_to_metric_families(response.read().decode()))


@pytest.fixture(scope="module")
def replicated(tmp_path_factory: pytest.TempPathFactory, redis_server: EmbeddedRedis) -> Iterator[Replicated]:
    root = tmp_path_factory.mktemp("replicated")
    # Durable: with synchronous_commit off the primary would hold commits back from the standby for a while.
    primary = EmbeddedPostgres(root / "primary", free_port(), durable=True)
    primary.start()
    standby = EmbeddedStandby(primary, root / "standby", free_port())
    try:
        primary.create_database("vauchflow")
        app_password = secrets.token_urlsafe(24)
        asyncio.run(migrate(primary.owner_dsn("vauchflow"), app_password))
        standby.start()
        metrics_port = free_port()
        server = start_api_server(
            database=MigratedDatabase(
                "vauchflow", primary.owner_dsn("vauchflow"), primary.dsn("vauchflow", APP_ROLE, app_password)
            ),
            redis_url=redis_server.url,
            admin_token="vf_op_" + secrets.token_urlsafe(24),
            port=free_port(),
            log_path=root / "server.log",
            extra_env={
                "DATABASE_REPLICA_URL": standby.dsn("vauchflow", APP_ROLE, app_password),
                "VAUCHFLOW_REPLICA_MAX_LAG_SECONDS": str(MAX_LAG_SECONDS),
                "VAUCHFLOW_REPLICA_CHECK_SECONDS": "0.05",
                "VAUCHFLOW_METRICS_PORT": str(metrics_port),
            },
        )
        try:
            yield Replicated(primary, standby, server, f"http://127.0.0.1:{metrics_port}/metrics")
        finally:
            assert stop_child(server.process, name="api-server", sig=signal.SIGTERM, timeout=30) == 0
    finally:
        standby.stop()
        primary.stop()


@pytest.fixture
def api(replicated: Replicated) -> Iterator[ApiSession]:
    with ApiSession(replicated.server) as session:
        yield session


@pytest.fixture
def replay_resumed(replicated: Replicated) -> Iterator[None]:
    """Whatever a test does to replay, the next test starts with it running and the replica in rotation."""
    yield
    replicated.standby.psql("SELECT pg_wal_replay_resume()")
    wait_for(lambda: replicated.gauge("vauchflow_db_replica_in_rotation") == 1, what="replica in rotation",
             timeout=30)  # fmt: skip


def tenant_sdk(api: ApiSession, tenant: TenantClient) -> vauchflow.Client:
    return vauchflow.Client(tenant.secret, target=api.server.target, tls=False, max_retries=0)


def test_a_write_answers_with_its_commit_position_and_a_list_with_it_sees_the_write(
    replicated: Replicated, api: ApiSession
) -> None:
    tenant = api.new_tenant()
    stub = voucher_service_pb2_grpc.VoucherServiceStub(api.channel)
    auth = ("authorization", f"Bearer {tenant.secret}")
    replica_before = replicated.replica_reads()
    for _ in range(20):
        code = unique_code()
        _, call = stub.CreateVoucher.with_call(
            voucher_service_pb2.CreateVoucherRequest(
                voucher=voucher_pb2.Voucher(code=code, discount=voucher_pb2.Discount(percent_off=5))
            ),
            metadata=(auth,),
            timeout=10,
        )
        position = dict(call.initial_metadata())[HEADER]
        assert position.isdigit()
        listed = stub.ListVouchers(
            voucher_service_pb2.ListVouchersRequest(page_size=1000), metadata=(auth, (HEADER, position)), timeout=10
        )
        assert code in {v.code for v in listed.vouchers}
    # Reads send no position of their own: only writes answer with one.
    _, call = stub.ListVouchers.with_call(voucher_service_pb2.ListVouchersRequest(), metadata=(auth,), timeout=10)
    assert HEADER not in dict(call.initial_metadata())
    # The replica served lists (in 50 ms it usually replays a commit); the primary answers the rest.
    assert replicated.replica_reads() > replica_before


def test_the_python_client_carries_its_position_back(replicated: Replicated, api: ApiSession) -> None:
    tenant = api.new_tenant()
    with tenant_sdk(api, tenant) as client:
        assert client.commit_position is None
        for _ in range(10):
            voucher = client.vouchers.create(code=unique_code(), percent_off=10)
            position = client.commit_position
            assert position is not None
            assert voucher.code in {v.code for v in client.vouchers.list(page_size=1000)}
            assert client.commit_position == position  # reads leave it alone
        # A copy made by with_options keeps the position; one given a position starts from it.
        assert client.with_options(timeout=5).commit_position == position
        assert client.with_options(commit_position=7).commit_position == 7


async def test_the_asyncio_client_carries_its_position_back_too(replicated: Replicated, api: ApiSession) -> None:
    tenant = api.new_tenant()
    async with vauchflow.AsyncClient(tenant.secret, target=api.server.target, tls=False, max_retries=0) as client:
        voucher = await client.vouchers.create(code=unique_code(), percent_off=10)
        first = client.commit_position
        assert first is not None
        assert voucher.code in {v.code async for v in client.vouchers.list(page_size=1000)}
        await client.vouchers.disable(voucher.code)
        assert client.commit_position is not None and client.commit_position > first


def test_with_replay_paused_reads_go_to_the_primary_and_come_back_when_it_resumes(
    replicated: Replicated, api: ApiSession, replay_resumed: None
) -> None:
    tenant = api.new_tenant()
    wait_for(lambda: replicated.gauge("vauchflow_db_replica_in_rotation") == 1, what="replica in rotation",
             timeout=30)  # fmt: skip
    replicated.standby.psql("SELECT pg_wal_replay_pause()")
    with tenant_sdk(api, tenant) as client:
        behind_before = replicated.primary_reads("behind_position")
        voucher = client.vouchers.create(code=unique_code(), percent_off=10)
        # Still read-your-writes: the replica cannot replay the write, so after its brief wait the primary answers.
        assert voucher.code in {v.code for v in client.vouchers.list(page_size=1000)}
        assert replicated.primary_reads("behind_position") == behind_before + 1

        # Lagging more than the limit, the replica leaves rotation: every read goes to the primary.
        wait_for(lambda: replicated.gauge("vauchflow_db_replica_in_rotation") == 0, what="replica out of rotation",
                 timeout=30)  # fmt: skip
        assert replicated.gauge("vauchflow_db_replica_lag_seconds") > MAX_LAG_SECONDS
        assert replicated.gauge("vauchflow_db_replica_lag_bytes") > 0
        replica_before = replicated.replica_reads()
        out_before = replicated.primary_reads("out_of_rotation")
        fresh = vauchflow.Client(tenant.secret, target=api.server.target, tls=False)  # carries no position
        with fresh:
            for _ in range(10):
                assert voucher.code in {v.code for v in fresh.vouchers.list(page_size=1000)}
        assert replicated.replica_reads() == replica_before  # the replica-served share is zero
        assert replicated.primary_reads("out_of_rotation") == out_before + 10

        replicated.standby.psql("SELECT pg_wal_replay_resume()")
        wait_for(lambda: replicated.gauge("vauchflow_db_replica_in_rotation") == 1, what="replica back in rotation",
                 timeout=30)  # fmt: skip
        assert voucher.code in {v.code for v in client.vouchers.list(page_size=1000)}
        assert replicated.replica_reads() == replica_before + 1


def test_row_level_security_holds_on_the_replica_for_every_list(replicated: Replicated, api: ApiSession) -> None:
    a, b = api.new_tenant("tenant A"), api.new_tenant("tenant B")
    a_voucher = a.create_voucher()
    a.redeem(a_voucher.code)
    a.create_key(["vouchers:read"], name="A's reader")
    endpoint = a.webhooks.CreateWebhookEndpoint(
        webhook_service_pb2.CreateWebhookEndpointRequest(
            webhook_endpoint=webhook_pb2.WebhookEndpoint(url="https://hooks.example.com/a")
        )
    )

    def a_lists_its_redemption_from_the_replica() -> bool:
        before = replicated.replica_reads()
        listed = a.redemptions.ListRedemptions(redemption_service_pb2.ListRedemptionsRequest()).redemptions
        return len(listed) == 1 and replicated.replica_reads() == before + 1

    # The replica has A's rows (A sees them there), so what B sees next is RLS's doing, not replication lag.
    wait_for(a_lists_its_redemption_from_the_replica, what="A's rows on the replica", timeout=30)
    a_events = a.webhooks.ListEvents(webhook_service_pb2.ListEventsRequest(page_size=100)).events
    assert {e.type for e in a_events} >= {"voucher.created", "redemption.succeeded"}

    before = replicated.replica_reads()
    lists: dict[str, Any] = {
        "ListVouchers": b.vouchers.ListVouchers(voucher_service_pb2.ListVouchersRequest(page_size=100)).vouchers,
        "ListRedemptions": b.redemptions.ListRedemptions(redemption_service_pb2.ListRedemptionsRequest()).redemptions,
        "ListApiKeys": [
            k for k in b.api_keys.ListApiKeys(api_key_service_pb2.ListApiKeysRequest()).api_keys if k.tenant_id != b.id
        ],
        "ListApiKeyEvents": [
            e
            for e in b.api_keys.ListApiKeyEvents(api_key_service_pb2.ListApiKeyEventsRequest()).api_key_events
            if e.api_key_id != b.api_key.id
        ],
        "ListWebhookEndpoints": b.webhooks.ListWebhookEndpoints(
            webhook_service_pb2.ListWebhookEndpointsRequest()
        ).webhook_endpoints,
        "ListEvents": b.webhooks.ListEvents(webhook_service_pb2.ListEventsRequest(page_size=100)).events,
        "ListCampaigns": b.campaigns.ListCampaigns(campaign_service_pb2.ListCampaignsRequest()).campaigns,
    }
    assert lists == {name: [] for name in lists}
    # A's endpoint id does not exist for B on the replica either.
    error = expect_rpc_error(
        b.webhooks.ListDeliveries,
        webhook_service_pb2.ListDeliveriesRequest(endpoint_id=endpoint.webhook_endpoint.id),
    )
    assert_error(error, grpc.StatusCode.NOT_FOUND)
    error = expect_rpc_error(
        b.redemptions.ListRedemptions, redemption_service_pb2.ListRedemptionsRequest(voucher_code=a_voucher.code)
    )
    assert_error(error, grpc.StatusCode.NOT_FOUND, "VOUCHER_NOT_FOUND")
    # B's export of redemptions, read page by page on the replica, holds the header row only.
    exports = data_exchange_service_pb2_grpc.DataExchangeServiceStub(b.channel)
    export = exports.ExportRedemptions(
        data_exchange_service_pb2.ExportRedemptionsRequest(), metadata=(("authorization", f"Bearer {b.secret}"),)
    )
    assert b"".join(chunk.data for chunk in export).count(b"\r\n") == 1
    # Every one of those reads was served by the replica.
    assert replicated.replica_reads() == before + len(lists) + 3
    # The operator's tenant list reads there too, and sees both.
    tenants = api.tenants.ListTenants(tenant_service_pb2.ListTenantsRequest(page_size=1000)).tenants
    assert {a.id, b.id} <= {t.id for t in tenants}


def test_a_malformed_position_is_refused_with_a_reason(api: ApiSession) -> None:
    tenant = api.new_tenant()
    stub = voucher_service_pb2_grpc.VoucherServiceStub(api.channel)
    error = expect_rpc_error(
        stub.ListVouchers,
        voucher_service_pb2.ListVouchersRequest(),
        metadata=(("authorization", f"Bearer {tenant.secret}"), (HEADER, "0/16B3748")),
        timeout=10,
    )
    assert_error(error, grpc.StatusCode.INVALID_ARGUMENT)
    assert "decimal WAL position" in (error.details() or "")


@pytest.fixture(scope="module")
def replicated_gateway(replicated: Replicated, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = start_gateway(tmp_path_factory.mktemp("replica_gateway"), [replicated.server.target])
    try:
        yield gateway
    finally:
        gateway.stop()


def test_rest_through_envoy_sees_the_position_as_a_header(api: ApiSession, replicated_gateway: Gateway) -> None:
    tenant = api.new_tenant()
    code = unique_code()
    request = urllib.request.Request(
        f"{replicated_gateway.public_url}/v1/vouchers",
        data=json.dumps({"code": code, "discount": {"percent_off": 10}}).encode(),
        headers={"Authorization": f"Bearer {tenant.secret}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        position = response.headers[HEADER]
    assert position is not None and position.isdigit()
    listing = urllib.request.Request(
        f"{replicated_gateway.public_url}/v1/vouchers?page_size=1000",
        headers={"Authorization": f"Bearer {tenant.secret}", HEADER: position},
    )
    with urllib.request.urlopen(listing, timeout=10) as response:
        assert code in {v["code"] for v in json.loads(response.read())["vouchers"]}
