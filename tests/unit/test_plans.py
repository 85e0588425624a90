"""The plan table: every plan has limits, and they grow with the plan."""

from __future__ import annotations

import pytest

from vauchflow_server.plans import LIMITS, limits_for
from vauchflow_server.tenancy import PLANS


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
    for smaller, larger in zip(ordered, ordered[1:]):
        assert (smaller.webhook_endpoints or big) <= (larger.webhook_endpoints or big)
        assert (smaller.vouchers or big) <= (larger.vouchers or big)
    with pytest.raises(TypeError):
        LIMITS["FREE"] = LIMITS["ENTERPRISE"]  # type: ignore[index]
