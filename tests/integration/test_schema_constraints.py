"""The schema's own guards, hit with direct SQL: whatever the application does, these rows cannot exist."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from support.services import MigratedDatabase
from vauchflow_core import errors, events
from vauchflow_server import resource_events
from vauchflow_server.db.database import CheckViolation, Database
from vauchflow_server.redemption_rules import Order
from vauchflow_server.redemptions import Redemption

START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def tenant_id(owner: asyncpg.Connection) -> uuid.UUID:
    tenant = uuid.uuid4()
    await owner.execute("INSERT INTO tenants (id, name, plan) VALUES ($1, 'constraints', 'FREE')", tenant)
    return tenant


async def insert_voucher(conn: asyncpg.Connection, tenant: uuid.UUID, **columns) -> uuid.UUID:
    voucher_id = uuid.uuid4()
    values = {"tenant_id": tenant, "id": voucher_id, "code": f"C-{voucher_id.hex[:8].upper()}", "status": "ACTIVE"}
    if "amount_off" not in columns:
        values["percent_off"] = 10
    values.update(columns)
    names = ", ".join(values)
    placeholders = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    await conn.execute(f"INSERT INTO vouchers ({names}) VALUES ({placeholders})", *values.values())
    return voucher_id


async def test_redemption_count_can_reach_but_never_pass_max_redemptions(
    owner: asyncpg.Connection, tenant_id: uuid.UUID
) -> None:
    voucher_id = await insert_voucher(owner, tenant_id, max_redemptions=3)
    await owner.execute("UPDATE vouchers SET redemption_count = max_redemptions WHERE id = $1", voucher_id)
    with pytest.raises(asyncpg.CheckViolationError) as raised:
        await owner.execute("UPDATE vouchers SET redemption_count = max_redemptions + 1 WHERE id = $1", voucher_id)
    assert raised.value.constraint_name == "redemption_count_within_max"
    with pytest.raises(asyncpg.CheckViolationError) as raised:
        await owner.execute("UPDATE vouchers SET redemption_count = redemption_count + 1 WHERE id = $1", voucher_id)
    assert raised.value.constraint_name == "redemption_count_within_max"
    # Lowering the limit below what was already used is refused as well.
    with pytest.raises(asyncpg.CheckViolationError) as raised:
        await owner.execute("UPDATE vouchers SET max_redemptions = 2 WHERE id = $1", voucher_id)
    assert raised.value.constraint_name == "redemption_count_within_max"
    assert await owner.fetchval("SELECT redemption_count FROM vouchers WHERE id = $1", voucher_id) == 3


async def test_an_unlimited_voucher_has_no_ceiling_and_no_negative_count(
    owner: asyncpg.Connection, tenant_id: uuid.UUID
) -> None:
    voucher_id = await insert_voucher(owner, tenant_id)
    await owner.execute("UPDATE vouchers SET redemption_count = 1000000 WHERE id = $1", voucher_id)
    with pytest.raises(asyncpg.CheckViolationError):
        await owner.execute("UPDATE vouchers SET redemption_count = -1 WHERE id = $1", voucher_id)


async def test_the_app_role_hits_the_same_check_and_the_database_layer_names_it(
    migrated_db: MigratedDatabase, owner: asyncpg.Connection, tenant_id: uuid.UUID
) -> None:
    voucher_id = await insert_voucher(owner, tenant_id, max_redemptions=3, redemption_count=2)
    db = await Database.connect(migrated_db.app_dsn, min_size=1, max_size=1)
    try:
        # update_voucher_terms writes what it is given (voucher_admin checks the limit first); here nothing
        # above the database stands between it and a limit below the count already used.
        with pytest.raises(CheckViolation) as raised:
            async with db.tenant_transaction(tenant_id) as tx:
                voucher = await tx.voucher_by_id(voucher_id)
                await tx.update_voucher_terms(voucher.code, dataclasses.replace(voucher.terms, max_redemptions=1))
        assert raised.value.constraint == "redemption_count_within_max"
        assert isinstance(raised.value, errors.DomainError)
        async with db.tenant_transaction(tenant_id) as tx:
            voucher = await tx.voucher_by_id(voucher_id)
            updated = await tx.update_voucher_terms(voucher.code, dataclasses.replace(voucher.terms, max_redemptions=2))
            assert updated is not None and updated.terms.max_redemptions == 2
            # Exhausted now: the server's atomic redeem statement refuses (and writes nothing) rather than tripping
            # the CHECK.
            order = Order(id="", amount=10_000, currency=None)
            redemption = Redemption(uuid.uuid4(), voucher.id, voucher.code, "", order, 0, "SUCCEEDED")
            event = resource_events.redemption_event(events.REDEMPTION_SUCCEEDED, redemption)
            assert await tx.redeem(redemption, datetime.now(UTC), event, event) is None
    finally:
        await db.close()
    assert await owner.fetchval("SELECT (redemption_count, max_redemptions) FROM vouchers WHERE id = $1",
                                voucher_id) == (2, 2)  # fmt: skip


@pytest.mark.parametrize(
    "columns",
    [
        pytest.param({"percent_off": 10, "amount_off": 500, "currency": "EUR"}, id="both"),
        pytest.param({"percent_off": None}, id="neither"),
    ],
)
async def test_exactly_one_discount_kind(owner: asyncpg.Connection, tenant_id: uuid.UUID, columns) -> None:
    with pytest.raises(asyncpg.CheckViolationError) as raised:
        await insert_voucher(owner, tenant_id, **columns)
    assert raised.value.constraint_name == "one_discount_kind"


async def test_each_discount_kind_alone_is_accepted_and_cannot_be_doubled_later(
    owner: asyncpg.Connection, tenant_id: uuid.UUID
) -> None:
    percent = await insert_voucher(owner, tenant_id, percent_off=10)
    await insert_voucher(owner, tenant_id, amount_off=500, currency="EUR")
    with pytest.raises(asyncpg.CheckViolationError) as raised:
        await owner.execute("UPDATE vouchers SET amount_off = 100 WHERE id = $1", percent)
    assert raised.value.constraint_name == "one_discount_kind"


@pytest.mark.parametrize("until", [START, START - timedelta(seconds=1)], ids=["equal", "before"])
async def test_the_validity_window_must_be_ordered(owner: asyncpg.Connection, tenant_id: uuid.UUID, until) -> None:
    with pytest.raises(asyncpg.CheckViolationError) as raised:
        await insert_voucher(owner, tenant_id, valid_from=START, valid_until=until)
    assert raised.value.constraint_name == "validity_window_ordered"


async def test_open_and_ordered_validity_windows_are_accepted(owner: asyncpg.Connection, tenant_id: uuid.UUID) -> None:
    await insert_voucher(owner, tenant_id, valid_from=START, valid_until=START + timedelta(microseconds=1))
    await insert_voucher(owner, tenant_id, valid_from=START)
    await insert_voucher(owner, tenant_id, valid_until=START)
    voucher_id = await insert_voucher(owner, tenant_id, valid_from=START, valid_until=START + timedelta(days=1))
    with pytest.raises(asyncpg.CheckViolationError) as raised:
        await owner.execute("UPDATE vouchers SET valid_until = valid_from - interval '1 day' WHERE id = $1", voucher_id)
    assert raised.value.constraint_name == "validity_window_ordered"


@pytest.mark.parametrize(
    "columns",
    [
        {"percent_off": 0},
        {"percent_off": 101},
        {"amount_off": 0, "currency": "EUR"},
        {"max_redemptions": 0},
        {"per_customer_limit": 0},
        {"min_order_amount": -1},
        {"status": "EXPIRED"},
    ],
    ids=lambda columns: "-".join(f"{k}={v}" for k, v in columns.items()),
)
async def test_column_checks(owner: asyncpg.Connection, tenant_id: uuid.UUID, columns) -> None:
    with pytest.raises(asyncpg.CheckViolationError):
        await insert_voucher(owner, tenant_id, **columns)


async def test_codes_are_unique_per_tenant_not_globally(owner: asyncpg.Connection, tenant_id: uuid.UUID) -> None:
    other = uuid.uuid4()
    await owner.execute("INSERT INTO tenants (id, name, plan) VALUES ($1, 'other', 'FREE')", other)
    await insert_voucher(owner, tenant_id, code="SHARED")
    await insert_voucher(owner, other, code="SHARED")
    with pytest.raises(asyncpg.UniqueViolationError):
        await insert_voucher(owner, tenant_id, code="SHARED")


async def test_api_key_hashes_are_unique_across_tenants(owner: asyncpg.Connection, tenant_id: uuid.UUID) -> None:
    other = uuid.uuid4()
    await owner.execute("INSERT INTO tenants (id, name, plan) VALUES ($1, 'other', 'FREE')", other)
    insert = (
        "INSERT INTO api_keys (tenant_id, id, name, permissions, secret_hash, secret_prefix)"
        " VALUES ($1, $2, 'k', ARRAY['vouchers:read'], $3, 'vf_sk_abcdef')"
    )
    await owner.execute(insert, tenant_id, uuid.uuid4(), b"\x01" * 32)
    with pytest.raises(asyncpg.UniqueViolationError):
        await owner.execute(insert, other, uuid.uuid4(), b"\x01" * 32)
