"""Webhook delivery scenario: outbox events committed at a steady rate, delivered by the real delivery service to a
loopback receiver; measures sustained deliveries per second and commit-to-delivery latency.

The receiver runs in its own process (aiohttp) and records when each `webhook-id` arrived; the producer commits
events straight into the outbox as the owner, in small transactions, and records each commit time.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import time
import uuid
from dataclasses import dataclass

import asyncpg
from aiohttp import web

EVENT_TYPE = "voucher.updated"


@dataclass(frozen=True)
class DeliveryFigures:
    sent: int
    delivered: int
    throughput: float  # deliveries per second, first commit to last arrival
    p50_ms: float
    p99_ms: float


def _receiver_main(port_queue: multiprocessing.Queue, stop_event, results_queue: multiprocessing.Queue) -> None:
    arrivals: dict[str, float] = {}

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        arrivals.setdefault(request.headers.get("webhook-id", ""), time.time())
        return web.Response(text="ok")

    async def serve() -> None:
        app = web.Application()
        app.router.add_post("/hook", hook)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_queue.put(site._server.sockets[0].getsockname()[1])
        while not stop_event.is_set():
            await asyncio.sleep(0.05)
        await runner.cleanup()
        results_queue.put(arrivals)

    asyncio.run(serve())


class Receiver:
    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._ports, self._results, self._stop = context.Queue(), context.Queue(), context.Event()
        self._process = context.Process(target=_receiver_main, args=(self._ports, self._stop, self._results))

    def __enter__(self) -> Receiver:
        self._process.start()
        self.port = self._ports.get(timeout=30)
        return self

    def arrivals(self) -> dict[str, float]:
        self._stop.set()
        result = self._results.get(timeout=30)
        self._process.join(timeout=30)
        return result

    def __exit__(self, *exc: object) -> None:
        if self._process.is_alive():
            self._stop.set()
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.kill()


async def produce(owner_dsn: str, tenant_id: str, rate: int, duration: float) -> dict[str, float]:
    """Commits `rate` events per second for `duration` seconds in 10 ms batches; returns event id → commit time."""
    conn = await asyncpg.connect(owner_dsn)
    committed: dict[str, float] = {}
    try:
        per_tick, tick = max(1, rate // 100), 0.01
        started = time.monotonic()
        while time.monotonic() - started < duration:
            rows = []
            for _ in range(per_tick):
                event_id = uuid.uuid4()
                payload = {"id": f"evt_{event_id.hex}", "type": EVENT_TYPE, "data": {"source": "bench"}}
                rows.append((tenant_id, event_id, EVENT_TYPE, json.dumps(payload)))
            async with conn.transaction():
                await conn.executemany(
                    "INSERT INTO outbox_events (tenant_id, event_id, type, payload) VALUES ($1, $2, $3, $4::jsonb)",
                    rows,
                )
            now = time.time()
            committed.update((f"evt_{row[1].hex}", now) for row in rows)
            next_tick = started + tick * (len(committed) // per_tick)
            await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
    finally:
        await conn.close()
    return committed


def measure(
    owner_dsn: str, tenant_id: str, receiver: Receiver, rate: int, duration: float, drain: float
) -> DeliveryFigures:
    committed = asyncio.run(produce(owner_dsn, tenant_id, rate, duration))
    deadline = time.time() + drain
    # The receiver reports only at the end; give the service the drain window to catch up first.
    while time.time() < deadline:
        time.sleep(0.2)
        if time.time() - max(committed.values()) > min(drain, 5.0):
            break
    arrivals = receiver.arrivals()
    latencies = sorted((arrivals[i] - t) * 1000 for i, t in committed.items() if i in arrivals)
    delivered = len(latencies)
    first_commit = min(committed.values())
    last_arrival = max((arrivals[i] for i in committed if i in arrivals), default=first_commit)
    return DeliveryFigures(
        sent=len(committed),
        delivered=delivered,
        throughput=delivered / max(last_arrival - first_commit, 1e-9),
        p50_ms=latencies[len(latencies) // 2] if latencies else float("nan"),
        p99_ms=latencies[min(len(latencies) - 1, int(0.99 * (len(latencies) - 1)))] if latencies else float("nan"),
    )
