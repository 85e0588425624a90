"""Tenants, their API keys, and who is calling (the principal the auth interceptor puts in a contextvar)."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from vauchflow_core.plans import NO_OVERRIDES, LimitOverrides, RateLimit, effective_limits

PLANS = ("FREE", "STARTER", "GROWTH", "SCALE", "ENTERPRISE")
DEFAULT_PLAN = "FREE"


@dataclass(frozen=True)
class Tenant:
    id: UUID
    name: str
    plan: str
    create_time: datetime
    update_time: datetime
    # The operator's overrides of the plan's limits (none: the plan's defaults).
    limits: LimitOverrides = NO_OVERRIDES


@dataclass(frozen=True)
class ApiKey:
    id: UUID
    tenant_id: UUID
    name: str
    permissions: tuple[str, ...]
    secret_prefix: str
    create_time: datetime
    revoke_time: datetime | None


@dataclass(frozen=True)
class ApiKeyIdentity:
    """What authenticate_api_key() reveals about a key before its tenant is known."""

    key_id: UUID
    tenant_id: UUID
    permissions: frozenset[str]
    revoked: bool
    # The tenant's plan and overrides, so the request rate needs no lookup of its own (cached with the key).
    plan: str = DEFAULT_PLAN
    limits: LimitOverrides = NO_OVERRIDES

    @property
    def rate_limit(self) -> RateLimit | None:
        return effective_limits(self.plan, self.limits).rate_limit


@dataclass(frozen=True)
class Principal:
    """The caller of the current RPC: a tenant's API key, or the platform operator (tenant_id None)."""

    tenant_id: UUID | None
    key_id: UUID | None
    permissions: frozenset[str]
    # The tenant's plan and the request rate its keys may use (None: unlimited, and for the operator).
    plan: str | None = None
    rate_limit: RateLimit | None = None

    @property
    def is_operator(self) -> bool:
        return self.tenant_id is None


OPERATOR = Principal(tenant_id=None, key_id=None, permissions=frozenset())

current_principal: contextvars.ContextVar[Principal] = contextvars.ContextVar("current_principal")


def current_tenant_id() -> UUID:
    """The calling tenant; only RPCs authorised by a tenant API key may ask."""
    tenant_id = current_principal.get().tenant_id
    if tenant_id is None:
        raise RuntimeError("no tenant API key authorised this call")
    return tenant_id
