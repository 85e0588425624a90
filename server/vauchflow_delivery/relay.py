"""The outbox relay: turns committed outbox events into PENDING deliveries, one per matching enabled endpoint.

Events are read in (transaction_id, id) order, and only from transactions older than every running one, so an
event whose transaction commits after a higher-numbered one is still relayed (DESIGN.md invariant 4). Several
relays may run (one per service replica): the position row is locked with SKIP LOCKED, so one works at a time
and the others find nothing to do.

Nothing wakes the relay: it polls with a read-only query every `poll_seconds` (20 ms by default). Waking it by a
NOTIFY from the writers would serialise their commits (see migration 0005); the poll costs one index probe.
"""

from __future__ import annotations

import asyncio
import logging

from vauchflow_core.wakeups import wait_any
from vauchflow_delivery.metrics import DeliveryMetrics
from vauchflow_delivery.store import DeliveryStore, StoreUnavailable

log = logging.getLogger(__name__)


class OutboxRelay:
    def __init__(
        self,
        store: DeliveryStore,
        metrics: DeliveryMetrics,
        *,
        batch_size: int,
        poll_seconds: float,
        retry_after_error_seconds: float = 1.0,
    ):
        self._store = store
        self._metrics = metrics
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        # After a failure (PostgreSQL down): not every poll interval, which would be 50 attempts and warnings a second.
        self._retry_after_error_seconds = retry_after_error_seconds

    async def run(self, stopping: asyncio.Event) -> None:
        log.info("relay started", extra={"action": "relay_started"})
        while not stopping.is_set():
            wait = self._poll_seconds
            try:
                more = await self.relay_once()
            except StoreUnavailable as error:
                log.warning("relay failed", extra={"action": "relay_failed", "error_type": str(error)})
                more, wait = False, max(self._poll_seconds, self._retry_after_error_seconds)
            if more:
                continue
            await wait_any(stopping, timeout=wait)
        log.info("relay stopped", extra={"action": "relay_stopped"})

    async def relay_once(self) -> bool:
        """One batch; True when a full batch was relayed (there may be more)."""
        if not await self._store.committed_events_waiting():
            return False
        batch = await self._store.relay_batch(self._batch_size)
        if batch is None or batch.events == 0:
            return False
        self._metrics.events_relayed.inc(batch.events)
        log.info(
            "events relayed",
            extra={"action": "relay_batch", "events": batch.events, "deliveries": batch.deliveries},
        )
        return batch.events == self._batch_size
