"""ServerConfig / WebhookSettings: read once from the environment; no key ring, no server."""

from __future__ import annotations

import base64
import ipaddress
import os
import subprocess
import sys

import pytest

from vauchflow_server.config import ConfigError, ServerConfig, WebhookSettings

KEY = base64.b64encode(bytes(range(32))).decode()
BASE = {
    "DATABASE_URL": "postgresql://vauchflow_app:pw@localhost/vauchflow",
    "VAUCHFLOW_ADMIN_TOKEN": "vf_op_0123456789abcdef",
    "VAUCHFLOW_WEBHOOK_KEYS": f"1:{KEY}",
}


def test_production_defaults_are_strict() -> None:
    settings = ServerConfig.from_env(BASE).webhooks
    assert settings.key_ring.versions == (1,) and settings.key_ring.key(1) == bytes(range(32))
    assert (settings.allowed_networks, settings.allow_http) == ((), False)


def test_allow_list_and_http_for_development() -> None:
    settings = WebhookSettings.from_env(
        {**BASE, "VAUCHFLOW_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8, ::1/128", "VAUCHFLOW_WEBHOOK_ALLOW_HTTP": "true"}
    )
    assert settings.allowed_networks == (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
    assert settings.allow_http is True


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"VAUCHFLOW_WEBHOOK_KEYS": ""}, "VAUCHFLOW_WEBHOOK_KEYS"),
        ({"VAUCHFLOW_WEBHOOK_KEYS": "1:short"}, "VAUCHFLOW_WEBHOOK_KEYS"),
        ({"VAUCHFLOW_WEBHOOK_ALLOW_NETWORKS": "10.0.0.0/33"}, "is not a CIDR"),
        ({"VAUCHFLOW_WEBHOOK_ALLOW_NETWORKS": "10.0.0.1/8"}, "is not a CIDR"),  # host bits set: a typo, refused
        ({"VAUCHFLOW_WEBHOOK_ALLOW_HTTP": "maybe"}, "true or false"),
    ],
)
def test_bad_webhook_settings_are_refused(changes: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem) as raised:
        ServerConfig.from_env({**BASE, **changes})
    assert KEY not in str(raised.value)


def test_the_server_refuses_to_start_without_a_key_ring() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAUCHFLOW_")}
    env.update({k: v for k, v in BASE.items() if k != "VAUCHFLOW_WEBHOOK_KEYS"})
    result = subprocess.run([sys.executable, "-m", "vauchflow_server"], env=env, capture_output=True, text=True,
                            timeout=60, check=False)  # fmt: skip
    assert result.returncode == 2
    assert "VAUCHFLOW_WEBHOOK_KEYS" in result.stdout + result.stderr


def test_redis_calls_time_out_quickly_by_default() -> None:
    assert ServerConfig.from_env(BASE).redis_timeout_seconds == 0.1
    assert ServerConfig.from_env({**BASE, "VAUCHFLOW_REDIS_TIMEOUT_SECONDS": "0.25"}).redis_timeout_seconds == 0.25


def test_redemption_batching_is_on_by_default_and_can_be_turned_off() -> None:
    default = ServerConfig.from_env(BASE)
    assert (default.redeem_batch_max, default.redeem_batches_in_flight) == (64, 2)
    off = ServerConfig.from_env({**BASE, "VAUCHFLOW_REDEEM_BATCH_MAX": "0"})
    assert off.redeem_batch_max == 0


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"VAUCHFLOW_REDEEM_BATCH_MAX": "-1"}, "VAUCHFLOW_REDEEM_BATCH_MAX must be at least 0"),
        ({"VAUCHFLOW_REDEEM_BATCHES_IN_FLIGHT": "0"}, "VAUCHFLOW_REDEEM_BATCHES_IN_FLIGHT must be at least 1"),
        ({"VAUCHFLOW_REDEEM_BATCH_MAX": "many"}, "must be an integer"),
    ],
)
def test_bad_batch_settings_are_refused(changes: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        ServerConfig.from_env({**BASE, **changes})
