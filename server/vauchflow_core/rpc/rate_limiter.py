"""Request rate limits per tenant (every key of a tenant draws on the plan's one allowance, so minting keys never
multiplies it), kept in Redis: GCRA (the generic cell rate algorithm) in one atomic Lua script.

GCRA stores one number per key, its theoretical arrival time (TAT): when the key's bucket would be empty again if
requests kept arriving at the allowed rate. A request is admitted when admitting it would not push the TAT more
than `burst` emission intervals past now; so a fresh key may send `burst` requests at once, then one every
1/rate seconds. The script reads the clock with Redis's own TIME, so every API server replica decides on one clock.
Keys are hash-tagged (`vf:{rl:<tenant id>}`) so the script runs unchanged on Redis Cluster.

Limits fail open: when Redis does not answer (within the client's short socket timeout), the request is allowed,
counted (rate_limit_fail_open, redis_errors{use="rate_limit"}) and a warning is logged at most once per
`warn_interval`. After a failure Redis is left alone for `retry_interval`, so a dead Redis costs requests nothing.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

import redis.exceptions

from vauchflow_core.plans import RateLimit
from vauchflow_core.redis_client import RedisClient
from vauchflow_core.rpc.metrics import RpcMetrics

log = logging.getLogger(__name__)

# KEYS[1]: the API key's state, a hash of its TAT (µs since the epoch, Redis's clock) and the emission interval the
# TAT was counted in. ARGV[1]: emission interval (µs), ARGV[2]: burst. Returns {1, 0} when admitted, {0, µs until a
# request would be admitted} when not. "debt" is how far the TAT is ahead of now. When the key's limit changed
# (a new plan or override), the requests it has used are kept, counted at the new rate and at most a full burst:
# a raised limit is usable at once, a lowered one costs at most one emission interval of waiting.
# Numbers are written with %.0f: Lua's default formatting keeps only 14 significant digits, too few for µs.
GCRA_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tat', 'interval')
local tat = tonumber(state[1])
local debt = 0
if tat and tat > now then
  debt = tat - now
  local counted_in = tonumber(state[2]) or interval
  if counted_in ~= interval then
    debt = math.min(debt / counted_in, burst) * interval
  end
end
local new_debt = debt + interval
if new_debt > burst * interval then
  return {0, math.ceil(new_debt - burst * interval)}
end
redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', now + new_debt), 'interval', interval)
redis.call('PEXPIRE', KEYS[1], math.ceil(new_debt / 1000))
return {1, 0}
"""
GCRA_SHA = hashlib.sha1(GCRA_SCRIPT.encode()).hexdigest()

_REDIS_FAILURES = (redis.exceptions.RedisError, OSError, TimeoutError)
# After a failed Redis call, how long every check fails open without asking Redis.
RETRY_INTERVAL_SECONDS = 1.0


def state_key(tenant_id: UUID) -> str:
    return f"vf:{{rl:{tenant_id}}}"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    # Seconds until a request of this key would be admitted (0 when allowed).
    retry_after: float = 0.0
    # False when Redis could not be asked and the request was let through (fail open).
    checked: bool = True


class RateLimiter:
    def __init__(
        self,
        redis_client: RedisClient,
        metrics: RpcMetrics,
        *,
        retry_interval: float = RETRY_INTERVAL_SECONDS,
        warn_interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._redis = redis_client
        self._metrics = metrics
        self._retry_interval = retry_interval
        self._warn_interval = warn_interval
        self._clock = clock
        self._redis_down_until = -math.inf
        self._last_warning = -math.inf
        self._failures_since_warning = 0

    async def check(self, tenant_id: UUID, limit: RateLimit) -> Decision:
        """Takes one request of the tenant's allowance, if there is one."""
        now = self._clock()
        if now < self._redis_down_until:
            return self._fail_open(now, error=None)
        interval_us = max(1, round(1_000_000 / limit.requests_per_second))
        try:
            allowed, wait_us = await self._run(state_key(tenant_id), interval_us, limit.burst)
        except _REDIS_FAILURES as error:
            self._metrics.redis_errors.labels("rate_limit").inc()
            self._redis_down_until = now + self._retry_interval
            return self._fail_open(now, error)
        if allowed:
            return Decision(True)
        return Decision(False, retry_after=int(wait_us) / 1_000_000)

    async def _run(self, key: str, interval_us: int, burst: int) -> tuple[int, int]:
        try:
            result = await self._redis.evalsha(GCRA_SHA, 1, key, interval_us, burst)
        except redis.exceptions.NoScriptError:
            # A new, restarted or flushed Redis: load the script (once) and ask again.
            await self._redis.script_load(GCRA_SCRIPT)
            result = await self._redis.evalsha(GCRA_SHA, 1, key, interval_us, burst)
        return int(result[0]), int(result[1])

    def _fail_open(self, now: float, error: BaseException | None) -> Decision:
        self._metrics.rate_limit_fail_open.inc()
        self._failures_since_warning += 1
        if now - self._last_warning >= self._warn_interval:
            log.warning(
                "rate limits fail open: Redis is unreachable",
                extra={
                    "action": "rate_limit_fail_open",
                    "error_type": type(error).__name__ if error is not None else "redis_down",
                    "requests_unchecked": self._failures_since_warning,
                },
            )
            self._last_warning = now
            self._failures_since_warning = 0
        return Decision(True, checked=False)
