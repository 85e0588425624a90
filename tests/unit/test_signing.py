"""Standard Webhooks signatures, checked against the reference library (standardwebhooks) rather than our own code."""

from __future__ import annotations

import base64
import secrets
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from vauchflow_delivery.signing import SecretFormatError, decode_secret, sign, webhook_headers

BODY = b'{"type":"voucher.created","data":{"code":"SUMMER-\xc3\xa9t\xc3\xa9","amount_off":500}}'


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def test_headers_carry_the_standard_webhooks_fields() -> None:
    now = int(time.time())
    headers = webhook_headers([new_secret()], "msg_1", now, BODY)
    assert headers["webhook-id"] == "msg_1"
    assert headers["webhook-timestamp"] == str(now)
    assert headers["webhook-signature"].startswith("v1,")
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == "Vauchflow-Webhooks/1"


@pytest.mark.parametrize("attempt", range(20))
def test_every_signature_verifies_with_the_reference_library(attempt: int) -> None:
    secret = new_secret()
    body = b'{"type":"voucher.created","data":{"code":"%s"}}' % secrets.token_hex(attempt + 1).encode()
    headers = webhook_headers([secret], f"msg_{secrets.token_hex(8)}", int(time.time()), body)
    assert Webhook(secret).verify(body, headers)["type"] == "voucher.created"


@pytest.mark.parametrize("tamper", ["body", "id", "timestamp", "signature"])
def test_a_tampered_delivery_fails_verification(tamper: str) -> None:
    secret = new_secret()
    now = int(time.time())
    body = BODY
    headers = webhook_headers([secret], "msg_1", now, body)
    Webhook(secret).verify(body, headers)  # untampered passes
    if tamper == "body":
        body = body.replace(b"500", b"900")
    elif tamper == "id":
        headers["webhook-id"] = "msg_2"
    elif tamper == "timestamp":
        headers["webhook-timestamp"] = str(now - 1)
    else:
        headers["webhook-signature"] = "v1," + base64.b64encode(secrets.token_bytes(32)).decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, headers)


def test_another_endpoints_secret_does_not_verify() -> None:
    headers = webhook_headers([new_secret()], "msg_1", int(time.time()), BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)


def test_during_rotation_both_secrets_sign_and_each_verifies_its_own_signature() -> None:
    current, previous = new_secret(), new_secret()
    now = int(time.time())
    headers = webhook_headers([current, previous], "msg_1", now, BODY)
    signatures = headers["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    for secret, signature in zip((current, previous), signatures, strict=False):
        Webhook(secret).verify(BODY, {**headers, "webhook-signature": signature})
        assert sign([decode_secret(secret)], "msg_1", now, BODY) == signature
    other = signatures[1]
    with pytest.raises(WebhookVerificationError):
        Webhook(current).verify(BODY, {**headers, "webhook-signature": other})
    # A receiver holding either secret accepts the combined header.
    Webhook(current).verify(BODY, headers)
    Webhook(previous).verify(BODY, headers)


def test_the_key_is_the_base64_decoded_secret_not_the_string() -> None:
    key = secrets.token_bytes(32)
    secret = "whsec_" + base64.b64encode(key).decode()
    assert decode_secret(secret) == key
    assert decode_secret(secret.rstrip("=")) == key


@pytest.mark.parametrize("bad", ["", "whsec_", "sk_" + "A" * 44, "whsec_not*base64!", "c2VjcmV0"])
def test_malformed_secrets_are_refused_without_echoing_them(bad: str) -> None:
    with pytest.raises(SecretFormatError) as refused:
        decode_secret(bad)
    assert not bad or bad not in str(refused.value)


def test_signing_without_a_key_is_refused() -> None:
    with pytest.raises(ValueError):
        sign([], "msg_1", 0, BODY)
