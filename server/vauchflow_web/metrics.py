"""Prometheus metrics of the web service, on their own port (VAUCHFLOW_WEB_METRICS_PORT, default 9468).

Labels are bounded: the route's template (never the path a caller typed), the method and the status code.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from vauchflow_core.rpc.metrics import LATENCY_BUCKETS


class WebMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.http_requests = Counter(
            "vauchflow_web_requests",
            "HTTP requests the web service answered, by route template, method and status code.",
            ["route", "method", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "vauchflow_web_request_duration_seconds",
            "Time to answer an HTTP request (to the start of the response), by route template.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.mcp_calls = Counter(
            "vauchflow_web_mcp_calls",
            "MCP requests, by JSON-RPC method (or 'http' for a request refused before it reached MCP), tool "
            "(tools/call only), outcome (ok, tool_error, protocol_error, refused) and reason (the API's ErrorReason "
            "or the JSON-RPC error code).",
            ["method", "tool", "outcome", "reason"],
            registry=r,
        )
        self.mcp_duration = Histogram(
            "vauchflow_web_mcp_duration_seconds",
            "Time to answer an MCP request, API calls included, by JSON-RPC method.",
            ["method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )

    def serve(self, host: str, port: int) -> None:
        """Serves /metrics from a daemon thread (prometheus_client's own HTTP server)."""
        start_http_server(port, addr=host, registry=self.registry)
