"""The event stream through the real Envoy gateway: native gRPC, and REST as newline-delimited JSON."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import grpc
import pytest

import vauchflow
from support.delivery_service import Rows
from support.event_stream_client import EventStreamReader
from support.gateway import http_get
from support.polling import wait_for
from support.ports import free_port
from support.services import ApiServer
from vauchflow_devstack import stop_child
from vauchflow_devstack.envoy import EmbeddedEnvoy
from vauchflow_devstack.envoy_config import GatewaySettings


def _address(target: str) -> tuple[str, int]:
    host, _, port = target.rpartition(":")
    return host, int(port)


@pytest.fixture
def gateway_and_service(api_server: ApiServer, delivery_services, tmp_path: Path):
    service = delivery_services()
    envoy = EmbeddedEnvoy(
        tmp_path / "envoy",
        GatewaySettings(
            public_port=free_port(),
            admin_port=free_port(),
            api_addresses=(_address(api_server.target),),
            webhook_addresses=(_address(service.target),),
        ),
    )
    envoy.start(timeout=60)
    try:
        yield envoy, service
    finally:
        assert envoy.process is not None
        stop_child(envoy.process, name="envoy", timeout=15)


@pytest.fixture
def gateway(gateway_and_service) -> EmbeddedEnvoy:
    return gateway_and_service[0]


def test_grpc_clients_stream_through_the_gateway(rows: Rows, gateway: EmbeddedEnvoy) -> None:
    tenant = rows.tenant()
    key = rows.api_key(tenant)
    history = rows.events(tenant, 2)
    with grpc.insecure_channel(f"127.0.0.1:{gateway.settings.public_port}") as channel:
        reader = EventStreamReader(channel, key)
        assert [e.id for e in reader.take(2)] == history
        live = rows.events(tenant, 1)
        [event] = reader.take(1)
        assert event.id == live[0]
        reader.cancel()
        resumed = EventStreamReader(channel, key, after=event.cursor)
        missed = rows.events(tenant, 2)
        assert [e.id for e in resumed.take(2)] == missed
        resumed.cancel()


def _rest_stream(gateway: EmbeddedEnvoy, key: str | None, request_id: str = "", **query: object):
    url = f"{gateway.public_url}/v1/events:stream"
    if query:
        url += "?" + urllib.parse.urlencode(query, doseq=True)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if request_id:
        headers["x-request-id"] = request_id
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30)


def test_rest_clients_get_newline_delimited_json(rows: Rows, gateway: EmbeddedEnvoy) -> None:
    tenant = rows.tenant()
    key = rows.api_key(tenant)
    first = rows.events(tenant, 2, "voucher.created")
    rows.events(tenant, 1, "redemption.succeeded")
    with _rest_stream(gateway, key, event_types="voucher.created") as response:
        assert response.status == 200
        lines = [json.loads(response.readline()) for _ in range(2)]
        assert [line["event"]["id"] for line in lines] == first
        assert lines[0]["event"]["type"] == "voucher.created" and lines[0]["event"]["data"] == {"n": 0}
        # Live: a new event arrives as one more line.
        [live] = rows.events(tenant, 1, "voucher.created")
        assert json.loads(response.readline())["event"]["id"] == live
    cursor = lines[-1]["event"]["cursor"]
    with _rest_stream(gateway, key, after=cursor, event_types="voucher.created") as response:
        assert json.loads(response.readline())["event"]["id"] == live


def test_rest_errors_are_json(rows: Rows, gateway: EmbeddedEnvoy) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        _rest_stream(gateway, None)
    assert refused.value.code == 401
    body = json.loads(refused.value.read())
    assert body["details"][0]["reason"] == "API_KEY_INVALID"


def test_the_request_id_reaches_the_delivery_service_log(rows: Rows, gateway_and_service) -> None:
    gateway, service = gateway_and_service
    tenant = rows.tenant()
    key = rows.api_key(tenant)
    [first] = rows.events(tenant, 1)
    sent = f"stream-{uuid.uuid4().hex}"
    with _rest_stream(gateway, key, request_id=sent) as response:
        assert response.headers["x-request-id"] == sent
        assert json.loads(response.readline())["event"]["id"] == first

    def records(action: str) -> list[dict]:
        lines = service.log_path.read_text(errors="replace").splitlines()
        return [
            record for record in map(json.loads, (line for line in lines if sent in line)) if record["action"] == action
        ]

    # The stream ends when Envoy notices the client left; both ends of it are logged with the id.
    wait_for(lambda: bool(records("stream_ended")), what="the stream's end in the delivery log", timeout=30)
    (opened,) = records("stream_opened")
    assert opened["request_id"] == sent
    assert opened["method"] == "/vauchflow.v1.EventStreamService/SubscribeEvents"


@pytest.fixture
def quick_idle_gateway(api_server: ApiServer, delivery_services, tmp_path: Path):
    """The gateway with the event streams' idle limit at 2 s (the connection manager's stays at 60 s)."""
    service = delivery_services()
    envoy = EmbeddedEnvoy(
        tmp_path / "envoy",
        GatewaySettings(
            public_port=free_port(),
            admin_port=free_port(),
            api_addresses=(_address(api_server.target),),
            webhook_addresses=(_address(service.target),),
            event_stream_idle_seconds=2,
            live_events_idle_seconds=1,
        ),
    )
    envoy.start(timeout=60)
    try:
        yield envoy, service
    finally:
        assert envoy.process is not None
        stop_child(envoy.process, name="envoy", timeout=15)


def _idle_closures(gateway: EmbeddedEnvoy) -> int:
    stats = http_get(
        f"http://127.0.0.1:{gateway.settings.admin_port}/stats?filter=^http.public.downstream_rq_idle_timeout$"
    ).text
    return int(stats.split(":")[1])


def test_a_silent_stream_is_closed_at_its_routes_idle_limit(rows: Rows, quick_idle_gateway) -> None:
    gateway, service = quick_idle_gateway
    tenant = rows.tenant()
    key = rows.api_key(tenant)
    [first] = rows.events(tenant, 1)
    sent = f"idle-{uuid.uuid4().hex}"
    started = time.monotonic()
    with _rest_stream(gateway, key, request_id=sent) as response:
        assert json.loads(response.readline())["event"]["id"] == first
        # Nothing more comes: the route's 2 s idle limit closes the stream (the connection manager's is 60 s).
        with pytest.raises(http.client.IncompleteRead):
            response.read()
    assert time.monotonic() - started < 30
    assert _idle_closures(gateway) == 1

    def ended() -> bool:
        lines = service.log_path.read_text(errors="replace").splitlines()
        return any(json.loads(line).get("action") == "stream_ended" for line in lines if sent in line)

    # Closed at both ends: the delivery service's stream (and the tenant's stream slot) is gone too.
    wait_for(ended, what="the idle stream's end in the delivery log", timeout=30)


def test_the_sdk_resumes_a_stream_the_idle_limit_closed(rows: Rows, quick_idle_gateway) -> None:
    gateway, _ = quick_idle_gateway
    tenant = rows.tenant()
    key = rows.api_key(tenant)
    [first] = rows.events(tenant, 1)
    with vauchflow.Client(key, target=f"127.0.0.1:{gateway.settings.public_port}", tls=False) as client:
        events = iter(client.events.stream())
        assert next(events).id == first
        wait_for(lambda: _idle_closures(gateway) >= 1, what="the gateway closing the silent stream", timeout=30)
        [later] = rows.events(tenant, 1)
        # The closed stream ends with a code the SDK resumes on: it reconnects from its cursor, no repeat, no gap.
        assert next(events).id == later
