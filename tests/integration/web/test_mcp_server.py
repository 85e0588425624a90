"""The MCP server at /v1/mcp against the real stack (API server, PostgreSQL, Redis, Envoy in front of the API, the
web service as its own process), driven by the official `mcp` client and, for what no well-behaved client sends,
by raw JSON-RPC posts.

The web service is reached directly here; tests/e2e/test_mcp_through_envoy.py repeats the essentials through the
public Envoy port.
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
import uuid
from collections import Counter
from typing import Any

import httpx2
import pytest
from google.protobuf import field_mask_pb2
from mcp.shared.exceptions import MCPError
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, LATEST_HANDSHAKE_VERSION, MODERN_PROTOCOL_VERSIONS

from support.api_client import ApiSession, TenantClient
from support.mcp_client import initialize_message, mcp_session, post_raw
from support.services import ApiServer
from support.web_service import WebService
from vauchflow.v1 import (
    api_key_service_pb2,
    tenant_pb2,
    tenant_service_pb2,
    voucher_service_pb2,
    webhook_pb2,
    webhook_service_pb2,
)

READ_ONLY = ["vouchers:read", "redemptions:read", "webhooks:read"]
READ_TOOLS = {
    "validate_voucher", "get_redemption", "list_redemptions", "get_voucher", "list_vouchers",
    "list_webhook_endpoints", "list_deliveries", "get_campaign", "get_operation",
}  # fmt: skip
WRITE_TOOLS = {
    "redeem_voucher", "rollback_redemption", "create_voucher", "update_voucher", "disable_voucher",
    "redeliver_event", "send_test_event", "create_campaign", "generate_campaign_codes",
}  # fmt: skip


@pytest.fixture(scope="module")
def mcp_url(web_with_api: WebService) -> str:
    return f"{web_with_api.url}/v1/mcp"


def order(code: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "amount": 5000, "currency": "EUR", **extra}


def voucher_count(tenant: TenantClient, code: str) -> int:
    return tenant.vouchers.GetVoucher(voucher_service_pb2.GetVoucherRequest(code=code)).voucher.redemption_count


def tool_call(name: str, arguments: dict[str, Any], request_id: int = 1) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }


def rpc_counts(api_server: ApiServer) -> Counter[str]:
    """The RPCs the API server has answered so far, by method (all status codes), from its Prometheus metrics;
    Envoy's health checks left out."""
    assert api_server.metrics_port is not None
    with urllib.request.urlopen(f"http://127.0.0.1:{api_server.metrics_port}/metrics", timeout=5) as response:
        text = response.read().decode()
    counts: Counter[str] = Counter()
    for labels, value in re.findall(r"^vauchflow_rpc_requests_total\{([^}]*)\} (\S+)$", text, flags=re.MULTILINE):
        method = dict(re.findall(r'(\w+)="([^"]*)"', labels))["method"]
        if "Health" not in method:
            counts[method] += int(float(value))
    return counts


def refusal(result: Any) -> dict[str, Any]:
    assert result.is_error, result
    error: dict[str, Any] = result.structured_content["error"]
    # The same reason is in the text an agent reads.
    assert error["reason"] in result.content[0].text
    return error


# Protocol revisions


@pytest.mark.parametrize("revision", HANDSHAKE_PROTOCOL_VERSIONS)
async def test_initialize_answers_each_handshake_revision_with_that_revision(
    api: ApiSession, mcp_url: str, revision: str
) -> None:
    tenant = api.new_tenant()
    response = await post_raw(mcp_url, initialize_message(revision), api_key=tenant.secret)
    assert response.status == 200 and response.headers["content-type"].startswith("application/json")
    result = response.json()["result"]
    assert result["protocolVersion"] == revision
    assert result["serverInfo"]["name"] == "vauchflow"
    assert {"tools", "resources", "prompts"} <= set(result["capabilities"])
    # Stateless: no session to carry, and the next request stands on its own with the revision's header.
    assert "mcp-session-id" not in response.headers
    listed = await post_raw(
        mcp_url,
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        api_key=tenant.secret,
        headers={"MCP-Protocol-Version": revision},
    )
    assert listed.status == 200 and len(listed.json()["result"]["tools"]) == len(READ_TOOLS | WRITE_TOOLS)


