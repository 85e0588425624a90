"""The real Envoy gateway in front of API server replicas, and a small REST client (stdlib only) to talk to it.

Each REST call opens its own connection, so threads never share one and a killed replica can't poison a pooled
connection the next call would reuse.
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support.polling import wait_for
from support.ports import free_port
from vauchflow_devstack.envoy import EmbeddedEnvoy
from vauchflow_devstack.envoy_config import GatewaySettings

REST_TIMEOUT = 30.0
GRPC_HEADERS = ("grpc-status", "grpc-message", "grpc-status-details-bin", "grpc-encoding", "grpc-accept-encoding")
ERROR_DOMAIN = "vauchflow.com"


# The gateway


class _GatewayWithoutUpstream(EmbeddedEnvoy):
    """Ready once Envoy's admin reports LIVE, whether or not any replica answers (for the no-upstream tests)."""

    def _ready(self) -> bool:
        try:
            return http_get(f"http://127.0.0.1:{self.settings.admin_port}/ready").status == 200
        except OSError:
            return False


@dataclass
class Gateway:
    envoy: EmbeddedEnvoy

    @property
    def public_url(self) -> str:
        return self.envoy.public_url

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.envoy.settings.admin_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.envoy.settings.public_port}"

    @property
    def log_path(self) -> Path:
        return self.envoy.log_path

    def rest(self, token: str | None = None) -> RestClient:
        return RestClient(self.public_url, token)

    def admin(self, path: str) -> str:
        response = http_get(self.admin_url + path)
        assert response.status == 200, f"Envoy admin {path}: HTTP {response.status}"
        return response.text

    def api_hosts(self) -> dict[str, UpstreamHost]:
        """The api cluster's hosts ("127.0.0.1:PORT") as the admin's /clusters sees them now."""
        return self.hosts("api")

    def hosts(self, cluster: str) -> dict[str, UpstreamHost]:
        """An upstream cluster's hosts (api, webhooks, web) as the admin's /clusters sees them now."""
        return upstream_hosts(self.admin("/clusters"), cluster)

    def stop(self) -> None:
        self.envoy.stop()


def upstream_hosts(clusters_text: str, cluster: str) -> dict[str, UpstreamHost]:
    """Parses Envoy admin's /clusters text for one cluster's hosts."""
    hosts: dict[str, UpstreamHost] = {}
    for line in clusters_text.splitlines():
        # api::127.0.0.1:50051::rq_total::12 — the cluster's settings lines have no host part.
        parts = line.split("::")
        if len(parts) != 4 or parts[0] != cluster:
            continue
        _, address, name, value = parts
        host = hosts.setdefault(address, UpstreamHost(address))
        if name == "health_flags":
            host.health_flags = value
        elif value.isdigit():
            host.counters[name] = int(value)
    return hosts


@dataclass
class UpstreamHost:
    address: str
    health_flags: str = ""
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return self.health_flags == "healthy"

    @property
    def requests(self) -> int:
        return self.counters.get("rq_total", 0)

    @property
    def active_requests(self) -> int:
        return self.counters.get("rq_active", 0)


def start_gateway(
    root_dir: Path,
    api_targets: Iterable[str],
    *,
    require_upstream: bool = True,
    web_address: tuple[str, int] | None = None,
    web_addresses: Iterable[tuple[str, int]] = (),
    expose_admin_services: bool = True,
) -> Gateway:
    """Envoy on free ports in front of the API servers at api_targets ("HOST:PORT") and, when given, the web
    service; with require_upstream, waits until a replica answers through it."""
    addresses = tuple((host, int(port)) for host, _, port in (target.rpartition(":") for target in api_targets))
    settings = GatewaySettings(
        public_port=free_port(),
        admin_port=free_port(),
        api_addresses=addresses,
        web_addresses=((web_address,) if web_address else ()) + tuple(web_addresses),
        expose_admin_services=expose_admin_services,
    )
    envoy = (EmbeddedEnvoy if require_upstream else _GatewayWithoutUpstream)(root_dir, settings)
    envoy.start(timeout=60)
    return Gateway(envoy)


def wait_for_healthy_hosts(gateway: Gateway, count: int, timeout: float = 30) -> None:
    """Envoy's active health check has marked `count` replicas healthy (round-robin covers them all)."""
    wait_for(
        lambda: sum(host.healthy for host in gateway.api_hosts().values()) == count,
        what=f"{count} healthy API hosts in Envoy",
        timeout=timeout,
        process=gateway.envoy.process,
        log_path=gateway.log_path,
    )


# REST


@dataclass
class RestResponse:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"RestResponse({self.status}, {self.headers.get('content-type')!r}, {self.text[:500]!r})"


