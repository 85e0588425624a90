"""The MCP server as agents reach it: through Envoy's public port (/v1/mcp routed to the web service with the
transcoder off), with the official `mcp` client. The full behaviour is tested against the web service itself in
tests/integration/web/test_mcp_server.py; this checks that nothing on the way changes it."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator

import pytest
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, LATEST_HANDSHAKE_VERSION, MODERN_PROTOCOL_VERSIONS

from support.api_client import ApiSession, TenantClient
from support.gateway import Gateway
from support.mcp_client import initialize_message, mcp_session, post_raw
from support.services import ApiServer
from vauchflow.v1 import api_key_service_pb2, voucher_service_pb2


@pytest.fixture(scope="module")
def api(api_server: ApiServer) -> Iterator[ApiSession]:
    with ApiSession(api_server) as session:
        yield session


@pytest.fixture(scope="module")
def mcp_url(web_gateway: Gateway) -> str:
    return f"{web_gateway.public_url}/v1/mcp"


def count(tenant: TenantClient, code: str) -> int:
    return tenant.vouchers.GetVoucher(voucher_service_pb2.GetVoucherRequest(code=code)).voucher.redemption_count


@pytest.mark.parametrize("revision", HANDSHAKE_PROTOCOL_VERSIONS)
async def test_initialize_through_envoy_with_each_revision(api: ApiSession, mcp_url: str, revision: str) -> None:
    response = await post_raw(
        mcp_url, initialize_message(revision), api_key=api.new_tenant().secret, headers={"x-request-id": "mcp-e2e-1"}
    )
    assert response.status == 200, response.body
    assert response.json()["result"]["protocolVersion"] == revision
    assert response.headers["x-request-id"] == "mcp-e2e-1"


@pytest.mark.parametrize("mode", ["legacy", *MODERN_PROTOCOL_VERSIONS])
async def test_validate_redeem_twice_and_roll_back_through_envoy(api: ApiSession, mcp_url: str, mode: str) -> None:
    tenant = api.new_tenant()
    code = tenant.create_voucher(max_redemptions=3).code
    redeem = {"code": code, "amount": 5000, "currency": "EUR", "order_id": "o-1", "request_id": "redeem-o-1"}
    async with mcp_session(mcp_url, tenant.secret, mode=mode) as client:
        checked = await client.call_tool("validate_voucher", {"code": code, "amount": 5000, "currency": "EUR"})
        assert checked.structured_content["valid"] is True
        first = await client.call_tool("redeem_voucher", redeem)
        again = await client.call_tool("redeem_voucher", redeem)
        redemption_id = first.structured_content["redemption"]["id"]
        assert again.structured_content["redemption"]["id"] == redemption_id
        assert count(tenant, code) == 1
        rolled_back = await client.call_tool("rollback_redemption", {"redemption_id": redemption_id})
        assert rolled_back.structured_content["redemption"]["status"] == "ROLLED_BACK"
    assert count(tenant, code) == 0


async def test_100_concurrent_redeems_through_envoy_succeed_exactly_once(api: ApiSession, mcp_url: str) -> None:
    tenant = api.new_tenant()
    code = tenant.create_voucher(max_redemptions=1).code
    async with mcp_session(mcp_url, tenant.secret) as client:
        results = await asyncio.gather(
            *(
                client.call_tool(
                    "redeem_voucher", {"code": code, "amount": 5000, "currency": "EUR", "request_id": f"e2e-{i}"}
                )
                for i in range(100)
            )
        )
    outcomes = Counter("OK" if not r.is_error else r.structured_content["error"]["reason"] for r in results)
    assert outcomes == {"OK": 1, "VOUCHER_EXHAUSTED": 99}
    assert count(tenant, code) == 1


async def test_refusals_keep_their_status_headers_and_json_through_envoy(api: ApiSession, mcp_url: str) -> None:
    tenant = api.new_tenant()
    message = initialize_message(LATEST_HANDSHAKE_VERSION)

    no_key = await post_raw(mcp_url, message)
    assert no_key.status == 401 and no_key.headers["www-authenticate"].startswith("Bearer")
    assert no_key.json()["error"]["data"]["reason"] == "API_KEY_INVALID"

    key, secret = tenant.create_key(["vouchers:read"])
    assert (await post_raw(mcp_url, message, api_key=secret)).status == 200
    tenant.api_keys.RevokeApiKey(api_key_service_pb2.RevokeApiKeyRequest(id=key.id))
    revoked = await post_raw(mcp_url, message, api_key=secret)
    assert revoked.status == 401 and revoked.json()["error"]["data"]["reason"] == "API_KEY_INVALID"

    foreign = await post_raw(mcp_url, message, api_key=tenant.secret, headers={"Origin": "https://evil.example"})
    assert foreign.status == 403 and foreign.json()["error"]["data"]["reason"] == "ORIGIN_NOT_ALLOWED"

    malformed = await post_raw(mcp_url, b"{not json", api_key=tenant.secret)
    assert malformed.status == 400 and malformed.json()["error"]["code"] == -32700

    padding = "x" * (1024 * 1024)
    big = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": padding}}).encode()
    oversized = await post_raw(mcp_url, big, api_key=tenant.secret)
    assert oversized.status == 413 and oversized.json()["error"]["data"]["reason"] == "PAYLOAD_TOO_LARGE"
