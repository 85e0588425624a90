"""The per-endpoint limit counts attempts, not deliveries: a delivery whose lease ran out can have a second
attempt in the same process while the first still records its outcome, and neither may free the other's slot.
A fake store stands in for PostgreSQL (only the recording calls are used); the HTTP send is replaced too."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from vauchflow_delivery.dispatcher import Dispatcher, DispatchLimits
from vauchflow_delivery.http_sender import SendResult
from vauchflow_delivery.metrics import DeliveryMetrics
from vauchflow_delivery.retry_schedule import RetrySchedule
from vauchflow_delivery.store import ClaimedDelivery, FailureOutcome


class SlowRecordingStore:
    """The first outcome recorded waits for `release` (as a statement on a dying connection would)."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.recorded = 0

    async def _first_waits(self) -> None:
        self.recorded += 1
        if self.recorded == 1:
            await self.release.wait()

    async def record_failure(self, delivery, attempt, **_: object) -> FailureOutcome:
        await self._first_waits()
        return FailureOutcome.RETRYING if self.recorded == 1 else FailureOutcome.SUPERSEDED

    async def record_delivered(self, successes) -> dict:
        await self._first_waits()
        return {}


def attempt(delivery_id: uuid.UUID, endpoint_id: uuid.UUID, number: int) -> ClaimedDelivery:
    return ClaimedDelivery(uuid.uuid4(), delivery_id, endpoint_id, uuid.uuid4(), "voucher.created", number,
                           {"id": "evt_1"}, "https://example.com/hook", None, datetime.now(UTC))  # fmt: skip


async def until(condition, what: str) -> None:
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"never: {what}")


def dispatcher(store: SlowRecordingStore, status: int, second_send: asyncio.Event) -> Dispatcher:
    limits = DispatchLimits(max_in_flight=128, max_in_flight_per_endpoint=2, lease_seconds=60, poll_seconds=1,
                            endpoint_disable_after_seconds=1e9)  # fmt: skip
    d = Dispatcher(store, None, None, RetrySchedule((1.0,), jitter=0), limits, DeliveryMetrics())  # type: ignore[arg-type]

    async def send(delivery: ClaimedDelivery) -> SendResult:
        if delivery.attempt_number == 2:
            await second_send.wait()
        return SendResult(status, 1, "", "", None)

    d._send = send  # type: ignore[method-assign]
    return d


async def test_two_failing_attempts_of_one_delivery_each_give_back_their_own_slot() -> None:
    store, second_send = SlowRecordingStore(), asyncio.Event()
    d = dispatcher(store, 500, second_send)
    delivery, endpoint = uuid.uuid4(), uuid.uuid4()
    d._start(attempt(delivery, endpoint, 1))
    await until(lambda: store.recorded == 1, "the first failure is being recorded")
    d._start(attempt(delivery, endpoint, 2))  # its lease ran out: claimed again by the same process
    assert d._per_endpoint[endpoint] == 2
    second_send.set()
    store.release.set()
    await until(lambda: d.in_flight == 0, "both attempts finished")
    assert dict(d._per_endpoint) == {} and d._full_endpoints() == []  # no slot leaked


async def test_a_success_still_recording_does_not_free_the_slot_of_a_second_attempt_in_flight() -> None:
    store, second_send = SlowRecordingStore(), asyncio.Event()
    d = dispatcher(store, 200, second_send)
    delivery, endpoint = uuid.uuid4(), uuid.uuid4()
    d._start(attempt(delivery, endpoint, 1))
    await until(lambda: store.recorded == 1, "the first success waits for its batch")
    assert dict(d._per_endpoint) == {}  # answered: its slot is free while it records
    d._start(attempt(delivery, endpoint, 2))
    store.release.set()
    await until(lambda: d.in_flight == 1, "the first attempt finished")
    assert d._per_endpoint[endpoint] == 1  # the second's request is still in flight and keeps its slot
    second_send.set()
    await until(lambda: d.in_flight == 0, "the second attempt finished")
    assert dict(d._per_endpoint) == {}
