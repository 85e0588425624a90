"""client.events.stream() through the real Envoy to the real delivery service: when the connection to the service
drops mid-stream, the client reconnects after its last cursor and the caller sees every event exactly once."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import vauchflow
from support.delivery_service import Rows
from support.fault_injection import TcpProxy
from support.polling import wait_for
from support.ports import free_port
from support.services import ApiServer
from vauchflow.v1 import webhook_pb2
from vauchflow_devstack import stop_child
from vauchflow_devstack.envoy import EmbeddedEnvoy
from vauchflow_devstack.envoy_config import GatewaySettings


def _address(target: str) -> tuple[str, int]:
    host, _, port = target.rpartition(":")
    return host, int(port)


@pytest.fixture
def link(delivery_services) -> Iterator[TcpProxy]:
    """The network between Envoy and the delivery service, which the tests cut."""
    with TcpProxy(delivery_services().target) as proxy:
        yield proxy


@pytest.fixture
def envoy(api_server: ApiServer, link: TcpProxy, tmp_path: Path) -> Iterator[EmbeddedEnvoy]:
    gateway = EmbeddedEnvoy(
        tmp_path / "envoy",
        GatewaySettings(
            public_port=free_port(),
            admin_port=free_port(),
            api_addresses=(_address(api_server.target),),
            webhook_addresses=(_address(link.target),),
        ),
    )
    gateway.start(timeout=60)
    try:
        yield gateway
    finally:
        assert gateway.process is not None
        stop_child(gateway.process, name="envoy", timeout=15)


class Collector:
    """Iterates a blocking EventStream on a thread, so the test can wait for events with a deadline."""

    def __init__(self, stream: vauchflow.EventStream) -> None:
        self.stream = stream
        self.events: queue.Queue[webhook_pb2.Event | BaseException] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="event-stream", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for event in self.stream:
                self.events.put(event)
        except BaseException as error:
            self.events.put(error)

    def take(self, count: int, timeout: float = 30) -> list[str]:
        ids = []
        for _ in range(count):
            item = self.events.get(timeout=timeout)
            if isinstance(item, BaseException):
                raise item
            ids.append(item.id)
        return ids

    def stop(self) -> None:
        self.stream.close()
        self._thread.join(10)
        assert not self._thread.is_alive()


def test_the_stream_resumes_after_a_dropped_connection(rows: Rows, envoy: EmbeddedEnvoy, link: TcpProxy) -> None:
    tenant = rows.tenant()
    history = rows.events(tenant, 3)
    target = f"127.0.0.1:{envoy.settings.public_port}"
    with vauchflow.Client(rows.api_key(tenant), target=target) as client:
        collector = Collector(client.events.stream())
        try:
            assert collector.take(3) == history
            connections = link.connections
            link.drop_connections()
            missed = rows.events(tenant, 2)
            assert collector.take(2) == missed  # nothing lost, nothing repeated
            assert link.connections > connections, "the client did not reconnect"
            assert collector.stream.cursor  # where a later process could continue
            live = rows.events(tenant, 1)
            assert collector.take(1) == live
            assert collector.events.empty()
        finally:
            collector.stop()

        # A new stream from a saved cursor continues exactly there.
        later = client.events.stream(after=collector.stream.cursor)
        following = Collector(later)
        try:
            newest = rows.events(tenant, 1)
            assert following.take(1) == newest
        finally:
            following.stop()


async def test_the_async_stream_resumes_too(rows: Rows, envoy: EmbeddedEnvoy, link: TcpProxy) -> None:
    # Rows runs its own event loop: off this one, on a thread.
    tenant = await asyncio.to_thread(rows.tenant)
    history = await asyncio.to_thread(rows.events, tenant, 2, "redemption.succeeded")
    await asyncio.to_thread(rows.events, tenant, 1, "voucher.created")  # filtered out
    key = await asyncio.to_thread(rows.api_key, tenant)
    target = f"127.0.0.1:{envoy.settings.public_port}"
    async with vauchflow.AsyncClient(key, target=target) as client:
        stream = client.events.stream(event_types=["redemption.succeeded"])
        seen: list[str] = []
        missed: list[str] = []

        async def read() -> None:
            async for event in stream:
                seen.append(event.id)
                if len(seen) == 2:
                    link.drop_connections()
                    missed.extend(await asyncio.to_thread(rows.events, tenant, 2, "redemption.succeeded"))
                if len(seen) == 4:
                    stream.close()

        await asyncio.wait_for(read(), timeout=30)
        assert seen == history + missed
    wait_for(lambda: link.connections >= 2, what="a second connection", timeout=5)
