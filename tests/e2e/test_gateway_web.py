"""Envoy routes the web service: /v1/mcp and every path outside /v1/ and /actuator/ go to it, untouched by the
transcoder; the API's routes stay the API's; Envoy health-checks the web service."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from support.gateway import Gateway


def fetch(url: str, method: str = "GET", body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method, data=body, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def test_web_paths_reach_the_web_service_and_api_paths_the_api(web_gateway: Gateway) -> None:
    # The web service's own health (its /healthz is outside /v1/ and /actuator/).
    status, headers, body = fetch(f"{web_gateway.public_url}/healthz")
    assert (status, json.loads(body)) == (200, {"status": "UP"}) and headers["x-request-id"]
    # A path only the web service could answer, with the web service's JSON 404 (not the transcoder's).
    status, _, body = fetch(f"{web_gateway.public_url}/no/such/page")
    assert status == 404 and json.loads(body)["message"] == "no such page"
    # The API's routes are untouched: health in the actuator shape, REST refused without a key.
    status, _, body = fetch(f"{web_gateway.public_url}/actuator/health")
    assert status == 200 and json.loads(body)["status"] == "UP"
    status, _, body = fetch(f"{web_gateway.public_url}/v1/vouchers")
    assert status == 401 and json.loads(body)["details"][0]["reason"] == "API_KEY_INVALID"


def test_envoy_health_checks_the_web_service(web_gateway: Gateway) -> None:
    stats = urllib.request.urlopen(f"{web_gateway.admin_url}/clusters", timeout=5).read().decode()
    web_lines = [line for line in stats.splitlines() if line.startswith("web::") and "health_flags" in line]
    assert web_lines and all(line.endswith("::healthy") for line in web_lines), web_lines


def test_a_production_gateway_hides_reflection_and_the_operator_service(api_server, tmp_path) -> None:
    """Issue 16, finding 7: the switch the production compose file turns off (operators use the direct port)."""
    from support.gateway import start_gateway

    hidden = start_gateway(tmp_path, [api_server.target], expose_admin_services=False)
    try:
        status, _, body = fetch(f"{hidden.public_url}/v1/tenants")
        assert status == 404 and json.loads(body)["message"].startswith("not served on the public port")
        # Reflection, as grpcurl would ask for it: refused.
        with grpc.insecure_channel(hidden.public_url.removeprefix("http://")) as channel:
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            asked = reflection_pb2.ServerReflectionRequest(list_services="")
            with pytest.raises(grpc.RpcError) as refused:
                list(stub.ServerReflectionInfo(iter([asked]), timeout=10))
            # Envoy's 404 carries no grpc-status, so a gRPC client reports UNKNOWN; what matters is that no
            # service list came back.
            assert refused.value.code() != grpc.StatusCode.OK
        # The merchant API is still there.
        status, _, _ = fetch(f"{hidden.public_url}/actuator/health")
        assert status == 200
    finally:
        hidden.stop()
