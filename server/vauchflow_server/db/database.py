"""The API server's statements: the only module of the server that talks to PostgreSQL.

Every tenant transaction sets app.tenant_id with set_config(..., true), so the setting dies with the transaction
and never leaks to the next user of a pooled connection. Driver exceptions become domain errors at
vauchflow_core.db.connection.translated_errors; nothing above this module sees asyncpg.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from vauchflow_core import errors
from vauchflow_core.db import decoders
from vauchflow_core.db.connection import (
    CheckViolation,
    Connection,
    NotificationListener,
    UniqueViolation,
    create_pool,
    transaction,
    translated_errors,
)
from vauchflow_core.db.queries import QUERIES
from vauchflow_server.db.campaign_records import CampaignStatements
from vauchflow_server.db.read_replica import ReadReplica, ReplicaSettings
from vauchflow_server.db.status_records import StatusTransaction
from vauchflow_server.metrics import ServerMetrics

__all__ = [
    "API_KEY_REVOKED_CHANNEL",
    "TENANT_CHANGED_CHANNEL",
    "BatchNotCounted",
    "CheckViolation",
    "Database",
    "MaintenanceTransaction",
    "NotificationListener",
    "OperatorTransaction",
    "RedemptionExportFilters",
    "TenantTransaction",
    "UniqueViolation",
]
from vauchflow_core.event_cursor import EventPosition
from vauchflow_core.events import Event, StoredEvent
from vauchflow_core.plans import LimitOverrides
from vauchflow_core.secret_box import Sealed
from vauchflow_core.tenancy import ApiKey, ApiKeyAuditEvent, ApiKeyIdentity, Tenant
from vauchflow_core.webhook_deliveries import Delivery, DeliveryAttempt
from vauchflow_core.webhook_endpoints import EndpointSecrets, EndpointSettings, WebhookEndpoint
from vauchflow_server.list_filters import RedemptionFilter, VoucherFilter
from vauchflow_server.redemption_rules import Order
from vauchflow_server.redemptions import Redemption
from vauchflow_server.vouchers import CampaignState, Voucher, VoucherTerms

log = logging.getLogger(__name__)

API_KEY_REVOKED_CHANNEL = "vauchflow_api_key_revoked"
# A tenant's plan or limits changed (payload: the tenant id); cached API keys carry them.
TENANT_CHANGED_CHANNEL = "vauchflow_tenant_changed"


@dataclass(frozen=True)
class DeliveryUsage:
    """Webhook deliveries created in a window; `judged` are those delivered or at least an hour old."""

    total: int
    delivered: int
    delivered_within_hour: int
    pending: int
    failed: int
    judged: int

    @property
    def share_delivered_within_hour(self) -> float | None:
        return self.delivered_within_hour / self.judged if self.judged else None


class Database:
    def __init__(self, pool: asyncpg.Pool, dsn: str = ""):
        self._pool = pool
        self._dsn = dsn
        self._replica: ReadReplica | None = None

    async def add_read_replica(
        self, dsn: str, settings: ReplicaSettings, metrics: ServerMetrics, *, max_size: int
    ) -> None:
        """Lists read from the streaming replica at dsn from now on (see read_replica.py), as the same role."""
        replica = ReadReplica(await create_pool(dsn, min_size=1, max_size=max_size), self._pool, settings, metrics)
        await replica.start()
        self._replica = replica

    async def commit_position(self) -> int | None:
        """After a write committed: a position at or past its commit (commit_positions.py); None without a read
        replica, where positions buy nothing (every read is on the primary)."""
        if self._replica is None:
            return None
        with translated_errors():
            return int(await self._pool.fetchval(QUERIES["commit_position"]))

    def listener(
        self, channel: str, on_notify: Callable[[str], None], on_connect: Callable[[], None]
    ) -> NotificationListener:
        return NotificationListener(self._dsn, {channel: on_notify}, on_connect)

    @classmethod
    async def connect(cls, dsn: str, *, min_size: int, max_size: int) -> Database:
        return cls(await create_pool(dsn, min_size=min_size, max_size=max_size), dsn)

    async def close(self) -> None:
        if self._replica is not None:
            await self._replica.close()
        await self._pool.close()

    async def ping(self) -> bool:
        try:
            with translated_errors():
                async with self._pool.acquire(timeout=2) as conn:
                    await conn.fetchval("SELECT 1", timeout=2)
            return True
        except (errors.Unavailable, TimeoutError, asyncpg.PostgresError):
            return False

    async def role_can_bypass_rls(self) -> bool:
        """True if the server's own role would see through row-level security (it must not)."""
        with translated_errors():
            return bool(await self._pool.fetchval(QUERIES["role_can_bypass_rls"]))

    async def authenticate_api_key(self, secret_hash: bytes) -> ApiKeyIdentity | None:
        with translated_errors():
            row = await self._pool.fetchrow(QUERIES["authenticate_api_key"], secret_hash)
        return decoders.api_key_identity(row) if row else None

    @contextlib.asynccontextmanager
    async def tenant_transaction(self, tenant_id: UUID) -> AsyncIterator[TenantTransaction]:
        """A transaction that sees only tenant_id's rows."""
        with translated_errors():
            begin = QUERIES["begin_as_tenant"].format(tenant_id=UUID(str(tenant_id)))
            async with self._pool.acquire() as conn, transaction(conn, begin):
                yield TenantTransaction(conn, tenant_id)

    @contextlib.asynccontextmanager
    async def tenant_read(self, tenant_id: UUID) -> AsyncIterator[TenantTransaction]:
        """A read-only transaction for tenant_id's lists: on the read replica when one is configured and may serve
        this request (read_replica.py), else on the primary. Only list methods belong here: nothing that decides
        (redeem, validate, limits, idempotency, authentication, key lookups) ever reads a replica."""
        with translated_errors():
            begin = QUERIES["begin_as_tenant"].format(tenant_id=UUID(str(tenant_id)))
            async with self._read_connection() as conn, transaction(conn, begin):
                yield TenantTransaction(conn, tenant_id)

    @contextlib.asynccontextmanager
    async def operator_read(self) -> AsyncIterator[OperatorTransaction]:
        """The operator's lists (tenants), routed as tenant_read."""
        with translated_errors():
            async with self._read_connection() as conn, transaction(conn, QUERIES["begin_as_operator"]):
                yield OperatorTransaction(conn)

    def _read_connection(self) -> contextlib.AbstractAsyncContextManager[Connection]:
        if self._replica is None:
            return self._pool.acquire()
        return self._replica.connection()

    @contextlib.asynccontextmanager
    async def operator_transaction(self) -> AsyncIterator[OperatorTransaction]:
        """A transaction for the platform operator's tenancy calls: sees every tenant row, no tenant data."""
        with translated_errors():
            async with self._pool.acquire() as conn, transaction(conn, QUERIES["begin_as_operator"]):
                yield OperatorTransaction(conn)

    @contextlib.asynccontextmanager
    async def status_transaction(self) -> AsyncIterator[StatusTransaction]:
        """A transaction over the status page's platform tables (no tenant data; no tenant or operator setting)."""
        with translated_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                yield StatusTransaction(conn)

    @contextlib.asynccontextmanager
    async def maintenance_transaction(self) -> AsyncIterator[MaintenanceTransaction]:
        """A transaction across every tenant, for maintenance commands run as the owner (which bypasses RLS)."""
        with translated_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                yield MaintenanceTransaction(conn)


