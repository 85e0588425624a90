"""The only module of the delivery service that talks to PostgreSQL; its SQL is in queries.sql, by name.

DeliveryStore runs as vauchflow_delivery (the relay and the dispatcher work across tenants). EventStore runs as
vauchflow_app: every read sets app.tenant_id for its own transaction (set_config(..., true)), so row-level
security scopes the event stream exactly as it scopes the API. Driver exceptions become StoreUnavailable (or
the API's Unavailable for the stream) here; nothing above this module sees asyncpg.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any
from uuid import UUID

import asyncpg

from vauchflow_core import errors
from vauchflow_core.db import decoders
from vauchflow_core.db.connection import (
    Connection,
    NotificationListener,
    StatementFailed,
    create_pool,
    translated_errors,
)
from vauchflow_core.db.queries import QUERIES
from vauchflow_core.event_cursor import EventPosition
from vauchflow_core.events import StoredEvent, webhook_endpoint_disabled_event
from vauchflow_core.secret_box import Sealed

__all__ = [
    "AttemptRecord",
    "BacklogSnapshot",
    "ClaimedDelivery",
    "ClaimedNotification",
    "DeliveryStore",
    "DueDelivery",
    "EventStore",
    "FailureOutcome",
    "RelayedBatch",
    "StoreUnavailable",
    "StoredEvent",
]
from vauchflow_core.tenancy import ApiKeyIdentity
from vauchflow_core.webhook_endpoints import EndpointSecrets

log = logging.getLogger(__name__)

EVENTS_RELAYED_CHANNEL = "vauchflow_events_relayed"
DELIVERIES_CHANNEL = "vauchflow_deliveries"
# The column's CHECK allows 1,024 characters of response body.
MAX_RESPONSE_BODY_CHARS = 1024
MAX_ERROR_CHARS = 200


class StoreUnavailable(Exception):
    """PostgreSQL could not be reached or refused the statement; the caller retries later."""


@contextlib.contextmanager
def _translated_errors() -> Iterator[None]:
    """Any failure of a statement is one the loops wait out and retry (they log its type, never its text)."""
    try:
        with translated_errors():
            yield
    except (errors.DomainError, StatementFailed) as error:
        raise StoreUnavailable(type(error).__name__) from None


async def _pool(dsn: str, min_size: int, max_size: int) -> asyncpg.Pool:
    with _translated_errors():
        return await create_pool(dsn, min_size=min_size, max_size=max_size)


# What the dispatcher works with


@dataclass(frozen=True)
class DueDelivery:
    """A due delivery, locked but not yet leased: the dispatcher chooses which of these it takes."""

    tenant_id: UUID
    id: UUID
    endpoint_id: UUID
    endpoint_enabled: bool
    plan: str


@dataclass(frozen=True)
class ClaimedDelivery:
    """A leased attempt: until lease_expiry nobody else sends it."""

    tenant_id: UUID
    id: UUID
    endpoint_id: UUID
    event_id: UUID
    event_type: str
    attempt_number: int
    payload: dict[str, Any]
    url: str
    secrets: EndpointSecrets
    lease_start: datetime


@dataclass(frozen=True)
class AttemptRecord:
    """One attempt as logged: http_status None when no response arrived."""

    http_status: int | None
    latency_ms: int
    response_body: str
    error: str


@dataclass(frozen=True)
class RelayedBatch:
    events: int
    deliveries: int


@dataclass(frozen=True)
class BacklogSnapshot:
    outbox_events: int
    outbox_lag_seconds: float
    pending_deliveries: int
    delivered_within_hour_24h: int
    decided_24h: int


@dataclass(frozen=True)
class ClaimedNotification:
    """A leased status page notification: the opt-in mail (event fields None) or an incident event."""

    id: UUID
    subscription_id: UUID
    kind: str  # CONFIRMATION or EVENT
    attempt_number: int
    subscription_kind: str  # EMAIL or WEBHOOK
    url: str | None
    sealed_contact: Sealed
    event_id: UUID | None
    event_type: str | None
    payload: dict[str, Any] | None


class DeliveryStore:
    def __init__(self, pool: asyncpg.Pool, dsn: str):
        self._pool = pool
        self._dsn = dsn

    @classmethod
    async def connect(cls, dsn: str, *, min_size: int, max_size: int) -> DeliveryStore:
        return cls(await _pool(dsn, min_size, max_size), dsn)

    async def close(self) -> None:
        await self._pool.close()

    # Relay

    async def committed_events_waiting(self) -> bool:
        """Whether the relay has committed events to pass (a read-only check, no transaction id used)."""
        with _translated_errors():
            async with self._pool.acquire() as conn:
                return bool(await conn.fetchval(QUERIES["committed_events_waiting"]))

    async def relay_batch(self, limit: int) -> RelayedBatch | None:
        """Turns up to limit committed events into deliveries and moves the position past them, in one
        transaction. None when another relay holds the position."""
        with _translated_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                position = await conn.fetchrow(QUERIES["lock_relay_position"])
                if position is None:
                    return None
                events = await conn.fetch(
                    QUERIES["committed_events_after"], position["transaction_id"], position["event_id"], limit
                )
                if not events:
                    return RelayedBatch(0, 0)
                status = await conn.execute(
                    QUERIES["fan_out_events"],
                    [e["tenant_id"] for e in events],
                    [e["event_id"] for e in events],
                    [e["type"] for e in events],
                )
                deliveries = int(status.rsplit(" ", 1)[1])
                last = events[-1]
                await conn.execute(QUERIES["move_relay_position"], last["transaction_id"], last["id"])
                if deliveries:
                    await conn.execute(QUERIES["notify_deliveries"])
                await conn.execute(
                    QUERIES["notify_events_relayed"], relayed_tenants_payload(e["tenant_id"] for e in events)
                )
                return RelayedBatch(len(events), deliveries)

    # Status page notifications (the status outbox: platform events, not a tenant's)

    async def relay_status_events(self, limit: int) -> int:
        """Queues a notification per confirmed subscription for up to limit unrelayed status events; returns how
        many events it relayed."""
        with _translated_errors():
            return len(await self._pool.fetch(QUERIES["relay_status_events"], limit))

    async def claim_status_notifications(self, limit: int, lease_seconds: float) -> list[ClaimedNotification]:
        with _translated_errors():
            rows = await self._pool.fetch(QUERIES["claim_status_notifications"], limit, float(lease_seconds))
        return [
            ClaimedNotification(
                id=r["id"],
                subscription_id=r["subscription_id"],
                kind=r["notification_kind"],
                attempt_number=r["attempt_count"],
                subscription_kind=r["subscription_kind"],
                url=r["url"],
                sealed_contact=Sealed(
                    bytes(r["sealed_contact"]), bytes(r["sealed_contact_nonce"]), r["sealed_contact_key_version"]
                ),
                event_id=r["event_id"],
                event_type=r["event_type"],
                payload=r["payload"],
            )
            for r in rows
        ]

    async def record_status_notification(self, notification_id: UUID, error: str, retry_in: float | None,
                                         *, sent: bool) -> None:  # fmt: skip
        """Sent: DELIVERED. Not sent: retried in retry_in seconds, or FAILED when retry_in is None."""
        with _translated_errors():
            if sent:
                await self._pool.execute(QUERIES["record_status_notification_sent"], notification_id, error[:200])
            else:
                await self._pool.execute(
                    QUERIES["record_status_notification_failed"], notification_id, retry_in, error[:200]
                )

    # Dispatcher

    async def claim(
        self,
        limit: int,
        lease_seconds: float,
        choose: Callable[[Sequence[DueDelivery]], Sequence[DueDelivery]],
        skip_endpoints: Sequence[UUID] = (),
        skip_tenants: Sequence[UUID] = (),
    ) -> list[ClaimedDelivery]:
        """Locks up to limit due deliveries (none of skip_endpoints' or skip_tenants'), leases the ones choose()
        keeps and fails those of disabled endpoints, in one short transaction."""
        with _translated_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                rows = await conn.fetch(QUERIES["due_deliveries"], limit, list(skip_endpoints), list(skip_tenants))
                due = [DueDelivery(r["tenant_id"], r["id"], r["endpoint_id"], r["enabled"], r["plan"]) for r in rows]
                disabled = [d for d in due if not d.endpoint_enabled]
                if disabled:
                    await conn.execute(
                        QUERIES["fail_deliveries_of_disabled_endpoints"],
                        [d.tenant_id for d in disabled],
                        [d.id for d in disabled],
                    )
                chosen = choose([d for d in due if d.endpoint_enabled])
                if not chosen:
                    return []
                leased = await conn.fetch(
                    QUERIES["lease_deliveries"],
                    [d.tenant_id for d in chosen],
                    [d.id for d in chosen],
                    float(lease_seconds),
                )
        return [_claimed(row) for row in leased]

    async def record_delivered(self, successes: Sequence[tuple[ClaimedDelivery, AttemptRecord]]) -> dict[UUID, float]:
        """Logs the attempts and marks their deliveries DELIVERED, in one statement; returns, per delivery this
        call finished, the seconds from creation to delivery (absent if another attempt had finished it)."""
        with _translated_errors():
            rows = await self._pool.fetch(
                QUERIES["record_delivered"],
                [d.tenant_id for d, _ in successes],
                [d.id for d, _ in successes],
                [d.attempt_number for d, _ in successes],
                [a.http_status for _, a in successes],
                [a.latency_ms for _, a in successes],
                [_clean_body(a.response_body) for _, a in successes],
                [a.error[:MAX_ERROR_CHARS] for _, a in successes],
                [d.endpoint_id for d, _ in successes],
            )
        return {row["id"]: (row["delivered_time"] - row["create_time"]).total_seconds() for row in rows}

    async def record_failure(
        self,
        delivery: ClaimedDelivery,
        attempt: AttemptRecord,
        *,
        retry_in: float | None,
        disable_reason: str | None,
        disable_after_seconds: float,
    ) -> FailureOutcome:
        """Logs a failed attempt, then in the same transaction: disables the endpoint when disable_reason says
        so (410) or when it has been failing for disable_after_seconds (telling the tenant by an outbox event,
        and failing its pending deliveries); otherwise schedules the retry, or fails the delivery when retry_in is
        None."""
        with _translated_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                await self._insert_attempt(conn, delivery, attempt)
                failing_seconds = await conn.fetchval(
                    QUERIES["mark_endpoint_failing"], delivery.tenant_id, delivery.endpoint_id
                )
                if disable_reason is None and failing_seconds is not None and failing_seconds >= disable_after_seconds:
                    disable_reason = "FAILING"
                if disable_reason is not None:
                    disabled_now = await self._disable_endpoint(conn, delivery, disable_reason)
                    return FailureOutcome.ENDPOINT_DISABLED if disabled_now else FailureOutcome.FAILED
                if retry_in is None:
                    await conn.fetchrow(
                        QUERIES["mark_failed"], delivery.tenant_id, delivery.id, delivery.attempt_number
                    )
                    return FailureOutcome.FAILED
                scheduled = await conn.fetchrow(
                    QUERIES["schedule_retry"], delivery.tenant_id, delivery.id, delivery.attempt_number, float(retry_in)
                )
                return FailureOutcome.RETRYING if scheduled else FailureOutcome.SUPERSEDED

    async def _disable_endpoint(self, conn: Connection, delivery: ClaimedDelivery, reason: str) -> bool:
        url = await conn.fetchval(QUERIES["disable_endpoint"], delivery.tenant_id, delivery.endpoint_id, reason)
        await conn.execute(QUERIES["fail_pending_deliveries_of_endpoint"], delivery.tenant_id, delivery.endpoint_id)
        if url is None:
            return False  # another attempt disabled it first and told the tenant
        event = webhook_endpoint_disabled_event(delivery.endpoint_id, url, reason)
        await conn.execute(QUERIES["insert_event"], delivery.tenant_id, event.id, event.type, event.payload)
        return True

    @staticmethod
    async def _insert_attempt(conn: Connection, delivery: ClaimedDelivery, attempt: AttemptRecord) -> None:
        await conn.execute(
            QUERIES["insert_attempt"],
            delivery.tenant_id,
            delivery.id,
            delivery.attempt_number,
            attempt.http_status,
            attempt.latency_ms,
            _clean_body(attempt.response_body),
            attempt.error[:MAX_ERROR_CHARS],
        )

    async def release(self, deliveries: Sequence[ClaimedDelivery]) -> None:
        """Gives leased attempts back (shutdown): due again at once, not counted as attempts."""
        with _translated_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                for d in deliveries:
                    await conn.execute(QUERIES["release_lease"], d.tenant_id, d.id, d.attempt_number)

    async def next_due_in(self) -> float | None:
        with _translated_errors():
            return await self._pool.fetchval(QUERIES["next_due_in"])

    # Retention

    async def prune_idempotency_keys(self, older_than_seconds: float, limit: int) -> int:
        """Deletes up to limit idempotency keys older than the window; returns how many."""
        with _translated_errors():
            status = await self._pool.execute(QUERIES["prune_idempotency_keys"], float(older_than_seconds), limit)
        return int(status.rsplit(" ", 1)[1])

    async def prune_events(self, older_than_seconds: float, limit: int) -> int:
        """Deletes up to limit outbox events older than the window, behind the relay and with no pending delivery,
        with their deliveries and attempts, in one transaction; returns how many events. A short batch (fewer than
        limit) ends the round."""
        with _translated_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                rows = await conn.fetch(QUERIES["prunable_events"], float(older_than_seconds), limit)
                if not rows:
                    return 0
                keys = ([r["tenant_id"] for r in rows], [r["event_id"] for r in rows])
                await conn.execute(QUERIES["prune_deliveries_of_events"], *keys)
                status = await conn.execute(QUERIES["prune_events"], *keys)
        return int(status.rsplit(" ", 1)[1])

    # Metrics

    async def backlog(self) -> BacklogSnapshot:
        """The metrics' figures from one snapshot: read separately, a backlog counted before a relay and a ratio
        after the delivery that followed it disagreed."""
        with _translated_errors():
            async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
                outbox = await conn.fetchrow(QUERIES["outbox_backlog"])
                pending = await conn.fetchval(QUERIES["pending_deliveries"])
                ratio = await conn.fetchrow(QUERIES["delivery_ratio_24h"])
        assert outbox is not None and ratio is not None, "aggregates return a row"
        return BacklogSnapshot(
            outbox_events=outbox["events"],
            outbox_lag_seconds=outbox["lag_seconds"],
            pending_deliveries=pending,
            delivered_within_hour_24h=ratio["delivered_within_hour"],
            decided_24h=ratio["decided"],
        )

    def listener(self, channels: Sequence[str], on_notify: Callable[[str, str], None]) -> NotificationListener:
        """Calls on_notify(channel, payload) for each notification, and on_notify(channel, "") for every channel
        after each (re)connection: what was sent while not listening is found by the callers' next poll."""

        def every_channel() -> None:
            for channel in channels:
                on_notify(channel, "")

        return NotificationListener(
            self._dsn,
            {channel: functools.partial(_notified, on_notify, channel) for channel in channels},
            on_connect=every_channel,
        )


