"""Secrets at rest: AES-256-GCM under a versioned key ring (DESIGN.md invariant 5).

Each seal draws a random 96-bit nonce. The additional authenticated data binds the tenant, the row (endpoint), the
purpose and the key version, so a ciphertext copied to another row, another tenant or another column — or relabelled
with another key version — fails to open instead of yielding a secret that belongs elsewhere.

The key ring comes from configuration as text: "1:<base64 of 32 bytes>,2:<base64 of 32 bytes>". New secrets are
sealed under the highest version; older versions stay in the ring until
`python -m vauchflow_server.cli.reencrypt_secrets`
has moved every secret off them.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
# Versioned so a future change of the AAD layout cannot be confused with this one.
_AAD_LABEL = "vauchflow.secret_box.v1"


class KeyRingError(ValueError):
    """The key ring text is malformed. Never carries key material."""


class SecretBoxError(Exception):
    """A sealed secret could not be opened: wrong key, wrong tenant/row/purpose/version, or tampered bytes."""


@dataclass(frozen=True)
class Sealed:
    ciphertext: bytes
    nonce: bytes
    key_version: int


@dataclass(frozen=True)
class KeyRing:
    """Encryption keys by version. Its repr names the versions only, so it can't leak into logs."""

    _keys: tuple[tuple[int, bytes], ...]

    def __post_init__(self) -> None:
        if not self._keys:
            raise KeyRingError("the key ring holds no key")
        versions = [version for version, _ in self._keys]
        if len(set(versions)) != len(versions):
            raise KeyRingError("the key ring names a version twice")
        for version, key in self._keys:
            if version < 1:
                raise KeyRingError("key versions are positive integers")
            if len(key) != KEY_BYTES:
                raise KeyRingError(f"key version {version} is not {KEY_BYTES} bytes")

    @classmethod
    def from_keys(cls, keys: Mapping[int, bytes]) -> KeyRing:
        return cls(tuple(sorted(keys.items())))

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        """ "1:<base64>,2:<base64>" (whitespace and newlines between entries are ignored)."""
        keys: dict[int, bytes] = {}
        entries = [entry.strip() for entry in text.replace("\n", ",").split(",") if entry.strip()]
        for position, entry in enumerate(entries, start=1):
            version_text, colon, key_text = entry.partition(":")
            if not colon or not version_text.strip().isdigit():
                raise KeyRingError(f"entry {position} is not VERSION:BASE64KEY")
            version = int(version_text)
            if version in keys:
                raise KeyRingError(f"key version {version} appears twice")
            try:
                keys[version] = base64.b64decode(key_text.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise KeyRingError(f"key version {version} is not valid base64") from None
        if not keys:
            raise KeyRingError("the key ring holds no key")
        return cls.from_keys(keys)

    @property
    def newest_version(self) -> int:
        return max(version for version, _ in self._keys)

    @property
    def versions(self) -> tuple[int, ...]:
        return tuple(version for version, _ in self._keys)

    def key(self, version: int) -> bytes:
        for candidate, key in self._keys:
            if candidate == version:
                return key
        raise SecretBoxError(f"no key version {version} in the key ring")

    def with_key(self, version: int, key: bytes) -> KeyRing:
        """This ring plus one more version (for key rotation)."""
        return KeyRing.from_keys({**dict(self._keys), version: key})

    def to_text(self) -> str:
        return ",".join(f"{version}:{base64.b64encode(key).decode()}" for version, key in self._keys)

    def __repr__(self) -> str:
        return f"KeyRing(versions={list(self.versions)})"


def generate_key() -> bytes:
    return os.urandom(KEY_BYTES)


def generate_key_ring_text(version: int = 1) -> str:
    """A new one-key ring in configuration form."""
    return KeyRing.from_keys({version: generate_key()}).to_text()


def _aad(tenant_id: UUID, endpoint_id: UUID, purpose: str, key_version: int) -> bytes:
    # JSON keeps the fields unambiguous whatever characters a purpose holds.
    return json.dumps([_AAD_LABEL, str(tenant_id), str(endpoint_id), purpose, key_version]).encode()


def seal(ring: KeyRing, plaintext: bytes, *, tenant_id: UUID, endpoint_id: UUID, purpose: str) -> Sealed:
    version = ring.newest_version
    nonce = secrets.token_bytes(NONCE_BYTES)
    ciphertext = AESGCM(ring.key(version)).encrypt(nonce, plaintext, _aad(tenant_id, endpoint_id, purpose, version))
    return Sealed(ciphertext, nonce, version)


def open_sealed(ring: KeyRing, sealed: Sealed, *, tenant_id: UUID, endpoint_id: UUID, purpose: str) -> bytes:
    if len(sealed.nonce) != NONCE_BYTES:
        raise SecretBoxError("the nonce is not 96 bits")
    key = ring.key(sealed.key_version)
    try:
        return AESGCM(key).decrypt(
            sealed.nonce, sealed.ciphertext, _aad(tenant_id, endpoint_id, purpose, sealed.key_version)
        )
    except InvalidTag:
        raise SecretBoxError(
            "the sealed secret does not open: it belongs to another tenant, row, purpose or key version, "
            "or it was altered"
        ) from None
