"""How many event streams a tenant holds open at once: at most its plan's `event_streams`, across every delivery
replica when Redis is there.

With Redis, each open stream is a member of the tenant's sorted set (`vf:{streams:<tenant>}`), scored by when it
expires unless renewed; the stream renews it while open and removes it when it ends, and a crashed replica's
members simply expire. Without Redis (or while it does not answer) the count is this process's own: the cap then
holds per replica, and a stream is never refused because Redis is down.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from uuid import UUID

import redis.exceptions

from vauchflow_core.errors import QuotaExceeded
from vauchflow_core.plans import limits_for
from vauchflow_core.redis_client import RedisClient

log = logging.getLogger(__name__)

RESOURCE = "event_streams"
# KEYS[1]: the tenant's set. ARGV: member, cap, lease (ms). Drops expired members, then adds this one if there is
# room. Redis's own clock, so every replica counts the same.
ACQUIRE_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"""
RENEW_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
"""
ACQUIRE_SHA = hashlib.sha1(ACQUIRE_SCRIPT.encode()).hexdigest()
_REDIS_FAILURES = (redis.exceptions.RedisError, OSError, TimeoutError)


def slots_key(tenant_id: UUID) -> str:
    return f"vf:{{streams:{tenant_id}}}"


class StreamSlots:
    def __init__(self, redis_client: RedisClient | None, lease_seconds: float = 30.0):
        self._redis = redis_client
        self._lease_ms = int(lease_seconds * 1000)
        self._local: Counter[UUID] = Counter()

    @contextlib.asynccontextmanager
    async def hold(self, tenant_id: UUID, plan: str) -> AsyncIterator[Callable[[], Awaitable[None]]]:
        """Holds one of the tenant's stream slots for the block, or raises QuotaExceeded. Yields `renew`, which an
        open stream awaits well within the lease (its periodic re-check does)."""
        cap = limits_for(plan).event_streams
        if cap is None:
            yield _nothing
            return
        member = uuid.uuid4().hex
        held_in_redis = await self._acquire_in_redis(tenant_id, member, cap)
        if held_in_redis is False or (held_in_redis is None and self._local[tenant_id] >= cap):
            raise QuotaExceeded(RESOURCE, plan, cap)
        self._local[tenant_id] += 1

        async def renew() -> None:
            if held_in_redis:
                await self._redis_call(lambda r: r.eval(RENEW_SCRIPT, 1, slots_key(tenant_id), member, self._lease_ms))

        try:
            yield renew
        finally:
            self._local[tenant_id] -= 1
            if self._local[tenant_id] <= 0:
                del self._local[tenant_id]
            if held_in_redis:
                await self._redis_call(lambda r: r.zrem(slots_key(tenant_id), member))

    async def _acquire_in_redis(self, tenant_id: UUID, member: str, cap: int) -> bool | None:
        """True: taken; False: the tenant is at its cap; None: no answer from Redis (count locally)."""
        if self._redis is None:
            return None
        result = await self._redis_call(
            lambda r: r.eval(ACQUIRE_SCRIPT, 1, slots_key(tenant_id), member, cap, self._lease_ms)
        )
        return None if result is None else bool(result)

    async def _redis_call(self, call: Callable[[RedisClient], Awaitable[object]]) -> object | None:
        assert self._redis is not None
        try:
            return await call(self._redis)
        except _REDIS_FAILURES as error:
            log.warning("stream slots: Redis unreachable", extra={"action": "stream_slots_fail_open",
                                                                  "error_type": type(error).__name__})  # fmt: skip
            return None


async def _nothing() -> None:
    return None
