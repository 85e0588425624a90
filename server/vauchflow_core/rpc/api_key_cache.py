"""A short-lived cache of API key lookups, so a busy key costs no database round trip per request.

Keys that authenticated are cached for the TTL. Revocation evicts at once on the server that revoked the key, and
on every other replica when the database's notification arrives; so does a change of the tenant's plan or limits,
which the entries carry for the rate limiter. The TTL bounds how stale an entry can be if a notification is ever
missed.

Unknown keys are remembered too, briefly and in a bounded table of their own (so guesses can neither fill the
positive cache nor cost a database lookup each): a well-formed made-up key is cheap to produce, since the
checksum is public. A secret is random, so no real key is created under a hash that was looked up before.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from uuid import UUID

from vauchflow_core.tenancy import ApiKeyIdentity


class ApiKeyCache:
    def __init__(
        self,
        ttl_seconds: float,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        unknown_ttl_seconds: float = 30.0,
        max_unknown: int = 10_000,
    ):
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[bytes, tuple[float, ApiKeyIdentity]] = OrderedDict()
        self._unknown_ttl = unknown_ttl_seconds
        self._max_unknown = max_unknown
        self._unknown: OrderedDict[bytes, float] = OrderedDict()
        # Bumped by every eviction. A lookup that started before an eviction may have read the state from before
        # the change (a revocation committing meanwhile): such a result must not be cached.
        self.generation = 0

    def get(self, secret_hash: bytes) -> ApiKeyIdentity | None:
        entry = self._entries.get(secret_hash)
        if entry is None:
            return None
        expires, identity = entry
        if self._clock() >= expires:
            del self._entries[secret_hash]
            return None
        return identity

    def put(self, secret_hash: bytes, identity: ApiKeyIdentity, looked_up_at_generation: int | None = None) -> None:
        """looked_up_at_generation: `generation` when the lookup began; an eviction since then skips the put."""
        if identity.revoked or self._ttl <= 0:
            return
        if looked_up_at_generation is not None and looked_up_at_generation != self.generation:
            return
        self._entries[secret_hash] = (self._clock() + self._ttl, identity)
        self._entries.move_to_end(secret_hash)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def is_known_unknown(self, secret_hash: bytes) -> bool:
        """Whether this hash was looked up recently and matched no key."""
        expires = self._unknown.get(secret_hash)
        if expires is None:
            return False
        if self._clock() >= expires:
            del self._unknown[secret_hash]
            return False
        return True

    def put_unknown(self, secret_hash: bytes) -> None:
        if self._unknown_ttl <= 0:
            return
        self._unknown[secret_hash] = self._clock() + self._unknown_ttl
        self._unknown.move_to_end(secret_hash)
        while len(self._unknown) > self._max_unknown:
            self._unknown.popitem(last=False)

    def evict_key(self, key_id: UUID) -> None:
        self.generation += 1
        for secret_hash in [h for h, (_, identity) in self._entries.items() if identity.key_id == key_id]:
            del self._entries[secret_hash]

    def evict_tenant(self, tenant_id: UUID) -> None:
        """The tenant's plan or limits changed: its keys carry the old ones."""
        self.generation += 1
        for secret_hash in [h for h, (_, identity) in self._entries.items() if identity.tenant_id == tenant_id]:
            del self._entries[secret_hash]

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
