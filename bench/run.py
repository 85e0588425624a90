"""Redemption benchmark: the server against the machine's own ceilings, measured in the same run.

    .venv/bin/python bench/run.py                 # or: make bench
    .venv/bin/python bench/run.py --duration 5 --replicas 2 --no-write

Starts a private dev stack (embedded PostgreSQL, Redis, API server replicas, Envoy) on free ports, creates its
own tenant and vouchers, runs each scenario for a fixed time at a fixed number of requests in flight, runs
pgbench with the server's SQL as the ceilings (one redemption per transaction, and batches of the sizes the
server formed), measures the webhook receiver and relay alone as the delivery ceiling, checks correctness,
prints the tables and writes docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import math
import multiprocessing
import os
import platform
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import grpc

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

import campaign_generation  # noqa: E402
import cluster_run  # noqa: E402
import dashboard_bench  # noqa: E402
import mcp_bench  # noqa: E402
import metrics_scrape  # noqa: E402
import webhook_delivery  # noqa: E402
from loadgen import Outcome, Scenario, run  # noqa: E402
from metrics_scrape import SizeDistribution  # noqa: E402
from pgbench_ceiling import PgbenchResult, run_batch_pgbench, run_pgbench  # noqa: E402

from vauchflow.v1 import (  # noqa: E402
    redemption_pb2,
    redemption_service_pb2,
    redemption_service_pb2_grpc,
    tenant_pb2,
    tenant_service_pb2,
    tenant_service_pb2_grpc,
    voucher_pb2,
    voucher_service_pb2,
    voucher_service_pb2_grpc,
    webhook_pb2,
    webhook_service_pb2,
    webhook_service_pb2_grpc,
)
from vauchflow_core.plans import limits_for  # noqa: E402
from vauchflow_devstack.config import DevstackConfig  # noqa: E402
from vauchflow_devstack.postgres import _bin_dir  # noqa: E402
from vauchflow_devstack.stack import DevStack  # noqa: E402
from vauchflow_server.config import ServerConfig  # noqa: E402

SPREAD_PREFIX = "BENCH-"
HOT_PREFIX = "HOT-"
FLASH_SOLD_OUT = "FLASH-SOLD-OUT"
PLAIN_SOLD_OUT = "PLAIN-SOLD-OUT"  # the same refusal without the gate: PostgreSQL decides it
HUGE_LIMIT = 1_000_000_000
BATCH_SIZE = "vauchflow_redemption_batch_size"
RPC_REQUESTS = "vauchflow_rpc_requests_total"
NAN = float("nan")


@dataclass(frozen=True)
class Row:
    name: str
    throughput: float
    p50_ms: float
    p99_ms: float
    errors: int
    loadgen_cpu: float  # cores the load generator used
    server_cpu: float  # cores the API server(s) used (the delivery service, for webhook rows)
    cpu_us_per_op: float = NAN  # that process's CPU time per request it handled (per event delivered), µs
    ceiling: str = ""
    ratio: float | None = None
    batched_ceiling: str = ""  # redemption rows: the pgbench ceiling at the batch size this scenario formed
    batched_ratio: float | None = None


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
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def start_stack(data_dir: Path, replicas: int, extra_env: dict[str, str] | None = None) -> DevStack:
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
        # Every port the stack listens on, so a stack someone else runs on the defaults never collides with this.
        "VAUCHFLOW_WEB_PORT": str(_free_port()),
        "VAUCHFLOW_WEB_METRICS_PORT": str(_free_port()),
        "VAUCHFLOW_PROBER_METRICS_PORT": str(_free_port()),
        "VAUCHFLOW_API_REPLICAS": str(replicas),
        # No backup job: its start-up base backup would compete with the measurement for the CPU.
        "VAUCHFLOW_BACKUPS": "off",
        **(extra_env or {}),
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


def run_scenario(
    scenario: Scenario, server_pids: list[int], metrics_ports: tuple[int, ...]
) -> tuple[Row, SizeDistribution]:
    """Runs the scenario; the row, and the sizes of the redemption batches the server formed meanwhile."""
    # CPU time and the server's own request count are read over the same window (warm-up included), so their
    # quotient is CPU per request whatever the generator counted.
    scraped_before = metrics_scrape.scrape(metrics_ports)
    before = sum(_cpu_seconds(pid) for pid in server_pids)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        outcome: Outcome = pool.apply(run, (scenario,))
    server_cpu = sum(_cpu_seconds(pid) for pid in server_pids) - before
    scraped = metrics_scrape.delta(metrics_scrape.scrape(metrics_ports), scraped_before)
    handled = metrics_scrape.total(scraped, RPC_REQUESTS)
    total_time = outcome.elapsed + scenario.warmup
    row = Row(
        name=scenario.name,
        throughput=len(outcome.latencies_ms) / outcome.elapsed,
        p50_ms=_percentile(outcome.latencies_ms, 0.50),
        p99_ms=_percentile(outcome.latencies_ms, 0.99),
        errors=sum(outcome.errors.values()),
        loadgen_cpu=outcome.loadgen_cpu_seconds / outcome.elapsed,
        server_cpu=server_cpu / total_time,
        cpu_us_per_op=server_cpu / handled * 1e6 if handled else NAN,
    )
    return row, metrics_scrape.size_distribution(scraped, BATCH_SIZE)


def scenarios_in_turns(
    scenarios: list[tuple[str, tuple[str, ...]]],
    measure: Callable[[str, tuple[str, ...], float], tuple[Row, SizeDistribution]],
    *,
    rounds: int,
    seconds: float,
) -> list[tuple[Row, SizeDistribution]]:
    """Each scenario (name, codes) measured `rounds` times in turns (A, B, A, B, ...), `seconds` each; per scenario,
    a row of the medians of its rounds, and the batch sizes of its median-throughput round. Taking turns lets a
    ratio between them survive a machine whose speed drifts, which one long row after another does not."""
    measured: list[list[tuple[Row, SizeDistribution]]] = [[] for _ in scenarios]
    for round_number in range(rounds):
        for index, (name, codes) in enumerate(scenarios):
            row, sizes = measure(name, codes, seconds)
            measured[index].append((row, sizes))
            print(f"    {name} round {round_number + 1}: {row.throughput:,.0f}/s, server {row.cpu_us_per_op:,.0f} µs "
                  f"CPU per request", flush=True)  # fmt: skip
    results = []
    for runs in measured:
        rows = [row for row, _ in runs]

        def median(field: str, rows: list[Row] = rows) -> float:
            return statistics.median(getattr(row, field) for row in rows)

        middle = sorted(runs, key=lambda run: run[0].throughput)[len(runs) // 2]
        results.append((
            Row(name=rows[0].name, throughput=median("throughput"), p50_ms=median("p50_ms"), p99_ms=median("p99_ms"),
                errors=sum(row.errors for row in rows), loadgen_cpu=median("loadgen_cpu"),
                server_cpu=median("server_cpu"), cpu_us_per_op=median("cpu_us_per_op")),
            middle[1],
        ))  # fmt: skip
    return results


def pgbench_row(result: PgbenchResult) -> Row:
    """Throughput in redemptions per second (transactions × batch size); latency per transaction."""
    return Row(result.name, result.redemptions_per_second, result.p50_ms, result.p99_ms, result.failed, NAN, NAN)


async def pgbench_batch_redemptions(owner_dsn: str, tenant_id: str) -> int:
    """Redemption rows the batched pgbench ceiling wrote (its order ids are `pgbench-<n>`)."""
    conn = await asyncpg.connect(owner_dsn)
    try:
        return await conn.fetchval(
            "SELECT count(*) FROM redemptions WHERE tenant_id = $1 AND order_id LIKE 'pgbench-%'", tenant_id
        )
    finally:
        await conn.close()


async def redemption_event_payload(owner_dsn: str, tenant_id: str) -> str:
    """A redemption.succeeded payload the server wrote in this run: the batched ceiling writes events of this size."""
    conn = await asyncpg.connect(owner_dsn)
    try:
        return await conn.fetchval(
            "SELECT payload::text FROM outbox_events WHERE tenant_id = $1 AND type = 'redemption.succeeded' LIMIT 1",
            tenant_id,
        )
    finally:
        await conn.close()


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


async def campaign_redemption_count(owner_dsn: str, tenant_id: str) -> dict[str, int]:
    """The limited campaign's own counter against its codes' successful redemption rows: they must agree."""
    conn = await asyncpg.connect(owner_dsn)
    try:
        row = await conn.fetchrow(
            """SELECT c.redemption_count AS counted,
                      (SELECT count(*) FROM redemptions r JOIN vouchers v
                         ON v.tenant_id = r.tenant_id AND v.id = r.voucher_id
                        WHERE v.campaign_id = c.id AND r.status = 'SUCCEEDED') AS rows
               FROM campaigns c WHERE c.tenant_id = $1 AND c.max_redemptions IS NOT NULL""",
            tenant_id,
        )
    finally:
        await conn.close()
    return {"counted": row["counted"], "rows": row["rows"]} if row else {"counted": -1, "rows": 0}


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
        return (*voucher.values(), rows)
    finally:
        await conn.close()


def gate_decisions(metrics_ports: tuple[int, ...]) -> dict[str, float]:
    """The API servers' flash-sale gate counters, summed over replicas."""
    scraped = metrics_scrape.scrape(metrics_ports)
    return {
        decision: metrics_scrape.total(scraped, "vauchflow_flash_sale_gate_total", decision=decision)
        for decision in ("admitted", "rejected", "returned", "bypassed")
    }


