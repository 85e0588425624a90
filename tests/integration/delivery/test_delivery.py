"""The delivery service against real PostgreSQL and real HTTP receivers on loopback: signed deliveries, the retry
schedule, Retry-After, 3xx and 410, endpoints that fail for too long, and the relay's fan-out rules."""

from __future__ import annotations

import itertools
import json

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from support.delivery_service import Rows
from support.polling import wait_for
from support.webhook_receiver import Reply, WebhookReceiver, always

TIMEOUT = 30


def _status(rows: Rows, tenant_id) -> list[str]:
    return [d["status"] for d in rows.deliveries(tenant_id)]


def test_delivers_each_event_signed_per_standard_webhooks(rows: Rows, delivery_services) -> None:
    tenant = rows.tenant()
    with WebhookReceiver() as receiver:
        endpoint = rows.endpoint(tenant, receiver.url())
        delivery_services()
        [event_id] = rows.events(tenant, 1)
        wait_for(lambda: _status(rows, tenant) == ["DELIVERED"], what="delivered", timeout=TIMEOUT)

        [request] = receiver.requests
        assert request.webhook_id == event_id
        payload = Webhook(endpoint.secret).verify(request.body, request.headers)
        assert payload["id"] == event_id and payload["type"] == "voucher.created"
        assert request.headers["content-type"] == "application/json"
        # Tampered body, id or timestamp: the reference library refuses it.
        for tampered_body, tampered_headers in (
            (request.body.replace(b'"n":0', b'"n":1'), request.headers),
            (request.body, {**request.headers, "webhook-id": "evt_other"}),
            (
                request.body,
                {**request.headers, "webhook-timestamp": str(int(request.headers["webhook-timestamp"]) - 1)},
            ),
        ):
            with pytest.raises(WebhookVerificationError):
                Webhook(endpoint.secret).verify(tampered_body, tampered_headers)

    [attempt] = rows.attempts(tenant)
    assert (attempt["attempt_number"], attempt["http_status"], attempt["response_body"]) == (1, 200, "ok")
    delivery = rows.deliveries(tenant)[0]
    assert delivery["attempt_count"] == 1 and delivery["delivered_time"] is not None


def test_fans_out_by_event_type_filter_and_skips_disabled_endpoints_and_test_events(
    rows: Rows, delivery_services
) -> None:
    tenant, other_tenant = rows.tenant(), rows.tenant()
    with WebhookReceiver() as receiver:
        every = rows.endpoint(tenant, receiver.url("/every"))
        redemptions = rows.endpoint(tenant, receiver.url("/redemptions"), ("redemption.succeeded",))
        disabled = rows.endpoint(tenant, receiver.url("/disabled"))
        rows.execute(
            "UPDATE webhook_endpoints SET enabled = false, disabled_reason = 'MANUAL' WHERE id = $1", disabled.id
        )
        rows.endpoint(other_tenant, receiver.url("/other-tenant"))
        delivery_services()
        [voucher_event] = rows.events(tenant, 1, "voucher.created")
        [redemption_event] = rows.events(tenant, 1, "redemption.succeeded")
        # SendTestEvent writes its own delivery; the relay must not fan a test event out to every endpoint.
        [test_event] = rows.events(tenant, 1, "webhook.test")
        wait_for(lambda: receiver.count() >= 3 and set(_status(rows, tenant)) == {"DELIVERED"}, what="delivered",
                 timeout=TIMEOUT)  # fmt: skip

        received = sorted((r.path, r.webhook_id) for r in receiver.requests)
    assert received == sorted(
        [("/every", voucher_event), ("/every", redemption_event), ("/redemptions", redemption_event)]
    )
    assert test_event not in {r[1] for r in received}
    assert rows.fetchval("SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1", redemptions.id) == 1
    assert rows.fetchval("SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1", every.id) == 2


def test_a_failing_receiver_is_retried_on_the_schedule_until_it_recovers(rows: Rows, delivery_services) -> None:
    tenant = rows.tenant()
    # Fails the first 3 attempts, then accepts.
    with WebhookReceiver(lambda _r, earlier: Reply(500, body=b"down") if earlier < 3 else Reply(200)) as receiver:
        rows.endpoint(tenant, receiver.url())
        delivery_services()
        [event_id] = rows.events(tenant, 1)
        wait_for(lambda: _status(rows, tenant) == ["DELIVERED"], what="delivered after retries", timeout=TIMEOUT)
        times = [r.received_at for r in receiver.requests_for(event_id)]

    assert len(times) == 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # The test schedule: 200ms, 400ms, 600ms (no jitter). Never early; late by at most a poll and a query.
    for gap, planned in zip(gaps, (0.2, 0.4, 0.6), strict=False):
        assert planned - 0.02 <= gap <= planned + 0.5, (gaps, planned)
    attempts = rows.attempts(tenant)
    assert [(a["attempt_number"], a["http_status"]) for a in attempts] == [(1, 500), (2, 500), (3, 500), (4, 200)]
    assert attempts[0]["response_body"] == "down"
    assert rows.fetchval("SELECT failing_since FROM webhook_endpoints WHERE tenant_id = $1", tenant) is None


