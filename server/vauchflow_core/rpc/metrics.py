"""Prometheus metrics every gRPC service records at its edge: RPC counts and latency, rate limiting, Redis errors.

One instance per process, passed to whatever records into it; nothing registers globally, so tests can build as
many as they like. Label values are bounded sets (RPC names, status codes, plans) — never tenant ids, voucher
codes or anything a caller chooses freely.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

# Buckets around the status page's redemption target (p99 < 200 ms).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0)


class RpcMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.rpc_requests = Counter(
            "vauchflow_rpc_requests", "RPCs handled, by method and gRPC status code.", ["method", "code"], registry=r
        )
        self.rpc_duration = Histogram(
            "vauchflow_rpc_duration_seconds",
            # The code too: refusals (UNAUTHENTICATED, RATE_LIMITED) answer in microseconds and would otherwise
            # blur the latency of the calls that did the work.
            "RPC handling time in the server, by method and gRPC status code.",
            ["method", "code"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.redis_errors = Counter(
            "vauchflow_redis_errors", "Redis calls that failed, by use (flash_sale, rate_limit).", ["use"], registry=r
        )
        self.rate_limited = Counter(
            "vauchflow_rate_limited", "Requests refused as RATE_LIMITED, by plan.", ["plan"], registry=r
        )
        self.rate_limit_fail_open = Counter(
            "vauchflow_rate_limit_fail_open",
            "Requests let through unchecked because Redis was unreachable (limits fail open).",
            registry=r,
        )

    def serve(self, host: str, port: int) -> None:
        """Serves /metrics from a daemon thread (prometheus_client's own HTTP server)."""
        start_http_server(port, addr=host, registry=self.registry)


def method_name(full_method: str) -> str:
    """'/vauchflow.v1.VoucherService/GetVoucher' → 'VoucherService/GetVoucher' (a bounded label)."""
    return full_method.rsplit(".", 1)[-1] if full_method.startswith("/") else full_method
