"""A tenant's own API keys: create (secret shown once), list, revoke, and who the calling key is."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from vauchflow_core import api_key_secrets, plans
from vauchflow_core.errors import NotFound, PermissionMissing, QuotaExceeded, Violations, shown_id
from vauchflow_core.permissions import ALL_PERMISSIONS
from vauchflow_core.plans import PlanLimits, effective_limits
from vauchflow_core.tenancy import ApiKey, ApiKeyAuditEvent, Tenant
from vauchflow_server import idempotency
from vauchflow_server.db.database import Database, TenantTransaction
from vauchflow_server.pagination import Page, make_page, page_request

_CREATE_OPERATION = "CreateApiKey"
_KEY_QUOTA = "api_keys"
MAX_NAME_LENGTH = 200


@dataclass(frozen=True)
class CreateApiKey:
    name: str
    permissions: tuple[str, ...]
    request_id: str = ""


@dataclass(frozen=True)
class CreatedApiKey:
    api_key: ApiKey
    secret: str  # empty on an idempotent replay


async def _check_key_quota(tx: TenantTransaction) -> None:
    plan, _ = await tx.tenant_limits()
    limit = plans.limits_for(plan).active_api_keys
    if limit is None:
        return
    # Creators in one tenant queue here, so two can't both take the last slot.
    await tx.lock_quota(_KEY_QUOTA)
    if await tx.count_active_api_keys() >= limit:
        raise QuotaExceeded(_KEY_QUOTA, plan, limit)


@dataclass(frozen=True)
class CurrentApiKey:
    """Who am I: the calling key, its tenant, and the limits in force (the plan's, with the tenant's overrides)."""

    api_key: ApiKey
    tenant: Tenant
    limits: PlanLimits


def api_key_not_found(key_id: object) -> NotFound:
    return NotFound(f"no API key with id {shown_id(key_id)}", reason="API_KEY_NOT_FOUND")


class ApiKeyAdmin:
    def __init__(self, db: Database, on_revoked: Callable[[UUID], None] = lambda _key_id: None):
        self._db = db
        # Runs after the revocation commits: this server's authentication cache forgets the key at once.
        self._on_revoked = on_revoked

    async def create(
        self,
        tenant_id: UUID,
        command: CreateApiKey,
        caller_permissions: frozenset[str],
        caller_key_id: UUID | None = None,
    ) -> CreatedApiKey:
        """caller_permissions: what the creating key holds; a key can't hand out more than it has. The new key
        records caller_key_id as its creator, and the creation goes to the tenant's audit log."""
        violations = Violations()
        if not command.name.strip():
            violations.add("name", "must not be empty")
        elif len(command.name) > MAX_NAME_LENGTH:
            violations.add("name", f"at most {MAX_NAME_LENGTH} characters")
        if not command.permissions:
            violations.add("permissions", "name at least one permission")
        unknown = sorted(set(command.permissions) - set(ALL_PERMISSIONS))
        if unknown:
            violations.add("permissions", f"unknown permissions {unknown}; known: {', '.join(ALL_PERMISSIONS)}")
        idempotency.check_key(command.request_id, violations)
        violations.raise_if_any()
        beyond = sorted(set(command.permissions) - caller_permissions)
        if beyond:
            raise PermissionMissing(
                f"an API key can only grant permissions it holds itself; missing {', '.join(beyond)}",
                metadata={"permission": beyond[0]},
            )

        key_id = uuid.uuid4()
        async with self._db.tenant_transaction(tenant_id) as tx:
            if command.request_id:
                original = await idempotency.claim(
                    tx, _CREATE_OPERATION, command.request_id, idempotency.fingerprint(command), key_id
                )
                if original is not None:
                    existing = await tx.get_api_key(original)
                    assert existing is not None
                    return CreatedApiKey(existing, secret="")
            await _check_key_quota(tx)
            new_secret = api_key_secrets.generate()
            permissions = tuple(sorted(set(command.permissions)))
            api_key = await tx.insert_api_key(
                key_id,
                command.name.strip(),
                permissions,
                new_secret.secret_hash,
                new_secret.display_prefix,
                created_by=caller_key_id,
            )
        return CreatedApiKey(api_key, new_secret.secret)

    async def events(self, tenant_id: UUID, page_size: int, page_token: str) -> Page[ApiKeyAuditEvent]:
        """The tenant's audit log of key creations and revocations, newest first."""
        request = page_request(page_size, page_token)
        before = request.after[1].int if request.after else None
        async with self._db.tenant_read(tenant_id) as tx:
            rows = await tx.list_api_key_audit_events(before, request.size + 1)
        # The page token carries the last event's time and its id (as a UUID of the integer, for page_request).
        return make_page(rows, request, lambda e: (e.create_time, UUID(int=e.id)))

    async def list(self, tenant_id: UUID, page_size: int, page_token: str) -> Page[ApiKey]:
        request = page_request(page_size, page_token)
        async with self._db.tenant_read(tenant_id) as tx:
            rows = await tx.list_api_keys(request.after, request.size + 1)
        return make_page(rows, request, lambda k: (k.create_time, k.id))

    async def revoke(
        self,
        tenant_id: UUID,
        key_id: str,
        caller_permissions: frozenset[str] = frozenset(ALL_PERMISSIONS),
        caller_key_id: UUID | None = None,
    ) -> ApiKey:
        """A key may revoke only keys whose permissions are within its own (an api_keys:write-only key can't
        revoke the all-powerful first key). Revoking a revoked key changes nothing."""
        try:
            ident = UUID(key_id)
        except ValueError:
            raise api_key_not_found(key_id) from None
        async with self._db.tenant_transaction(tenant_id) as tx:
            target = await tx.api_key_for_update(ident)
            if target is None:
                raise api_key_not_found(key_id)
            beyond = sorted(set(target.permissions) - caller_permissions)
            if beyond:
                raise PermissionMissing(
                    f"an API key can only revoke keys whose permissions it holds itself; missing {', '.join(beyond)}",
                    metadata={"permission": beyond[0]},
                )
            if target.revoke_time is not None:
                return target
            api_key = await tx.revoke_api_key(ident, revoked_by=caller_key_id)
        if api_key is None:
            raise api_key_not_found(key_id)
        self._on_revoked(api_key.id)
        return api_key

    async def current(self, tenant_id: UUID, key_id: UUID) -> CurrentApiKey:
        async with self._db.tenant_transaction(tenant_id) as tx:
            api_key = await tx.get_api_key(key_id)
            tenant = await tx.get_own_tenant()
        # The key authenticated this very call, so both exist unless deleted in between (they never are).
        if api_key is None or tenant is None:
            raise api_key_not_found(key_id)
        return CurrentApiKey(api_key, tenant, effective_limits(tenant.plan, tenant.limits))
