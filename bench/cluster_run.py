"""The cluster run of `make bench`: the same load on one API server without a read replica, and on two API server
replicas with a streaming PostgreSQL read replica and a Redis Cluster of three masters with a replica each
(VAUCHFLOW_DEV_REDIS=single measures the replicated setup on one Redis instead).

Three scenarios each, at 32 requests in flight over direct gRPC to every replica: spread redemption, a list page
(read from the replica when there is one), and a redemption followed by a list read at its commit position
(read-your-writes: the replica waits for the position, or the primary answers). Besides the API servers' CPU per
request, the whole stack's CPU per request is reported (PostgreSQL, its replica, Redis, Envoy and the other
services, with every process they started): on a machine with few cores, replicas add processes that compete for
the same cores, so throughput there says little about a cluster of machines, while CPU per request says what each
request costs.
"""

from __future__ import annotations

import argparse
import os
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import metrics_scrape
from loadgen import Scenario

from vauchflow_devstack.redis import free_cluster_ports

READS = "vauchflow_db_reads_total"
RPC_REQUESTS = "vauchflow_rpc_requests_total"


@dataclass(frozen=True)
class ClusterRow:
    setup: str
    scenario: str
    throughput: float
    p50_ms: float
    p99_ms: float
    errors: int
    api_cpu_us: float  # the API server processes' CPU per request they handled
    stack_cpu_us: float  # every process of the stack (PostgreSQL and its replica included) per request handled
    replica_share: float | None  # of the list reads, the share the read replica served


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stack_cpu_seconds(roots: list[int]) -> float:
    """CPU time (user + system) of the stack's processes and all their descendants (PostgreSQL's backends,
    WAL sender and startup process included), from /proc: other work on a shared machine does not count."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        parents[int(entry.name)] = int(fields[1])
        cpu[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    wanted = set(roots)
    for pid in parents:
        chain, seen = pid, 0
        while chain > 1 and chain not in wanted and seen < 64:
            chain, seen = parents.get(chain, 0), seen + 1
        if chain in wanted:
            wanted.add(pid)
    return sum(cpu.get(pid, 0.0) for pid in wanted)


def redis_mode() -> str:
    return os.environ.get("VAUCHFLOW_DEV_REDIS") or "cluster"


def _redis_env() -> dict[str, str]:
    if redis_mode() != "cluster":
        return {"VAUCHFLOW_DEV_REDIS": redis_mode()}
    return {"VAUCHFLOW_DEV_REDIS": "cluster", "VAUCHFLOW_REDIS_CLUSTER_PORT": str(free_cluster_ports(6))}


def measure(
    args: argparse.Namespace,
    *,
    start_stack: Callable[..., Any],
    create_fixtures: Callable[[str, str, int], tuple[str, str]],
    run_scenario: Callable[..., tuple[Any, Any]],
    spread_prefix: str,
) -> list[ClusterRow]:
    rows: list[ClusterRow] = []
    setups = (
        ("1 API, primary only", 1, {}),
        (
            f"2 API + PG read replica, Redis {redis_mode()}",
            2,
            {
                "VAUCHFLOW_DEV_PG_REPLICA": "1",
                "VAUCHFLOW_PG_REPLICA_PORT": str(_free_port()),
                **_redis_env(),
            },
        ),
    )  # fmt: skip
    for setup, replicas, extra_env in setups:
        with tempfile.TemporaryDirectory(prefix="vauchflow-bench-cluster-") as tmp:
            stack = start_stack(Path(tmp), replicas, extra_env)
            try:
                admin_token = (Path(tmp) / "operator-token").read_text().strip()
                _, api_key = create_fixtures(stack.grpc_targets[0], admin_token, args.vouchers)
                server_pids = [pid for name, pid in stack.child_pids().items() if name.startswith("api-server")]
                ports = stack.config.api_metrics_ports
                direct = ",".join(stack.grpc_targets)
                spread = tuple(f"{spread_prefix}{n:06d}" for n in range(1, args.vouchers + 1))
                for name, protocol in (
                    ("redeem_spread_32", "grpc"),
                    ("list_32", "grpc_list"),
                    ("redeem_then_list_32", "grpc_redeem_then_list"),
                ):
                    scenario = Scenario(name, protocol, direct, api_key, spread, 32, args.cluster_duration,
                                        args.warmup)  # fmt: skip
                    before = metrics_scrape.scrape(ports)
                    children = list(stack.child_pids().values())
                    busy_before = _stack_cpu_seconds(children)
                    row, _ = run_scenario(scenario, server_pids, ports)
                    busy = _stack_cpu_seconds(children) - busy_before
                    scraped = metrics_scrape.delta(metrics_scrape.scrape(ports), before)
                    handled = metrics_scrape.total(scraped, RPC_REQUESTS)
                    reads = metrics_scrape.total(scraped, READS)
                    replica_reads = metrics_scrape.total(scraped, READS, target="replica")
                    cluster_row = ClusterRow(
                        setup=setup,
                        scenario=name,
                        throughput=row.throughput,
                        p50_ms=row.p50_ms,
                        p99_ms=row.p99_ms,
                        errors=row.errors,
                        api_cpu_us=row.cpu_us_per_op,
                        stack_cpu_us=busy / handled * 1e6 if handled else float("nan"),
                        replica_share=replica_reads / reads if reads else None,
                    )
                    rows.append(cluster_row)
                    print(f"  [{setup}] {name}: {row.throughput:,.0f}/s p99 {row.p99_ms:.1f} ms, API "
                          f"{row.cpu_us_per_op:,.0f} µs, whole stack {cluster_row.stack_cpu_us:,.0f} µs CPU per request"
                          + (f", {cluster_row.replica_share:.0%} of list reads on the replica"
                             if cluster_row.replica_share is not None else ""),
                          flush=True)  # fmt: skip
            finally:
                stack.stop()
    return rows


def format_table(rows: list[ClusterRow]) -> str:
    lines = [
        "| setup | scenario | throughput/s | p50 ms | p99 ms | errors | API CPU µs/request | stack CPU µs/request "
        "| list reads on the replica |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        share = "" if row.replica_share is None else f"{row.replica_share:.0%}"
        lines.append(
            f"| {row.setup} | {row.scenario} | {row.throughput:,.0f} | {row.p50_ms:.1f} | {row.p99_ms:.1f} "
            f"| {row.errors} | {row.api_cpu_us:,.0f} | {row.stack_cpu_us:,.0f} | {share} |"
        )
    return "\n".join(lines)


NOTE = (
    "The cluster run (`bench/cluster_run.py`): one API server on the primary alone, then two API server replicas\n"
    "with a streaming PostgreSQL read replica (lists read from it; a read carrying a commit position waits up to\n"
    "50 ms for it or runs on the primary) on a Redis Cluster of three masters with a replica each\n"
    "(`VAUCHFLOW_DEV_REDIS=single`: one Redis). On this\n"
    "machine every process shares the same few cores: a second API server and a standby replaying WAL compete\n"
    "with the first for them, so throughput cannot grow here and may fall. CPU per request is the comparable\n"
    "figure: `API CPU` is the API server processes' CPU time per request they handled, `stack CPU` that of\n"
    "every process of the stack (PostgreSQL and its replica with their backends, Redis, Envoy, the other\n"
    "services; not the load generator), i.e. what a request costs the whole deployment, whatever else runs on\n"
    "the machine. `redeem_then_list` counts both of its requests.\n"
)
