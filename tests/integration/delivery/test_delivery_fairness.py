"""One tenant's black-holed endpoints must not delay another tenant's webhooks (issue 16, finding 2).

Tenant A (STARTER) has five endpoints that accept connections and never answer, and hundreds of deliveries due;
without per-tenant shares its attempts would hold every slot of the worker for the whole request timeout each.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from support.delivery_service import Rows
from support.polling import wait_for
from support.webhook_receiver import WebhookReceiver
from vauchflow_core.plans import limits_for


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port that completes TCP handshakes (up to a long backlog) and never reads or answers a request."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4096)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def test_a_tenants_black_holed_endpoints_leave_the_other_tenants_webhooks_on_time(
    rows: Rows, delivery_services, black_hole: int
) -> None:
    a, b = rows.tenant(), rows.tenant()
    rows.execute("UPDATE tenants SET plan = 'STARTER' WHERE id = $1", a)
    for n in range(5):
        rows.endpoint(a, f"http://127.0.0.1:{black_hole}/hole-{n}")
    with WebhookReceiver() as receiver:
        rows.endpoint(b, receiver.url())
        # Long requests, so A's attempts hold their slots for the whole test (the fast test default is 3 s).
        delivery_services(VAUCHFLOW_WEBHOOK_TIMEOUT_SECONDS="30", VAUCHFLOW_DELIVERY_LEASE_SECONDS="60",
                          VAUCHFLOW_DELIVERY_MAX_IN_FLIGHT="32")  # fmt: skip
        rows.events(a, 300)
        share = limits_for("STARTER").delivery_concurrency
        wait_for(
            lambda: (
                rows.fetchval("SELECT count(*) FROM webhook_deliveries WHERE tenant_id = $1 AND attempt_count > 0", a)
                >= share
            ),
            what="tenant A's attempts in flight",
            timeout=30,
        )
        expected = set(rows.events(b, 10))
        wait_for(lambda: receiver.webhook_ids() == expected, what="tenant B's ten webhooks", timeout=25)
        # B's webhooks arrived while every one of A's requests still hangs (none has ended: no attempt recorded),
        # so B did not wait behind them; and A holds its share of the worker, no more.
        finished_a = rows.fetchval("SELECT count(*) FROM webhook_delivery_attempts WHERE tenant_id = $1", a)
        in_flight_a = rows.fetchval(
            "SELECT count(*) FROM webhook_deliveries WHERE tenant_id = $1 AND attempt_count > 0", a
        )
    assert finished_a == 0
    assert in_flight_a == share