async def test_an_unknown_revision_in_initialize_gets_the_latest_one_offered(api: ApiSession, mcp_url: str) -> None:
    response = await post_raw(mcp_url, initialize_message("2023-01-01"), api_key=api.new_tenant().secret)
    assert response.json()["result"]["protocolVersion"] == LATEST_HANDSHAKE_VERSION


@pytest.mark.parametrize("mode", ["legacy", *MODERN_PROTOCOL_VERSIONS, "auto"])
async def test_the_official_client_connects_in_every_mode(api: ApiSession, mcp_url: str, mode: str) -> None:
    tenant = api.new_tenant()
    code = tenant.create_voucher().code
    async with mcp_session(mcp_url, tenant.secret, mode=mode) as client:
        expected = LATEST_HANDSHAKE_VERSION if mode == "legacy" else MODERN_PROTOCOL_VERSIONS[-1]
        assert client.protocol_version == expected
        assert len((await client.list_tools()).tools) == len(READ_TOOLS | WRITE_TOOLS)
        checked = await client.call_tool("validate_voucher", order(code))
        assert not checked.is_error and checked.structured_content["valid"] is True


@pytest.mark.parametrize("header", ["1999-01-01", "latest", ""])
async def test_an_unsupported_protocol_version_header_is_400(api: ApiSession, mcp_url: str, header: str) -> None:
    response = await post_raw(
        mcp_url,
        {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        api_key=api.new_tenant().secret,
        headers={"MCP-Protocol-Version": header},
    )
    assert response.status == 400
    error = response.json()["error"]
    assert error["data"]["reason"] == "UNSUPPORTED_PROTOCOL_VERSION"
    assert set(HANDSHAKE_PROTOCOL_VERSIONS) <= set(error["data"]["supported"])


# Tools and permissions


async def test_tools_list_shows_a_full_key_every_tool_with_schemas_and_hints(api: ApiSession, mcp_url: str) -> None:
    async with mcp_session(mcp_url, api.new_tenant().secret) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == READ_TOOLS | WRITE_TOOLS
    for tool in tools.values():
        assert tool.input_schema["type"] == "object" and tool.output_schema is not None, tool.name
        hints = tool.annotations
        assert hints is not None and hints.read_only_hint == (tool.name in READ_TOOLS), tool.name
        assert hints.destructive_hint is not None and hints.idempotent_hint is not None, tool.name
    assert "request_id" in tools["redeem_voucher"].input_schema["required"]
    assert tools["redeem_voucher"].annotations.idempotent_hint is True
    assert tools["rollback_redemption"].annotations.destructive_hint is True


async def test_tools_list_shows_a_read_only_key_no_write_tool(api: ApiSession, mcp_url: str) -> None:
    tenant = api.new_tenant()
    _, secret = tenant.create_key(READ_ONLY)
    async with mcp_session(mcp_url, secret) as client:
        assert {tool.name for tool in (await client.list_tools()).tools} == READ_TOOLS
        # Calling a write tool anyway: the API refuses, with its own reason and the permission it lacks.
        code = tenant.create_voucher().code
        error = refusal(await client.call_tool("redeem_voucher", order(code, request_id="r-1")))
    assert error["reason"] == "PERMISSION_MISSING" and error["details"]["permission"] == "redemptions:write"
    assert voucher_count(tenant, code) == 0


# Redemption


async def test_validate_redeem_the_same_redeem_again_then_rollback(api: ApiSession, mcp_url: str) -> None:
    tenant = api.new_tenant()
    code = tenant.create_voucher(max_redemptions=5).code
    arguments = order(code, order_id="order-1001", customer_id="cus_42", request_id="redeem-order-1001")
    async with mcp_session(mcp_url, tenant.secret) as client:
        checked = await client.call_tool("validate_voucher", order(code, customer_id="cus_42"))
        assert checked.structured_content["valid"] is True and checked.structured_content["discount_amount"] == 500
        assert voucher_count(tenant, code) == 0

        first = await client.call_tool("redeem_voucher", arguments)
        again = await client.call_tool("redeem_voucher", arguments)
        assert not first.is_error and not again.is_error
        redemption = first.structured_content["redemption"]
        assert again.structured_content["redemption"]["id"] == redemption["id"]
        assert redemption["status"] == "SUCCEEDED" and redemption["order"]["id"] == "order-1001"
        assert voucher_count(tenant, code) == 1

        fetched = await client.call_tool("get_redemption", {"redemption_id": redemption["id"]})
        assert fetched.structured_content["redemption"] == redemption

        rolled_back = await client.call_tool("rollback_redemption", {"redemption_id": redemption["id"]})
        assert rolled_back.structured_content["redemption"]["status"] == "ROLLED_BACK"
        assert voucher_count(tenant, code) == 0
        twice = refusal(await client.call_tool("rollback_redemption", {"redemption_id": redemption["id"]}))
        assert twice["reason"] == "REDEMPTION_ALREADY_ROLLED_BACK"

        # The same request_id for a different order is refused, not replayed.
        reused = refusal(await client.call_tool("redeem_voucher", {**arguments, "amount": 9000}))
        assert reused["reason"] == "IDEMPOTENCY_KEY_REUSED"


async def test_100_concurrent_redeems_of_a_single_use_voucher_succeed_exactly_once(
    api: ApiSession, mcp_url: str
) -> None:
    tenant = api.new_tenant()
    code = tenant.create_voucher(max_redemptions=1).code
    async with mcp_session(mcp_url, tenant.secret) as client:
        results = await asyncio.gather(
            *(client.call_tool("redeem_voucher", order(code, request_id=f"stampede-{i}")) for i in range(100))
        )
    outcomes = Counter("OK" if not r.is_error else r.structured_content["error"]["reason"] for r in results)
    assert outcomes == {"OK": 1, "VOUCHER_EXHAUSTED": 99}
    assert voucher_count(tenant, code) == 1


async def test_refusals_carry_the_apis_reason_and_a_next_step(api: ApiSession, mcp_url: str) -> None:
    tenant = api.new_tenant()
    code = tenant.create_voucher(min_order_amount=10_000, currency="EUR").code
    async with mcp_session(mcp_url, tenant.secret) as client:
        checked = await client.call_tool("validate_voucher", order(code))
        assert checked.structured_content["valid"] is False
        assert checked.structured_content["reason"] == "ORDER_BELOW_MINIMUM"
        error = refusal(await client.call_tool("redeem_voucher", order(code, request_id="small-order")))
        assert error["reason"] == "ORDER_BELOW_MINIMUM" and "min_order_amount" in error["next_step"]
        missing = refusal(await client.call_tool("redeem_voucher", order("NO-SUCH-CODE", request_id="x")))
        assert missing["reason"] == "VOUCHER_NOT_FOUND" and missing["request_id"]


# Vouchers


async def test_create_is_idempotent_update_and_disable_change_the_voucher(api: ApiSession, mcp_url: str) -> None:
    tenant = api.new_tenant()
    code = f"MCP-{uuid.uuid4().hex[:10].upper()}"
    create = {"code": code, "percent_off": 15, "currency": "EUR", "max_redemptions": 3, "request_id": f"c-{code}"}
    async with mcp_session(mcp_url, tenant.secret) as client:
        first = await client.call_tool("create_voucher", create)
        again = await client.call_tool("create_voucher", create)
        assert first.structured_content == again.structured_content
        assert first.structured_content["voucher"]["percent_off"] == 15

        updated = await client.call_tool(
            "update_voucher", {"code": code, "max_redemptions": 10, "valid_until": "2099-01-01T00:00:00Z"}
        )
        voucher = updated.structured_content["voucher"]
        assert (voucher["max_redemptions"], voucher["percent_off"]) == (10, 15)
        assert voucher["valid_until"].startswith("2099-01-01T00:00:00")

        disabled = await client.call_tool("disable_voucher", {"code": code})
        assert disabled.structured_content["voucher"]["status"] == "DISABLED"
        error = refusal(await client.call_tool("redeem_voucher", order(code, request_id="after-disable")))
        assert error["reason"] == "VOUCHER_DISABLED"
        got = await client.call_tool("get_voucher", {"code": code})
        assert got.structured_content["voucher"]["status"] == "DISABLED"


async def test_a_campaign_is_created_its_codes_generated_and_the_operation_watched(
    api: ApiSession, mcp_url: str
) -> None:
    tenant = api.new_tenant()
    create = {"name": "Newsletter", "percent_off": 15, "max_redemptions": 10, "request_id": f"c-{uuid.uuid4()}"}
    async with mcp_session(mcp_url, tenant.secret) as client:
        created = (await client.call_tool("create_campaign", create)).structured_content["campaign"]
        assert (created["status"], created["max_redemptions"], created["code_redemption_limit"]) == ("ACTIVE", 10, 1)
        again = await client.call_tool("create_campaign", create)
        assert again.structured_content["campaign"]["id"] == created["id"]

        generate = {"campaign_id": created["id"], "count": 50, "prefix": "MCP-", "request_id": f"g-{uuid.uuid4()}"}
        started = (await client.call_tool("generate_campaign_codes", generate)).structured_content["operation"]
        assert started["name"].startswith("operations/") and started["requested_count"] == 50
        operation = started
        for _ in range(600):
            if operation["done"]:
                break
            await asyncio.sleep(0.1)
            got = await client.call_tool("get_operation", {"name": started["name"]})
            operation = got.structured_content["operation"]
        assert operation["done"] and operation["error"] is None and operation["generated_count"] == 50
        campaign = (await client.call_tool("get_campaign", {"campaign_id": created["id"]})).structured_content
        assert campaign["campaign"]["code_count"] == 50

        too_small = {**generate, "count": 11, "pattern": "##", "request_id": f"g-{uuid.uuid4()}"}
        error = refusal(await client.call_tool("generate_campaign_codes", too_small))
        assert error["reason"] == "INVALID_ARGUMENT"


async def test_list_vouchers_pages_with_a_cursor(api: ApiSession, mcp_url: str) -> None:
    tenant = api.new_tenant()
    codes = {tenant.create_voucher().code for _ in range(5)}
    seen: list[str] = []
    async with mcp_session(mcp_url, tenant.secret) as client:
        arguments: dict[str, Any] = {"page_size": 2}
        for _ in range(10):
            page = (await client.call_tool("list_vouchers", arguments)).structured_content
            assert len(page["vouchers"]) <= 2
            seen.extend(v["code"] for v in page["vouchers"])
            if page["next_cursor"] is None:
                break
            arguments = {"page_size": 2, "cursor": page["next_cursor"]}
    assert sorted(seen) == sorted(codes)


async def test_list_redemptions_of_one_voucher(api: ApiSession, mcp_url: str) -> None:
    tenant = api.new_tenant()
    code, other = tenant.create_voucher().code, tenant.create_voucher().code
    tenant.redeem(code), tenant.redeem(code), tenant.redeem(other)
    async with mcp_session(mcp_url, tenant.secret) as client:
        page = (await client.call_tool("list_redemptions", {"voucher_code": code})).structured_content
    assert [r["voucher_code"] for r in page["redemptions"]] == [code, code] and page["next_cursor"] is None


async def test_list_tools_take_the_filters(api: ApiSession, mcp_url: str) -> None:
    tenant = api.new_tenant()
    stem = f"MCP{uuid.uuid4().hex[:6].upper()}"
    made = [tenant.create_voucher(code=f"{stem}-{i}", metadata={"slot": str(i % 2)}).code for i in range(3)]
    tenant.redeem(made[0], customer_id="ann"), tenant.redeem(made[1], customer_id="bo")
    tenant.redeem(made[2], customer_id="ann")
    async with mcp_session(mcp_url, tenant.secret) as client:

        async def listed(tool: str, arguments: dict[str, Any], field: str, key: str) -> list[str]:
            result = (await client.call_tool(tool, arguments)).structured_content
            return [item[key] for item in result[field]]

        prefix = {"code_prefix": stem.lower()}
        assert await listed("list_vouchers", prefix, "vouchers", "code") == made
        assert await listed("list_vouchers", {**prefix, "order": "newest_first"}, "vouchers", "code") == made[::-1]
        assert await listed("list_vouchers", {"metadata": {"slot": "0"}}, "vouchers", "code") == [made[0], made[2]]
        # Newest first by default, as the tool says.
        ann = await listed("list_redemptions", {"customer_id": "ann"}, "redemptions", "voucher_code")
        assert ann == [made[2], made[0]]
        unknown_campaign = {"campaign_id": str(uuid.uuid4())}
        assert await listed("list_vouchers", unknown_campaign, "vouchers", "code") == []
        assert await listed("list_redemptions", unknown_campaign, "redemptions", "id") == []
        too_many = await client.call_tool("list_vouchers", {"metadata": {"a": "1", "b": "2"}})
        assert too_many.is_error


# Webhooks


async def test_webhook_tools_list_endpoints_send_a_test_event_and_redeliver(api: ApiSession, mcp_url: str) -> None:
    tenant = api.new_tenant()
    endpoint = tenant.webhooks.CreateWebhookEndpoint(
        webhook_service_pb2.CreateWebhookEndpointRequest(
            webhook_endpoint=webhook_pb2.WebhookEndpoint(url=f"http://127.0.0.1:9/mcp-{uuid.uuid4().hex[:8]}")
        )
    ).webhook_endpoint
    async with mcp_session(mcp_url, tenant.secret) as client:
        listed = (await client.call_tool("list_webhook_endpoints", {})).structured_content
        assert [e["id"] for e in listed["webhook_endpoints"]] == [endpoint.id]

        sent = (await client.call_tool("send_test_event", {"endpoint_id": endpoint.id})).structured_content
        assert sent["event"]["type"] == "webhook.test"
        deliveries = (await client.call_tool("list_deliveries", {"endpoint_id": endpoint.id})).structured_content
        assert [(d["event_id"], d["status"]) for d in deliveries["deliveries"]] == [(sent["event"]["id"], "PENDING")]

        redelivered = await client.call_tool(
            "redeliver_event", {"event_id": sent["event"]["id"], "endpoint_id": endpoint.id}
        )
        assert not redelivered.is_error, redelivered.content
        missing = refusal(await client.call_tool("list_deliveries", {"endpoint_id": str(uuid.uuid4())}))
        assert missing["reason"] == "WEBHOOK_ENDPOINT_NOT_FOUND"


# Tenants, keys and origins


async def test_tenant_b_can_neither_see_nor_redeem_tenant_as_voucher(api: ApiSession, mcp_url: str) -> None:
    a, b = api.new_tenant(), api.new_tenant()
    code = a.create_voucher().code
    async with mcp_session(mcp_url, b.secret) as client:
        assert refusal(await client.call_tool("get_voucher", {"code": code}))["reason"] == "VOUCHER_NOT_FOUND"
        redeemed = await client.call_tool("redeem_voucher", order(code, request_id="b-tries"))
        assert refusal(redeemed)["reason"] == "VOUCHER_NOT_FOUND"
        listed = (await client.call_tool("list_vouchers", {})).structured_content
        assert listed["vouchers"] == []
        with pytest.raises(MCPError) as raised:
            await client.read_resource(f"vauchflow://vouchers/{code}")
        assert raised.value.error.code == -32002
    assert voucher_count(a, code) == 0


async def test_no_key_and_an_invalid_key_get_401_with_a_challenge_already_at_initialize(
    mcp_url: str,
) -> None:
    for key in (None, "vf_sk_not-a-real-key", "Basic dXNlcjpwYXNz"):
        headers = {"Authorization": key} if key and key.startswith("Basic") else {}
        response = await post_raw(
            mcp_url, initialize_message(LATEST_HANDSHAKE_VERSION), api_key=None if headers else key, headers=headers
        )
        assert response.status == 401, key
        assert response.headers["www-authenticate"].startswith('Bearer realm="vauchflow"')
        assert response.json()["error"]["data"]["reason"] == "API_KEY_INVALID"


async def test_a_revoked_key_gets_401_at_once(api: ApiSession, mcp_url: str) -> None:
    tenant = api.new_tenant()
    key, secret = tenant.create_key(READ_ONLY)
    first = await post_raw(mcp_url, initialize_message(LATEST_HANDSHAKE_VERSION), api_key=secret)
    assert first.status == 200
    tenant.api_keys.RevokeApiKey(api_key_service_pb2.RevokeApiKeyRequest(id=key.id))
    after = await post_raw(mcp_url, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, api_key=secret)
    assert after.status == 401 and 'error="invalid_token"' in after.headers["www-authenticate"]
    assert after.json()["error"]["data"]["reason"] == "API_KEY_INVALID"


async def test_a_revoked_key_gets_401_on_a_tool_call_whether_or_not_the_tool_reaches_the_api(
    api: ApiSession, mcp_url: str
) -> None:
    tenant = api.new_tenant()
    code = tenant.create_voucher().code
    key, secret = tenant.create_key(["vouchers:read", "redemptions:read", "redemptions:write"])
    first = await post_raw(mcp_url, tool_call("redeem_voucher", order(code, request_id="before")), api_key=secret)
    assert first.status == 200 and first.json()["result"]["isError"] is False
    tenant.api_keys.RevokeApiKey(api_key_service_pb2.RevokeApiKeyRequest(id=key.id))
    for call in (
        tool_call("redeem_voucher", order(code, request_id="after")),  # the tool's own call is refused
        tool_call("redeem_voucher", order(code)),  # refused here for its arguments: the API is never called
        tool_call("drop_tables", {}),  # no such tool
    ):
        after = await post_raw(mcp_url, call, api_key=secret)
        assert after.status == 401 and 'error="invalid_token"' in after.headers["www-authenticate"], call
        assert after.json()["error"]["data"]["reason"] == "API_KEY_INVALID"
    assert voucher_count(tenant, code) == 1


async def test_a_tool_call_costs_one_api_call_and_no_key_check(
    api: ApiSession, mcp_url: str, api_server: ApiServer
) -> None:
    tenant = api.new_tenant()
    code = tenant.create_voucher().code
    counted = rpc_counts(api_server)
    redeemed = await post_raw(
        mcp_url, tool_call("redeem_voucher", order(code, request_id="one")), api_key=tenant.secret
    )
    assert redeemed.status == 200 and redeemed.json()["result"]["isError"] is False
    refused = await post_raw(mcp_url, tool_call("get_voucher", {"code": "NO-SUCH-CODE"}), api_key=tenant.secret)
    assert refused.json()["result"]["structuredContent"]["error"]["reason"] == "VOUCHER_NOT_FOUND"
    calls = rpc_counts(api_server) - counted
    assert calls == Counter({"RedemptionService/RedeemVoucher": 1, "VoucherService/GetVoucher": 1})

    # Arguments refused before any API call: the key is checked (GetCurrentApiKey) and nothing else is called.
    counted = rpc_counts(api_server)
    invalid = await post_raw(mcp_url, tool_call("redeem_voucher", order(code)), api_key=tenant.secret)
    assert invalid.json()["result"]["structuredContent"]["error"]["reason"] == "INVALID_ARGUMENT"
    assert rpc_counts(api_server) - counted == Counter({"ApiKeyService/GetCurrentApiKey": 1})

    # Any other request checks the key first, once.
    counted = rpc_counts(api_server)
    listed = await post_raw(mcp_url, {"jsonrpc": "2.0", "id": 3, "method": "tools/list"}, api_key=tenant.secret)
    assert listed.status == 200
    assert rpc_counts(api_server) - counted == Counter({"ApiKeyService/GetCurrentApiKey": 1})


async def test_origins_and_hosts(api: ApiSession, mcp_url: str, web_with_api: WebService) -> None:
    secret = api.new_tenant().secret
    message = initialize_message(LATEST_HANDSHAKE_VERSION)
    allowed = await post_raw(mcp_url, message, api_key=secret, headers={"Origin": "http://localhost:8080"})
    assert allowed.status == 200
    foreign = await post_raw(mcp_url, message, api_key=secret, headers={"Origin": "https://evil.example"})
    assert foreign.status == 403 and foreign.json()["error"]["data"]["reason"] == "ORIGIN_NOT_ALLOWED"
    rebound = await post_raw(mcp_url, message, api_key=secret, headers={"Host": f"evil.example:{web_with_api.port}"})
    assert rebound.status == 421 and rebound.json()["error"]["data"]["reason"] == "HOST_NOT_ALLOWED"


# Malformed requests


async def test_malformed_json_is_a_parse_error(api: ApiSession, mcp_url: str) -> None:
    response = await post_raw(mcp_url, b'{"jsonrpc": "2.0", "id": 1, "method": ', api_key=api.new_tenant().secret)
    assert response.status == 400
    assert response.json()["error"]["code"] == -32700
    assert "Traceback" not in response.body.decode()


async def test_a_body_over_1_mib_is_413_whether_declared_or_not(api: ApiSession, mcp_url: str) -> None:
    secret = api.new_tenant().secret
    big = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": "x" * (1024 * 1024)}}).encode()
    response = await post_raw(mcp_url, big, api_key=secret)
    assert response.status == 413 and response.json()["error"]["data"]["reason"] == "PAYLOAD_TOO_LARGE"
    arguments = {"code": "X", "pad": "x" * (1024 * 1024 - 200)}
    call = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "get_voucher", "arguments": arguments},
    }
    just_under = json.dumps(call).encode()
    assert len(just_under) <= 1024 * 1024
    response = await post_raw(mcp_url, just_under, api_key=secret)
    assert response.status == 200 and response.json()["result"]["isError"] is True  # "pad" is no argument of it


