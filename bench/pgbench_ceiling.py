"""The ceilings: pgbench (shipped with the embedded PostgreSQL) running the SQL the server runs, on the same
database, as the same role, with row-level security and the tenant setting.

Two ceilings, because the server has two paths: one redemption per transaction (the path alone, and every
redemption when nothing else is waiting), and a batch (under load, concurrent redeems of a tenant share one
transaction). The batched ceiling runs the server's own `vouchers_for_batch` and `redeem_batch` statements, read
from the shared query files rather than copied, with arrays of the batch sizes the server formed in the same run.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from vauchflow_core.db.queries import QUERIES

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


# The values a batch of :batch redeems carries, built the way the engine builds them (fresh ids, one event per
# redemption, the codes the load generator picks at random) and passed to the server's statements as arrays.
# It runs after BEGIN (row-level security needs the tenant) but reads without locking, like the engine's work
# between statements; it is one round trip more than the server makes, so this ceiling errs low, not high.
BATCH_VALUES = r"""
WITH picks AS (
    SELECT n, :prefix || lpad((1 + floor(random() * :voucher_count))::int::text, 6, '0') AS code
    FROM generate_series(1, :batch) AS n
), chosen AS (
    SELECT p.n, v.id, v.code FROM picks AS p JOIN vouchers AS v ON v.tenant_id = (:tenant)::uuid AND v.code = p.code
), units AS (
    SELECT id, count(*)::int AS units FROM chosen GROUP BY id
)
SELECT (SELECT array_agg(DISTINCT code) FROM chosen) AS codes,
       (SELECT array_agg(id ORDER BY id) FROM units) AS unit_ids,
       (SELECT array_agg(units ORDER BY id) FROM units) AS units,
       array_agg(gen_random_uuid() ORDER BY n) AS redemption_ids,
       array_agg(id ORDER BY n) AS voucher_ids,
       array_agg(code ORDER BY n) AS voucher_codes,
       array_agg(''::text ORDER BY n) AS customer_ids,
       array_agg('pgbench-' || n ORDER BY n) AS order_ids,
       array_agg(10000::bigint ORDER BY n) AS order_amounts,
       array_agg('EUR'::text ORDER BY n) AS currencies,
       array_agg(1000::bigint ORDER BY n) AS discount_amounts,
       array_agg('{}'::jsonb ORDER BY n) AS metadata,
       array_agg(gen_random_uuid() ORDER BY n) AS event_ids,
       array_agg('redemption.succeeded'::text ORDER BY n) AS event_types,
       array_agg((:payload)::jsonb ORDER BY n) AS payloads
