"""Prometheus metrics of the API server, served on their own port (VAUCHFLOW_METRICS_PORT): the RPC edge's
(vauchflow_core.rpc.metrics) plus redemption outcomes and the flash-sale gate."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from vauchflow_core.rpc.metrics import RpcMetrics, method_name

__all__ = ["ServerMetrics", "method_name"]


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
