"""The benchmark still runs end to end (tiny durations): every scenario, the pgbench ceiling, the correctness
check. Speed itself is measured by `make bench`, never asserted by a test."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_benchmark_runs_and_checks_correctness():
    result = subprocess.run(
        [sys.executable, "bench/run.py", "--duration", "0.5", "--warmup", "0.2", "--vouchers", "5", "--no-write"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Correctness: correct" in result.stdout
    scenarios = ("grpc_spread_32", "rest_spread_32", "grpc_hot_100", "pg_sold_out_100", "flash_sold_out_100",
                 "pgbench_spread_32", "pgbench_hot_100")  # fmt: skip
    for scenario in scenarios:
        assert re.search(rf"\| {scenario} \| [\d,]+ \|", result.stdout), scenario
    assert re.search(r"\d\.\d\d × pgbench_spread_32", result.stdout)
    assert re.search(r"\| flash_sold_out_100 \| [\d,]+ \|.*\d\.\d\d × pg_sold_out_100", result.stdout)
    assert re.search(r"Sold-out flash sale: the gate refused [\d,]+ requests from Redis, admitted 0", result.stdout)
    # The MCP rows, beside the REST redemption they compare with; MCP through Envoy, as agents reach it.
    for scenario in ("mcp_initialize_serial", "rest_redeem_serial", "mcp_redeem_serial"):
        assert re.search(rf"\| {scenario} \| [\d,]+ \| [\d.]+ \| [\d.]+ \| 0 \|", result.stdout), scenario
    assert "MCP (through Envoy): initialize p50" in result.stdout
