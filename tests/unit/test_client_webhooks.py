"""vauchflow.webhooks.verify agrees with the standardwebhooks reference library, accepts any secret of a rotation,
and refuses what it must: a wrong or missing signature, a changed body, a stale or future timestamp."""

from __future__ import annotations

import base64
import json
import secrets
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook

import vauchflow
from vauchflow import webhooks


def _secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


BODY = json.dumps(
    {"id": "evt_1", "type": "redemption.succeeded", "timestamp": "2026-12-01T10:00:00Z", "data": {"id": "r1"}}
)


def _signed(secret_list: list[str], body: str = BODY, at: float | None = None) -> dict[str, str]:
    """Headers as Vauchflow sends them, signed by the reference library: one v1 signature per secret."""
    timestamp = datetime.fromtimestamp(int(time.time() if at is None else at), UTC)
    signatures = " ".join(Webhook(s).sign("evt_1", timestamp, body) for s in secret_list)
    return {
        "webhook-id": "evt_1",
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signatures,
    }


def test_a_reference_signature_verifies_and_returns_the_event() -> None:
    secret = _secret()
    headers = _signed([secret])
    event = webhooks.verify(BODY, headers, secret)
    assert (event.id, event.type, dict(event.data)) == ("evt_1", "redemption.succeeded", {"id": "r1"})
    assert event.payload == Webhook(secret).verify(BODY, headers)  # same answer as the reference
    assert event.timestamp == datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC)
    assert webhooks.verify(BODY.encode(), {k.title(): v for k, v in headers.items()}, secret) == event


def test_either_secret_of_a_rotation_verifies() -> None:
    old, new, stranger = _secret(), _secret(), _secret()
    headers = _signed([new, old])
    assert webhooks.verify(BODY, headers, old).id == "evt_1"
    assert webhooks.verify(BODY, headers, new).id == "evt_1"
    assert webhooks.verify(BODY, _signed([old]), [new, old]).id == "evt_1"  # a receiver holding both
    with pytest.raises(vauchflow.WebhookVerificationError):
        webhooks.verify(BODY, headers, stranger)


def test_a_changed_body_or_id_fails() -> None:
    secret = _secret()
    headers = _signed([secret])
    with pytest.raises(vauchflow.WebhookVerificationError):
        webhooks.verify(BODY.replace("r1", "r2"), headers, secret)
    with pytest.raises(vauchflow.WebhookVerificationError):
        webhooks.verify(BODY, {**headers, "webhook-id": "evt_2"}, secret)


def test_timestamps_outside_the_tolerance_fail_both_ways() -> None:
    secret = _secret()
    now = time.time()
    assert webhooks.verify(BODY, _signed([secret], at=now - 290), secret, now=now)
    for at in (now - 301, now + 301):
        with pytest.raises(vauchflow.WebhookVerificationError, match="tolerance"):
            webhooks.verify(BODY, _signed([secret], at=at), secret, now=now)
    assert webhooks.verify(BODY, _signed([secret], at=now - 3600), secret, tolerance=7200, now=now)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_fails(missing: str) -> None:
    secret = _secret()
    headers = _signed([secret])
    del headers[missing]
    with pytest.raises(vauchflow.WebhookVerificationError, match=missing):
        webhooks.verify(BODY, headers, secret)


def test_malformed_signatures_fail_without_crashing() -> None:
    secret = _secret()
    headers = _signed([secret])
    for signature in ("v1,not base64!", "v2," + headers["webhook-signature"][3:], "garbage", ""):
        with pytest.raises(vauchflow.WebhookVerificationError):
            webhooks.verify(BODY, {**headers, "webhook-signature": signature}, secret)
    with pytest.raises(vauchflow.WebhookVerificationError):
        webhooks.verify(BODY, {**headers, "webhook-timestamp": "yesterday"}, secret)
