"""Redemption benchmark: the server against the machine's own ceiling, measured in the same run.

    .venv/bin/python bench/run.py                 # or: make bench
    .venv/bin/python bench/run.py --duration 5 --replicas 2 --no-write

Starts a private dev stack (embedded PostgreSQL, Redis, API server replicas, Envoy) on free ports, creates its
own tenant and vouchers, runs each scenario for a fixed time at a fixed number of requests in flight, runs
pgbench with the same SQL as the ceiling, checks correctness, prints the table and writes docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import multiprocessing
import os
import platform
import socket
import statistics
import sys
import re
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import asyncpg
import grpc

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from loadgen import Outcome, Scenario, run  # noqa: E402
from pgbench_ceiling import PgbenchResult, run_pgbench  # noqa: E402
import webhook_delivery  # noqa: E402
import mcp_bench  # noqa: E402
from vauchflow.v1 import (  # noqa: E402
    redemption_pb2,
    redemption_service_pb2,
    redemption_service_pb2_grpc,
    tenant_service_pb2,
    tenant_service_pb2_grpc,
    voucher_pb2,
    voucher_service_pb2,
    voucher_service_pb2_grpc,
    webhook_pb2,
    webhook_service_pb2,
    webhook_service_pb2_grpc,
)

from vauchflow_devstack.config import DevstackConfig  # noqa: E402
from vauchflow_devstack.postgres import _bin_dir  # noqa: E402
from vauchflow_devstack.stack import DevStack  # noqa: E402

SPREAD_PREFIX = "BENCH-"
HOT_PREFIX = "HOT-"
FLASH_SOLD_OUT = "FLASH-SOLD-OUT"
PLAIN_SOLD_OUT = "PLAIN-SOLD-OUT"  # the same refusal without the gate: PostgreSQL decides it
HUGE_LIMIT = 1_000_000_000


@dataclass(frozen=True)
class Row:
    name: str
    throughput: float
    p50_ms: float
    p99_ms: float
    errors: int
    loadgen_cpu: float  # cores the load generator used
    server_cpu: float  # cores the API server(s) used
    ceiling: str = ""
    ratio: float | None = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _consecutive_free_ports(count: int) -> int:
    for _ in range(100):
        first = _free_port()
        try:
            for port in range(first, first + count):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
    raise RuntimeError("no run of free ports")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def start_stack(data_dir: Path, replicas: int) -> DevStack:
    env = {
        "VAUCHFLOW_DATA_DIR": str(data_dir),
        "VAUCHFLOW_PG_PORT": str(_free_port()),
        "VAUCHFLOW_REDIS_PORT": str(_free_port()),
        "VAUCHFLOW_GRPC_PORT": str(_consecutive_free_ports(replicas)),
        "VAUCHFLOW_PUBLIC_PORT": str(_free_port()),
        "VAUCHFLOW_ENVOY_ADMIN_PORT": str(_free_port()),
        "VAUCHFLOW_DELIVERY_GRPC_PORT": str(_free_port()),
        "VAUCHFLOW_DELIVERY_METRICS_PORT": str(_free_port()),
        "VAUCHFLOW_METRICS_PORT": str(_consecutive_free_ports(replicas)),
        "VAUCHFLOW_API_REPLICAS": str(replicas),
        "VAUCHFLOW_METRICS_PORT": str(_consecutive_free_ports(replicas)),
    }
    stack = DevStack(DevstackConfig.from_env(env, data_dir))
    stack.start()
    return stack


def create_fixtures(target: str, admin_token: str, spread_vouchers: int) -> tuple[str, str]:
    """A tenant with `spread_vouchers` vouchers plus one hot voucher; returns (tenant id, API key secret)."""
    with grpc.insecure_channel(target) as channel:
        created = tenant_service_pb2_grpc.TenantServiceStub(channel).CreateTenant(
            tenant_service_pb2.CreateTenantRequest(name="Benchmark", plan=5),
            metadata=[("authorization", f"Bearer {admin_token}")],
        )
        key = [("authorization", f"Bearer {created.secret}")]
        vouchers = voucher_service_pb2_grpc.VoucherServiceStub(channel)
        codes = [f"{SPREAD_PREFIX}{n:06d}" for n in range(1, spread_vouchers + 1)] + [f"{HOT_PREFIX}000001"]
        for code in codes:
            vouchers.CreateVoucher(
                voucher_service_pb2.CreateVoucherRequest(
                    voucher=voucher_pb2.Voucher(
                        code=code, discount=voucher_pb2.Discount(percent_off=10), max_redemptions=HUGE_LIMIT
                    )
                ),
                metadata=key,
            )
        # A flash sale whose single unit is gone: every redeem is refused by the Redis pre-gate. Its twin without
        # the gate is refused by PostgreSQL: the path the gate is compared with.
        for code, flash_sale in ((FLASH_SOLD_OUT, True), (PLAIN_SOLD_OUT, False)):
            vouchers.CreateVoucher(
                voucher_service_pb2.CreateVoucherRequest(
                    voucher=voucher_pb2.Voucher(code=code, discount=voucher_pb2.Discount(percent_off=10),
                                                max_redemptions=1, flash_sale=flash_sale)
                ),
                metadata=key,
            )  # fmt: skip
            redemption_service_pb2_grpc.RedemptionServiceStub(channel).RedeemVoucher(
                redemption_service_pb2.RedeemVoucherRequest(
                    code=code, order=redemption_pb2.Order(id="sell-out", amount=10_000, currency="EUR")
                ),
                metadata=key,
            )
    return created.tenant.id, created.secret


def run_scenario(scenario: Scenario, server_pids: list[int]) -> Row:
    before = sum(_cpu_seconds(pid) for pid in server_pids)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        outcome: Outcome = pool.apply(run, (scenario,))
    server_cpu = sum(_cpu_seconds(pid) for pid in server_pids) - before
    total_time = outcome.elapsed + scenario.warmup
    return Row(
        name=scenario.name,
        throughput=len(outcome.latencies_ms) / outcome.elapsed,
        p50_ms=_percentile(outcome.latencies_ms, 0.50),
        p99_ms=_percentile(outcome.latencies_ms, 0.99),
        errors=sum(outcome.errors.values()),
        loadgen_cpu=outcome.loadgen_cpu_seconds / outcome.elapsed,
        server_cpu=server_cpu / total_time,
    )


def pgbench_row(result: PgbenchResult) -> Row:
    return Row(result.name, result.tps, result.p50_ms, result.p99_ms, result.failed, float("nan"), float("nan"))


async def check_correctness(owner_dsn: str, tenant_id: str) -> list[str]:
    """Every voucher's count equals its successful redemption rows, and no limit was exceeded."""
    conn = await asyncpg.connect(owner_dsn)
    try:
        rows = await conn.fetch(
            """SELECT v.code, v.redemption_count, v.max_redemptions,
                      (SELECT count(*) FROM redemptions r
                        WHERE r.tenant_id = v.tenant_id AND r.voucher_id = v.id AND r.status = 'SUCCEEDED') AS rows
               FROM vouchers v WHERE v.tenant_id = $1""",
            tenant_id,
        )
    finally:
        await conn.close()
    problems = []
    for row in rows:
        if row["redemption_count"] != row["rows"]:
            problems.append(f"{row['code']}: count {row['redemption_count']} != {row['rows']} redemption rows")
        if row["max_redemptions"] is not None and row["redemption_count"] > row["max_redemptions"]:
            problems.append(f"{row['code']}: count {row['redemption_count']} > max {row['max_redemptions']}")
    return problems


