"""Verify the webhooks Vauchflow sends: `vauchflow.webhooks.verify(body, headers, secret)`."""

from vauchflow._webhooks import DEFAULT_TOLERANCE_SECONDS, WebhookEvent, WebhookVerificationError, verify

__all__ = ["DEFAULT_TOLERANCE_SECONDS", "WebhookEvent", "WebhookVerificationError", "verify"]
