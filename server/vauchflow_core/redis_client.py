"""The one Redis client of a process (rate limits, the flash-sale gate, stream slots, health).

Every call gives up after `timeout_seconds` and is retried at most once, at once (a pooled connection may have
died with a restarted Redis), so an unreachable or hung Redis costs a request a fraction of a second. The pool
holds at most 64 connections; a burst of requests waits for a free one rather than opening hundreds.
"""

from __future__ import annotations

import redis.asyncio as redis_asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff


def redis_client(url: str | None, timeout_seconds: float) -> redis_asyncio.Redis | None:
    """None without a URL: the features that use Redis fail open or stay off."""
    if not url:
        return None
    pool = redis_asyncio.BlockingConnectionPool.from_url(
        url,
        max_connections=64,
        # How long a request waits for a pooled connection: at least a second, longer if calls may take longer.
        timeout=max(1.0, timeout_seconds),
        socket_timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds,
        retry=Retry(NoBackoff(), 1),
    )
    return redis_asyncio.Redis.from_pool(pool)