async def flash_voucher_state(owner_dsn: str, tenant_id: str) -> tuple:
    """What a PostgreSQL write to the sold-out flash sale would change: its row and its redemptions."""
    conn = await asyncpg.connect(owner_dsn)
    try:
        voucher = await conn.fetchrow(
            "SELECT id, redemption_count, update_time, xmin::text AS version FROM vouchers"
            " WHERE tenant_id = $1 AND code = $2",
            tenant_id, FLASH_SOLD_OUT,
        )  # fmt: skip
        rows = await conn.fetchval(
            "SELECT count(*) FROM redemptions WHERE tenant_id = $1 AND voucher_id = $2", tenant_id, voucher["id"]
        )
        return tuple(voucher.values()) + (rows,)
    finally:
        await conn.close()


def gate_decisions(metrics_ports: tuple[int, ...]) -> dict[str, float]:
    """The API servers' flash-sale gate counters, summed over replicas."""
    totals: dict[str, float] = {}
    for port in metrics_ports:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
        for decision, value in re.findall(r'^vauchflow_flash_sale_gate_total\{decision="(\w+)"\} (\S+)$', text, re.M):
            totals[decision] = totals.get(decision, 0.0) + float(value)
    return totals


def create_webhook_endpoint(target: str, api_key: str, url: str) -> None:
    with grpc.insecure_channel(target) as channel:
        webhook_service_pb2_grpc.WebhookServiceStub(channel).CreateWebhookEndpoint(
            webhook_service_pb2.CreateWebhookEndpointRequest(
                webhook_endpoint=webhook_pb2.WebhookEndpoint(url=url, event_types=[webhook_delivery.EVENT_TYPE])
            ),
            metadata=[("authorization", f"Bearer {api_key}")],
        )


