"""The batch queue alone: who goes together, how many at once, and that every caller hears an answer."""

from __future__ import annotations

import asyncio

import pytest

from vauchflow_server.metrics import ServerMetrics
from vauchflow_server.redemption.batches import Pending, RedemptionBatcher


class Recorder:
    """A run_batch that records its batches and answers each item with item * 10, after `release` is set."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.release = asyncio.Event()
        self.running = 0
        self.most_running = 0

    async def __call__(self, key: object, batch: list[Pending[int, int]]) -> None:
        self.batches.append([p.item for p in batch])
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            await self.release.wait()
            for pending in batch:
                pending.resolve(pending.item * 10)
        finally:
            self.running -= 1


async def _until(condition, what: str) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"never: {what}")


async def test_at_low_load_each_redeem_goes_alone_at_once() -> None:
    recorder = Recorder()
    recorder.release.set()
    batcher = RedemptionBatcher(recorder, max_batch=64, batches_in_flight=2)
    assert await batcher.submit("tenant", 1) == 10
    assert await batcher.submit("tenant", 2) == 20
    assert recorder.batches == [[1], [2]]
    assert len(batcher) == 0


async def test_redeems_arriving_while_batches_run_go_together_in_order_and_bounded() -> None:
    recorder = Recorder()
    batcher = RedemptionBatcher(recorder, max_batch=3, batches_in_flight=2)
    calls = [asyncio.ensure_future(batcher.submit("tenant", 1))]
    await _until(lambda: len(recorder.batches) == 1, "the first batch started")
    calls.append(asyncio.ensure_future(batcher.submit("tenant", 2)))
    await _until(lambda: len(recorder.batches) == 2, "a second batch started beside it")
    calls += [asyncio.ensure_future(batcher.submit("tenant", n)) for n in range(3, 10)]
    for _ in range(20):
        await asyncio.sleep(0)
    assert recorder.batches == [[1], [2]]  # with two batches running, the rest wait for one to finish
    recorder.release.set()
    assert await asyncio.gather(*calls) == [n * 10 for n in range(1, 10)]
    assert recorder.batches == [[1], [2], [3, 4, 5], [6, 7, 8], [9]]
    assert recorder.most_running == 2
    assert len(batcher) == 0


async def test_each_batch_taken_is_reported_with_its_size() -> None:
    """What the server's vauchflow_redemption_batch_size histogram records (and the benchmark reads)."""
    recorder = Recorder()
    sizes: list[int] = []
    batcher = RedemptionBatcher(recorder, max_batch=3, batches_in_flight=1, observe_batch_size=sizes.append)
    calls = [asyncio.ensure_future(batcher.submit("tenant", 1))]
    await _until(lambda: len(recorder.batches) == 1, "the first batch started")
    calls += [asyncio.ensure_future(batcher.submit("tenant", n)) for n in range(2, 6)]
    recorder.release.set()
    await asyncio.gather(*calls)
    assert sizes == [len(batch) for batch in recorder.batches] == [1, 3, 1]


def test_the_server_metrics_histogram_takes_batch_sizes() -> None:
    metrics = ServerMetrics()
    for size in (1, 1, 5, 64):
        metrics.redemption_batch_size.observe(size)
    assert metrics.registry.get_sample_value("vauchflow_redemption_batch_size_count") == 4
    assert metrics.registry.get_sample_value("vauchflow_redemption_batch_size_sum") == 71
    assert metrics.registry.get_sample_value("vauchflow_redemption_batch_size_bucket", {"le": "1.0"}) == 2
    assert metrics.registry.get_sample_value("vauchflow_redemption_batch_size_bucket", {"le": "5.0"}) == 3


async def test_tenants_are_batched_apart() -> None:
    recorder = Recorder()
    batcher = RedemptionBatcher(recorder, max_batch=10, batches_in_flight=1)
    calls = [asyncio.ensure_future(batcher.submit("a", 0))]
    await _until(lambda: len(recorder.batches) == 1, "a's batch started")
    calls.append(asyncio.ensure_future(batcher.submit("b", 1)))
    await _until(lambda: len(recorder.batches) == 2, "b's batch started beside a's")
    calls += [asyncio.ensure_future(batcher.submit("a", 2)), asyncio.ensure_future(batcher.submit("b", 3))]
    assert recorder.most_running == 2  # batches_in_flight is per tenant
    recorder.release.set()
    await asyncio.gather(*calls)
    assert sorted(recorder.batches) == [[0], [1], [2], [3]]  # a's 2 never joined b's batch, nor b's 3 a's


async def test_a_caller_gone_before_its_batch_starts_is_left_out() -> None:
    recorder = Recorder()
    batcher = RedemptionBatcher(recorder, max_batch=10, batches_in_flight=1)
    first = asyncio.ensure_future(batcher.submit("tenant", 1))
    await _until(lambda: recorder.batches, "the first batch started")
    gone = asyncio.ensure_future(batcher.submit("tenant", 2))
    kept = asyncio.ensure_future(batcher.submit("tenant", 3))
    await asyncio.sleep(0)
    gone.cancel()
    recorder.release.set()
    assert (await first, await kept) == (10, 30)
    assert recorder.batches == [[1], [3]]


async def test_a_failing_batch_fails_each_of_its_callers_and_the_queue_goes_on() -> None:
    seen: list[list[int]] = []

    async def run_batch(key: object, batch: list[Pending[int, int]]) -> None:
        seen.append([p.item for p in batch])
        if any(p.item == 2 for p in batch):
            raise RuntimeError("the database is gone")
        for pending in batch:
            pending.resolve(pending.item)

    batcher = RedemptionBatcher(run_batch, max_batch=10, batches_in_flight=1)
    assert await batcher.submit("t", 1) == 1
    # Submitted in the same moment, 2 and 3 share a batch.
    results = await asyncio.gather(batcher.submit("t", 2), batcher.submit("t", 3), return_exceptions=True)
    assert all(isinstance(result, RuntimeError) for result in results)
    assert await batcher.submit("t", 4) == 4
    assert seen == [[1], [2, 3], [4]]


async def test_a_batch_that_forgets_a_redeem_fails_it_rather_than_leaving_it_waiting() -> None:
    async def forgetful(key: object, batch: list[Pending[int, int]]) -> None:
        batch[0].resolve(0)

    batcher = RedemptionBatcher(forgetful, max_batch=10, batches_in_flight=1)
    results = await asyncio.gather(batcher.submit("t", 1), batcher.submit("t", 2), return_exceptions=True)
    assert results[0] == 0  # answered
    assert isinstance(results[1], RuntimeError)  # forgotten, but not left waiting


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError):
        RedemptionBatcher(Recorder(), max_batch=0, batches_in_flight=1)
    with pytest.raises(ValueError):
        RedemptionBatcher(Recorder(), max_batch=1, batches_in_flight=0)
