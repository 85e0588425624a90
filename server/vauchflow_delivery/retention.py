"""Retention: what nobody needs any more is deleted, a small batch at a time, so nothing grows forever.

Idempotency keys live 24 hours by default (a retry after that is a new request, as with Stripe). Outbox events,
with their deliveries and attempts, live 30 days by default, and longer while the relay has not passed them or a
delivery still waits to send them. Batches keep each transaction and its locks short; a full batch is followed by
the next at once, a partial one ends the round until the next interval. Every replica may run it: rows are taken
with SKIP LOCKED.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from vauchflow_core.wakeups import wait_any
from vauchflow_delivery.metrics import DeliveryMetrics
from vauchflow_delivery.store import DeliveryStore, StoreUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetentionSettings:
    idempotency_key_seconds: float = 24 * 3600
    event_seconds: float = 30 * 24 * 3600
    interval_seconds: float = 300.0
    batch_size: int = 1000


class Pruner:
    def __init__(self, store: DeliveryStore, metrics: DeliveryMetrics, settings: RetentionSettings):
        self._store = store
        self._metrics = metrics
        self._settings = settings

    async def run(self, stopping: asyncio.Event) -> None:
        log.info("pruner started", extra={"action": "pruner_started"})
        while not stopping.is_set():
            try:
                await self.prune_once(stopping)
            except StoreUnavailable as error:
                log.warning("pruning failed", extra={"action": "prune_failed", "error_type": str(error)})
            await wait_any(stopping, timeout=self._settings.interval_seconds)
        log.info("pruner stopped", extra={"action": "pruner_stopped"})

    async def prune_once(self, stopping: asyncio.Event | None = None) -> tuple[int, int]:
        """One round: batches until a batch comes back short; returns (idempotency keys, events) deleted."""
        settings = self._settings
        keys = await self._drain(
            lambda: self._store.prune_idempotency_keys(settings.idempotency_key_seconds, settings.batch_size), stopping
        )
        events = await self._drain(
            lambda: self._store.prune_events(settings.event_seconds, settings.batch_size), stopping
        )
        self._metrics.pruned.labels("idempotency_keys").inc(keys)
        self._metrics.pruned.labels("events").inc(events)
        if keys or events:
            log.info("pruned", extra={"action": "pruned", "idempotency_keys": keys, "events": events})
        return keys, events

    async def _drain(self, batch: Callable[[], Awaitable[int]], stopping: asyncio.Event | None) -> int:
        total = 0
        while stopping is None or not stopping.is_set():
            deleted = await batch()
            total += deleted
            if deleted < self._settings.batch_size:
                break
        return total