def mcp_scenarios(stack: DevStack, api_key: str, codes: tuple[str, ...], args: argparse.Namespace) -> tuple[list[Row], str]:
    """The MCP rows (bench/mcp_bench.py) beside the serial REST redemption they compare with."""
    measured, summary = mcp_bench.measure(("127.0.0.1", stack.config.public_port), ("127.0.0.1", stack.config.web_port),
                                          api_key, codes, args.duration, args.warmup)  # fmt: skip
    rows = [Row(**m.__dict__, loadgen_cpu=float("nan"), server_cpu=float("nan")) for m in measured]
    for row in rows:
        print(f"  {row.name}: p50 {row.p50_ms:.1f} ms p99 {row.p99_ms:.1f} ms", flush=True)
    return rows, summary


def with_ratio(row: Row, ceiling: Row, label: str) -> Row:
    return Row(**{**row.__dict__, "ceiling": label, "ratio": row.throughput / ceiling.throughput})


def format_table(rows: list[Row]) -> str:
    lines = [
        "| scenario | throughput/s | p50 ms | p99 ms | errors | vs ceiling | loadgen CPU | server CPU |",
        "|---|---:|---:|---:|---:|---|---:|---:|",
    ]
    for row in rows:
        ratio = f"{row.ratio:.2f} × {row.ceiling}" if row.ratio is not None else ""
        lines.append(
            f"| {row.name} | {row.throughput:,.0f} | {row.p50_ms:.1f} | {row.p99_ms:.1f} | {row.errors} | {ratio} "
            f"| {_cores(row.loadgen_cpu)} | {_cores(row.server_cpu)} |"
        )
    return "\n".join(lines)


def _cores(value: float) -> str:
    return "" if value != value else f"{value:.2f} cores"  # NaN: not measured


