"""Refused redeems counted per tenant, reason and hour in Redis, for the usage summary.

A refusal must never cost a PostgreSQL write (DESIGN.md invariant 2: a flash-sale stampede is mostly refusals), so
the counts live only in Redis, one hash per tenant and hour (field = reason), expiring after 26 hours: a day of
history plus slack. Counting fails open: a Redis that is down or slow costs the summary its refusal figures, never
the redeem its answer.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from uuid import UUID

from redis.exceptions import RedisError

from vauchflow_core.redis_client import RedisClient
from vauchflow_server.metrics import ServerMetrics

log = logging.getLogger(__name__)

RETENTION = timedelta(hours=26)


def hour_key(tenant_id: UUID, hour: datetime) -> str:
    """Hash-tagged by tenant: a summary reads all of one tenant's hours in one pipeline, on one cluster node."""
    return f"vf:{{usage:{tenant_id}}}:refusals:{int(hour.timestamp()) // 3600}"


class RefusalCounts:
    def __init__(self, redis: RedisClient | None, metrics: ServerMetrics):
        self._redis = redis
        self._metrics = metrics

    async def count(self, tenant_id: UUID, reason: str, now: datetime) -> None:
        if self._redis is None:
            return
        key = hour_key(tenant_id, now)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hincrby(key, reason, 1)
                pipe.expire(key, int(RETENTION.total_seconds()))
                await pipe.execute()
        except (RedisError, OSError, TimeoutError) as error:
            self._metrics.refusal_count_failures.inc()
            log.warning("refusal not counted", extra={"action": "count_refusal", "error": type(error).__name__})

    async def read(self, tenant_id: UUID, hours: Sequence[datetime]) -> list[dict[str, int]] | None:
        """Each hour's counts by reason; None when Redis is not there or does not answer."""
        if self._redis is None:
            return None
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for hour in hours:
                    pipe.hgetall(hour_key(tenant_id, hour))
                answers = await pipe.execute()
        except (RedisError, OSError, TimeoutError) as error:
            log.warning("refusal counts not read", extra={"action": "read_refusals", "error": type(error).__name__})
            return None
        return [{_text(reason): int(count) for reason, count in answer.items()} for answer in answers]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
