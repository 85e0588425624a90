"""The benchmark still runs end to end (tiny durations): every scenario, both pgbench ceilings (one redemption
per transaction, and batches of the sizes the server formed), the webhook ceilings, the CPU-per-operation figures
and the correctness check. Speed itself is measured by `make bench`, never asserted by a test."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _row(stdout: str, scenario: str) -> list[str]:
    """The cells of a scenario's row in the main table (scenario, throughput, p50, p99, errors, vs ceiling,
    vs batched ceiling, server CPU µs/op, loadgen CPU, server CPU)."""
    line = next(line for line in stdout.splitlines() if line.startswith(f"| {scenario} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def _number(cell: str) -> float:
    return float(cell.replace(",", "").split()[0])


@pytest.fixture(scope="module")
def bench_output() -> str:
    """One tiny run for every test here: the benchmark takes a minute or two even at these durations."""
    result = subprocess.run(
        [
            sys.executable,
            "bench/run.py",
            "--duration",
            "0.5",
            "--warmup",
            "0.2",
            "--vouchers",
            "5",
            "--no-write",
            "--generation-count",
            "1000",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_benchmark_runs_and_checks_correctness(bench_output: str):
    out = bench_output
    assert "Correctness: correct" in out
    scenarios = ("grpc_spread_32", "rest_spread_32", "grpc_hot_100", "pg_sold_out_100", "flash_sold_out_100",
                 "dashboard_list_100",
                 "pgbench_spread_32", "pgbench_hot_100")  # fmt: skip
    for scenario in scenarios:
        assert re.search(rf"\| {scenario} \| [\d,]+ \|", out), scenario
    assert re.search(r"\d\.\d\d × pgbench_spread_32", out)
    assert re.search(r"\| flash_sold_out_100 \| [\d,]+ \|.*\d\.\d\d × pg_sold_out_100", out)
    assert re.search(r"Sold-out flash sale: the gate refused [\d,]+ requests from Redis, admitted 0", out)
    # The MCP rows, beside the REST redemption they compare with; MCP through Envoy, as agents reach it.
    # Both the per-request revision (2026-07-28, the SDK client's default) and the newest handshake revision.
    mcp_rows = ("mcp_initialize_serial", "rest_redeem_serial", "mcp_redeem_serial", "mcp_redeem_serial_2025_11_25")
    for scenario in mcp_rows:
        assert re.search(rf"\| {scenario} \| [\d,]+ \| [\d.]+ \| [\d.]+ \| 0 \|", out), scenario
    assert re.search(r"MCP \(through Envoy\): initialize p50 .* in 2026-07-28 \([+-][\d.]+ ms over REST", out)
    # Campaigns (issue 17): codes without campaign-wide limits beside plain vouchers, with one beside the hot
    # voucher, and the generation of codes as one operation.
    # Campaign codes against plain vouchers measured in turns with them (the row the ratio names).
    assert re.search(r"\| grpc_spread_32_in_turns \| [\d,]+ \|", out)
    assert re.search(r"\| grpc_campaign_spread_32 \| [\d,]+ \|.*\d\.\d\d × grpc_spread_32_in_turns", out)
    assert re.search(r"\| grpc_campaign_limit_100 \| [\d,]+ \|.*\d\.\d\d × grpc_hot_100", out)
    assert re.search(r"Code generation: 1,000 codes in one operation in [\d.]+ s", out)


def test_benchmark_reports_batched_ceiling_webhook_ceilings_and_cpu_per_operation(bench_output: str):
    out = bench_output

    # The server formed batches, and pgbench ran the batch statement at their sizes: positive redemptions/s.
    assert re.search(r"\| grpc_spread_100 \| [\d,]+ \| [\d.]+ \| ≤\d+ \| ≤\d+ \| ≤\d+ \|", out)
    batched = re.findall(r"^\| (pgbench_batch_(?:spread|hot)_\d+x\d+) \| ([\d,]+) \|", out, re.MULTILINE)
    assert batched
    assert all(_number(rate) > 0 for _, rate in batched)
    # Redemption rows stand beside both ceilings, each labelled.
    spread = _row(out, "grpc_spread_100")
    assert re.fullmatch(r"\d+\.\d\d × pgbench_spread_32", spread[5])
    assert re.fullmatch(r"\d+\.\d\d × pgbench_batch_spread_\d+x\d+", spread[6])

    # Server CPU per operation: a trivial RPC and a redemption, both measured and positive.
    assert _number(_row(out, "grpc_liveness_32 (loadgen check)")[7]) > 0
    assert _number(spread[7]) > 0
    match = re.search(r"Server CPU per request: trivial RPC ([\d,]+) µs, redemption ([\d,]+) µs", out)
    assert match and _number(match[1]) > 0 and _number(match[2]) > 0

    # Webhooks: both ceilings measured, the overload expressed as a share of the lower one. (Not "every event
    # delivered": that depends on a drain window, and this test asserts no timing.)
    assert _number(_row(out, "webhook_receiver_alone (ceiling)")[1]) > 0
    assert _number(_row(out, "webhook_relay_alone (ceiling)")[1]) > 0
    overload = _row(out, next(m for m in re.findall(r"^\| (webhook_delivery_overload_\d+) \|", out, re.MULTILINE)))
    assert _number(overload[1]) > 0
    assert re.fullmatch(r"\d+\.\d\d × webhook_(receiver|relay)_alone \(ceiling\)", overload[5])
    assert _number(overload[7]) > 0
    # Fairness: tenant B's webhook lag beside a tenant with black-holed endpoints, against the lag alone.
    assert _row(out, "webhook_lag_alone_10 (ceiling)")
    beside = _row(out, "webhook_lag_beside_black_holed_tenant_10")
    assert re.fullmatch(r"\d+\.\d\d × p50 of the lag alone \(×, lower is better\)", beside[5])
    assert re.search(r"Webhook fairness: tenant A \(STARTER, five black-holed endpoints, 1,500 deliveries queued\) "
                     r"had \d+ attempts hanging .*tenant B's webhook lag p50 [\d,]+ ms", out)  # fmt: skip


def test_benchmark_cluster_run_reports_cpu_per_request_and_replica_reads(bench_output: str):
    out = bench_output
    setups = ("1 API, primary only", "2 API + PG read replica, Redis cluster")
    for setup in setups:
        for scenario in ("redeem_spread_32", "list_32", "redeem_then_list_32"):
            line = next(
                line for line in out.splitlines() if line.startswith(f"| {setup}") and f"| {scenario} |" in line
            )
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            assert _number(cells[2]) > 0 and cells[5] == "0", line  # throughput, no errors
            assert _number(cells[6]) > 0 and _number(cells[7]) >= _number(cells[6]), line  # API ≤ whole stack CPU
    # With a replica, list reads are served there (the share is measured, not assumed).
    replicated_list = next(
        line for line in out.splitlines() if line.startswith(f"| {setups[1]}") and "| list_32 |" in line
    )
    assert re.search(r"\| \d+% \|$", replicated_list), replicated_list