def machine_description() -> str:
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    return f"{os.cpu_count()} cores ({model}), {platform.system()} {platform.release()}, Python {platform.python_version()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per scenario")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--replicas", type=int, default=1, help="API server processes behind Envoy")
    parser.add_argument("--vouchers", type=int, default=500, help="vouchers the spread load is spread over")
    parser.add_argument("--webhook-rate", type=int, default=1000, help="outbox events committed per second")
    parser.add_argument("--no-write", action="store_true", help="do not write docs/performance.md")
    args = parser.parse_args()

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="vauchflow-bench-") as tmp:
        stack = start_stack(Path(tmp), args.replicas)
        try:
            admin_token = (Path(tmp) / "operator-token").read_text().strip()
            tenant_id, api_key = create_fixtures(stack.grpc_targets[0], admin_token, args.vouchers)
            server_pids = [pid for name, pid in stack.child_pids().items() if name.startswith("api-server")]
            public = f"127.0.0.1:{stack.config.public_port}"
            direct = ",".join(stack.grpc_targets)  # direct gRPC spreads over every replica
            spread = tuple(f"{SPREAD_PREFIX}{n:06d}" for n in range(1, args.vouchers + 1))
            hot = (f"{HOT_PREFIX}000001",)

            def scenario(name: str, protocol: str, target: str, codes: tuple[str, ...], concurrency: int,
                         expected_error: str = "") -> Row:  # fmt: skip
                row = run_scenario(
                    Scenario(name, protocol, target, api_key, codes, concurrency, args.duration, args.warmup,
                             expected_error),
                    server_pids,
                )  # fmt: skip
                print(f"  {name}: {row.throughput:,.0f}/s p99 {row.p99_ms:.1f} ms", flush=True)
                return row

            print("running scenarios...", flush=True)
            # The load generator's own ceiling: a trivial RPC; if it is far above redemption, the generator
            # is not what limits the redemption figures.
            liveness = scenario("grpc_liveness_32 (loadgen check)", "grpc_liveness", direct, (), 32)
            grpc_32 = scenario("grpc_spread_32", "grpc", direct, spread, 32)
            grpc_100 = scenario("grpc_spread_100", "grpc", direct, spread, 100)
            rest_32 = scenario("rest_spread_32", "rest", public, spread, 32)
            rest_100 = scenario("rest_spread_100", "rest", public, spread, 100)
            hot_100 = scenario("grpc_hot_100", "grpc", direct, hot, 100)
            mcp_rows, mcp_summary = mcp_scenarios(stack, api_key, spread, args)

            key_hash = hashlib.sha256(api_key.encode()).hexdigest()
            common = dict(bin_dir=_bin_dir(), app_dsn=stack.app_dsn, tenant_id=tenant_id,
                          key_hash_hex=key_hash, duration=args.duration)  # fmt: skip
            pg_spread = pgbench_row(run_pgbench(name="pgbench_spread_32", code_prefix=SPREAD_PREFIX,
                                                voucher_count=args.vouchers, clients=32, **common))  # fmt: skip
            pg_hot = pgbench_row(run_pgbench(name="pgbench_hot_100", code_prefix=HOT_PREFIX, voucher_count=1,
                                             clients=100, **common))  # fmt: skip
            print(f"  pgbench: spread {pg_spread.throughput:,.0f}/s, hot {pg_hot.throughput:,.0f}/s", flush=True)

            # Last, a sold-out voucher: first without the gate (PostgreSQL refuses), then a sold-out flash sale,
            # which the gate answers from Redis; PostgreSQL must see no write at all.
            pg_sold_out = scenario("pg_sold_out_100", "grpc", direct, (PLAIN_SOLD_OUT,), 100,
                                   expected_error="FAILED_PRECONDITION")  # fmt: skip
            flash_before = asyncio.run(flash_voucher_state(stack.owner_dsn, tenant_id))
            gate_before = gate_decisions(stack.config.api_metrics_ports)
            flash_100 = scenario("flash_sold_out_100", "grpc", direct, (FLASH_SOLD_OUT,), 100,
                                 expected_error="FAILED_PRECONDITION")  # fmt: skip
            gate_after = gate_decisions(stack.config.api_metrics_ports)
            flash_after = asyncio.run(flash_voucher_state(stack.owner_dsn, tenant_id))
            gate_delta = {k: gate_after.get(k, 0.0) - gate_before.get(k, 0.0) for k in gate_after}

            # Webhooks: outbox events committed at a steady rate, delivered to a loopback receiver.
            with webhook_delivery.Receiver() as receiver:
                create_webhook_endpoint(stack.grpc_targets[0], api_key, f"http://127.0.0.1:{receiver.port}/hook")
                figures = webhook_delivery.measure(
                    stack.owner_dsn, tenant_id, receiver, args.webhook_rate, args.duration, drain=30
                )
            delivery_pid = stack.child_pids().get("webhooks")
            webhooks_row = Row(
                name=f"webhook_delivery_{args.webhook_rate}_per_s",
                throughput=figures.throughput,
                p50_ms=figures.p50_ms,
                p99_ms=figures.p99_ms,
                errors=figures.sent - figures.delivered,
                loadgen_cpu=float("nan"),
                server_cpu=float("nan"),
            )
            print(f"  webhooks: {figures.delivered:,}/{figures.sent:,} delivered, {figures.throughput:,.0f}/s, "
                  f"commit-to-delivery p99 {figures.p99_ms:,.0f} ms (delivery service pid {delivery_pid})", flush=True)

            problems = asyncio.run(check_correctness(stack.owner_dsn, tenant_id))
            if flash_after != flash_before:
                problems.append(f"{FLASH_SOLD_OUT}: PostgreSQL changed during the sold-out scenario")
            if gate_delta.get("admitted", 0) or gate_delta.get("bypassed", 0) or not gate_delta.get("rejected"):
                problems.append(f"{FLASH_SOLD_OUT}: requests reached PostgreSQL past the gate ({gate_delta})")
        finally:
            stack.stop()

    rows = [
        liveness,
        with_ratio(grpc_32, pg_spread, "pgbench_spread_32"),
        with_ratio(grpc_100, pg_spread, "pgbench_spread_32"),
        with_ratio(rest_32, grpc_32, "grpc_spread_32"),
        with_ratio(rest_100, grpc_100, "grpc_spread_100"),
        with_ratio(hot_100, pg_hot, "pgbench_hot_100"),
        *mcp_rows,
        with_ratio(pg_sold_out, grpc_100, "grpc_spread_100"),
        with_ratio(flash_100, pg_sold_out, "pg_sold_out_100"),
        Row(**{**webhooks_row.__dict__, "ceiling": "the offered rate", "ratio": webhooks_row.throughput / args.webhook_rate}),
        pg_spread,
        pg_hot,
    ]
    table = format_table(rows)
    verdict = "correct: every count equals its redemption rows, no limit exceeded" if not problems else (
        "INCORRECT:\n" + "\n".join(problems[:20])
    )
    loadgen_headroom = liveness.throughput / max(grpc_32.throughput, 1)
    summary = (
        f"Machine: {machine_description()}\n"
        f"Run: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {args.duration:g} s per scenario after "
        f"{args.warmup:g} s warm-up, {args.replicas} API server replica(s), {args.vouchers} vouchers in the spread set\n"
        f"Load generator headroom: a trivial RPC ran at {liveness.throughput:,.0f}/s, "
        f"{loadgen_headroom:.1f} × the redemption rate at the same concurrency\n"
        f"{mcp_summary}\n"
        f"Correctness: {verdict}\n"
        f"Sold-out flash sale: the gate refused {gate_delta.get('rejected', 0):,.0f} requests from Redis, admitted "
        f"{gate_delta.get('admitted', 0):,.0f} to PostgreSQL; the voucher's row and redemptions did not change\n"
    )
    print()
    print(table)
    print()
    print(summary)
    print(f"(benchmark took {time.monotonic() - started:.0f} s)")
    if not args.no_write:
        write_report(table, summary)
    return 0 if not problems else 1


