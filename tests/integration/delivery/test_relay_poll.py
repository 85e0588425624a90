"""The relay's poll runs every 20 ms on every replica, on a table nothing ever deletes from: it must stay one
index probe however long the outbox grows (a plain EXISTS was planned as a scan of the whole outbox)."""

from __future__ import annotations

import json

import asyncpg

from vauchflow_delivery.store import QUERIES

EVENTS = 20_000


async def test_the_poll_is_one_index_probe_on_a_long_outbox_and_sees_the_next_event(owner: asyncpg.Connection) -> None:
    tenant = await owner.fetchval(
        "INSERT INTO tenants (id, name, plan) VALUES (gen_random_uuid(), 'relay', 'FREE') RETURNING id"
    )
    await owner.execute(
        "INSERT INTO outbox_events (tenant_id, event_id, type, payload)"
        " SELECT $1, gen_random_uuid(), 'voucher.created', '{}' FROM generate_series(1, $2)",
        tenant, EVENTS,
    )  # fmt: skip
    # Everything relayed: the position is at the last event, where a scan would read the whole table to find nothing.
    await owner.execute(
        "UPDATE outbox_relay_position SET (transaction_id, event_id) ="
        " (SELECT transaction_id, id FROM outbox_events ORDER BY transaction_id DESC, id DESC LIMIT 1)"
    )
    await owner.execute("ANALYZE outbox_events")
    query = QUERIES["committed_events_waiting"]

    plan = json.loads(await owner.fetchval(f"EXPLAIN (FORMAT JSON) {query}"))[0]["Plan"]
    reads = {(node["Node Type"], node.get("Index Name")) for node in _nodes(plan)
             if node.get("Relation Name") == "outbox_events"}  # fmt: skip
    assert reads == {("Index Only Scan", "outbox_events_by_position")} or reads == {
        ("Index Scan", "outbox_events_by_position")
    }, reads
    assert await owner.fetchval(query) is False
    await owner.execute(
        "INSERT INTO outbox_events (tenant_id, event_id, type, payload) VALUES ($1, gen_random_uuid(), 'x', '{}')",
        tenant,
    )
    assert await owner.fetchval(query) is True


def _nodes(plan: dict) -> list[dict]:
    return [plan] + [node for child in plan.get("Plans", []) for node in _nodes(child)]
