"""Load generators, each run in its own process so the orchestrator never competes with them for the GIL.

A scenario keeps `concurrency` requests in flight for `duration` seconds (after a warm-up that is not
counted) and returns every latency, the error count by kind, and the CPU seconds the generator itself used —
the figure that shows whether the generator, not the server, was the bottleneck.
"""

from __future__ import annotations

import asyncio
import json
import random
import resource
import time
from dataclasses import dataclass, field

import grpc

from vauchflow.v1 import (
    health_service_pb2,
    health_service_pb2_grpc,
    redemption_pb2,
    redemption_service_pb2,
    redemption_service_pb2_grpc,
    voucher_service_pb2,
    voucher_service_pb2_grpc,
)

CHANNELS = 4
COMMIT_POSITION_HEADER = "x-vauchflow-commit-position"


@dataclass(frozen=True)
class Scenario:
    name: str
    # "grpc" | "rest" | "grpc_liveness" | "grpc_list" (a page of 20 vouchers) | "grpc_redeem_then_list" (a redeem,
    # then a page of the voucher's redemptions read at the redeem's commit position: read-your-writes)
    protocol: str
    target: str  # host:port, or several separated by commas (direct gRPC to each replica)
    api_key: str
    codes: tuple[str, ...]
    concurrency: int
    duration: float
    warmup: float = 1.0
    # A gRPC status name that counts as an answer, not an error (the sold-out flash sale answers
    # FAILED_PRECONDITION/VOUCHER_EXHAUSTED to every request, and that answer is what is measured).
    expected_error: str = ""


@dataclass
class Outcome:
    name: str
    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0
    loadgen_cpu_seconds: float = 0.0


def run(scenario: Scenario) -> Outcome:
    """Process entry point."""
    return asyncio.run(_run(scenario))


async def _run(scenario: Scenario) -> Outcome:
    make_call = {
        "grpc": _grpc_redeemer,
        "rest": _rest_redeemer,
        "grpc_liveness": _grpc_liveness,
        "grpc_list": _grpc_lister,
        "grpc_redeem_then_list": _grpc_redeem_then_list,
    }[scenario.protocol]
    call, close = await make_call(scenario)
    outcome = Outcome(scenario.name)
    measuring = asyncio.Event()
    stop_at = time.monotonic() + scenario.warmup + scenario.duration

    async def worker(seed: int) -> None:
        rng = random.Random(seed)
        while time.monotonic() < stop_at:
            code = rng.choice(scenario.codes) if scenario.codes else ""
            started = time.perf_counter()
            error = await call(code, rng)
            if error == scenario.expected_error:
                error = ""
            if measuring.is_set():
                if error:
                    outcome.errors[error] = outcome.errors.get(error, 0) + 1
                else:
                    outcome.latencies_ms.append((time.perf_counter() - started) * 1000)

    tasks = [asyncio.create_task(worker(i)) for i in range(scenario.concurrency)]
    await asyncio.sleep(scenario.warmup)
    cpu_before = _cpu_seconds()
    measured_from = time.monotonic()
    measuring.set()
    await asyncio.gather(*tasks)
    outcome.elapsed = time.monotonic() - measured_from
    outcome.loadgen_cpu_seconds = _cpu_seconds() - cpu_before
    await close()
    return outcome


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _order(rng: random.Random) -> redemption_pb2.Order:
    return redemption_pb2.Order(id=f"o-{rng.getrandbits(48):x}", amount=10_000, currency="EUR")


def _channels(scenario: Scenario) -> list[grpc.aio.Channel]:
    targets = scenario.target.split(",")
    count = max(CHANNELS, len(targets))
    return [grpc.aio.insecure_channel(targets[i % len(targets)]) for i in range(count)]