def write_report(table: str, summary: str) -> None:
    path = REPO / "docs" / "performance.md"
    path.write_text(
        "# Performance\n\n"
        "Measured by `make bench` (`bench/run.py`). Each figure stands beside its ceiling from the same run; the\n"
        "machine is shared and noisy, so compare ratios, not absolute numbers. Throughput counts successful\n"
        "redemptions per second (for the `*_sold_out_100` rows, answered requests: every one is a VOUCHER_EXHAUSTED\n"
        "refusal, from PostgreSQL for `pg_sold_out_100` and from the Redis pre-gate for `flash_sold_out_100`);\n"
        "latency is measured by the load generator, end to end.\n\n"
        f"{table}\n\n```\n{summary}```\n\n"
        "Ceilings: `pgbench_*` run the server's own SQL for one redemption (API key lookup, then a transaction\n"
        "with `set_config('app.tenant_id', ..., true)`, the conditional UPDATE, the redemption row and the outbox\n"
        "event) on the same database as the same role, with RLS. REST rows compare with direct gRPC.\n"
        "The webhook row commits outbox events at a fixed rate (as the owner, in 10 ms batches) and counts their\n"
        "arrival at a loopback receiver: throughput from first commit to last arrival, latency commit-to-arrival,\n"
        "`errors` = events not delivered within the run plus 30 s.\n"
        "CPU columns are cores used on average during the scenario: on 2 cores, load generator and server share the\n"
        "machine, so a generator using most of a core takes capacity the server would otherwise have.\n"
    )
    print(f"wrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    sys.exit(main())
