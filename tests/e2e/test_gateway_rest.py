"""REST/JSON and native gRPC through the real Envoy gateway in front of the real API server and PostgreSQL.

Every REST response goes through expect_json/expect_error, which also check that no gRPC framing header leaks.
"""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from support.api_client import OwnerDatabase
from support.gateway import (
    RestClient,
    assert_one_redeemed_rest_exhausted,
    concurrent_posts,
    expect_error,
    expect_json,
    field_violations,
    new_tenant_key,
    start_gateway,
)
from support.ports import free_port
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

ORDER = {"order": {"amount": "10000", "currency": "EUR"}}


def unique_code() -> str:
    return f"REST-{uuid.uuid4().hex[:12].upper()}"


@pytest.fixture
def merchant(gateway, api_server) -> RestClient:
    """A new tenant's REST client, holding the tenant's first (all-permissions) key."""
    return gateway.rest(new_tenant_key(gateway.rest(api_server.admin_token)))


def create_voucher(rest: RestClient, **fields) -> dict:
    voucher = {"code": unique_code(), "discount": {"percent_off": 10}, **fields}
    return expect_json(rest.post("/v1/vouchers", voucher))["voucher"]


# Successful calls: the JSON shape


def test_json_uses_snake_case_prints_zero_primitives_and_enum_names(merchant):
    created = create_voucher(merchant, max_redemptions="3")
    fetched = expect_json(merchant.get(f"/v1/vouchers/{created['code']}"))["voucher"]

    for voucher in (created, fetched):
        assert voucher["redemption_count"] == "0"  # int64 is a JSON string; zero is printed, not omitted
        assert voucher["max_redemptions"] == "3"
        assert voucher["status"] == "VOUCHER_STATUS_ACTIVE"
        assert voucher["currency"] == ""  # an empty string is printed too
        assert {"create_time", "update_time", "redemption_count"} <= set(voucher)
        assert not [key for key in voucher if any(c.isupper() for c in key)], voucher
        # optional fields that were never set stay absent (unlimited), unlike zero-valued plain fields
        assert "per_customer_limit" not in voucher

    redeemed = expect_json(merchant.post(f"/v1/vouchers/{created['code']}:redeem", ORDER))
    assert redeemed["redemption"]["status"] == "REDEMPTION_STATUS_SUCCEEDED"
    assert redeemed["redemption"]["discount_amount"] == "1000"
    assert redeemed["redemption"]["voucher_code"] == created["code"]
    assert redeemed["voucher"]["redemption_count"] == "1"


# Errors from the API server, as JSON google.rpc.Status with the gRPC code mapped to HTTP


def test_unknown_voucher_is_404_voucher_not_found(merchant):
    body = expect_error(merchant.get("/v1/vouchers/NO-SUCH-VOUCHER"), 404, "VOUCHER_NOT_FOUND")
    assert body["code"] == grpc.StatusCode.NOT_FOUND.value[0]


def test_exhausted_voucher_is_400_voucher_exhausted(merchant):
    code = create_voucher(merchant, max_redemptions="1")["code"]
    expect_json(merchant.post(f"/v1/vouchers/{code}:redeem", ORDER))

    body = expect_error(merchant.post(f"/v1/vouchers/{code}:redeem", ORDER), 400, "VOUCHER_EXHAUSTED")
    assert body["code"] == grpc.StatusCode.FAILED_PRECONDITION.value[0]


def test_expired_voucher_is_400_voucher_expired(merchant):
    code = create_voucher(merchant, valid_from="2020-01-01T00:00:00Z", valid_until="2021-01-01T00:00:00Z")["code"]

    body = expect_error(merchant.post(f"/v1/vouchers/{code}:redeem", ORDER), 400, "VOUCHER_EXPIRED")
    assert body["code"] == grpc.StatusCode.FAILED_PRECONDITION.value[0]


