"""SQL and Python agree: the `redeem` statement's conditional UPDATE and the per-customer upsert refuse exactly when
redemption_rules.decide_redeem refuses, at every edge, so the guard never lets through what the decision refuses
(nor refuses what it allows: that would surface as a wrong VOUCHER_EXHAUSTED)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from support.services import MigratedDatabase
from vauchflow_core import events
from vauchflow_server import resource_events
from vauchflow_server.db.database import Database
from vauchflow_server.redemption_rules import Order, Redeem, decide_redeem
from vauchflow_server.redemptions import Redemption

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TICK = timedelta(microseconds=1)

# (name, voucher columns, order amount, order currency)
CASES: list[tuple[str, dict[str, Any], int, str | None]] = [
    ("active, unlimited", {}, 10_000, "EUR"),
    ("disabled", {"status": "DISABLED"}, 10_000, "EUR"),
    ("one tick before valid_from", {"valid_from": NOW + TICK}, 10_000, "EUR"),
    ("exactly at valid_from", {"valid_from": NOW}, 10_000, "EUR"),
    ("one tick before valid_until", {"valid_until": NOW + TICK}, 10_000, "EUR"),
    ("exactly at valid_until", {"valid_until": NOW}, 10_000, "EUR"),
    ("count = max - 1", {"max_redemptions": 5, "redemption_count": 4}, 10_000, "EUR"),
    ("count = max", {"max_redemptions": 5, "redemption_count": 5}, 10_000, "EUR"),
    ("one below the minimum", {"min_order_amount": 5_000}, 4_999, "EUR"),
    ("exactly the minimum", {"min_order_amount": 5_000}, 5_000, "EUR"),
    ("amount off, other currency", {"percent_off": None, "amount_off": 500, "currency": "EUR"}, 10_000, "USD"),
    ("amount off, no order currency", {"percent_off": None, "amount_off": 500, "currency": "EUR"}, 10_000, None),
    ("amount off, same currency", {"percent_off": None, "amount_off": 500, "currency": "EUR"}, 10_000, "EUR"),
    ("percent off with a currency, other currency", {"currency": "EUR"}, 10_000, "USD"),
    ("percent off with a currency, no order currency", {"currency": "EUR"}, 10_000, None),
    ("no voucher currency, any order currency", {}, 10_000, "JPY"),
    ("every condition at its edge", {"valid_from": NOW, "valid_until": NOW + TICK, "max_redemptions": 2,
                                     "redemption_count": 1, "min_order_amount": 5_000, "currency": "EUR"},
     5_000, "EUR"),
]  # fmt: skip


@pytest.fixture
async def tenant_id(owner: asyncpg.Connection) -> uuid.UUID:
    tenant = uuid.uuid4()
    await owner.execute("INSERT INTO tenants (id, name, plan) VALUES ($1, 'sql guard', 'SCALE')", tenant)
    return tenant


@pytest.fixture
async def db(migrated_db: MigratedDatabase) -> AsyncIterator[Database]:
    database = await Database.connect(migrated_db.app_dsn, min_size=1, max_size=2)
    try:
        yield database
    finally:
        await database.close()


async def voucher(owner: asyncpg.Connection, tenant: uuid.UUID, **columns: Any) -> uuid.UUID:
    voucher_id = uuid.uuid4()
    values = {"tenant_id": tenant, "id": voucher_id, "code": f"V-{voucher_id.hex[:12]}".upper(), "status": "ACTIVE",
              "percent_off": 10, **columns}  # fmt: skip
    placeholders = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    await owner.execute(f"INSERT INTO vouchers ({', '.join(values)}) VALUES ({placeholders})", *values.values())
    return voucher_id


@pytest.mark.parametrize(("name", "columns", "amount", "currency"), CASES, ids=[case[0] for case in CASES])
async def test_the_redeem_statement_counts_exactly_when_the_decision_allows(
    db: Database,
    owner: asyncpg.Connection,
    tenant_id: uuid.UUID,
    name: str,
    columns: dict[str, Any],
    amount: int,
    currency: str | None,
) -> None:
    voucher_id = await voucher(owner, tenant_id, **columns)
    order = Order("o", amount, currency)
    async with db.tenant_transaction(tenant_id) as tx:
        current = await tx.voucher_by_id(voucher_id)
        assert current is not None
        decision = decide_redeem(current, order, NOW)
        redemption = Redemption(uuid.uuid4(), voucher_id, current.code, "", order, 0, "SUCCEEDED")
        counted = await tx.redeem(
            redemption,
            NOW,
            resource_events.redemption_event(events.REDEMPTION_SUCCEEDED, redemption),
            resource_events.voucher_event(events.VOUCHER_EXHAUSTED, current),
        )
    assert (counted is not None) == isinstance(decision, Redeem), decision
    expected_count = columns.get("redemption_count", 0) + (1 if counted else 0)
    assert await owner.fetchval("SELECT redemption_count FROM vouchers WHERE id = $1", voucher_id) == expected_count


@pytest.mark.parametrize(("limit", "used"), [(1, 0), (2, 1), (2, 2), (3, 5)])
async def test_the_customer_upsert_takes_exactly_when_the_decision_allows(
    db: Database, owner: asyncpg.Connection, tenant_id: uuid.UUID, limit: int, used: int
) -> None:
    voucher_id = await voucher(owner, tenant_id, per_customer_limit=limit)
    if used:
        await owner.execute(
            "INSERT INTO customer_redemption_counts (tenant_id, voucher_id, customer_id, redemption_count)"
            " VALUES ($1, $2, 'c', $3)",
            tenant_id,
            voucher_id,
            used,
        )
    async with db.tenant_transaction(tenant_id) as tx:
        current = await tx.voucher_by_id(voucher_id)
        assert current is not None
        decision = decide_redeem(current, Order("o", 10_000, "EUR"), NOW, customer_redemptions=used)
        taken = await tx.take_customer_redemption(voucher_id, "c", limit)
    assert taken == isinstance(decision, Redeem)
