"""The delivery service's rules alone: configuration, what an attempt's result means, the gateway and dev stack
wiring of the webhooks service."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from vauchflow_delivery.config import ConfigError, DeliveryConfig
from vauchflow_delivery.dispatcher import Decision, decide
from vauchflow_delivery.http_sender import SendResult
from vauchflow_delivery.retry_schedule import RetrySchedule
from vauchflow_devstack.config import DevstackConfig
from vauchflow_devstack.envoy_config import GatewaySettings, render

ENV = {
    "DATABASE_URL": "postgresql://vauchflow_delivery:x@db/v",
    "APP_DATABASE_URL": "postgresql://vauchflow_app:y@db/v",
    "VAUCHFLOW_WEBHOOK_KEYS": "1:" + base64.b64encode(bytes(32)).decode(),
}
SCHEDULE = RetrySchedule((1.0, 2.0), jitter=0)


def _result(status: int | None, retry_after: float | None = None) -> SendResult:
    return SendResult(status, 5, "", "" if status else "CONNECTION_FAILED", retry_after)


def test_config_defaults_and_overrides() -> None:
    config = DeliveryConfig.from_env(ENV)
    assert (config.grpc_host, config.grpc_port, config.metrics_port) == ("127.0.0.1", 50052, 9464)
    assert config.endpoint_disable_after_seconds == 5 * 24 * 3600
    assert config.retry_schedule == RetrySchedule()
    fast = DeliveryConfig.from_env(
        {**ENV, "VAUCHFLOW_WEBHOOK_RETRY_SCHEDULE": "200ms,1s", "VAUCHFLOW_WEBHOOK_RETRY_JITTER": "0"}
    )
    assert fast.retry_schedule.delays == (0.2, 1.0) and fast.retry_schedule.jitter == 0


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"APP_DATABASE_URL": ""}, "APP_DATABASE_URL"),
        ({"VAUCHFLOW_WEBHOOK_KEYS": ""}, "VAUCHFLOW_WEBHOOK_KEYS"),
        ({"VAUCHFLOW_WEBHOOK_RETRY_SCHEDULE": "soon"}, "VAUCHFLOW_WEBHOOK_RETRY_SCHEDULE"),
        ({"VAUCHFLOW_DELIVERY_MAX_IN_FLIGHT": "0"}, "VAUCHFLOW_DELIVERY_MAX_IN_FLIGHT"),
        ({"VAUCHFLOW_DELIVERY_LEASE_SECONDS": "10", "VAUCHFLOW_WEBHOOK_TIMEOUT_SECONDS": "15"}, "must exceed"),
    ],
)
def test_config_refuses_what_cannot_run(changes: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        DeliveryConfig.from_env({**ENV, **changes})


def test_only_2xx_delivers() -> None:
    assert decide(_result(200), 1, SCHEDULE) == Decision(delivered=True)
    assert decide(_result(204), 1, SCHEDULE).delivered
    for status in (None, 301, 302, 400, 404, 429, 500, 503):
        assert not decide(_result(status), 1, SCHEDULE).delivered, status


def test_410_disables_the_endpoint() -> None:
    assert decide(_result(410), 1, SCHEDULE) == Decision(disable_reason="GONE")


def test_failures_follow_the_schedule_then_give_up() -> None:
    assert decide(_result(500), 1, SCHEDULE).retry_in == 1.0
    assert decide(_result(302), 2, SCHEDULE).retry_in == 2.0
    assert decide(_result(500), 3, SCHEDULE) == Decision()  # exhausted: FAILED
    assert decide(_result(503, retry_after=30), 1, SCHEDULE).retry_in == 30


def test_devstack_places_the_delivery_service_beside_the_api_replicas() -> None:
    one = DevstackConfig.from_env({}, Path("/tmp/x"))
    assert (one.delivery_port, one.delivery_metrics_port) == (50052, 9464)
    three = DevstackConfig.from_env({"VAUCHFLOW_API_REPLICAS": "3"}, Path("/tmp/x"))
    assert three.api_ports == (50051, 50052, 50053) and three.delivery_port == 50054
    chosen = DevstackConfig.from_env({"VAUCHFLOW_DELIVERY_GRPC_PORT": "6000"}, Path("/tmp/x"))
    assert chosen.delivery_port == 6000
    with pytest.raises(ValueError, match="VAUCHFLOW_DELIVERY_GRPC_PORT"):
        DevstackConfig.from_env({"VAUCHFLOW_DELIVERY_GRPC_PORT": "50051"}, Path("/tmp/x"))


def test_gateway_routes_the_event_stream_to_the_webhooks_cluster() -> None:
    rendered = YAML(typ="safe").load(
        render(GatewaySettings(8080, 9901, (("127.0.0.1", 50051),), (("127.0.0.1", 50052), ("127.0.0.1", 50062))))
    )
    clusters = {c["name"]: c for c in rendered["static_resources"]["clusters"]}
    webhook_ports = [
        e["endpoint"]["address"]["socket_address"]["port_value"]
        for e in clusters["webhooks"]["load_assignment"]["endpoints"][0]["lb_endpoints"]
    ]
    assert webhook_ports == [50052, 50062]
    assert clusters["webhooks"]["health_checks"][0]["grpc_health_check"] == {}
    manager = rendered["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    # The 405 routes (direct responses) aside: only the routes that forward.
    routes = [r for r in manager["route_config"]["virtual_hosts"][0]["routes"] if "route" in r]
    by_match = {r["match"].get("prefix") or r["match"].get("path"): r["route"] for r in routes}
    assert by_match["/vauchflow.v1.EventStreamService/"]["cluster"] == "webhooks"
    assert by_match["/v1/events:stream"]["cluster"] == "webhooks"
    # Streams must not be cut by a route timeout, and must come before the catch-all routes.
    assert by_match["/vauchflow.v1.EventStreamService/"]["timeout"] == "0s"
    assert by_match["/v1/events:stream"]["timeout"] == "0s"
    paths = [r["match"].get("prefix") or r["match"].get("path") for r in routes]
    assert paths.index("/vauchflow.v1.EventStreamService/") < paths.index("/")
    assert paths.index("/v1/events:stream") < len(paths) - 1
    transcoder = next(f for f in manager["http_filters"] if f["name"].endswith("grpc_json_transcoder"))["typed_config"]
    assert "vauchflow.v1.EventStreamService" in transcoder["services"]
    assert transcoder["print_options"]["stream_newline_delimited"] is True
    # No webhook replicas: still a valid (empty) endpoint list.
    empty = YAML(typ="safe").load(render(GatewaySettings(8080, 9901, (("127.0.0.1", 50051),))))
    empty_clusters = {c["name"]: c for c in empty["static_resources"]["clusters"]}
    assert empty_clusters["webhooks"]["load_assignment"]["endpoints"][0]["lb_endpoints"] == []
