"""The API key cache: hits within the TTL, expiry after it, eviction by key id, bounded size, and the
authenticator consulting it before the database."""

from __future__ import annotations

import uuid

import pytest

from vauchflow_core import api_key_secrets
from vauchflow_core.errors import Unauthenticated
from vauchflow_core.rpc.api_key_cache import ApiKeyCache
from vauchflow_core.rpc.auth import Authenticator
from vauchflow_core.tenancy import ApiKeyIdentity

METHOD = "/vauchflow.v1.VoucherService/GetVoucher"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def identity(revoked: bool = False) -> ApiKeyIdentity:
    return ApiKeyIdentity(uuid.uuid4(), uuid.uuid4(), frozenset({"vouchers:read"}), revoked)


def test_entries_live_for_the_ttl_only():
    clock = Clock()
    cache = ApiKeyCache(ttl_seconds=5, clock=clock)
    key = identity()
    cache.put(b"h", key)
    clock.now = 4.9
    assert cache.get(b"h") is key
    clock.now = 5.0
    assert cache.get(b"h") is None
    assert len(cache) == 0


def test_revoked_identities_and_a_zero_ttl_are_never_cached():
    cache = ApiKeyCache(ttl_seconds=5)
    cache.put(b"h", identity(revoked=True))
    assert cache.get(b"h") is None
    disabled = ApiKeyCache(ttl_seconds=0)
    disabled.put(b"h", identity())
    assert disabled.get(b"h") is None


def test_evicting_a_key_id_drops_only_that_key():
    cache = ApiKeyCache(ttl_seconds=5)
    kept, evicted = identity(), identity()
    cache.put(b"kept", kept)
    cache.put(b"evicted", evicted)
    cache.evict_key(evicted.key_id)
    assert cache.get(b"evicted") is None
    assert cache.get(b"kept") is kept


def test_size_is_bounded_oldest_first():
    cache = ApiKeyCache(ttl_seconds=5, max_entries=2)
    for name in (b"a", b"b", b"c"):
        cache.put(name, identity())
    assert cache.get(b"a") is None
    assert cache.get(b"b") is not None and cache.get(b"c") is not None


class CountingStore:
    def __init__(self, found: ApiKeyIdentity | None):
        self.found = found
        self.lookups = 0

    async def authenticate_api_key(self, secret_hash: bytes) -> ApiKeyIdentity | None:
        self.lookups += 1
        return self.found


async def test_the_authenticator_asks_the_database_once_per_ttl_and_again_after_eviction():
    secret = api_key_secrets.generate().secret
    key = identity()
    store = CountingStore(key)
    cache = ApiKeyCache(ttl_seconds=60)
    authenticator = Authenticator(store, "operator-token-0123456789", cache)
    metadata = [("authorization", f"Bearer {secret}")]
    for _ in range(3):
        principal = await authenticator.authorize(METHOD, metadata)
        assert principal.key_id == key.key_id
    assert store.lookups == 1
    cache.evict_key(key.key_id)
    store.found = ApiKeyIdentity(key.key_id, key.tenant_id, key.permissions, revoked=True)
    with pytest.raises(Unauthenticated):
        await authenticator.authorize(METHOD, metadata)
    assert store.lookups == 2


class EvictingStore(CountingStore):
    """A revocation lands while the lookup is in flight: the lookup still returns the pre-revocation row."""

    def __init__(self, found: ApiKeyIdentity, cache: ApiKeyCache):
        super().__init__(found)
        self.cache = cache

    async def authenticate_api_key(self, secret_hash: bytes) -> ApiKeyIdentity | None:
        self.cache.evict_key(self.found.key_id)
        return await super().authenticate_api_key(secret_hash)


async def test_a_lookup_that_raced_an_eviction_is_not_cached():
    secret = api_key_secrets.generate().secret
    key = identity()
    cache = ApiKeyCache(ttl_seconds=60)
    store = EvictingStore(key, cache)
    authenticator = Authenticator(store, "operator-token-0123456789", cache)
    await authenticator.authorize(METHOD, [("authorization", f"Bearer {secret}")])
    assert len(cache) == 0  # the stale answer served this one request but was not kept


def test_unknown_keys_are_remembered_briefly_in_a_bounded_table() -> None:
    now = [0.0]
    cache = ApiKeyCache(ttl_seconds=5, clock=lambda: now[0], unknown_ttl_seconds=30, max_unknown=3)
    for n in range(5):
        cache.put_unknown(bytes([n]))
    assert [cache.is_known_unknown(bytes([n])) for n in range(5)] == [False, False, True, True, True]
    now[0] = 30.0
    assert not cache.is_known_unknown(bytes([4]))
    assert len(cache) == 0  # never in the positive cache
