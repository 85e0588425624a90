"""Failed authentications, counted per client address: past the limit in a window, an address's requests are
refused (RESOURCE_EXHAUSTED / RATE_LIMITED) before any key is looked up, so guessing keys costs the guesser, not
the database.

The count lives in Redis when there is one (every replica sees the same), in the process otherwise or while
Redis does not answer: the limit then holds per replica, and authentication never fails because Redis is down.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import redis.exceptions

from vauchflow_core.errors import TooManyFailedAuthentications
from vauchflow_core.redis_client import RedisClient

_REDIS_FAILURES = (redis.exceptions.RedisError, OSError, TimeoutError)


def failures_key(address: str) -> str:
    return f"vf:{{authfail:{address}}}"


class AuthFailureLimiter:
    """Counts failures where they happen (one Redis INCR per failed authentication, never a call per request) and
    remembers locally which addresses are over the limit: checking an address costs a dictionary lookup."""

    def __init__(
        self,
        redis_client: RedisClient | None,
        limit: int = 30,
        window_seconds: int = 60,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._redis = redis_client
        self._limit = limit
        self._window = window_seconds
        self._clock = clock
        self._local: dict[str, tuple[float, int]] = {}
        self._blocked_until: dict[str, float] = {}

    async def check(self, address: str) -> None:
        """Raises TooManyFailedAuthentications while the address is over the limit."""
        until = self._blocked_until.get(address)
        if until is None:
            return
        remaining = until - self._clock()
        if remaining <= 0:
            del self._blocked_until[address]
            return
        raise TooManyFailedAuthentications(max(1.0, math.ceil(remaining)))

    async def record(self, address: str) -> None:
        """Counts a failure; at the limit the address is blocked for the rest of its window (on this replica at
        once, on another at its next failure from that address: the count is shared through Redis)."""
        count, window_left = await self._count_failure(address)
        if count >= self._limit:
            self._blocked_until[address] = self._clock() + window_left
            if len(self._blocked_until) > 100_000:  # bounded: the soonest to expire go first
                for stale in sorted(self._blocked_until, key=self._blocked_until.__getitem__)[:10_000]:
                    del self._blocked_until[stale]

    async def _count_failure(self, address: str) -> tuple[int, float]:
        if self._redis is not None:
            try:
                key = failures_key(address)
                count = int(await self._redis.incr(key))
                # The window starts with the first failure (EXPIRE ... NX needs Redis 7; this works on 6 too).
                if count == 1:
                    await self._redis.expire(key, self._window)
                    return count, float(self._window)
                if count >= self._limit:
                    return count, float(max(await self._redis.ttl(key), 1))
                return count, float(self._window)
            except _REDIS_FAILURES:
                pass
        now = self._clock()
        started, count = self._local.get(address, (now, 0))
        if now - started >= self._window:
            started, count = now, 0
        self._local[address] = (started, count + 1)
        if len(self._local) > 100_000:  # bounded: the oldest windows go first
            for stale in sorted(self._local, key=lambda a: self._local[a][0])[:10_000]:
                del self._local[stale]
        return count + 1, started + self._window - now