def _notified(on_notify: Callable[[str, str], None], channel: str, payload: str) -> None:
    on_notify(channel, payload)


# pg_notify's payload must stay under 8,000 bytes: past this many tenants a batch wakes every stream instead.
_MAX_NOTIFIED_TENANTS = 150


def relayed_tenants_payload(tenant_ids: Iterable[UUID]) -> str:
    """The tenants of a relayed batch as a NOTIFY payload ("" means every tenant)."""
    distinct = sorted({str(tenant_id) for tenant_id in tenant_ids})
    return ",".join(distinct) if len(distinct) <= _MAX_NOTIFIED_TENANTS else ""


def parse_relayed_tenants(payload: str) -> frozenset[UUID] | None:
    """The tenants a relay notification names; None for every tenant (or a payload this version can't read)."""
    if not payload:
        return None
    try:
        return frozenset(UUID(part) for part in payload.split(","))
    except ValueError:
        return None


class FailureOutcome(str, Enum):
    RETRYING = "retrying"
    FAILED = "failed"
    ENDPOINT_DISABLED = "endpoint_disabled"
    # The lease ran out and another attempt now owns the delivery; this one's outcome changes nothing.
    SUPERSEDED = "superseded"


def _claimed(row: asyncpg.Record) -> ClaimedDelivery:
    secrets = decoders.endpoint_secrets(row)
    return ClaimedDelivery(
        tenant_id=row["tenant_id"],
        id=row["id"],
        endpoint_id=row["endpoint_id"],
        event_id=row["event_id"],
        event_type=row["event_type"],
        attempt_number=row["attempt_count"],
        payload=row["payload"],
        url=row["url"],
        secrets=secrets,
        lease_start=row["lease_start"],
    )


