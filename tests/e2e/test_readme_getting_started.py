"""The README's getting-started blocks (curl over REST, and the Python client), run exactly as written against a
real server and Envoy."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import vauchflow

REPO = Path(__file__).resolve().parents[2]


def readme_block(heading: str, language: str) -> str:
    readme = (REPO / "README.md").read_text()
    section = readme.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(rf"```{language}\n(.*?)```", section, flags=re.DOTALL)
    assert len(blocks) == 1, f"the section {heading!r} holds exactly one {language} block"
    return blocks[0]


def _clean_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAUCHFLOW") and k != "OPERATOR_TOKEN"}
    env.update(overrides)
    return env


def test_readme_curl_getting_started_runs_as_written(api_server, gateway, tmp_path):
    script = readme_block("Getting started", "sh")
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,  # nothing in it: the block must not depend on files beyond .data/operator-token
        env=_clean_env(VAUCHFLOW=gateway.public_url, OPERATOR_TOKEN=api_server.admin_token),
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    created, validated, rolled_back, listed = (json.loads(line) for line in result.stdout.splitlines())
    assert created["voucher"]["code"] == "WELCOME10"
    assert created["voucher"]["redemption_count"] == "0"
    assert validated["valid"] is True and validated["reason"] == ""
    assert validated["discount_amount"] == "500"
    assert rolled_back["redemption"]["status"] == "REDEMPTION_STATUS_ROLLED_BACK"
    assert rolled_back["redemption"]["rollback_reason"] == "order cancelled"
    assert [r["status"] for r in listed["redemptions"]] == ["REDEMPTION_STATUS_ROLLED_BACK"]
    assert listed["redemptions"][0]["id"] == rolled_back["redemption"]["id"]


def _tenant_key(api_server) -> str:
    with vauchflow.OperatorClient(api_server.admin_token, target=api_server.target) as operator:
        return operator.tenants.create("Acme Shoes", plan="STARTER").secret


def test_readme_python_client_runs_as_written(api_server):
    block = readme_block("Using the Python client", "python")
    code_lines = [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert len(code_lines) <= 10, "create -> validate -> redeem -> rollback in 10 lines or fewer"
    result = subprocess.run(
        [sys.executable, "-c", block],
        cwd=REPO,
        env=_clean_env(VAUCHFLOW_TARGET=api_server.target, VAUCHFLOW_API_KEY=_tenant_key(api_server)),
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "valid: True",
        "refused: FAILED_PRECONDITION/CUSTOMER_LIMIT_REACHED: this customer has used the voucher as often as allowed",
        "rolled back: order cancelled",
    ]


def test_readme_low_level_stub_example_runs_as_written(api_server):
    key = _tenant_key(api_server)
    with vauchflow.Client(key, target=api_server.target) as client:
        client.vouchers.create("WELCOME10", percent_off=10)
    result = subprocess.run(
        [sys.executable, "-c", readme_block("Low level: the generated stubs", "python")],
        cwd=REPO,
        env=_clean_env(VAUCHFLOW_TARGET=api_server.target, VAUCHFLOW_API_KEY=key),
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "WELCOME10\n"
