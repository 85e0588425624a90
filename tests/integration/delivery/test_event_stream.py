"""EventStreamService.SubscribeEvents on the real delivery service: history then live, resume from a cursor with
exactly the missed events, tenant isolation, type filters, out-of-order commits, and the request boundary's
authentication and error mapping on a server-streaming RPC."""

from __future__ import annotations

import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from support.api_client import assert_error, violation_fields
from support.delivery_service import Rows
from support.event_stream_client import EventStreamReader


@pytest.fixture
def stream_channel(delivery_services):
    service = delivery_services()
    with grpc.insecure_channel(service.target) as channel:
        yield channel


def test_history_then_live_then_resume_from_the_cursor_with_exactly_the_missed_events(
    rows: Rows, stream_channel
) -> None:
    tenant = rows.tenant()
    key = rows.api_key(tenant)
    history = rows.events(tenant, 3)
    reader = EventStreamReader(stream_channel, key)
    assert [e.id for e in reader.take(3)] == history
    live = rows.events(tenant, 2, "redemption.succeeded")
    received = reader.take(2)
    assert [(e.id, e.type) for e in received] == [(i, "redemption.succeeded") for i in live]
    assert received[0].data["n"] == 0 and received[0].create_time.seconds > 0
    reader.cancel()

    missed = rows.events(tenant, 4)
    resumed = EventStreamReader(stream_channel, key, after=received[-1].cursor)
    assert [e.id for e in resumed.take(4)] == missed
    # Nothing repeated and nothing extra: the next event is the next one written.
    [newest] = rows.events(tenant, 1)
    assert [e.id for e in resumed.take(1)] == [newest]
    assert resumed.pending() == 0
    resumed.cancel()


def test_a_tenant_never_sees_another_tenants_events(rows: Rows, stream_channel) -> None:
    tenant_a, tenant_b = rows.tenant(), rows.tenant()
    reader_a = EventStreamReader(stream_channel, rows.api_key(tenant_a))
    reader_b = EventStreamReader(stream_channel, rows.api_key(tenant_b))
    ours, theirs = [], []
    for _ in range(5):
        ours += rows.events(tenant_a, 2)
        theirs += rows.events(tenant_b, 3)
    assert [e.id for e in reader_a.take(10)] == ours
    assert [e.id for e in reader_b.take(15)] == theirs
    [last_a] = rows.events(tenant_a, 1)
    assert [e.id for e in reader_a.take(1)] == [last_a]
    reader_a.cancel()
    reader_b.cancel()


def test_event_types_filter(rows: Rows, stream_channel) -> None:
    tenant = rows.tenant()
    rows.events(tenant, 2, "voucher.created")
    wanted = rows.events(tenant, 1, "redemption.rolled_back")
    rows.events(tenant, 2, "voucher.updated")
    wanted += rows.events(tenant, 1, "redemption.rolled_back")
    reader = EventStreamReader(stream_channel, rows.api_key(tenant), event_types=("redemption.rolled_back",))
    assert [e.id for e in reader.take(2)] == wanted
    reader.cancel()


def test_a_late_commit_with_a_lower_id_is_streamed_not_skipped(rows: Rows, stream_channel, delivery_db) -> None:
    tenant = rows.tenant()
    reader = EventStreamReader(stream_channel, rows.api_key(tenant))
    held = Rows(delivery_db.owner_dsn, None)  # type: ignore[arg-type] - writes events only
    try:
        held.execute("BEGIN")
        [early] = held.events(tenant, 1)
        later = rows.events(tenant, 2)
        # Several poll intervals: a cursor by id alone would have streamed the later events and passed the early one.
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            assert reader.pending() == 0, "streamed past a transaction that is still open"
            time.sleep(0.05)
        held.execute("COMMIT")
    finally:
        held.close()
    # Commit order by transaction: the early transaction started first, so its event comes first.
    assert [e.id for e in reader.take(3)] == [early, *later]
    reader.cancel()


def test_the_stream_needs_an_api_key_with_events_read(rows: Rows, stream_channel) -> None:
    tenant = rows.tenant()
    rows.events(tenant, 1)
    missing = EventStreamReader(stream_channel, None).finished_with()
    assert_error(missing, grpc.StatusCode.UNAUTHENTICATED, "API_KEY_INVALID")
    malformed = EventStreamReader(stream_channel, "vf_sk_not-a-key").finished_with()
    assert_error(malformed, grpc.StatusCode.UNAUTHENTICATED, "API_KEY_INVALID")
    vouchers_only = rows.api_key(tenant, ("vouchers:read",))
    denied = EventStreamReader(stream_channel, vouchers_only).finished_with()
    assert_error(denied, grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_MISSING")
    rows.execute("UPDATE api_keys SET revoke_time = now() WHERE tenant_id = $1", tenant)
    revoked = EventStreamReader(stream_channel, vouchers_only).finished_with()
    assert_error(revoked, grpc.StatusCode.UNAUTHENTICATED, "API_KEY_INVALID")


def test_bad_requests_are_invalid_argument_naming_the_field(rows: Rows, stream_channel) -> None:
    key = rows.api_key(rows.tenant())
    bad_cursor = EventStreamReader(stream_channel, key, after="not a cursor").finished_with()
    assert_error(bad_cursor, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")
    assert violation_fields(bad_cursor) == {"after"}
    bad_type = EventStreamReader(stream_channel, key, event_types=("voucher.created", "nope")).finished_with()
    assert violation_fields(bad_type) == {"event_types[1]"}
    nul = EventStreamReader(stream_channel, key, after="a\0b").finished_with()
    assert violation_fields(nul) == {"after"}


def test_health_watch_still_streams_without_credentials(stream_channel) -> None:
    watch = health_pb2_grpc.HealthStub(stream_channel).Watch(health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
    watch.cancel()


def test_an_open_stream_ends_when_its_key_is_revoked(rows: Rows, delivery_services) -> None:
    service = delivery_services(VAUCHFLOW_STREAM_REAUTHORIZE_SECONDS="0.2")
    tenant = rows.tenant()
    key = rows.api_key(tenant)
    with grpc.insecure_channel(service.target) as channel:
        reader = EventStreamReader(channel, key)
        first = rows.events(tenant, 1)
        assert [e.id for e in reader.take(1)] == first
        rows.execute("UPDATE api_keys SET revoke_time = now() WHERE tenant_id = $1", tenant)
        error = reader.finished_with(timeout=10)
        assert error is not None, "the stream kept going after its key was revoked"
        assert_error(error, grpc.StatusCode.UNAUTHENTICATED, "API_KEY_INVALID")
        rows.events(tenant, 1)
        assert reader.pending() == 1  # only the end-of-stream marker: no event arrived after the revocation
