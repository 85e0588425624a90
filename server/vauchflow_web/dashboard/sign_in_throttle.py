"""Failed dashboard sign-ins, counted per client address: past the limit within a window, the sign-in form answers
429 before the API is asked, so guessing keys through the dashboard is slow and costs the API nothing.

The count lives in Redis, so every web replica reads and adds to the same count (without Redis, in the process).
When Redis does not answer, sign-in fails open: neither refused nor counted, since a Redis outage must not lock
merchants out; the API's own per-address limit on failed authentications still holds then.

Only the address is counted, not the submitted key: a secret carries no key id, and the prefix of a guess is
whatever the guesser chose, so a per-prefix count would neither slow a guesser nor protect a real key.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

import redis.exceptions

log = logging.getLogger(__name__)

_REDIS_FAILURES = (redis.exceptions.RedisError, OSError, TimeoutError)


def failures_key(address: str) -> str:
    return f"vf:{{signin:{address}}}"


class SignInThrottle:
    def __init__(
        self,
        redis_client: object | None,
        limit: int,
        window_seconds: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # redis.asyncio.Redis; typed loosely, as the session backend does, so the client's generics stay unpinned.
        self._redis = redis_client
        self._limit = limit
        self._window = window_seconds
        self._clock = clock
        self._local: dict[str, tuple[float, int]] = {}

    async def wait_seconds(self, address: str) -> int:
        """0 when the address may try to sign in; otherwise the whole seconds until its window ends."""
        if self._redis is None:
            started, count = self._local_window(address)
            return math.ceil(started + self._window - self._clock()) if count >= self._limit else 0
        try:
            pipe = self._redis.pipeline(transaction=False)  # type: ignore[attr-defined]
            pipe.get(failures_key(address))
            pipe.ttl(failures_key(address))
            count, ttl = await pipe.execute()
        except _REDIS_FAILURES as error:
            self._failed_open(error)
            return 0
        if count is None or int(count) < self._limit:
            return 0
        return max(int(ttl), 1)

    async def record_failure(self, address: str) -> None:
        if self._redis is None:
            started, count = self._local_window(address)
            self._local[address] = (started, count + 1)
            if len(self._local) > 100_000:  # bounded: the oldest windows go first
                for stale in sorted(self._local, key=lambda a: self._local[a][0])[:10_000]:
                    del self._local[stale]
            return
        key = failures_key(address)
        try:
            # One transaction: the window starts with the first failure, and a count never exists without its
            # expiry (a count without one would lock the address out for good).
            pipe = self._redis.pipeline(transaction=True)  # type: ignore[attr-defined]
            pipe.set(key, 0, ex=self._window, nx=True)
            pipe.incr(key)
            await pipe.execute()
        except _REDIS_FAILURES as error:
            self._failed_open(error)

    def _local_window(self, address: str) -> tuple[float, int]:
        now = self._clock()
        started, count = self._local.get(address, (now, 0))
        if now - started >= self._window:
            return now, 0
        return started, count

    def _failed_open(self, error: BaseException) -> None:
        log.warning(
            "sign-in throttle skipped: Redis is unreachable",
            extra={"action": "dashboard_sign_in_throttle_fail_open", "error_type": type(error).__name__},
        )
