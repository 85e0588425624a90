"""A tenant's share of a delivery worker: its plan's delivery_concurrency, whatever its backlog. The choice of what
to claim is pure (Dispatcher._choose), checked here without a database; tests/integration/delivery checks the
whole effect with black-holed endpoints."""

from __future__ import annotations

import uuid

from vauchflow_core.plans import limits_for
from vauchflow_delivery.dispatcher import Dispatcher, DispatchLimits
from vauchflow_delivery.metrics import DeliveryMetrics
from vauchflow_delivery.retry_schedule import RetrySchedule
from vauchflow_delivery.store import DueDelivery

LIMITS = DispatchLimits(max_in_flight=128, max_in_flight_per_endpoint=32, lease_seconds=60, poll_seconds=1,
                        endpoint_disable_after_seconds=1e9)  # fmt: skip


def dispatcher() -> Dispatcher:
    return Dispatcher(None, None, None, RetrySchedule((1.0,), jitter=0), LIMITS, DeliveryMetrics())  # type: ignore[arg-type]


def due(tenant: uuid.UUID, plan: str, endpoints: list[uuid.UUID], count: int) -> list[DueDelivery]:
    return [DueDelivery(tenant, uuid.uuid4(), endpoints[n % len(endpoints)], True, plan) for n in range(count)]


def test_a_tenants_backlog_takes_only_its_plans_share_and_the_rest_goes_to_the_others() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    backlog = due(a, "STARTER", [uuid.uuid4() for _ in range(5)], 300)  # oldest first: all of A's before B's
    chosen = dispatcher()._choose(backlog + due(b, "GROWTH", [uuid.uuid4()], 10), capacity=128)
    taken = [d.tenant_id for d in chosen]
    assert taken.count(a) == limits_for("STARTER").delivery_concurrency == 4
    assert taken.count(b) == 10


def test_a_tenant_at_its_share_is_skipped_by_the_next_claim_until_a_slot_frees() -> None:
    a = uuid.uuid4()
    d = dispatcher()
    d._choose(due(a, "FREE", [uuid.uuid4()], 1), capacity=128)  # learns A's share
    d._per_tenant[a] = limits_for("FREE").delivery_concurrency
    assert d._full_tenants() == [a]
    assert d._choose(due(a, "FREE", [uuid.uuid4()], 5), capacity=128) == []
    d._per_tenant[a] -= 1
    assert d._full_tenants() == []
    assert len(d._choose(due(a, "FREE", [uuid.uuid4()], 5), capacity=128)) == 1


def test_every_plan_has_a_positive_share_that_grows_with_the_plan() -> None:
    shares = [limits_for(plan).delivery_concurrency for plan in ("FREE", "STARTER", "GROWTH", "SCALE", "ENTERPRISE")]
    assert shares == sorted(shares) and shares[0] >= 1
    assert shares[-1] < LIMITS.max_in_flight  # even the largest plan leaves slots to the others
