"""A tenant's last 24 hours for the dashboard's overview: redemptions and rollbacks per hour (PostgreSQL), refusals
by reason (Redis, see refusal_counts.py), webhook deliveries (their records), and the plan with its limits."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from vauchflow_core.plans import PlanLimits, effective_limits
from vauchflow_server.db.database import Database, DeliveryUsage
from vauchflow_server.refusal_counts import RefusalCounts

WINDOW_HOURS = 24


@dataclass(frozen=True)
class UsageHour:
    start_time: datetime
    redemptions: int
    rollbacks: int
    refusals: int


@dataclass(frozen=True)
class UsageSummary:
    window_start: datetime
    window_end: datetime
    hours: list[UsageHour]
    # Most frequent first; empty when Redis could not say (refusals_known False).
    refusals: list[tuple[str, int]]
    refusals_known: bool
    deliveries: DeliveryUsage
    plan: str
    limits: PlanLimits

    @property
    def redemptions(self) -> int:
        return sum(h.redemptions for h in self.hours)

    @property
    def rollbacks(self) -> int:
        return sum(h.rollbacks for h in self.hours)


def window_hours(now: datetime) -> list[datetime]:
    """The starts of the 24 hours that end with the current one, oldest first."""
    current = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return [current - timedelta(hours=WINDOW_HOURS - 1 - i) for i in range(WINDOW_HOURS)]


class UsageReport:
    def __init__(
        self, db: Database, refusals: RefusalCounts, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ):
        self._db = db
        self._refusals = refusals
        self._clock = clock

    async def summarize(self, tenant_id: UUID) -> UsageSummary:
        now = self._clock()
        hours = window_hours(now)
        async with self._db.tenant_transaction(tenant_id) as tx:
            tenant = await tx.get_own_tenant()
            counts = await tx.usage_by_hour(hours[0])
            deliveries = await tx.webhook_delivery_usage(hours[0], now)
        assert tenant is not None  # the caller's key authenticated this call
        refused = await self._refusals.read(tenant_id, hours)
        by_reason: Counter[str] = Counter()
        for hour_counts in refused or []:
            by_reason.update(hour_counts)
        return UsageSummary(
            window_start=hours[0],
            window_end=now,
            hours=[
                UsageHour(
                    start,
                    counts.get(start, (0, 0))[0],
                    counts.get(start, (0, 0))[1],
                    sum(refused[i].values()) if refused else 0,
                )
                for i, start in enumerate(hours)
            ],
            refusals=sorted(by_reason.items(), key=lambda item: (-item[1], item[0])),
            refusals_known=refused is not None,
            deliveries=deliveries,
            plan=tenant.plan,
            limits=effective_limits(tenant.plan, tenant.limits),
        )
