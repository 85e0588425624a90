"""MCP rows of `make bench`: what an agent waits for, beside the REST call it is compared with.

    mcp_initialize_serial   the MCP `initialize` request (its key checked with GetCurrentApiKey), one at a time
    mcp_redeem_serial       a `redeem_voucher` tool call in revision 2026-07-28 (one self-contained POST, what the
                            official SDK's client sends by default, having discovered that this server speaks it)
    mcp_redeem_serial_2025_11_25
                            the same call in 2025-11-25, the newest revision reached by the initialize handshake
                            (the SDK serves those through a transport it builds for each request)
    rest_redeem_serial      the same redemption over REST through Envoy, one at a time: the overhead's baseline
                            (measured in turns with both MCP rows, one call of each, over the same seconds; so
                            each row's throughput is its rate while taking turns)

One request in flight at a time on one kept-alive connection each, so the latencies are the path's own and not
a queue's; the issue's targets are initialize p99 < 50 ms (through Envoy) and a redeem tool call at most 5 ms p50
over REST. MCP goes through Envoy when Envoy routes /v1/mcp, else straight to the web service (the report says
which).
"""

from __future__ import annotations

import http.client
import itertools
import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

MODERN_REVISION = "2026-07-28"
HANDSHAKE_REVISION = "2025-11-25"
# The per-request envelope a 2026-07-28 request carries in params._meta (the SDK client sends the same keys).
MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": MODERN_REVISION,
    "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": HANDSHAKE_REVISION,
        "capabilities": {},
        "clientInfo": {"name": "bench", "version": "1"},
    },
}


@dataclass(frozen=True)
class Measured:
    name: str
    throughput: float
    p50_ms: float
    p99_ms: float
    errors: int


class _Connection:
    """One kept-alive HTTP/1.1 connection; `post` returns (status, body)."""

    def __init__(self, host: str, port: int, headers: dict[str, str]):
        self._connection = http.client.HTTPConnection(host, port, timeout=30)
        self._headers = {"Host": f"{host}:{port}", **headers}

    def post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        try:
            return self._post(path, body, headers)
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            # The server closed a connection that sat idle past its keep-alive (while another row ran): reconnect.
            # Every call here is safe to repeat (initialize; a redeem with the same request_id).
            self._connection.close()
            return self._post(path, body, headers)

    def _post(self, path: str, body: bytes, headers: dict[str, str] | None) -> tuple[int, bytes]:
        self._connection.request("POST", path, body=body, headers={**self._headers, **(headers or {})})
        response = self._connection.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self._connection.close()


def _percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))] if ordered else float("nan")


def _serial(name: str, call: Callable[[], bool], duration: float, warmup: float) -> Measured:
    deadline = time.monotonic() + warmup
    while time.monotonic() < deadline:
        call()
    latencies: list[float] = []
    errors = 0
    started = time.monotonic()
    while time.monotonic() - started < duration:
        before = time.perf_counter()
        ok = call()
        latencies.append((time.perf_counter() - before) * 1000)
        errors += not ok
    elapsed = time.monotonic() - started
    return Measured(name, len(latencies) / elapsed, _percentile(latencies, 0.5), _percentile(latencies, 0.99), errors)


def _interleaved(calls: Sequence[tuple[str, Callable[[], bool]]], duration: float, warmup: float) -> list[Measured]:
    """Serial rows measured in turns (one call of each, then again) over the same seconds, so a busy machine
    slows them alike and their difference stays the paths' own."""
    deadline = time.monotonic() + warmup
    while time.monotonic() < deadline:
        for _, call in calls:
            call()
    latencies: list[list[float]] = [[] for _ in calls]
    errors = [0 for _ in calls]
    started = time.monotonic()
    while time.monotonic() - started < duration:
        for index, (_, call) in enumerate(calls):
            before = time.perf_counter()
            ok = call()
            latencies[index].append((time.perf_counter() - before) * 1000)
            errors[index] += not ok
    elapsed = time.monotonic() - started
    return [
        Measured(name, len(latencies[index]) / elapsed, _percentile(latencies[index], 0.5),
                 _percentile(latencies[index], 0.99), errors[index])
        for index, (name, _) in enumerate(calls)
    ]  # fmt: skip


