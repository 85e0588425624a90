"""Component health in the Spring Boot actuator shape: UP only when every component is UP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis.exceptions

from vauchflow_core.redis_client import RedisClient
from vauchflow_server.db.database import Database

UP = "UP"
DOWN = "DOWN"
_CHECK_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class HealthReport:
    status: str
    components: dict[str, str]


class HealthChecker:
    """/actuator/health is public: its dependency check runs at most once per reuse window, however often it is
    asked (concurrent callers share the check in progress), so health polling can't load PostgreSQL or Redis."""

    def __init__(
        self,
        db: Database,
        redis_client: RedisClient | None,
        reuse_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._db = db
        self._redis = redis_client
        self._reuse_seconds = reuse_seconds
        self._clock = clock
        self._last: tuple[float, asyncio.Future[HealthReport]] | None = None

    async def check(self) -> HealthReport:
        now = self._clock()
        if self._last is not None and now - self._last[0] < self._reuse_seconds:
            return await asyncio.shield(self._last[1])
        checking = asyncio.ensure_future(self._check())
        self._last = (now, checking)
        return await asyncio.shield(checking)

    async def _check(self) -> HealthReport:
        checks = {"db": self._db.ping()}
        if self._redis is not None:
            checks["redis"] = self._redis_up()
        results = await asyncio.gather(*checks.values())
        components = {name: UP if ok else DOWN for name, ok in zip(checks, results, strict=False)}
        return HealthReport(UP if all(results) else DOWN, components)

    async def readiness(self) -> HealthReport:
        """Ready to serve when PostgreSQL answers; redemption works without Redis, so it doesn't count here."""
        db_up = await self._db.ping()
        return HealthReport(UP if db_up else DOWN, {"db": UP if db_up else DOWN})

    async def _redis_up(self) -> bool:
        assert self._redis is not None
        try:
            return bool(await asyncio.wait_for(self._redis.ping(), _CHECK_TIMEOUT_SECONDS))
        except (redis.exceptions.RedisError, OSError, TimeoutError):
            return False