def test_invalid_argument_is_400_with_field_violations(merchant):
    response = merchant.post("/v1/vouchers", {"code": unique_code(), "discount": {"percent_off": 500}})

    body = expect_error(response, 400, "INVALID_ARGUMENT")
    assert body["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert [v["field"] for v in field_violations(body)] == ["voucher.discount.percent_off"]


def test_missing_api_key_is_401(gateway):
    body = expect_error(gateway.rest().get("/v1/vouchers/ANY"), 401, "API_KEY_INVALID")
    assert body["code"] == grpc.StatusCode.UNAUTHENTICATED.value[0]


def test_bad_api_key_is_401(gateway):
    expect_error(gateway.rest("vf_sk_not-a-real-key").get("/v1/vouchers/ANY"), 401, "API_KEY_INVALID")


def test_missing_permission_is_403_permission_missing(merchant):
    created = expect_json(merchant.post("/v1/api-keys", {"name": "read only", "permissions": ["vouchers:read"]}))
    assert created["api_key"]["permissions"] == ["vouchers:read"]
    read_only = merchant.with_token(created["secret"])
    code = create_voucher(merchant)["code"]
    expect_json(read_only.get(f"/v1/vouchers/{code}"))

    body = expect_error(read_only.post(f"/v1/vouchers/{code}:redeem", ORDER), 403, "PERMISSION_MISSING")
    assert body["code"] == grpc.StatusCode.PERMISSION_DENIED.value[0]
    assert body["details"][0]["metadata"]["permission"] == "redemptions:write"


def test_code_taken_is_409_voucher_code_taken(merchant):
    code = create_voucher(merchant)["code"]

    response = merchant.post("/v1/vouchers", {"code": code, "discount": {"percent_off": 20}})
    body = expect_error(response, 409, "VOUCHER_CODE_TAKEN")
    assert body["code"] == grpc.StatusCode.ALREADY_EXISTS.value[0]


def test_request_id_reused_with_another_request_is_409(merchant):
    request_id = f"req-{uuid.uuid4()}"
    first = {"code": unique_code(), "discount": {"percent_off": 10}}
    created = expect_json(merchant.post("/v1/vouchers", first, query={"request_id": request_id}))
    replayed = expect_json(merchant.post("/v1/vouchers", first, query={"request_id": request_id}))
    assert replayed["voucher"]["id"] == created["voucher"]["id"]

    other = {"code": unique_code(), "discount": {"percent_off": 10}}
    response = merchant.post("/v1/vouchers", other, query={"request_id": request_id})
    expect_error(response, 409, "IDEMPOTENCY_KEY_REUSED")
    expect_error(merchant.get(f"/v1/vouchers/{other['code']}"), 404, "VOUCHER_NOT_FOUND")


# Replies Envoy makes itself: JSON in the same shape


def test_unknown_path_is_404_json(merchant):
    body = expect_error(merchant.get("/v1/no-such-resource"), 404, "PATH_NOT_FOUND")
    assert body["code"] == grpc.StatusCode.NOT_FOUND.value[0]


def test_unknown_query_parameter_is_400_json(merchant):
    body = expect_error(merchant.get("/v1/vouchers", query={"bogus": "1"}), 400, "INVALID_REQUEST")
    assert body["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "bogus" in body["message"]


def test_malformed_json_is_400_json(merchant):
    response = merchant.post("/v1/vouchers", raw_body=b'{"code": "BROKEN", "discount": ')
    body = expect_error(response, 400, "INVALID_REQUEST")
    assert body["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]


def test_body_over_one_mebibyte_is_413_json(merchant):
    oversized = b'{"code": "BIG", "metadata": {"filler": "' + b"x" * (1024 * 1024) + b'"}}'

    body = expect_error(merchant.post("/v1/vouchers", raw_body=oversized), 413, "REQUEST_TOO_LARGE")
    assert body["code"] == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    expect_error(merchant.get("/v1/vouchers/BIG"), 404, "VOUCHER_NOT_FOUND")


def test_chunked_body_over_one_mebibyte_is_413_json(merchant):
    # No Content-Length: the size is only known while the body streams in.
    def chunks():
        yield b'{"code": "BIG-CHUNKED", "metadata": {"filler": "'
        yield from (b"x" * 65536 for _ in range(32))  # 2 MiB
        yield b'"}}'

    expect_error(merchant.post("/v1/vouchers", raw_body=chunks()), 413, "REQUEST_TOO_LARGE")
    expect_error(merchant.get("/v1/vouchers/BIG-CHUNKED"), 404, "VOUCHER_NOT_FOUND")


def test_no_replica_up_is_503_json(tmp_path):
    # Nothing listens on this port: Envoy has no healthy host at all.
    gateway = start_gateway(tmp_path / "envoy", [f"127.0.0.1:{free_port()}"], require_upstream=False)
    try:
        rest = gateway.rest("vf_sk_whatever")
        body = expect_error(rest.get("/v1/vouchers/ANY"), 503, "UPSTREAM_UNAVAILABLE")
        assert body["code"] == grpc.StatusCode.UNAVAILABLE.value[0]
        expect_error(rest.post("/v1/vouchers/ANY:redeem", ORDER), 503, "UPSTREAM_UNAVAILABLE")
        assert expect_json(rest.get("/actuator/health"), 503)["status"] == "DOWN"
    finally:
        gateway.stop()


# Native gRPC on the same public port


def test_native_grpc_through_the_public_port_keeps_error_details(gateway, api_server):
    with grpc.insecure_channel(gateway.grpc_target) as channel:
        created = tenant_service_pb2_grpc.TenantServiceStub(channel).CreateTenant(
            tenant_service_pb2.CreateTenantRequest(name="gRPC via Envoy"),
            metadata=[("authorization", f"Bearer {api_server.admin_token}")],
            timeout=10,
        )
        key = [("authorization", f"Bearer {created.secret}")]
        vouchers = voucher_service_pb2_grpc.VoucherServiceStub(channel)
        redemptions = redemption_service_pb2_grpc.RedemptionServiceStub(channel)
        code = unique_code()
        vouchers.CreateVoucher(
            voucher_service_pb2.CreateVoucherRequest(
                voucher=voucher_pb2.Voucher(code=code, discount=voucher_pb2.Discount(percent_off=10))
            ),
            metadata=key,
            timeout=10,
        )
        redeemed = redemptions.RedeemVoucher(
            redemption_service_pb2.RedeemVoucherRequest(
                code=code, order=redemption_pb2.Order(amount=10_000, currency="EUR")
            ),
            metadata=key,
            timeout=10,
        )
        assert redeemed.voucher.redemption_count == 1

        with pytest.raises(grpc.RpcError) as not_found:
            vouchers.GetVoucher(voucher_service_pb2.GetVoucherRequest(code="NO-SUCH"), metadata=key, timeout=10)
        with pytest.raises(grpc.RpcError) as invalid:
            vouchers.CreateVoucher(
                voucher_service_pb2.CreateVoucherRequest(
                    voucher=voucher_pb2.Voucher(code=unique_code(), discount=voucher_pb2.Discount(percent_off=500))
                ),
                metadata=key,
                timeout=10,
            )

    assert not_found.value.code() == grpc.StatusCode.NOT_FOUND
    assert _details(not_found.value, error_details_pb2.ErrorInfo)[0].reason == "VOUCHER_NOT_FOUND"
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _details(invalid.value, error_details_pb2.ErrorInfo)[0].reason == "INVALID_ARGUMENT"
    (bad_request,) = _details(invalid.value, error_details_pb2.BadRequest)
    assert [v.field for v in bad_request.field_violations] == ["voucher.discount.percent_off"]
    # The same tenant's data over REST: one API behind one port.
    voucher = expect_json(gateway.rest(created.secret).get(f"/v1/vouchers/{code}"))["voucher"]
    assert voucher["redemption_count"] == "1"


def _details(error: grpc.RpcError, message_type: type) -> list:
    status = rpc_status.from_call(error)
    assert status is not None, f"no grpc-status-details-bin on {error.code().name}: {error.details()}"
    found = []
    for detail in status.details:
        if detail.Is(message_type.DESCRIPTOR):
            message = message_type()
            detail.Unpack(message)
            found.append(message)
    return found


# Concurrency


def test_100_concurrent_rest_redeems_of_a_single_use_voucher(gateway, merchant, api_server):
    code = create_voucher(merchant, max_redemptions="1")["code"]

    responses = concurrent_posts(merchant, f"/v1/vouchers/{code}:redeem", ORDER, count=100)

    assert_one_redeemed_rest_exhausted(responses)
    assert (
        OwnerDatabase(api_server.owner_dsn).fetchval("SELECT redemption_count FROM vouchers WHERE code = $1", code) == 1
    )
