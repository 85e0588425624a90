"""A relayed batch wakes only the streams of the tenants it carried (issue 16, finding 3): a stream of another
tenant stays asleep and costs no query. Pure: the signal and the payload codec, no database."""

from __future__ import annotations

import uuid

from vauchflow_delivery.event_feed import OutboxSignal
from vauchflow_delivery.store import parse_relayed_tenants, relayed_tenants_payload


def test_a_notification_wakes_only_the_named_tenants_streams() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    signal = OutboxSignal()
    a_stream, b_stream = signal.register(a), signal.register(b)
    signal.notify({a})
    assert a_stream.is_set() and not b_stream.is_set()
    signal.notify(None)  # a reconnection, or a batch of too many tenants: everyone looks
    assert b_stream.is_set()
    signal.unregister(a, a_stream)
    signal.unregister(b, b_stream)
    assert signal._waiters == {}


def test_the_payload_names_each_tenant_once_and_falls_back_to_everyone_when_too_long() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    assert parse_relayed_tenants(relayed_tenants_payload([a, b, a])) == {a, b}
    many = [uuid.uuid4() for _ in range(1000)]
    payload = relayed_tenants_payload(many)
    assert payload == "" and parse_relayed_tenants(payload) is None
    assert len(relayed_tenants_payload(many[:150])) < 8000  # pg_notify's limit
    assert parse_relayed_tenants("garbage") is None
