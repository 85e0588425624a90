"""Prometheus metrics of the API server, served on their own port (VAUCHFLOW_METRICS_PORT): the RPC edge's
(vauchflow_core.rpc.metrics) plus redemption outcomes, redemption batch sizes, the flash-sale gate and the read
replica's lag and routing."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from vauchflow_core.rpc.metrics import RpcMetrics, method_name

__all__ = ["ServerMetrics", "method_name"]

# One bucket per size while batches are small (the usual case), coarser up to the default maximum of 64, so the
# benchmark can read the median and p90 sizes off the histogram.
BATCH_SIZE_BUCKETS = (1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64)


class ServerMetrics(RpcMetrics):
    def __init__(self, registry: CollectorRegistry | None = None):
        super().__init__(registry)
        r = self.registry
        self.redemptions = Counter(
            "vauchflow_redemptions",
            "Redeem outcomes: SUCCEEDED or the refusal reason (VOUCHER_EXHAUSTED, ...).",
            ["outcome"],
            registry=r,
        )
        self.redemption_batch_size = Histogram(
            "vauchflow_redemption_batch_size",
            "Redeems taken into one batch transaction (1 when nothing else was waiting).",
            buckets=BATCH_SIZE_BUCKETS,
            registry=r,
        )
        self.flash_sale_gate = Counter(
            "vauchflow_flash_sale_gate",
            "Flash-sale pre-gate decisions: admitted, rejected (sold out, PostgreSQL untouched), returned (a unit "
            "given back after a failed or refused PostgreSQL step, or a rollback), bypassed (Redis unreachable).",
            ["decision"],
            registry=r,
        )
        self.flash_sale_corrections = Counter(
            "vauchflow_flash_sale_reconciliation_corrections",
            "Flash-sale counters the reconciliation found drifted from PostgreSQL and reset.",
            registry=r,
        )
        # Read replica (db/read_replica.py).
        self.db_reads = Counter(
            "vauchflow_db_reads",
            "List reads by where they ran (replica or primary) and why: any_position / at_position (replica), "
            "out_of_rotation, behind_position (the request's commit position not replayed in time), "
            "replica_unavailable: unreachable or every connection busy (primary). Counted only with a replica.",
            ["target", "reason"],
            registry=r,
        )
        self.db_replica_lag_seconds = Gauge(
            "vauchflow_db_replica_lag_seconds",
            "How long ago the primary wrote the oldest WAL the read replica has not replayed (0: caught up).",
            registry=r,
        )
        self.db_replica_lag_bytes = Gauge(
            "vauchflow_db_replica_lag_bytes",
            "WAL the read replica has not replayed yet, in bytes.",
            registry=r,
        )
        self.db_replica_in_rotation = Gauge(
            "vauchflow_db_replica_in_rotation",
            "1 while the read replica serves reads; 0 while it lags too far behind or is unreachable.",
            registry=r,
        )
        self.refusal_count_failures = Counter(
            "vauchflow_refusal_count_failures",
            "Refused redeems that could not be counted in Redis for the usage summary (the redeem failed open).",
            registry=r,
        )
        self.code_imports = Gauge(
            "vauchflow_code_imports_in_progress",
            "CSV code imports in progress, by phase: upload (spooling rows, no connection held), waiting (for one "
            "of the server's import slots), transaction (copying and inserting).",
            ["phase"],
            registry=r,
        )
        self.incidents_overdue = Gauge(
            "vauchflow_status_incidents_overdue",
            "Open status-page incidents whose last update is older than the update cadence (30 minutes).",
            registry=r,
        )
