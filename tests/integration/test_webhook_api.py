"""WebhookService over real gRPC: endpoints and their secrets, quotas, events, deliveries, recovery, and the
secrets' storage (only AES-GCM ciphertext, bound to its row; re-encryption under a new key version)."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from unittest.mock import ANY

import grpc
import pytest
from google.protobuf import field_mask_pb2, json_format, timestamp_pb2

from support.api_client import (
    ApiSession,
    OwnerDatabase,
    TenantClient,
    assert_error,
    assert_invalid,
    error_info,
    expect_rpc_error,
)
from support.services import ApiServer, MigratedDatabase, MigratedPostgres
from vauchflow.v1 import (
    redemption_service_pb2,
    tenant_pb2,
    tenant_service_pb2,
    voucher_pb2,
    voucher_service_pb2,
    webhook_pb2,
)
from vauchflow.v1 import webhook_service_pb2 as pb
from vauchflow_core.address_policy import AddressPolicy
from vauchflow_core.secret_box import KeyRing, Sealed, SecretBoxError, generate_key
from vauchflow_core.webhook_endpoints import EndpointSettings, UrlPolicy, open_signing_secret
from vauchflow_server.admin.webhook_admin import CreateEndpoint, WebhookAdmin
from vauchflow_server.db.database import Database

PENDING = webhook_pb2.WEBHOOK_DELIVERY_STATUS_PENDING
FAILED = webhook_pb2.WEBHOOK_DELIVERY_STATUS_FAILED
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def api(api_server: ApiServer) -> Iterator[ApiSession]:
    with ApiSession(api_server) as session:
        yield session


@pytest.fixture(scope="module")
def db(api_server: ApiServer) -> OwnerDatabase:
    return OwnerDatabase(api_server.owner_dsn)


def receiver_url(name: str = "hook") -> str:
    return f"http://127.0.0.1:9/{name}-{uuid.uuid4().hex[:8]}"


def create_endpoint(tenant: TenantClient, url: str | None = None, **fields) -> pb.CreateWebhookEndpointResponse:
    return tenant.webhooks.CreateWebhookEndpoint(
        pb.CreateWebhookEndpointRequest(
            webhook_endpoint=webhook_pb2.WebhookEndpoint(url=url or receiver_url(), **fields)
        )
    )


def stored_secrets(db: OwnerDatabase, endpoint_id: str) -> tuple[Sealed, Sealed | None]:
    row = db.fetch("SELECT * FROM webhook_endpoints WHERE id = $1", uuid.UUID(endpoint_id))[0]
    current = Sealed(bytes(row["secret_ciphertext"]), bytes(row["secret_nonce"]), row["secret_key_version"])
    previous = None
    if row["previous_secret_ciphertext"] is not None:
        previous = Sealed(
            bytes(row["previous_secret_ciphertext"]), bytes(row["previous_secret_nonce"]),
            row["previous_secret_key_version"],
        )  # fmt: skip
    return current, previous


def whsec(raw: bytes) -> str:
    return "whsec_" + base64.b64encode(raw).decode()


def open_current(ring: KeyRing, tenant_id: str, endpoint_id: str, sealed: Sealed) -> str:
    return whsec(open_signing_secret(ring, sealed, tenant_id=uuid.UUID(tenant_id), endpoint_id=uuid.UUID(endpoint_id)))


def list_all_events(tenant: TenantClient, page_size: int = 100, **filters) -> list[webhook_pb2.Event]:
    events, token = [], ""
    while True:
        page = tenant.webhooks.ListEvents(pb.ListEventsRequest(page_size=page_size, page_token=token, **filters))
        events.extend(page.events)
        token = page.next_page_token
        if not token:
            return events


def ts(value: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


# Endpoints and their secrets


def test_create_shows_the_secret_once_and_reads_never_do(api: ApiSession, db: OwnerDatabase) -> None:
    tenant = api.new_tenant()
    url = receiver_url()
    created = tenant.webhooks.CreateWebhookEndpoint(
        pb.CreateWebhookEndpointRequest(
            webhook_endpoint=webhook_pb2.WebhookEndpoint(
                url=url, description=" orders ", event_types=["voucher.created", "redemption.succeeded"]
            )
        )
    )
    endpoint, secret = created.webhook_endpoint, created.secret
    assert secret.startswith("whsec_") and len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert (endpoint.url, endpoint.description, endpoint.enabled, endpoint.disabled_reason) == (
        url, "orders", True, "",
    )  # fmt: skip
    assert list(endpoint.event_types) == ["redemption.succeeded", "voucher.created"]
    # The stored ciphertext opens, with the server's key ring, to exactly the secret shown.
    current, previous = stored_secrets(db, endpoint.id)
    assert previous is None
    assert open_current(KeyRing.parse(api.server.webhook_keys), tenant.id, endpoint.id, current) == secret

    got = tenant.webhooks.GetWebhookEndpoint(pb.GetWebhookEndpointRequest(id=endpoint.id))
    listed = tenant.webhooks.ListWebhookEndpoints(pb.ListWebhookEndpointsRequest())
    assert got.webhook_endpoint == endpoint
    assert list(listed.webhook_endpoints) == [endpoint]
    body = secret.removeprefix("whsec_")
    for response in (got, listed):
        assert body not in str(response) and body not in response.SerializeToString().decode("latin-1")


def test_create_replay_returns_the_endpoint_without_its_secret(api: ApiSession, db: OwnerDatabase) -> None:
    tenant = api.new_tenant()
    request = pb.CreateWebhookEndpointRequest(
        webhook_endpoint=webhook_pb2.WebhookEndpoint(url=receiver_url()), request_id=f"req-{uuid.uuid4()}"
    )
    first = tenant.webhooks.CreateWebhookEndpoint(request)
    after_first = db.tenant_snapshot(tenant.id)
    replay = tenant.webhooks.CreateWebhookEndpoint(request)
    assert replay.webhook_endpoint == first.webhook_endpoint
    assert first.secret and replay.secret == ""
    assert db.tenant_snapshot(tenant.id) == after_first

    different = pb.CreateWebhookEndpointRequest(
        webhook_endpoint=webhook_pb2.WebhookEndpoint(url=receiver_url()), request_id=request.request_id
    )
    assert_error(expect_rpc_error(tenant.webhooks.CreateWebhookEndpoint, different), grpc.StatusCode.ALREADY_EXISTS,
                 "IDEMPOTENCY_KEY_REUSED")  # fmt: skip
    assert db.tenant_snapshot(tenant.id) == after_first


@pytest.mark.parametrize(
    ("endpoint", "field_path"),
    [
        (webhook_pb2.WebhookEndpoint(url=""), "webhook_endpoint.url"),
        (webhook_pb2.WebhookEndpoint(url="ftp://hooks.example.com/"), "webhook_endpoint.url"),
        (webhook_pb2.WebhookEndpoint(url="http://10.0.0.7/hook"), "webhook_endpoint.url"),
        (webhook_pb2.WebhookEndpoint(url="https://169.254.169.254/latest/meta-data"), "webhook_endpoint.url"),
        (webhook_pb2.WebhookEndpoint(url="https://[fd00::1]/"), "webhook_endpoint.url"),
        (webhook_pb2.WebhookEndpoint(url="https://0xa000001/"), "webhook_endpoint.url"),
        (webhook_pb2.WebhookEndpoint(url="https://u:p@hooks.example.com/"), "webhook_endpoint.url"),
        (webhook_pb2.WebhookEndpoint(url="https://hooks.example.com/" + "a" * 2048), "webhook_endpoint.url"),
        (
            webhook_pb2.WebhookEndpoint(url="https://hooks.example.com/", description="d" * 501),
            "webhook_endpoint.description",
        ),
        (
            webhook_pb2.WebhookEndpoint(url="https://hooks.example.com/", event_types=["voucher.exploded"]),
            "webhook_endpoint.event_types",
        ),
        (
            webhook_pb2.WebhookEndpoint(url="https://hooks.example.com/", event_types=["webhook.test"]),
            "webhook_endpoint.event_types",
        ),
    ],
)
def test_invalid_endpoints_are_refused_naming_the_field(
    api: ApiSession, db: OwnerDatabase, endpoint: webhook_pb2.WebhookEndpoint, field_path: str
) -> None:
    tenant = api.new_tenant()
    before = db.tenant_snapshot(tenant.id)
    error = expect_rpc_error(
        tenant.webhooks.CreateWebhookEndpoint, pb.CreateWebhookEndpointRequest(webhook_endpoint=endpoint)
    )
    assert_invalid(error, field_path)
    assert db.tenant_snapshot(tenant.id) == before


def test_update_changes_only_the_named_fields_and_disabling_records_why(api: ApiSession, db: OwnerDatabase) -> None:
    tenant = api.new_tenant()
    endpoint = create_endpoint(tenant, description="first").webhook_endpoint
    new_url = receiver_url("moved")

    def update(paths: list[str], **fields) -> webhook_pb2.WebhookEndpoint:
        return tenant.webhooks.UpdateWebhookEndpoint(
            pb.UpdateWebhookEndpointRequest(
                webhook_endpoint=webhook_pb2.WebhookEndpoint(id=endpoint.id, **fields),
                update_mask=field_mask_pb2.FieldMask(paths=paths),
            )
        ).webhook_endpoint

    updated = update(["url", "event_types"], url=new_url, event_types=["voucher.updated"], description="ignored")
    assert (updated.url, list(updated.event_types), updated.description) == (new_url, ["voucher.updated"], "first")
    # No mask: every field that is set.
    updated = update([], description="second")
    assert (updated.url, updated.description) == (new_url, "second")

    disabled = update(["enabled"], enabled=False)
    assert (disabled.enabled, disabled.disabled_reason) == (False, "MANUAL")
    # The delivery service records failures; re-enabling forgets them along with the reason.
    db.fetch("UPDATE webhook_endpoints SET failing_since = now() - interval '2 days', disabled_reason = 'FAILING'"
             " WHERE id = $1", uuid.UUID(endpoint.id))  # fmt: skip
    enabled = update(["enabled"], enabled=True)
    assert (enabled.enabled, enabled.disabled_reason) == (True, "")
    assert db.fetchval("SELECT failing_since FROM webhook_endpoints WHERE id = $1", uuid.UUID(endpoint.id)) is None

    before = db.tenant_snapshot(tenant.id)
    assert_invalid(expect_rpc_error(update, ["url"], url="https://10.1.2.3/"), "webhook_endpoint.url")
    assert_invalid(expect_rpc_error(update, ["secret"]), "update_mask")
    assert_invalid(expect_rpc_error(update, []), "update_mask")
    assert db.tenant_snapshot(tenant.id) == before
    # The secret is untouched by updates.
    assert db.fetchval("SELECT secret_key_version FROM webhook_endpoints WHERE id = $1", uuid.UUID(endpoint.id)) == 1


def test_delete_removes_the_endpoint_and_its_pending_deliveries(api: ApiSession, db: OwnerDatabase) -> None:
    tenant = api.new_tenant()
    keep, gone = create_endpoint(tenant).webhook_endpoint, create_endpoint(tenant).webhook_endpoint
    tenant.webhooks.SendTestEvent(pb.SendTestEventRequest(id=gone.id))
    tenant.webhooks.SendTestEvent(pb.SendTestEventRequest(id=keep.id))
    assert db.fetchval("SELECT count(*) FROM webhook_deliveries WHERE tenant_id = $1", uuid.UUID(tenant.id)) == 2

    tenant.webhooks.DeleteWebhookEndpoint(pb.DeleteWebhookEndpointRequest(id=gone.id))

    error = expect_rpc_error(tenant.webhooks.GetWebhookEndpoint, pb.GetWebhookEndpointRequest(id=gone.id))
    assert_error(error, grpc.StatusCode.NOT_FOUND, "WEBHOOK_ENDPOINT_NOT_FOUND")
    remaining = db.fetch("SELECT endpoint_id FROM webhook_deliveries WHERE tenant_id = $1", uuid.UUID(tenant.id))
    assert [str(r["endpoint_id"]) for r in remaining] == [keep.id]
    listed = tenant.webhooks.ListWebhookEndpoints(pb.ListWebhookEndpointsRequest()).webhook_endpoints
    assert [e.id for e in listed] == [keep.id]
    error = expect_rpc_error(tenant.webhooks.DeleteWebhookEndpoint, pb.DeleteWebhookEndpointRequest(id=gone.id))
    assert_error(error, grpc.StatusCode.NOT_FOUND, "WEBHOOK_ENDPOINT_NOT_FOUND")


def test_rotate_keeps_the_old_secret_as_previous_for_24_hours(api: ApiSession, db: OwnerDatabase) -> None:
    tenant = api.new_tenant()
    ring = KeyRing.parse(api.server.webhook_keys)
    created = create_endpoint(tenant)
    endpoint_id = created.webhook_endpoint.id

    before = datetime.now(UTC)
    rotated = tenant.webhooks.RotateSecret(pb.RotateSecretRequest(id=endpoint_id))
    after = datetime.now(UTC)

    assert rotated.secret.startswith("whsec_") and rotated.secret != created.secret
    expires = rotated.previous_secret_expire_time.ToDatetime(tzinfo=UTC)
    assert before + timedelta(hours=24) - timedelta(seconds=5) <= expires <= after + timedelta(hours=24, seconds=5)
    current, previous = stored_secrets(db, endpoint_id)
    assert open_current(ring, tenant.id, endpoint_id, current) == rotated.secret
    assert previous is not None
    assert whsec(open_signing_secret(ring, previous, tenant_id=uuid.UUID(tenant.id),
                                     endpoint_id=uuid.UUID(endpoint_id), previous=True)) == created.secret  # fmt: skip
    # Stored under the previous-secret purpose: it does not open as a current secret.
    with pytest.raises(SecretBoxError):
        open_current(ring, tenant.id, endpoint_id, previous)

    again = tenant.webhooks.RotateSecret(pb.RotateSecretRequest(id=endpoint_id))
    _, previous = stored_secrets(db, endpoint_id)
    assert whsec(open_signing_secret(ring, previous, tenant_id=uuid.UUID(tenant.id),
                                     endpoint_id=uuid.UUID(endpoint_id), previous=True)) == rotated.secret  # fmt: skip
    assert again.secret not in (rotated.secret, created.secret)


# Quotas


def test_endpoint_quota_follows_the_plan(api: ApiSession, db: OwnerDatabase) -> None:
    tenant = api.new_tenant(plan=tenant_pb2.PLAN_FREE)
    first = create_endpoint(tenant).webhook_endpoint
    before = db.tenant_snapshot(tenant.id)

    error = expect_rpc_error(create_endpoint, tenant)
    assert_error(error, grpc.StatusCode.RESOURCE_EXHAUSTED, "PLAN_QUOTA_EXCEEDED")
    assert dict(error_info(error).metadata) == {
        "resource": "webhook_endpoints",
        "plan": "FREE",
        "limit": "1",
        "request_id": ANY,
    }
    assert db.tenant_snapshot(tenant.id) == before

    # Deleting frees the slot; upgrading the plan raises the limit.
    tenant.webhooks.DeleteWebhookEndpoint(pb.DeleteWebhookEndpointRequest(id=first.id))
    create_endpoint(tenant)
    api.tenants.UpdateTenant(
        tenant_service_pb2.UpdateTenantRequest(
            tenant=tenant_pb2.Tenant(id=tenant.id, plan=tenant_pb2.PLAN_STARTER),
            update_mask=field_mask_pb2.FieldMask(paths=["plan"]),
        )
    )
    for _ in range(4):
        create_endpoint(tenant)
    assert_error(expect_rpc_error(create_endpoint, tenant), grpc.StatusCode.RESOURCE_EXHAUSTED, "PLAN_QUOTA_EXCEEDED")
    assert db.fetchval("SELECT count(*) FROM webhook_endpoints WHERE tenant_id = $1", uuid.UUID(tenant.id)) == 5


def test_voucher_quota_follows_the_plan(api: ApiSession, db: OwnerDatabase) -> None:
    tenant = api.new_tenant(plan=tenant_pb2.PLAN_FREE)
    # 99 vouchers written directly, so the API's own create is the 100th.
    db.fetch(
        "INSERT INTO vouchers (tenant_id, id, code, percent_off, status)"
        " SELECT $1, gen_random_uuid(), 'SEEDED-' || n, 10, 'ACTIVE' FROM generate_series(1, 99) AS n",
        uuid.UUID(tenant.id),
    )
    tenant.create_voucher()
    before = db.tenant_snapshot(tenant.id)
    error = expect_rpc_error(tenant.create_voucher)
    assert_error(error, grpc.StatusCode.RESOURCE_EXHAUSTED, "PLAN_QUOTA_EXCEEDED")
    assert dict(error_info(error).metadata) == {
        "resource": "vouchers",
        "plan": "FREE",
        "limit": "100",
        "request_id": ANY,
    }
    assert db.tenant_snapshot(tenant.id) == before


# Events


def test_every_voucher_and_redemption_change_appears_in_list_events(api: ApiSession) -> None:
    tenant = api.new_tenant()
    voucher = tenant.create_voucher(max_redemptions=1)
    tenant.vouchers.UpdateVoucher(
        voucher_service_pb2.UpdateVoucherRequest(
            voucher=voucher_pb2.Voucher(code=voucher.code, metadata={"campaign": "spring"}),
            update_mask=field_mask_pb2.FieldMask(paths=["metadata"]),
        )
    )
    redeemed = tenant.redeem(voucher.code)
    tenant.redemptions.RollbackRedemption(
        redemption_service_pb2.RollbackRedemptionRequest(id=redeemed.redemption.id, reason="order cancelled")
    )
    tenant.vouchers.DisableVoucher(voucher_service_pb2.DisableVoucherRequest(code=voucher.code))

    events = list_all_events(tenant)
    assert [e.type for e in events] == [
        "voucher.created",
        "voucher.updated",
        "redemption.succeeded",
        "voucher.exhausted",
        "redemption.rolled_back",
        "voucher.disabled",
    ]
    for event in events:
        assert event.id.startswith("evt_") and len(event.id) == 36
        assert event.cursor and event.HasField("create_time")
        got = tenant.webhooks.GetEvent(pb.GetEventRequest(id=event.id)).event
        assert got == event
    data = [json_format.MessageToDict(e.data) for e in events]
    assert data[0]["code"] == voucher.code and data[0]["id"] == voucher.id
    assert data[1]["metadata"] == {"campaign": "spring"}
    assert data[2]["id"] == redeemed.redemption.id and data[2]["status"] == "SUCCEEDED"
    assert data[4]["rollback_reason"] == "order cancelled"
    assert data[5]["status"] == "DISABLED"


def test_list_events_filters_by_type_and_time_and_pages_without_gaps(api: ApiSession) -> None:
    tenant = api.new_tenant()
    vouchers = [tenant.create_voucher() for _ in range(7)]
    tenant.redeem(vouchers[0].code)
    everything = list_all_events(tenant)
    assert Counter(e.type for e in everything) == {"voucher.created": 7, "redemption.succeeded": 1}

    for page_size in (1, 2, 3, 100):
        assert list_all_events(tenant, page_size=page_size) == everything
    created = list_all_events(tenant, page_size=2, types=["voucher.created"])
    assert [e.id for e in created] == [e.id for e in everything if e.type == "voucher.created"]
    assert list_all_events(tenant, types=["webhook.test"]) == []

    times = [e.create_time.ToDatetime(tzinfo=UTC) for e in everything]
    start, end = times[2], times[5]
    window = list_all_events(tenant, page_size=2, start_time=ts(start), end_time=ts(end))
    assert [e.id for e in window] == [e.id for e, t in zip(everything, times, strict=False) if start <= t < end]
    assert window, "the window holds events"

    for request, field_path in (
        (pb.ListEventsRequest(types=["voucher.exploded"]), "types"),
        (pb.ListEventsRequest(start_time=ts(end), end_time=ts(start)), "end_time"),
        (pb.ListEventsRequest(page_token="not-a-token"), "page_token"),
        (pb.ListEventsRequest(page_size=-1), "page_size"),
    ):
        assert_invalid(expect_rpc_error(tenant.webhooks.ListEvents, request), field_path)


def test_events_of_other_tenants_are_not_found(api: ApiSession) -> None:
    a, b = api.new_tenant(), api.new_tenant()
    a.create_voucher()
    (event,) = list_all_events(a)
    assert list_all_events(b) == []
    for event_id in (event.id, "evt_" + "0" * 32, "nonsense", ""):
        error = expect_rpc_error(b.webhooks.GetEvent, pb.GetEventRequest(id=event_id))
        assert_error(error, grpc.StatusCode.NOT_FOUND, "EVENT_NOT_FOUND")


# Test events, deliveries, redelivery and recovery


def test_send_test_event_writes_one_event_and_one_pending_delivery_for_that_endpoint(
    api: ApiSession, db: OwnerDatabase
) -> None:
    tenant = api.new_tenant()
    target, other = create_endpoint(tenant).webhook_endpoint, create_endpoint(tenant).webhook_endpoint

    event = tenant.webhooks.SendTestEvent(pb.SendTestEventRequest(id=target.id)).event

    assert event.type == "webhook.test" and json_format.MessageToDict(event.data)["endpoint_id"] == target.id
    rows = db.fetch("SELECT * FROM webhook_deliveries WHERE tenant_id = $1", uuid.UUID(tenant.id))
    assert [(str(r["endpoint_id"]), r["status"], r["event_type"]) for r in rows] == [
        (target.id, "PENDING", "webhook.test")
    ]
    assert "evt_" + rows[0]["event_id"].hex == event.id
    assert [e.id for e in list_all_events(tenant)] == [event.id]
    deliveries = tenant.webhooks.ListDeliveries(pb.ListDeliveriesRequest(endpoint_id=target.id)).deliveries
    assert [(d.event_id, d.status, d.endpoint_id) for d in deliveries] == [(event.id, PENDING, target.id)]
    assert tenant.webhooks.ListDeliveries(pb.ListDeliveriesRequest(endpoint_id=other.id)).deliveries == []

    tenant.webhooks.UpdateWebhookEndpoint(
        pb.UpdateWebhookEndpointRequest(
            webhook_endpoint=webhook_pb2.WebhookEndpoint(id=other.id, enabled=False),
            update_mask=field_mask_pb2.FieldMask(paths=["enabled"]),
        )
    )
    error = expect_rpc_error(tenant.webhooks.SendTestEvent, pb.SendTestEventRequest(id=other.id))
    assert_error(error, grpc.StatusCode.FAILED_PRECONDITION, "WEBHOOK_ENDPOINT_DISABLED")


def test_list_deliveries_shows_newest_first_with_their_latest_attempts(api: ApiSession, db: OwnerDatabase) -> None:
    tenant = api.new_tenant()
    endpoint = create_endpoint(tenant).webhook_endpoint
    sent = [tenant.webhooks.SendTestEvent(pb.SendTestEventRequest(id=endpoint.id)).event for _ in range(3)]
    # Attempts are written by the delivery service; 25 of them on the oldest delivery.
    db.fetch(
        "INSERT INTO webhook_delivery_attempts (tenant_id, delivery_id, attempt_number, http_status, latency_ms,"
        " response_body) SELECT d.tenant_id, d.id, n, 500, n * 10, 'boom ' || n"
        " FROM webhook_deliveries d, generate_series(1, 25) AS n WHERE d.tenant_id = $1 AND d.event_id = $2",
        uuid.UUID(tenant.id), uuid.UUID(sent[0].id.removeprefix("evt_")),
    )  # fmt: skip

    listed, token = [], ""
    while True:
        page = tenant.webhooks.ListDeliveries(
            pb.ListDeliveriesRequest(endpoint_id=endpoint.id, page_size=2, page_token=token)
        )
        listed.extend(page.deliveries)
        token = page.next_page_token
        if not token:
            break
    assert [d.event_id for d in listed] == [e.id for e in reversed(sent)]
    oldest = listed[-1]
    assert [a.attempt_number for a in oldest.attempts] == list(range(25, 5, -1))
    assert (oldest.attempts[0].http_status, oldest.attempts[0].latency_ms, oldest.attempts[0].response_body) == (
        500, 250, "boom 25",
    )  # fmt: skip
    assert all(not d.attempts for d in listed[:-1])

    stranger = api.new_tenant()
    error = expect_rpc_error(stranger.webhooks.ListDeliveries, pb.ListDeliveriesRequest(endpoint_id=endpoint.id))
    assert_error(error, grpc.StatusCode.NOT_FOUND, "WEBHOOK_ENDPOINT_NOT_FOUND")


def test_redeliver_requeues_for_one_endpoint_or_every_matching_one(api: ApiSession, db: OwnerDatabase) -> None:
    tenant = api.new_tenant()
    everything = create_endpoint(tenant).webhook_endpoint
    vouchers_only = create_endpoint(tenant, event_types=["voucher.created"]).webhook_endpoint
    create_endpoint(tenant, event_types=["redemption.succeeded"])  # not interested
    disabled = create_endpoint(tenant).webhook_endpoint
    tenant.webhooks.UpdateWebhookEndpoint(
        pb.UpdateWebhookEndpointRequest(
            webhook_endpoint=webhook_pb2.WebhookEndpoint(id=disabled.id, enabled=False),
            update_mask=field_mask_pb2.FieldMask(paths=["enabled"]),
        )
    )
    tenant.create_voucher()
    (event,) = list_all_events(tenant)

    deliveries = tenant.webhooks.RedeliverEvent(pb.RedeliverEventRequest(id=event.id)).deliveries
    assert {d.endpoint_id for d in deliveries} == {everything.id, vouchers_only.id}
    assert all(d.status == PENDING and d.event_id == event.id for d in deliveries)

    # A finished delivery is re-opened rather than duplicated.
    db.fetch("UPDATE webhook_deliveries SET status = 'FAILED', next_attempt_time = now() + interval '1 day'"
             " WHERE tenant_id = $1", uuid.UUID(tenant.id))  # fmt: skip
    (again,) = tenant.webhooks.RedeliverEvent(
        pb.RedeliverEventRequest(id=event.id, endpoint_id=everything.id)
    ).deliveries
    assert again.status == PENDING and again.id in {d.id for d in deliveries}
    assert again.next_attempt_time.ToDatetime(tzinfo=UTC) <= datetime.now(UTC) + timedelta(seconds=5)
    statuses = db.fetch("SELECT endpoint_id, status FROM webhook_deliveries WHERE tenant_id = $1", uuid.UUID(tenant.id))
    assert sorted((str(r["endpoint_id"]), r["status"]) for r in statuses) == sorted(
        [(everything.id, "PENDING"), (vouchers_only.id, "FAILED")]
    )

    error = expect_rpc_error(
        tenant.webhooks.RedeliverEvent, pb.RedeliverEventRequest(id=event.id, endpoint_id=disabled.id)
    )
    assert_error(error, grpc.StatusCode.FAILED_PRECONDITION, "WEBHOOK_ENDPOINT_DISABLED")
    error = expect_rpc_error(tenant.webhooks.RedeliverEvent, pb.RedeliverEventRequest(id="evt_" + "f" * 32))
    assert_error(error, grpc.StatusCode.NOT_FOUND, "EVENT_NOT_FOUND")


def test_recover_requeues_failed_deliveries_whose_event_is_in_the_window(api: ApiSession, db: OwnerDatabase) -> None:
    tenant = api.new_tenant()
    endpoint = create_endpoint(tenant).webhook_endpoint
    other = create_endpoint(tenant).webhook_endpoint
    events = [tenant.webhooks.SendTestEvent(pb.SendTestEventRequest(id=endpoint.id)).event for _ in range(4)]
    tenant.webhooks.SendTestEvent(pb.SendTestEventRequest(id=other.id))
    db.fetch("UPDATE webhook_deliveries SET status = 'FAILED' WHERE tenant_id = $1", uuid.UUID(tenant.id))
    # The last event's delivery succeeded: only failed ones come back.
    db.fetch("UPDATE webhook_deliveries SET status = 'DELIVERED' WHERE tenant_id = $1 AND event_id = $2",
             uuid.UUID(tenant.id), uuid.UUID(events[3].id.removeprefix("evt_")))  # fmt: skip
    times = [e.create_time.ToDatetime(tzinfo=UTC) for e in events]

    recovered = tenant.webhooks.Recover(pb.RecoverRequest(id=endpoint.id, start_time=ts(times[1]))).requeued_count
    assert recovered == 2
    rows = db.fetch(
        "SELECT d.event_id, d.endpoint_id, d.status FROM webhook_deliveries d WHERE d.tenant_id = $1",
        uuid.UUID(tenant.id),
    )
    status = {("evt_" + r["event_id"].hex, str(r["endpoint_id"])): r["status"] for r in rows}
    assert [status[(e.id, endpoint.id)] for e in events] == ["FAILED", "PENDING", "PENDING", "DELIVERED"]
    assert list(status.values()).count("FAILED") == 2  # the other endpoint's stays failed

    # A window that ends before the first event holds nothing; then the whole history brings back the rest.
    assert tenant.webhooks.Recover(
        pb.RecoverRequest(id=endpoint.id, end_time=ts(times[0]))
    ).requeued_count == 0  # fmt: skip
    assert tenant.webhooks.Recover(pb.RecoverRequest(id=endpoint.id)).requeued_count == 1

    assert_invalid(
        expect_rpc_error(tenant.webhooks.Recover,
                         pb.RecoverRequest(id=endpoint.id, start_time=ts(times[2]), end_time=ts(times[1]))),
        "end_time",
    )  # fmt: skip


# Tenant isolation


def test_another_tenants_endpoints_are_not_found_and_unchanged(api: ApiSession, db: OwnerDatabase) -> None:
    a, b = api.new_tenant(), api.new_tenant()
    endpoint = create_endpoint(a).webhook_endpoint
    a.webhooks.SendTestEvent(pb.SendTestEventRequest(id=endpoint.id))
    (event,) = list_all_events(a)
    before_a, before_b = db.tenant_snapshot(a.id), db.tenant_snapshot(b.id)
    calls = {
        "Get": lambda: b.webhooks.GetWebhookEndpoint(pb.GetWebhookEndpointRequest(id=endpoint.id)),
        "Update": lambda: b.webhooks.UpdateWebhookEndpoint(
            pb.UpdateWebhookEndpointRequest(
                webhook_endpoint=webhook_pb2.WebhookEndpoint(id=endpoint.id, url=receiver_url("stolen"))
            )
        ),
        "Delete": lambda: b.webhooks.DeleteWebhookEndpoint(pb.DeleteWebhookEndpointRequest(id=endpoint.id)),
        "Rotate": lambda: b.webhooks.RotateSecret(pb.RotateSecretRequest(id=endpoint.id)),
        "SendTest": lambda: b.webhooks.SendTestEvent(pb.SendTestEventRequest(id=endpoint.id)),
        "ListDeliveries": lambda: b.webhooks.ListDeliveries(pb.ListDeliveriesRequest(endpoint_id=endpoint.id)),
        "Recover": lambda: b.webhooks.Recover(pb.RecoverRequest(id=endpoint.id)),
        "GetEvent": lambda: b.webhooks.GetEvent(pb.GetEventRequest(id=event.id)),
        "Redeliver": lambda: b.webhooks.RedeliverEvent(pb.RedeliverEventRequest(id=event.id)),
    }
    for name, call in calls.items():
        error = expect_rpc_error(call)
        expected = "EVENT_NOT_FOUND" if name in ("GetEvent", "Redeliver") else "WEBHOOK_ENDPOINT_NOT_FOUND"
        assert_error(error, grpc.StatusCode.NOT_FOUND, expected)
    assert b.webhooks.ListWebhookEndpoints(pb.ListWebhookEndpointsRequest()).webhook_endpoints == []
    assert db.tenant_snapshot(a.id) == before_a
    assert db.tenant_snapshot(b.id) == before_b


# Secrets at rest


def test_a_database_dump_holds_no_plaintext_webhook_secret(
    api: ApiSession, postgres: MigratedPostgres, db: OwnerDatabase
) -> None:
    tenant = api.new_tenant()
    secrets = []
    for _ in range(3):
        created = create_endpoint(tenant)
        secrets.append(created.secret)
        secrets.append(tenant.webhooks.RotateSecret(pb.RotateSecretRequest(id=created.webhook_endpoint.id)).secret)
    dump = subprocess.run(
        [str(postgres.bin_dir / "pg_dump"), "--no-owner", "--data-only", "--dbname", api.server.owner_dsn],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert dump.returncode == 0, dump.stderr
    assert "COPY public.webhook_endpoints" in dump.stdout and tenant.id in dump.stdout
    assert "whsec_" not in dump.stdout
    log = api.server.log_path.read_text(errors="replace")
    for secret in secrets:
        raw = base64.b64decode(secret.removeprefix("whsec_"))
        for form in (secret.removeprefix("whsec_"), raw.hex(), base64.urlsafe_b64encode(raw).decode()):
            assert form not in dump.stdout, "a webhook secret is in the database dump"
            assert form not in log, "a webhook secret is in the server log"


def test_swapping_ciphertexts_between_endpoints_makes_them_fail_to_open(api: ApiSession, db: OwnerDatabase) -> None:
    tenant = api.new_tenant()
    ring = KeyRing.parse(api.server.webhook_keys)
    first, second = create_endpoint(tenant), create_endpoint(tenant)
    ids = [uuid.UUID(first.webhook_endpoint.id), uuid.UUID(second.webhook_endpoint.id)]
    swap = (
        "UPDATE webhook_endpoints AS e SET secret_ciphertext = o.secret_ciphertext, secret_nonce = o.secret_nonce"
        " FROM webhook_endpoints AS o WHERE e.id = ANY($1) AND o.id = ANY($1) AND o.id <> e.id"
    )
    db.fetch(swap, ids)

    for endpoint_id in ids:
        sealed, _ = stored_secrets(db, str(endpoint_id))
        with pytest.raises(SecretBoxError):
            open_current(ring, tenant.id, str(endpoint_id), sealed)
    # The server can't open it either, and says no more than INTERNAL.
    error = expect_rpc_error(tenant.webhooks.RotateSecret, pb.RotateSecretRequest(id=str(ids[0])))
    assert_error(error, grpc.StatusCode.INTERNAL, "INTERNAL")
    assert "whsec" not in (error.details() or "")

    db.fetch(swap, ids)  # back where they belong: each opens to its own secret again
    assert open_current(ring, tenant.id, str(ids[0]), stored_secrets(db, str(ids[0]))[0]) == first.secret
    assert open_current(ring, tenant.id, str(ids[1]), stored_secrets(db, str(ids[1]))[0]) == second.secret


def _run(coroutine):
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


def _reencrypt(dsn: str, keys: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAUCHFLOW_")}
    env.update(DATABASE_URL=dsn, VAUCHFLOW_WEBHOOK_KEYS=keys)
    return subprocess.run(
        [sys.executable, "-m", "vauchflow_server.cli.reencrypt_secrets"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_reencryption_moves_every_secret_to_the_newest_key(migrated_db: MigratedDatabase) -> None:
    ring_v1 = KeyRing.from_keys({1: generate_key()})
    ring_v2 = ring_v1.with_key(2, generate_key())
    owner = OwnerDatabase(migrated_db.owner_dsn)
    tenants = [uuid.uuid4(), uuid.uuid4()]
    for tenant_id in tenants:
        owner.fetch("INSERT INTO tenants (id, name, plan) VALUES ($1, 'reencrypt', 'SCALE')", tenant_id)
    policy = UrlPolicy(AddressPolicy(), allow_http=False)

    async def create_and_rotate() -> dict[tuple[uuid.UUID, uuid.UUID], tuple[str, str | None]]:
        database = await Database.connect(migrated_db.app_dsn, min_size=1, max_size=2)
        try:
            admin = WebhookAdmin(database, ring_v1, policy)
            secrets: dict[tuple[uuid.UUID, uuid.UUID], tuple[str, str | None]] = {}
            for index in range(5):
                tenant_id = tenants[index % 2]
                created = await admin.create(
                    tenant_id, CreateEndpoint(EndpointSettings(url=f"https://hooks.example/{index}"))
                )
                secret, previous = created.secret, None
                if index % 2 == 0:  # some carry a previous secret too
                    previous, secret = secret, (await admin.rotate_secret(tenant_id, str(created.endpoint.id))).secret
                secrets[(tenant_id, created.endpoint.id)] = (secret, previous)
            return secrets
        finally:
            await database.close()

    expected = _run(create_and_rotate())
    # An expired previous secret is dropped rather than carried over.
    (expired_key,) = [key for key, (_, previous) in expected.items() if previous][:1]
    owner.fetch("UPDATE webhook_endpoints SET previous_secret_expire_time = now() - interval '1 second'"
                " WHERE id = $1", expired_key[1])  # fmt: skip
    expected[expired_key] = (expected[expired_key][0], None)

    # The app role sees one tenant at a time: refused rather than reporting nothing to do.
    refused = _reencrypt(migrated_db.app_dsn, ring_v2.to_text())
    assert refused.returncode == 2 and "owner" in refused.stderr
    assert owner.fetchval("SELECT count(*) FROM webhook_endpoints WHERE secret_key_version = 2") == 0

    first = _reencrypt(migrated_db.owner_dsn, ring_v2.to_text())
    assert first.returncode == 0, first.stderr
    assert "5 endpoints updated, 5 current and 2 previous secrets re-encrypted, 1 expired previous" in first.stdout

    rows = owner.fetch("SELECT * FROM webhook_endpoints")
    assert len(rows) == 5
    for row in rows:
        secret, previous = expected[(row["tenant_id"], row["id"])]
        assert row["secret_key_version"] == 2
        current = Sealed(bytes(row["secret_ciphertext"]), bytes(row["secret_nonce"]), 2)
        assert whsec(open_signing_secret(ring_v2, current, tenant_id=row["tenant_id"], endpoint_id=row["id"])) == secret
        if previous is None:
            assert row["previous_secret_ciphertext"] is None and row["previous_secret_expire_time"] is None
        else:
            assert row["previous_secret_key_version"] == 2
            sealed = Sealed(bytes(row["previous_secret_ciphertext"]), bytes(row["previous_secret_nonce"]), 2)
            assert whsec(open_signing_secret(ring_v2, sealed, tenant_id=row["tenant_id"], endpoint_id=row["id"],
                                             previous=True)) == previous  # fmt: skip
        # Version 1 is no longer needed to open anything.
        with pytest.raises(SecretBoxError):
            open_signing_secret(ring_v1, current, tenant_id=row["tenant_id"], endpoint_id=row["id"])

    again = _reencrypt(migrated_db.owner_dsn, ring_v2.to_text())
    assert again.returncode == 0, again.stderr
    assert "0 endpoints updated" in again.stdout
    assert owner.fetch("SELECT * FROM webhook_endpoints ORDER BY id") == sorted(rows, key=lambda r: r["id"])

    # A ring missing the version a secret is under: reported, nothing changed, non-zero exit.
    ring_v3_only = KeyRing.from_keys({3: generate_key()})
    missing = _reencrypt(migrated_db.owner_dsn, ring_v3_only.to_text())
    assert missing.returncode == 1 and "5 failed" in missing.stdout
    assert owner.fetchval("SELECT count(*) FROM webhook_endpoints WHERE secret_key_version = 2") == 5
