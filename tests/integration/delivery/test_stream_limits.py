"""Event streams are bounded (issue 16, finding 3): a tenant holds at most its plan's open streams, across
replicas when Redis is there; a closed stream frees its slot; opening a stream counts against the request rate."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from vauchflow_core.errors import QuotaExceeded
from vauchflow_core.plans import limits_for
from vauchflow_delivery.stream_slots import StreamSlots, slots_key


@pytest.fixture
async def redis_client(redis_server) -> AsyncIterator[object]:
    import redis.asyncio as redis_asyncio

    client = redis_asyncio.Redis.from_url(redis_server.url)
    try:
        yield client
    finally:
        await client.aclose()


async def test_a_tenant_holds_at_most_its_plans_streams_across_replicas(redis_client) -> None:
    tenant = uuid.uuid4()
    cap = limits_for("FREE").event_streams
    assert cap == 2
    replica_1, replica_2 = StreamSlots(redis_client), StreamSlots(redis_client)  # type: ignore[arg-type]
    async with replica_1.hold(tenant, "FREE"), replica_2.hold(tenant, "FREE"):
        with pytest.raises(QuotaExceeded) as refused:
            async with replica_1.hold(tenant, "FREE"):
                pass
        assert (refused.value.reason, refused.value.metadata["limit"]) == ("PLAN_QUOTA_EXCEEDED", "2")
        # Another tenant is not affected.
        async with replica_2.hold(uuid.uuid4(), "FREE"):
            pass
    # Both closed: their slots are free again, and nothing is left behind.
    async with replica_1.hold(tenant, "FREE"), replica_2.hold(tenant, "FREE"):
        pass
    assert await redis_client.zcard(slots_key(tenant)) == 0


async def test_a_crashed_replicas_slots_expire(redis_client) -> None:
    tenant = uuid.uuid4()
    crashed = StreamSlots(redis_client, lease_seconds=0.2)  # type: ignore[arg-type]
    for _ in range(2):  # taken and never given back, as by a killed process
        await crashed._acquire_in_redis(tenant, uuid.uuid4().hex, 2)
    survivor = StreamSlots(redis_client)  # type: ignore[arg-type]
    with pytest.raises(QuotaExceeded):
        async with survivor.hold(tenant, "FREE"):
            pass
    # Polled, not slept: the lease runs on Redis's clock.
    for _ in range(200):
        try:
            async with survivor.hold(tenant, "FREE"):
                break
        except QuotaExceeded:
            await asyncio.sleep(0.05)
    else:
        raise AssertionError("the crashed replica's slots never expired")


async def test_without_redis_the_cap_holds_per_process() -> None:
    tenant = uuid.uuid4()
    slots = StreamSlots(None)
    async with slots.hold(tenant, "FREE"), slots.hold(tenant, "FREE"):
        with pytest.raises(QuotaExceeded):
            async with slots.hold(tenant, "FREE"):
                pass
    async with slots.hold(uuid.uuid4(), "ENTERPRISE"):  # unlimited
        pass