def create_webhook_endpoint(target: str, api_key: str, url: str) -> None:
    with grpc.insecure_channel(target) as channel:
        webhook_service_pb2_grpc.WebhookServiceStub(channel).CreateWebhookEndpoint(
            webhook_service_pb2.CreateWebhookEndpointRequest(
                webhook_endpoint=webhook_pb2.WebhookEndpoint(url=url, event_types=[webhook_delivery.EVENT_TYPE])
            ),
            metadata=[("authorization", f"Bearer {api_key}")],
        )


def mcp_scenarios(
    stack: DevStack, api_key: str, codes: tuple[str, ...], args: argparse.Namespace
) -> tuple[list[Row], str]:
    """The MCP rows (bench/mcp_bench.py) beside the serial REST redemption they compare with."""
    measured, summary = mcp_bench.measure(("127.0.0.1", stack.config.public_port), ("127.0.0.1", stack.config.web_port),
                                          api_key, codes, args.duration, args.warmup)  # fmt: skip
    rows = [Row(**m.__dict__, loadgen_cpu=float("nan"), server_cpu=float("nan")) for m in measured]
    for row in rows:
        print(f"  {row.name}: p50 {row.p50_ms:.1f} ms p99 {row.p99_ms:.1f} ms", flush=True)
    return rows, summary


def with_ratio(row: Row, ceiling: Row, label: str = "") -> Row:
    return Row(**{**row.__dict__, "ceiling": label or ceiling.name, "ratio": _ratio(row, ceiling)})


def with_batched_ratio(row: Row, ceiling: Row | None) -> Row:
    if ceiling is None:
        return row
    return Row(**{**row.__dict__, "batched_ceiling": ceiling.name, "batched_ratio": _ratio(row, ceiling)})


