"""The one Redis client of a process (rate limits, the flash-sale gate, stream slots, health, dashboard sessions):
a single Redis, or a Redis Cluster when the URL says so.

- `redis://host:port/db` (or `rediss://`, `unix://`): one Redis server.
- `redis+cluster://host:port` (or `rediss+cluster://`): a Redis Cluster, discovered from that one node (any node
  of the cluster will do); the client follows the slot map, MOVED/ASK redirections and failovers by itself.

Every key a multi-key script touches shares one hash tag (`vf:{...}`), so each script runs on the one node that owns
its slot; nothing here uses MGET, pipelines across keys or pub/sub, so nothing else changes in cluster mode.

Every call gives up after `timeout_seconds` and is retried at most once, at once (a pooled connection may have
died with a restarted Redis; on a cluster the retry first re-reads the slot map, which is how a failover is
followed), so an unreachable or hung Redis costs a request a fraction of a second. At most 64 calls are in flight
at once; a burst of requests waits for a free connection rather than opening hundreds.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as redis_asyncio
import redis.exceptions
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

# What every user of Redis is handed: the two clients share the commands and scripts used here.
RedisClient = redis_asyncio.Redis | RedisCluster

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
_MAX_CONNECTIONS = 64


def is_cluster_url(url: str) -> bool:
    return urlsplit(url).scheme in CLUSTER_SCHEMES


def redis_client(url: str | None, timeout_seconds: float) -> RedisClient | None:
    """None without a URL: the features that use Redis fail open or stay off."""
    if not url:
        return None
    # How long a request waits for a free connection: at least a second, longer if calls may take longer.
    wait_seconds = max(1.0, timeout_seconds)
    if is_cluster_url(url):
        parts = urlsplit(url)
        return _BoundedRedisCluster.from_url(
            urlunsplit(parts._replace(scheme=CLUSTER_SCHEMES[parts.scheme])),
            wait_seconds=wait_seconds,
            # Per node; the bound on calls in flight (below) keeps the total at this too.
            max_connections=_MAX_CONNECTIONS,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            retry=Retry(NoBackoff(), 1),
            # A master that is down leaves only its own slots unserved; the other masters' keys keep working.
            require_full_coverage=False,
        )
    pool = redis_asyncio.BlockingConnectionPool.from_url(
        url,
        max_connections=_MAX_CONNECTIONS,
        timeout=wait_seconds,
        socket_timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds,
        retry=Retry(NoBackoff(), 1),
    )
    return redis_asyncio.Redis.from_pool(pool)


class _BoundedRedisCluster(RedisCluster):
    """A cluster client that waits for a free connection as the single-node BlockingConnectionPool does (the cluster
    client's own per-node pools raise at once when full, which a flash-sale burst would turn into errors), and
    reports a connection lost in a failover as a ConnectionError."""

    def __init__(self, *args: Any, wait_seconds: float = 1.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_flight = asyncio.Semaphore(kwargs.get("max_connections", _MAX_CONNECTIONS))
        self._wait_seconds = wait_seconds

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        try:
            await asyncio.wait_for(self._in_flight.acquire(), self._wait_seconds)
        except TimeoutError:
            raise redis.exceptions.ConnectionError("no free Redis connection in time") from None
        try:
            return await super().execute_command(*args, **kwargs)
        except (AttributeError, TypeError, RuntimeError) as error:
            # redis-py 8.1 leaks these (from asyncio's or uvloop's transport) when the peer, a killed master, closed
            # the connection under it, instead of a ConnectionError (redis/redis-py#4287); callers fail open or
            # step aside on ConnectionError only.
            raise redis.exceptions.ConnectionError("Redis connection lost") from error
        finally:
            self._in_flight.release()
