"""Standard Webhooks signatures and headers (https://www.standardwebhooks.com/).

The signed content is "<webhook-id>.<webhook-timestamp>.<body>", HMAC-SHA256 under the key bytes of a
"whsec_<base64>" secret. During a secret rotation every current secret signs, so the header carries one
"v1,<base64>" per secret, space-separated, and a receiver holding either secret can verify.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"
USER_AGENT = "Vauchflow-Webhooks/1"


class SecretFormatError(ValueError):
    """A signing secret is not "whsec_" followed by base64 key bytes. Never carries the secret itself."""


def decode_secret(secret: str) -> bytes:
    """The HMAC key bytes of a "whsec_<base64>" secret."""
    if not secret.startswith(SECRET_PREFIX):
        raise SecretFormatError("signing secret must start with whsec_")
    encoded = secret[len(SECRET_PREFIX) :]
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise SecretFormatError("signing secret is not valid base64") from None
    if not key:
        raise SecretFormatError("signing secret is empty")
    return key


def sign(secrets: Sequence[bytes], msg_id: str, timestamp: int, body: bytes) -> str:
    """The webhook-signature header value: "v1,<b64>" per key, space-separated, in the order given."""
    if not secrets:
        raise ValueError("at least one signing key is required")
    signed_content = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(key, signed_content, hashlib.sha256).digest()).decode("ascii")
        for key in secrets
    )


def webhook_headers(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Every header a delivery carries; secrets are the endpoint's "whsec_" secrets, current one first."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign([decode_secret(s) for s in secrets], msg_id, timestamp, body),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
