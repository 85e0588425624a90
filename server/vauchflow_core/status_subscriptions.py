"""Status page subscriptions, as both the API server (which stores them) and the delivery service (which sends to
them) must agree: the event types, what a subscriber's sealed contact holds, how tokens and addresses are hashed.

A subscription's contact (email address or webhook signing secret, plus the tokens its mails carry) is sealed with
the webhook key ring; the AAD binds the subscription id and a purpose of its own, under the nil UUID where a
tenant's id would go (status data belongs to no tenant). Tokens are looked up by SHA-256 (they are 256 random
bits, so a plain hash is enough); email addresses by an HMAC under a key derived from the key ring, so the index
of a known address cannot be computed without the keys.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import asdict, dataclass
from uuid import UUID

from vauchflow_core.secret_box import KeyRing, Sealed, open_sealed, seal

INCIDENT_CREATED = "incident.created"
INCIDENT_UPDATED = "incident.updated"
INCIDENT_RESOLVED = "incident.resolved"
STATUS_EVENT_TYPES = (INCIDENT_CREATED, INCIDENT_UPDATED, INCIDENT_RESOLVED)

EMAIL = "EMAIL"
WEBHOOK = "WEBHOOK"

# The AAD's tenant slot for platform data; the purpose keeps these ciphertexts apart from endpoints' secrets.
PLATFORM_SCOPE = UUID(int=0)
CONTACT_PURPOSE = "status_subscription.contact"
TOKEN_PREFIX = "vf_st_"
MAX_EMAIL_LENGTH = 254
# Deliberately plain: one @, a dot in the domain, no spaces, quotes or angle brackets (which could smuggle headers
# or a second recipient). Whether the address works is what the confirmation mail finds out.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"^[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]+@{_LABEL}(?:\.{_LABEL})+$")


@dataclass(frozen=True)
class Contact:
    """What the delivery service needs to reach a subscriber, sealed at rest."""

    unsubscribe_token: str
    email: str | None = None
    confirm_token: str | None = None
    # "whsec_..." for webhook subscriptions.
    signing_secret: str | None = None


def email_problem(raw: str) -> str | None:
    if not raw.strip():
        return "must not be empty"
    if len(raw.strip()) > MAX_EMAIL_LENGTH:
        return f"at most {MAX_EMAIL_LENGTH} characters"
    if not _EMAIL.fullmatch(raw.strip()):
        return "is not an email address"
    return None


def normalize_email(raw: str) -> str:
    """The domain is case-insensitive; the local part is kept as given (RFC 5321), but indexed case-folded."""
    local, _, domain = raw.strip().rpartition("@")
    return f"{local}@{domain.lower()}"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _index_key(ring: KeyRing, version: int) -> bytes:
    return hmac.new(ring.key(version), b"vauchflow.status_subscription.email_index", hashlib.sha256).digest()


def email_index(ring: KeyRing, email: str, version: int) -> bytes:
    return hmac.new(_index_key(ring, version), email.lower().encode(), hashlib.sha256).digest()


def email_indexes(ring: KeyRing, email: str) -> list[bytes]:
    """The address's index under every key version in the ring (an index made before a rotation still matches)."""
    return [email_index(ring, email, version) for version in ring.versions]


def seal_contact(ring: KeyRing, subscription_id: UUID, contact: Contact) -> Sealed:
    plaintext = json.dumps({k: v for k, v in asdict(contact).items() if v is not None}).encode()
    return seal(ring, plaintext, tenant_id=PLATFORM_SCOPE, endpoint_id=subscription_id, purpose=CONTACT_PURPOSE)


def open_contact(ring: KeyRing, subscription_id: UUID, sealed: Sealed) -> Contact:
    """Raises secret_box.SecretBoxError when the ciphertext is not this subscription's."""
    plaintext = open_sealed(
        ring, sealed, tenant_id=PLATFORM_SCOPE, endpoint_id=subscription_id, purpose=CONTACT_PURPOSE
    )
    return Contact(**json.loads(plaintext))