@dataclass(frozen=True)
class RedemptionExportFilters:
    """Which redemptions an export holds (the start is the first page's keyset position); None: no condition."""

    end_time: datetime
    status: str | None = None
    voucher_id: UUID | None = None
    customer_id: str | None = None


class BatchNotCounted(Exception):
    """A redemption batch's conditional UPDATE refused a voucher: the batch must roll back (and run alone)."""


class _Transaction:
    def __init__(self, conn: Connection):
        self._conn = conn

    async def _row(self, name: str, *args: Any) -> asyncpg.Record | None:
        return await self._conn.fetchrow(QUERIES[name], *args)

    async def _one(self, name: str, *args: Any) -> asyncpg.Record:
        """For statements that always return a row (INSERT ... RETURNING, aggregates)."""
        row = await self._conn.fetchrow(QUERIES[name], *args)
        assert row is not None, f"{name} returns a row"
        return row

    async def _rows(self, name: str, *args: Any) -> list[asyncpg.Record]:
        return await self._conn.fetch(QUERIES[name], *args)


class OperatorTransaction(_Transaction):
    async def insert_tenant(
        self, tenant_id: UUID, name: str, plan: str, request_id: str | None, request_hash: bytes | None
    ) -> Tenant | None:
        """None when request_id was used before (the caller replays)."""
        row = await self._row("insert_tenant", tenant_id, name, plan, request_id, request_hash)
        return _tenant(row) if row else None

    async def tenant_by_request_id(self, request_id: str) -> tuple[Tenant, bytes] | None:
        row = await self._row("get_tenant_by_request_id", request_id)
        return (_tenant(row), bytes(row["creation_request_hash"])) if row else None

    async def get_tenant(self, tenant_id: UUID) -> Tenant | None:
        row = await self._row("get_tenant", tenant_id)
        return _tenant(row) if row else None

    async def list_tenants(self, after: tuple[datetime, UUID] | None, limit: int) -> list[Tenant]:
        after_time, after_id = after or (None, None)
        return [_tenant(r) for r in await self._rows("list_tenants", after_time, after_id, limit)]

    async def update_tenant(self, tenant_id: UUID, name: str, plan: str, limits: LimitOverrides) -> Tenant | None:
        """Also tells every server (at commit) to drop the tenant's cached API keys."""
        row = await self._row(
            "update_tenant",
            tenant_id,
            name,
            plan,
            limits.requests_per_second,
            limits.burst,
            limits.max_vouchers,
            limits.max_webhook_endpoints,
        )
        if row is None:
            return None
        await self._conn.execute(QUERIES["notify_tenant_changed"], str(tenant_id))
        return _tenant(row)

    async def enter_tenant(self, tenant_id: UUID) -> TenantTransaction:
        """Continues this transaction as tenant_id (to create a new tenant's first key with it)."""
        await self._conn.execute(QUERIES["set_tenant"], str(tenant_id))
        return TenantTransaction(self._conn, tenant_id)