def mcp_endpoint(public: tuple[str, int], web: tuple[str, int], api_key: str) -> tuple[tuple[str, int], str]:
    """Where MCP answers: Envoy's public port when it routes /v1/mcp, else the web service itself."""
    probe = _Connection(*public, {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json",
                                  "Accept": "application/json"})  # fmt: skip
    try:
        status, _ = probe.post("/v1/mcp", json.dumps(INITIALIZE).encode())
    finally:
        probe.close()
    return (public, "through Envoy") if status == 200 else (web, "direct to the web service (Envoy does not route it)")


def measure(
    public: tuple[str, int], web: tuple[str, int], api_key: str, codes: Sequence[str], duration: float, warmup: float
) -> tuple[list[Measured], str]:
    """The three serial rows, and a sentence for the report (the path taken and the redeem overhead)."""
    mcp_address, path = mcp_endpoint(public, web, api_key)
    auth = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    mcp = _Connection(*mcp_address, {**auth, "Accept": "application/json, text/event-stream"})
    rest = _Connection(*public, auth)
    next_code = itertools.cycle(codes).__next__
    run_id = uuid.uuid4().hex[:8]
    counter = itertools.count()

    def initialize() -> bool:
        status, body = mcp.post("/v1/mcp", json.dumps(INITIALIZE).encode())
        return status == 200 and b'"result"' in body

    def redeem_arguments() -> dict[str, object]:
        n = next(counter)
        return {"code": next_code(), "amount": 10_000, "currency": "EUR", "order_id": f"bench-{run_id}-{n}",
                "request_id": f"bench-{run_id}-{n}"}  # fmt: skip

    def mcp_redeem(headers: dict[str, str], meta: dict[str, object] | None) -> bool:
        params: dict[str, object] = {"name": "redeem_voucher", "arguments": redeem_arguments()}
        if meta is not None:
            params["_meta"] = meta
        call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": params}
        status, body = mcp.post("/v1/mcp", json.dumps(call).encode(), headers)
        result = json.loads(body).get("result", {}) if status == 200 else {}
        return "structuredContent" in result and not result.get("isError")

    def mcp_redeem_modern() -> bool:
        headers = {"MCP-Protocol-Version": MODERN_REVISION, "Mcp-Method": "tools/call", "Mcp-Name": "redeem_voucher"}
        return mcp_redeem(headers, MODERN_META)

    def mcp_redeem_handshake() -> bool:
        return mcp_redeem({"MCP-Protocol-Version": HANDSHAKE_REVISION}, None)

    def rest_redeem() -> bool:
        arguments = redeem_arguments()
        body = {"order": {"id": arguments["order_id"], "amount": 10_000, "currency": "EUR"},
                "request_id": arguments["request_id"]}  # fmt: skip
        status, _ = rest.post(f"/v1/vouchers/{arguments['code']}:redeem", json.dumps(body).encode())
        return status == 200

    try:
        rows = [
            _serial("mcp_initialize_serial", initialize, duration, warmup),
            # The redemptions in turns: the overhead is their difference, so all see the same machine.
            *_interleaved(
                [("rest_redeem_serial", rest_redeem), ("mcp_redeem_serial", mcp_redeem_modern),
                 (f"mcp_redeem_serial_{HANDSHAKE_REVISION.replace('-', '_')}", mcp_redeem_handshake)],
                duration, warmup,
            ),
        ]  # fmt: skip
    finally:
        mcp.close()
        rest.close()
    initialize_row, rest_row, modern_row, handshake_row = rows
    sentence = (
        f"MCP ({path}): initialize p50 {initialize_row.p50_ms:.1f} ms, p99 {initialize_row.p99_ms:.1f} ms; "
        f"redeem_voucher p50 {modern_row.p50_ms:.1f} ms in {MODERN_REVISION} "
        f"({modern_row.p50_ms - rest_row.p50_ms:+.1f} ms over REST's {rest_row.p50_ms:.1f} ms), "
        f"{handshake_row.p50_ms:.1f} ms in {HANDSHAKE_REVISION} ({handshake_row.p50_ms - rest_row.p50_ms:+.1f} ms)"
    )
    return rows, sentence
