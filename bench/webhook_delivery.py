"""Webhook delivery scenarios, against ceilings measured in the same run.

Ceilings: what the loopback receiver accepts from a trivial HTTP client (no relay, no signing, no database), and
how many outbox events per second the relay passes when it has nothing to deliver. Delivery by the real delivery
service can go no faster than the slower of the two, so its throughput is shown as a share of that.

Scenarios: an overload (a fixed number of events committed in 10 ms batches at the ceiling's rate, more than
the service can deliver, so first commit to last arrival measures its capacity) and a steady rate (events
committed the same way at a rate the machine can sustain: commit-to-delivery latency).
Fairness: one tenant's webhook lag (commit to arrival, webhooks spaced apart) alone, then beside a tenant whose
endpoints are black holes (they accept connections and never answer) with hundreds of deliveries queued.
The receiver runs in its own process (aiohttp) and records when each `webhook-id` arrived; the producers commit
events straight into the outbox as the owner and record each commit time.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
from aiohttp import web

EVENT_TYPE = "voucher.updated"
UNSUBSCRIBED_TYPE = "voucher.created"  # no endpoint of the bench tenant listens: the relay passes it, delivers nothing
SAMPLE_DATA = {"source": "bench"}  # every scenario's event data, and the trivial client's body


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
        # A multiprocessing event cannot be awaited: poll it.
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
                payload = {"id": f"evt_{event_id.hex}", "type": EVENT_TYPE, "data": SAMPLE_DATA}
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


@dataclass(frozen=True)
class CeilingFigures:
    throughput: float  # per second
    p50_ms: float
    p99_ms: float
    count: int


async def _post_loop(port: int, connections: int, duration: float) -> tuple[list[float], float]:
    """A trivial HTTP/1.1 keep-alive client: `connections` connections posting a webhook-sized body in a loop."""
    body = json.dumps({"id": "evt_x", "type": EVENT_TYPE, "data": SAMPLE_DATA}).encode()
    latencies: list[float] = []
    stop_at = time.monotonic() + duration

    async def connection(worker: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sent = 0
        try:
            while time.monotonic() < stop_at:
                sent += 1
                started = time.perf_counter()
                writer.write(
                    (
                        f"POST /hook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        f"webhook-id: ceiling_{worker}_{sent}\r\nwebhook-timestamp: {int(time.time())}\r\n"
                        f"webhook-signature: v1,none\r\nContent-Length: {len(body)}\r\n\r\n"
                    ).encode()
                    + body
                )
                await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode().partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                await reader.readexactly(length)
                latencies.append((time.perf_counter() - started) * 1000)
        finally:
            writer.close()

    started = time.monotonic()
    await asyncio.gather(*(connection(i) for i in range(connections)))
    return latencies, time.monotonic() - started


def receiver_ceiling(receiver: Receiver, connections: int, duration: float) -> CeilingFigures:
    """The receiver's raw accept rate, from a trivial client with as many connections as the service may use."""
    latencies, elapsed = asyncio.run(_post_loop(receiver.port, connections, duration))
    latencies.sort()
    return CeilingFigures(len(latencies) / elapsed, _pick(latencies, 0.5), _pick(latencies, 0.99), len(latencies))


async def _commit_burst(owner_dsn: str, tenant_id: str, event_type: str, count: int) -> tuple[list[str], float]:
    """`count` events in one transaction (generated by PostgreSQL, so the producer costs no time); returns their
    ids and the time just after COMMIT."""
    conn = await asyncpg.connect(owner_dsn)
    try:
        rows = await conn.fetch(
            """INSERT INTO outbox_events (tenant_id, event_id, type, payload)
               SELECT $1, id, $2, jsonb_build_object('id', 'evt_' || replace(id::text, '-', ''), 'type', $2::text,
                                                     'data', $3::jsonb)
               FROM (SELECT gen_random_uuid() AS id FROM generate_series(1, $4)) AS g
               RETURNING event_id""",
            tenant_id, event_type, json.dumps(SAMPLE_DATA), count,
        )  # fmt: skip
        return [f"evt_{row['event_id'].hex}" for row in rows], time.time()
    finally:
        await conn.close()


def _wait_for_count(read: Callable[[], float], target: float, timeout: float) -> float | None:
    """Polls `read` until it reaches `target`; returns when it did (time.time()), or None after `timeout`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if read() >= target:
            return time.time()
        time.sleep(0.01)
    return None


def _wait_until_still(read: Callable[[], float], timeout: float) -> None:
    """Waits until `read` stops moving (the relay has caught up with whatever earlier scenarios committed)."""
    deadline, last, still = time.time() + timeout, read(), 0
    while time.time() < deadline and still < 3:
        time.sleep(0.1)
        current = read()
        still = still + 1 if current == last else 0
        last = current


def relay_ceiling(owner_dsn: str, tenant_id: str, relayed: Callable[[], float], count: int) -> CeilingFigures:
    """Outbox events per second the relay passes with nothing to deliver: `count` events no endpoint subscribes to,
    committed at once; from COMMIT until the relay's counter has passed them all."""
    _wait_until_still(relayed, timeout=30)
    before = relayed()
    _, committed_at = asyncio.run(_commit_burst(owner_dsn, tenant_id, UNSUBSCRIBED_TYPE, count))
    done_at = _wait_for_count(relayed, before + count, timeout=60)
    if done_at is None:
        return CeilingFigures(float("nan"), float("nan"), float("nan"), round(relayed() - before))
    return CeilingFigures(count / max(done_at - committed_at, 1e-3), float("nan"), float("nan"), count)


