"""API key secrets: shape, checksum and hashing, so garbage never reaches the database."""

from __future__ import annotations

import hashlib

import pytest

from vauchflow_core import api_key_secrets
from vauchflow_core.api_key_secrets import PREFIX

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BODY_LENGTH = 32 + 6


def _other_char(char: str) -> str:
    """A different character of the same alphabet, so only the checksum can notice the change."""
    return _ALPHABET[(_ALPHABET.index(char) + 1) % len(_ALPHABET)]


def test_generated_secrets_are_well_formed_and_distinct() -> None:
    generated = [api_key_secrets.generate() for _ in range(200)]
    for new in generated:
        assert new.secret.startswith(PREFIX)
        assert len(new.secret) == len(PREFIX) + _BODY_LENGTH
        assert all(c in _ALPHABET for c in new.secret[len(PREFIX) :])
        assert api_key_secrets.is_well_formed(new.secret)
        assert new.display_prefix == new.secret[: len(PREFIX) + 6]
    assert len({new.secret for new in generated}) == len(generated)


def test_the_hash_is_sha256_of_the_secret_and_not_the_secret() -> None:
    new = api_key_secrets.generate()
    assert new.secret_hash == hashlib.sha256(new.secret.encode()).digest()
    assert new.secret_hash == api_key_secrets.hash_secret(new.secret)
    assert len(new.secret_hash) == 32
    assert new.secret.encode() not in new.secret_hash
    assert new.secret[len(PREFIX) :].encode() not in new.secret_hash
    assert api_key_secrets.hash_secret(new.secret + "x") != new.secret_hash


@pytest.mark.parametrize("position", range(_BODY_LENGTH))
def test_changing_any_character_of_the_random_part_or_checksum_breaks_the_checksum(position: int) -> None:
    secret = api_key_secrets.generate().secret
    index = len(PREFIX) + position
    tampered = secret[:index] + _other_char(secret[index]) + secret[index + 1 :]
    assert tampered != secret and len(tampered) == len(secret)
    assert not api_key_secrets.is_well_formed(tampered)


def test_swapping_two_neighbouring_characters_breaks_the_checksum() -> None:
    secret = api_key_secrets.generate().secret
    body = list(secret[len(PREFIX) :])
    # A typical typo; CRC-32 catches every error burst this short.
    i = next(i for i in range(31) if body[i] != body[i + 1])
    body[i], body[i + 1] = body[i + 1], body[i]
    assert not api_key_secrets.is_well_formed(PREFIX + "".join(body))


@pytest.mark.parametrize("prefix", ["vf_pk_", "VF_SK_", "sk_", "", "vf_sk", "vf_op_"])
def test_a_wrong_prefix_is_malformed(prefix: str) -> None:
    secret = api_key_secrets.generate().secret
    assert not api_key_secrets.is_well_formed(prefix + secret[len(PREFIX) :])


def test_wrong_lengths_and_foreign_characters_are_malformed() -> None:
    secret = api_key_secrets.generate().secret
    assert not api_key_secrets.is_well_formed(secret[:-1])
    assert not api_key_secrets.is_well_formed(secret + "A")
    assert not api_key_secrets.is_well_formed(secret + "\n")
    assert not api_key_secrets.is_well_formed(" " + secret)
    assert not api_key_secrets.is_well_formed(PREFIX)
    assert not api_key_secrets.is_well_formed("")
    # Right length, but characters outside base62.
    assert not api_key_secrets.is_well_formed(secret[:-7] + "-" + secret[-6:])
    assert not api_key_secrets.is_well_formed(PREFIX + "é" * _BODY_LENGTH)
