"""API key secrets: `vf_sk_` + 32 random base62 characters + a 6-character checksum.

The checksum lets the server reject a mistyped or made-up key without touching the database. Only the SHA-256
of a secret is stored; the secrets are 190 bits of randomness, so a fast hash is enough.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import zlib
from dataclasses import dataclass

PREFIX = "vf_sk_"
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_RANDOM_LENGTH = 32
_CHECKSUM_LENGTH = 6
_SHAPE = re.compile(rf"^{PREFIX}[0-9A-Za-z]{{{_RANDOM_LENGTH + _CHECKSUM_LENGTH}}}$")
# Shown in listings so a person can tell keys apart; far too short to use.
DISPLAY_PREFIX_LENGTH = len(PREFIX) + 6


@dataclass(frozen=True)
class NewSecret:
    secret: str
    secret_hash: bytes
    display_prefix: str


def _checksum(random_part: str) -> str:
    value = zlib.crc32(random_part.encode())
    chars = []
    for _ in range(_CHECKSUM_LENGTH):
        value, digit = divmod(value, len(_ALPHABET))
        chars.append(_ALPHABET[digit])
    return "".join(chars)


def generate() -> NewSecret:
    random_part = "".join(secrets.choice(_ALPHABET) for _ in range(_RANDOM_LENGTH))
    secret = PREFIX + random_part + _checksum(random_part)
    return NewSecret(secret, hash_secret(secret), secret[:DISPLAY_PREFIX_LENGTH])


def is_well_formed(secret: str) -> bool:
    """Shape and checksum only; says nothing about whether the key exists."""
    if not _SHAPE.match(secret):
        return False
    body = secret[len(PREFIX) :]
    return secrets.compare_digest(_checksum(body[:_RANDOM_LENGTH]), body[_RANDOM_LENGTH:])


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()
