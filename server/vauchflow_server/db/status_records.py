"""The status page's records in PostgreSQL: check results, incidents and their append-only updates.

One transaction class over platform tables that hold no tenant data (migration 0008), opened by
Database.status_transaction(); rows come back as the plain records below, never as asyncpg types.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from vauchflow_core.db.connection import Connection
from vauchflow_core.db.queries import QUERIES
from vauchflow_core.events import Event
from vauchflow_core.secret_box import Sealed


@dataclass(frozen=True)
class StoredCheck:
    component: str
    outcome: str
    duration_ms: float | None
    detail: str
    check_time: dt.datetime


@dataclass(frozen=True)
class StoredIncidentUpdate:
    id: int
    state: str
    message: str
    affected_endpoints: tuple[str, ...]
    workaround: str
    expected_resolution_time: dt.datetime | None
    catch_up_window: str
    author: str
    create_time: dt.datetime


@dataclass(frozen=True)
class StoredIncident:
    id: UUID
    title: str
    state: str
    components: tuple[str, ...]
    affected_plans: tuple[str, ...]
    postmortem_required: bool
    create_time: dt.datetime
    update_time: dt.datetime
    resolve_time: dt.datetime | None
    request_hash: bytes | None


@dataclass(frozen=True)
class NewIncidentUpdate:
    state: str
    message: str
    author: str
    affected_endpoints: tuple[str, ...] = ()
    workaround: str = ""
    expected_resolution_time: dt.datetime | None = None
    catch_up_window: str = ""


@dataclass(frozen=True)
class NewSubscription:
    id: UUID
    kind: str
    sealed_contact: Sealed
    unsubscribe_token_hash: bytes
    email_index: bytes | None = None
    email_index_key_version: int | None = None
    url: str | None = None
    confirm_token_hash: bytes | None = None
    confirm_time: dt.datetime | None = None


def _incident(row: asyncpg.Record) -> StoredIncident:
    hash_ = row["creation_request_hash"]
    return StoredIncident(
        id=row["id"],
        title=row["title"],
        state=row["state"],
        components=tuple(row["components"]),
        affected_plans=tuple(row["affected_plans"]),
        postmortem_required=row["postmortem_required"],
        create_time=row["create_time"],
        update_time=row["update_time"],
        resolve_time=row["resolve_time"],
        request_hash=bytes(hash_) if hash_ is not None else None,
    )


def _update(row: asyncpg.Record) -> StoredIncidentUpdate:
    return StoredIncidentUpdate(
        id=row["id"],
        state=row["state"],
        message=row["message"],
        affected_endpoints=tuple(row["affected_endpoints"]),
        workaround=row["workaround"],
        expected_resolution_time=row["expected_resolution_time"],
        catch_up_window=row["catch_up_window"],
        author=row["author"],
        create_time=row["create_time"],
    )


class StatusTransaction:
    def __init__(self, conn: Connection):
        self._conn = conn

    async def insert_checks(self, checks: Sequence[StoredCheck]) -> None:
        await self._conn.execute(
            QUERIES["insert_status_checks"],
            [c.component for c in checks],
            [c.outcome for c in checks],
            [c.duration_ms for c in checks],
            [c.detail for c in checks],
            [c.check_time for c in checks],
        )

    async def recent_checks(self, components: Sequence[str], per_component: int) -> dict[str, list[StoredCheck]]:
        """Oldest first, per component."""
        found: dict[str, list[StoredCheck]] = {c: [] for c in components}
        for row in await self._conn.fetch(QUERIES["recent_status_checks"], list(components), per_component):
            found[row["component"]].append(
                StoredCheck(row["component"], row["outcome"], row["duration_ms"], row["detail"], row["check_time"])
            )
        for checks in found.values():
            checks.reverse()
        return found

    async def daily_uptime(self, since: dt.datetime) -> dict[tuple[str, dt.date], tuple[int, int]]:
        rows = await self._conn.fetch(QUERIES["daily_status_uptime"], since.date())
        return {(r["component"], r["day"]): (r["passed"], r["failed"]) for r in rows}

    async def failure_streak_start(self, component: str) -> dt.datetime | None:
        start: dt.datetime | None = await self._conn.fetchval(QUERIES["status_failure_streak_start"], component)
        return start

    async def insert_incident(
        self,
        incident_id: UUID,
        title: str,
        components: Sequence[str],
        affected_plans: Sequence[str],
        request_id: str | None,
        request_hash: bytes | None,
        now: dt.datetime,
    ) -> StoredIncident | None:
        """None when request_id was used before."""
        row = await self._conn.fetchrow(
            QUERIES["insert_status_incident"],
            incident_id,
            title,
            list(components),
            list(affected_plans),
            request_id,
            request_hash,
            now,
        )
        return _incident(row) if row else None

    async def incident_by_request_id(self, request_id: str) -> StoredIncident | None:
        row = await self._conn.fetchrow(QUERIES["get_status_incident_by_request_id"], request_id)
        return _incident(row) if row else None

    async def insert_update(self, incident_id: UUID, update: NewIncidentUpdate, now: dt.datetime) -> None:
        await self._conn.execute(
            QUERIES["insert_status_incident_update"],
            incident_id,
            update.state,
            update.message,
            list(update.affected_endpoints),
            update.workaround,
            update.expected_resolution_time,
            update.catch_up_window,
            update.author,
            now,
        )

    async def get_incident(self, incident_id: UUID, *, lock: bool = False) -> StoredIncident | None:
        row = await self._conn.fetchrow(QUERIES["lock_status_incident" if lock else "get_status_incident"], incident_id)
        return _incident(row) if row else None

    async def set_incident_state(self, incident_id: UUID, state: str, now: dt.datetime) -> StoredIncident:
        row = await self._conn.fetchrow(QUERIES["set_status_incident_state"], incident_id, state, now)
        assert row is not None, "the incident is locked by this transaction"
        return _incident(row)

    async def require_postmortem(self, incident_ids: Sequence[UUID]) -> None:
        await self._conn.execute(QUERIES["require_status_postmortem"], list(incident_ids))

    async def open_incidents(self) -> list[StoredIncident]:
        return [_incident(r) for r in await self._conn.fetch(QUERIES["open_status_incidents"])]

    async def resolved_incidents_since(self, since: dt.datetime) -> list[StoredIncident]:
        return [_incident(r) for r in await self._conn.fetch(QUERIES["resolved_status_incidents_since"], since)]

    async def list_incidents(self, after: tuple[dt.datetime, UUID] | None, limit: int) -> list[StoredIncident]:
        after_time, after_id = after or (None, None)
        rows = await self._conn.fetch(QUERIES["list_status_incidents"], after_time, after_id, limit)
        return [_incident(r) for r in rows]

    async def updates_of(self, incident_ids: Sequence[UUID]) -> dict[UUID, list[StoredIncidentUpdate]]:
        """Newest first, per incident."""
        found: dict[UUID, list[StoredIncidentUpdate]] = {i: [] for i in incident_ids}
        for row in await self._conn.fetch(QUERIES["status_incident_updates"], list(incident_ids)):
            found[row["incident_id"]].append(_update(row))
        return found

    # Incident changes as events, and subscriptions

    async def insert_event(self, event: Event, now: dt.datetime) -> None:
        await self._conn.execute(QUERIES["insert_status_event"], event.id, event.type, event.payload, now)

    async def insert_subscription(self, subscription: NewSubscription, now: dt.datetime) -> bool:
        """False when the email address is subscribed already."""
        sealed = subscription.sealed_contact
        inserted = await self._conn.fetchval(
            QUERIES["insert_status_subscription"],
            subscription.id,
            subscription.kind,
            subscription.email_index,
            subscription.email_index_key_version,
            subscription.url,
            sealed.ciphertext,
            sealed.nonce,
            sealed.key_version,
            subscription.confirm_token_hash,
            subscription.unsubscribe_token_hash,
            subscription.confirm_time,
            now,
        )
        return inserted is not None

    async def subscription_by_email(self, indexes: Sequence[bytes]) -> tuple[UUID, bool] | None:
        """(id, confirmed) of the subscription with any of these address indexes."""
        row = await self._conn.fetchrow(QUERIES["status_subscription_by_email_index"], list(indexes))
        return (row["id"], row["confirm_time"] is not None) if row else None

    async def queue_confirmation(self, notification_id: UUID, subscription_id: UUID) -> None:
        await self._conn.execute(QUERIES["insert_status_confirmation"], notification_id, subscription_id)

    async def confirm_subscription(self, confirm_token_hash: bytes, now: dt.datetime) -> UUID | None:
        confirmed: UUID | None = await self._conn.fetchval(
            QUERIES["confirm_status_subscription"], confirm_token_hash, now
        )
        return confirmed

    async def delete_subscription(self, unsubscribe_token_hash: bytes) -> UUID | None:
        deleted: UUID | None = await self._conn.fetchval(QUERIES["delete_status_subscription"], unsubscribe_token_hash)
        return deleted