class EventStore:
    """The event stream's reads, as vauchflow_app under row-level security."""

    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool

    @classmethod
    async def connect(cls, dsn: str, *, min_size: int, max_size: int) -> EventStore:
        try:
            return cls(await _pool(dsn, min_size, max_size))
        except StoreUnavailable:
            raise errors.Unavailable("the database is unavailable") from None

    async def close(self) -> None:
        await self._pool.close()

    @contextlib.contextmanager
    def _unavailable(self) -> Iterator[None]:
        try:
            with _translated_errors():
                yield
        except StoreUnavailable:
            raise errors.Unavailable("the database is unavailable") from None

    async def role_can_bypass_rls(self) -> bool:
        with self._unavailable():
            return bool(await self._pool.fetchval(QUERIES["role_can_bypass_rls"]))

    async def authenticate_api_key(self, secret_hash: bytes) -> ApiKeyIdentity | None:
        """What vauchflow_core.rpc.auth.Authenticator asks of a database."""
        with self._unavailable():
            row = await self._pool.fetchrow(QUERIES["authenticate_api_key"], secret_hash)
        return decoders.api_key_identity(row) if row else None

    async def events_after(
        self, tenant_id: UUID, after: EventPosition, event_types: Sequence[str], limit: int
    ) -> list[StoredEvent]:
        """The tenant's committed events after `after`, in stream order, from transactions that can no longer
        commit below it."""
        with self._unavailable():
            async with self._pool.acquire() as conn, conn.transaction(readonly=True):
                await conn.execute(QUERIES["set_tenant"], str(tenant_id))
                rows = await conn.fetch(
                    QUERIES["tenant_events_after"],
                    tenant_id,
                    str(after.transaction_id),
                    after.id,
                    list(event_types),
                    limit,
                )
        return [decoders.stored_event(r) for r in rows]


def _clean_body(body: str) -> str:
    """At most 1 KiB of a response body, without NUL characters (PostgreSQL text cannot hold them)."""
    return body[:MAX_RESPONSE_BODY_CHARS].replace("\0", "")
