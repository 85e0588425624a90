"""The platform operator's use cases: create, read, list and re-plan tenants, and set their own limits."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from uuid import UUID

from vauchflow_core import api_key_secrets, plans
from vauchflow_core.errors import Conflict, NotFound, Violations, shown_id
from vauchflow_core.permissions import ALL_PERMISSIONS
from vauchflow_core.tenancy import DEFAULT_PLAN, PLANS, ApiKey, Tenant
from vauchflow_server import idempotency
from vauchflow_server.db.database import Database
from vauchflow_server.pagination import Page, make_page, page_request

MAX_NAME_LENGTH = 200
FIRST_KEY_NAME = "default"


@dataclass(frozen=True)
class CreateTenant:
    name: str
    plan: str | None = None
    request_id: str = ""


@dataclass(frozen=True)
class CreatedTenant:
    tenant: Tenant
    api_key: ApiKey
    # Empty on an idempotent replay: secrets are never stored, so they can't be shown twice.
    secret: str


def tenant_not_found(tenant_id: object) -> NotFound:
    return NotFound(f"no tenant with id {shown_id(tenant_id)}", reason="TENANT_NOT_FOUND")


def _check_name(name: str, violations: Violations, field_path: str) -> None:
    if not name.strip():
        violations.add(field_path, "must not be empty")
    elif len(name) > MAX_NAME_LENGTH:
        violations.add(field_path, f"at most {MAX_NAME_LENGTH} characters")


def _parse_id(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise tenant_not_found(raw) from None


class TenantAdmin:
    def __init__(self, db: Database, on_changed: Callable[[UUID], None] = lambda tenant_id: None):
        self._db = db
        self._on_changed = on_changed

    async def create(self, command: CreateTenant) -> CreatedTenant:
        violations = Violations()
        _check_name(command.name, violations, "name")
        if command.plan is not None and command.plan not in PLANS:
            violations.add("plan", f"must be one of {', '.join(PLANS)}")
        idempotency.check_key(command.request_id, violations)
        violations.raise_if_any()

        request_hash = idempotency.fingerprint(command) if command.request_id else None
        tenant_id = uuid.uuid4()
        async with self._db.operator_transaction() as tx:
            tenant = await tx.insert_tenant(
                tenant_id, command.name.strip(), command.plan or DEFAULT_PLAN, command.request_id or None, request_hash
            )
            if tenant is None:  # the request_id was used before
                original = await tx.tenant_by_request_id(command.request_id)
                assert original is not None
                tenant, stored_hash = original
                if stored_hash != request_hash:
                    raise Conflict(
                        "this request_id was already used with a different request", reason="IDEMPOTENCY_KEY_REUSED"
                    )
                first_key = await (await tx.enter_tenant(tenant.id)).first_api_key()
                assert first_key is not None
                return CreatedTenant(tenant, first_key, secret="")
            tenant_tx = await tx.enter_tenant(tenant_id)
            new_secret = api_key_secrets.generate()
            api_key = await tenant_tx.insert_api_key(
                uuid.uuid4(),
                FIRST_KEY_NAME,
                ALL_PERMISSIONS,
                new_secret.secret_hash,
                new_secret.display_prefix,
                created_by=None,  # the platform operator
            )
        return CreatedTenant(tenant, api_key, new_secret.secret)

    async def get(self, tenant_id: str) -> Tenant:
        ident = _parse_id(tenant_id)
        async with self._db.operator_transaction() as tx:
            tenant = await tx.get_tenant(ident)
        if tenant is None:
            raise tenant_not_found(tenant_id)
        return tenant

    async def list(self, page_size: int, page_token: str) -> Page[Tenant]:
        request = page_request(page_size, page_token)
        async with self._db.operator_read() as tx:
            rows = await tx.list_tenants(request.after, request.size + 1)
        return make_page(rows, request, lambda t: (t.create_time, t.id))

    async def update(
        self, tenant_id: str, name: str | None, plan: str | None, limits: Mapping[str, int | None] | None = None
    ) -> Tenant:
        """limits: limit name (a LimitOverrides field) → the tenant's own value, or None for the plan's default."""
        limits = dict(limits or {})
        violations = Violations()
        if name is not None:
            _check_name(name, violations, "tenant.name")
        if plan is not None and plan not in PLANS:
            violations.add("tenant.plan", f"must be one of {', '.join(PLANS)}")
        for limit, value in limits.items():
            _check_limit(limit, value, violations)
        if name is None and plan is None and not limits:
            violations.add("update_mask", "names no field to change")
        violations.raise_if_any()
        ident = _parse_id(tenant_id)
        async with self._db.operator_transaction() as tx:
            current = await tx.get_tenant(ident)
            if current is None:
                raise tenant_not_found(tenant_id)
            updated = await tx.update_tenant(
                ident,
                name.strip() if name else current.name,
                plan or current.plan,
                dataclasses.replace(current.limits, **limits),
            )
        assert updated is not None
        # This server forgets the tenant's cached keys at once; the others when the database's notification arrives.
        self._on_changed(ident)
        return updated


# The smallest and largest value each limit override may take.
_LIMIT_RANGES = {
    "requests_per_second": (1, plans.MAX_REQUESTS_PER_SECOND),
    "burst": (1, plans.MAX_BURST),
    "max_vouchers": (0, plans.MAX_VOUCHERS),
    "max_webhook_endpoints": (0, plans.MAX_WEBHOOK_ENDPOINTS),
}


def _check_limit(limit: str, value: int | None, violations: Violations) -> None:
    if value is None:
        return
    low, high = _LIMIT_RANGES[limit]
    if value < low:
        violations.add(f"tenant.limits.{limit}", "must be positive" if low > 0 else "must not be negative")
    elif value > high:
        violations.add(f"tenant.limits.{limit}", f"must be at most {high:,}")