async def test_unknown_methods_tools_and_prompts_are_protocol_errors(api: ApiSession, mcp_url: str) -> None:
    secret = api.new_tenant().secret
    unknown = await post_raw(mcp_url, {"jsonrpc": "2.0", "id": 7, "method": "vouchers/steal"}, api_key=secret)
    body = unknown.json()
    assert body["id"] == 7 and body["error"]["code"] == -32601
    async with mcp_session(mcp_url, secret) as client:
        with pytest.raises(MCPError) as raised:
            await client.call_tool("drop_tables", {})
        assert raised.value.error.code == -32602 and "drop_tables" in raised.value.error.message
        with pytest.raises(MCPError):
            await client.get_prompt("no_such_prompt", {})


async def test_other_http_methods_and_content_types_are_refused_as_json(api: ApiSession, mcp_url: str) -> None:
    secret = api.new_tenant().secret
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {secret}"}, timeout=30) as http:
        for method in ("GET", "DELETE", "PUT"):
            response = await http.request(method, mcp_url, headers={"Accept": "text/event-stream"})
            assert response.status_code == 405 and response.headers["allow"] == "POST", method
            assert response.json()["error"]["data"]["reason"] == "METHOD_NOT_ALLOWED"
    form = await post_raw(
        mcp_url, b"a=b", api_key=secret, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert form.status == 415 and form.json()["error"]["data"]["reason"] == "UNSUPPORTED_MEDIA_TYPE"
    html_only = await post_raw(mcp_url, initialize_message(LATEST_HANDSHAKE_VERSION), api_key=secret,
                               headers={"Accept": "text/html"})  # fmt: skip
    assert html_only.status == 406 and html_only.json()["error"]["data"]["reason"] == "NOT_ACCEPTABLE"


async def test_invalid_arguments_name_the_field(api: ApiSession, mcp_url: str) -> None:
    tenant = api.new_tenant()
    code = tenant.create_voucher().code
    async with mcp_session(mcp_url, tenant.secret) as client:
        no_request_id = refusal(await client.call_tool("redeem_voucher", order(code)))
        assert no_request_id["reason"] == "INVALID_ARGUMENT"
        assert [v["field"] for v in no_request_id["field_violations"]] == ["request_id"]

        wrong_type = refusal(
            await client.call_tool("redeem_voucher", {**order(code), "amount": "50 EUR", "request_id": "r"})
        )
        assert [v["field"] for v in wrong_type["field_violations"]] == ["amount"]

        misspelt = refusal(await client.call_tool("validate_voucher", {**order(code), "ammount": 5}))
        assert [v["field"] for v in misspelt["field_violations"]] == ["ammount"]

        # What only the API can judge comes back with the API's own field violations.
        bad_time = refusal(await client.call_tool("update_voucher", {"code": code, "valid_until": "next tuesday"}))
        assert [v["field"] for v in bad_time["field_violations"]] == ["valid_until"]
    assert voucher_count(tenant, code) == 0


# Rate limits


async def test_the_plans_rate_limit_applies_as_http_429_with_retry_after(api: ApiSession, mcp_url: str) -> None:
    tenant = api.new_tenant(plan=tenant_pb2.PLAN_FREE)
    # One request a second, four at once: time can refill at most a few during the test's dozen calls.
    api.tenants.UpdateTenant(
        tenant_service_pb2.UpdateTenantRequest(
            tenant=tenant_pb2.Tenant(id=tenant.id, limits=tenant_pb2.TenantLimits(requests_per_second=1, burst=4)),
            update_mask=field_mask_pb2.FieldMask(paths=["limits.requests_per_second", "limits.burst"]),
        )
    )
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "list_vouchers", "arguments": {}}}
    statuses = []
    for _ in range(12):
        response = await post_raw(mcp_url, call, api_key=tenant.secret)
        statuses.append(response.status)
        if response.status == 429:
            assert int(response.headers["retry-after"]) >= 1
            error = response.json()["error"]
            assert error["data"]["reason"] == "RATE_LIMITED" and error["data"]["retry_after_seconds"] > 0
        else:
            # A tool call makes one API call, the tool's own: refused for the rate, it is the HTTP 429 above.
            assert response.json()["result"].get("isError") is not True
    assert statuses[0] == 200 and 429 in statuses, statuses


