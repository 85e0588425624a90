"""The list filters and the usage summary through the real Envoy: REST query parameters (enum names, RFC 3339
times, order_by), a field violation for a bad value, and the Python client's keyword arguments."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

import vauchflow
from support.gateway import RestClient, expect_error, expect_json, field_violations, new_tenant_key

ORDER = {"order": {"amount": "10000", "currency": "EUR"}}


@pytest.fixture
def merchant(gateway, api_server) -> RestClient:
    return gateway.rest(new_tenant_key(gateway.rest(api_server.admin_token)))


@pytest.fixture
def client(gateway, api_server) -> Iterator[vauchflow.Client]:
    secret = new_tenant_key(gateway.rest(api_server.admin_token))
    with vauchflow.Client(secret, target=gateway.grpc_target) as made:
        yield made


def test_rest_list_filters_are_query_parameters(merchant: RestClient) -> None:
    stem = f"Q{uuid.uuid4().hex[:8].upper()}"
    for i, campaign in enumerate(["spring", "autumn", "spring"]):
        voucher = {"code": f"{stem}-{i}", "discount": {"percent_off": 10}, "metadata": {"campaign": campaign}}
        expect_json(merchant.post("/v1/vouchers", voucher))
    expect_json(merchant.post(f"/v1/vouchers/{stem}-2:disable", {}))

    def codes(**query: str) -> list[str]:
        return [v["code"] for v in expect_json(merchant.get("/v1/vouchers", query=query)).get("vouchers", [])]

    assert codes(code_prefix=stem.lower()) == [f"{stem}-0", f"{stem}-1", f"{stem}-2"]
    assert codes(code_prefix=stem, status="VOUCHER_STATUS_DISABLED") == [f"{stem}-2"]
    assert codes(metadata_key="campaign", metadata_value="spring", order_by="create_time desc") == [
        f"{stem}-2", f"{stem}-0"
    ]  # fmt: skip
    body = expect_error(merchant.get("/v1/vouchers", query={"code_prefix": "not a code"}), 400, "INVALID_ARGUMENT")
    assert [v["field"] for v in field_violations(body)] == ["code_prefix"]

    redeemed = expect_json(merchant.post(f"/v1/vouchers/{stem}-0:redeem", {**ORDER, "customer_id": "ann"}))
    made = redeemed["redemption"]["create_time"]
    later = (datetime.fromisoformat(made) + timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    query = {"customer_id": "ann", "status": "REDEMPTION_STATUS_SUCCEEDED", "start_time": made, "end_time": later}
    listed = expect_json(merchant.get("/v1/redemptions", query=query))
    assert [r["id"] for r in listed["redemptions"]] == [redeemed["redemption"]["id"]]
    assert expect_json(merchant.get("/v1/redemptions", query={"customer_id": "ann", "end_time": made})) == {
        "redemptions": [],
        "next_page_token": "",
    }

    expect_error(merchant.post(f"/v1/vouchers/{stem}-2:redeem", ORDER), 400, "VOUCHER_DISABLED")
    summary = expect_json(merchant.get("/v1/usage-summary"))
    assert summary["redemptions"] == "1"
    assert summary["refusals"] == [{"reason": "VOUCHER_DISABLED", "count": "1"}]
    assert summary["plan"] == "PLAN_SCALE" and len(summary["hours"]) == 24


def test_python_client_takes_the_filters_as_keyword_arguments(client: vauchflow.Client) -> None:
    stem = f"P{uuid.uuid4().hex[:8].upper()}"
    for i in range(3):
        client.vouchers.create(code=f"{stem}{i}", percent_off=5, metadata={"slot": str(i)})
    client.vouchers.disable(f"{stem}1")
    assert [v.code for v in client.vouchers.list(code_prefix=stem.lower(), page_size=1)] == [
        f"{stem}0", f"{stem}1", f"{stem}2"
    ]  # fmt: skip
    assert [v.code for v in client.vouchers.list(code_prefix=stem, status="DISABLED")] == [f"{stem}1"]
    assert [v.code for v in client.vouchers.list(metadata_key="slot", metadata_value="2")] == [f"{stem}2"]
    newest = client.vouchers.list(code_prefix=stem, order_by="create_time desc")
    assert [v.code for v in newest] == [f"{stem}2", f"{stem}1", f"{stem}0"]

    first = client.redemptions.redeem(f"{stem}0", amount=1_000, currency="EUR", customer_id="cy").redemption
    client.redemptions.redeem(f"{stem}2", amount=1_000, currency="EUR", customer_id="dee")
    client.redemptions.rollback(first.id)
    assert [r.id for r in client.redemptions.list(customer_id="cy", status="ROLLED_BACK")] == [first.id]
    since = datetime.now(UTC) - timedelta(minutes=5)
    assert len(list(client.redemptions.list(start_time=since, order_by="create_time desc"))) == 2
    with pytest.raises(vauchflow.InvalidRequestError):
        list(client.redemptions.list(order_by="amount"))
    usage = client.redemptions.usage_summary()
    assert (usage.redemptions, usage.rollbacks) == (2, 1)
