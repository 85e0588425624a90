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

import redis.asyncio as redis_asyncio
import redis.exceptions

from vauchflow_core.errors import TooManyFailedAuthentications

_REDIS_FAILURES = (redis.exceptions.RedisError, OSError, TimeoutError)


def failures_key(address: str) -> str:
    return f"vf:{{authfail:{address}}}"


class AuthFailureLimiter:
    def __init__(
        self,
        redis_client: redis_asyncio.Redis | None,
        limit: int = 30,
        window_seconds: int = 60,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._redis = redis_client
        self._limit = limit
        self._window = window_seconds
        self._clock = clock
        self._local: dict[str, tuple[float, int]] = {}

    async def check(self, address: str) -> None:
        """Raises TooManyFailedAuthentications when the address is over the limit in the current window."""
        count, retry_after = await self._count(address)
        if count >= self._limit:
            raise TooManyFailedAuthentications(retry_after)

    async def record(self, address: str) -> None:
        if self._redis is not None:
            try:
                key = failures_key(address)
                # The window starts with the first failure (EXPIRE ... NX needs Redis 7; this works on 6 too).
                if await self._redis.incr(key) == 1:
                    await self._redis.expire(key, self._window)
                return
            except _REDIS_FAILURES:
                pass
        started, count = self._local_window(address)
        self._local[address] = (started, count + 1)
        if len(self._local) > 100_000:  # bounded: the oldest windows go first
            for stale in sorted(self._local, key=lambda a: self._local[a][0])[:10_000]:
                del self._local[stale]

    async def _count(self, address: str) -> tuple[int, float]:
        if self._redis is not None:
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    pipe.get(failures_key(address))
                    pipe.ttl(failures_key(address))
                    raw, ttl = await pipe.execute()
                return int(raw or 0), float(max(ttl, 1))
            except _REDIS_FAILURES:
                pass
        started, count = self._local_window(address)
        return count, max(1.0, math.ceil(started + self._window - self._clock()))

    def _local_window(self, address: str) -> tuple[float, int]:
        now = self._clock()
        started, count = self._local.get(address, (now, 0))
        if now - started >= self._window:
            return now, 0
        return started, count
