"""Coalesces a tenant's concurrent redemptions into shared transactions (group commit, done by the server).

Each redemption alone costs four round trips to PostgreSQL and a commit; under load those, not the rules, are
most of the work (and one hot voucher's row lock lets only one transaction through at a time). So while a
tenant's earlier batches are still in PostgreSQL, new redemptions wait here and then go together: one
transaction reads and locks their vouchers, decides each redemption in arrival order, and writes all of them in
one statement. Nothing waits for a timer: at low load every batch holds one redemption, as before.

This module is only the queue; `RedemptionEngine._redeem_batch` is the transaction. A batch that fails as a
whole hands each of its redemptions back to the engine to run alone, so one bad batch costs time, not answers.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class Pending(Generic[Item, Result]):
    """One redemption waiting for (or in) a batch; the batch resolves `outcome` exactly once."""

    __slots__ = ("item", "outcome")

    def __init__(self, item: Item, outcome: asyncio.Future[Result]):
        self.item = item
        self.outcome = outcome

    def resolve(self, result: Result) -> None:
        if not self.outcome.done():
            self.outcome.set_result(result)

    def fail(self, error: BaseException) -> None:
        if not self.outcome.done():
            self.outcome.set_exception(error)


# Called with the batch's key (a tenant id for redemptions) and its redeems.
RunBatch = Callable[[Any, "list[Pending[Item, Result]]"], Awaitable[None]]


class RedemptionBatcher(Generic[Item, Result]):
    def __init__(
        self,
        run_batch: RunBatch,
        *,
        max_batch: int,
        batches_in_flight: int,
        observe_batch_size: Callable[[int], object] = lambda size: None,
    ):
        """run_batch(key, batch) must resolve or fail every Pending it is given. At most `batches_in_flight`
        batches per key run at once, each of at most `max_batch` redemptions."""
        if max_batch < 1 or batches_in_flight < 1:
            raise ValueError("max_batch and batches_in_flight must be at least 1")
        self._run_batch = run_batch
        self._max_batch = max_batch
        self._batches_in_flight = batches_in_flight
        self._queues: dict[Hashable, deque[Pending[Item, Result]]] = {}
        self._running: dict[Hashable, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Told each batch's size as it is taken (the engine passes ServerMetrics.redemption_batch_size.observe).
        self._observe_batch_size = observe_batch_size

    async def submit(self, key: Hashable, item: Item) -> Result:
        pending: Pending[Item, Result] = Pending(item, asyncio.get_running_loop().create_future())
        self._queues.setdefault(key, deque()).append(pending)
        if self._running.get(key, 0) < self._batches_in_flight:
            self._running[key] = self._running.get(key, 0) + 1
            task = asyncio.create_task(self._drain(key), name="redemption-batch")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        # A cancelled caller cancels the future: a batch not yet started skips it; one already running still
        # decides it (as a transaction already committing would), and the caller's retry with request_id replays.
        return await pending.outcome

    async def _drain(self, key: Hashable) -> None:
        queue = self._queues[key]
        try:
            while queue:
                batch: list[Pending[Item, Result]] = []
                while queue and len(batch) < self._max_batch:
                    pending = queue.popleft()
                    if not pending.outcome.done():
                        batch.append(pending)
                if not batch:
                    continue
                self._observe_batch_size(len(batch))
                try:
                    await self._run_batch(key, batch)
                except Exception as error:  # every waiter hears of it
                    for pending in batch:
                        pending.fail(error)
                except BaseException:  # the server is stopping: so is this batch's work
                    for pending in batch:
                        pending.outcome.cancel()
                    raise
                for pending in batch:
                    pending.fail(RuntimeError("the batch left this redemption undecided"))
        finally:
            self._running[key] -= 1
            if self._running[key] == 0:
                del self._running[key]
                # Normally empty; after a cancelled drain, nothing is left to run what is still queued.
                while queue:
                    queue.popleft().outcome.cancel()
                del self._queues[key]

    def __len__(self) -> int:
        """Keys with redemptions queued or in flight (for tests)."""
        return len(self._running)