def produce_overload(
    owner_dsn: str, tenant_id: str, rate: float, count: int, delivered: Callable[[], float], timeout: float
) -> dict[str, float]:
    """About `count` subscribed events committed at `rate` per second, then waits (up to `timeout`) until the
    service reports them delivered, so the next scenario starts on an empty queue."""
    before = delivered()
    rate = max(100, int(rate))
    committed = asyncio.run(produce(owner_dsn, tenant_id, rate, count / rate))
    _wait_for_count(delivered, before + len(committed), timeout)
    return committed


def produce_steady(
    owner_dsn: str, tenant_id: str, rate: int, duration: float, delivered: Callable[[], float], drain: float
) -> dict[str, float]:
    """Commits `rate` events per second for `duration` s, then waits (up to `drain` s) until the service reports
    them all delivered."""
    before = delivered()
    committed = asyncio.run(produce(owner_dsn, tenant_id, rate, duration))
    _wait_for_count(delivered, before + len(committed), drain)
    return committed


def figures(committed: dict[str, float], arrivals: dict[str, float]) -> DeliveryFigures:
    """Throughput from first commit to last arrival, and commit-to-arrival latency, of the events committed."""
    latencies = sorted((arrivals[i] - t) * 1000 for i, t in committed.items() if i in arrivals)
    first_commit = min(committed.values())
    last_arrival = max((arrivals[i] for i in committed if i in arrivals), default=first_commit)
    return DeliveryFigures(
        sent=len(committed),
        delivered=len(latencies),
        throughput=len(latencies) / max(last_arrival - first_commit, 1e-9),
        p50_ms=_pick(latencies, 0.5),
        p99_ms=_pick(latencies, 0.99),
    )


def _pick(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(fraction * (len(sorted_values) - 1)))]


class BlackHole:
    """A port that completes TCP handshakes (up to a long backlog) and never reads or answers: an endpoint that
    holds each delivery attempt for the sender's whole timeout."""

    def __enter__(self) -> BlackHole:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(4096)
        self.port = self._listener.getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        self._listener.close()


async def _commit_spaced(owner_dsn: str, tenant_id: str, count: int, interval: float) -> dict[str, float]:
    """`count` events, one per transaction, `interval` seconds apart (so none waits behind another of its own);
    returns event id → commit time."""
    conn = await asyncpg.connect(owner_dsn)
    committed: dict[str, float] = {}
    try:
        started = time.monotonic()
        for index in range(count):
            event_id = uuid.uuid4()
            payload = {"id": f"evt_{event_id.hex}", "type": EVENT_TYPE, "data": SAMPLE_DATA}
            await conn.execute(
                "INSERT INTO outbox_events (tenant_id, event_id, type, payload) VALUES ($1, $2, $3, $4::jsonb)",
                tenant_id, event_id, EVENT_TYPE, json.dumps(payload),
            )  # fmt: skip
            committed[payload["id"]] = time.time()
            await asyncio.sleep(max(0.0, started + (index + 1) * interval - time.monotonic()))
    finally:
        await conn.close()
    return committed


def produce_spaced(
    owner_dsn: str, tenant_id: str, count: int, interval: float, delivered: Callable[[], float], timeout: float
) -> dict[str, float]:
    """Commits `count` subscribed events `interval` s apart, then waits (up to `timeout` s) until the service
    reports them delivered."""
    before = delivered()
    committed = asyncio.run(_commit_spaced(owner_dsn, tenant_id, count, interval))
    _wait_for_count(delivered, before + len(committed), timeout)
    return committed


async def queue_black_holed(owner_dsn: str, tenant_id: str, count: int, in_flight: int, timeout: float) -> int:
    """`count` events for a tenant whose endpoints are black holes, committed at once; waits (up to `timeout` s)
    until `in_flight` of its attempts have started. Returns how many had."""
    await _commit_burst(owner_dsn, tenant_id, EVENT_TYPE, count)
    conn = await asyncpg.connect(owner_dsn)
    try:
        deadline = time.monotonic() + timeout
        while True:
            started = await conn.fetchval(
                "SELECT count(*) FROM webhook_deliveries WHERE tenant_id = $1 AND attempt_count > 0", tenant_id
            )
            if started >= in_flight or time.monotonic() > deadline:
                return int(started)
            await asyncio.sleep(0.05)
    finally:
        await conn.close()


async def finished_attempts(owner_dsn: str, tenant_id: str) -> int:
    """Delivery attempts of the tenant that have ended (an attempt is recorded when its request ends)."""
    conn = await asyncpg.connect(owner_dsn)
    try:
        sql = "SELECT count(*) FROM webhook_delivery_attempts WHERE tenant_id = $1"
        return int(await conn.fetchval(sql, tenant_id))
    finally:
        await conn.close()
