"""The README's campaign walk-through through the real Envoy: create a campaign, generate its codes, watch the
long-running operation, redeem a code; over REST/JSON (google.longrunning.Operations included) and with the
Python client."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

import vauchflow
from support.gateway import RestClient, expect_error, expect_json, new_tenant_key
from support.polling import wait_for

OPERATION_NAME = re.compile(r"^operations/[0-9a-f-]{36}$")


@pytest.fixture
def merchant(gateway, api_server) -> RestClient:
    return gateway.rest(new_tenant_key(gateway.rest(api_server.admin_token)))


def test_the_walkthrough_over_rest(merchant: RestClient, gateway, api_server) -> None:
    campaign = expect_json(
        merchant.post(
            "/v1/campaigns",
            {"name": "Newsletter", "discount": {"percent_off": 15}, "currency": "EUR", "max_redemptions": "500"},
        )
    )["campaign"]
    assert (campaign["status"], campaign["code_redemption_limit"], campaign["max_redemptions"]) == (
        "CAMPAIGN_STATUS_ACTIVE",
        "1",
        "500",
    )

    started = expect_json(
        merchant.post(
            f"/v1/campaigns/{campaign['id']}:generateCodes",
            {"count": "1000", "code_pattern": {"pattern": "####-????", "prefix": "NEWS-"}},
        )
    )
    assert OPERATION_NAME.match(started["name"]), started
    assert started["metadata"]["@type"] == "type.googleapis.com/vauchflow.v1.GenerateCampaignCodesMetadata"
    assert started["metadata"]["requested_count"] == "1000"

    latest: dict = {}

    def done() -> bool:
        latest.update(expect_json(merchant.get(f"/v1/{started['name']}")))
        return bool(latest.get("done"))

    wait_for(done, what="the generation", timeout=120, interval=0.2)
    assert latest["response"] == {
        "@type": "type.googleapis.com/vauchflow.v1.GenerateCampaignCodesResponse",
        "campaign_id": campaign["id"],
        "generated_count": "1000",
    }
    listed = expect_json(merchant.get("/v1/operations"))["operations"]
    assert [o["name"] for o in listed] == [started["name"]]
    assert expect_json(merchant.get(f"/v1/campaigns/{campaign['id']}"))["campaign"]["code_count"] == "1000"

    # Pause, and a code is refused; then it redeems.
    code = expect_json(merchant.get("/v1/vouchers", query={"page_size": "100"}))["vouchers"][0]["code"]
    assert re.fullmatch(r"NEWS-[0-9]{4}-[2-9A-Z]{4}", code)
    paused = merchant.patch(
        f"/v1/campaigns/{campaign['id']}", {"status": "CAMPAIGN_STATUS_PAUSED"}, query={"update_mask": "status"}
    )
    assert expect_json(paused)["campaign"]["status"] == "CAMPAIGN_STATUS_PAUSED"
    order = {"order": {"amount": "10000", "currency": "EUR"}}
    expect_error(merchant.post(f"/v1/vouchers/{code}:redeem", order), 400, "CAMPAIGN_NOT_ACTIVE")
    merchant.patch(
        f"/v1/campaigns/{campaign['id']}", {"status": "CAMPAIGN_STATUS_ACTIVE"}, query={"update_mask": "status"}
    )
    redeemed = expect_json(merchant.post(f"/v1/vouchers/{code}:redeem", order))
    assert redeemed["redemption"]["discount_amount"] == "1500"

    # A finished operation cannot be cancelled into anything else; another tenant sees none of it.
    expect_json(merchant.post(f"/v1/{started['name']}:cancel"))
    assert expect_json(merchant.get(f"/v1/{started['name']}"))["response"]["generated_count"] == "1000"
    stranger = gateway.rest(new_tenant_key(gateway.rest(api_server.admin_token), name="Other GmbH"))
    expect_error(stranger.get(f"/v1/{started['name']}"), 404, "OPERATION_NOT_FOUND")
    expect_error(stranger.get(f"/v1/campaigns/{campaign['id']}"), 404, "CAMPAIGN_NOT_FOUND")
    expect_error(merchant.get(f"/v1/operations/{uuid.uuid4()}"), 404, "OPERATION_NOT_FOUND")


def test_the_refusals_are_json_with_reasons(merchant: RestClient) -> None:
    campaign = expect_json(merchant.post("/v1/campaigns", {"name": "Tiny", "discount": {"percent_off": 5}}))
    campaign_id = campaign["campaign"]["id"]
    body = expect_error(
        merchant.post(f"/v1/campaigns/{campaign_id}:generateCodes", {"count": "50", "code_pattern": {"pattern": "##"}}),
        400,
        "INVALID_ARGUMENT",
    )
    assert "code_pattern.pattern" in str(body["details"])


def test_the_walkthrough_with_the_python_client(api_server, gateway) -> None:
    with vauchflow.OperatorClient(api_server.admin_token, target=gateway.grpc_target) as operator:
        secret = operator.tenants.create(f"client campaign {uuid.uuid4().hex[:8]}", plan="SCALE").secret
    with vauchflow.Client(secret, target=gateway.grpc_target) as client:
        campaign = client.campaigns.create("Flyers", amount_off=500, currency="EUR", per_customer_limit=1)
        operation = client.campaigns.generate_codes(campaign.id, 200, pattern="FLY-????-????")
        started = time.monotonic()
        done = client.operations.wait(operation, timeout=120, poll_interval=0.2)
        assert done.done and time.monotonic() - started < 120
        assert client.campaigns.get(campaign.id).code_count == 200
        code = next(v.code for v in client.vouchers.list() if v.campaign_id == campaign.id)

        client.redemptions.redeem(code, customer_id="cus_1", amount=2_000, currency="EUR")
        other = next(v.code for v in client.vouchers.list() if v.campaign_id == campaign.id and v.code != code)
        with pytest.raises(vauchflow.CustomerLimitReached):
            client.redemptions.redeem(other, customer_id="cus_1", amount=2_000, currency="EUR")

        paused = client.campaigns.pause(campaign.id)
        assert paused.status == vauchflow.v1.campaign_pb2.CAMPAIGN_STATUS_PAUSED
        with pytest.raises(vauchflow.CampaignNotActive):
            client.redemptions.redeem(other, customer_id="cus_2", amount=2_000, currency="EUR")

        # An operation that ends in error raises its typed error from wait().
        tiny = client.campaigns.create("Tiny", percent_off=5)
        cancelled = client.campaigns.generate_codes(tiny.id, 900_000, pattern="????-????-????")
        client.operations.cancel(cancelled)
        with pytest.raises(vauchflow.OperationError) as raised:
            client.operations.wait(cancelled, timeout=120, poll_interval=0.2)
        assert raised.value.reason == "OPERATION_CANCELLED"
        assert [o.name for o in client.operations.list()] == [operation.name, cancelled.name]


def _readme_block(language: str) -> str:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Campaigns: many codes, one set of terms", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(rf"```{language}\n(.*?)```", section, flags=re.DOTALL)
    return block


def _clean_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAUCHFLOW") and k != "API_KEY"}
    env.update(overrides)
    return env


def test_the_readme_blocks_run_as_written(api_server, gateway, tmp_path) -> None:
    with vauchflow.OperatorClient(api_server.admin_token, target=gateway.grpc_target) as operator:
        secret = operator.tenants.create(f"readme campaign {uuid.uuid4().hex[:8]}", plan="STARTER").secret
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", _readme_block("sh")],
        cwd=tmp_path,
        env=_clean_env(VAUCHFLOW=gateway.public_url, API_KEY=secret),
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    operation, campaign = (json.loads(line) for line in result.stdout.splitlines())
    assert OPERATION_NAME.match(operation["name"])
    assert operation["metadata"]["requested_count"] == "1000"
    assert campaign["campaign"]["name"] == "Newsletter"
    assert campaign["campaign"]["per_customer_limit"] == "1"

    script = "import vauchflow\nclient = vauchflow.Client()\n" + _readme_block("python")
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=_clean_env(VAUCHFLOW_TARGET=gateway.grpc_target, VAUCHFLOW_API_KEY=secret),
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "5000\n"
