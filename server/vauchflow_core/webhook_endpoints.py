"""Webhook endpoints: the resource, its signing secrets, and the rules for what a valid endpoint is.

A URL is checked when it is saved (scheme, shape, and a literal IP host against the address policy); the delivery
service checks again against the address it actually connects to, since a name can resolve anywhere later.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit
from uuid import UUID

from vauchflow_core.address_policy import parse_host_ip
from vauchflow_core.errors import Violations
from vauchflow_core.events import EVENT_TYPES, WEBHOOK_TEST
from vauchflow_core.secret_box import KeyRing, Sealed, open_sealed, seal

MAX_URL_LENGTH = 2048
MAX_DESCRIPTION_LENGTH = 500
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
# After a rotation the previous secret keeps signing for this long.
PREVIOUS_SECRET_LIFETIME_SECONDS = 24 * 60 * 60

# Purposes bound into the ciphertexts' AAD: the current and the previous secret can't stand in for each other.
SIGNING_SECRET = "webhook_endpoint.signing_secret"
PREVIOUS_SIGNING_SECRET = "webhook_endpoint.previous_signing_secret"

# disabled_reason values (the column's CHECK lists the same).
MANUAL = "MANUAL"
GONE = "GONE"
FAILING = "FAILING"

# Endpoints subscribe to these; webhook.test only ever goes to the endpoint it was sent to.
SUBSCRIBABLE_EVENT_TYPES = tuple(t for t in EVENT_TYPES if t != WEBHOOK_TEST)


class AddressAllowList(Protocol):
    def is_allowed_endpoint(self, ip: Any, port: int) -> bool: ...


@dataclass(frozen=True)
class UrlPolicy:
    """Where endpoints may point: the operator's address allow-list, and whether plain http is allowed."""

    addresses: AddressAllowList
    allow_http: bool = False


@dataclass(frozen=True)
class EndpointSettings:
    """Everything a merchant chooses about an endpoint."""

    url: str
    description: str = ""
    event_types: tuple[str, ...] = ()  # empty: every type
    enabled: bool = True


UPDATABLE_FIELDS = frozenset({"url", "description", "event_types", "enabled"})


@dataclass(frozen=True)
class WebhookEndpoint:
    id: UUID
    settings: EndpointSettings
    disabled_reason: str
    create_time: datetime
    update_time: datetime


@dataclass(frozen=True)
class EndpointSecrets:
    """An endpoint's sealed signing secrets as stored."""

    current: Sealed
    previous: Sealed | None
    previous_expire_time: datetime | None


# Secrets


def generate_signing_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def format_signing_secret(raw: bytes) -> str:
    """ "whsec_" + base64, the form Standard Webhooks libraries take."""
    return SECRET_PREFIX + base64.b64encode(raw).decode()


def seal_signing_secret(
    ring: KeyRing, raw: bytes, *, tenant_id: UUID, endpoint_id: UUID, previous: bool = False
) -> Sealed:
    purpose = PREVIOUS_SIGNING_SECRET if previous else SIGNING_SECRET
    return seal(ring, raw, tenant_id=tenant_id, endpoint_id=endpoint_id, purpose=purpose)


def open_signing_secret(
    ring: KeyRing, sealed: Sealed, *, tenant_id: UUID, endpoint_id: UUID, previous: bool = False
) -> bytes:
    """The raw secret bytes; raises secret_box.SecretBoxError if the ciphertext isn't this endpoint's."""
    purpose = PREVIOUS_SIGNING_SECRET if previous else SIGNING_SECRET
    return open_sealed(ring, sealed, tenant_id=tenant_id, endpoint_id=endpoint_id, purpose=purpose)


# Rules


def normalize_event_types(event_types: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Trimmed, deduplicated and sorted, so equal filters compare (and fingerprint) equal."""
    return tuple(sorted({t.strip() for t in event_types}))


def check_settings(settings: EndpointSettings, policy: UrlPolicy, violations: Violations,
                   prefix: str = "webhook_endpoint") -> None:  # fmt: skip
    check_url(settings.url, policy, violations, f"{prefix}.url")
    if len(settings.description) > MAX_DESCRIPTION_LENGTH:
        violations.add(f"{prefix}.description", f"at most {MAX_DESCRIPTION_LENGTH} characters")
    unknown = sorted(set(settings.event_types) - set(SUBSCRIBABLE_EVENT_TYPES))
    if unknown:
        violations.add(
            f"{prefix}.event_types",
            f"unknown event types {unknown}; known: {', '.join(SUBSCRIBABLE_EVENT_TYPES)}",
        )


def check_url(url: str, policy: UrlPolicy, violations: Violations, field_path: str) -> None:
    problem = url_problem(url, policy)
    if problem:
        violations.add(field_path, problem)


def url_problem(url: str, policy: UrlPolicy) -> str | None:
    """Why url may not be an endpoint, or None."""
    if not url:
        return "must not be empty"
    if len(url) > MAX_URL_LENGTH:
        return f"at most {MAX_URL_LENGTH} characters"
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError when out of range or not a number
    except ValueError:
        return "is not a valid URL"
    allowed_schemes = ("https", "http") if policy.allow_http else ("https",)
    if parts.scheme.lower() not in allowed_schemes:
        return "must be an https:// URL"
    if not parts.hostname:
        return "must name a host"
    if parts.username is not None or parts.password is not None:
        # Credentials in a URL would be stored and shown in clear; sign requests instead.
        return "must not carry a user name or password"
    if port == 0:
        return "is not a valid URL"
    ip = parse_host_ip(parts.hostname)
    default_port = 443 if parts.scheme.lower() == "https" else 80
    if ip is not None and not policy.addresses.is_allowed_endpoint(ip, port or default_port):
        return (
            "must not point at a private, loopback, link-local or otherwise reserved address, or a port of the "
            "platform's own"
        )
    return None


def apply_changes(settings: EndpointSettings, changes: dict[str, Any]) -> EndpointSettings:
    return replace(settings, **changes)


def matches(event_types: tuple[str, ...], event_type: str) -> bool:
    """Whether an endpoint with this filter receives events of event_type."""
    return not event_types or event_type in event_types
