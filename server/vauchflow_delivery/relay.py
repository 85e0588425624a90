"""The outbox relay: turns committed outbox events into PENDING deliveries, one per matching enabled endpoint.

Events are read in (transaction_id, id) order, and only from transactions older than every running one, so an
event whose transaction commits after a higher-numbered one is still relayed (DESIGN.md invariant 4). Several
relays may run (one per service replica): the position row is locked with SKIP LOCKED, so one works at a time
and the others find nothing to do.
"""

from __future__ import annotations

import asyncio
import logging

from vauchflow_delivery.metrics import DeliveryMetrics
from vauchflow_delivery.store import DeliveryStore, StoreUnavailable
from vauchflow_delivery.wakeups import wait_any

log = logging.getLogger(__name__)


class OutboxRelay:
    def __init__(self, store: DeliveryStore, metrics: DeliveryMetrics, *, batch_size: int, poll_seconds: float):
        self._store = store
        self._metrics = metrics
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Called on NOTIFY vauchflow_outbox (a commit added events)."""
        self._wake.set()

    async def run(self, stopping: asyncio.Event) -> None:
        log.info("relay started", extra={"action": "relay_started"})
        while not stopping.is_set():
            self._wake.clear()
            try:
                more = await self.relay_once()
            except StoreUnavailable as error:
                log.warning("relay failed", extra={"action": "relay_failed", "error_type": str(error)})
                more = False
            if more:
                continue
            await wait_any(stopping, self._wake, timeout=self._poll_seconds)
        log.info("relay stopped", extra={"action": "relay_stopped"})

    async def relay_once(self) -> bool:
        """One batch; True when a full batch was relayed (there may be more)."""
        batch = await self._store.relay_batch(self._batch_size)
        if batch is None or batch.events == 0:
            return False
        self._metrics.events_relayed.inc(batch.events)
        log.info(
            "events relayed",
            extra={"action": "relay_batch", "events": batch.events, "deliveries": batch.deliveries},
        )
        return batch.events == self._batch_size
