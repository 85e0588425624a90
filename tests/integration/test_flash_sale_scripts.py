"""The gate's Lua scripts are idempotent per lease: the Redis client retries a call whose reply was lost, and a
retried take or settle must not move a second unit."""

from __future__ import annotations

import uuid

import redis.asyncio as redis_asyncio

from vauchflow_server.flash_sale_gate import FlashSaleGate, VoucherKey
from vauchflow_server.metrics import ServerMetrics


async def test_a_repeated_take_or_settle_moves_one_unit_only(redis_server):
    client = redis_asyncio.from_url(redis_server.url)
    try:
        gate = FlashSaleGate(client, ServerMetrics())
        key = VoucherKey(uuid.uuid4(), "IDEMPOTENT")
        await client.hset(key.stock, mapping={"units": 5, "version": 1})
        lease = uuid.uuid4().hex
        take_args = [lease, 4102444800, 240]

        for _ in range(3):  # the first call and two retries of it
            assert await gate._take_script(keys=[key.stock, key.leases], args=take_args) == 1
        assert int(await client.hget(key.stock, "units")) == 4

        for _ in range(3):
            await gate._settle_script(keys=[key.stock, key.leases], args=[lease, 1])
        assert int(await client.hget(key.stock, "units")) == 5

        # A settle for a take that never happened gives nothing back.
        await gate._settle_script(keys=[key.stock, key.leases], args=[uuid.uuid4().hex, 1])
        assert int(await client.hget(key.stock, "units")) == 5
    finally:
        await client.aclose()
