"""Concurrent redeems sharing transactions (redemption_batches.py), on a real PostgreSQL: they take fewer
transactions than redeems, and each answer is the one it would have had alone."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
import redis.asyncio as redis_asyncio

from support.services import MigratedDatabase
from vauchflow_core import errors
from vauchflow_core.errors import DomainError
from vauchflow_server.db.database import BatchNotCounted, Database, TenantTransaction
from vauchflow_server.metrics import ServerMetrics
from vauchflow_server.redemption.engine import RedeemResult, RedeemVoucher, RedemptionEngine
from vauchflow_server.redemption.flash_sale_gate import FlashSaleGate, VoucherKey
from vauchflow_server.redemption_rules import Order
from vauchflow_server.redemptions import Redemption


@pytest.fixture
async def tenant_id(owner: asyncpg.Connection) -> uuid.UUID:
    tenant = uuid.uuid4()
    await owner.execute("INSERT INTO tenants (id, name, plan) VALUES ($1, 'batches', 'SCALE')", tenant)
    return tenant


@pytest.fixture
async def db(migrated_db: MigratedDatabase) -> AsyncIterator[Database]:
    database = await Database.connect(migrated_db.app_dsn, min_size=1, max_size=8)
    try:
        yield database
    finally:
        await database.close()


async def voucher(owner: asyncpg.Connection, tenant: uuid.UUID, code: str, **columns: Any) -> uuid.UUID:
    voucher_id = uuid.uuid4()
    values = {"tenant_id": tenant, "id": voucher_id, "code": code, "status": "ACTIVE", "percent_off": 10, **columns}
    placeholders = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    await owner.execute(f"INSERT INTO vouchers ({', '.join(values)}) VALUES ({placeholders})", *values.values())
    return voucher_id


def redeem(code: str, amount: int = 10_000, *, customer: str = "", request_id: str = "", order_id: str = ""):
    return RedeemVoucher(code, Order(order_id or uuid.uuid4().hex, amount, "EUR"), customer, {}, request_id)


async def together(engine: RedemptionEngine, tenant: uuid.UUID, commands: list[RedeemVoucher]) -> list[Any]:
    """Submitted in one moment, so they queue for the same batch; each result or its domain error."""
    return await asyncio.gather(*(engine.redeem(tenant, c) for c in commands), return_exceptions=True)


def reason(result: Any) -> str:
    if isinstance(result, RedeemResult):
        return "SUCCEEDED"
    assert isinstance(result, DomainError), result
    return result.reason


async def transactions_used(owner: asyncpg.Connection, voucher_id: uuid.UUID) -> int:
    """Distinct writing transactions behind a voucher's redemption rows."""
    return await owner.fetchval("SELECT count(DISTINCT xmin::text) FROM redemptions WHERE voucher_id = $1", voucher_id)


@pytest.mark.parametrize(("max_batch", "transactions"), [(64, 1), (0, 5)], ids=["batched", "batching off"])
async def test_a_stampede_never_passes_the_limit_and_batched_shares_one_transaction(
    db: Database, owner: asyncpg.Connection, tenant_id: uuid.UUID, max_batch: int, transactions: int
) -> None:
    voucher_id = await voucher(owner, tenant_id, "FIVE", max_redemptions=5)
    engine = RedemptionEngine(db, max_batch=max_batch, batches_in_flight=1, per_voucher_concurrency=8)
    results = await together(engine, tenant_id, [redeem("five") for _ in range(30)])

    assert Counter(map(reason, results)) == {"SUCCEEDED": 5, errors.VOUCHER_EXHAUSTED: 25}
    # Each success sees the voucher as it was right after its own redemption, as if they had run one by one.
    won = [r for r in results if isinstance(r, RedeemResult)]
    assert sorted(r.voucher.redemption_count for r in won) == [1, 2, 3, 4, 5]
    assert {r.redemption.discount_amount for r in won} == {1_000}
    assert await owner.fetchval("SELECT redemption_count FROM vouchers WHERE id = $1", voucher_id) == 5
    assert await owner.fetchval("SELECT count(*) FROM redemptions WHERE voucher_id = $1", voucher_id) == 5
    assert await transactions_used(owner, voucher_id) == transactions
    # The events, in causal order: five redemption.succeeded, then voucher.exhausted once.
    types = await owner.fetch("SELECT type FROM outbox_events WHERE tenant_id = $1 ORDER BY id", tenant_id)
    assert [t["type"] for t in types] == ["redemption.succeeded"] * 5 + ["voucher.exhausted"]


