"""Retention prunes what nobody needs and nothing else (issue 16, finding 9), run as the delivery role on a real
database: old idempotency keys go; old, relayed, finished events go with their deliveries and attempts; an event
a delivery still waits to send, one the relay has not passed, and anything young stay."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from support.delivery_service import DeliveryDatabase
from vauchflow_delivery.metrics import DeliveryMetrics
from vauchflow_delivery.retention import Pruner, RetentionSettings
from vauchflow_delivery.store import DeliveryStore

DAY = 24 * 3600


@pytest.fixture
async def owner_conn(delivery_db: DeliveryDatabase) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(delivery_db.owner_dsn)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def store(delivery_db: DeliveryDatabase) -> AsyncIterator[DeliveryStore]:
    store = await DeliveryStore.connect(delivery_db.delivery_dsn, min_size=1, max_size=2)
    try:
        yield store
    finally:
        await store.close()


async def event(conn: asyncpg.Connection, tenant: uuid.UUID, age_days: float) -> uuid.UUID:
    event_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO outbox_events (tenant_id, event_id, type, payload, create_time)"
        " VALUES ($1, $2, 'voucher.created', '{}', now() - make_interval(days => $3))",
        tenant, event_id, age_days,
    )  # fmt: skip
    return event_id


async def delivery(conn: asyncpg.Connection, tenant: uuid.UUID, endpoint: uuid.UUID, event_id: uuid.UUID,
                   status: str) -> uuid.UUID:  # fmt: skip
    delivery_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO webhook_deliveries (tenant_id, id, endpoint_id, event_id, event_type, status, attempt_count)"
        " VALUES ($1, $2, $3, $4, 'voucher.created', $5, 1)",
        tenant, delivery_id, endpoint, event_id, status,
    )  # fmt: skip
    await conn.execute(
        "INSERT INTO webhook_delivery_attempts (tenant_id, delivery_id, attempt_number, http_status, latency_ms,"
        " response_body, error) VALUES ($1, $2, 1, 200, 5, '', '')",
        tenant, delivery_id,
    )  # fmt: skip
    return delivery_id


async def test_retention_prunes_only_what_nobody_needs(owner_conn: asyncpg.Connection, store: DeliveryStore) -> None:
    conn = owner_conn
    tenant = await conn.fetchval(
        "INSERT INTO tenants (id, name, plan) VALUES (gen_random_uuid(), 't', 'FREE') RETURNING id"
    )
    endpoint = uuid.uuid4()
    await conn.execute(
        "INSERT INTO webhook_endpoints (tenant_id, id, url, event_types, secret_ciphertext, secret_nonce,"
        " secret_key_version) VALUES ($1, $2, 'https://example.com/h', '{}', $3, $4, 1)",
        tenant, endpoint, bytes(48), bytes(12),
    )  # fmt: skip
    old_delivered = await event(conn, tenant, 40)
    await delivery(conn, tenant, endpoint, old_delivered, "DELIVERED")
    old_failed = await event(conn, tenant, 40)
    await delivery(conn, tenant, endpoint, old_failed, "FAILED")
    old_pending = await event(conn, tenant, 40)
    await delivery(conn, tenant, endpoint, old_pending, "PENDING")
    old_no_delivery = await event(conn, tenant, 35)
    young = await event(conn, tenant, 1)
    # The relay has passed everything so far; an old event committed after that position is not yet relayed.
    await conn.execute(
        "UPDATE outbox_relay_position SET (transaction_id, event_id) ="
        " (SELECT transaction_id, id FROM outbox_events ORDER BY transaction_id DESC, id DESC LIMIT 1)"
    )
    not_relayed = await event(conn, tenant, 40)
    for key, age_hours in (("old", 30), ("fresh", 2)):
        await conn.execute(
            "INSERT INTO idempotency_keys (tenant_id, operation, key, request_hash, response, create_time)"
            " VALUES ($1, 'RedeemVoucher', $2, '\\x00', '\\x00', now() - make_interval(hours => $3))",
            tenant, key, age_hours,
        )  # fmt: skip

    metrics = DeliveryMetrics()
    pruner = Pruner(
        store, metrics, RetentionSettings(idempotency_key_seconds=DAY, event_seconds=30 * DAY, batch_size=2)
    )
    assert await pruner.prune_once() == (1, 3)  # batches of 2: a full batch is followed by the next

    kept = {r["event_id"] for r in await conn.fetch("SELECT event_id FROM outbox_events")}
    assert kept == {old_pending, young, not_relayed}
    assert await conn.fetchval("SELECT count(*) FROM webhook_deliveries") == 1  # the pending one
    assert await conn.fetchval("SELECT count(*) FROM webhook_delivery_attempts") == 1
    assert [r["key"] for r in await conn.fetch("SELECT key FROM idempotency_keys")] == ["fresh"]
    assert metrics.pruned.labels("events")._value.get() == 3
    assert await pruner.prune_once() == (0, 0)
    assert old_no_delivery not in kept and old_delivered not in kept and old_failed not in kept


async def test_the_retention_batch_is_an_index_walk_not_a_scan(owner_conn: asyncpg.Connection) -> None:
    await owner_conn.execute(
        "INSERT INTO tenants (id, name, plan) VALUES ('00000000-0000-0000-0000-000000000001', 't', 'FREE')"
    )
    await owner_conn.execute(
        "INSERT INTO idempotency_keys (tenant_id, operation, key, request_hash, response, create_time)"
        " SELECT '00000000-0000-0000-0000-000000000001', 'op', g::text, '\\x00', '\\x00',"
        " now() - make_interval(mins => g)"
        " FROM generate_series(1, 20000) AS g"
    )
    await owner_conn.execute("ANALYZE idempotency_keys")
    plan = await owner_conn.fetchval(
        "EXPLAIN (FORMAT JSON) SELECT ctid FROM idempotency_keys"
        " WHERE create_time < now() - interval '300 days' LIMIT 10"
    )
    assert "idempotency_keys_by_time" in plan
