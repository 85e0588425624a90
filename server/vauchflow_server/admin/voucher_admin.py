"""Use cases for managing vouchers: create, read, list, update, disable. Each change writes its outbox event."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from vauchflow_core import events, plans
from vauchflow_core.errors import InvalidArgument, NotFound, QuotaExceeded, Violations
from vauchflow_server import idempotency, resource_events
from vauchflow_server.db.database import Database, TenantTransaction
from vauchflow_server.list_filters import VoucherFilter
from vauchflow_server.pagination import Page, make_page, page_request
from vauchflow_server.redemption.flash_sale_gate import FlashSaleGate
from vauchflow_server.vouchers import (
    DISABLED,
    UPDATABLE_FIELDS,
    Voucher,
    VoucherTerms,
    apply_changes,
    check_code,
    check_terms,
    generate_code,
    lookup_code,
    normalize_code,
    shown_code,
)

_CREATE_OPERATION = "CreateVoucher"
_VOUCHER_QUOTA = "vouchers"
_CAMPAIGN_CODE_UPDATABLE = frozenset({"status", "metadata"})


@dataclass(frozen=True)
class CreateVoucher:
    code: str | None
    terms: VoucherTerms
    request_id: str = ""


@dataclass(frozen=True)
class UpdateVoucher:
    code: str
    changes: dict[str, Any] = field(default_factory=dict)


def voucher_not_found(code: str) -> NotFound:
    return NotFound(f"no voucher with code {shown_code(code)}", reason="VOUCHER_NOT_FOUND")


class VoucherAdmin:
    def __init__(self, db: Database, gate: FlashSaleGate | None = None):
        self._db = db
        self._gate = gate

    async def create(self, tenant_id: UUID, command: CreateVoucher) -> Voucher:
        violations = Violations()
        code = normalize_code(command.code) if command.code is not None else generate_code()
        check_code(code, violations)
        check_terms(command.terms, violations)
        idempotency.check_key(command.request_id, violations)
        violations.raise_if_any()

        voucher_id = uuid.uuid4()
        async with self._db.tenant_transaction(tenant_id) as tx:
            if command.request_id:
                original = await idempotency.claim(
                    tx, _CREATE_OPERATION, command.request_id, idempotency.fingerprint(command), voucher_id
                )
                if original is not None:
                    return await _require(tx.voucher_by_id(original), code)
            await check_voucher_quota(tx)
            voucher = await tx.insert_voucher(voucher_id, code, command.terms)
            await tx.record_event(resource_events.voucher_event(events.VOUCHER_CREATED, voucher))
        return voucher

    async def get(self, tenant_id: UUID, code: str) -> Voucher:
        async with self._db.tenant_transaction(tenant_id) as tx:
            return await _require(tx.voucher_by_code(lookup_code(code)), code)

    async def list(
        self, tenant_id: UUID, page_size: int, page_token: str, filters: VoucherFilter | None = None
    ) -> Page[Voucher]:
        filters = filters or VoucherFilter()
        request = page_request(page_size, page_token, filters.scope())
        async with self._db.tenant_read(tenant_id) as tx:
            rows = await tx.list_vouchers(request.after, request.size + 1, filters)
        return make_page(rows, request, lambda v: (v.create_time, v.id))

    async def update(self, tenant_id: UUID, command: UpdateVoucher) -> Voucher:
        unknown = set(command.changes) - UPDATABLE_FIELDS
        if unknown:
            raise InvalidArgument.single("update_mask", f"cannot update {', '.join(sorted(unknown))}")
        if not command.changes:
            raise InvalidArgument.single("update_mask", "names no field to change")
        code = lookup_code(command.code, "voucher.code")
        async with self._db.tenant_transaction(tenant_id) as tx:
            current = await _require(tx.voucher_for_update(code), command.code)
            if current.campaign_id is not None and set(command.changes) - _CAMPAIGN_CODE_UPDATABLE:
                raise InvalidArgument.single(
                    "update_mask",
                    "a campaign's code takes its terms from the campaign: only status and metadata change",
                )
            terms = apply_changes(current.terms, command.changes)
            violations = Violations()
            check_terms(terms, violations)
            max_redemptions = terms.max_redemptions
            if max_redemptions is not None and max_redemptions < current.redemption_count:
                violations.add("voucher.max_redemptions", "must not be below the current redemption_count")
            violations.raise_if_any()
            # The row is locked, so this check is exact; the CHECK constraint would refuse it anyway.
            updated = await _require(tx.update_voucher_terms(code, terms), command.code)
            became_disabled = current.terms.status != DISABLED and terms.status == DISABLED
            event_type = events.VOUCHER_DISABLED if became_disabled else events.VOUCHER_UPDATED
            await tx.record_event(resource_events.voucher_event(event_type, updated))
        await self._forget_counter(tenant_id, current, updated)
        return updated

    async def disable(self, tenant_id: UUID, code: str) -> Voucher:
        """Idempotent: disabling a disabled voucher changes nothing and writes no event."""
        normalized = lookup_code(code)
        async with self._db.tenant_transaction(tenant_id) as tx:
            current = await _require(tx.voucher_for_update(normalized), code)
            if current.terms.status == DISABLED:
                return current
            terms = apply_changes(current.terms, {"status": DISABLED})
            updated = await _require(tx.update_voucher_terms(normalized, terms), code)
            await tx.record_event(resource_events.voucher_event(events.VOUCHER_DISABLED, updated))
        await self._forget_counter(tenant_id, current, updated)
        return updated

    async def _forget_counter(self, tenant_id: UUID, before: Voucher, after: Voucher) -> None:
        """After COMMIT: a flash-sale counter built from the old terms is dropped and rebuilt from the new ones."""
        if self._gate is not None and (before.terms.flash_sale or after.terms.flash_sale):
            await self._gate.forget(tenant_id, after.code)


async def check_voucher_quota(tx: TenantTransaction, adding: int = 1) -> None:
    """PLAN_QUOTA_EXCEEDED when `adding` more vouchers (campaign codes are vouchers too) would pass the plan's
    quota. Creators in one tenant queue on the quota lock until this transaction ends, so two can't both take the
    last slots."""
    plan, overrides = await tx.tenant_limits()
    limit = plans.effective_limits(plan, overrides).vouchers
    if limit is None:
        return
    await tx.lock_quota(_VOUCHER_QUOTA)
    existing = await tx.count_vouchers()
    if existing + adding > limit:
        error = QuotaExceeded(_VOUCHER_QUOTA, plan, limit)
        if adding > 1:
            error.message = (
                f"the {plan} plan allows at most {limit:,} vouchers, campaign codes included: the tenant has"
                f" {existing:,}, so {adding:,} more do not fit"
            )
        raise error


async def _require(lookup: Any, code: str) -> Voucher:
    voucher = await lookup
    if voucher is None:
        raise voucher_not_found(code)
    return voucher
