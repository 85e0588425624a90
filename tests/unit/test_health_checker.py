"""/actuator/health is public: however often it is called, PostgreSQL and Redis are asked at most once per
second, and concurrent callers share one check."""

from __future__ import annotations

import asyncio

from vauchflow_server.health import DOWN, UP, HealthChecker


class CountingDatabase:
    def __init__(self) -> None:
        self.pings = 0
        self.up = True
        self.release = asyncio.Event()
        self.release.set()

    async def ping(self) -> bool:
        self.pings += 1
        await self.release.wait()
        return self.up


async def test_health_reuses_one_dependency_check_per_second() -> None:
    now = [100.0]
    db = CountingDatabase()
    checker = HealthChecker(db, None, reuse_seconds=1.0, clock=lambda: now[0])  # type: ignore[arg-type]
    db.release.clear()
    reports = asyncio.gather(*(checker.check() for _ in range(100)))
    await asyncio.sleep(0)
    db.release.set()
    assert {r.status for r in await reports} == {UP}
    assert db.pings == 1
    db.up = False
    now[0] += 0.5
    assert (await checker.check()).status == UP  # still the same second's answer
    now[0] += 0.6
    assert (await checker.check()).components == {"db": DOWN}
    assert db.pings == 2
