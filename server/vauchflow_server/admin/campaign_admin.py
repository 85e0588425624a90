"""Use cases for managing campaigns: create, read, list, update (pause, resume, end), and starting the generation
of their codes as a long-running operation. Each change writes its outbox event."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from vauchflow_core import events
from vauchflow_core.errors import InvalidArgument, NotFound, Violations, shown_id
from vauchflow_server import campaign_codes, idempotency, resource_events
from vauchflow_server.admin.voucher_admin import check_voucher_quota
from vauchflow_server.campaign_codes import CodePattern
from vauchflow_server.campaigns import (
    ENDED,
    UPDATABLE_FIELDS,
    Campaign,
    CampaignTerms,
    apply_changes,
    check_campaign_terms,
    check_change,
)
from vauchflow_server.code_generation import CodeGenerator
from vauchflow_server.db.database import Database
from vauchflow_server.operations import GENERATE_CAMPAIGN_CODES, Operation
from vauchflow_server.pagination import Page, make_page, page_request

_CREATE_OPERATION = "CreateCampaign"
_GENERATE_OPERATION = "GenerateCampaignCodes"


@dataclass(frozen=True)
class CreateCampaign:
    terms: CampaignTerms
    request_id: str = ""


@dataclass(frozen=True)
class UpdateCampaign:
    campaign_id: str
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GenerateCodes:
    campaign_id: str
    count: int
    pattern: CodePattern
    request_id: str = ""


def campaign_not_found(campaign_id: object) -> NotFound:
    return NotFound(f"no campaign with id {shown_id(campaign_id)}", reason="CAMPAIGN_NOT_FOUND")


def parse_campaign_id(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise campaign_not_found(raw) from None


class CampaignAdmin:
    def __init__(self, db: Database, generator: CodeGenerator):
        self._db = db
        self._generator = generator

    async def create(self, tenant_id: UUID, command: CreateCampaign) -> Campaign:
        violations = Violations()
        check_campaign_terms(command.terms, violations)
        if command.terms.status == ENDED:
            violations.add("campaign.status", "a campaign cannot be created ended")
        idempotency.check_key(command.request_id, violations)
        violations.raise_if_any()
        campaign_id = uuid.uuid4()
        async with self._db.tenant_transaction(tenant_id) as tx:
            if command.request_id:
                original = await idempotency.claim(
                    tx, _CREATE_OPERATION, command.request_id, idempotency.fingerprint(command), campaign_id
                )
                if original is not None:
                    return await _require(tx.get_campaign(original), original)
            campaign = await tx.insert_campaign(campaign_id, command.terms)
            await tx.record_event(resource_events.campaign_event(events.CAMPAIGN_CREATED, campaign))
        return campaign

    async def get(self, tenant_id: UUID, campaign_id: str) -> Campaign:
        ident = parse_campaign_id(campaign_id)
        async with self._db.tenant_transaction(tenant_id) as tx:
            return await _require(tx.get_campaign(ident), campaign_id)

    async def list(self, tenant_id: UUID, page_size: int, page_token: str) -> Page[Campaign]:
        request = page_request(page_size, page_token)
        async with self._db.tenant_transaction(tenant_id) as tx:
            rows = await tx.list_campaigns(request.after, request.size + 1)
        return make_page(rows, request, lambda c: (c.create_time, c.id))

    async def update(self, tenant_id: UUID, command: UpdateCampaign) -> Campaign:
        unknown = set(command.changes) - UPDATABLE_FIELDS
        if unknown:
            raise InvalidArgument.single("update_mask", f"cannot update {', '.join(sorted(unknown))}")
        if not command.changes:
            raise InvalidArgument.single("update_mask", "names no field to change")
        ident = parse_campaign_id(command.campaign_id)
        async with self._db.tenant_transaction(tenant_id) as tx:
            # Locked: redeems counting on the campaign wait, so the limit check below is exact.
            current = await _require(tx.campaign_for_update(ident), command.campaign_id)
            terms = apply_changes(current.terms, command.changes)
            violations = Violations()
            check_campaign_terms(terms, violations)
            check_change(current, terms, violations)
            violations.raise_if_any()
            await _require(tx.update_campaign(ident, terms), command.campaign_id)
            if (terms.valid_from, terms.valid_until) != (current.terms.valid_from, current.terms.valid_until):
                await tx.update_campaign_code_windows(ident, terms.valid_from, terms.valid_until)
            updated = await _require(tx.get_campaign(ident), command.campaign_id)
            await tx.record_event(resource_events.campaign_event(events.CAMPAIGN_UPDATED, updated))
        return updated

    async def generate_codes(self, tenant_id: UUID, command: GenerateCodes) -> Operation:
        """Starts the operation (in this server's background) and returns it as it starts."""
        pattern = campaign_codes.normalized(command.pattern)
        command = dataclasses.replace(command, pattern=pattern)
        violations = Violations()
        campaign_codes.check_generation(pattern, command.count, violations)
        idempotency.check_key(command.request_id, violations)
        violations.raise_if_any()
        ident = parse_campaign_id(command.campaign_id)
        operation_id = uuid.uuid4()
        async with self._db.tenant_transaction(tenant_id) as tx:
            if command.request_id:
                original = await idempotency.claim(
                    tx, _GENERATE_OPERATION, command.request_id, idempotency.fingerprint(command), operation_id
                )
                if original is not None:
                    operation = await tx.get_operation(original)
                    assert operation is not None, "an idempotency key commits only with its operation"
                    return operation
            campaign = await _require(tx.get_campaign(ident), command.campaign_id)
            if campaign.terms.status == ENDED:
                raise InvalidArgument.single("campaign_id", "the campaign has ended: it takes no new codes")
            # Refused up front when the codes cannot fit; each chunk checks again (other creations run meanwhile).
            await check_voucher_quota(tx, command.count)
            request = {
                "count": command.count,
                "pattern": pattern.pattern,
                "charset": pattern.charset,
                "prefix": pattern.prefix,
                "suffix": pattern.suffix,
            }
            operation = await tx.insert_operation(
                operation_id, GENERATE_CAMPAIGN_CODES, ident, request, command.count, self._generator.lease_seconds
            )
        self._generator.start(tenant_id, operation)
        return operation


async def _require(lookup: Any, campaign_id: object) -> Campaign:
    campaign = await lookup
    if campaign is None:
        raise campaign_not_found(campaign_id)
    return campaign
