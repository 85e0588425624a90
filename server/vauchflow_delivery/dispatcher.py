"""The dispatcher: claims due deliveries, signs and sends them, and records what happened.

A claim is one short transaction: due rows are locked with FOR UPDATE SKIP LOCKED (so workers and replicas never
take the same row) and leased by moving next_attempt_time to the lease's expiry and counting the attempt. The
request itself is made outside any transaction; its outcome is recorded in a second one. A worker that dies
mid-attempt leaves the lease to run out, and the attempt is made again: delivery is at-least-once, with the
event's id as the stable `webhook-id`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from vauchflow_core.plans import limits_for
from vauchflow_core.secret_box import KeyRing, SecretBoxError
from vauchflow_core.wakeups import wait_any
from vauchflow_core.webhook_endpoints import GONE, format_signing_secret, open_signing_secret
from vauchflow_delivery import metrics as outcomes
from vauchflow_delivery.http_sender import HttpSender, SendResult
from vauchflow_delivery.metrics import DeliveryMetrics
from vauchflow_delivery.retry_schedule import RetrySchedule
from vauchflow_delivery.signing import SecretFormatError, webhook_headers
from vauchflow_delivery.store import (
    AttemptRecord,
    ClaimedDelivery,
    DeliveryStore,
    DueDelivery,
    FailureOutcome,
    StoreUnavailable,
)
from vauchflow_delivery.success_batch import SuccessRecorder

log = logging.getLogger(__name__)

# An attempt that could not be signed (the key ring lacks the secret's key version): no request was made.
SECRET_UNAVAILABLE = "SECRET_UNAVAILABLE"
HTTP_GONE = 410


@dataclass(frozen=True)
class DispatchLimits:
    max_in_flight: int
    max_in_flight_per_endpoint: int
    lease_seconds: float
    poll_seconds: float
    endpoint_disable_after_seconds: float
    # At most one claim transaction per this interval. Without it, each finished attempt wakes a claim for its
    # one free slot: under load the dispatcher spends itself on claim transactions of one delivery each (measured:
    # ~650 deliveries/s with 6 ms attempts and 32 slots); waiting a few ms lets a claim fill many slots at once.
    min_claim_interval_seconds: float = 0.005


@dataclass(frozen=True)
class Decision:
    """What a finished attempt means for its delivery."""

    delivered: bool = False
    # Seconds until the next attempt; None with delivered False: give up (FAILED).
    retry_in: float | None = None
    # Set when the attempt disables the endpoint (410 Gone).
    disable_reason: str | None = None


def decide(result: SendResult, attempt_number: int, schedule: RetrySchedule) -> Decision:
    """Only 2xx is success; 410 disables the endpoint; anything else (3xx included) retries on the schedule,
    no sooner than a Retry-After asks, until the schedule is exhausted."""
    if result.succeeded:
        return Decision(delivered=True)
    if result.status == HTTP_GONE:
        return Decision(disable_reason=GONE)
    return Decision(retry_in=schedule.next_delay(attempt_number, result.retry_after))


def encode_payload(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


class Dispatcher:
    def __init__(
        self,
        store: DeliveryStore,
        sender: HttpSender,
        key_ring: KeyRing,
        schedule: RetrySchedule,
        limits: DispatchLimits,
        metrics: DeliveryMetrics,
    ):
        self._store = store
        self._successes = SuccessRecorder(store)
        self._sender = sender
        self._key_ring = key_ring
        self._schedule = schedule
        self._limits = limits
        self._metrics = metrics
        self._wake = asyncio.Event()
        self._attempts: dict[asyncio.Task[None], ClaimedDelivery] = {}
        # The HTTP request of each attempt, so a drain that runs out of time can cut exactly that part short.
        self._sends: dict[UUID, asyncio.Task[SendResult]] = {}
        self._per_endpoint: Counter[UUID] = Counter()
        # Attempts in flight per tenant, and each tenant's share (its plan's delivery_concurrency) as last seen.
        self._per_tenant: Counter[UUID] = Counter()
        self._tenant_share: dict[UUID, int] = {}
        # The attempts (tasks) holding one of their endpoint's slots: per attempt, not per delivery, since a
        # delivery whose lease ran out can have a second attempt while the first still records its outcome.
        self._holding_slots: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        """Called on NOTIFY vauchflow_deliveries (new or re-queued deliveries)."""
        self._wake.set()

    @property
    def in_flight(self) -> int:
        return len(self._attempts)

    async def run(self, stopping: asyncio.Event) -> None:
        """Claims and starts attempts until stopping is set; in-flight attempts continue (see drain)."""
        log.info("dispatcher started", extra={"action": "dispatcher_started"})
        last_claim = -math.inf
        while not stopping.is_set():
            since_last = time.monotonic() - last_claim
            if since_last < self._limits.min_claim_interval_seconds:
                await wait_any(stopping, timeout=self._limits.min_claim_interval_seconds - since_last)
                if stopping.is_set():
                    break
            self._wake.clear()
            capacity = self._limits.max_in_flight - len(self._attempts)
            timeout = self._limits.poll_seconds
            if capacity <= 0:  # every slot taken: a finishing attempt wakes the loop
                await wait_any(stopping, self._wake, timeout=timeout)
                continue
            try:
                last_claim = time.monotonic()
                claimed = await self._store.claim(
                    # Room to pass over rows of endpoints that are full within this batch.
                    min(capacity * 2, 1000),
                    self._limits.lease_seconds,
                    functools.partial(self._choose, capacity=capacity),
                    skip_endpoints=self._full_endpoints(),
                    skip_tenants=self._full_tenants(),
                )
                for delivery in claimed:
                    self._start(delivery)
                if claimed and len(self._attempts) < self._limits.max_in_flight:
                    continue  # there may be more due right now
                due_in = await self._store.next_due_in()
                if due_in is not None and due_in > 0:
                    timeout = min(timeout, due_in)
            except StoreUnavailable as error:
                log.warning("claim failed", extra={"action": "claim_failed", "error_type": str(error)})
            await wait_any(stopping, self._wake, timeout=timeout)
        log.info("dispatcher stopped claiming", extra={"action": "dispatcher_stopped", "in_flight": self.in_flight})

    def _full_endpoints(self) -> list[UUID]:
        limit = self._limits.max_in_flight_per_endpoint
        return [endpoint for endpoint, count in self._per_endpoint.items() if count >= limit]

    def _full_tenants(self) -> list[UUID]:
        return [tenant for tenant, count in self._per_tenant.items() if count >= self._tenant_share[tenant]]

    def _choose(self, due: Sequence[DueDelivery], capacity: int) -> list[DueDelivery]:
        """Oldest first, within each endpoint's limit and each tenant's share of the slots."""
        chosen: list[DueDelivery] = []
        taking: Counter[UUID] = Counter()
        taking_for_tenant: Counter[UUID] = Counter()
        for delivery in due:
            if len(chosen) >= capacity:
                break
            endpoint, tenant = delivery.endpoint_id, delivery.tenant_id
            share = limits_for(delivery.plan).delivery_concurrency
            self._tenant_share[tenant] = share
            if self._per_endpoint[endpoint] + taking[endpoint] >= self._limits.max_in_flight_per_endpoint:
                continue
            if self._per_tenant[tenant] + taking_for_tenant[tenant] >= share:
                continue
            chosen.append(delivery)
            taking[endpoint] += 1
            taking_for_tenant[tenant] += 1
        return chosen

    def _start(self, delivery: ClaimedDelivery) -> None:
        task = asyncio.create_task(self._attempt(delivery), name=f"attempt-{delivery.id}")
        self._attempts[task] = delivery
        self._per_endpoint[delivery.endpoint_id] += 1
        self._per_tenant[delivery.tenant_id] += 1
        self._holding_slots.add(task)
        self._metrics.in_flight.set(len(self._attempts))
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        delivery = self._attempts.pop(task)
        self._release_slots(task, delivery)
        self._metrics.in_flight.set(len(self._attempts))
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "attempt crashed",
                extra={"action": "attempt_crashed", "delivery_id": str(delivery.id),
                       "error_type": type(task.exception()).__name__},
            )  # fmt: skip
        self._wake.set()

    def _release_slots(self, attempt: asyncio.Task[Any] | None, delivery: ClaimedDelivery) -> None:
        """Its endpoint's and its tenant's slot, once per attempt: when its request is answered (or when the attempt
        ends without one)."""
        if attempt not in self._holding_slots:
            return
        self._holding_slots.discard(attempt)
        self._per_endpoint[delivery.endpoint_id] -= 1
        if self._per_endpoint[delivery.endpoint_id] <= 0:
            del self._per_endpoint[delivery.endpoint_id]
        self._per_tenant[delivery.tenant_id] -= 1
        if self._per_tenant[delivery.tenant_id] <= 0:
            del self._per_tenant[delivery.tenant_id]
        self._wake.set()

    async def _attempt(self, delivery: ClaimedDelivery) -> None:
        send = asyncio.ensure_future(self._send(delivery))
        self._sends[delivery.id] = send
        try:
            result = await send
        except asyncio.CancelledError:
            if send.cancelled():
                # Cut short by a drain that ran out of time: the outcome is unknown, so the attempt is given back
                # and made again (possibly by another worker) rather than counted.
                await self._release([delivery])
                return
            raise
        finally:
            self._sends.pop(delivery.id, None)
        await self._record(delivery, result)

    async def _send(self, delivery: ClaimedDelivery) -> SendResult:
        try:
            secrets = self._signing_secrets(delivery)
        except (SecretBoxError, SecretFormatError):
            log.error(
                "cannot open signing secret",
                extra={"action": "secret_unavailable", "tenant_id": str(delivery.tenant_id),
                       "endpoint_id": str(delivery.endpoint_id)},
            )  # fmt: skip
            return SendResult(None, 0, "", SECRET_UNAVAILABLE, None)
        body = encode_payload(delivery.payload)
        message_id = delivery.payload.get("id") or f"evt_{delivery.event_id.hex}"
        headers = webhook_headers(secrets, message_id, int(time.time()), body)
        return await self._sender.send(delivery.url, body, headers)

    def _signing_secrets(self, delivery: ClaimedDelivery) -> list[str]:
        """The current secret, and the previous one while its rotation window lasts: both sign."""
        sealed = delivery.secrets
        keys = [
            open_signing_secret(
                self._key_ring, sealed.current, tenant_id=delivery.tenant_id, endpoint_id=delivery.endpoint_id
            )
        ]
        expires = sealed.previous_expire_time
        if sealed.previous is not None and expires is not None and expires > datetime.now(UTC):
            keys.append(
                open_signing_secret(
                    self._key_ring,
                    sealed.previous,
                    tenant_id=delivery.tenant_id,
                    endpoint_id=delivery.endpoint_id,
                    previous=True,
                )
            )
        return [format_signing_secret(key) for key in keys]

    async def _record(self, delivery: ClaimedDelivery, result: SendResult) -> None:
        self._metrics.attempt_latency.observe(result.latency_ms / 1000)
        attempt = AttemptRecord(result.status, result.latency_ms, result.body, result.error)
        decision = decide(result, delivery.attempt_number, self._schedule)
        try:
            if decision.delivered:
                # The endpoint took it: the per-endpoint limit is about requests to the endpoint, so its slot is
                # free while the success waits for its batch commit (several times longer than a loopback send).
                # A failure keeps the slot until recorded: a 410 or a backoff must apply before the next request.
                self._release_slots(asyncio.current_task(), delivery)
                seconds = await self._successes.record(delivery, attempt)
                outcome = outcomes.DELIVERED
                if seconds is not None:
                    self._metrics.time_to_delivery.observe(seconds)
            else:
                failure = await self._store.record_failure(
                    delivery,
                    attempt,
                    retry_in=decision.retry_in,
                    disable_reason=decision.disable_reason,
                    disable_after_seconds=self._limits.endpoint_disable_after_seconds,
                )
                outcome = {
                    FailureOutcome.RETRYING: outcomes.RETRYING,
                    FailureOutcome.SUPERSEDED: outcomes.RETRYING,
                    FailureOutcome.FAILED: outcomes.FAILED,
                    FailureOutcome.ENDPOINT_DISABLED: outcomes.ENDPOINT_DISABLED,
                }[failure]
        except StoreUnavailable as error:
            # The lease runs out and the attempt is made again: at-least-once, never lost.
            log.warning(
                "attempt outcome not recorded",
                extra={"action": "record_failed", "delivery_id": str(delivery.id), "error_type": str(error)},
            )
            return
        self._metrics.deliveries.labels(outcome).inc()
        # Every attempt is in webhook_delivery_attempts and the metrics; the log keeps failures visible without
        # a line per successful delivery (at 1,000/s that formatting alone costs a sizeable share of a core).
        log.log(
            logging.DEBUG if outcome == outcomes.DELIVERED else logging.INFO,
            "delivery attempt",
            extra={
                "action": "delivery_attempt",
                "tenant_id": str(delivery.tenant_id),
                "endpoint_id": str(delivery.endpoint_id),
                "delivery_id": str(delivery.id),
                "event_type": delivery.event_type,
                "attempt_number": delivery.attempt_number,
                "http_status": result.status,
                "error": result.error,
                "latency_ms": result.latency_ms,
                "outcome": outcome,
                "retry_in_s": round(decision.retry_in, 3) if decision.retry_in is not None else None,
            },
        )

    async def _release(self, deliveries: Sequence[ClaimedDelivery]) -> None:
        try:
            await self._store.release(deliveries)
        except StoreUnavailable as error:
            # Their leases run out instead.
            log.warning("leases not released", extra={"action": "release_failed", "error_type": str(error)})

    async def drain(self, grace_seconds: float) -> None:
        """After run() returned: lets in-flight attempts finish within grace_seconds, then cuts their requests
        short and gives their leases back."""
        try:
            await self._drain_attempts(grace_seconds)
        finally:
            await self._successes.drain()

    async def _drain_attempts(self, grace_seconds: float) -> None:
        if not self._attempts:
            return
        log.info("draining attempts", extra={"action": "dispatcher_draining", "in_flight": self.in_flight})
        _, pending = await asyncio.wait(set(self._attempts), timeout=grace_seconds)
        if not pending:
            return
        for send in list(self._sends.values()):
            send.cancel()
        # Recording an outcome or releasing a lease takes a moment; a hung database does not hold shutdown.
        _, stuck = await asyncio.wait(pending, timeout=5)
        for task in stuck:
            task.cancel()
        if stuck:
            await asyncio.wait(stuck, timeout=1)
        log.info("attempts released", extra={"action": "dispatcher_released", "released": len(pending)})
