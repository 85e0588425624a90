"""The prober on the real stack (its own Redis, API server, Envoy and PostgreSQL database): stop Redis and health
turns 503, the API-uptime component reaches major outage after the configured checks and an incident opens by
itself; start Redis and the component is operational again. Components without a surface report "not deployed"."""

from __future__ import annotations

import re
import secrets
import signal
from collections.abc import Iterator

import pytest

from support.gateway import Gateway, start_gateway
from support.polling import wait_for
from support.ports import free_port
from support.prober import Prober, start_prober
from support.services import ApiServer, start_api_server
from vauchflow_devstack import stop_child
from vauchflow_devstack.redis import EmbeddedRedis


def _sample(text: str, name: str, component: str) -> float | None:
    match = re.search(rf'^{name}\{{component="{component}"\}} ([0-9.e+-]+)$', text, flags=re.MULTILINE)
    return float(match[1]) if match else None


@pytest.fixture
def own_redis(tmp_path) -> Iterator[EmbeddedRedis]:
    redis = EmbeddedRedis(tmp_path / "redis", free_port())
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


@pytest.fixture
def stack(postgres, own_redis, tmp_path) -> Iterator[tuple[ApiServer, Gateway, Prober]]:
    database = postgres.create_database("status_probe")
    server = start_api_server(
        database=database, redis_url=own_redis.url, admin_token="vf_op_" + secrets.token_urlsafe(24),
        port=free_port(), log_path=tmp_path / "server.log",
    )  # fmt: skip
    gateway = None
    prober = None
    try:
        gateway = start_gateway(tmp_path / "gateway", [server.target])
        prober = start_prober(
            admin_token=server.admin_token, public_url=gateway.public_url, grpc_target=gateway.grpc_target,
            log_path=tmp_path / "prober.log", extra_env={"VAUCHFLOW_PROBE_OPEN_INCIDENT_AFTER": "3"},
        )  # fmt: skip
        yield server, gateway, prober
    finally:
        if prober is not None:
            # A clean SIGTERM exit is part of the contract (make run and compose stop it that way).
            assert prober.stop(signal.SIGTERM) == 0, f"prober did not exit 0; see {prober.log_path}"
        if gateway is not None:
            gateway.stop()
        assert stop_child(server.process, name="api-server", sig=signal.SIGTERM, timeout=30) == 0
        postgres.drop_database(database.name)


def _component(gateway: Gateway, name: str) -> dict:
    summary = gateway.rest().request("GET", "/v1/status/summary").json()
    return next(c for c in summary["components"] if c["component"] == name)


def _open_incidents(gateway: Gateway, component: str = "MONITORED_COMPONENT_API") -> list[dict]:
    """Open incidents naming component (this stack has no delivery or web service, so those fail on their own)."""
    incidents = gateway.rest().request("GET", "/v1/status/summary").json()["open_incidents"]
    return [i for i in incidents if component in i["components"]]


def _health_status(gateway: Gateway) -> int:
    return gateway.rest().request("GET", "/actuator/health").status


def test_losing_redis_is_a_major_outage_with_an_incident_and_recovery_is_operational(stack, own_redis) -> None:
    _server, gateway, prober = stack
    api = "MONITORED_COMPONENT_API"
    wait_for(lambda: _component(gateway, api)["state"] == "COMPONENT_STATE_OPERATIONAL",
             what="API uptime operational", timeout=60, process=prober.process, log_path=prober.log_path)  # fmt: skip
    wait_for(lambda: _sample(prober.metrics(), "vauchflow_probe_success", "api") == 1.0,
             what="probe success metric for api", timeout=30)  # fmt: skip
    # Surfaces that do not exist here are reported as such, never as operational.
    assert _component(gateway, "MONITORED_COMPONENT_BACKUPS")["state"] == "COMPONENT_STATE_NOT_DEPLOYED"
    metrics = prober.metrics()
    assert _sample(metrics, "vauchflow_probe_not_deployed", "backups") == 1.0
    assert _sample(metrics, "vauchflow_probe_success", "backups") is None
    # The synthetic redemption works against the probe tenant through Envoy and the Python client.
    wait_for(lambda: _sample(prober.metrics(), "vauchflow_probe_success", "redemption") == 1.0,
             what="redemption probe passing", timeout=30)  # fmt: skip
    assert _open_incidents(gateway) == []

    own_redis.stop()
    wait_for(lambda: _health_status(gateway) == 503, what="health 503 without Redis", timeout=30)
    wait_for(lambda: _component(gateway, api)["state"] == "COMPONENT_STATE_MAJOR_OUTAGE",
             what="API uptime major outage", timeout=60, process=prober.process, log_path=prober.log_path)  # fmt: skip
    component = _component(gateway, api)
    assert component["state_reason"].endswith("HTTP 503"), component
    wait_for(lambda: len(_open_incidents(gateway)) == 1, what="an incident opened by the prober", timeout=30)
    incident = _open_incidents(gateway)[0]
    assert incident["components"] == [api]
    assert incident["state"] == "INCIDENT_STATE_INVESTIGATING"
    assert incident["updates"][0]["author"] == "prober"
    assert "not yet known" in incident["updates"][0]["message"]
    assert _sample(prober.metrics(), "vauchflow_probe_success", "api") == 0.0

    own_redis.start()
    wait_for(lambda: _health_status(gateway) == 200, what="health 200 with Redis back", timeout=60)
    wait_for(lambda: _component(gateway, api)["state"] == "COMPONENT_STATE_OPERATIONAL",
             what="API uptime operational again", timeout=60, process=prober.process)  # fmt: skip
    # Still one incident: the prober does not open a second one for the same component while it is open.
    assert len(_open_incidents(gateway)) == 1
    # Without a delivery service to read, webhook delivery is failing, not passing, and got its own incident.
    webhooks = _component(gateway, "MONITORED_COMPONENT_WEBHOOKS")
    assert webhooks["state"] == "COMPONENT_STATE_MAJOR_OUTAGE", webhooks
    assert webhooks["state_reason"].endswith("delivery service metrics: unreachable (ClientConnectorError)"), webhooks
    assert len(_open_incidents(gateway, "MONITORED_COMPONENT_WEBHOOKS")) == 1
    uptime = _component(gateway, api)["uptime_90d_percent"]
    assert 0 < uptime < 100
