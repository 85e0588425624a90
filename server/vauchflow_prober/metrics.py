"""Prometheus metrics of the prober: per component, whether its last check passed and how long checks take.

A component whose surface is not deployed yet has no success sample at all (it is neither up nor down) and shows
in vauchflow_probe_not_deployed instead, so an alert on vauchflow_probe_success == 0 never fires for it.
"""

from __future__ import annotations

import contextlib
import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from vauchflow_core.rpc.metrics import LATENCY_BUCKETS


class ProberMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.success = Gauge(
            "vauchflow_probe_success",
            "1 when the component's last check passed, 0 when it failed; absent while the surface is not deployed.",
            ["component"],
            registry=r,
        )
        self.not_deployed = Gauge(
            "vauchflow_probe_not_deployed",
            "1 while the component's surface does not exist yet (reported as such, never as operational).",
            ["component"],
            registry=r,
        )
        self.duration = Histogram(
            "vauchflow_probe_duration_seconds",
            "Time a check took, by component (for redemption: the synthetic redeem call).",
            ["component"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.report_failures = Counter(
            "vauchflow_probe_report_failures",
            "Check results the prober could not hand to the API's StatusService (it keeps probing).",
            registry=r,
        )

    def record(self, component: str, *, deployed: bool, passed: bool, seconds: float | None) -> None:
        if not deployed:
            self.not_deployed.labels(component).set(1)
            with contextlib.suppress(KeyError):  # it never had a sample
                self.success.remove(component)
            return
        self.not_deployed.labels(component).set(0)
        self.success.labels(component).set(1 if passed else 0)
        if seconds is not None:
            self.duration.labels(component).observe(seconds)

    def serve(self, host: str, port: int) -> tuple[WSGIServer, threading.Thread]:
        """Starts the /metrics HTTP server (a daemon thread); returns (server, thread) for shutdown."""
        return start_http_server(port, addr=host, registry=self.registry)
