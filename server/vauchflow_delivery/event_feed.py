"""A tenant's events in stream order, from a position on, then live: what SubscribeEvents serves.

Events come in (transaction_id, id) order and only from transactions older than every running one, the rule the
relay follows, so a reader that resumes after its last event's position sees every later event exactly once, even
when transactions commit out of id order. One LISTEN for the whole process wakes the open streams of the tenants
whose events were relayed (a stream of another tenant stays asleep and costs no query); each also polls, so a
lost notification only delays.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from uuid import UUID

from vauchflow_core.event_cursor import EventPosition
from vauchflow_core.wakeups import wait_any
from vauchflow_delivery.store import EventStore, StoredEvent

START = EventPosition(0, 0)


class OutboxSignal:
    """Tells the waiting streams of some tenants (or of all) that the outbox has new events for them."""

    def __init__(self) -> None:
        self._waiters: dict[UUID, set[asyncio.Event]] = {}

    def notify(self, tenant_ids: Iterable[UUID] | None = None) -> None:
        """Wakes the streams of tenant_ids; None wakes every stream."""
        if tenant_ids is None:
            waiters = [w for tenant_waiters in self._waiters.values() for w in tenant_waiters]
        else:
            waiters = [w for tenant_id in tenant_ids for w in self._waiters.get(tenant_id, ())]
        for waiter in waiters:
            waiter.set()

    def register(self, tenant_id: UUID) -> asyncio.Event:
        waiter = asyncio.Event()
        self._waiters.setdefault(tenant_id, set()).add(waiter)
        return waiter

    def unregister(self, tenant_id: UUID, waiter: asyncio.Event) -> None:
        tenant_waiters = self._waiters.get(tenant_id)
        if tenant_waiters is not None:
            tenant_waiters.discard(waiter)
            if not tenant_waiters:
                del self._waiters[tenant_id]


class EventFeed:
    def __init__(self, store: EventStore, signal: OutboxSignal, *, poll_seconds: float, batch_size: int = 200):
        self._store = store
        self._signal = signal
        self._poll_seconds = poll_seconds
        self._batch_size = batch_size

    async def follow(
        self,
        tenant_id: UUID,
        after: EventPosition,
        event_types: Sequence[str],
        stopping: asyncio.Event,
        still_allowed: Callable[[], Awaitable[None]] | None = None,
        recheck_seconds: float = 5.0,
    ) -> AsyncIterator[StoredEvent]:
        """Every event of tenant_id after `after` whose type is in event_types (all when empty), then each new
        one as it commits, until stopping is set (the service shuts down; the client resumes elsewhere).

        still_allowed, awaited at least every recheck_seconds, raises when the caller may no longer read (its
        key was revoked): that error ends the stream."""
        waiter = self._signal.register(tenant_id)
        checked_at = time.monotonic()
        try:
            position = after
            while not stopping.is_set():
                if still_allowed is not None and time.monotonic() - checked_at >= recheck_seconds:
                    await still_allowed()
                    checked_at = time.monotonic()
                waiter.clear()
                batch = await self._store.events_after(tenant_id, position, event_types, self._batch_size)
                for event in batch:
                    yield event
                    position = event.position
                if len(batch) < self._batch_size:
                    await wait_any(waiter, stopping, timeout=self._poll_seconds)
        finally:
            self._signal.unregister(tenant_id, waiter)
