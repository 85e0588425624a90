"""The API server's Prometheus endpoint counts RPCs by method and status code."""

from __future__ import annotations

import secrets
import signal

import grpc

from support.metrics import sample, scrape
from support.polling import wait_for
from support.ports import free_port
from support.services import start_api_server
from vauchflow.v1 import voucher_service_pb2, voucher_service_pb2_grpc
from vauchflow_devstack import stop_child


def test_rpcs_are_counted_by_method_and_code(migrated_db, redis_server, tmp_path):
    metrics_port = free_port()
    server = start_api_server(
        database=migrated_db, redis_url=redis_server.url, admin_token="vf_op_" + secrets.token_urlsafe(24),
        port=free_port(), log_path=tmp_path / "server.log", extra_env={"VAUCHFLOW_METRICS_PORT": str(metrics_port)},
    )  # fmt: skip
    try:
        with grpc.insecure_channel(server.target) as channel:
            stub = voucher_service_pb2_grpc.VoucherServiceStub(channel)
            for _ in range(3):
                try:
                    request = voucher_service_pb2.GetVoucherRequest(code="X")
                    stub.GetVoucher(request, metadata=[("authorization", "Bearer nope")])
                except grpc.RpcError as error:
                    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
        wait_for(
            lambda: sample(scrape(metrics_port), "vauchflow_rpc_requests_total",
                            method="VoucherService/GetVoucher", code="UNAUTHENTICATED") == 3,
            what="three refused GetVoucher calls counted", timeout=10,
        )  # fmt: skip
        text = scrape(metrics_port)
        # Timed by code too, so refusals do not blur the latency of the calls that did the work.
        refused = {"method": "VoucherService/GetVoucher", "code": "UNAUTHENTICATED"}
        assert sample(text, "vauchflow_rpc_duration_seconds_count", **refused) == 3
        assert "nope" not in text  # credentials never become label values
    finally:
        assert stop_child(server.process, name="api-server", sig=signal.SIGTERM, timeout=30) == 0