class TenantTransaction(CampaignStatements, _Transaction):
    def __init__(self, conn: Connection, tenant_id: UUID):
        super().__init__(conn)
        self.tenant_id = tenant_id

    # API keys

    async def insert_api_key(
        self,
        key_id: UUID,
        name: str,
        permissions: tuple[str, ...],
        secret_hash: bytes,
        secret_prefix: str,
        created_by: UUID | None,
    ) -> ApiKey:
        """Also records the creation in the tenant's audit log (created_by None: the platform operator)."""
        row = await self._one(
            "insert_api_key", self.tenant_id, key_id, name, list(permissions), secret_hash, secret_prefix, created_by
        )
        await self._conn.execute(
            QUERIES["insert_api_key_audit_event"], self.tenant_id, "CREATED", key_id, name, list(permissions),
            created_by,
        )  # fmt: skip
        return _api_key(row)

    async def api_key_for_update(self, key_id: UUID) -> ApiKey | None:
        row = await self._row("get_api_key_for_update", self.tenant_id, key_id)
        return _api_key(row) if row else None

    async def count_active_api_keys(self) -> int:
        return int(await self._conn.fetchval(QUERIES["count_active_api_keys"], self.tenant_id))

    async def list_api_key_audit_events(self, before_id: int | None, limit: int) -> list[ApiKeyAuditEvent]:
        rows = await self._rows("list_api_key_audit_events", self.tenant_id, before_id, limit)
        return [
            ApiKeyAuditEvent(
                r["id"],
                r["action"],
                r["key_id"],
                r["key_name"],
                tuple(r["permissions"]),
                r["actor_key_id"],
                r["create_time"],
            )
            for r in rows
        ]

    async def get_api_key(self, key_id: UUID) -> ApiKey | None:
        row = await self._row("get_api_key", self.tenant_id, key_id)
        return _api_key(row) if row else None

    async def get_own_tenant(self) -> Tenant | None:
        """The transaction's tenant (row-level security shows a tenant its own row)."""
        row = await self._row("get_tenant", self.tenant_id)
        return _tenant(row) if row else None

    async def first_api_key(self) -> ApiKey | None:
        row = await self._row("first_api_key", self.tenant_id)
        return _api_key(row) if row else None

    async def list_api_keys(self, after: tuple[datetime, UUID] | None, limit: int) -> list[ApiKey]:
        after_time, after_id = after or (None, None)
        return [_api_key(r) for r in await self._rows("list_api_keys", self.tenant_id, after_time, after_id, limit)]

    async def revoke_api_key(self, key_id: UUID, revoked_by: UUID | None) -> ApiKey | None:
        """Revokes and records who did it (None: the platform operator); call it with the key locked and not yet
        revoked (api_key_for_update), so the audit log gets one entry per revocation."""
        row = await self._row("revoke_api_key", self.tenant_id, key_id)
        if row is None:
            return None
        await self._conn.execute(QUERIES["notify_api_key_revoked"], str(key_id))
        api_key = _api_key(row)
        await self._conn.execute(
            QUERIES["insert_api_key_audit_event"], self.tenant_id, "REVOKED", key_id, api_key.name,
            list(api_key.permissions), revoked_by,
        )  # fmt: skip
        return api_key

    # Idempotency keys

    async def claim_idempotency_key(self, operation: str, key: str, request_hash: bytes, resource_id: UUID) -> bool:
        """True when this transaction now owns the key; False when an earlier (committed) request holds it."""
        row = await self._row(
            "claim_idempotency_key", self.tenant_id, operation, key, request_hash, str(resource_id).encode()
        )
        return row is not None

    async def idempotency_record(self, operation: str, key: str) -> tuple[bytes, UUID] | None:
        row = await self._row("get_idempotency_key", self.tenant_id, operation, key)
        if row is None:
            return None
        return bytes(row["request_hash"]), UUID(bytes(row["response"]).decode())

    # Vouchers

    async def insert_voucher(self, voucher_id: UUID, code: str, terms: VoucherTerms) -> Voucher:
        try:
            row = await self._one("insert_voucher", self.tenant_id, voucher_id, code, *_terms_args(terms))
        except asyncpg.UniqueViolationError:
            raise errors.Conflict(f"voucher code {code} is taken", reason="VOUCHER_CODE_TAKEN") from None
        return _voucher(row)

    async def voucher_by_code(self, code: str) -> Voucher | None:
        row = await self._row("get_voucher_by_code", self.tenant_id, code)
        return _voucher(row) if row else None

    async def voucher_for_update(self, code: str) -> Voucher | None:
        """Reads and locks the voucher row until the transaction ends, so concurrent updates don't lose changes."""
        row = await self._row("get_voucher_for_update", self.tenant_id, code)
        return _voucher(row) if row else None

    async def voucher_by_id(self, voucher_id: UUID) -> Voucher | None:
        row = await self._row("get_voucher_by_id", self.tenant_id, voucher_id)
        return _voucher(row) if row else None

    async def list_vouchers(
        self, after: tuple[datetime, UUID] | None, limit: int, filters: VoucherFilter | None = None
    ) -> list[Voucher]:
        filters = filters or VoucherFilter()
        after_time, after_id = after or (None, None)
        low, high = filters.code_range or (None, None)
        pair = list(filters.metadata) if filters.metadata else []
        query = "list_vouchers_by_metadata" if filters.metadata else "list_vouchers"
        query += "_newest_first" if filters.newest_first else ""
        rows = await self._rows(
            query, self.tenant_id, filters.status, low, high, *pair, after_time, after_id, limit, filters.campaign_id
        )
        return [_voucher(r) for r in rows]

    async def update_voucher_terms(self, code: str, terms: VoucherTerms) -> Voucher | None:
        row = await self._row("update_voucher_terms", self.tenant_id, code, *_terms_args(terms))
        return _voucher(row) if row else None

    async def give_back_redemption(self, voucher_id: UUID) -> Voucher | None:
        row = await self._row("give_back_redemption", self.tenant_id, voucher_id)
        return _voucher(row) if row else None

    async def take_customer_redemption(self, voucher_id: UUID, customer_id: str, limit: int) -> bool:
        row = await self._row("take_customer_redemption", self.tenant_id, voucher_id, customer_id, limit)
        return row is not None

    async def give_back_customer_redemption(self, voucher_id: UUID, customer_id: str) -> None:
        await self._conn.execute(QUERIES["give_back_customer_redemption"], self.tenant_id, voucher_id, customer_id)

    async def customer_redemption_count(self, voucher_id: UUID, customer_id: str) -> int:
        value = await self._conn.fetchval(QUERIES["customer_redemption_count"], self.tenant_id, voucher_id, customer_id)
        return value or 0

    # Redemptions

    async def redeem(
        self, redemption: Redemption, now: datetime, succeeded: Event, exhausted: Event
    ) -> tuple[Voucher, Redemption] | None:
        """Counts the redemption (see the `redeem` query) and stores it with its events; None when the voucher's
        conditional UPDATE refused (then nothing was written)."""
        order = redemption.order
        row = await self._row(
            "redeem",
            self.tenant_id,
            redemption.voucher_id,
            now,
            order.amount,
            order.currency,
            redemption.id,
            redemption.customer_id,
            order.id,
            redemption.discount_amount,
            redemption.metadata,
            succeeded.id,
            succeeded.type,
            succeeded.payload,
            exhausted.id,
            exhausted.type,
            exhausted.payload,
        )
        if row is None:
            return None
        return _voucher(row), dataclasses.replace(redemption, create_time=row["redemption_create_time"])

    async def claim_idempotency_keys(self, operation: str, claims: Sequence[tuple[str, bytes, UUID]]) -> set[str]:
        """Claims (key, request hash, resource id) for a redemption batch; returns the keys this transaction owns."""
        rows = await self._rows(
            "claim_idempotency_keys",
            self.tenant_id,
            operation,
            [key for key, _, _ in claims],
            [request_hash for _, request_hash, _ in claims],
            [str(resource_id).encode() for _, _, resource_id in claims],
        )
        return {row["key"] for row in rows}

    async def vouchers_by_codes(self, codes: Sequence[str]) -> dict[str, Voucher]:
        return {row["code"]: _voucher(row) for row in await self._rows("vouchers_by_codes", self.tenant_id, codes)}

    async def vouchers_for_batch(self, codes: Sequence[str]) -> dict[str, Voucher]:
        """The vouchers with these codes, locked until the transaction ends."""
        return {row["code"]: _voucher(row) for row in await self._rows("vouchers_for_batch", self.tenant_id, codes)}

    async def redeem_batch(
        self,
        units: Mapping[UUID, int],
        redemptions: Sequence[Redemption],
        events: Sequence[Event],
        operation: str,
        released_keys: Sequence[str],
    ) -> datetime:
        """Writes a batch decided on locked vouchers (see the `redeem_batch` query); returns its time, which is
        every redemption's create_time and every counted voucher's update_time. Raises BatchNotCounted (and the
        transaction must roll back) when a voucher's conditional UPDATE refused."""
        row = await self._row(
            "redeem_batch",
            self.tenant_id,
            list(units),
            list(units.values()),
            [r.id for r in redemptions],
            [r.voucher_id for r in redemptions],
            [r.voucher_code for r in redemptions],
            [r.customer_id for r in redemptions],
            [r.order.id for r in redemptions],
            [r.order.amount for r in redemptions],
            [r.order.currency for r in redemptions],
            [r.discount_amount for r in redemptions],
            [r.metadata for r in redemptions],
            [e.id for e in events],
            [e.type for e in events],
            [e.payload for e in events],
            operation,
            list(released_keys),
        )
        assert row is not None
        if row["vouchers_counted"] != len(units):
            raise BatchNotCounted(f"{len(units) - row['vouchers_counted']} voucher(s) refused the batch's count")
        return row["redeemed_at"]

    async def get_redemption(self, redemption_id: UUID) -> Redemption | None:
        row = await self._row("get_redemption", self.tenant_id, redemption_id)
        return _redemption(row) if row else None

    async def list_redemptions(
        self, voucher_id: UUID | None, filters: RedemptionFilter, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[Redemption]:
        after_time, after_id = after or (None, None)
        query = "list_redemptions_newest_first" if filters.newest_first else "list_redemptions"
        rows = await self._rows(
            query, self.tenant_id, voucher_id, filters.customer_id, filters.status, filters.start_time,
            filters.end_time, after_time, after_id, limit, filters.campaign_id,
        )  # fmt: skip
        return [_redemption(r) for r in rows]

    async def export_redemptions_page(
        self, filters: RedemptionExportFilters, after: tuple[datetime, UUID], limit: int
    ) -> list[tuple[Any, ...]]:
        """The page of an export's rows after `after` (create_time, id), in the columns of data_exchange.sql's
        export_redemptions_page."""
        args = (self.tenant_id, *after, filters.end_time, filters.status, filters.customer_id, limit)
        if filters.voucher_id is None:
            rows = await self._rows("export_redemptions_page", *args)
        else:
            rows = await self._rows("export_voucher_redemptions_page", *args, filters.voucher_id)
        return [tuple(r) for r in rows]

    async def export_campaign_codes_page(
        self, campaign_id: UUID, after: tuple[datetime, UUID], limit: int
    ) -> list[tuple[Any, ...]]:
        """The page of a campaign's codes after `after` (create_time, id), in the columns of data_exchange.sql's
        export_campaign_codes_page."""
        rows = await self._rows("export_campaign_codes_page", self.tenant_id, campaign_id, *after, limit)
        return [tuple(r) for r in rows]

    async def campaign_exists(self, campaign_id: UUID) -> bool:
        return bool(await self._conn.fetchval(QUERIES["campaign_exists"], self.tenant_id, campaign_id))

    async def lock_campaign_for_import(self, campaign_id: UUID) -> bool:
        """Locks the campaign's terms until the transaction ends; False when there is no such campaign."""
        return await self._row("campaign_for_import", self.tenant_id, campaign_id) is not None

    async def stage_import_codes(self, rows: AsyncIterable[tuple[int, str]]) -> None:
        """COPYs (row number, code) pairs into this transaction's staging table as they come."""
        await self._conn.execute(QUERIES["create_code_import_staging"])
        await self._conn.copy_records_to_table("code_import_rows", records=rows, columns=("row_number", "code"))
        await self._conn.execute(QUERIES["analyze_code_import_staging"])

    async def refused_staged_codes(self, limit: int) -> tuple[list[tuple[int, str]], int]:
        """The first `limit` staged rows the database refuses, as (row number, reason), and how many it refuses."""
        rows = await self._rows("refused_staged_codes", self.tenant_id, limit)
        return [(r["row_number"], r["reason"]) for r in rows], (rows[0]["total"] if rows else 0)

    async def insert_staged_codes(self, campaign_id: UUID) -> int:
        """Inserts the staged codes the tenant does not have yet into the campaign; returns how many."""
        status = await self._conn.execute(QUERIES["insert_imported_codes"], self.tenant_id, campaign_id)
        return int(status.split()[-1])

    async def usage_by_hour(self, since: datetime) -> dict[datetime, tuple[int, int]]:
        """(redemptions, rollbacks) per hour since `since` (an hour boundary); hours without either are absent."""
        rows = await self._rows("usage_by_hour", self.tenant_id, since)
        return {row["hour"]: (row["redemptions"], row["rollbacks"]) for row in rows}

    async def webhook_delivery_usage(self, since: datetime, now: datetime) -> DeliveryUsage:
        row = await self._one("usage_webhook_deliveries", self.tenant_id, since, now)
        return DeliveryUsage(**dict(row))

    async def roll_back_redemption(self, redemption_id: UUID, reason: str) -> Redemption | None:
        row = await self._row("roll_back_redemption", self.tenant_id, redemption_id, reason)
        return _redemption(row) if row else None

    # Outbox

    async def record_event(self, event: Event) -> StoredEvent:
        return decoders.stored_event(
            await self._one("insert_event", self.tenant_id, event.id, event.type, event.payload)
        )

    async def list_events(
        self,
        types: tuple[str, ...] | None,
        start_time: datetime | None,
        end_time: datetime | None,
        after: EventPosition | None,
        limit: int,
    ) -> list[StoredEvent]:
        after_txid, after_id = (after.transaction_id, after.id) if after else (None, None)
        rows = await self._rows(
            "list_events",
            self.tenant_id,
            list(types) if types is not None else None,
            start_time,
            end_time,
            after_txid,
            after_id,
            limit,
        )
        return [decoders.stored_event(r) for r in rows]

    async def get_event(self, event_id: UUID) -> StoredEvent | None:
        row = await self._row("get_event", self.tenant_id, event_id)
        return decoders.stored_event(row) if row else None

    # Plans and quotas

    async def tenant_limits(self) -> tuple[str, LimitOverrides]:
        """The tenant's plan and its overrides of the plan's limits."""
        row = await self._row("tenant_limits", self.tenant_id)
        assert row is not None, "an authenticated tenant exists"
        return row["plan"], decoders.limits(row)

    async def lock_quota(self, resource: str) -> None:
        """Until this transaction ends, other creators of `resource` in this tenant wait here."""
        await self._conn.execute(QUERIES["lock_quota"], str(self.tenant_id), resource)

    async def count_vouchers(self) -> int:
        return await self._conn.fetchval(QUERIES["count_vouchers"], self.tenant_id)

    async def count_webhook_endpoints(self) -> int:
        return await self._conn.fetchval(QUERIES["count_webhook_endpoints"], self.tenant_id)

    # Webhook endpoints

    async def insert_webhook_endpoint(
        self, endpoint_id: UUID, settings: EndpointSettings, secret: Sealed
    ) -> WebhookEndpoint:
        row = await self._one(
            "insert_webhook_endpoint",
            self.tenant_id,
            endpoint_id,
            settings.url,
            settings.description,
            list(settings.event_types),
            settings.enabled,
            "" if settings.enabled else "MANUAL",
            secret.ciphertext,
            secret.nonce,
            secret.key_version,
        )
        return _webhook_endpoint(row)

    async def webhook_endpoint(self, endpoint_id: UUID) -> WebhookEndpoint | None:
        row = await self._row("get_webhook_endpoint", self.tenant_id, endpoint_id)
        return _webhook_endpoint(row) if row else None

    async def webhook_endpoint_for_update(self, endpoint_id: UUID) -> tuple[WebhookEndpoint, EndpointSecrets] | None:
        """Reads and locks the endpoint until the transaction ends."""
        row = await self._row("get_webhook_endpoint_for_update", self.tenant_id, endpoint_id)
        return (_webhook_endpoint(row), decoders.endpoint_secrets(row)) if row else None

    async def list_webhook_endpoints(self, after: tuple[datetime, UUID] | None, limit: int) -> list[WebhookEndpoint]:
        after_time, after_id = after or (None, None)
        rows = await self._rows("list_webhook_endpoints", self.tenant_id, after_time, after_id, limit)
        return [_webhook_endpoint(r) for r in rows]

    async def enabled_webhook_endpoints(self) -> list[WebhookEndpoint]:
        return [_webhook_endpoint(r) for r in await self._rows("list_enabled_webhook_endpoints", self.tenant_id)]

    async def update_webhook_endpoint(
        self, endpoint_id: UUID, settings: EndpointSettings, disabled_reason: str
    ) -> WebhookEndpoint | None:
        row = await self._row(
            "update_webhook_endpoint",
            self.tenant_id,
            endpoint_id,
            settings.url,
            settings.description,
            list(settings.event_types),
            settings.enabled,
            disabled_reason,
        )
        return _webhook_endpoint(row) if row else None

    async def delete_webhook_endpoint(self, endpoint_id: UUID) -> bool:
        return await self._row("delete_webhook_endpoint", self.tenant_id, endpoint_id) is not None

    async def rotate_webhook_secret(
        self, endpoint_id: UUID, current: Sealed, previous: Sealed, previous_lifetime_seconds: float
    ) -> tuple[WebhookEndpoint, EndpointSecrets]:
        row = await self._row(
            "rotate_webhook_secret",
            self.tenant_id,
            endpoint_id,
            current.ciphertext,
            current.nonce,
            current.key_version,
            previous.ciphertext,
            previous.nonce,
            previous.key_version,
            float(previous_lifetime_seconds),
        )
        assert row is not None, "called with the endpoint row locked"
        return _webhook_endpoint(row), decoders.endpoint_secrets(row)

    # Webhook deliveries

    async def insert_webhook_delivery(self, delivery_id: UUID, endpoint_id: UUID, event: StoredEvent) -> Delivery:
        row = await self._one("insert_webhook_delivery", self.tenant_id, delivery_id, endpoint_id, event.id, event.type)
        return _delivery(row)

    async def requeue_webhook_delivery(self, delivery_id: UUID, endpoint_id: UUID, event: StoredEvent) -> Delivery:
        """A PENDING delivery of event to the endpoint, due now unless one was already pending."""
        row = await self._row(
            "requeue_webhook_delivery", self.tenant_id, delivery_id, endpoint_id, event.id, event.type
        )
        if row is None:  # already PENDING: left as it is
            row = await self._one("get_webhook_delivery_of_event", self.tenant_id, endpoint_id, event.id)
        return _delivery(row)

    async def endpoints_with_delivery_of(self, event_id: UUID) -> list[UUID]:
        return [
            r["endpoint_id"] for r in await self._rows("endpoints_with_delivery_of_event", self.tenant_id, event_id)
        ]

    async def recover_webhook_deliveries(
        self, endpoint_id: UUID, start_time: datetime | None, end_time: datetime | None
    ) -> int:
        status = await self._conn.execute(
            QUERIES["recover_webhook_deliveries"], self.tenant_id, endpoint_id, start_time, end_time
        )
        return int(status.rsplit(" ", 1)[1])

    async def list_webhook_deliveries(
        self, endpoint_id: UUID, before: tuple[datetime, UUID] | None, limit: int, attempts_each: int
    ) -> list[Delivery]:
        """Newest first, each with its newest `attempts_each` attempts (newest first)."""
        before_time, before_id = before or (None, None)
        rows = await self._rows("list_webhook_deliveries", self.tenant_id, endpoint_id, before_time, before_id, limit)
        attempts: dict[UUID, list[DeliveryAttempt]] = {}
        if rows:
            for row in await self._rows(
                "list_webhook_delivery_attempts", self.tenant_id, [r["id"] for r in rows], attempts_each
            ):
                attempts.setdefault(row["delivery_id"], []).append(_delivery_attempt(row))
        return [_delivery(r, tuple(attempts.get(r["id"], ()))) for r in rows]

    async def notify_deliveries(self) -> None:
        """Wakes the delivery service when this transaction commits."""
        await self._conn.execute(QUERIES["notify_deliveries"])


@dataclass(frozen=True)
class StoredSecrets:
    """One endpoint's sealed secrets, as the re-encryption command sees them across tenants."""

    tenant_id: UUID
    endpoint_id: UUID
    secrets: EndpointSecrets
    previous_expired: bool


class MaintenanceTransaction(_Transaction):
    async def can_see_every_tenant(self) -> bool:
        return bool(await self._conn.fetchval(QUERIES["role_can_bypass_rls"]))

    async def endpoint_secrets_to_reencrypt(
        self, key_version: int, after: tuple[UUID, UUID] | None, limit: int
    ) -> list[StoredSecrets]:
        """Locked until the transaction ends; in (tenant_id, id) order after `after`."""
        after_tenant, after_id = after or (None, None)
        rows = await self._rows("endpoint_secrets_to_reencrypt", key_version, after_tenant, after_id, limit)
        return [
            StoredSecrets(r["tenant_id"], r["id"], decoders.endpoint_secrets(r), bool(r["previous_expired"]))
            for r in rows
        ]

    async def store_endpoint_secrets(self, tenant_id: UUID, endpoint_id: UUID, secrets: EndpointSecrets) -> None:
        previous = secrets.previous
        await self._conn.execute(
            QUERIES["store_endpoint_secrets"],
            tenant_id,
            endpoint_id,
            secrets.current.ciphertext,
            secrets.current.nonce,
            secrets.current.key_version,
            previous.ciphertext if previous else None,
            previous.nonce if previous else None,
            previous.key_version if previous else None,
            secrets.previous_expire_time if previous else None,
        )


def _terms_args(terms: VoucherTerms) -> tuple[Any, ...]:
    return (
        terms.percent_off,
        terms.amount_off,
        terms.currency,
        terms.max_redemptions,
        terms.per_customer_limit,
        terms.valid_from,
        terms.valid_until,
        terms.min_order_amount,
        terms.metadata,
        terms.status,
        terms.flash_sale,
    )


def _tenant(row: asyncpg.Record) -> Tenant:
    return Tenant(row["id"], row["name"], row["plan"], row["create_time"], row["update_time"], decoders.limits(row))


def _api_key(row: asyncpg.Record) -> ApiKey:
    return ApiKey(
        id=row["id"],
        tenant_id=row["tenant_id"],
        name=row["name"],
        permissions=tuple(row["permissions"]),
        secret_prefix=row["secret_prefix"],
        create_time=row["create_time"],
        revoke_time=row["revoke_time"],
        created_by_key_id=row["created_by_key_id"],
    )


def _voucher(row: asyncpg.Record) -> Voucher:
    terms = VoucherTerms(
        percent_off=row["percent_off"],
        amount_off=row["amount_off"],
        currency=row["currency"],
        max_redemptions=row["max_redemptions"],
        per_customer_limit=row["per_customer_limit"],
        valid_from=row["valid_from"],
        valid_until=row["valid_until"],
        min_order_amount=row["min_order_amount"],
        metadata=row["metadata"],
        status=row["status"],
        flash_sale=row["flash_sale"],
    )
    campaign_id = row["campaign_id"]
    campaign = None
    if campaign_id is not None and row.get("campaign_status") is not None:
        # Read with its campaign (the joined voucher reads): what a redeem checks of the campaign.
        campaign = CampaignState(
            id=campaign_id,
            status=row["campaign_status"],
            max_redemptions=row["campaign_max_redemptions"],
            per_customer_limit=row["campaign_per_customer_limit"],
            redemption_count=row["campaign_redemption_count"],
        )
    return Voucher(
        row["id"],
        row["code"],
        terms,
        row["redemption_count"],
        row["create_time"],
        row["update_time"],
        campaign_id=campaign_id,
        campaign=campaign,
    )


def _webhook_endpoint(row: asyncpg.Record) -> WebhookEndpoint:
    settings = EndpointSettings(
        url=row["url"], description=row["description"], event_types=tuple(row["event_types"]), enabled=row["enabled"]
    )
    return WebhookEndpoint(row["id"], settings, row["disabled_reason"], row["create_time"], row["update_time"])


def _delivery_attempt(row: asyncpg.Record) -> DeliveryAttempt:
    return DeliveryAttempt(
        attempt_number=row["attempt_number"],
        attempt_time=row["attempt_time"],
        http_status=row["http_status"],
        latency_ms=row["latency_ms"],
        response_body=row["response_body"],
        error=row["error"],
    )


def _delivery(row: asyncpg.Record, attempts: tuple[DeliveryAttempt, ...] = ()) -> Delivery:
    return Delivery(
        id=row["id"],
        endpoint_id=row["endpoint_id"],
        event_id=row["event_id"],
        event_type=row["event_type"],
        status=row["status"],
        attempt_count=row["attempt_count"],
        next_attempt_time=row["next_attempt_time"],
        create_time=row["create_time"],
        delivered_time=row["delivered_time"],
        attempts=attempts,
    )


def _redemption(row: asyncpg.Record) -> Redemption:
    return Redemption(
        id=row["id"],
        voucher_id=row["voucher_id"],
        voucher_code=row["voucher_code"],
        customer_id=row["customer_id"],
        order=Order(row["order_id"], row["order_amount"], row["currency"]),
        discount_amount=row["discount_amount"],
        status=row["status"],
        metadata=row["metadata"],
        create_time=row["create_time"],
        rollback_time=row["rollback_time"],
        rollback_reason=row["rollback_reason"],
    )
