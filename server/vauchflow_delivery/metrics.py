"""Prometheus metrics of the delivery service, served on their own port.

Counters and the latency histogram are this process's; the backlog gauges and the 24-hour delivery ratio are read
from the database periodically, so every replica reports the same, whole-platform values.
"""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from vauchflow_core.wakeups import wait_any
from vauchflow_delivery.store import DeliveryStore, StoreUnavailable

log = logging.getLogger(__name__)

# Delivery outcomes (label values of vauchflow_webhook_deliveries_total).
DELIVERED = "delivered"
RETRYING = "retrying"
FAILED = "failed"
ENDPOINT_DISABLED = "endpoint_disabled"


class DeliveryMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.deliveries = Counter(
            "vauchflow_webhook_deliveries",
            "Delivery attempts by outcome: delivered, retrying (failed, will retry), failed (retries exhausted), "
            "endpoint_disabled (the attempt disabled its endpoint).",
            ["outcome"],
            registry=r,
        )
        for outcome in (DELIVERED, RETRYING, FAILED, ENDPOINT_DISABLED):
            self.deliveries.labels(outcome)
        self.attempt_latency = Histogram(
            "vauchflow_webhook_attempt_duration_seconds",
            "Time from sending a delivery attempt to its response or error.",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.time_to_delivery = Histogram(
            "vauchflow_webhook_time_to_delivery_seconds",
            "Time from a delivery's creation to its successful attempt.",
            buckets=(1, 5, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 24 * 3600),
            registry=r,
        )
        self.events_relayed = Counter(
            "vauchflow_outbox_events_relayed", "Outbox events the relay turned into deliveries.", registry=r
        )
        self.pruned = Counter(
            "vauchflow_retention_pruned",
            "Rows deleted by retention: idempotency_keys, events (with their deliveries and attempts).",
            ["kind"],
            registry=r,
        )
        self.in_flight = Gauge("vauchflow_webhook_attempts_in_flight", "Attempts this process is sending.", registry=r)
        self.outbox_backlog = Gauge(
            "vauchflow_outbox_backlog_events", "Committed outbox events the relay has not passed yet.", registry=r
        )
        self.outbox_lag = Gauge(
            "vauchflow_outbox_lag_seconds", "Age of the oldest outbox event the relay has not passed yet.", registry=r
        )
        self.pending = Gauge("vauchflow_webhook_deliveries_pending", "Deliveries waiting for an attempt.", registry=r)
        self.delivered_within_hour_ratio = Gauge(
            "vauchflow_webhook_delivered_within_1h_ratio",
            "Of the deliveries created in the last 24 hours whose first hour is decided (delivered, failed, or "
            "older than an hour), the share delivered within 1 hour; 1 when there are none.",
            registry=r,
        )
        self.decided_24h = Gauge(
            "vauchflow_webhook_deliveries_decided_24h",
            "The denominator of vauchflow_webhook_delivered_within_1h_ratio.",
            registry=r,
        )

    def serve(self, host: str, port: int):
        """Starts the /metrics HTTP server (a daemon thread); returns (server, thread) for shutdown."""
        return start_http_server(port, addr=host, registry=self.registry)

    async def refresh_from_database(self, store: DeliveryStore) -> None:
        snapshot = await store.backlog()
        self.outbox_backlog.set(snapshot.outbox_events)
        self.outbox_lag.set(snapshot.outbox_lag_seconds)
        self.pending.set(snapshot.pending_deliveries)
        self.decided_24h.set(snapshot.decided_24h)
        ratio = snapshot.delivered_within_hour_24h / snapshot.decided_24h if snapshot.decided_24h else 1.0
        self.delivered_within_hour_ratio.set(ratio)

    async def run_refresher(self, store: DeliveryStore, stopping: asyncio.Event, interval: float) -> None:
        while not stopping.is_set():
            try:
                await self.refresh_from_database(store)
            except StoreUnavailable as error:
                log.warning(
                    "metrics refresh failed", extra={"action": "metrics_refresh_failed", "error_type": str(error)}
                )
            await wait_any(stopping, timeout=interval)
