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


# One round trip each, through the client's execute_command (scripts, not pipelines): a cluster client's pipeline
# bypasses its bound on calls in flight and its translation of lost connections, and a refusal stampede would turn
# that into errors. Every key of a call shares the tenant's hash tag, so each script runs on one cluster node.
_COUNT = """
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('EXPIRE', KEYS[1], ARGV[2])
"""
_READ = """
local hours = {}
for i, key in ipairs(KEYS) do hours[i] = redis.call('HGETALL', key) end
return hours
"""


def hour_key(tenant_id: UUID, hour: datetime) -> str:
    """Hash-tagged by tenant: a summary reads all of one tenant's hours in one call, on one cluster node."""
    return f"vf:{{usage:{tenant_id}}}:refusals:{int(hour.timestamp()) // 3600}"


class RefusalCounts:
    def __init__(self, redis: RedisClient | None, metrics: ServerMetrics):
        self._metrics = metrics
        self._count = redis.register_script(_COUNT) if redis is not None else None
        self._read = redis.register_script(_READ) if redis is not None else None

    async def count(self, tenant_id: UUID, reason: str, now: datetime) -> None:
        if self._count is None:
            return
        try:
            await self._count(keys=[hour_key(tenant_id, now)], args=[reason, int(RETENTION.total_seconds())])
        except (RedisError, OSError, TimeoutError) as error:
            self._metrics.refusal_count_failures.inc()
            log.warning("refusal not counted", extra={"action": "count_refusal", "error": type(error).__name__})

    async def read(self, tenant_id: UUID, hours: Sequence[datetime]) -> list[dict[str, int]] | None:
        """Each hour's counts by reason; None when Redis is not there or does not answer."""
        if self._read is None:
            return None
        try:
            answers = await self._read(keys=[hour_key(tenant_id, hour) for hour in hours])
        except (RedisError, OSError, TimeoutError) as error:
            log.warning("refusal counts not read", extra={"action": "read_refusals", "error": type(error).__name__})
            return None
        return [{_text(fields[i]): int(fields[i + 1]) for i in range(0, len(fields), 2)} for fields in answers]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
