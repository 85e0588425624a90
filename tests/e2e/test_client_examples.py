"""The examples/ scripts run against the real stack (API server behind Envoy) and print what they promise; mypy
--strict passes on them and on the client's hand-written modules (the examples are the user's view of the
types)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLIENT = REPO / "clients" / "python"


def run_example(name: str, gateway, api_server) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAUCHFLOW")}
    env.update(VAUCHFLOW_TARGET=gateway.grpc_target, VAUCHFLOW_ADMIN_TOKEN=api_server.admin_token)
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / name)],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_getting_started(gateway, api_server) -> None:
    assert run_example("getting_started.py", gateway, api_server) == [
        "tenant: Acme Shoes plan: PLAN_STARTER",
        "valid: True discount: 500",
        "redeemed count: 1",
        "refused: CUSTOMER_LIMIT_REACHED 400",
        "history: True REDEMPTION_STATUS_ROLLED_BACK",
    ]


def test_async_checkout(gateway, api_server) -> None:
    assert run_example("async_checkout.py", gateway, api_server) == [
        "redeemed: 5 sold out: 15",
        "redemptions listed: 5",
    ]


def test_manage_resources(gateway, api_server) -> None:
    assert run_example("manage_resources.py", gateway, api_server) == [
        "key: default requests per second: 200",
        "keys: ['checkout', 'default']",
        "vouchers: ['SPRING-0', 'SPRING-1', 'SPRING-2', 'SPRING-3', 'SPRING-4']",
        "invalid: ['voucher.code', 'voucher.discount.percent_off']",
        "webhook secret shown once: True",
        "event types: ['voucher.created', 'voucher.disabled', 'voucher.updated']",
    ]


@pytest.mark.parametrize("paths", [["examples"], ["clients/python/vauchflow"]], ids=["examples", "client"])
def test_mypy_strict_passes(paths: list[str], tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(CLIENT / "pyproject.toml"), "--cache-dir",
         str(tmp_path / "mypy-cache"), *paths],
        cwd=REPO, check=False, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
