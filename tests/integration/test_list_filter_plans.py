"""Every list filter is backed by an index: on a tenant with 60,000 vouchers and 60,000 redemptions (beside another
tenant's rows), the named list statements, run as the application role under row-level security, plan index scans
and never a sequential scan. The statements are the server's own (vauchflow_core.db.queries), with the parameters
the database layer passes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from support.services import MigratedDatabase, MigratedPostgres
from vauchflow_core.db.queries import QUERIES

ROWS = 60_000
BASE = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def migrated_db(postgres: MigratedPostgres) -> Iterator[MigratedDatabase]:
    """One database for the module: the rows take a while to insert and no test changes them."""
    database = postgres.create_database()
    try:
        yield database
    finally:
        postgres.drop_database(database.name)


@pytest.fixture(scope="module")
async def big_tenant(migrated_db: MigratedDatabase) -> AsyncIterator[uuid.UUID]:
    owner = await asyncpg.connect(migrated_db.owner_dsn)
    try:
        yield await _fill(owner)
    finally:
        await owner.close()


async def _fill(owner: asyncpg.Connection) -> uuid.UUID:
    tenant, other = uuid.uuid4(), uuid.uuid4()
    for ident in (tenant, other):
        await owner.execute("INSERT INTO tenants (id, name, plan) VALUES ($1, $2, 'SCALE')", ident, f"t-{ident}")
    for ident, rows in ((tenant, ROWS), (other, ROWS // 4)):
        # 1 in 100 disabled, codes C000001..., metadata batch = i % 1000 (and a reference of its own, as real metadata
        # mostly is), one minute apart.
        await owner.execute(
            """
            INSERT INTO vouchers (tenant_id, id, code, percent_off, metadata, status, create_time)
            SELECT $1, gen_random_uuid(), 'C' || lpad(i::text, 6, '0'), 10,
                   jsonb_build_object('batch', (i % 1000)::text, 'ref', 'r' || i),
                   CASE WHEN i % 100 = 0 THEN 'DISABLED' ELSE 'ACTIVE' END,
                   $2::timestamptz + i * interval '1 minute'
            FROM generate_series(1, $3) AS i
            """,
            ident, BASE, rows,
        )  # fmt: skip
        voucher_ids = await owner.fetchval(
            "SELECT array_agg(id) FROM (SELECT id FROM vouchers WHERE tenant_id = $1 LIMIT 100) AS v", ident
        )
        # Over 100 vouchers, 1 in 50 rolled back, 500 customers, one minute apart (about 42 days).
        await owner.execute(
            """
            INSERT INTO redemptions (tenant_id, id, voucher_id, voucher_code, customer_id, order_amount,
                                     discount_amount, status, create_time)
            SELECT $1, gen_random_uuid(), ($2::uuid[])[1 + i % 100], 'C000001', 'cust-' || (i % 500), 1000, 100,
                   CASE WHEN i % 50 = 0 THEN 'ROLLED_BACK' ELSE 'SUCCEEDED' END,
                   $3::timestamptz + i * interval '1 minute'
            FROM generate_series(1, $4) AS i
            """,
            ident, voucher_ids, BASE, rows,
        )  # fmt: skip
    # As autovacuum would have by then: statistics, and the GIN index's pending list merged.
    # One campaign holding 1 in 100 of the tenant's vouchers.
    campaign = uuid.uuid4()
    await owner.execute(
        "INSERT INTO campaigns (tenant_id, id, name, percent_off, status) VALUES ($1, $2, 'c', 10, 'ACTIVE')",
        tenant, campaign,
    )  # fmt: skip
    await owner.execute(
        "UPDATE vouchers SET campaign_id = $2 WHERE tenant_id = $1 AND code LIKE '%00'", tenant, campaign
    )
    CAMPAIGN.append(campaign)
    for table in ("vouchers", "redemptions"):
        await owner.execute(f"VACUUM ANALYZE {table}")
    return tenant


async def plan_of(migrated_db: MigratedDatabase, tenant: uuid.UUID, query: str, *args: Any) -> str:
    conn = await asyncpg.connect(migrated_db.app_dsn)
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(tenant))
            rows = await conn.fetch("EXPLAIN " + QUERIES[query], tenant, *args)
    finally:
        await conn.close()
    return "\n".join(row[0] for row in rows)


def assert_indexed(plan: str, index: str) -> None:
    assert "Seq Scan" not in plan, plan
    assert index in plan, plan


NO_CURSOR = (None, None)
CAMPAIGN: list[uuid.UUID] = []
VOUCHER_CASES = [
    pytest.param(("DISABLED", None, None), "vouchers_by_status", id="status"),
    pytest.param((None, "C0001", "C0002"), "vouchers_by_code_prefix", id="code_prefix"),
    pytest.param((None, None, None), "vouchers_by_time", id="unfiltered"),
]


@pytest.mark.parametrize("filters, index", VOUCHER_CASES)
@pytest.mark.parametrize("query", ["list_vouchers", "list_vouchers_newest_first"])
async def test_voucher_filters_use_their_index(
    migrated_db: MigratedDatabase, big_tenant: uuid.UUID, query: str, filters: tuple[Any, ...], index: str
) -> None:
    assert_indexed(await plan_of(migrated_db, big_tenant, query, *filters, *NO_CURSOR, 101, None), index)


@pytest.mark.parametrize("query", ["list_vouchers", "list_vouchers_newest_first"])
async def test_the_campaign_filter_uses_its_index(
    migrated_db: MigratedDatabase, big_tenant: uuid.UUID, query: str
) -> None:
    plan = await plan_of(migrated_db, big_tenant, query, None, None, None, *NO_CURSOR, 101, CAMPAIGN[0])
    assert_indexed(plan, "vouchers_by_campaign")


@pytest.mark.parametrize("query", ["list_vouchers_by_metadata", "list_vouchers_by_metadata_newest_first"])
async def test_the_metadata_filter_reads_only_matching_vouchers(
    migrated_db: MigratedDatabase, big_tenant: uuid.UUID, query: str
) -> None:
    for status in (None, "ACTIVE"):
        plan = await plan_of(migrated_db, big_tenant, query, status, None, None, "batch", "417", *NO_CURSOR, 101, None)
        # The matching ids, then each voucher by its key: no walk over the tenant's vouchers.
        assert_indexed(plan, "Function Scan on vouchers_with_metadata")
        assert "vouchers_pkey" in plan, plan
    # The function's own lookup (it runs as the owner, outside the policy) goes through the pairs' GIN index.
    conn = await asyncpg.connect(migrated_db.owner_dsn)
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(big_tenant))
            body = await conn.fetchval("SELECT prosrc FROM pg_proc WHERE proname = 'vouchers_with_metadata'")
            rows = await conn.fetch(
                "EXPLAIN " + body.replace("p_key", "$1::text").replace("p_value", "$2::text"), "batch", "417"
            )
    finally:
        await conn.close()
    assert_indexed("\n".join(r[0] for r in rows), "vouchers_by_metadata")


@pytest.mark.parametrize("query", ["list_vouchers", "list_vouchers_newest_first"])
async def test_a_later_page_of_a_filter_uses_its_index(
    migrated_db: MigratedDatabase, big_tenant: uuid.UUID, query: str
) -> None:
    cursor = (BASE + timedelta(days=20), uuid.uuid4())
    plan = await plan_of(migrated_db, big_tenant, query, "DISABLED", None, None, *cursor, 101, None)
    assert_indexed(plan, "vouchers_by_status")


async def test_redemption_filters_use_their_index(migrated_db: MigratedDatabase, big_tenant: uuid.UUID) -> None:
    start, end = BASE + timedelta(days=10), BASE + timedelta(days=11)
    cases = [
        ((None, "cust-7", None, None, None), "redemptions_by_customer"),
        ((None, None, "ROLLED_BACK", None, None), "redemptions_by_status"),
        ((None, None, None, start, end), "redemptions_by_time"),
        ((None, None, None, None, None), "redemptions_by_time"),
    ]
    for query in ("list_redemptions", "list_redemptions_newest_first"):
        for filters, index in cases:
            assert_indexed(await plan_of(migrated_db, big_tenant, query, *filters, *NO_CURSOR, 101, None), index)
        # A campaign's redemptions: its codes through vouchers_by_campaign.
        plan = await plan_of(migrated_db, big_tenant, query, None, None, None, None, None, *NO_CURSOR, 101, CAMPAIGN[0])
        assert_indexed(plan, "vouchers_by_campaign")
    voucher_id = await _any_voucher_with_redemptions(migrated_db, big_tenant)
    plan = await plan_of(
        migrated_db, big_tenant, "list_redemptions", voucher_id, None, None, None, None, *NO_CURSOR, 101, None
    )
    assert_indexed(plan, "redemptions_by_voucher")


async def _any_voucher_with_redemptions(migrated_db: MigratedDatabase, tenant: uuid.UUID) -> uuid.UUID:
    conn = await asyncpg.connect(migrated_db.owner_dsn)
    try:
        return await conn.fetchval("SELECT voucher_id FROM redemptions WHERE tenant_id = $1 LIMIT 1", tenant)
    finally:
        await conn.close()