def _ratio(row: Row, ceiling: Row) -> float:
    return row.throughput / ceiling.throughput if ceiling.throughput > 0 else NAN


def format_table(rows: list[Row]) -> str:
    lines = [
        "| scenario | throughput/s | p50 ms | p99 ms | errors | vs ceiling | vs batched ceiling | server CPU µs/op "
        "| loadgen CPU | server CPU |",
        "|---|---:|---:|---:|---:|---|---|---:|---:|---:|",
    ]
    for row in rows:
        ratio = _ratio_cell(row.ratio, row.ceiling)
        batched = _ratio_cell(row.batched_ratio, row.batched_ceiling)
        per_op = "" if row.cpu_us_per_op != row.cpu_us_per_op else f"{row.cpu_us_per_op:,.0f}"
        lines.append(
            f"| {row.name} | {row.throughput:,.0f} | {row.p50_ms:.1f} | {row.p99_ms:.1f} | {row.errors} | {ratio} "
            f"| {batched} | {per_op} | {_cores(row.loadgen_cpu)} | {_cores(row.server_cpu)} |"
        )
    return "\n".join(lines)


def _ratio_cell(ratio: float | None, ceiling: str) -> str:
    if ratio is None:
        return ""
    return f"{ratio:.2f} × {ceiling}" if math.isfinite(ratio) else f"n/a ({ceiling} completed nothing)"