# Resources, prompt, metrics


async def test_vouchers_and_the_api_reference_are_resources(api: ApiSession, mcp_url: str) -> None:
    tenant = api.new_tenant()
    code = tenant.create_voucher(max_redemptions=7).code
    async with mcp_session(mcp_url, tenant.secret) as client:
        uris = {str(r.uri) for r in (await client.list_resources()).resources}
        assert {f"vauchflow://vouchers/{code}", "vauchflow://docs/api"} <= uris
        templates = (await client.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates] == ["vauchflow://vouchers/{code}"]
        read = await client.read_resource(f"vauchflow://vouchers/{code}")
        voucher = json.loads(read.contents[0].text)
        assert (voucher["code"], voucher["max_redemptions"]) == (code, 7)
        reference = await client.read_resource("vauchflow://docs/api")
        assert "RedeemVoucher" in reference.contents[0].text


async def test_the_prompt_walks_through_checking_before_redeeming(api: ApiSession, mcp_url: str) -> None:
    async with mcp_session(mcp_url, api.new_tenant().secret) as client:
        prompts = (await client.list_prompts()).prompts
        assert [p.name for p in prompts] == ["check_voucher_for_order"]
        got = await client.get_prompt(
            "check_voucher_for_order", {"code": "WELCOME10", "order_id": "o-9", "amount": "4990", "currency": "EUR"}
        )
        text = got.messages[0].content.text
        assert text.index("validate_voucher") < text.index("redeem_voucher") and "redeem-o-9" in text
        with pytest.raises(MCPError):
            await client.get_prompt("check_voucher_for_order", {"code": "WELCOME10"})


async def test_metrics_count_mcp_calls_by_method_tool_and_outcome(
    api: ApiSession, mcp_url: str, web_with_api: WebService
) -> None:
    tenant = api.new_tenant()
    code = tenant.create_voucher(max_redemptions=1).code
    async with mcp_session(mcp_url, tenant.secret) as client:
        await client.call_tool("redeem_voucher", order(code, request_id="m-1"))
        await client.call_tool("redeem_voucher", order(code, request_id="m-2"))
    await post_raw(mcp_url, initialize_message(LATEST_HANDSHAKE_VERSION))
    async with httpx2.AsyncClient(timeout=10) as http:
        text = (await http.get(f"http://127.0.0.1:{web_with_api.metrics_port}/metrics")).text
    assert 'method="tools/call",outcome="ok",reason="",tool="redeem_voucher"' in text
    assert 'method="tools/call",outcome="tool_error",reason="VOUCHER_EXHAUSTED",tool="redeem_voucher"' in text
    assert 'method="http",outcome="refused",reason="API_KEY_INVALID",tool=""' in text
    assert 'vauchflow_web_mcp_duration_seconds_bucket{le="0.005",method="initialize"}' in text
    assert code not in text and tenant.secret not in text
