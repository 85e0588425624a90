"""The statements of campaigns, their campaign-wide counters, bulk code insertion and long-running operations.

A mixin of TenantTransaction (database.py): every statement runs in the tenant's transaction, and rows come back
as the domain's records, never as asyncpg types.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from vauchflow_core.db.connection import Connection
from vauchflow_core.db.queries import QUERIES
from vauchflow_server.campaigns import Campaign, CampaignTerms
from vauchflow_server.operations import Operation


class CampaignStatements:
    _conn: Connection
    tenant_id: UUID

    # Campaigns

    async def insert_campaign(self, campaign_id: UUID, terms: CampaignTerms) -> Campaign:
        row = await self._conn.fetchrow(
            QUERIES["insert_campaign"],
            self.tenant_id,
            campaign_id,
            terms.name,
            terms.percent_off,
            terms.amount_off,
            terms.currency,
            terms.valid_from,
            terms.valid_until,
            terms.min_order_amount,
            terms.code_redemption_limit,
            terms.max_redemptions,
            terms.per_customer_limit,
            terms.metadata,
            terms.status,
        )
        assert row is not None
        return campaign_record(row)

    async def get_campaign(self, campaign_id: UUID) -> Campaign | None:
        row = await self._conn.fetchrow(QUERIES["get_campaign"], self.tenant_id, campaign_id)
        return campaign_record(row) if row else None

    async def campaign_for_update(self, campaign_id: UUID) -> Campaign | None:
        """Reads and locks the campaign row (without its counts) until the transaction ends."""
        row = await self._conn.fetchrow(QUERIES["get_campaign_for_update"], self.tenant_id, campaign_id)
        return campaign_record(row) if row else None

    async def list_campaigns(self, after: tuple[datetime, UUID] | None, limit: int) -> list[Campaign]:
        after_time, after_id = after or (None, None)
        rows = await self._conn.fetch(QUERIES["list_campaigns"], self.tenant_id, after_time, after_id, limit)
        return [campaign_record(r) for r in rows]

    async def update_campaign(self, campaign_id: UUID, terms: CampaignTerms) -> Campaign | None:
        row = await self._conn.fetchrow(
            QUERIES["update_campaign"],
            self.tenant_id,
            campaign_id,
            terms.name,
            terms.valid_from,
            terms.valid_until,
            terms.max_redemptions,
            terms.per_customer_limit,
            terms.metadata,
            terms.status,
        )
        return campaign_record(row) if row else None

    async def update_campaign_code_windows(
        self, campaign_id: UUID, valid_from: datetime | None, valid_until: datetime | None
    ) -> None:
        await self._conn.execute(
            QUERIES["update_campaign_code_windows"], self.tenant_id, campaign_id, valid_from, valid_until
        )

    # Campaign-wide counters of a redeem (and a rollback)

    async def take_campaign_redemption(self, campaign_id: UUID) -> bool:
        return await self._conn.fetchrow(QUERIES["take_campaign_redemption"], self.tenant_id, campaign_id) is not None

    async def give_back_campaign_redemption(self, campaign_id: UUID) -> None:
        await self._conn.execute(QUERIES["give_back_campaign_redemption"], self.tenant_id, campaign_id)

    async def take_campaign_customer_redemption(self, campaign_id: UUID, customer_id: str, limit: int) -> bool:
        row = await self._conn.fetchrow(
            QUERIES["take_campaign_customer_redemption"], self.tenant_id, campaign_id, customer_id, limit
        )
        return row is not None

    async def give_back_campaign_customer_redemption(self, campaign_id: UUID, customer_id: str) -> None:
        await self._conn.execute(
            QUERIES["give_back_campaign_customer_redemption"], self.tenant_id, campaign_id, customer_id
        )

    async def campaign_customer_redemption_count(self, campaign_id: UUID, customer_id: str) -> int:
        value = await self._conn.fetchval(
            QUERIES["campaign_customer_redemption_count"], self.tenant_id, campaign_id, customer_id
        )
        return int(value or 0)

    # Bulk codes

    async def insert_campaign_codes(self, campaign_id: UUID, codes: Sequence[str]) -> int:
        """Inserts the codes into the campaign (through a temporary staging table: COPY cannot write a table with
        row-level security); returns how many went in, the others being taken already in the tenant."""
        await self._conn.execute(QUERIES["create_code_staging"])
        data = ("\n".join(codes) + "\n").encode()
        await self._conn.copy_to_table("code_staging", source=io.BytesIO(data), columns=["code"], format="text")
        status = await self._conn.execute(QUERIES["insert_staged_codes"], self.tenant_id, campaign_id)
        return int(status.rsplit(" ", 1)[1])

    # Long-running operations

    async def insert_operation(
        self,
        operation_id: UUID,
        kind: str,
        campaign_id: UUID,
        request: dict[str, Any],
        requested_count: int,
        lease_seconds: float,
    ) -> Operation:
        row = await self._conn.fetchrow(
            QUERIES["insert_operation"],
            self.tenant_id,
            operation_id,
            kind,
            campaign_id,
            request,
            requested_count,
            float(lease_seconds),
        )
        assert row is not None
        return operation_record(row)

    async def get_operation(self, operation_id: UUID) -> Operation | None:
        row = await self._conn.fetchrow(QUERIES["get_operation"], self.tenant_id, operation_id)
        return operation_record(row) if row else None

    async def list_operations(self, after: tuple[datetime, UUID] | None, limit: int) -> list[Operation]:
        after_time, after_id = after or (None, None)
        rows = await self._conn.fetch(QUERIES["list_operations"], self.tenant_id, after_time, after_id, limit)
        return [operation_record(r) for r in rows]

    async def fail_abandoned_operations(self) -> None:
        await self._conn.execute(QUERIES["fail_abandoned_operations"], self.tenant_id)

    async def request_operation_cancel(self, operation_id: UUID) -> Operation | None:
        """None when there is no such RUNNING operation."""
        row = await self._conn.fetchrow(QUERIES["request_operation_cancel"], self.tenant_id, operation_id)
        return operation_record(row) if row else None

    async def delete_operation(self, operation_id: UUID) -> bool:
        """False when there is no such finished operation."""
        return await self._conn.fetchrow(QUERIES["delete_operation"], self.tenant_id, operation_id) is not None

    async def record_operation_progress(
        self, operation_id: UUID, generated: int, lease_seconds: float
    ) -> Operation | None:
        """None when the operation is no longer RUNNING (marked abandoned meanwhile)."""
        row = await self._conn.fetchrow(
            QUERIES["record_operation_progress"], self.tenant_id, operation_id, generated, float(lease_seconds)
        )
        return operation_record(row) if row else None

    async def finish_operation(
        self,
        operation_id: UUID,
        state: str,
        error_code: int | None = None,
        error_reason: str | None = None,
        error_message: str | None = None,
    ) -> Operation | None:
        row = await self._conn.fetchrow(
            QUERIES["finish_operation"], self.tenant_id, operation_id, state, error_code, error_reason, error_message
        )
        return operation_record(row) if row else None


def campaign_record(row: asyncpg.Record) -> Campaign:
    terms = CampaignTerms(
        name=row["name"],
        percent_off=row["percent_off"],
        amount_off=row["amount_off"],
        currency=row["currency"],
        valid_from=row["valid_from"],
        valid_until=row["valid_until"],
        min_order_amount=row["min_order_amount"],
        code_redemption_limit=row["code_redemption_limit"],
        max_redemptions=row["max_redemptions"],
        per_customer_limit=row["per_customer_limit"],
        metadata=row["metadata"],
        status=row["status"],
    )
    return Campaign(
        id=row["id"],
        terms=terms,
        code_count=row["code_count"],
        redemption_count=row["code_redemptions"],
        create_time=row["create_time"],
        update_time=row["update_time"],
        counted_redemptions=row["redemption_count"],
    )


def operation_record(row: asyncpg.Record) -> Operation:
    return Operation(
        id=row["id"],
        kind=row["kind"],
        campaign_id=row["campaign_id"],
        state=row["state"],
        request=row["request"],
        requested_count=row["requested_count"],
        generated_count=row["generated_count"],
        cancel_requested=row["cancel_requested"],
        error_code=row["error_code"],
        error_reason=row["error_reason"],
        error_message=row["error_message"],
        create_time=row["create_time"],
        update_time=row["update_time"],
        end_time=row["end_time"],
    )