async def _grpc_redeemer(scenario: Scenario):
    channels = _channels(scenario)
    stubs = [redemption_service_pb2_grpc.RedemptionServiceStub(c) for c in channels]
    metadata = (("authorization", f"Bearer {scenario.api_key}"),)

    async def call(code: str, rng: random.Random) -> str:
        request = redemption_service_pb2.RedeemVoucherRequest(code=code, order=_order(rng))
        try:
            await rng.choice(stubs).RedeemVoucher(request, metadata=metadata, timeout=30)
            return ""
        except grpc.aio.AioRpcError as error:
            return error.code().name

    async def close() -> None:
        for channel in channels:
            await channel.close()

    return call, close


async def _grpc_lister(scenario: Scenario):
    channels = _channels(scenario)
    stubs = [voucher_service_pb2_grpc.VoucherServiceStub(c) for c in channels]
    metadata = (("authorization", f"Bearer {scenario.api_key}"),)
    request = voucher_service_pb2.ListVouchersRequest(page_size=20)

    async def call(_code: str, rng: random.Random) -> str:
        try:
            await rng.choice(stubs).ListVouchers(request, metadata=metadata, timeout=30)
            return ""
        except grpc.aio.AioRpcError as error:
            return error.code().name

    async def close() -> None:
        for channel in channels:
            await channel.close()

    return call, close


async def _grpc_redeem_then_list(scenario: Scenario):
    channels = _channels(scenario)
    redeemers = [redemption_service_pb2_grpc.RedemptionServiceStub(c) for c in channels]
    auth = ("authorization", f"Bearer {scenario.api_key}")

    async def call(code: str, rng: random.Random) -> str:
        stub = rng.choice(redeemers)
        try:
            redeem = stub.RedeemVoucher(
                redemption_service_pb2.RedeemVoucherRequest(code=code, order=_order(rng)), metadata=(auth,), timeout=30
            )
            await redeem
            position = dict(await redeem.initial_metadata()).get(COMMIT_POSITION_HEADER)
            read_at = ((COMMIT_POSITION_HEADER, position),) if position else ()
            await stub.ListRedemptions(
                redemption_service_pb2.ListRedemptionsRequest(voucher_code=code, page_size=5),
                metadata=(auth, *read_at),
                timeout=30,
            )
            return ""
        except grpc.aio.AioRpcError as error:
            return error.code().name

    async def close() -> None:
        for channel in channels:
            await channel.close()

    return call, close


async def _grpc_liveness(scenario: Scenario):
    channels = _channels(scenario)
    stubs = [health_service_pb2_grpc.HealthServiceStub(c) for c in channels]
    request = health_service_pb2.CheckLivenessRequest()

    async def call(_code: str, rng: random.Random) -> str:
        try:
            await rng.choice(stubs).CheckLiveness(request, timeout=30)
            return ""
        except grpc.aio.AioRpcError as error:
            return error.code().name

    async def close() -> None:
        for channel in channels:
            await channel.close()

    return call, close


async def _rest_redeemer(scenario: Scenario):
    """Minimal HTTP/1.1 keep-alive client on asyncio streams: one connection per worker, like a pooled client."""
    host, port = scenario.target.rsplit(":", 1)
    connections: dict[int, tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}

    async def call(code: str, rng: random.Random) -> str:
        key = id(asyncio.current_task())
        if key not in connections:
            connections[key] = await asyncio.open_connection(host, int(port))
        reader, writer = connections[key]
        order = _order(rng)
        body = json.dumps({"order": {"id": order.id, "amount": order.amount, "currency": order.currency}}).encode()
        writer.write(
            (
                f"POST /v1/vouchers/{code}:redeem HTTP/1.1\r\nHost: {host}\r\n"
                f"Authorization: Bearer {scenario.api_key}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )
        status_line = await reader.readline()
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await reader.readexactly(length)
        status = int(status_line.split()[1]) if status_line else 0
        return "" if status == 200 else f"HTTP_{status}"

    async def close() -> None:
        for _, writer in connections.values():
            writer.close()

    return call, close
