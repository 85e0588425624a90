"""Verifying webhooks Vauchflow sent (Standard Webhooks): the signature over "<webhook-id>.<webhook-timestamp>.
<body>" under any of the endpoint's secrets (two during a rotation), and a timestamp within the tolerance, so a
captured delivery can't be replayed later."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_SECONDS = 300.0


class WebhookVerificationError(Exception):
    """The request is not a genuine, fresh Vauchflow webhook: answer it with 400 and do not act on it."""


@dataclass(frozen=True)
class WebhookEvent:
    """A verified webhook: the event's id (also the webhook-id header), type, time and data."""

    id: str
    type: str
    timestamp: datetime
    data: Mapping[str, Any] = field(default_factory=dict)
    payload: Mapping[str, Any] = field(default_factory=dict)  # the whole JSON body


def _key(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a webhook secret is whsec_ followed by base64") from None
    if not key:
        raise ValueError("the webhook secret is empty")
    return key


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    raise WebhookVerificationError(f"missing header {name}")


def verify(
    body: bytes | str,
    headers: Mapping[str, str],
    secret: str | Sequence[str],
    *,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> WebhookEvent:
    """The event in body, once its signature verifies under one of the secrets ("whsec_..."; pass old and new
    during a rotation) and its timestamp is within `tolerance` seconds of now. Raises WebhookVerificationError."""
    secrets = [secret] if isinstance(secret, str) else list(secret)
    if not secrets:
        raise ValueError("at least one webhook secret is required")
    raw = body.encode() if isinstance(body, str) else body
    msg_id = _header(headers, "webhook-id")
    timestamp_text = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    try:
        timestamp = int(timestamp_text)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not a Unix time") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is outside the tolerance (replayed or clock skew)")
    signed = f"{msg_id}.{timestamp}.".encode() + raw
    expected = [hmac.new(_key(s), signed, hashlib.sha256).digest() for s in secrets]
    if not any(_matches(candidate, expected) for candidate in signatures.split()):
        raise WebhookVerificationError("no signature matches the secret")
    try:
        payload = json.loads(raw)
    except ValueError:
        raise WebhookVerificationError("the body is not JSON") from None
    if not isinstance(payload, dict):
        raise WebhookVerificationError("the body is not a JSON object")
    return WebhookEvent(
        id=str(payload.get("id", msg_id)),
        type=str(payload.get("type", "")),
        timestamp=datetime.fromtimestamp(timestamp, UTC),
        data=payload.get("data") or {},
        payload=payload,
    )


def _matches(candidate: str, expected: Sequence[bytes]) -> bool:
    version, _, encoded = candidate.partition(",")
    if version != "v1":
        return False
    try:
        signature = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return False
    # Every secret is compared, in constant time each, whatever matched first.
    return sum(hmac.compare_digest(signature, key) for key in expected) > 0
