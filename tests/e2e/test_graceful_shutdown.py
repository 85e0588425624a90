"""SIGTERM on the API server: health turns NOT_SERVING, the in-flight RPC finishes, the process exits 0."""

from __future__ import annotations

import concurrent.futures
import queue
import secrets
import signal
import threading

import asyncpg
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from support.polling import wait_for
from support.ports import free_port
from support.services import start_api_server
from vauchflow.v1 import (
    redemption_pb2,
    redemption_service_pb2,
    redemption_service_pb2_grpc,
    tenant_service_pb2,
    tenant_service_pb2_grpc,
    voucher_pb2,
    voucher_service_pb2,
    voucher_service_pb2_grpc,
)
from vauchflow_devstack import stop_child


async def _wait_for_lock_waiter(owner_dsn: str) -> None:
    conn = await asyncpg.connect(owner_dsn)
    try:
        for _ in range(600):
            waiting = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = 'vauchflow_app' AND wait_event_type = 'Lock'"
            )
            if waiting:
                return
            await conn.execute("SELECT pg_sleep(0.05)")
        raise AssertionError("the redeem never reached the row lock")
    finally:
        await conn.close()


async def test_sigterm_drains_in_flight_rpcs_and_exits_zero(migrated_db, redis_server, tmp_path):
    admin_token = "vf_op_" + secrets.token_urlsafe(24)
    server = start_api_server(
        database=migrated_db, redis_url=redis_server.url, admin_token=admin_token, port=free_port(),
        log_path=tmp_path / "server.log",
    )  # fmt: skip
    try:
        channel = grpc.insecure_channel(server.target)
        created = tenant_service_pb2_grpc.TenantServiceStub(channel).CreateTenant(
            tenant_service_pb2.CreateTenantRequest(name="Drain GmbH"),
            metadata=[("authorization", f"Bearer {admin_token}")],
        )
        key = [("authorization", f"Bearer {created.secret}")]
        voucher_service_pb2_grpc.VoucherServiceStub(channel).CreateVoucher(
            voucher_service_pb2.CreateVoucherRequest(
                voucher=voucher_pb2.Voucher(code="DRAIN", discount=voucher_pb2.Discount(percent_off=5))
            ),
            metadata=key,
        )

        health_updates: queue.Queue[int] = queue.Queue()
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""))

        def follow_health() -> None:
            try:
                for update in watch:
                    health_updates.put(update.status)
            except grpc.RpcError:
                pass  # cancelled below, or ended by the server's shutdown

        threading.Thread(target=follow_health, daemon=True).start()
        assert health_updates.get(timeout=10) == health_pb2.HealthCheckResponse.SERVING

        # Hold the voucher's row lock so a redeem is provably in flight when SIGTERM arrives.
        locker = await asyncpg.connect(server.owner_dsn)
        lock = locker.transaction()
        await lock.start()
        await locker.execute("SELECT 1 FROM vouchers WHERE code = 'DRAIN' FOR UPDATE")
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            in_flight = pool.submit(
                redemption_service_pb2_grpc.RedemptionServiceStub(channel).RedeemVoucher,
                redemption_service_pb2.RedeemVoucherRequest(
                    code="DRAIN", order=redemption_pb2.Order(amount=1000, currency="EUR")
                ),
                metadata=key,
                timeout=30,
            )
            await _wait_for_lock_waiter(server.owner_dsn)
            server.process.send_signal(signal.SIGTERM)
            assert health_updates.get(timeout=10) == health_pb2.HealthCheckResponse.NOT_SERVING
            watch.cancel()  # a long-lived stream would otherwise hold shutdown for the whole grace period
            assert server.process.poll() is None, "the server must wait for the in-flight RPC"
            await lock.rollback()
            await locker.close()
            response = in_flight.result(timeout=30)
        assert response.voucher.redemption_count == 1
        wait_for(lambda: server.process.poll() is not None, what="server exit", timeout=30)
        assert server.process.returncode == 0
        channel.close()
    finally:
        stop_child(server.process, name="api-server", sig=signal.SIGKILL, timeout=10)