def test_retries_exhausted_fail_the_delivery(rows: Rows, delivery_services) -> None:
    tenant = rows.tenant()
    with WebhookReceiver(always(500)) as receiver:
        rows.endpoint(tenant, receiver.url())
        delivery_services(VAUCHFLOW_WEBHOOK_RETRY_SCHEDULE="100ms,100ms")
        rows.events(tenant, 1)
        wait_for(lambda: _status(rows, tenant) == ["FAILED"], what="failed", timeout=TIMEOUT)
        assert receiver.count() == 3
    assert rows.fetchval("SELECT failing_since IS NOT NULL FROM webhook_endpoints WHERE tenant_id = $1", tenant)


def test_a_redirect_is_a_failure_and_is_not_followed(rows: Rows, delivery_services) -> None:
    tenant = rows.tenant()
    with WebhookReceiver() as canary, WebhookReceiver(always(302, Location="")) as receiver:
        receiver.responder = always(302, Location=canary.url("/redirected"))
        rows.endpoint(tenant, receiver.url())
        delivery_services(VAUCHFLOW_WEBHOOK_RETRY_SCHEDULE="100ms")
        rows.events(tenant, 1)
        wait_for(lambda: _status(rows, tenant) == ["FAILED"], what="failed", timeout=TIMEOUT)
        assert receiver.count() == 2
        assert canary.count() == 0
    assert [a["http_status"] for a in rows.attempts(tenant)] == [302, 302]


def test_retry_after_is_honoured(rows: Rows, delivery_services) -> None:
    tenant = rows.tenant()
    responder = lambda _r, earlier: Reply(503, {"Retry-After": "2"}) if earlier == 0 else Reply(200)  # noqa: E731
    with WebhookReceiver(responder) as receiver:
        rows.endpoint(tenant, receiver.url())
        delivery_services()
        [event_id] = rows.events(tenant, 1)
        wait_for(lambda: _status(rows, tenant) == ["DELIVERED"], what="delivered", timeout=TIMEOUT)
        first, second = (r.received_at for r in receiver.requests_for(event_id))
    # The schedule alone would retry after 200ms.
    assert 2.0 - 0.02 <= second - first <= 3.0


def test_410_disables_the_endpoint_and_tells_the_tenant(rows: Rows, delivery_services) -> None:
    tenant = rows.tenant()
    with WebhookReceiver(always(410)) as gone, WebhookReceiver() as listening:
        endpoint = rows.endpoint(tenant, gone.url())
        rows.endpoint(tenant, listening.url(), ("webhook_endpoint.disabled",))
        # One attempt at a time per endpoint, so the first 410 comes back before another is sent.
        delivery_services(VAUCHFLOW_DELIVERY_MAX_IN_FLIGHT_PER_ENDPOINT="1")
        rows.events(tenant, 3)
        wait_for(
            lambda: rows.fetchval("SELECT disabled_reason FROM webhook_endpoints WHERE id = $1", endpoint.id) == "GONE",
            what="endpoint disabled", timeout=TIMEOUT,
        )  # fmt: skip
        # The tenant hears of it as an event, delivered to its other endpoint.
        wait_for(lambda: listening.count() == 1, what="disabled event delivered", timeout=TIMEOUT)
        notice = json.loads(listening.requests[0].body)
        wait_for(
            lambda: rows.fetchval(
                "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1 AND status <> 'FAILED'", endpoint.id
            ) == 0,
            what="its deliveries failed", timeout=TIMEOUT,
        )  # fmt: skip
        # One 410 is enough: the other pending deliveries are not sent.
        assert gone.count() == 1
    assert notice["type"] == "webhook_endpoint.disabled"
    assert notice["data"]["id"] == str(endpoint.id) and notice["data"]["disabled_reason"] == "GONE"
    assert rows.fetchval("SELECT enabled FROM webhook_endpoints WHERE id = $1", endpoint.id) is False


def test_an_endpoint_failing_for_the_disable_period_is_disabled(rows: Rows, delivery_services) -> None:
    tenant = rows.tenant()
    with WebhookReceiver(always(500)) as receiver:
        endpoint = rows.endpoint(tenant, receiver.url())
        delivery_services(VAUCHFLOW_ENDPOINT_DISABLE_AFTER_SECONDS="1")
        rows.events(tenant, 1)
        wait_for(
            lambda: rows.fetchval("SELECT disabled_reason FROM webhook_endpoints WHERE id = $1", endpoint.id)
            == "FAILING",
            what="endpoint disabled as FAILING", timeout=TIMEOUT,
        )  # fmt: skip
    events = rows.fetch("SELECT type, payload FROM outbox_events WHERE tenant_id = $1 ORDER BY id", tenant)
    assert [e["type"] for e in events][-1] == "webhook_endpoint.disabled"
    assert events[-1]["payload"]["data"]["disabled_reason"] == "FAILING"
    assert _status(rows, tenant) == ["FAILED"]
