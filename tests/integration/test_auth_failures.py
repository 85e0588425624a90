"""Failed authentications are limited per client address (issue 16, finding 4): past the limit an address's
requests are refused before any key is looked up, other addresses are not affected, and the address is the one
Envoy (a trusted proxy) recorded, not one a client claims."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import grpc
import pytest

from support.api_client import assert_error, expect_rpc_error
from support.ports import free_port
from support.services import ApiServer, MigratedPostgres, start_api_server
from vauchflow.v1 import voucher_service_pb2, voucher_service_pb2_grpc
from vauchflow_core import api_key_secrets
from vauchflow_core.rpc.client_address import client_address
from vauchflow_devstack import EmbeddedRedis, stop_child

LIMIT = 5


@pytest.fixture(scope="module")
def strict_server(postgres: MigratedPostgres, redis_server: EmbeddedRedis, tmp_path_factory) -> Iterator[ApiServer]:
    database = postgres.create_database("auth_failures")
    server = start_api_server(
        database=database,
        redis_url=redis_server.url,
        admin_token="vf_op_" + secrets.token_urlsafe(24),
        port=free_port(),
        log_path=tmp_path_factory.mktemp("auth_failures") / "server.log",
        extra_env={"VAUCHFLOW_AUTH_FAILURES_PER_MINUTE": str(LIMIT)},
    )
    try:
        yield server
    finally:
        stop_child(server.process, name="api-server", timeout=30)
        postgres.drop_database(database.name)


def list_vouchers(channel: grpc.Channel, secret: str, forwarded_for: str) -> None:
    voucher_service_pb2_grpc.VoucherServiceStub(channel).ListVouchers(
        voucher_service_pb2.ListVouchersRequest(),
        metadata=(("authorization", f"Bearer {secret}"), ("x-forwarded-for", forwarded_for)),
        timeout=10,
    )


def test_an_address_guessing_keys_is_cut_off_and_others_are_not(strict_server: ApiServer) -> None:
    guesser, bystander = "203.0.113.7", "198.51.100.23"
    with grpc.insecure_channel(strict_server.target) as channel:
        for _ in range(LIMIT):
            error = expect_rpc_error(list_vouchers, channel, api_key_secrets.generate().secret, guesser)
            assert_error(error, grpc.StatusCode.UNAUTHENTICATED, "API_KEY_INVALID")
        error = expect_rpc_error(list_vouchers, channel, api_key_secrets.generate().secret, guesser)
        assert_error(error, grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED")
        assert dict(error.trailing_metadata() or ())["retry-after"]
        # Another address still gets an honest answer.
        error = expect_rpc_error(list_vouchers, channel, api_key_secrets.generate().secret, bystander)
        assert_error(error, grpc.StatusCode.UNAUTHENTICATED, "API_KEY_INVALID")


def test_the_address_comes_from_the_trusted_proxy_not_from_the_client() -> None:
    # From a trusted proxy (loopback): the last hop it did not add itself.
    assert client_address("ipv4:127.0.0.1:5555", [("x-forwarded-for", "1.2.3.4, 203.0.113.7")]) == "203.0.113.7"
    # Through two trusted hops (the web service, then Envoy): the browser's address.
    assert client_address("ipv4:127.0.0.1:5555", [("x-forwarded-for", "203.0.113.7, 127.0.0.1")]) == "203.0.113.7"
    # From anyone else, x-forwarded-for proves nothing.
    assert client_address("ipv4:198.51.100.1:5555", [("x-forwarded-for", "203.0.113.7")]) == "198.51.100.1"
    assert client_address("ipv6:[2001:db8::1]:443", []) == "2001:db8::1"
    assert client_address("ipv4:127.0.0.1:1", [("x-forwarded-for", "not an address")]) == "127.0.0.1"