async def test_each_redeem_in_a_batch_gets_the_answer_it_would_get_alone(
    db: Database, owner: asyncpg.Connection, tenant_id: uuid.UUID
) -> None:
    minimum = await voucher(owner, tenant_id, "MIN", max_redemptions=3, min_order_amount=5_000)
    unlimited = await voucher(owner, tenant_id, "OPEN", amount_off=700, percent_off=None, currency="EUR")
    await voucher(owner, tenant_id, "OFF", status="DISABLED")
    per_customer = await voucher(owner, tenant_id, "ONCE", per_customer_limit=1)
    await owner.execute(
        "INSERT INTO idempotency_keys (tenant_id, operation, key, request_hash, response)"
        " VALUES ($1, 'RedeemVoucher', 'used-before', '\\x00', $2)",
        tenant_id, str(uuid.uuid4()).encode(),
    )  # fmt: skip
    engine = RedemptionEngine(db, max_batch=64, batches_in_flight=1)
    twice = redeem("open", 500, request_id="twice")
    commands = [
        redeem("min", 4_999, request_id="too-small"),  # 0: below the minimum; its key must not stay claimed
        redeem("min", 5_000),  # 1
        twice,  # 2: the discount is capped at the order
        twice,  # 3: same key, same request: replays 2
        redeem("nope"),  # 4
        redeem("off"),  # 5
        redeem("once", customer="ann"),  # 6: per-customer limits are decided alone
        redeem("once", customer="ann"),  # 7
        redeem("min", 9_000),  # 8
        redeem("min", 9_000),  # 9
        redeem("min", 9_000),  # 10: the fourth success would pass max 3
        redeem("open", request_id="used-before"),  # 11: a key used with another request
    ]
    results = await together(engine, tenant_id, commands)

    reasons = [reason(r) for r in results]
    # 6 and 7 run alone, concurrently: either may be the one that gets ann's single use.
    assert sorted(reasons[6:8]) == [errors.CUSTOMER_LIMIT_REACHED, "SUCCEEDED"]
    assert reasons[:6] + reasons[8:] == [
        errors.ORDER_BELOW_MINIMUM,
        "SUCCEEDED",
        "SUCCEEDED",
        "SUCCEEDED",
        "VOUCHER_NOT_FOUND",
        errors.VOUCHER_DISABLED,
        "SUCCEEDED",
        "SUCCEEDED",
        errors.VOUCHER_EXHAUSTED,
        "IDEMPOTENCY_KEY_REUSED",
    ]
    assert results[3].replayed and results[3].redemption.id == results[2].redemption.id
    assert results[2].redemption.discount_amount == 500
    assert results[1].redemption.discount_amount == 500 and results[8].redemption.discount_amount == 900
    keys = {r["key"] for r in await owner.fetch("SELECT key FROM idempotency_keys WHERE tenant_id = $1", tenant_id)}
    assert keys == {"twice", "used-before"}
    counts = {
        r["code"]: (r["redemption_count"], r["rows"])
        for r in await owner.fetch(
            "SELECT code, redemption_count, (SELECT count(*) FROM redemptions r WHERE r.voucher_id = v.id) AS rows"
            " FROM vouchers v WHERE tenant_id = $1",
            tenant_id,
        )
    }
    assert counts == {"MIN": (3, 3), "OPEN": (1, 1), "OFF": (0, 0), "ONCE": (1, 1)}
    assert await transactions_used(owner, minimum) == 1
    assert {await transactions_used(owner, unlimited), await transactions_used(owner, per_customer)} == {1}


