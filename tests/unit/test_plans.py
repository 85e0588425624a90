"""The plan table: every plan has limits, and they grow with the plan; a tenant's overrides replace them."""

from __future__ import annotations

import itertools

import pytest

from vauchflow_core.plans import (
    DEFAULT_BURST_SECONDS,
    LIMITS,
    LimitOverrides,
    RateLimit,
    effective_limits,
    limits_for,
)
from vauchflow_core.tenancy import PLANS


def test_every_plan_has_limits() -> None:
    assert set(LIMITS) == set(PLANS)


def test_the_documented_quotas() -> None:
    quotas = {plan: (limits_for(plan).webhook_endpoints, limits_for(plan).vouchers) for plan in PLANS}
    assert quotas == {
        "FREE": (1, 100),
        "STARTER": (5, 10_000),
        "GROWTH": (20, 100_000),
        "SCALE": (100, 1_000_000),
        "ENTERPRISE": (None, None),
    }


def test_limits_grow_with_the_plan_and_the_table_is_frozen() -> None:
    ordered = [limits_for(plan) for plan in PLANS]
    big = float("inf")
    for smaller, larger in itertools.pairwise(ordered):
        assert (smaller.webhook_endpoints or big) <= (larger.webhook_endpoints or big)
        assert (smaller.vouchers or big) <= (larger.vouchers or big)
        assert (smaller.requests_per_second or big) <= (larger.requests_per_second or big)
        assert (smaller.burst or big) <= (larger.burst or big)
    with pytest.raises(TypeError):
        LIMITS["FREE"] = LIMITS["ENTERPRISE"]  # type: ignore[index]


def test_the_documented_request_rates() -> None:
    rates = {plan: limits_for(plan).rate_limit for plan in PLANS}
    assert rates == {
        "FREE": RateLimit(requests_per_second=10, burst=20),
        "STARTER": RateLimit(requests_per_second=50, burst=100),
        "GROWTH": RateLimit(requests_per_second=200, burst=500),
        "SCALE": RateLimit(requests_per_second=500, burst=2_000),
        "ENTERPRISE": None,  # unlimited until the operator sets a rate
    }
    # Paid plans allow bursts well above their rate; a SCALE key's 1,000-request flash-sale burst fits.
    for plan in ("STARTER", "GROWTH", "SCALE"):
        limit = limits_for(plan).rate_limit
        assert limit is not None and limit.burst >= 2 * limit.requests_per_second
    assert limits_for("SCALE").rate_limit.burst >= 1_000


def test_without_overrides_the_effective_limits_are_the_plans() -> None:
    for plan in PLANS:
        assert effective_limits(plan) == limits_for(plan)
        assert effective_limits(plan, LimitOverrides()) == limits_for(plan)


def test_each_override_replaces_only_its_own_default() -> None:
    limits = effective_limits("FREE", LimitOverrides(max_vouchers=500))
    assert (limits.vouchers, limits.webhook_endpoints, limits.rate_limit) == (500, 1, RateLimit(10, 20))
    limits = effective_limits("GROWTH", LimitOverrides(burst=50, max_webhook_endpoints=0))
    assert (limits.vouchers, limits.webhook_endpoints, limits.rate_limit) == (100_000, 0, RateLimit(200, 50))
    limits = effective_limits("STARTER", LimitOverrides(requests_per_second=5))
    assert limits.rate_limit == RateLimit(5, 100)


def test_enterprise_is_unlimited_until_a_rate_is_set() -> None:
    assert effective_limits("ENTERPRISE").rate_limit is None
    # A burst alone sets no rate: still unlimited.
    assert effective_limits("ENTERPRISE", LimitOverrides(burst=100)).rate_limit is None
    # A rate without a burst allows DEFAULT_BURST_SECONDS of it at once.
    assert effective_limits("ENTERPRISE", LimitOverrides(requests_per_second=300)).rate_limit == RateLimit(
        300, 300 * DEFAULT_BURST_SECONDS
    )
    assert effective_limits("ENTERPRISE", LimitOverrides(requests_per_second=3, burst=7)).rate_limit == RateLimit(3, 7)
    limits = effective_limits("ENTERPRISE", LimitOverrides(max_vouchers=10, max_webhook_endpoints=2))
    assert (limits.vouchers, limits.webhook_endpoints) == (10, 2)


def test_the_plan_table_in_the_api_reference_is_the_one_in_the_code() -> None:
    from pathlib import Path

    from vauchflow_core.plans import LIMITS

    doc = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    rows = {
        cells[0].strip("`"): cells[1:]
        for line in doc.splitlines()
        if line.startswith("| `")
        for cells in [[c.strip() for c in line.strip("|").split("|")]]
    }

    def shown(value: int | None) -> str:
        return "unlimited until set" if value is None else f"{value:,}"

    for plan, limits in LIMITS.items():
        expected = [shown(limits.requests_per_second), shown(limits.burst), shown(limits.webhook_endpoints),
                    shown(limits.vouchers), shown(limits.delivery_concurrency),
                    shown(limits.active_api_keys), shown(limits.event_streams)]  # fmt: skip
        assert rows[plan] == expected, plan
