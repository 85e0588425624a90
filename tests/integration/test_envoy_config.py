"""The rendered gateway configuration: Envoy itself accepts it (`--mode validate`), it carries the transcoder
settings the REST contract depends on, and a running gateway's admin serves Prometheus stats on loopback only."""

from __future__ import annotations

import dataclasses

import pytest
from ruamel.yaml import YAML

from support.gateway import http_get
from vauchflow_devstack.child_process import ChildProcessFailed
from vauchflow_devstack.envoy import validate_config
from vauchflow_devstack.envoy_config import GatewaySettings, render


def settings(replicas: int) -> GatewaySettings:
    return GatewaySettings(
        public_port=18080,
        admin_port=19901,
        api_addresses=tuple(("127.0.0.1", 50051 + index) for index in range(replicas)),
    )


def http_filters(config: dict) -> dict[str, dict]:
    (listener,) = config["static_resources"]["listeners"]
    (manager,) = listener["filter_chains"][0]["filters"]
    return {f["name"]: f["typed_config"] for f in manager["typed_config"]["http_filters"]}


@pytest.mark.parametrize("replicas", [1, 3])
def test_envoy_validates_the_rendered_config(tmp_path, replicas):
    path = tmp_path / "envoy.yaml"
    path.write_text(render(settings(replicas)))

    validate_config(path)

    config = YAML(typ="safe").load(path.read_text())
    clusters = {cluster["name"]: cluster for cluster in config["static_resources"]["clusters"]}
    assert set(clusters) == {"api", "webhooks", "web"}
    assert clusters["web"]["health_checks"][0]["http_health_check"] == {"path": "/healthz"}
    endpoints = clusters["api"]["load_assignment"]["endpoints"][0]["lb_endpoints"]
    assert [e["endpoint"]["address"]["socket_address"]["port_value"] for e in endpoints] == [
        50051 + index for index in range(replicas)
    ]


def test_envoy_validation_rejects_a_broken_config(tmp_path):
    # Proves the check above can fail: an unknown field in the transcoder's typed config.
    path = tmp_path / "envoy.yaml"
    path.write_text(render(settings(1)).replace("convert_grpc_status: true", "convert_grpc_statuz: true"))

    with pytest.raises(ChildProcessFailed, match="convert_grpc_statuz"):
        validate_config(path)


def test_transcoder_settings_and_loopback_admin():
    config = YAML(typ="safe").load(render(settings(1)))
    transcoder = http_filters(config)["envoy.filters.http.grpc_json_transcoder"]

    assert transcoder["convert_grpc_status"] is True
    assert transcoder["print_options"]["preserve_proto_field_names"] is True
    assert transcoder["print_options"]["always_print_primitive_fields"] is True
    assert transcoder["print_options"]["always_print_enums_as_ints"] is False
    assert transcoder["request_validation_options"]["reject_unknown_method"] is True
    assert transcoder["request_validation_options"]["reject_unknown_query_parameters"] is True
    descriptor = settings(1).descriptor_path
    assert transcoder["proto_descriptor"] == str(descriptor) and descriptor.is_file()
    assert descriptor.stat().st_size > 0
    assert config["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"


def test_admin_serves_prometheus_stats(gateway):
    response = http_get(gateway.admin_url + "/stats/prometheus")

    assert response.status == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE envoy_cluster_upstream_rq_total counter" in response.text
    assert 'envoy_cluster_upstream_rq_total{envoy_cluster_name="api"}' in response.text


def _routes(config: dict) -> list[dict]:
    (listener,) = config["static_resources"]["listeners"]
    (manager,) = listener["filter_chains"][0]["filters"]
    (host,) = manager["typed_config"]["route_config"]["virtual_hosts"]
    return host["routes"]


def _route_to(routes: list[dict], **match: object) -> dict:
    (route,) = [r for r in routes if all(r["match"].get(k) == v for k, v in match.items()) and "route" in r]
    return route["route"]


def test_streaming_routes_have_idle_limits_of_their_own():
    config = YAML(typ="safe").load(render(settings(1)))
    (listener,) = config["static_resources"]["listeners"]
    (manager,) = listener["filter_chains"][0]["filters"]
    routes = _routes(config)

    # Every other route answers within its 30 s timeout: a minute without a byte is a dead stream.
    assert manager["typed_config"]["stream_idle_timeout"] == "60s"
    grpc_stream = _route_to(routes, prefix="/vauchflow.v1.EventStreamService/")
    rest_stream = _route_to(routes, path="/v1/events:stream")
    live_events = _route_to(routes, path="/events/live")
    assert grpc_stream["idle_timeout"] == rest_stream["idle_timeout"] == "300s"
    assert grpc_stream["cluster"] == rest_stream["cluster"] == "webhooks"
    assert live_events["idle_timeout"] == "240s" and live_events["cluster"] == "web"
    assert grpc_stream["timeout"] == rest_stream["timeout"] == live_events["timeout"] == "0s"
    # The live events route comes before the web catch-all that would otherwise take it.
    paths = [r["match"].get("path") or r["match"].get("prefix") for r in routes]
    assert paths.index("/events/live") < len(paths) - 1 and paths[-1] == "/"
    # The CSV routes have limits of their own (docs/gateway.md); every other route falls back to the connection
    # manager's.
    csv_routes = [
        _route_to(routes, prefix="/vauchflow.v1.DataExchangeService/"),
        *(
            r["route"]
            for r in routes
            if "route" in r and ("export$" in str(r["match"]) or "import$" in str(r["match"]))
        ),
    ]
    assert [r["idle_timeout"] for r in csv_routes] == ["300s", "60s", "300s"]
    for route in routes:
        if "route" in route and route["route"] not in (grpc_stream, rest_stream, live_events, *csv_routes):
            assert "idle_timeout" not in route["route"], route["match"]


def test_idle_limits_are_settable_and_the_live_feed_closes_before_the_stream_it_relays():
    custom = dataclasses.replace(settings(1), stream_idle_seconds=30, event_stream_idle_seconds=90,
                                 live_events_idle_seconds=45)  # fmt: skip
    routes = _routes(YAML(typ="safe").load(render(custom)))
    assert _route_to(routes, path="/v1/events:stream")["idle_timeout"] == "90s"
    assert _route_to(routes, path="/events/live")["idle_timeout"] == "45s"

    with pytest.raises(ValueError, match="live events idle limit"):
        render(dataclasses.replace(settings(1), event_stream_idle_seconds=60, live_events_idle_seconds=60))
    with pytest.raises(ValueError, match="idle limits must be positive"):
        render(dataclasses.replace(settings(1), stream_idle_seconds=0))