class RestClient:
    """REST calls through the gateway with one bearer token; a fresh connection per call."""

    def __init__(self, base_url: str, token: str | None = None, timeout: float = REST_TIMEOUT) -> None:
        parts = urllib.parse.urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.token = token
        self.timeout = timeout

    def with_token(self, token: str | None) -> RestClient:
        return RestClient(f"http://{self.host}:{self.port}", token, self.timeout)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, str] | None = None,
        raw_body: bytes | Iterable[bytes] | None = None,
        headers: dict[str, str] | None = None,
    ) -> RestResponse:
        """raw_body as bytes is sent with a Content-Length; as an iterable of chunks, with chunked encoding."""
        if query:
            path += "?" + urllib.parse.urlencode(query)
        sent_headers = {"accept": "application/json"}
        if self.token is not None:
            sent_headers["authorization"] = f"Bearer {self.token}"
        payload = raw_body
        if payload is None and body is not None:
            payload = json.dumps(body).encode()
        if payload is not None:
            sent_headers["content-type"] = "application/json"
        sent_headers.update(headers or {})
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            chunked = payload is not None and not isinstance(payload, bytes)
            connection.request(method, path, body=payload, headers=sent_headers, encode_chunked=chunked)
            response = connection.getresponse()
            return RestResponse(
                response.status, {name.lower(): value for name, value in response.getheaders()}, response.read()
            )
        finally:
            connection.close()

    def get(self, path: str, **kwargs: Any) -> RestResponse:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> RestResponse:
        return self.request("POST", path, {} if body is None else body, **kwargs)

    def patch(self, path: str, body: Any = None, **kwargs: Any) -> RestResponse:
        return self.request("PATCH", path, body, **kwargs)


def http_get(url: str, timeout: float = 5) -> RestResponse:
    parts = urllib.parse.urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return RestClient(f"http://{parts.netloc}", timeout=timeout).get(path)


def expect_json(response: RestResponse, status: int = 200) -> Any:
    """The HTTP status, a JSON body, and no gRPC framing headers; returns the parsed body."""
    assert response.status == status, f"expected HTTP {status}, got {response!r}"
    assert response.headers.get("content-type", "").startswith("application/json"), response
    leaked = [name for name in GRPC_HEADERS if name in response.headers]
    assert not leaked, f"gRPC headers {leaked} on a REST response: {response!r}"
    return response.json()


def expect_error(response: RestResponse, status: int, reason: str) -> dict[str, Any]:
    """A JSON google.rpc.Status body with HTTP status and an ErrorInfo of reason (domain vauchflow.com)."""
    body = expect_json(response, status)
    assert set(body) <= {"code", "message", "details"}, body
    assert isinstance(body["code"], int) and body["code"] != 0, body
    infos = [d for d in body.get("details", []) if d.get("@type") == "type.googleapis.com/google.rpc.ErrorInfo"]
    assert [(i["reason"], i["domain"]) for i in infos] == [(reason, ERROR_DOMAIN)], body
    return body


def field_violations(body: dict[str, Any]) -> list[dict[str, str]]:
    return [
        violation
        for detail in body.get("details", [])
        if detail.get("@type") == "type.googleapis.com/google.rpc.BadRequest"
        for violation in detail.get("field_violations", [])
    ]


def new_tenant_key(operator: RestClient, name: str = "REST GmbH") -> str:
    """A new tenant created over REST with the operator token; returns its first key's secret. On SCALE, whose
    burst (2,000 requests) the concurrency tests stay within."""
    created = expect_json(operator.post("/v1/tenants", {"name": name, "plan": "PLAN_SCALE"}))
    return created["secret"]


def concurrent_posts(rest: RestClient, path: str, body: Any, *, count: int) -> list[RestResponse]:
    """count threads, each on its own connection, POST at the same moment (a Barrier); responses in order."""
    barrier = threading.Barrier(count, timeout=30)
    results: list[Any] = [None] * count

    def post(index: int) -> None:
        try:
            barrier.wait()
            results[index] = rest.post(path, body)
        except BaseException as error:
            barrier.abort()
            results[index] = error

    threads = [threading.Thread(target=post, args=(i,), name=f"rest-client-{i}") for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=rest.timeout + 60)
    assert not any(thread.is_alive() for thread in threads), "a client thread hung"
    failed = [r for r in results if isinstance(r, BaseException)]
    assert not failed, f"{len(failed)} requests failed outside HTTP: {failed[:3]!r}"
    return results


def assert_one_redeemed_rest_exhausted(responses: list[RestResponse]) -> None:
    """Exactly one HTTP 200 redeem; every other response a JSON 400 VOUCHER_EXHAUSTED."""
    successes = [r for r in responses if r.status == 200]
    others = sorted({(r.status, r.text[:300]) for r in responses if r.status != 400})
    assert len(successes) == 1, f"{len(successes)} successes; non-400 responses: {others}"
    assert expect_json(successes[0])["voucher"]["redemption_count"] == "1"
    refused = [r for r in responses if r.status != 200]
    for response in refused:
        expect_error(response, 400, "VOUCHER_EXHAUSTED")
    assert len(refused) == len(responses) - 1
