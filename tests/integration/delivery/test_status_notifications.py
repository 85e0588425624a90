"""Status page subscriptions end to end, on real processes: the API server (StatusService, the status outbox), the
web service (the subscribe form's endpoint and the links in mails), the delivery service (relay, signed webhooks,
SMTP) and a real SMTP server (aiosmtpd) that collects what was sent.

An address gets a confirmation mail and nothing else until its link is followed; then every incident change
reaches it by mail, each mail with a working unsubscribe link; a webhook subscriber gets every change as a POST
signed like merchants' webhooks (verified with the standardwebhooks reference library)."""

from __future__ import annotations

import email
import email.policy
import json
import re
import secrets
import signal
import threading
import urllib.error
import urllib.parse
import urllib.request
from email.message import EmailMessage
from typing import Any

import grpc
from aiosmtpd.controller import Controller
from standardwebhooks.webhooks import Webhook

from support.delivery_service import DeliveryDatabase, Rows
from support.polling import wait_for
from support.ports import free_port
from support.services import MigratedDatabase, start_api_server
from support.web_service import start_web_service
from support.webhook_receiver import WebhookReceiver
from vauchflow.v1 import status_pb2, status_service_pb2, status_service_pb2_grpc
from vauchflow_devstack import stop_child


class Inbox:
    """aiosmtpd's handler: keeps every message it accepts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self._messages.append(message)
        return "250 Message accepted for delivery"

    @property
    def messages(self) -> list[EmailMessage]:
        with self._lock:
            return list(self._messages)


def _http(method: str, url: str, body: bytes | None = None, content_type: str = "application/json",
          forwarded_for: str = "") -> tuple[int, str]:  # fmt: skip
    request = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        request.add_header("content-type", content_type)
    if forwarded_for:
        request.add_header("x-forwarded-for", forwarded_for)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _post_json(url: str, payload: dict[str, Any], forwarded_for: str = "") -> tuple[int, dict[str, Any]]:
    status, text = _http("POST", url, json.dumps(payload).encode(), forwarded_for=forwarded_for)
    return status, json.loads(text)


def _follow_form(link: str) -> tuple[int, str]:
    """What a person does with a link from a mail: open it, then press the page's button (POST its form)."""
    status, page = _http("GET", link)
    assert status == 200, page
    action = re.search(r'<form method="post" action="([^"]+)"', page)
    token = re.search(r'name="token" value="([^"]+)"', page)
    assert action and token, page
    target = urllib.parse.urljoin(link, action[1])
    return _http("POST", target, urllib.parse.urlencode({"token": token[1]}).encode(),
                 "application/x-www-form-urlencoded")  # fmt: skip


def _link(message: EmailMessage, path: str) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    found = re.search(rf"(http://\S+{re.escape(path)}\?token=\S+)", body.get_content())
    assert found, body.get_content()
    return found[1]


