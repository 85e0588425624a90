"""Two web service replicas behind the real Envoy, one stopped while agents redeem through the MCP server
(issue 18): SIGTERM drains (nothing fails); SIGKILL or SIGSTOP fail what was in flight on it, and each retry with
the same request_id redeems exactly once."""

from __future__ import annotations

import json
import signal
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.api_client import ApiSession, OwnerDatabase
from support.gateway import Gateway, start_gateway
from support.polling import wait_for
from support.services import ApiServer
from support.web_service import WebService, start_web_service


@dataclass
class WebReplicas:
    services: list[WebService]
    gateway: Gateway

    def address(self, service: WebService) -> str:
        return f"127.0.0.1:{service.port}"

    def healthy(self) -> set[str]:
        return {address for address, host in self.gateway.hosts("web").items() if host.healthy}


@pytest.fixture
def web_replicas(api_server: ApiServer, tmp_path: Path) -> Iterator[WebReplicas]:
    services: list[WebService] = []
    gateway = None
    try:
        for index in (1, 2):
            services.append(start_web_service(
                api_target=api_server.target, log_path=tmp_path / f"web-{index}.log",
                # As deployed: keep serving a moment after SIGTERM while Envoy's health check notices the drain.
                extra_env={"VAUCHFLOW_SHUTDOWN_DRAIN_DELAY_SECONDS": "2"},
            ))  # fmt: skip
        gateway = start_gateway(tmp_path / "envoy", [api_server.target],
                                web_addresses=[("127.0.0.1", service.port) for service in services])  # fmt: skip
        replicas = WebReplicas(services, gateway)
        wait_for(lambda: len(replicas.healthy()) == 2, what="two healthy web hosts in Envoy", timeout=30)
        yield replicas
    finally:
        if gateway is not None:
            gateway.stop()
        for service in services:
            service.stop(signal.SIGKILL, timeout=10)


class McpRedeemLoad:
    """Threads calling the MCP redeem_voucher tool through Envoy, each call with its own request_id and retried with
    the same one (5 s timeout, any failure) until the tool answers with a redemption."""

    def __init__(self, url: str, secret: str, code: str, workers: int = 3) -> None:
        self.succeeded: dict[str, str] = {}
        self.failures: list[tuple[str, str]] = []
        self._url, self._secret, self._code = url, secret, code
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(workers)]

    def _call(self, request_id: str) -> str:
        arguments = {"code": self._code, "amount": 10_000, "currency": "EUR", "order_id": request_id,
                     "request_id": request_id}  # fmt: skip
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": "redeem_voucher", "arguments": arguments}}  # fmt: skip
        request = urllib.request.Request(self._url, data=json.dumps(body).encode(), method="POST", headers={
            "Content-Type": "application/json", "Accept": "application/json, text/event-stream",
            "Authorization": f"Bearer {self._secret}"})  # fmt: skip
        with urllib.request.urlopen(request, timeout=5) as response:
            result = json.loads(response.read())["result"]
        assert not result.get("isError"), result
        return str(result["structuredContent"]["redemption"]["id"])

    def _run(self) -> None:
        while not self._stop.is_set():
            request_id = f"redeem-{uuid.uuid4().hex}"
            give_up = time.monotonic() + 60
            while True:
                try:
                    redemption_id = self._call(request_id)
                except (OSError, urllib.error.HTTPError, AssertionError, KeyError) as error:
                    with self._lock:
                        self.failures.append((request_id, type(error).__name__))
                    assert time.monotonic() < give_up, f"{request_id} never succeeded"
                    continue
                with self._lock:
                    self.succeeded[request_id] = redemption_id
                break

    def count(self) -> int:
        with self._lock:
            return len(self.succeeded)

    def __enter__(self) -> McpRedeemLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=90)
        assert not any(thread.is_alive() for thread in self._threads), "an MCP worker hung"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL, signal.SIGSTOP], ids=lambda sig: sig.name)
def test_a_web_replica_stopped_under_load_redeems_every_request_exactly_once(
    web_replicas: WebReplicas, api_server: ApiServer, sig: signal.Signals
) -> None:
    with ApiSession(api_server) as api:
        tenant = api.new_tenant()
        code = tenant.create_voucher(max_redemptions=1_000_000).code
    victim, survivor = web_replicas.services
    url = f"{web_replicas.gateway.public_url}/v1/mcp"

    with McpRedeemLoad(url, tenant.secret, code) as load:
        wait_for(lambda: load.count() >= 20, what="20 MCP redeems before the signal", timeout=60)
        assert load.failures == []
        victim.process.send_signal(sig)
        wait_for(lambda: web_replicas.address(victim) not in web_replicas.healthy(),
                 what="Envoy stops sending to the victim", timeout=30)  # fmt: skip
        ejected = load.count()
        wait_for(lambda: load.count() >= ejected + 30, what="30 MCP redeems on the survivor", timeout=60)
        if sig == signal.SIGSTOP:
            victim.process.kill()  # a supervisor kills what stopped answering
        victim.process.wait(timeout=30)

    owner = OwnerDatabase(api_server.owner_dsn)
    rows = owner.fetch("SELECT id::text AS id FROM redemptions WHERE voucher_code = $1", code)
    assert sorted(row["id"] for row in rows) == sorted(load.succeeded.values())
    assert {request_id for request_id, _ in load.failures} <= set(load.succeeded)
    print(f"\n{sig.name} on one of two web replicas: {len(load.succeeded)} MCP redeems, {len(load.failures)} failed "
          f"attempts {sorted({kind for _, kind in load.failures})}, each landed once on retry")  # fmt: skip
    if sig == signal.SIGTERM:
        assert load.failures == [], load.failures
        assert victim.process.returncode == 0
    assert web_replicas.address(survivor) in web_replicas.healthy()