async def test_a_batch_that_fails_as_a_whole_runs_each_redeem_alone(
    db: Database,
    owner: asyncpg.Connection,
    tenant_id: uuid.UUID,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    voucher_id = await voucher(owner, tenant_id, "RETRY", max_redemptions=4)
    failures = []
    real_redeem_batch = TenantTransaction.redeem_batch

    async def failing_once(self: TenantTransaction, *args: Any) -> Any:
        if not failures:
            failures.append(len(args[1]))
            raise asyncpg.exceptions.DeadlockDetectedError("injected")
        return await real_redeem_batch(self, *args)

    monkeypatch.setattr(TenantTransaction, "redeem_batch", failing_once)
    engine = RedemptionEngine(db, max_batch=64, batches_in_flight=1)
    results = await together(engine, tenant_id, [redeem("retry") for _ in range(6)])

    assert failures == [4]  # the batch had decided four winners when its write failed
    assert Counter(map(reason, results)) == {"SUCCEEDED": 4, errors.VOUCHER_EXHAUSTED: 2}
    assert await owner.fetchval("SELECT redemption_count FROM vouchers WHERE id = $1", voucher_id) == 4
    assert await transactions_used(owner, voucher_id) == 4  # each ran alone, in its own transaction
    [warning] = [r for r in caplog.records if getattr(r, "action", "") == "redeem_batch_failed"]
    assert (warning.error_type, warning.redeems) == ("Aborted", 6)  # as the database layer names a deadlock
    assert "injected" not in caplog.text  # the exception's text stays out of the log


async def test_two_servers_batching_over_the_same_vouchers_never_deadlock_or_overcount(
    db: Database, owner: asyncpg.Connection, tenant_id: uuid.UUID
) -> None:
    """Two engines (as two replicas would) with two batches each in flight, over vouchers in opposite orders."""
    codes = [f"HOT-{n}" for n in range(5)]
    for code in codes:
        await voucher(owner, tenant_id, code, max_redemptions=60)
    engines = [RedemptionEngine(db, max_batch=16, batches_in_flight=2) for _ in range(2)]
    commands = [
        (engines[n % 2], redeem(codes[n % 5] if n % 2 else codes[-1 - n % 5], request_id=f"r-{n}")) for n in range(400)
    ]
    results = await asyncio.wait_for(
        asyncio.gather(*(engine.redeem(tenant_id, c) for engine, c in commands), return_exceptions=True), 120
    )

    assert Counter(map(reason, results)) == {"SUCCEEDED": 300, errors.VOUCHER_EXHAUSTED: 100}
    rows = await owner.fetch(
        "SELECT redemption_count, (SELECT count(*) FROM redemptions r WHERE r.voucher_id = v.id) AS rows"
        " FROM vouchers v WHERE tenant_id = $1",
        tenant_id,
    )
    assert [(r["redemption_count"], r["rows"]) for r in rows] == [(60, 60)] * 5
    assert await owner.fetchval("SELECT count(*) FROM idempotency_keys WHERE tenant_id = $1", tenant_id) == 300


async def test_the_batch_write_is_still_a_conditional_update_with_a_row_count_check(
    db: Database, owner: asyncpg.Connection, tenant_id: uuid.UUID
) -> None:
    """Below the engine: a batch write told to count past max_redemptions is refused and writes nothing."""
    voucher_id = await voucher(owner, tenant_id, "TWO", max_redemptions=2)
    order = Order("o", 1_000, "EUR")
    redemptions = [Redemption(uuid.uuid4(), voucher_id, "TWO", "", order, 100, "SUCCEEDED") for _ in range(3)]
    with pytest.raises(BatchNotCounted):
        async with db.tenant_transaction(tenant_id) as tx:
            await tx.redeem_batch({voucher_id: 3}, redemptions, [], "RedeemVoucher", [])
    assert await owner.fetchval("SELECT redemption_count FROM vouchers WHERE id = $1", voucher_id) == 0
    assert await owner.fetchval("SELECT count(*) FROM redemptions WHERE voucher_id = $1", voucher_id) == 0
    async with db.tenant_transaction(tenant_id) as tx:
        await tx.redeem_batch({voucher_id: 2}, redemptions[:2], [], "RedeemVoucher", [])
    assert await owner.fetchval("SELECT redemption_count FROM vouchers WHERE id = $1", voucher_id) == 2


# --- Flash-sale units when the caller goes away: the batch, not the caller, settles them ------------------------


@pytest.fixture
async def gate(redis_server) -> AsyncIterator[FlashSaleGate]:
    client = redis_asyncio.from_url(redis_server.url)
    await client.flushall()
    try:
        yield FlashSaleGate(client, ServerMetrics())
    finally:
        await client.aclose()


async def gate_matches_postgres(gate: FlashSaleGate, owner: asyncpg.Connection, tenant: uuid.UUID, code: str):
    """(Redis units, leases held, PostgreSQL's remaining stock) for a flash-sale voucher."""
    key = VoucherKey(tenant, code)
    client = gate._client
    units = await client.hget(key.stock, "units")
    leases = await client.zcard(key.leases)
    remaining = await owner.fetchval(
        "SELECT max_redemptions - redemption_count FROM vouchers WHERE tenant_id = $1 AND code = $2", tenant, code
    )
    return (int(units) if units is not None else None, leases, remaining)


async def poll(condition, what: str, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, f"never: {what}"
        await asyncio.sleep(0.02)


async def test_a_caller_gone_while_its_redeem_runs_alone_still_gets_its_unit_given_back(
    db: Database, owner: asyncpg.Connection, tenant_id: uuid.UUID, gate: FlashSaleGate
) -> None:
    """No counter yet, so the redeem runs alone (it builds the counter); its caller is cancelled before that, and
    the run is then refused (order below the minimum): the unit it took must go back."""
    await voucher(owner, tenant_id, "SALE", max_redemptions=10, min_order_amount=5_000, flash_sale=True)
    engine = RedemptionEngine(db, gate=gate, max_batch=64, batches_in_flight=2, per_voucher_concurrency=8)
    running_alone, go_on = asyncio.Event(), asyncio.Event()
    real = engine._redeem_in_transaction

    async def held_at_the_start(*args: Any, **kwargs: Any) -> Any:
        running_alone.set()
        await go_on.wait()
        return await real(*args, **kwargs)

    engine._redeem_in_transaction = held_at_the_start  # type: ignore[method-assign]
    caller = asyncio.create_task(engine.redeem(tenant_id, redeem("sale", 1_000)))
    await asyncio.wait_for(running_alone.wait(), 15)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    go_on.set()

    async def settled() -> bool:
        units, leases, remaining = await gate_matches_postgres(gate, owner, tenant_id, "SALE")
        return units == remaining == 10 and leases == 0

    await poll(settled, "the counter equals PostgreSQL's stock, no unit held")


async def test_a_caller_gone_while_its_batch_commits_leaves_its_unit_taken(
    db: Database, owner: asyncpg.Connection, tenant_id: uuid.UUID, gate: FlashSaleGate, migrated_db: MigratedDatabase
) -> None:
    """The batch holds the unit and is waiting for the voucher's row when its caller is cancelled; the batch
    then commits the redemption, so the unit must stay taken (given back, the counter would be one too high)."""
    await voucher(owner, tenant_id, "SALE", max_redemptions=10, flash_sale=True)
    engine = RedemptionEngine(db, gate=gate, max_batch=64, batches_in_flight=2)
    await engine.redeem(tenant_id, redeem("sale"))  # builds the counter: 9 left
    assert await gate_matches_postgres(gate, owner, tenant_id, "SALE") == (9, 0, 9)
    watcher = await asyncpg.connect(migrated_db.owner_dsn)
    try:
        async with owner.transaction():
            await owner.execute("SELECT 1 FROM vouchers WHERE tenant_id = $1 AND code = 'SALE' FOR UPDATE", tenant_id)
            caller = asyncio.create_task(engine.redeem(tenant_id, redeem("sale")))

            async def batch_waits_on_the_row() -> bool:
                return (
                    await watcher.fetchval(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE usename = 'vauchflow_app' AND wait_event_type = 'Lock'"
                    )
                    > 0
                )

            await poll(batch_waits_on_the_row, "the batch waits on the voucher's row")
            caller.cancel()
            with pytest.raises(asyncio.CancelledError):
                await caller
    finally:
        await watcher.close()

    async def settled() -> bool:
        return await gate_matches_postgres(gate, owner, tenant_id, "SALE") == (8, 0, 8)

    await poll(settled, "the batch committed the redemption and kept its unit")


async def test_a_batch_whose_commit_fails_answers_unavailable_and_runs_nothing_again(
    db: Database, owner: asyncpg.Connection, tenant_id: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed COMMIT may still have committed: running the redeems again could contradict it, so each gets the
    error (UNAVAILABLE, "may not have been applied") and a retry with its request_id learns the outcome."""
    voucher_id = await voucher(owner, tenant_id, "LOST", max_redemptions=10)
    real = db.tenant_transaction
    transactions = []

    @contextlib.asynccontextmanager
    async def commit_lost(tenant: uuid.UUID) -> AsyncIterator[TenantTransaction]:
        transactions.append(tenant)
        async with real(tenant) as tx:
            yield tx
            raise errors.Unavailable("the connection was lost at COMMIT")  # rolled back: the outcome never known

    monkeypatch.setattr(db, "tenant_transaction", commit_lost)
    engine = RedemptionEngine(db, max_batch=64, batches_in_flight=1)
    results = await together(engine, tenant_id, [redeem("lost") for _ in range(4)] + [redeem("missing")])

    assert [reason(r) for r in results] == ["SERVICE_UNAVAILABLE"] * 5
    assert len(transactions) == 1  # nothing ran again
    assert await owner.fetchval("SELECT redemption_count FROM vouchers WHERE id = $1", voucher_id) == 0


async def test_per_customer_redeems_and_rollbacks_of_one_customer_never_deadlock(
    db: Database, owner: asyncpg.Connection, tenant_id: uuid.UUID
) -> None:
    """Both lock the customer's count and the voucher's row; in opposite orders they deadlocked (ABORTED)."""
    voucher_id = await voucher(owner, tenant_id, "LOYAL", per_customer_limit=1_000)
    engine = RedemptionEngine(db, max_batch=64, batches_in_flight=2, per_voucher_concurrency=8)
    first = await together(engine, tenant_id, [redeem("loyal", customer="ann") for _ in range(40)])
    assert Counter(map(reason, first)) == {"SUCCEEDED": 40}
    work = [engine.rollback(tenant_id, str(r.redemption.id), "returned") for r in first]
    work += [engine.redeem(tenant_id, redeem("loyal", customer="ann")) for _ in range(40)]
    outcomes = await asyncio.gather(*work, return_exceptions=True)

    assert [o for o in outcomes if isinstance(o, BaseException)] == []
    counts = await owner.fetchrow(
        "SELECT v.redemption_count AS voucher, c.redemption_count AS customer,"
        " (SELECT count(*) FROM redemptions r WHERE r.voucher_id = v.id AND r.status = 'SUCCEEDED') AS rows"
        " FROM vouchers v JOIN customer_redemption_counts c ON c.voucher_id = v.id WHERE v.id = $1",
        voucher_id,
    )
    assert tuple(counts.values()) == (40, 40, 40)