def test_subscribers_are_confirmed_then_notified_by_mail_and_signed_webhook(
    delivery_db: DeliveryDatabase, key_ring, redis_server, delivery_services, rows: Rows, tmp_path
) -> None:
    admin_token = "vf_op_" + secrets.token_urlsafe(24)
    server = start_api_server(
        database=MigratedDatabase(delivery_db.name, delivery_db.owner_dsn, delivery_db.app_dsn),
        redis_url=redis_server.url, admin_token=admin_token, port=free_port(), log_path=tmp_path / "api.log",
        webhook_keys=key_ring.to_text(),
    )  # fmt: skip
    web = start_web_service(api_target=server.target, log_path=tmp_path / "web.log")
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        with WebhookReceiver() as receiver, grpc.insecure_channel(server.target) as channel:
            delivery_services(
                VAUCHFLOW_SMTP_HOST="127.0.0.1",
                VAUCHFLOW_SMTP_PORT=str(smtp.port),
                VAUCHFLOW_SMTP_TLS="none",
                VAUCHFLOW_SMTP_FROM="Vauchflow status <status@vauchflow.test>",
                VAUCHFLOW_STATUS_PUBLIC_URL=web.url,
                VAUCHFLOW_STATUS_NOTIFY_POLL_SECONDS="0.1",
            )
            status = status_service_pb2_grpc.StatusServiceStub(channel)
            operator = [("authorization", f"Bearer {admin_token}")]

            # Bad input is refused with the field named; a webhook URL obeys the merchants' address policy.
            code, refused = _post_json(f"{web.url}/status/subscriptions", {"email": "not an address"})
            assert code == 400 and "email" in json.dumps(refused)
            code, refused = _post_json(f"{web.url}/status/subscriptions",
                                       {"webhook_url": "http://169.254.169.254/latest/meta-data"})  # fmt: skip
            assert code == 400 and "webhook_url" in json.dumps(refused)

            code, answer = _post_json(f"{web.url}/status/subscriptions", {"email": "Ops.Team@Example.COM"})
            assert (code, answer) == (201, {"confirmation_pending": True})
            code, hook = _post_json(f"{web.url}/status/subscriptions", {"webhook_url": receiver.url("/status")})
            assert code == 201 and hook["signing_secret"].startswith("whsec_")
            assert hook["unsubscribe_token"].startswith("vf_st_")

            # The opt-in mail: to the address, with a confirm link and an unsubscribe link (also as a header).
            wait_for(lambda: len(inbox.messages) >= 1, what="the confirmation mail", timeout=30)
            confirmation = inbox.messages[0]
            assert confirmation["To"] == "Ops.Team@example.com"
            assert confirmation["Subject"] == "Confirm your Vauchflow status subscription"
            unsubscribe_link = _link(confirmation, "/status/subscriptions/unsubscribe")
            assert confirmation["List-Unsubscribe"] == f"<{unsubscribe_link}>"
            confirm_link = _link(confirmation, "/status/subscriptions/confirm")
            # The address is stored sealed, never in clear.
            stored = rows.fetch("SELECT * FROM status_subscriptions WHERE kind = 'EMAIL'")
            assert len(stored) == 1 and b"Ops.Team" not in bytes(stored[0]["sealed_contact"])
            assert "example" not in json.dumps({k: str(v) for k, v in dict(stored[0]).items()}).lower()

            # Subscribing the same address again does not make a second subscription.
            assert _post_json(f"{web.url}/status/subscriptions", {"email": "ops.team@example.com"})[0] == 201
            assert rows.fetchval("SELECT count(*) FROM status_subscriptions WHERE kind = 'EMAIL'") == 1

            # Before confirmation: an incident reaches the webhook subscriber only.
            incident = status.CreateIncident(
                status_service_pb2.CreateIncidentRequest(
                    title="Webhooks delayed", components=[status_pb2.MONITORED_COMPONENT_WEBHOOKS]
                ),
                metadata=operator,
            ).incident
            wait_for(lambda: receiver.count() >= 1, what="the incident.created webhook", timeout=30)
            verifier = Webhook(hook["signing_secret"])
            created = verifier.verify(receiver.requests[0].body, receiver.requests[0].headers)
            assert created["type"] == "incident.created"
            assert created["data"]["incident"]["id"] == incident.id
            assert created["data"]["update"]["state"] == "INVESTIGATING"
            # Relaying queued every notification the event gets in one statement: none for the unconfirmed address.
            assert rows.fetchval("SELECT count(*) FROM status_notifications WHERE kind = 'EVENT'") == 1

            code, page = _follow_form(confirm_link)
            assert code == 200 and "Subscription confirmed" in page, page
            code, page = _follow_form(confirm_link)
            assert code == 404 and "not valid any more" in page

            status.AddIncidentUpdate(
                status_service_pb2.AddIncidentUpdateRequest(
                    incident_id=incident.id,
                    update=status_pb2.IncidentUpdate(
                        state=status_pb2.INCIDENT_STATE_IDENTIFIED,
                        message="The relay lost its database connection.",
                        workaround="Use GET /v1/events to catch up.",
                    ),
                ),
                metadata=operator,
            )
            wait_for(lambda: len(inbox.messages) >= 3, what="the incident mail", timeout=30)
            mail = inbox.messages[-1]
            assert mail["To"] == "Ops.Team@example.com"
            assert mail["Subject"] == "[Vauchflow status] Identified: Webhooks delayed"
            text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
            assert "The relay lost its database connection." in text and "Use GET /v1/events" in text
            mail_unsubscribe = _link(mail, "/status/subscriptions/unsubscribe")
            assert mail_unsubscribe == unsubscribe_link
            wait_for(lambda: receiver.count() >= 2, what="the incident.updated webhook", timeout=30)
            updated = verifier.verify(receiver.requests[1].body, receiver.requests[1].headers)
            assert updated["type"] == "incident.updated" and updated["data"]["update"]["state"] == "IDENTIFIED"

            # The unsubscribe link works and deletes the address.
            code, page = _follow_form(mail_unsubscribe)
            assert code == 200 and "Unsubscribed" in page, page
            assert rows.fetchval("SELECT count(*) FROM status_subscriptions WHERE kind = 'EMAIL'") == 0

            mails_before = len(inbox.messages)
            status.AddIncidentUpdate(
                status_service_pb2.AddIncidentUpdateRequest(
                    incident_id=incident.id,
                    update=status_pb2.IncidentUpdate(
                        state=status_pb2.INCIDENT_STATE_RESOLVED, message="Relay restarted.",
                        catch_up_window="30 minutes",
                    ),
                ),
                metadata=operator,
            )  # fmt: skip
            wait_for(lambda: receiver.count() >= 3, what="the incident.resolved webhook", timeout=30)
            resolved = verifier.verify(receiver.requests[2].body, receiver.requests[2].headers)
            assert resolved["type"] == "incident.resolved"
            assert resolved["data"]["update"]["catch_up_window"] == "30 minutes"
            assert len(inbox.messages) == mails_before  # the unsubscribed address got nothing

            # A webhook subscriber ends its subscription with its token, as a mail client's one-click POST would.
            one_click = f"{web.url}/status/subscriptions/unsubscribe?token={hook['unsubscribe_token']}"
            code, page = _http("POST", one_click, b"List-Unsubscribe=One-Click", "application/x-www-form-urlencoded")
            assert code == 200 and "Unsubscribed" in page
            assert rows.fetchval("SELECT count(*) FROM status_subscriptions") == 0
    finally:
        smtp.stop()
        assert web.stop(signal.SIGTERM) == 0
        assert stop_child(server.process, name="api-server", timeout=30) == 0


