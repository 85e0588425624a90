"""Dashboard sessions: the signed-in secret kept server-side, sealed, with an idle timeout; the browser holds an id.

The cookie carries only a random session id. Redis holds, under a hash of that id, the session sealed with
AES-256-GCM (key from the environment; the Redis key is the additional data, so a sealed session copied under
another id does not open). Reading a session renews its TTL: it ends after `idle_seconds` without a request,
on sign-out, or when the API stops accepting its key. Without Redis the sessions live in this process only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger(__name__)

SessionKind = Literal["tenant", "operator"]
_NONCE_BYTES = 12
_KEY_PREFIX = "vauchflow:web:session:"


@dataclass(frozen=True)
class Session:
    # The API key (tenant) or operator token the dashboard acts with. Never rendered, logged or sent to the browser.
    secret: str
    kind: SessionKind
    # Carried by every form that changes something; compared in constant time.
    csrf_token: str
    # What the header shows; the key's name or "operator".
    label: str
    # Read-your-writes: the highest commit position the API answered this session's writes with, sent back with
    # its calls so a page never shows a state older than the session's own last change (a read replica may lag).
    commit_position: int | None = None


def new_session(secret: str, kind: SessionKind, label: str) -> Session:
    return Session(secret=secret, kind=kind, csrf_token=secrets.token_urlsafe(32), label=label)


class SessionBackend(Protocol):
    async def put(self, key: str, value: bytes, ttl_seconds: int) -> None: ...
    async def replace(self, key: str, value: bytes, ttl_seconds: int) -> None:
        """put, but only while the key exists (a session ended meanwhile stays ended)."""
        ...

    async def get_and_touch(self, key: str, ttl_seconds: int) -> bytes | None: ...
    async def delete(self, key: str) -> None: ...


class RedisBackend:
    def __init__(self, redis: object) -> None:
        # redis.asyncio.Redis; typed loosely so this module does not pin the client's generics.
        self._redis = redis

    async def put(self, key: str, value: bytes, ttl_seconds: int) -> None:
        await self._redis.set(key, value, ex=ttl_seconds)  # type: ignore[attr-defined]

    async def replace(self, key: str, value: bytes, ttl_seconds: int) -> None:
        await self._redis.set(key, value, ex=ttl_seconds, xx=True)  # type: ignore[attr-defined]

    async def get_and_touch(self, key: str, ttl_seconds: int) -> bytes | None:
        # GETEX reads and renews the idle timeout in one round trip.
        value = await self._redis.getex(key, ex=ttl_seconds)  # type: ignore[attr-defined]
        return value if isinstance(value, bytes) else None

    async def delete(self, key: str) -> None:
        await self._redis.delete(key)  # type: ignore[attr-defined]


class InProcessBackend:
    """For a single process without Redis (a test, a quick local run): same contract, same expiry."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._values: dict[str, tuple[bytes, float]] = {}
        self._clock = clock

    async def put(self, key: str, value: bytes, ttl_seconds: int) -> None:
        self._values[key] = (value, self._clock() + ttl_seconds)

    async def replace(self, key: str, value: bytes, ttl_seconds: int) -> None:
        found = self._values.get(key)
        if found is not None and found[1] > self._clock():
            self._values[key] = (value, self._clock() + ttl_seconds)

    async def get_and_touch(self, key: str, ttl_seconds: int) -> bytes | None:
        found = self._values.get(key)
        if found is None or found[1] <= self._clock():
            self._values.pop(key, None)
            return None
        self._values[key] = (found[0], self._clock() + ttl_seconds)
        return found[0]

    async def delete(self, key: str) -> None:
        self._values.pop(key, None)


class SessionStore:
    def __init__(self, backend: SessionBackend, sealing_key: bytes, idle_seconds: int) -> None:
        self._backend = backend
        self._aead = AESGCM(sealing_key)
        self._idle_seconds = idle_seconds

    async def create(self, session: Session) -> str:
        """Stores the session; returns the id for the cookie."""
        session_id = secrets.token_urlsafe(32)
        storage_key = _storage_key(session_id)
        await self._backend.put(storage_key, self._sealed(session, storage_key), self._idle_seconds)
        return session_id

    async def remember_commit_position(self, session_id: str, session: Session, position: int | None) -> None:
        """Keeps a higher commit position with the session (unless it ended meanwhile)."""
        if position is None or (session.commit_position is not None and position <= session.commit_position):
            return
        storage_key = _storage_key(session_id)
        updated = dataclasses.replace(session, commit_position=position)
        await self._backend.replace(storage_key, self._sealed(updated, storage_key), self._idle_seconds)

    def _sealed(self, session: Session, storage_key: str) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        plain = json.dumps(asdict(session)).encode()
        return nonce + self._aead.encrypt(nonce, plain, storage_key.encode())

    async def load(self, session_id: str) -> Session | None:
        """The session, its idle timeout renewed; None when unknown, expired or not openable with our key."""
        if not session_id or len(session_id) > 128:
            return None
        storage_key = _storage_key(session_id)
        sealed = await self._backend.get_and_touch(storage_key, self._idle_seconds)
        if sealed is None:
            return None
        try:
            plain = self._aead.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], storage_key.encode())
        except InvalidTag:
            # Sealed under another key (a rotated VAUCHFLOW_WEB_SESSION_KEY) or tampered with: not a session.
            log.warning("session not openable", extra={"action": "dashboard_session_unopenable"})
            return None
        fields = json.loads(plain)
        return Session(**fields)

    async def end(self, session_id: str) -> None:
        if session_id:
            await self._backend.delete(_storage_key(session_id))


def _storage_key(session_id: str) -> str:
    # Hashed, so whoever reads Redis cannot present a stored key as a cookie.
    return _KEY_PREFIX + hashlib.sha256(session_id.encode()).hexdigest()
