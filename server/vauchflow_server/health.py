"""Component health in the Spring Boot actuator shape: UP only when every component is UP."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import redis.asyncio as redis_asyncio
import redis.exceptions

from vauchflow_server.db.database import Database

UP = "UP"
DOWN = "DOWN"
_CHECK_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class HealthReport:
    status: str
    components: dict[str, str]


class HealthChecker:
    def __init__(self, db: Database, redis_client: redis_asyncio.Redis | None):
        self._db = db
        self._redis = redis_client

    async def check(self) -> HealthReport:
        checks = {"db": self._db.ping()}
        if self._redis is not None:
            checks["redis"] = self._redis_up()
        results = await asyncio.gather(*checks.values())
        components = {name: UP if ok else DOWN for name, ok in zip(checks, results)}
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