def test_subscribing_is_rate_limited_per_client_address(delivery_db: DeliveryDatabase, key_ring, redis_server,
                                                        tmp_path) -> None:  # fmt: skip
    server = start_api_server(
        database=MigratedDatabase(delivery_db.name, delivery_db.owner_dsn, delivery_db.app_dsn),
        redis_url=redis_server.url, admin_token="vf_op_" + secrets.token_urlsafe(24), port=free_port(),
        log_path=tmp_path / "api.log", webhook_keys=key_ring.to_text(),
    )  # fmt: skip
    web = start_web_service(api_target=server.target, log_path=tmp_path / "web.log")
    try:
        url = f"{web.url}/status/subscriptions"
        codes = [_post_json(url, {"email": "x"}, forwarded_for="203.0.113.7")[0] for _ in range(30)]
        # The burst (20) passes validation and is refused as bad input; then the address is out of tokens.
        assert codes[0] == 400 and 429 in codes, codes
        code, body = _post_json(url, {"email": "x"}, forwarded_for="203.0.113.7")
        assert code == 429 and "RATE_LIMITED" in json.dumps(body)
        # Another address is not affected.
        assert _post_json(url, {"email": "x"}, forwarded_for="203.0.113.8")[0] == 400
    finally:
        assert web.stop(signal.SIGTERM) == 0
        assert stop_child(server.process, name="api-server", timeout=30) == 0
