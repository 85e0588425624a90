"""What each plan allows: a request rate per API key, quotas on stored resources, and a share of the webhook
delivery workers. One frozen table of plan
defaults, and the per-tenant overrides (set by the operator through UpdateTenant) that replace them.

Read by the use cases that create quota-limited resources, and by the rate limiter through the principal.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import MappingProxyType


@dataclass(frozen=True)
class PlanLimits:
    # None means unlimited.
    webhook_endpoints: int | None
    vouchers: int | None
    # Sustained API requests per second per API key; None means unlimited (no rate limit at all).
    requests_per_second: int | None = None
    # How many requests a key may send at once, above the sustained rate (the bucket size). Meaningful only with a
    # rate; a rate without a burst allows DEFAULT_BURST_SECONDS worth of requests at once.
    burst: int | None = None
    # Webhook attempts of the tenant in flight at once, per delivery worker: one tenant's slow or black-holed
    # endpoints hold at most this many of the worker's slots, never the others' share.
    delivery_concurrency: int = 8
    # API keys not revoked at once (None: unlimited): the allowance is the tenant's, so this only bounds clutter
    # and what a leaked key-minting key could produce.
    active_api_keys: int | None = None
    # Event streams (events:stream) the tenant may hold open at once (None: unlimited).
    event_streams: int | None = None

    @property
    def rate_limit(self) -> RateLimit | None:
        if self.requests_per_second is None:
            return None
        burst = self.burst if self.burst is not None else self.requests_per_second * DEFAULT_BURST_SECONDS
        return RateLimit(self.requests_per_second, max(burst, 1))


@dataclass(frozen=True)
class RateLimit:
    """What the rate limiter enforces for one API key."""

    requests_per_second: int
    burst: int


@dataclass(frozen=True)
class LimitOverrides:
    """A tenant's own limits (the tenants columns); None means the plan's default."""

    requests_per_second: int | None = None
    burst: int | None = None
    max_vouchers: int | None = None
    max_webhook_endpoints: int | None = None

    def is_empty(self) -> bool:
        return self == NO_OVERRIDES


NO_OVERRIDES = LimitOverrides()
DEFAULT_BURST_SECONDS = 2

LIMITS: MappingProxyType[str, PlanLimits] = MappingProxyType(
    {
        "FREE": PlanLimits(
            webhook_endpoints=1,
            vouchers=100,
            requests_per_second=10,
            burst=20,
            delivery_concurrency=2,
            active_api_keys=5,
            event_streams=2,
        ),
        "STARTER": PlanLimits(
            webhook_endpoints=5,
            vouchers=10_000,
            requests_per_second=50,
            burst=100,
            delivery_concurrency=4,
            active_api_keys=20,
            event_streams=5,
        ),
        "GROWTH": PlanLimits(
            webhook_endpoints=20,
            vouchers=100_000,
            requests_per_second=200,
            burst=500,
            delivery_concurrency=16,
            active_api_keys=50,
            event_streams=20,
        ),
        # A SCALE key's flash-sale burst of 1,000 requests goes through unthrottled.
        "SCALE": PlanLimits(
            webhook_endpoints=100,
            vouchers=1_000_000,
            requests_per_second=500,
            burst=2_000,
            delivery_concurrency=32,
            active_api_keys=200,
            event_streams=50,
        ),
        # Unlimited until the operator sets limits for the tenant.
        "ENTERPRISE": PlanLimits(webhook_endpoints=None, vouchers=None, delivery_concurrency=64),
    }
)

# Sane ceilings for overrides (UpdateTenant refuses larger values); they also fit the columns' types.
MAX_REQUESTS_PER_SECOND = 1_000_000
MAX_BURST = 10_000_000
MAX_VOUCHERS = 1_000_000_000
MAX_WEBHOOK_ENDPOINTS = 100_000


def limits_for(plan: str) -> PlanLimits:
    """The plan's defaults."""
    return LIMITS[plan]


def effective_limits(plan: str, overrides: LimitOverrides = NO_OVERRIDES) -> PlanLimits:
    """What a tenant on `plan` may do: each override replaces the plan's default for that one limit."""
    defaults = LIMITS[plan]
    changes: dict[str, int] = {}
    if overrides.requests_per_second is not None:
        changes["requests_per_second"] = overrides.requests_per_second
    if overrides.burst is not None:
        changes["burst"] = overrides.burst
    if overrides.max_vouchers is not None:
        changes["vouchers"] = overrides.max_vouchers
    if overrides.max_webhook_endpoints is not None:
        changes["webhook_endpoints"] = overrides.max_webhook_endpoints
    return replace(defaults, **changes)
