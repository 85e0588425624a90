"""Successful attempts are recorded in batches: a full batch at once, a partial one after a few milliseconds,
every attempt gets its own answer, and a failed write reaches every attempt of that batch."""

from __future__ import annotations

import asyncio
import uuid

from vauchflow_delivery.store import AttemptRecord, StoreUnavailable
from vauchflow_delivery.success_batch import SuccessRecorder


class Delivery:
    def __init__(self) -> None:
        self.id = uuid.uuid4()


class FakeStore:
    def __init__(self, fail: bool = False):
        self.batches: list[int] = []
        self.fail = fail

    async def record_delivered(self, successes):
        self.batches.append(len(successes))
        if self.fail:
            raise StoreUnavailable("database unavailable")
        # Every delivery but the first was still pending (the first was finished by another attempt).
        return {delivery.id: 1.5 for delivery, _ in successes[1:]}


ATTEMPT = AttemptRecord(200, 3, "ok", "")


async def test_a_full_batch_is_written_at_once_and_each_attempt_gets_its_answer():
    store = FakeStore()
    recorder = SuccessRecorder(store, max_batch=4, max_wait_seconds=60)
    results = await asyncio.gather(*(recorder.record(Delivery(), ATTEMPT) for _ in range(4)))
    assert store.batches == [4]
    assert results == [None, 1.5, 1.5, 1.5]


async def test_a_partial_batch_is_written_after_the_wait():
    store = FakeStore()
    recorder = SuccessRecorder(store, max_batch=100, max_wait_seconds=0.005)
    results = await asyncio.wait_for(asyncio.gather(*(recorder.record(Delivery(), ATTEMPT) for _ in range(3))), 5)
    assert store.batches == [3]
    assert results == [None, 1.5, 1.5]


async def test_a_failed_write_fails_every_attempt_of_the_batch():
    recorder = SuccessRecorder(FakeStore(fail=True), max_batch=2, max_wait_seconds=60)
    results = await asyncio.gather(*(recorder.record(Delivery(), ATTEMPT) for _ in range(2)), return_exceptions=True)
    assert all(isinstance(result, StoreUnavailable) for result in results)


async def test_drain_writes_what_is_waiting():
    store = FakeStore()
    recorder = SuccessRecorder(store, max_batch=100, max_wait_seconds=60)
    waiting = asyncio.create_task(recorder.record(Delivery(), ATTEMPT))
    await asyncio.sleep(0)
    await recorder.drain()
    assert store.batches == [1]
    assert await waiting is None
