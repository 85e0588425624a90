"""The gate's Lua scripts are idempotent per lease: the Redis client retries a call whose reply was lost, and a
retried take or settle must not move a second unit."""

from __future__ import annotations

import uuid

import redis.asyncio as redis_asyncio

from vauchflow_server.metrics import ServerMetrics
from vauchflow_server.redemption.flash_sale_gate import FlashSaleGate, VoucherKey


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


async def test_a_settle_that_times_out_once_is_sent_again(redis_server):
    """A stalled moment (here Redis pausing its clients past the gate's timeout) must not leave a unit held until
    its lease expires: the settle is sent once more."""
    client = redis_asyncio.from_url(redis_server.url)
    admin = redis_asyncio.from_url(redis_server.url)
    try:
        gate = FlashSaleGate(client, ServerMetrics(), timeout_seconds=0.5)
        key = VoucherKey(uuid.uuid4(), "STALLED")
        await client.hset(key.stock, mapping={"units": 5, "version": 1})
        claim = gate.claim(key.tenant_id, key.code)
        assert claim is not None
        await claim.take()
        assert claim.holds_unit and int(await client.hget(key.stock, "units")) == 4
        await admin.execute_command("CLIENT", "PAUSE", 700, "ALL")  # the first settle waits 0.5 s and gives up
        await claim.settle(give_back=True)
        assert int(await client.hget(key.stock, "units")) == 5
        assert await client.zcard(key.leases) == 0
    finally:
        await client.aclose()
        await admin.aclose()