def format_batch_table(sizes: dict[str, SizeDistribution], ceilings: dict[tuple[str, int], Row]) -> str:
    lines = [
        "| scenario | batches | mean size | p50 size | p90 size | largest | pgbench at mean size "
        "| at p50 size | at p90 size |",
        "|---|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for name, dist in sizes.items():
        kind = _kind(name)
        at = [ceilings.get((kind, size)) for size in (_mean_size(dist), dist.p50, dist.p90)] if dist.count else []
        cells = [f"{row.throughput:,.0f}/s ({row.name})" if row else "" for row in at] or ["", "", ""]
        lines.append(
            f"| {name} | {dist.count:,} | {dist.mean:.1f} | ≤{dist.p50} | ≤{dist.p90} | ≤{dist.max_bucket} "
            f"| {cells[0]} | {cells[1]} | {cells[2]} |"
        )
    return "\n".join(lines)


def _mean_size(dist: SizeDistribution) -> int:
    """The batch size whose ceiling bounds the server's mix of sizes: a batch transaction's time grows about
    linearly with its size (a fixed cost plus a cost per redeem), and then batches of the mean size move redeems
    exactly as fast as the mix does (total redeems over total time)."""
    return max(1, round(dist.mean))


def _kind(scenario_name: str) -> str:
    return "hot" if "hot" in scenario_name else "spread"


def _cores(value: float) -> str:
    return "" if value != value else f"{value:.2f} cores"  # NaN: not measured


def machine_description() -> str:
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    system = f"{platform.system()} {platform.release()}"
    return f"{os.cpu_count()} cores ({model}), {system}, Python {platform.python_version()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per scenario")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--replicas", type=int, default=1, help="API server processes behind Envoy")
    parser.add_argument("--vouchers", type=int, default=500, help="vouchers the spread load is spread over")
    parser.add_argument(
        "--webhook-rate", type=int, default=1000,
        help="events committed per second in the steady webhook scenario, at most half the measured capacity",
    )  # fmt: skip
    parser.add_argument(
        "--generation-count", type=int, default=1_000_000, help="codes one GenerateCampaignCodes operation makes"
    )
    parser.add_argument("--no-write", action="store_true", help="do not write docs/performance.md")
    parser.add_argument("--no-cluster", action="store_true", help="skip the cluster run (cluster_run.py)")
    parser.add_argument("--cluster-only", action="store_true", help="only the cluster run; writes nothing")
    parser.add_argument("--cluster-duration", type=float, default=None,
                        help="measured seconds per cluster scenario (default: --duration, at most 5)")  # fmt: skip
    args = parser.parse_args()
    if args.cluster_duration is None:
        args.cluster_duration = min(args.duration, 5.0)
    if args.cluster_only:
        print(f"cluster run (load average {os.getloadavg()[0]:.2f})...", flush=True)
        print(cluster_run.format_table(_cluster_rows(args)))
        return 0

    started = time.monotonic()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="vauchflow-bench-") as tmp:
        stack = start_stack(Path(tmp), args.replicas)
        try:
            admin_token = (Path(tmp) / "operator-token").read_text().strip()
            tenant_id, api_key = create_fixtures(stack.grpc_targets[0], admin_token, args.vouchers)
            server_pids = [pid for name, pid in stack.child_pids().items() if name.startswith("api-server")]
            metrics_ports = stack.config.api_metrics_ports
            public = f"127.0.0.1:{stack.config.public_port}"
            direct = ",".join(stack.grpc_targets)  # direct gRPC spreads over every replica
            spread = tuple(f"{SPREAD_PREFIX}{n:06d}" for n in range(1, args.vouchers + 1))
            hot = (f"{HOT_PREFIX}000001",)
            # Campaign codes as many as the spread set: without campaign-wide limits (the batched path, like plain
            # vouchers), and with one (every redeem meets on the campaign's row, like the hot voucher).
            campaign_spread = campaign_generation.campaign_codes(
                stack.grpc_targets[0], api_key, stack.owner_dsn, "bench spread", args.vouchers, "CAMP-"
            )
            campaign_limited = campaign_generation.campaign_codes(
                stack.grpc_targets[0], api_key, stack.owner_dsn, "bench limited", args.vouchers, "CAMPL-",
                max_redemptions=HUGE_LIMIT,
            )  # fmt: skip
            batch_sizes: dict[str, SizeDistribution] = {}

            def scenario(name: str, protocol: str, target: str, codes: tuple[str, ...], concurrency: int,
                         expected_error: str = "") -> Row:  # fmt: skip
                row, sizes = run_scenario(
                    Scenario(name, protocol, target, api_key, codes, concurrency, args.duration, args.warmup,
                             expected_error),
                    server_pids, metrics_ports,
                )  # fmt: skip
                if protocol == "grpc" and not expected_error:
                    batch_sizes[name] = sizes
                print(f"  {name}: {row.throughput:,.0f}/s p99 {row.p99_ms:.1f} ms, server {row.cpu_us_per_op:,.0f} µs "
                      f"CPU per request; batches: {sizes.describe()}", flush=True)  # fmt: skip
                return row

            print(f"running scenarios (load average {load_before[0]:.2f})...", flush=True)
            # First, while the stack is idle: one request at a time, so the figures are each path's own latency,
            # not the aftermath of the load rows below (relaying their events, vacuuming their rows).
            mcp_rows, mcp_summary = mcp_scenarios(stack, api_key, spread, args)
            # The load generator's own ceiling: a trivial RPC; if it is far above redemption, the generator
            # is not what limits the redemption figures. It is also the server's CPU cost of a trivial RPC.
            liveness = scenario("grpc_liveness_32 (loadgen check)", "grpc_liveness", direct, (), 32)
            grpc_32 = scenario("grpc_spread_32", "grpc", direct, spread, 32)
            grpc_100 = scenario("grpc_spread_100", "grpc", direct, spread, 100)
            rest_32 = scenario("rest_spread_32", "rest", public, spread, 32)
            rest_100 = scenario("rest_spread_100", "rest", public, spread, 100)
            hot_100 = scenario("grpc_hot_100", "grpc", direct, hot, 100)
            # Campaign codes against plain vouchers measured in turns, so that both see the same machine and the
            # same table sizes (a row measured minutes later runs on a larger redemptions table).
            (spread_in_turns, _), (campaign_32, campaign_sizes) = scenarios_in_turns(
                [("grpc_spread_32_in_turns", spread), ("grpc_campaign_spread_32", campaign_spread)],
                lambda name, codes, seconds: run_scenario(
                    Scenario(name, "grpc", direct, api_key, codes, 32, seconds, args.warmup, ""),
                    server_pids,
                    metrics_ports,
                ),
                rounds=3,
                seconds=args.duration / 2,
            )
            batch_sizes["grpc_campaign_spread_32"] = campaign_sizes
            campaign_limit_100 = scenario("grpc_campaign_limit_100", "grpc", direct, campaign_limited, 100)

            key_hash = hashlib.sha256(api_key.encode()).hexdigest()
            common = dict(bin_dir=_bin_dir(), app_dsn=stack.app_dsn, tenant_id=tenant_id, duration=args.duration)
            pg_spread = pgbench_row(run_pgbench(name="pgbench_spread_32", code_prefix=SPREAD_PREFIX,
                                                voucher_count=args.vouchers, clients=32, key_hash_hex=key_hash,
                                                **common))  # fmt: skip
            pg_hot = pgbench_row(run_pgbench(name="pgbench_hot_100", code_prefix=HOT_PREFIX, voucher_count=1,
                                             clients=100, key_hash_hex=key_hash, **common))  # fmt: skip
            print(f"  pgbench, one redemption per transaction: spread {pg_spread.throughput:,.0f}/s, "
                  f"hot {pg_hot.throughput:,.0f}/s", flush=True)  # fmt: skip

            # The batched ceiling: the server's batch statements at the sizes it formed (median and p90 of each
            # scenario), on as many connections as it runs batches at once (batches_in_flight per replica).
            payload = asyncio.run(redemption_event_payload(stack.owner_dsn, tenant_id))
            batch_clients = _batches_in_flight() * args.replicas
            wanted = sorted({(_kind(name), size) for name, dist in batch_sizes.items() if dist.count
                             for size in (_mean_size(dist), dist.p50, dist.p90)})  # fmt: skip
            batched: dict[tuple[str, int], Row] = {}
            batch_rows_before = asyncio.run(pgbench_batch_redemptions(stack.owner_dsn, tenant_id))
            batch_redemptions_counted = 0
            for kind, size in wanted:
                prefix, count = (HOT_PREFIX, 1) if kind == "hot" else (SPREAD_PREFIX, args.vouchers)
                result = run_batch_pgbench(
                    name=f"pgbench_batch_{kind}_{size}x{batch_clients}", code_prefix=prefix, voucher_count=count,
                    batch_size=size, clients=batch_clients, event_payload=payload,
                    **{**common, "duration": max(2.0, args.duration / 4)},
                )  # fmt: skip
                batched[(kind, size)] = pgbench_row(result)
                batch_redemptions_counted += result.transactions * size
                print(f"  pgbench, batches of {size} ({kind}) on {batch_clients} connections: "
                      f"{batched[(kind, size)].throughput:,.0f} redemptions/s", flush=True)  # fmt: skip

            def batched_at_mean(name: str) -> Row | None:
                dist = batch_sizes.get(name)
                return batched.get((_kind(name), _mean_size(dist))) if dist and dist.count else None

            # Last, a sold-out voucher: first without the gate (PostgreSQL refuses), then a sold-out flash sale,
            # which the gate answers from Redis; PostgreSQL must see no write at all.
            pg_sold_out = scenario("pg_sold_out_100", "grpc", direct, (PLAIN_SOLD_OUT,), 100,
                                   expected_error="FAILED_PRECONDITION")  # fmt: skip
            flash_before = asyncio.run(flash_voucher_state(stack.owner_dsn, tenant_id))
            gate_before = gate_decisions(metrics_ports)
            flash_100 = scenario("flash_sold_out_100", "grpc", direct, (FLASH_SOLD_OUT,), 100,
                                 expected_error="FAILED_PRECONDITION")  # fmt: skip
            gate_after = gate_decisions(metrics_ports)
            flash_after = asyncio.run(flash_voucher_state(stack.owner_dsn, tenant_id))
            gate_delta = {k: gate_after.get(k, 0.0) - gate_before.get(k, 0.0) for k in gate_after}

            webhook_rows, fairness_summary = run_webhooks(stack, tenant_id, api_key, admin_token, args)

            # The dashboard: a voucher list page of 100 rows, one request at a time (target: p99 < 300 ms), through
            # Envoy's public port as merchants reach it.
            dashboard = dashboard_bench.measure(
                f"http://127.0.0.1:{stack.config.public_port}",
                api_key,
                expected_rows=min(100, args.vouchers + 1),
                requests=300 if args.duration >= 2 else 30,
            )
            dashboard_row = Row(
                name="dashboard_list_100",
                throughput=dashboard.throughput,
                p50_ms=dashboard.p50_ms,
                p99_ms=dashboard.p99_ms,
                errors=dashboard.errors,
                loadgen_cpu=NAN,
                server_cpu=NAN,
                ceiling="target p99 < 300 ms",
            )
            print(f"  dashboard: list of 100 p99 {dashboard.p99_ms:.1f} ms", flush=True)

            # Last but one: a million codes in one operation (its own tenant), timed to its end.
            generation = campaign_generation.measure(
                stack.grpc_targets[0], admin_token, server_pids[0], args.generation_count
            )
            print(f"  code generation: {generation.generated:,} codes in {generation.seconds:.1f} s", flush=True)

            problems = asyncio.run(check_correctness(stack.owner_dsn, tenant_id))
            campaign_count = asyncio.run(campaign_redemption_count(stack.owner_dsn, tenant_id))
            if campaign_count["counted"] != campaign_count["rows"]:
                problems.append(f"campaign with a limit: counted {campaign_count}")
            # The batched ceiling counts transactions × batch size: every one of those redemptions must be a row, or
            # the ceiling would count batches that wrote nothing.
            batch_rows = asyncio.run(pgbench_batch_redemptions(stack.owner_dsn, tenant_id)) - batch_rows_before
            if batch_rows < batch_redemptions_counted:
                problems.append(f"batched pgbench wrote {batch_rows} redemptions, counted {batch_redemptions_counted}")
            if flash_after != flash_before:
                problems.append(f"{FLASH_SOLD_OUT}: PostgreSQL changed during the sold-out scenario")
            # Admitting a unit of a sold-out sale would be the gate's bug. Stepping aside (Redis slower than the gate's
            # timeout, on a starved machine) is its designed failure mode: PostgreSQL then refuses, and writes nothing.
            if gate_delta.get("admitted", 0) or not gate_delta.get("rejected"):
                problems.append(f"{FLASH_SOLD_OUT}: requests reached PostgreSQL past the gate ({gate_delta})")
        finally:
            stack.stop()

    rows = [
        liveness,
        with_batched_ratio(with_ratio(grpc_32, pg_spread), batched_at_mean("grpc_spread_32")),
        with_batched_ratio(with_ratio(grpc_100, pg_spread), batched_at_mean("grpc_spread_100")),
        with_ratio(rest_32, grpc_32),
        with_ratio(rest_100, grpc_100),
        with_batched_ratio(with_ratio(hot_100, pg_hot), batched_at_mean("grpc_hot_100")),
        spread_in_turns,
        with_ratio(campaign_32, spread_in_turns),
        with_ratio(campaign_limit_100, hot_100),
        Row(
            name=f"generate_codes_{generation.count:,}",
            throughput=generation.rate,
            p50_ms=NAN,
            p99_ms=generation.seconds * 1000,
            errors=generation.count - generation.generated,
            loadgen_cpu=NAN,
            server_cpu=NAN,
            ceiling="target: 1,000,000 in < 60 s",
        ),
        *mcp_rows,
        with_ratio(pg_sold_out, grpc_100),
        with_ratio(flash_100, pg_sold_out),
        *webhook_rows,
        dashboard_row,
        pg_spread,
        pg_hot,
        *(batched[key] for key in sorted(batched)),
    ]
    table = format_table(rows)
    if not args.no_cluster:
        print("cluster run...", flush=True)
        table += "\n\n" + cluster_run.NOTE + "\n" + cluster_run.format_table(_cluster_rows(args))
    batch_table = format_batch_table(batch_sizes, batched)
    verdict = (
        "correct: every count equals its redemption rows, no limit exceeded"
        if not problems
        else ("INCORRECT:\n" + "\n".join(problems[:20]))
    )
    loadgen_headroom = liveness.throughput / max(grpc_32.throughput, 1)
    load_after = os.getloadavg()
    summary = (
        f"Machine: {machine_description()}\n"
        f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {args.duration:g} s per scenario after "
        f"{args.warmup:g} s warm-up, {args.replicas} API server replica(s), "
        f"{args.vouchers} vouchers in the spread set\n"
        f"Load average (1 min) before the run {load_before[0]:.2f}, after {load_after[0]:.2f}\n"
        f"Load generator headroom: a trivial RPC ran at {liveness.throughput:,.0f}/s, "
        f"{loadgen_headroom:.1f} × the redemption rate at the same concurrency\n"
        f"Server CPU per request: trivial RPC {liveness.cpu_us_per_op:,.0f} µs, redemption "
        f"{grpc_32.cpu_us_per_op:,.0f} µs (spread 32), {grpc_100.cpu_us_per_op:,.0f} µs (spread 100), "
        f"{hot_100.cpu_us_per_op:,.0f} µs (hot 100)\n"
        f"{mcp_summary}\n"
        f"{fairness_summary}\n"
        f"Code generation: {generation.generated:,} codes in one operation in {generation.seconds:.1f} s "
        f"({generation.rate:,.0f} codes/s; its row's p99 column is the whole operation), API server peak RSS "
        f"{generation.rss_before_mib:.0f} MiB before, {generation.peak_rss_mib:.0f} MiB after\n"
        f"Correctness: {verdict}\n"
        f"Batched ceiling: {batch_rows:,} redemption rows written for {batch_redemptions_counted:,} counted "
        f"(transactions × batch size, {batch_clients} connections)\n"
        f"Sold-out flash sale: the gate refused {gate_delta.get('rejected', 0):,.0f} requests from Redis, admitted "
        f"{gate_delta.get('admitted', 0):,.0f} to PostgreSQL, stepped aside for {gate_delta.get('bypassed', 0):,.0f} "
        "(Redis slower than the gate's timeout: PostgreSQL refused those); the voucher's row and redemptions did not "
        "change\n"
    )
    print()
    print(table)
    print()
    print(batch_table)
    print()
    print(summary)
    print(f"(benchmark took {time.monotonic() - started:.0f} s)")
    if not args.no_write:
        write_report(table, batch_table, summary)
    return 0 if not problems else 1


