"""The ceiling: pgbench (shipped with the embedded PostgreSQL) running the SQL the server runs for one
redemption, on the same database, as the same role, with row-level security and the tenant setting."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

# One redemption as the server does it: the API key lookup, then one transaction with the tenant setting, the
# conditional UPDATE, the redemption row and the outbox event.
REDEMPTION_SCRIPT = r"""
\set n random(1, :voucher_count)
SELECT key_id FROM authenticate_api_key(decode(:key_hash, 'hex'));
BEGIN;
SELECT set_config('app.tenant_id', :tenant, true);
UPDATE vouchers SET redemption_count = redemption_count + 1, update_time = now()
  WHERE tenant_id = (:tenant)::uuid AND code = :prefix || lpad((:n)::text, 6, '0') AND status = 'ACTIVE'
    AND (max_redemptions IS NULL OR redemption_count < max_redemptions)
    AND (valid_from IS NULL OR valid_from <= now()) AND (valid_until IS NULL OR now() < valid_until)
  RETURNING id AS voucher_id, code AS voucher_code \gset
INSERT INTO redemptions (tenant_id, id, voucher_id, voucher_code, customer_id, order_id, order_amount, currency,
                         discount_amount, status, metadata)
  VALUES ((:tenant)::uuid, gen_random_uuid(), (:voucher_id)::uuid, :voucher_code, '', 'pgbench', 10000, 'EUR', 1000,
          'SUCCEEDED', '{}');
INSERT INTO outbox_events (tenant_id, event_id, type, payload)
  VALUES ((:tenant)::uuid, gen_random_uuid(), 'redemption.succeeded', '{"source": "pgbench"}');
END;
"""


@dataclass(frozen=True)
class PgbenchResult:
    name: str
    tps: float
    p50_ms: float
    p99_ms: float
    transactions: int
    failed: int


def run_pgbench(
    *,
    name: str,
    bin_dir: Path,
    app_dsn: str,
    tenant_id: str,
    key_hash_hex: str,
    code_prefix: str,
    voucher_count: int,
    clients: int,
    duration: float,
) -> PgbenchResult:
    parts = urlsplit(app_dsn)
    env = {
        **os.environ,
        "PGHOST": parts.hostname or "127.0.0.1",
        "PGPORT": str(parts.port or 5432),
        "PGUSER": unquote(parts.username or ""),
        "PGPASSWORD": unquote(parts.password or ""),
        "PGDATABASE": parts.path.lstrip("/"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "redeem.sql"
        script.write_text(REDEMPTION_SCRIPT)
        result = subprocess.run(
            [
                str(bin_dir / "pgbench"),
                "--no-vacuum",
                "--protocol=prepared",
                f"--client={clients}",
                "--jobs=2",
                f"--time={max(1, round(duration))}",
                f"--file={script}",
                f"--define=tenant={tenant_id}",
                f"--define=key_hash={key_hash_hex}",
                f"--define=prefix={code_prefix}",
                f"--define=voucher_count={voucher_count}",
                "--log",
                f"--log-prefix={tmp}/tx",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=duration + 120,
            check=False,
        )
        if result.returncode not in (0, 2):  # 2: some transactions failed (e.g. a limit reached)
            raise RuntimeError(f"pgbench failed ({result.returncode}): {result.stderr[-2000:]}")
        latencies = sorted(
            int(line.split()[2]) / 1000
            for log in Path(tmp).glob("tx*")
            for line in log.read_text().splitlines()
            if line.strip()
        )
    tps = float(re.search(r"tps = ([\d.]+)", result.stdout)[1])
    processed = int(re.search(r"number of transactions actually processed: (\d+)", result.stdout)[1])
    failed_match = re.search(r"number of failed transactions: (\d+)", result.stdout)
    return PgbenchResult(
        name=name,
        tps=tps,
        p50_ms=_percentile(latencies, 0.50),
        p99_ms=_percentile(latencies, 0.99),
        transactions=processed,
        failed=int(failed_match[1]) if failed_match else 0,
    )


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]
