"""Use cases behind WebhookService: endpoints and their secrets, events, deliveries, redelivery and recovery.

Secrets are generated here, sealed under the key ring before they reach the database, and returned in clear only
by the call that created them (create, rotate). Deliveries this module queues (test events, redeliveries,
recoveries) are written in the caller's transaction with a NOTIFY, so the delivery service wakes at commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from vauchflow_core import event_cursor, events, plans
from vauchflow_core.errors import FailedPrecondition, InvalidArgument, NotFound, QuotaExceeded, Violations, shown_id
from vauchflow_core.events import StoredEvent
from vauchflow_core.secret_box import KeyRing
from vauchflow_core.webhook_deliveries import MAX_LISTED_ATTEMPTS, Delivery
from vauchflow_core.webhook_endpoints import (
    MANUAL,
    PREVIOUS_SECRET_LIFETIME_SECONDS,
    UPDATABLE_FIELDS,
    EndpointSettings,
    UrlPolicy,
    WebhookEndpoint,
    apply_changes,
    check_settings,
    format_signing_secret,
    generate_signing_secret,
    matches,
    normalize_event_types,
    open_signing_secret,
    seal_signing_secret,
)
from vauchflow_server import idempotency
from vauchflow_server.db.database import Database, TenantTransaction
from vauchflow_server.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, make_page, page_request

_CREATE_OPERATION = "CreateWebhookEndpoint"
_ENDPOINT_QUOTA = "webhook_endpoints"


@dataclass(frozen=True)
class CreateEndpoint:
    settings: EndpointSettings
    request_id: str = ""


@dataclass(frozen=True)
class CreatedEndpoint:
    endpoint: WebhookEndpoint
    secret: str  # empty on an idempotent replay: only the ciphertext is kept


@dataclass(frozen=True)
class UpdateEndpoint:
    id: str
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RotatedSecret:
    endpoint: WebhookEndpoint
    secret: str
    previous_secret_expire_time: datetime


@dataclass(frozen=True)
class EventFilter:
    types: tuple[str, ...] = ()
    start_time: datetime | None = None
    end_time: datetime | None = None


def endpoint_not_found(endpoint_id: object) -> NotFound:
    return NotFound(f"no webhook endpoint with id {shown_id(endpoint_id)}", reason="WEBHOOK_ENDPOINT_NOT_FOUND")


def event_not_found(event_id: object) -> NotFound:
    return NotFound(f"no event with id {shown_id(event_id)}", reason="EVENT_NOT_FOUND")


def _endpoint_disabled(endpoint_id: object) -> FailedPrecondition:
    return FailedPrecondition(
        f"webhook endpoint {endpoint_id} is disabled; enable it first", reason="WEBHOOK_ENDPOINT_DISABLED"
    )


def _parse_endpoint_id(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise endpoint_not_found(raw) from None


def _parse_event_id(raw: str) -> UUID:
    event_id = events.parse_public_event_id(raw)
    if event_id is None:
        raise event_not_found(raw)
    return event_id


def _check_window(start_time: datetime | None, end_time: datetime | None, violations: Violations) -> None:
    if start_time and end_time and end_time <= start_time:
        violations.add("end_time", "must be after start_time")


class WebhookAdmin:
    def __init__(self, db: Database, key_ring: KeyRing, url_policy: UrlPolicy):
        self._db = db
        self._key_ring = key_ring
        self._url_policy = url_policy

    # Endpoints

    async def create(self, tenant_id: UUID, command: CreateEndpoint) -> CreatedEndpoint:
        settings = EndpointSettings(
            url=command.settings.url.strip(),
            description=command.settings.description.strip(),
            event_types=normalize_event_types(command.settings.event_types),
            enabled=command.settings.enabled,
        )
        violations = Violations()
        check_settings(settings, self._url_policy, violations)
        idempotency.check_key(command.request_id, violations)
        violations.raise_if_any()

        endpoint_id = uuid.uuid4()
        async with self._db.tenant_transaction(tenant_id) as tx:
            if command.request_id:
                fingerprint = idempotency.fingerprint(CreateEndpoint(settings, command.request_id))
                original = await idempotency.claim(tx, _CREATE_OPERATION, command.request_id, fingerprint, endpoint_id)
                if original is not None:
                    return CreatedEndpoint(await _require(tx, original), secret="")
            await _check_endpoint_quota(tx)
            raw_secret = generate_signing_secret()
            sealed = seal_signing_secret(self._key_ring, raw_secret, tenant_id=tenant_id, endpoint_id=endpoint_id)
            endpoint = await tx.insert_webhook_endpoint(endpoint_id, settings, sealed)
        return CreatedEndpoint(endpoint, format_signing_secret(raw_secret))

    async def get(self, tenant_id: UUID, endpoint_id: str) -> WebhookEndpoint:
        ident = _parse_endpoint_id(endpoint_id)
        async with self._db.tenant_transaction(tenant_id) as tx:
            return await _require(tx, ident)

    async def list(self, tenant_id: UUID, page_size: int, page_token: str) -> Page[WebhookEndpoint]:
        request = page_request(page_size, page_token)
        async with self._db.tenant_read(tenant_id) as tx:
            rows = await tx.list_webhook_endpoints(request.after, request.size + 1)
        return make_page(rows, request, lambda e: (e.create_time, e.id))

    async def update(self, tenant_id: UUID, command: UpdateEndpoint) -> WebhookEndpoint:
        unknown = set(command.changes) - UPDATABLE_FIELDS
        if unknown:
            raise InvalidArgument.single("update_mask", f"cannot update {', '.join(sorted(unknown))}")
        if not command.changes:
            raise InvalidArgument.single("update_mask", "names no field to change")
        changes = dict(command.changes)
        for name in ("url", "description"):
            if name in changes:
                changes[name] = changes[name].strip()
        if "event_types" in changes:
            changes["event_types"] = normalize_event_types(changes["event_types"])
        ident = _parse_endpoint_id(command.id)
        async with self._db.tenant_transaction(tenant_id) as tx:
            locked = await tx.webhook_endpoint_for_update(ident)
            if locked is None:
                raise endpoint_not_found(command.id)
            current, _ = locked
            settings = apply_changes(current.settings, changes)
            violations = Violations()
            check_settings(settings, self._url_policy, violations)
            violations.raise_if_any()
            if settings.enabled:
                disabled_reason = ""
            elif current.settings.enabled:
                disabled_reason = MANUAL
            else:
                disabled_reason = current.disabled_reason  # stays disabled for the reason it was
            updated = await tx.update_webhook_endpoint(ident, settings, disabled_reason)
            assert updated is not None, "the row is locked"
        return updated

    async def delete(self, tenant_id: UUID, endpoint_id: str) -> None:
        ident = _parse_endpoint_id(endpoint_id)
        async with self._db.tenant_transaction(tenant_id) as tx:
            if not await tx.delete_webhook_endpoint(ident):
                raise endpoint_not_found(endpoint_id)

    async def rotate_secret(self, tenant_id: UUID, endpoint_id: str) -> RotatedSecret:
        """The current secret becomes the previous one (still signing for 24 hours); a new one is returned once."""
        ident = _parse_endpoint_id(endpoint_id)
        ring = self._key_ring
        async with self._db.tenant_transaction(tenant_id) as tx:
            locked = await tx.webhook_endpoint_for_update(ident)
            if locked is None:
                raise endpoint_not_found(endpoint_id)
            _, secrets = locked
            outgoing = open_signing_secret(ring, secrets.current, tenant_id=tenant_id, endpoint_id=ident)
            # Sealed again under the previous-secret purpose (and the newest key), so the two can't be swapped.
            previous = seal_signing_secret(ring, outgoing, tenant_id=tenant_id, endpoint_id=ident, previous=True)
            raw_secret = generate_signing_secret()
            current = seal_signing_secret(ring, raw_secret, tenant_id=tenant_id, endpoint_id=ident)
            endpoint, stored = await tx.rotate_webhook_secret(
                ident, current, previous, PREVIOUS_SECRET_LIFETIME_SECONDS
            )
        assert stored.previous_expire_time is not None
        return RotatedSecret(endpoint, format_signing_secret(raw_secret), stored.previous_expire_time)

    async def send_test_event(self, tenant_id: UUID, endpoint_id: str) -> StoredEvent:
        """A webhook.test event and a delivery of it to this endpoint only (the relay skips webhook.test)."""
        ident = _parse_endpoint_id(endpoint_id)
        async with self._db.tenant_transaction(tenant_id) as tx:
            endpoint = await _require(tx, ident)
            if not endpoint.settings.enabled:
                raise _endpoint_disabled(endpoint_id)
            event = await tx.record_event(events.webhook_test_event(ident))
            await tx.insert_webhook_delivery(uuid.uuid4(), ident, event)
            await tx.notify_deliveries()
        return event

    # Events

    async def list_events(
        self, tenant_id: UUID, event_filter: EventFilter, page_size: int, page_token: str
    ) -> Page[StoredEvent]:
        violations = Violations()
        types = normalize_event_types(event_filter.types)
        unknown = sorted(set(types) - set(events.EVENT_TYPES))
        if unknown:
            violations.add("types", f"unknown event types {unknown}; known: {', '.join(events.EVENT_TYPES)}")
        _check_window(event_filter.start_time, event_filter.end_time, violations)
        if page_size < 0:
            violations.add("page_size", "must not be negative")
        violations.raise_if_any()
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        after = event_cursor.decode(page_token, "page_token") if page_token else None
        async with self._db.tenant_read(tenant_id) as tx:
            rows = await tx.list_events(types or None, event_filter.start_time, event_filter.end_time, after, size + 1)
        items = rows[:size]
        token = event_cursor.encode(items[-1].position) if len(rows) > size else ""
        return Page(items, token)

    async def get_event(self, tenant_id: UUID, event_id: str) -> StoredEvent:
        ident = _parse_event_id(event_id)
        async with self._db.tenant_transaction(tenant_id) as tx:
            event = await tx.get_event(ident)
        if event is None:
            raise event_not_found(event_id)
        return event

    # Deliveries

    async def list_deliveries(
        self, tenant_id: UUID, endpoint_id: str, page_size: int, page_token: str
    ) -> Page[Delivery]:
        request = page_request(page_size, page_token)
        ident = _parse_endpoint_id(endpoint_id)
        async with self._db.tenant_read(tenant_id) as tx:
            await _require(tx, ident)
            rows = await tx.list_webhook_deliveries(ident, request.after, request.size + 1, MAX_LISTED_ATTEMPTS)
        return make_page(rows, request, lambda d: (d.create_time, d.id))

    async def redeliver(self, tenant_id: UUID, event_id: str, endpoint_id: str = "") -> Sequence[Delivery]:
        """Queues the event for one endpoint, or (endpoint_id empty) for every enabled endpoint it is meant for."""
        event_ident = _parse_event_id(event_id)
        endpoint_ident = _parse_endpoint_id(endpoint_id) if endpoint_id else None
        async with self._db.tenant_transaction(tenant_id) as tx:
            event = await tx.get_event(event_ident)
            if event is None:
                raise event_not_found(event_id)
            if endpoint_ident is not None:
                endpoint = await _require(tx, endpoint_ident)
                if not endpoint.settings.enabled:
                    raise _endpoint_disabled(endpoint_id)
                targets = [endpoint_ident]
            else:
                targets = await _targets_of(tx, event)
            deliveries = [await tx.requeue_webhook_delivery(uuid.uuid4(), target, event) for target in targets]
            if deliveries:
                await tx.notify_deliveries()
        return deliveries

    async def recover(
        self, tenant_id: UUID, endpoint_id: str, start_time: datetime | None, end_time: datetime | None
    ) -> int:
        """Failed deliveries to the endpoint whose event was created in [start_time, end_time) become pending."""
        violations = Violations()
        _check_window(start_time, end_time, violations)
        violations.raise_if_any()
        ident = _parse_endpoint_id(endpoint_id)
        async with self._db.tenant_transaction(tenant_id) as tx:
            endpoint = await _require(tx, ident)
            if not endpoint.settings.enabled:
                raise _endpoint_disabled(endpoint_id)
            count = await tx.recover_webhook_deliveries(ident, start_time, end_time)
            if count:
                await tx.notify_deliveries()
        return count


async def _require(tx: TenantTransaction, endpoint_id: UUID) -> WebhookEndpoint:
    endpoint = await tx.webhook_endpoint(endpoint_id)
    if endpoint is None:
        raise endpoint_not_found(endpoint_id)
    return endpoint


async def _check_endpoint_quota(tx: TenantTransaction) -> None:
    plan, overrides = await tx.tenant_limits()
    limit = plans.effective_limits(plan, overrides).webhook_endpoints
    if limit is None:
        return
    await tx.lock_quota(_ENDPOINT_QUOTA)
    if await tx.count_webhook_endpoints() >= limit:
        raise QuotaExceeded(_ENDPOINT_QUOTA, plan, limit)


async def _targets_of(tx: TenantTransaction, event: StoredEvent) -> list[UUID]:
    """The endpoints an event goes to: a test event to the endpoint it was sent to, others by filter."""
    enabled = await tx.enabled_webhook_endpoints()
    if event.type == events.WEBHOOK_TEST:
        sent_to = set(await tx.endpoints_with_delivery_of(event.id))
        return [e.id for e in enabled if e.id in sent_to]
    return [e.id for e in enabled if matches(e.settings.event_types, event.type)]
