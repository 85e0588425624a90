"""secret_box: AES-256-GCM with a versioned key ring; the AAD binds tenant, endpoint, purpose and key version."""

from __future__ import annotations

import base64
import uuid
from dataclasses import replace

import pytest

from vauchflow_core.secret_box import (
    KEY_BYTES,
    NONCE_BYTES,
    KeyRing,
    KeyRingError,
    Sealed,
    SecretBoxError,
    generate_key,
    generate_key_ring_text,
    open_sealed,
    seal,
)

TENANT = uuid.UUID("11111111-1111-4111-8111-111111111111")
ENDPOINT = uuid.UUID("22222222-2222-4222-8222-222222222222")
PURPOSE = "webhook_endpoint.signing_secret"
SECRET = b"\x01" * 32


def ring(*versions: int) -> KeyRing:
    return KeyRing.from_keys({v: generate_key() for v in versions})


def sealed_with(key_ring: KeyRing) -> Sealed:
    return seal(key_ring, SECRET, tenant_id=TENANT, endpoint_id=ENDPOINT, purpose=PURPOSE)


def test_round_trip() -> None:
    key_ring = ring(1)
    sealed = sealed_with(key_ring)
    assert sealed.key_version == 1 and len(sealed.nonce) == NONCE_BYTES
    assert SECRET not in sealed.ciphertext
    assert open_sealed(key_ring, sealed, tenant_id=TENANT, endpoint_id=ENDPOINT, purpose=PURPOSE) == SECRET


@pytest.mark.parametrize(
    "wrong",
    [
        {"tenant_id": uuid.uuid4()},
        {"endpoint_id": uuid.uuid4()},
        {"purpose": "webhook_endpoint.previous_signing_secret"},
        {"tenant_id": ENDPOINT, "endpoint_id": TENANT},  # the two ids swapped
    ],
    ids=["other tenant", "other endpoint", "other purpose", "ids swapped"],
)
def test_opening_with_other_bindings_fails(wrong: dict) -> None:
    key_ring = ring(1)
    sealed = sealed_with(key_ring)
    bindings = {"tenant_id": TENANT, "endpoint_id": ENDPOINT, "purpose": PURPOSE, **wrong}
    with pytest.raises(SecretBoxError):
        open_sealed(key_ring, sealed, **bindings)


def test_a_relabelled_key_version_fails_even_when_both_versions_hold_the_same_key() -> None:
    key = generate_key()
    key_ring = KeyRing.from_keys({1: key, 2: key})
    sealed = sealed_with(key_ring)
    assert sealed.key_version == 2
    # Same key bytes, so only the version in the AAD can tell them apart.
    with pytest.raises(SecretBoxError):
        open_sealed(key_ring, replace(sealed, key_version=1), tenant_id=TENANT, endpoint_id=ENDPOINT, purpose=PURPOSE)


def test_an_unknown_key_version_fails() -> None:
    sealed = sealed_with(ring(1, 2))
    with pytest.raises(SecretBoxError, match="no key version 2"):
        open_sealed(ring(1), sealed, tenant_id=TENANT, endpoint_id=ENDPOINT, purpose=PURPOSE)


def test_another_key_under_the_same_version_fails() -> None:
    sealed = sealed_with(ring(1))
    with pytest.raises(SecretBoxError):
        open_sealed(ring(1), sealed, tenant_id=TENANT, endpoint_id=ENDPOINT, purpose=PURPOSE)


@pytest.mark.parametrize("where", ["first byte", "last byte (tag)", "nonce", "truncated", "extended"])
def test_tampering_fails(where: str) -> None:
    key_ring = ring(1)
    sealed = sealed_with(key_ring)
    ciphertext, nonce = bytearray(sealed.ciphertext), bytearray(sealed.nonce)
    if where == "first byte":
        ciphertext[0] ^= 0x01
    elif where == "last byte (tag)":
        ciphertext[-1] ^= 0x80
    elif where == "nonce":
        nonce[5] ^= 0x01
    elif where == "truncated":
        ciphertext = ciphertext[:-1]
    else:
        ciphertext += b"\x00"
    tampered = Sealed(bytes(ciphertext), bytes(nonce), sealed.key_version)
    with pytest.raises(SecretBoxError):
        open_sealed(key_ring, tampered, tenant_id=TENANT, endpoint_id=ENDPOINT, purpose=PURPOSE)


def test_a_nonce_of_the_wrong_length_is_refused() -> None:
    key_ring = ring(1)
    sealed = sealed_with(key_ring)
    with pytest.raises(SecretBoxError):
        open_sealed(key_ring, replace(sealed, nonce=sealed.nonce + b"\x00"), tenant_id=TENANT, endpoint_id=ENDPOINT,
                    purpose=PURPOSE)  # fmt: skip


def test_nonces_are_random_and_ciphertexts_differ() -> None:
    key_ring = ring(1)
    sealed = [sealed_with(key_ring) for _ in range(200)]
    assert len({s.nonce for s in sealed}) == 200
    assert len({s.ciphertext for s in sealed}) == 200


def test_new_secrets_use_the_newest_version_and_old_ones_still_open() -> None:
    old_ring = ring(1)
    old = sealed_with(old_ring)
    new_ring = old_ring.with_key(2, generate_key())
    assert new_ring.newest_version == 2 and new_ring.versions == (1, 2)
    assert sealed_with(new_ring).key_version == 2
    assert open_sealed(new_ring, old, tenant_id=TENANT, endpoint_id=ENDPOINT, purpose=PURPOSE) == SECRET


def test_key_ring_text_round_trips_and_newest_is_the_highest_version() -> None:
    keys = {3: generate_key(), 1: generate_key(), 10: generate_key()}
    text = (
        f" 3:{base64.b64encode(keys[3]).decode()} ,\n1:{base64.b64encode(keys[1]).decode()},10:"
        + base64.b64encode(keys[10]).decode()
    )
    parsed = KeyRing.parse(text)
    assert parsed.newest_version == 10
    assert {v: parsed.key(v) for v in parsed.versions} == keys
    assert KeyRing.parse(parsed.to_text()) == parsed
    assert KeyRing.parse(generate_key_ring_text()).versions == (1,)
    assert len(KeyRing.parse(generate_key_ring_text(7)).key(7)) == KEY_BYTES


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "no key"),
        (" , ", "no key"),
        ("abc", "VERSION:BASE64KEY"),
        ("x:" + base64.b64encode(bytes(32)).decode(), "VERSION:BASE64KEY"),
        ("1:not base64!", "not valid base64"),
        ("1:" + base64.b64encode(bytes(16)).decode(), "not 32 bytes"),
        ("0:" + base64.b64encode(bytes(32)).decode(), "positive"),
        ("1:" + base64.b64encode(bytes(32)).decode() + ",1:" + base64.b64encode(bytes(32)).decode(), "twice"),
    ],
)
def test_malformed_key_rings_are_refused_without_echoing_keys(text: str, problem: str) -> None:
    with pytest.raises(KeyRingError, match=problem) as raised:
        KeyRing.parse(text)
    key_part = text.partition(":")[2]
    if len(key_part) > 8:
        assert key_part not in str(raised.value)


def test_the_key_ring_never_shows_its_keys() -> None:
    key_ring = ring(1, 2)
    for shown in (repr(key_ring), str(key_ring), f"{key_ring}"):
        assert shown == "KeyRing(versions=[1, 2])"
        for version in key_ring.versions:
            assert base64.b64encode(key_ring.key(version)).decode() not in shown
