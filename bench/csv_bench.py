"""CSV at a million rows: import time and export time through Envoy (REST), first-byte latency, and the API
server's peak resident memory during each (VmHWM, reset before each step through /proc/PID/clear_refs).

    .venv/bin/python bench/csv_bench.py            # 1,000,000 rows
    .venv/bin/python bench/csv_bench.py --rows 100000

Starts a private dev stack (one API server replica), creates an ENTERPRISE tenant (no voucher quota) and a
campaign, seeds as many redemptions with the owner's SQL, then measures, in this order: the redemption export,
the import of as many codes (a streamed chunked upload), the export of the campaign's codes.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import grpc

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from run import start_stack  # noqa: E402

from vauchflow.v1 import tenant_pb2, tenant_service_pb2, tenant_service_pb2_grpc  # noqa: E402


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


async def seed(owner_dsn: str, tenant_id: str, campaign_id: str, rows: int) -> None:
    conn = await asyncpg.connect(owner_dsn)
    try:
        await conn.execute(
            "INSERT INTO campaigns (tenant_id, id, name, percent_off, status) "
            "VALUES ($1, $2, 'CSV bench', 10, 'ACTIVE')",
            uuid.UUID(tenant_id),
            uuid.UUID(campaign_id),
        )
        await conn.execute(
            """
            WITH v AS (
                INSERT INTO vouchers (tenant_id, id, code, percent_off, status)
                VALUES ($1, gen_random_uuid(), 'CSV-BENCH', 10, 'ACTIVE') RETURNING id
            )
            INSERT INTO redemptions (tenant_id, id, voucher_id, voucher_code, customer_id, order_id, order_amount,
                                     currency, discount_amount, status, create_time)
            SELECT $1, gen_random_uuid(), v.id, 'CSV-BENCH', 'customer-' || n, 'order-' || n, 1000 + n, 'EUR', 100,
                   'SUCCEEDED', timestamptz '2026-01-01 00:00:00+00' + n * interval '1 millisecond'
            FROM v, generate_series(1, $2) AS n
            """,
            uuid.UUID(tenant_id),
            rows,
        )
        await conn.execute("ANALYZE redemptions")
    finally:
        await conn.close()


def download(host: str, path: str, key: str) -> tuple[float, float, int]:
    """(seconds to the first bytes, seconds in all, bytes)."""
    connection = http.client.HTTPConnection(host, timeout=600)
    started = time.perf_counter()
    connection.request("GET", path, headers={"authorization": f"Bearer {key}"})
    response = connection.getresponse()
    assert response.status == 200, response.read()[:500]
    first = response.read1(65536)
    first_after = time.perf_counter() - started
    size = len(first)
    while chunk := response.read1(1 << 20):
        size += len(chunk)
    connection.close()
    return first_after, time.perf_counter() - started, size


def code_file(rows: int) -> Iterator[bytes]:
    yield b"\xef\xbb\xbfcode\r\n"
    batch = 10_000
    for start in range(0, rows, batch):
        yield b"".join(b"IMPORT-%08d\r\n" % n for n in range(start, min(rows, start + batch)))


def upload(host: str, path: str, key: str, rows: int) -> tuple[float, dict]:
    connection = http.client.HTTPConnection(host, timeout=900)
    started = time.perf_counter()
    headers = {"authorization": f"Bearer {key}", "content-type": "text/csv"}
    connection.request("POST", path, body=code_file(rows), headers=headers, encode_chunked=True)
    response = connection.getresponse()
    body = json.loads(response.read())
    assert response.status == 200, body
    connection.close()
    return time.perf_counter() - started, body


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vauchflow-csv-bench-") as data_dir:
        stack = start_stack(Path(data_dir), replicas=1)
        try:
            admin_token = stack.operator_token_path.read_text().strip()
            with grpc.insecure_channel(stack.grpc_target) as channel:
                created = tenant_service_pb2_grpc.TenantServiceStub(channel).CreateTenant(
                    tenant_service_pb2.CreateTenantRequest(name="CSV bench", plan=tenant_pb2.PLAN_ENTERPRISE),
                    metadata=[("authorization", f"Bearer {admin_token}")],
                )
            key, campaign = created.secret, str(uuid.uuid4())
            asyncio.run(seed(stack.owner_dsn, created.tenant.id, campaign, args.rows))
            pid = stack.child_pids()["api-server"]
            host = f"127.0.0.1:{stack.config.public_port}"
            baseline = peak_rss_mib(pid)

            reset_peak(pid)
            first, total, size = download(host, "/v1/redemptions:export", key)
            print(f"redemption export: {args.rows:,} rows, {size / 2**20:.1f} MiB, first bytes {first * 1000:.0f} ms, "
                  f"all {total:.1f} s ({args.rows / total:,.0f} rows/s), server peak RSS {peak_rss_mib(pid):.0f} MiB "
                  f"(before: {baseline:.0f} MiB)")  # fmt: skip

            reset_peak(pid)
            took, report = upload(host, f"/v1/campaigns/{campaign}/codes:import", key, args.rows)
            imported, read = int(report["imported_count"]), int(report["row_count"])
            print(f"code import: {imported:,} of {read:,} rows in {took:.1f} s ({args.rows / took:,.0f} rows/s), "
                  f"server peak RSS {peak_rss_mib(pid):.0f} MiB")  # fmt: skip

            reset_peak(pid)
            first, total, size = download(host, f"/v1/campaigns/{campaign}/codes:export", key)
            print(f"code export: {args.rows:,} codes, {size / 2**20:.1f} MiB, first bytes {first * 1000:.0f} ms, "
                  f"all {total:.1f} s, server peak RSS {peak_rss_mib(pid):.0f} MiB")  # fmt: skip
        finally:
            stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
