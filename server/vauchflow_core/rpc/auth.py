"""Who is calling, and may they call this RPC? Bearer tokens in the `authorization` metadata."""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import Protocol

from vauchflow_core import api_key_secrets
from vauchflow_core.errors import PermissionMissing, Unauthenticated
from vauchflow_core.permissions import ANY_KEY, OPERATOR, PUBLIC, REQUIRED_PERMISSION
from vauchflow_core.rpc.api_key_cache import ApiKeyCache
from vauchflow_core.tenancy import OPERATOR as OPERATOR_PRINCIPAL
from vauchflow_core.tenancy import ApiKeyIdentity, Principal

ANONYMOUS = Principal(tenant_id=None, key_id=None, permissions=frozenset())


def bearer_token(metadata: Iterable[tuple[str, str | bytes]]) -> str | None:
    for key, value in metadata:
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


class KeyLookup(Protocol):
    """What the authenticator needs of a database."""

    async def authenticate_api_key(self, secret_hash: bytes) -> ApiKeyIdentity | None: ...


class Authenticator:
    def __init__(self, db: KeyLookup, admin_token: str, cache: ApiKeyCache | None = None):
        self._db = db
        self._admin_token = admin_token.encode()
        self._cache = cache if cache is not None else ApiKeyCache(ttl_seconds=0)

    async def authorize(self, method: str, metadata: Iterable[tuple[str, str | bytes]]) -> Principal:
        required = REQUIRED_PERMISSION.get(method)
        if required is None:
            raise PermissionMissing("this method is not available")
        if required == PUBLIC:
            return ANONYMOUS
        token = bearer_token(metadata)
        if token is None:
            raise Unauthenticated("missing credentials: send `authorization: Bearer <secret>`")
        if required == OPERATOR:
            if hmac.compare_digest(token.encode(), self._admin_token):
                return OPERATOR_PRINCIPAL
            raise Unauthenticated("this method needs the platform operator token")
        if not api_key_secrets.is_well_formed(token):
            # Rejected on shape and checksum alone: no database lookup for garbage.
            raise Unauthenticated("the API key is malformed")
        secret_hash = api_key_secrets.hash_secret(token)
        if self._cache.is_known_unknown(secret_hash):
            raise Unauthenticated("the API key is unknown or revoked")
        identity = self._cache.get(secret_hash)
        if identity is None:
            generation = self._cache.generation
            identity = await self._db.authenticate_api_key(secret_hash)
            if identity is None:
                self._cache.put_unknown(secret_hash)
            else:
                self._cache.put(secret_hash, identity, looked_up_at_generation=generation)
        if identity is None or identity.revoked:
            raise Unauthenticated("the API key is unknown or revoked")
        if required != ANY_KEY and required not in identity.permissions:
            raise PermissionMissing(f"the API key lacks the permission {required}", metadata={"permission": required})
        return Principal(identity.tenant_id, identity.key_id, identity.permissions, identity.plan, identity.rate_limit)
