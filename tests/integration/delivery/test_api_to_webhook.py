"""End to end through the public API: changes made with real RPCs reach a merchant's endpoint as signed webhooks,
and the secret shown by CreateWebhookEndpoint is the one that verifies them."""

from __future__ import annotations

import json
import secrets

import grpc
from standardwebhooks.webhooks import Webhook

from support.delivery_service import DeliveryDatabase
from support.polling import wait_for
from support.ports import free_port
from support.services import MigratedDatabase, start_api_server
from support.webhook_receiver import WebhookReceiver
from vauchflow.v1 import (
    redemption_pb2,
    redemption_service_pb2,
    redemption_service_pb2_grpc,
    tenant_service_pb2,
    tenant_service_pb2_grpc,
    voucher_pb2,
    voucher_service_pb2,
    voucher_service_pb2_grpc,
    webhook_pb2,
    webhook_service_pb2,
    webhook_service_pb2_grpc,
)
from vauchflow_devstack import stop_child

EXPECTED = ["voucher.created", "redemption.succeeded", "redemption.rolled_back", "webhook.test"]


def test_api_changes_arrive_as_signed_webhooks(delivery_db: DeliveryDatabase, key_ring, redis_server,
                                               delivery_services, tmp_path) -> None:  # fmt: skip
    admin_token = "vf_op_" + secrets.token_urlsafe(24)
    server = start_api_server(
        database=MigratedDatabase(delivery_db.name, delivery_db.owner_dsn, delivery_db.app_dsn),
        redis_url=redis_server.url, admin_token=admin_token, port=free_port(), log_path=tmp_path / "api.log",
        webhook_keys=key_ring.to_text(),
    )  # fmt: skip
    try:
        with WebhookReceiver() as receiver, grpc.insecure_channel(server.target) as channel:
            delivery_services()
            tenant = tenant_service_pb2_grpc.TenantServiceStub(channel).CreateTenant(
                tenant_service_pb2.CreateTenantRequest(name="Hooked GmbH", plan=4),
                metadata=[("authorization", f"Bearer {admin_token}")],
            )
            key = [("authorization", f"Bearer {tenant.secret}")]
            webhooks = webhook_service_pb2_grpc.WebhookServiceStub(channel)
            endpoint = webhooks.CreateWebhookEndpoint(
                webhook_service_pb2.CreateWebhookEndpointRequest(
                    webhook_endpoint=webhook_pb2.WebhookEndpoint(url=receiver.url(), description="e2e")
                ),
                metadata=key,
            )
            voucher_service_pb2_grpc.VoucherServiceStub(channel).CreateVoucher(
                voucher_service_pb2.CreateVoucherRequest(
                    voucher=voucher_pb2.Voucher(code="HOOKED", discount=voucher_pb2.Discount(percent_off=10))
                ),
                metadata=key,
            )
            checkout = redemption_service_pb2_grpc.RedemptionServiceStub(channel)
            redeemed = checkout.RedeemVoucher(
                redemption_service_pb2.RedeemVoucherRequest(
                    code="HOOKED", order=redemption_pb2.Order(amount=5000, currency="EUR")
                ),
                metadata=key,
            )
            checkout.RollbackRedemption(
                redemption_service_pb2.RollbackRedemptionRequest(id=redeemed.redemption.id), metadata=key
            )
            webhooks.SendTestEvent(
                webhook_service_pb2.SendTestEventRequest(id=endpoint.webhook_endpoint.id), metadata=key
            )

            wait_for(lambda: receiver.count() >= len(EXPECTED), what="every change delivered", timeout=30)
            verifier = Webhook(endpoint.secret)
            payloads = [verifier.verify(request.body, request.headers) for request in receiver.requests]
            assert sorted(p["type"] for p in payloads) == sorted(EXPECTED)
            succeeded = next(p for p in payloads if p["type"] == "redemption.succeeded")
            assert succeeded["data"]["id"] == redeemed.redemption.id

            # The webhook-id of each delivery is the id ListEvents shows for that event.
            listed = webhooks.ListEvents(webhook_service_pb2.ListEventsRequest(page_size=100), metadata=key).events
            assert {e.id for e in listed} == {r.webhook_id for r in receiver.requests}
            assert all(json.loads(r.body)["id"] == r.webhook_id for r in receiver.requests)
    finally:
        assert stop_child(server.process, name="api-server", timeout=30) == 0
