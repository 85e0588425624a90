"""The REST contract Envoy keeps beside the transcoder: 405 with an Allow header on a known path, and an
x-request-id on every response that also reaches error bodies and the server's log. Real Envoy, API server and
PostgreSQL."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from support.gateway import RestClient, expect_error, expect_json, new_tenant_key
from support.polling import wait_for
from vauchflow.v1 import voucher_service_pb2, voucher_service_pb2_grpc
from vauchflow_core.rpc.request_ids import MAX_LENGTH, PATTERN

REPO = Path(__file__).resolve().parents[2]
DOCUMENT = REPO / "docs" / "openapi.json"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"


@pytest.fixture
def merchant(gateway, api_server) -> RestClient:
    return gateway.rest(new_tenant_key(gateway.rest(api_server.admin_token)))


def _error_info(body: dict) -> dict:
    (info,) = [detail for detail in body["details"] if detail["@type"] == ERROR_INFO]
    return info


# 405 Method Not Allowed


def test_unsupported_method_on_a_known_path_is_405_json_with_allow(merchant):
    response = merchant.request("DELETE", "/v1/vouchers")
    body = expect_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "GET, POST"
    assert body["code"] == grpc.StatusCode.UNIMPLEMENTED.value[0]
    assert "GET, POST" in body["message"]

    # One path for GetVoucher and UpdateVoucher (`{code}` and `{voucher.code}` in the protos).
    response = merchant.request("PUT", "/v1/vouchers/ANY-CODE", {"discount": {"percent_off": 5}})
    expect_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "GET, PATCH"

    # A custom verb is a path of its own.
    response = merchant.get("/v1/vouchers/ANY-CODE:redeem")
    expect_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "POST"


def test_allow_lists_exactly_the_documented_methods_of_every_path(merchant):
    """Envoy's 405 routes and the OpenAPI document come from the same google.api.http rules: for every path item,
    each undocumented method is a 405 whose Allow header names the documented ones."""
    document = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    checked = 0
    for template, item in document["paths"].items():
        path = re.sub(r"\{[^}]+\}", "X-1", template)
        documented = sorted(method.upper() for method in item)
        for method in METHODS:
            if method in documented:
                continue
            response = merchant.request(method, path, {} if method in ("POST", "PUT", "PATCH") else None)
            expect_error(response, 405, "METHOD_NOT_ALLOWED")
            assert response.headers["allow"] == ", ".join(documented), f"{method} {template}"
            checked += 1
    assert checked >= 80


def test_a_documented_method_is_never_405(merchant):
    expect_error(merchant.request("DELETE", "/v1/webhook-endpoints/00000000-0000-0000-0000-000000000000"), 404,
                 "WEBHOOK_ENDPOINT_NOT_FOUND")  # fmt: skip
    expect_error(merchant.get("/v1/vouchers/NOT-THERE"), 404, "VOUCHER_NOT_FOUND")
    # As in the transcoder, an unknown custom verb is part of the variable: the code "X:unknownVerb".
    expect_error(merchant.get("/v1/vouchers/X:unknownVerb"), 404, "VOUCHER_NOT_FOUND")
    # A known verb with another method of the plain path is still the verb's path.
    response = merchant.patch("/v1/vouchers/X:redeem", {})
    expect_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "POST"
    expect_json(merchant.post("/v1/vouchers", {"code": "ALLOWED-405", "discount": {"percent_off": 5}}))
    expect_json(merchant.post("/v1/vouchers/ALLOWED-405:redeem", {"order": {"amount": "100", "currency": "EUR"}}))


# x-request-id


def test_a_request_id_is_generated_for_every_response_when_the_client_sent_none(merchant, gateway):
    responses = {
        "success": merchant.get("/v1/vouchers"),
        "server error": merchant.get("/v1/vouchers/NOT-THERE"),
        "envoy 404": merchant.get("/v1/no-such-resource"),
        "envoy 405": merchant.request("DELETE", "/v1/vouchers"),
        "envoy 400": merchant.post("/v1/vouchers", raw_body=b"{not json"),
        "health": gateway.rest().get("/actuator/health"),
    }
    ids = {name: response.headers.get("x-request-id", "") for name, response in responses.items()}
    for name, request_id in ids.items():
        assert UUID.match(request_id), (name, request_id, responses[name])
    assert len(set(ids.values())) == len(ids)
    # The server's error carries the same id in its ErrorInfo.
    body = expect_error(responses["server error"], 404, "VOUCHER_NOT_FOUND")
    assert _error_info(body)["metadata"]["request_id"] == ids["server error"]


@pytest.mark.parametrize(
    "sent",
    ["checkout-7f3a9c:order.4711", "a", "A" * MAX_LENGTH, str(uuid.uuid4())],
    ids=["punctuation", "one character", "longest", "uuid"],
)
def test_an_acceptable_client_request_id_is_kept(merchant, sent):
    assert PATTERN.fullmatch(sent)
    success = merchant.get("/v1/vouchers", headers={"x-request-id": sent})
    assert expect_json(success) is not None and success.headers["x-request-id"] == sent
    refused = merchant.get("/v1/vouchers/NOT-THERE", headers={"x-request-id": sent})
    body = expect_error(refused, 404, "VOUCHER_NOT_FOUND")
    assert refused.headers["x-request-id"] == sent
    assert _error_info(body)["metadata"]["request_id"] == sent
    local = merchant.request("DELETE", "/v1/vouchers", headers={"x-request-id": sent})
    assert local.status == 405 and local.headers["x-request-id"] == sent


@pytest.mark.parametrize(
    "sent",
    ["A" * (MAX_LENGTH + 1), "has space", "semi;colon", "<script>", "-starts-with-dash", "ünïcödé", "a\tb"],
    ids=["too long", "space", "semicolon", "markup", "leading dash", "non-ascii", "tab"],
)
def test_an_unacceptable_client_request_id_is_replaced(merchant, sent):
    assert not PATTERN.fullmatch(sent)
    refused = merchant.get("/v1/vouchers/NOT-THERE", headers={"x-request-id": sent})
    body = expect_error(refused, 404, "VOUCHER_NOT_FOUND")
    replaced = refused.headers["x-request-id"]
    assert UUID.match(replaced), replaced
    assert _error_info(body)["metadata"]["request_id"] == replaced


def test_the_request_id_is_in_the_server_log(merchant, api_server):
    sent = f"support-ticket-{uuid.uuid4().hex}"
    expect_error(merchant.get("/v1/vouchers/NOT-THERE", headers={"x-request-id": sent}), 404, "VOUCHER_NOT_FOUND")

    def logged() -> list[dict]:
        lines = api_server.log_path.read_text(errors="replace").splitlines()
        return [json.loads(line) for line in lines if sent in line]

    wait_for(lambda: bool(logged()), what="the request id in the server log", timeout=10)
    (record,) = logged()
    assert record["request_id"] == sent
    assert (record["action"], record["reason"]) == ("rpc_refused", "VOUCHER_NOT_FOUND")


def test_native_grpc_through_the_gateway_gets_the_request_id(gateway, merchant):
    sent = f"grpc-{uuid.uuid4().hex}"
    with grpc.insecure_channel(gateway.grpc_target) as channel:
        stub = voucher_service_pb2_grpc.VoucherServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.GetVoucher(
                voucher_service_pb2.GetVoucherRequest(code="NOT-THERE"),
                metadata=[("authorization", f"Bearer {merchant.token}"), ("x-request-id", sent)],
                timeout=10,
            )
    error = raised.value
    assert error.code() == grpc.StatusCode.NOT_FOUND
    # A trailers-only error response: Envoy's response headers arrive with the trailers.
    response_metadata = dict((*(error.initial_metadata() or ()), *(error.trailing_metadata() or ())))
    assert response_metadata.get("x-request-id") == sent
    assert _grpc_error_info(error).metadata["request_id"] == sent


def test_direct_grpc_callers_get_a_request_id_from_the_server(api_server, merchant):
    """Without Envoy in front, the server makes the id itself (and applies the same rule to a sent one)."""
    with grpc.insecure_channel(api_server.target) as channel:
        stub = voucher_service_pb2_grpc.VoucherServiceStub(channel)
        for sent, kept in (("", False), ("direct-1", True), ("bad id", False)):
            metadata = [("authorization", f"Bearer {merchant.token}")]
            if sent:
                metadata.append(("x-request-id", sent))
            with pytest.raises(grpc.RpcError) as raised:
                stub.GetVoucher(voucher_service_pb2.GetVoucherRequest(code="NOT-THERE"), metadata=metadata, timeout=10)
            request_id = _grpc_error_info(raised.value).metadata["request_id"]
            assert request_id == sent if kept else UUID.match(request_id), (sent, request_id)


def _grpc_error_info(error: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(error)
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    raise AssertionError(f"no ErrorInfo in {status}")


def test_the_gateways_lua_runs_without_script_errors(merchant, gateway):
    """A Lua error does not fail the request (Envoy logs it and goes on), so only the log shows it."""
    sent = f"lua-check-{uuid.uuid4().hex}"
    merchant.get("/v1/vouchers", headers={"x-request-id": sent})  # no body, no content-length
    merchant.request("DELETE", "/v1/vouchers")
    merchant.post("/v1/vouchers:nothing", {})
    expect_json(gateway.rest().get("/actuator/health"))
    errors = [line for line in gateway.log_path.read_text(errors="replace").splitlines() if "[lua]" in line]
    assert not [line for line in errors if "error" in line], errors[-5:]