def _cluster_rows(args: argparse.Namespace) -> list[cluster_run.ClusterRow]:
    return cluster_run.measure(args, start_stack=start_stack, create_fixtures=create_fixtures,
                               run_scenario=run_scenario, spread_prefix=SPREAD_PREFIX)  # fmt: skip


def _batches_in_flight() -> int:
    """The server's setting for batches run at once per tenant (the dev stack passes the environment on)."""
    return int(os.environ.get("VAUCHFLOW_REDEEM_BATCHES_IN_FLIGHT", ServerConfig.redeem_batches_in_flight))


def run_webhooks(
    stack: DevStack, tenant_id: str, api_key: str, admin_token: str, args: argparse.Namespace
) -> tuple[list[Row], str]:
    """The webhook ceilings (receiver alone, relay alone) and the delivery service against them: an overload for
    its capacity, then a steady rate for its latency; then fairness, the bench tenant's webhook lag beside a
    tenant whose endpoints are black holes (with the lag alone as its ceiling). Returns the rows and a summary."""
    delivery_pid = stack.child_pids()["webhooks"]
    delivery_ports = (stack.config.delivery_metrics_port,)

    def counter(name: str, **labels: str) -> Callable[[], float]:
        return lambda: metrics_scrape.total(metrics_scrape.scrape(delivery_ports), name, **labels)

    relayed = counter("vauchflow_outbox_events_relayed_total")
    delivered = counter("vauchflow_webhook_deliveries_total", outcome="delivered")
    # Sized to drain in a few seconds at this machine's rates (10–20 s when the machine is crowded), fewer in a
    # short (smoke) run: the drain is the one part of the bench whose time is not fixed.
    overload_events = max(200, round(300 * args.duration))
    relay_events = max(500, round(2_000 * args.duration))
    with webhook_delivery.Receiver() as receiver:
        create_webhook_endpoint(stack.grpc_targets[0], api_key, f"http://127.0.0.1:{receiver.port}/hook")
        receiver_alone = webhook_delivery.receiver_ceiling(
            receiver, connections=32, duration=max(1.0, args.duration / 3)
        )
        relay_alone = webhook_delivery.relay_ceiling(stack.owner_dsn, tenant_id, relayed, relay_events)
        print(f"  webhook ceilings: receiver alone {receiver_alone.throughput:,.0f}/s, relay alone "
              f"{relay_alone.throughput:,.0f} events/s", flush=True)  # fmt: skip
        receiver_row = Row("webhook_receiver_alone (ceiling)", receiver_alone.throughput, receiver_alone.p50_ms,
                           receiver_alone.p99_ms, 0, NAN, NAN)  # fmt: skip
        relay_row = Row("webhook_relay_alone (ceiling)", relay_alone.throughput, NAN, NAN, 0, NAN, NAN)
        ceiling = min((receiver_row, relay_row), key=lambda row: row.throughput if row.throughput > 0 else math.inf)

        # Offered at the ceiling's rate: delivery cannot keep up, so what arrives per second is its capacity.
        cpu_before = _cpu_seconds(delivery_pid)
        overload = webhook_delivery.produce_overload(
            stack.owner_dsn, tenant_id, ceiling.throughput, overload_events, delivered, timeout=60
        )
        overload_cpu = _cpu_seconds(delivery_pid) - cpu_before
        overload_seconds = time.time() - min(overload.values())
        # Steady: the asked rate (1,000/s, comparable with earlier runs), but never more than half what the service
        # just sustained, so a slower machine measures the service's latency, not a growing queue's; rounded to the
        # producer's 100/s steps.
        rate = min(args.webhook_rate, max(100, int(len(overload) / overload_seconds / 2) // 100 * 100))
        cpu_before = _cpu_seconds(delivery_pid)
        delivered_before = delivered()
        steady_started = time.time()
        steady = webhook_delivery.produce_steady(stack.owner_dsn, tenant_id, rate, args.duration, delivered, drain=30)
        steady_cpu = _cpu_seconds(delivery_pid) - cpu_before
        steady_seconds = time.time() - steady_started
        steady_delivered = delivered() - delivered_before
        lag_alone, lag_beside, fairness_summary = run_webhook_fairness(stack, tenant_id, admin_token, delivered, args)
        arrivals = receiver.arrivals()

    overload_figures = webhook_delivery.figures(overload, arrivals)
    steady_figures = webhook_delivery.figures(steady, arrivals)
    print(f"  webhooks: overload {overload_figures.delivered:,}/{overload_figures.sent:,} delivered at "
          f"{overload_figures.throughput:,.0f}/s; steady {rate:,}/s: {steady_figures.delivered:,}/"
          f"{steady_figures.sent:,} delivered, commit-to-delivery p99 {steady_figures.p99_ms:,.0f} ms",
          flush=True)  # fmt: skip
    overload_row = Row(
        name=f"webhook_delivery_overload_{overload_events}",
        throughput=overload_figures.throughput,
        p50_ms=overload_figures.p50_ms,
        p99_ms=overload_figures.p99_ms,
        errors=overload_figures.sent - overload_figures.delivered,
        loadgen_cpu=NAN,
        server_cpu=overload_cpu / overload_seconds,
        cpu_us_per_op=overload_cpu / overload_figures.delivered * 1e6 if overload_figures.delivered else NAN,
    )
    steady_row = Row(
        name=f"webhook_delivery_steady_{rate}_per_s",
        throughput=steady_figures.throughput,
        p50_ms=steady_figures.p50_ms,
        p99_ms=steady_figures.p99_ms,
        errors=steady_figures.sent - steady_figures.delivered,
        loadgen_cpu=NAN,
        server_cpu=steady_cpu / steady_seconds,
        cpu_us_per_op=steady_cpu / steady_delivered * 1e6 if steady_delivered else NAN,
    )
    alone_figures = webhook_delivery.figures(lag_alone, arrivals)
    beside_figures = webhook_delivery.figures(lag_beside, arrivals)
    alone_row = Row(
        name=f"webhook_lag_alone_{len(lag_alone)} (ceiling)",
        throughput=alone_figures.throughput,
        p50_ms=alone_figures.p50_ms,
        p99_ms=alone_figures.p99_ms,
        errors=alone_figures.sent - alone_figures.delivered,
        loadgen_cpu=NAN,
        server_cpu=NAN,
    )
    beside_row = Row(
        name=f"webhook_lag_beside_black_holed_tenant_{len(lag_beside)}",
        throughput=beside_figures.throughput,
        p50_ms=beside_figures.p50_ms,
        p99_ms=beside_figures.p99_ms,
        errors=beside_figures.sent - beside_figures.delivered,
        loadgen_cpu=NAN,
        server_cpu=NAN,
        # A lag, so the ratio is the other way round from throughput: how many times the ceiling's p50 it took.
        ceiling="p50 of the lag alone (×, lower is better)",
        ratio=beside_figures.p50_ms / alone_figures.p50_ms if alone_figures.p50_ms > 0 else NAN,
    )
    fairness_summary += (
        f"; tenant B's webhook lag p50 {beside_figures.p50_ms:,.0f} ms / p99 {beside_figures.p99_ms:,.0f} ms "
        f"({beside_figures.delivered}/{beside_figures.sent} arrived), alone p50 {alone_figures.p50_ms:,.0f} ms / "
        f"p99 {alone_figures.p99_ms:,.0f} ms: {_lag_ratio(beside_figures.p50_ms, alone_figures.p50_ms)} (p50), "
        f"{_lag_ratio(beside_figures.p99_ms, alone_figures.p99_ms)} (p99)"
    )
    print(f"  {fairness_summary}", flush=True)
    return [
        receiver_row,
        relay_row,
        with_ratio(overload_row, ceiling),
        Row(**{**steady_row.__dict__, "ceiling": "the offered rate", "ratio": steady_figures.throughput / rate}),
        alone_row,
        beside_row,
    ], fairness_summary


def _lag_ratio(lag: float, ceiling: float) -> str:
    return f"{lag / ceiling:.2f} × alone" if ceiling > 0 and math.isfinite(lag / ceiling) else "n/a"


# Tenant B's webhooks measured alone and beside tenant A: a few dozen, spaced so none waits behind its own.
FAIRNESS_WEBHOOKS = 20
FAIRNESS_SPACING_SECONDS = 0.05
# Tenant A's queue: hundreds of events, each for five black-holed endpoints.
BLACK_HOLED_EVENTS = 300


def run_webhook_fairness(
    stack: DevStack, tenant_id: str, admin_token: str, delivered: Callable[[], float], args: argparse.Namespace
) -> tuple[dict[str, float], dict[str, float], str]:
    """Issue 16's fairness figure. Tenant B (the bench tenant, its endpoint the receiver) sends a few dozen
    webhooks alone: the ceiling. Then tenant A (STARTER) gets five endpoints that accept connections and never
    answer, and hundreds of events for them; once A's attempts hang in the worker's slots, B sends as many again.
    Returns B's commit times alone and beside A (event id → commit time) and a summary of A's side."""
    count = FAIRNESS_WEBHOOKS if args.duration >= 2 else 10
    target = stack.grpc_targets[0]
    alone = webhook_delivery.produce_spaced(
        stack.owner_dsn, tenant_id, count, FAIRNESS_SPACING_SECONDS, delivered, timeout=60
    )
    with webhook_delivery.BlackHole() as hole, grpc.insecure_channel(target) as channel:
        created = tenant_service_pb2_grpc.TenantServiceStub(channel).CreateTenant(
            tenant_service_pb2.CreateTenantRequest(name="Black holes", plan=tenant_pb2.PLAN_STARTER),
            metadata=[("authorization", f"Bearer {admin_token}")],
        )
        for n in range(5):
            create_webhook_endpoint(target, created.secret, f"http://127.0.0.1:{hole.port}/hole-{n}")
        share = limits_for("STARTER").delivery_concurrency
        in_flight = asyncio.run(
            webhook_delivery.queue_black_holed(
                stack.owner_dsn, created.tenant.id, BLACK_HOLED_EVENTS, in_flight=share, timeout=30
            )
        )
        beside = webhook_delivery.produce_spaced(
            stack.owner_dsn, tenant_id, count, FAIRNESS_SPACING_SECONDS, delivered, timeout=60
        )
        finished = asyncio.run(webhook_delivery.finished_attempts(stack.owner_dsn, created.tenant.id))
    summary = (
        f"Webhook fairness: tenant A (STARTER, five black-holed endpoints, {BLACK_HOLED_EVENTS * 5:,} deliveries "
        f"queued) had {in_flight} attempts hanging (its share {share}), {finished} ended while B was measured"
    )
    return alone, beside, summary


def write_report(table: str, batch_table: str, summary: str) -> None:
    path = REPO / "docs" / "performance.md"
    path.write_text(
        "# Performance\n\n"
        "Measured by `make bench` (`bench/run.py`); what the figures mean and what limits them is in\n"
        "[performance-analysis.md](performance-analysis.md). Each figure stands beside its ceiling from the same\n"
        "run; the machine is shared and noisy, so compare ratios and CPU per operation, not absolute rates.\n"
        "Throughput counts successful redemptions per second (for the `*_sold_out_100` rows, answered requests:\n"
        "every one is a VOUCHER_EXHAUSTED refusal, from PostgreSQL for `pg_sold_out_100` and from the Redis\n"
        "pre-gate for `flash_sold_out_100`); latency is measured by the load generator, end to end.\n\n"
        f"{table}\n\n"
        "Redemption batches the server formed (its `vauchflow_redemption_batch_size` histogram, read before and\n"
        "after each scenario, warm-up included; p50/p90 are bucket bounds, exact up to 8; the mean is exact) and the\n"
        "batched ceiling at those sizes, in redemptions per second:\n\n"
        f"{batch_table}\n\n```\n{summary}```\n\n"
        "Columns:\n"
        "- `vs ceiling`: redemption rows against `pgbench_*_32/100`, which run the server's SQL for one redemption\n"
        "  per transaction (API key lookup, then a transaction with `set_config('app.tenant_id', ..., true)`, the\n"
        "  conditional UPDATE, the redemption row and the outbox event) on the same database as the same role, with\n"
        "  RLS, on as many connections as the scenario has requests in flight. REST rows compare with direct gRPC;\n"
        "  the sold-out rows with `grpc_spread_100` and with each other.\n"
        "- `vs batched ceiling`: against `pgbench_batch_<kind>_<size>x<connections>`, which runs the server's own\n"
        "  batch transaction (`begin_as_tenant`, `vouchers_for_batch`, `redeem_batch`, `COMMIT`, read from the\n"
        "  query files) with batches of the scenario's mean size, on as many connections as the server runs\n"
        "  batches at once (`VAUCHFLOW_REDEEM_BATCHES_IN_FLIGHT` per replica). Its throughput is redemptions per\n"
        "  second (transactions × batch size), its latency per transaction. The mean size, not the median: a batch\n"
        "  costs about a fixed part plus a part per redeem, so batches of the mean size move redeems as fast as\n"
        "  the server's mix of small and large ones does. This is the bound under load: the server cannot write\n"
        "  faster than its own batch transactions run on as many connections as it uses.\n"
        "- Webhook rows: `webhook_receiver_alone` is the loopback receiver's accept rate from a trivial HTTP client\n"
        "  (32 keep-alive connections, as many as the service opens to one endpoint); `webhook_relay_alone` the\n"
        "  outbox events per second the relay passes with no endpoint subscribed (COMMIT to its counter). The\n"
        "  overload row commits its events in 10 ms batches at the lower ceiling's rate, more than the service can\n"
        "  deliver, and measures first commit to last arrival: delivery capacity, as a share of the lower of the two\n"
        "  ceilings; its latency is mostly time spent queued. The steady row then commits 1,000 events/s the same\n"
        "  way, or half the overload's delivery rate if that is lower (a\n"
        "  machine is never asked for more than it showed it can do): latency commit-to-arrival, `errors` =\n"
        "  events not delivered within the run plus a 30 s drain window.\n"
        "- Webhook fairness rows: `webhook_lag_alone_N` is the bench tenant's commit-to-arrival lag for N webhooks\n"
        "  committed 50 ms apart with nothing else queued (the ceiling); `webhook_lag_beside_black_holed_tenant_N`\n"
        "  the same while a STARTER tenant's five endpoints accept connections and never answer, with 300 events\n"
        "  (1,500 deliveries) queued for them and its attempts hanging in the worker's slots. The ratio is the\n"
        "  p50 lag beside it over the p50 alone (1.00 = unaffected); the summary gives both p50 and p99.\n"
        "- `server CPU µs/op`: the API server process's CPU time (user + system, from /proc) over the scenario,\n"
        "  divided by the RPCs it counted in the same window (`vauchflow_rpc_requests_total`), warm-up included;\n"
        "  for webhook rows, the delivery service's CPU time per event delivered. Comparable across runs and\n"
        "  machines of similar speed, whatever the load beside it.\n"
        "- `loadgen CPU`, `server CPU`: cores used on average during the scenario. On 2 cores, load generator and\n"
        "  server share the machine, so a generator using most of a core takes capacity the server would otherwise\n"
        "  have.\n"
    )
    print(f"wrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    sys.exit(main())