FROM chosen \gset
"""

# The server's parameters by position, as pgbench variables; a parameter the statement does not cast gets its type.
VOUCHERS_FOR_BATCH_ARGS = {1: ("tenant", "uuid"), 2: ("codes", "text[]")}
REDEEM_BATCH_ARGS = {
    1: ("tenant", "uuid"), 2: ("unit_ids", "uuid[]"), 3: ("units", "int[]"), 4: ("redemption_ids", "uuid[]"),
    5: ("voucher_ids", "uuid[]"), 6: ("voucher_codes", "text[]"), 7: ("customer_ids", "text[]"),
    8: ("order_ids", "text[]"), 9: ("order_amounts", "bigint[]"), 10: ("currencies", "text[]"),
    11: ("discount_amounts", "bigint[]"), 12: ("metadata", "jsonb[]"), 13: ("event_ids", "uuid[]"),
    14: ("event_types", "text[]"), 15: ("payloads", "jsonb[]"), 16: ("operation", "text"), 17: ("released", "text[]"),
}  # fmt: skip


def _with_variables(statement: str, args: dict[int, tuple[str, str]]) -> str:
    """The statement with $n replaced by its pgbench variable (pgbench numbers parameters itself)."""

    def variable(match: re.Match[str]) -> str:
        name, sql_type = args[int(match[1])]
        return f"(:{name}){match[2] or '::' + sql_type}"

    return re.sub(r"\$(\d+)(::[\w\[\]]+)?", variable, statement)


def batch_script(tenant_id: str) -> str:
    """One batch transaction as the server sends it: begin as the tenant, lock the batch's vouchers, write the
    batch in one statement, commit."""
    begin = QUERIES["begin_as_tenant"].format(tenant_id=tenant_id)
    return (
        "\n".join(f"{part.strip()};" for part in begin.split(";") if part.strip())
        + "\n"
        + BATCH_VALUES.strip()
        + "\n"
        + _with_variables(QUERIES["vouchers_for_batch"], VOUCHERS_FOR_BATCH_ARGS)
        + ";\n"
        + _with_variables(QUERIES["redeem_batch"], REDEEM_BATCH_ARGS)
        + ";\n"
        + QUERIES["commit"]
        + ";\n"
    )


@dataclass(frozen=True)
class PgbenchResult:
    name: str
    tps: float  # transactions per second
    p50_ms: float
    p99_ms: float
    transactions: int
    failed: int
    batch_size: int = 1  # redemptions per transaction

    @property
    def redemptions_per_second(self) -> float:
        return self.tps * self.batch_size


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
    """The one-per-transaction ceiling: `clients` connections each redeeming one voucher per transaction."""
    # At least 3 s: pgbench's time includes opening its 32–100 connections, which on a crowded machine can take
    # all of a short (smoke) run and leave no transaction to measure.
    return _run(
        name=name,
        script=REDEMPTION_SCRIPT,
        defines={"tenant": tenant_id, "key_hash": key_hash_hex, "prefix": code_prefix,
                 "voucher_count": str(voucher_count)},
        bin_dir=bin_dir, app_dsn=app_dsn, clients=clients, duration=max(duration, 3.0),
    )  # fmt: skip


def run_batch_pgbench(
    *,
    name: str,
    bin_dir: Path,
    app_dsn: str,
    tenant_id: str,
    code_prefix: str,
    voucher_count: int,
    batch_size: int,
    clients: int,
    duration: float,
    event_payload: str,
) -> PgbenchResult:
    """The batched ceiling: `clients` connections (as many as the server runs batches at once) each writing batches
    of `batch_size` redemptions with the server's statements."""
    result = _run(
        name=name,
        script=batch_script(tenant_id),
        defines={"tenant": tenant_id, "prefix": code_prefix, "voucher_count": str(voucher_count),
                 "batch": str(batch_size), "payload": event_payload, "operation": "RedeemVoucher", "released": "{}"},
        bin_dir=bin_dir, app_dsn=app_dsn, clients=clients, duration=duration,
    )  # fmt: skip
    return PgbenchResult(**{**result.__dict__, "batch_size": batch_size})


def _run(
    *, name: str, script: str, defines: dict[str, str], bin_dir: Path, app_dsn: str, clients: int, duration: float
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
        script_path = Path(tmp) / "script.sql"
        script_path.write_text(script)
        result = subprocess.run(
            [
                str(bin_dir / "pgbench"),
                "--no-vacuum",
                "--protocol=prepared",
                f"--client={clients}",
                f"--jobs={min(clients, 2)}",
                f"--time={max(1, round(duration))}",
                f"--file={script_path}",
                *(f"--define={key}={value}" for key, value in defines.items()),
                "--log",
                f"--log-prefix={tmp}/tx",
            ],
            env=env,
            check=False,  # the return code is judged below: 2 is a partial success
            capture_output=True,
            text=True,
            timeout=duration + 120,
        )
        if result.returncode not in (0, 2):  # 2: some transactions failed (e.g. a limit reached)
            raise RuntimeError(f"pgbench failed ({result.returncode}): {result.stderr[-2000:]}")
        latencies = sorted(
            int(line.split()[2]) / 1000
            for log in Path(tmp).glob("tx*")
            for line in log.read_text().splitlines()
            if line.strip()
        )
    processed_match = re.search(r"number of transactions actually processed: (\d+)", result.stdout)
    if processed_match is None:
        raise RuntimeError(
            f"pgbench reported nothing ({result.returncode}): {result.stdout[-1000:]} {result.stderr[-1000:]}"
        )
    processed = int(processed_match[1])
    tps_match = re.search(r"tps = ([\d.]+)", result.stdout)
    # No rate when nothing completed (a very short run whose connections took the whole time).
    tps = float(tps_match[1]) if tps_match else 0.0
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
