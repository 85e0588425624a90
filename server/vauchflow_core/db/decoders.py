"""Rows both services read, decoded into the shared domain types: one decoder per shape."""

from __future__ import annotations

import asyncpg

from vauchflow_core.event_cursor import EventPosition
from vauchflow_core.events import StoredEvent
from vauchflow_core.plans import LimitOverrides
from vauchflow_core.secret_box import Sealed
from vauchflow_core.tenancy import ApiKeyIdentity
from vauchflow_core.webhook_endpoints import EndpointSecrets


def limits(row: asyncpg.Record) -> LimitOverrides:
    return LimitOverrides(
        requests_per_second=row["requests_per_second"],
        burst=row["burst"],
        max_vouchers=row["max_vouchers"],
        max_webhook_endpoints=row["max_webhook_endpoints"],
    )


def api_key_identity(row: asyncpg.Record) -> ApiKeyIdentity:
    """A row of the authenticate_api_key query."""
    return ApiKeyIdentity(
        row["key_id"], row["tenant_id"], frozenset(row["permissions"]), row["revoked"], row["plan"], limits(row)
    )


def stored_event(row: asyncpg.Record) -> StoredEvent:
    """An outbox row: event_id, type, payload, create_time, transaction_position and id (the row's serial)."""
    return StoredEvent(
        id=row["event_id"],
        type=row["type"],
        payload=row["payload"],
        create_time=row["create_time"],
        position=EventPosition(int(row["transaction_position"]), row["id"]),
    )


def endpoint_secrets(row: asyncpg.Record) -> EndpointSecrets:
    """An endpoint row's sealed signing secrets."""
    previous = None
    if row["previous_secret_ciphertext"] is not None:
        previous = Sealed(
            bytes(row["previous_secret_ciphertext"]),
            bytes(row["previous_secret_nonce"]),
            row["previous_secret_key_version"],
        )
    return EndpointSecrets(
        current=Sealed(bytes(row["secret_ciphertext"]), bytes(row["secret_nonce"]), row["secret_key_version"]),
        previous=previous,
        previous_expire_time=row["previous_secret_expire_time"],
    )
