"""What each plan allows: quotas on stored resources and (later) a request rate. One frozen table, read by the
use cases that create quota-limited resources."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class PlanLimits:
    # None means unlimited.
    webhook_endpoints: int | None
    vouchers: int | None
    # Sustained API requests per second per tenant. Not enforced yet: the rate limiter (Redis) will read it.
    # None means unlimited.
    requests_per_second: int | None = None


LIMITS: MappingProxyType[str, PlanLimits] = MappingProxyType(
    {
        "FREE": PlanLimits(webhook_endpoints=1, vouchers=100),
        "STARTER": PlanLimits(webhook_endpoints=5, vouchers=10_000),
        "GROWTH": PlanLimits(webhook_endpoints=20, vouchers=100_000),
        "SCALE": PlanLimits(webhook_endpoints=100, vouchers=1_000_000),
        "ENTERPRISE": PlanLimits(webhook_endpoints=None, vouchers=None),
    }
)


def limits_for(plan: str) -> PlanLimits:
    return LIMITS[plan]
