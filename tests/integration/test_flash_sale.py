"""DESIGN.md invariant 2 over the wire: the Redis pre-gate admits at most the remaining stock, rejected requests do
not reach PostgreSQL, lost Redis state is rebuilt from PostgreSQL, and PostgreSQL stays exact when Redis is gone.

Real Redis, real PostgreSQL, real gRPC (and the real Envoy for one stampede). The module's own API server serves
Prometheus metrics and reconciles every fraction of a second, so the tests can read the gate's decisions and see
corrections without waiting.
"""

from __future__ import annotations

import asyncio
import secrets
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import grpc
import pytest
import redis
from google.protobuf import field_mask_pb2

from support import metrics
from support.api_client import (
    ApiSession,
    OwnerDatabase,
    TenantClient,
    assert_error,
    assert_invalid,
    expect_rpc_error,
    order,
)
from support.polling import wait_for
from support.ports import free_port
from support.services import ApiServer, MigratedPostgres, start_api_server
from support.stampede import outcomes, stampede
from vauchflow.v1 import (
    health_service_pb2,
    health_service_pb2_grpc,
    redemption_pb2,
    redemption_service_pb2,
    tenant_pb2,
    voucher_pb2,
    voucher_service_pb2,
)
from vauchflow_devstack import EmbeddedRedis, stop_child

EXHAUSTED = "FAILED_PRECONDITION/VOUCHER_EXHAUSTED"
# Requests the gate may let through beyond the stock by design: a counter built from PostgreSQL while admitted
# redemptions were still committing, or reconciled up while the last ones settled. Zero in the plain stampede.
GATE_SLACK = 5
# The plan whose burst lets a 1,000-request flash sale through unthrottled (rate limits are another test's subject).
SALE_PLAN = tenant_pb2.PLAN_SCALE


class FlashServer:
    def __init__(self, server: ApiServer, metrics_port: int, redis_url: str):
        self.server = server
        self.metrics_port = metrics_port
        self.redis = redis.Redis.from_url(redis_url)

    def scrape(self) -> str:
        return metrics.scrape(self.metrics_port)

    def sample(self, name: str, **labels: str) -> float:
        return metrics.sample(self.scrape(), name, **labels)

    def gate(self, decision: str) -> float:
        return self.sample("vauchflow_flash_sale_gate_total", decision=decision)


@pytest.fixture(scope="module")
def flash(postgres: MigratedPostgres, redis_server: EmbeddedRedis, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[FlashServer]:  # fmt: skip
    database = postgres.create_database("flash")
    metrics_port = free_port()
    server = start_api_server(
        database=database, redis_url=redis_server.url, admin_token="vf_op_" + secrets.token_urlsafe(24),
        port=free_port(), log_path=tmp_path_factory.mktemp("flash_server") / "server.log",
        extra_env={"VAUCHFLOW_METRICS_PORT": str(metrics_port), "VAUCHFLOW_FLASH_SALE_RECONCILE_SECONDS": "0.3",
                   "VAUCHFLOW_DB_POOL_MAX": "16",
                   # These tests are about the gate deciding, not about a slow Redis (the fail-open tests cover
                   # that): on a starved machine 1,000 threads made Redis answers outlast the 0.1 s default, the
                   # gate stepped aside for a second, and PostgreSQL refused what the gate should have.
                   "VAUCHFLOW_REDIS_TIMEOUT_SECONDS": "2", "VAUCHFLOW_FLASH_SALE_GATE_TIMEOUT_SECONDS": "5"},
    )  # fmt: skip
    try:
        yield FlashServer(server, metrics_port, redis_server.url)
    finally:
        assert stop_child(server.process, name="api-server", sig=signal.SIGTERM, timeout=30) == 0
        postgres.drop_database(database.name)


@pytest.fixture(scope="module")
def api(flash: FlashServer) -> Iterator[ApiSession]:
    with ApiSession(flash.server) as session:
        yield session


@pytest.fixture(scope="module")
def db(flash: FlashServer) -> OwnerDatabase:
    return OwnerDatabase(flash.server.owner_dsn)


def stock_key(tenant: TenantClient, code: str) -> str:
    return f"vf:{{{tenant.id}:{code}}}:stock"


def redis_units(flash: FlashServer, tenant: TenantClient, code: str) -> int | None:
    value = flash.redis.hget(stock_key(tenant, code), "units")
    return int(value) if value is not None else None


def pg_voucher(db: OwnerDatabase, tenant: TenantClient, code: str) -> Any:
    rows = db.fetch(
        "SELECT id, redemption_count, max_redemptions FROM vouchers WHERE tenant_id = $1 AND code = $2",
        uuid.UUID(tenant.id), code,
    )  # fmt: skip
    assert len(rows) == 1
    return rows[0]


def pg_remaining(db: OwnerDatabase, tenant: TenantClient, code: str) -> int:
    row = pg_voucher(db, tenant, code)
    return row["max_redemptions"] - row["redemption_count"]


def redemption_rows(db: OwnerDatabase, tenant: TenantClient, code: str) -> int:
    return db.fetchval(
        "SELECT count(*) FROM redemptions WHERE tenant_id = $1 AND voucher_code = $2 AND status = 'SUCCEEDED'",
        uuid.UUID(tenant.id), code,
    )  # fmt: skip


def current_xid(db: OwnerDatabase) -> int:
    """PostgreSQL's transaction id counter: only a transaction that writes (or tries to) consumes one."""
    return int(db.fetchval("SELECT pg_current_xact_id()::text"))


def flash_voucher(tenant: TenantClient, stock: int, **fields: Any) -> voucher_pb2.Voucher:
    return tenant.create_voucher(max_redemptions=stock, flash_sale=True, **fields)


def warm_key(tenant: TenantClient, code: str) -> None:
    """The API key's first use reads PostgreSQL (then it is cached): do that before the sale, as any live key has."""
    tenant.vouchers.GetVoucher(voucher_service_pb2.GetVoucherRequest(code=code))


# The stampede


@pytest.mark.parametrize("stock", [100, 1])
def test_1000_threads_get_exactly_the_stock_and_the_gate_keeps_the_rest_off_postgres(
    api: ApiSession, db: OwnerDatabase, flash: FlashServer, stock: int
) -> None:
    tenant = api.new_tenant(plan=SALE_PLAN)
    voucher = flash_voucher(tenant, stock)
    warm_key(tenant, voucher.code)
    admitted, rejected = flash.gate("admitted"), flash.gate("rejected")
    xid_before = current_xid(db)

    started = time.monotonic()
    results = stampede(flash.server.target, tenant.secret, voucher.code, 1000)
    elapsed = time.monotonic() - started

    xid_used = current_xid(db) - xid_before - 1  # the second current_xid() takes one itself
    assert outcomes(results) == {"OK": stock, EXHAUSTED: 1000 - stock}, f"took {elapsed:.1f}s"
    row = pg_voucher(db, tenant, voucher.code)
    assert row["redemption_count"] == stock
    assert redemption_rows(db, tenant, voucher.code) == stock
    # PostgreSQL saw one write transaction per redemption attempt (plus the counter's build, which only reads).
    assert xid_used <= stock + GATE_SLACK, f"{xid_used} PostgreSQL write transactions for {stock} units"
    gate_admitted = flash.gate("admitted") - admitted
    gate_rejected = flash.gate("rejected") - rejected
    assert stock <= gate_admitted <= stock + GATE_SLACK
    assert gate_rejected >= 1000 - stock - GATE_SLACK
    assert gate_admitted + gate_rejected == 1000
    assert redis_units(flash, tenant, voucher.code) == 0 == pg_remaining(db, tenant, voucher.code)
    print(f"\nstock {stock}: {elapsed:.1f}s, gate admitted {gate_admitted:.0f}, rejected {gate_rejected:.0f}, "
          f"PostgreSQL write transactions {xid_used}")  # fmt: skip


def test_1000_threads_through_envoy_get_exactly_the_stock(gateway: Any, api_server: ApiServer) -> None:
    """The same stampede through the real Envoy (native gRPC on its public port), to the session API server."""
    db = OwnerDatabase(api_server.owner_dsn)
    with ApiSession(api_server) as session:
        tenant = session.new_tenant(plan=SALE_PLAN)
        voucher = flash_voucher(tenant, 100)
        warm_key(tenant, voucher.code)
        xid_before = current_xid(db)

        results = stampede(gateway.grpc_target, tenant.secret, voucher.code, 1000)

        xid_used = current_xid(db) - xid_before - 1
        assert outcomes(results) == {"OK": 100, EXHAUSTED: 900}
        assert pg_voucher(db, tenant, voucher.code)["redemption_count"] == 100
        assert redemption_rows(db, tenant, voucher.code) == 100
        # 900 refusals and at most a handful of PostgreSQL attempts beyond the 100 sold: the gate refused the rest.
        assert xid_used <= 100 + GATE_SLACK, f"{xid_used} PostgreSQL write transactions"


# Redis trouble in the middle of a sale


def test_redis_flushed_during_the_sale_never_oversells_and_the_counter_is_rebuilt(
    api: ApiSession, db: OwnerDatabase, flash: FlashServer
) -> None:
    tenant = api.new_tenant(plan=SALE_PLAN)
    voucher = flash_voucher(tenant, 100)
    warm_key(tenant, voucher.code)
    stop = threading.Event()
    flushes = 0

    def flusher() -> None:
        nonlocal flushes
        while not stop.is_set():
            if redemption_rows(db, tenant, voucher.code) >= 5:
                flash.redis.flushall()
                flushes += 1
            stop.wait(0.02)

    thread = threading.Thread(target=flusher)
    thread.start()
    try:
        results = stampede(flash.server.target, tenant.secret, voucher.code, 400)
    finally:
        stop.set()
        thread.join()

    assert flushes >= 1
    counts = outcomes(results)
    assert counts == {"OK": 100, EXHAUSTED: 300}
    assert pg_voucher(db, tenant, voucher.code)["redemption_count"] == 100
    assert redemption_rows(db, tenant, voucher.code) == 100
    # The next redeem finds no counter (or an over-high one) and PostgreSQL puts it right; either way the counter
    # is back, and it never says less than PostgreSQL.
    error = expect_rpc_error(tenant.redeem, voucher.code)
    assert_error(error, grpc.StatusCode.FAILED_PRECONDITION, "VOUCHER_EXHAUSTED")
    wait_for(lambda: redis_units(flash, tenant, voucher.code) == 0, what="counter rebuilt at 0", timeout=10)


def test_redis_stopped_during_the_sale_stays_exact_and_the_gate_resumes_when_it_is_back(
    api: ApiSession, db: OwnerDatabase, flash: FlashServer, redis_server: EmbeddedRedis
) -> None:
    tenant = api.new_tenant(plan=SALE_PLAN)
    voucher = flash_voucher(tenant, 100)
    warm_key(tenant, voucher.code)
    bypassed, errors_before = flash.gate("bypassed"), flash.sample("vauchflow_redis_errors_total", use="flash_sale")
    stopped = threading.Event()

    def stopper() -> None:
        wait_for(lambda: redemption_rows(db, tenant, voucher.code) >= 5, what="the sale under way", timeout=60,
                 interval=0.01)  # fmt: skip
        redis_server.stop()
        stopped.set()

    thread = threading.Thread(target=stopper)
    thread.start()
    try:
        results = stampede(flash.server.target, tenant.secret, voucher.code, 400)
        thread.join()
        assert stopped.is_set()
        # Whatever was still to come, PostgreSQL alone decided it, exactly.
        results += stampede(flash.server.target, tenant.secret, voucher.code, 50,
                            order_id=lambda i: f"late-{i}")  # fmt: skip
        assert outcomes(results) == {"OK": 100, EXHAUSTED: 350}
        assert pg_voucher(db, tenant, voucher.code)["redemption_count"] == 100
        assert redemption_rows(db, tenant, voucher.code) == 100
        assert flash.gate("bypassed") > bypassed
        assert flash.sample("vauchflow_redis_errors_total", use="flash_sale") > errors_before
        assert _health_components(api.server)["redis"] == "DOWN"  # and the health endpoint says so
    finally:
        thread.join()
        if redis_server.process is None:
            redis_server.start()

    # Redis is back (empty): the gate builds a new counter and admits again. It may still be resting for up to a
    # second after its last failure (each attempt below redeems one unit PostgreSQL-only meanwhile), so the stock
    # outlasts that second of attempts.
    admitted = flash.gate("admitted")
    second = flash_voucher(tenant, 20)

    def admitted_again() -> bool:
        tenant.redeem(second.code)
        return flash.gate("admitted") > admitted

    wait_for(admitted_again, what="the gate admitting again", timeout=10, interval=0.2)
    assert redis_units(flash, tenant, second.code) is not None


def _health_components(server: ApiServer) -> dict[str, str]:
    with grpc.insecure_channel(server.target) as channel:
        response = health_service_pb2_grpc.HealthServiceStub(channel).Check(
            health_service_pb2.CheckRequest(), timeout=10
        )
    return {name: component.status for name, component in response.components.items()}


# A failed PostgreSQL step gives its unit back


def test_a_postgres_failure_after_admission_gives_the_unit_back(
    api: ApiSession, db: OwnerDatabase, flash: FlashServer
) -> None:
    tenant = api.new_tenant(plan=SALE_PLAN)
    voucher = flash_voucher(tenant, 5)
    warm_key(tenant, voucher.code)
    trigger = f"fail_marked_{uuid.uuid4().hex[:8]}"
    db.fetch(
        f"""CREATE FUNCTION {trigger}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.order_id LIKE 'fail-%' THEN RAISE EXCEPTION 'injected failure'; END IF;
                RETURN NEW;
            END $$"""
    )
    db.fetch(f"CREATE TRIGGER {trigger} BEFORE INSERT ON redemptions FOR EACH ROW EXECUTE FUNCTION {trigger}()")
    try:
        returned = flash.gate("returned")
        # Half the stampede fails inside PostgreSQL after the gate admitted it.
        results = stampede(flash.server.target, tenant.secret, voucher.code, 40,
                           order_id=lambda i: f"fail-{i}" if i % 2 else f"ok-{i}")  # fmt: skip
        counts = outcomes(results)
        failed = counts.pop("INTERNAL/INTERNAL", 0)
        assert failed >= 1 and set(counts) <= {"OK", EXHAUSTED}, counts
        # Every failed attempt gave its unit back (a unit held by a failing attempt is not for sale meanwhile, so
        # some of the others may have been refused): Redis and PostgreSQL agree on what is left...
        assert flash.gate("returned") - returned == failed
        left = pg_remaining(db, tenant, voucher.code)
        assert left == 5 - counts["OK"]
        assert redis_units(flash, tenant, voucher.code) == left
        # ...and all of it can still be sold, exactly.
        for index in range(left):
            tenant.redemptions.RedeemVoucher(redemption_service_pb2.RedeemVoucherRequest(
                code=voucher.code, order=order(5_000, "EUR", f"ok-after-{index}")))  # fmt: skip
        assert_error(expect_rpc_error(tenant.redeem, voucher.code), grpc.StatusCode.FAILED_PRECONDITION,
                     "VOUCHER_EXHAUSTED")  # fmt: skip
        assert redis_units(flash, tenant, voucher.code) == 0 == pg_remaining(db, tenant, voucher.code)

        # And one alone, with stock left: the unit comes back at once.
        other = flash_voucher(tenant, 3)
        error = expect_rpc_error(tenant.redemptions.RedeemVoucher, redemption_service_pb2.RedeemVoucherRequest(
            code=other.code, order=order(5_000, "EUR", "fail-alone")))  # fmt: skip
        assert error.code() == grpc.StatusCode.INTERNAL
        assert "injected" not in (error.details() or "")
        assert redis_units(flash, tenant, other.code) == 3 == pg_remaining(db, tenant, other.code)
    finally:
        db.fetch(f"DROP TRIGGER {trigger} ON redemptions")
        db.fetch(f"DROP FUNCTION {trigger}()")


def test_a_denial_after_admission_gives_the_unit_back(api: ApiSession, flash: FlashServer, db: OwnerDatabase) -> None:
    tenant = api.new_tenant(plan=SALE_PLAN)
    voucher = flash_voucher(tenant, 3, min_order_amount=10_000, currency="EUR")
    error = expect_rpc_error(tenant.redeem, voucher.code, amount=500)
    assert_error(error, grpc.StatusCode.FAILED_PRECONDITION, "ORDER_BELOW_MINIMUM")
    assert redis_units(flash, tenant, voucher.code) == 3 == pg_remaining(db, tenant, voucher.code)


# Rollback, replays, updates


def test_rollback_of_a_flash_sale_redemption_returns_the_unit_in_both_places(
    api: ApiSession, db: OwnerDatabase, flash: FlashServer
) -> None:
    tenant = api.new_tenant(plan=SALE_PLAN)
    voucher = flash_voucher(tenant, 1)
    redeemed = tenant.redeem(voucher.code)
    assert redis_units(flash, tenant, voucher.code) == 0 == pg_remaining(db, tenant, voucher.code)
    assert_error(expect_rpc_error(tenant.redeem, voucher.code), grpc.StatusCode.FAILED_PRECONDITION,
                 "VOUCHER_EXHAUSTED")  # fmt: skip

    tenant.redemptions.RollbackRedemption(
        redemption_service_pb2.RollbackRedemptionRequest(id=redeemed.redemption.id, reason="order cancelled")
    )

    assert redis_units(flash, tenant, voucher.code) == 1 == pg_remaining(db, tenant, voucher.code)
    tenant.redeem(voucher.code)  # the returned unit can be sold again
    assert redis_units(flash, tenant, voucher.code) == 0 == pg_remaining(db, tenant, voucher.code)


def test_idempotent_replays_take_no_units_even_when_sold_out(
    api: ApiSession, db: OwnerDatabase, flash: FlashServer
) -> None:
    tenant = api.new_tenant(plan=SALE_PLAN)
    voucher = flash_voucher(tenant, 2)
    request = redemption_service_pb2.RedeemVoucherRequest(
        code=voucher.code, order=order(5_000, "EUR", "order-1"), request_id="checkout-1"
    )
    first = tenant.redemptions.RedeemVoucher(request)
    again = tenant.redemptions.RedeemVoucher(request)
    assert again.redemption.id == first.redemption.id
    assert redis_units(flash, tenant, voucher.code) == 1 == pg_remaining(db, tenant, voucher.code)

    tenant.redeem(voucher.code)  # the last unit
    assert redis_units(flash, tenant, voucher.code) == 0
    # Sold out at the gate, yet the retry of a request that succeeded still gets its original result.
    replay = tenant.redemptions.RedeemVoucher(request)
    assert replay.redemption.id == first.redemption.id
    assert redis_units(flash, tenant, voucher.code) == 0 == pg_remaining(db, tenant, voucher.code)


def test_flash_sale_is_stored_returned_and_requires_a_stock(api: ApiSession, db: OwnerDatabase) -> None:
    tenant = api.new_tenant(plan=SALE_PLAN)
    error = expect_rpc_error(tenant.create_voucher, flash_sale=True)
    assert_invalid(error, "voucher.flash_sale")

    voucher = flash_voucher(tenant, 10)
    assert voucher.flash_sale
    got = tenant.vouchers.GetVoucher(voucher_service_pb2.GetVoucherRequest(code=voucher.code)).voucher
    assert got.flash_sale
    assert db.fetchval("SELECT flash_sale FROM vouchers WHERE code = $1", voucher.code) is True
    payload = db.fetchval(
        "SELECT payload FROM outbox_events WHERE tenant_id = $1 AND type = 'voucher.created'", uuid.UUID(tenant.id)
    )
    assert '"flash_sale": true' in payload

    ordinary = tenant.create_voucher(max_redemptions=5)
    assert not ordinary.flash_sale
    updated = update_voucher(tenant, ordinary.code, {"flash_sale": True}, flash_sale=True)
    assert updated.flash_sale
    turned_off = update_voucher(tenant, ordinary.code, {"flash_sale": False}, flash_sale=False)
    assert not turned_off.flash_sale
    error = expect_rpc_error(update_voucher, tenant, voucher.code, {"max_redemptions": None}, max_redemptions=None)
    assert_invalid(error, "voucher.flash_sale")


def update_voucher(tenant: TenantClient, code: str, _fields: dict[str, Any], **fields: Any) -> voucher_pb2.Voucher:
    message = voucher_pb2.Voucher(code=code, **{k: v for k, v in fields.items() if v is not None})
    return tenant.vouchers.UpdateVoucher(
        voucher_service_pb2.UpdateVoucherRequest(
            voucher=message, update_mask=field_mask_pb2.FieldMask(paths=list(_fields))
        )
    ).voucher


def test_changing_the_stock_or_disabling_rebuilds_the_counter(
    api: ApiSession, db: OwnerDatabase, flash: FlashServer
) -> None:
    tenant = api.new_tenant(plan=SALE_PLAN)
    voucher = flash_voucher(tenant, 2)
    tenant.redeem(voucher.code)
    tenant.redeem(voucher.code)
    assert redis_units(flash, tenant, voucher.code) == 0

    update_voucher(tenant, voucher.code, {"max_redemptions": 5}, max_redemptions=5)
    tenant.redeem(voucher.code)  # not refused by the old counter
    assert redis_units(flash, tenant, voucher.code) == 2 == pg_remaining(db, tenant, voucher.code)

    tenant.vouchers.DisableVoucher(voucher_service_pb2.DisableVoucherRequest(code=voucher.code))
    assert_error(expect_rpc_error(tenant.redeem, voucher.code), grpc.StatusCode.FAILED_PRECONDITION,
                 "VOUCHER_DISABLED")  # fmt: skip
    update_voucher(tenant, voucher.code, {"status": None}, status=voucher_pb2.VOUCHER_STATUS_ACTIVE)
    tenant.redeem(voucher.code)
    assert redis_units(flash, tenant, voucher.code) == 1 == pg_remaining(db, tenant, voucher.code)


# Reconciliation


@pytest.mark.parametrize("wrong", [0, 42])
def test_reconciliation_corrects_a_drifted_counter_and_counts_it(
    api: ApiSession, db: OwnerDatabase, flash: FlashServer, wrong: int
) -> None:
    tenant = api.new_tenant(plan=SALE_PLAN)
    voucher = flash_voucher(tenant, 10)
    tenant.redeem(voucher.code)
    assert redis_units(flash, tenant, voucher.code) == 9
    corrections = flash.sample("vauchflow_flash_sale_reconciliation_corrections_total")

    flash.redis.hset(stock_key(tenant, voucher.code), "units", wrong)

    wait_for(lambda: redis_units(flash, tenant, voucher.code) == 9, what="the counter corrected", timeout=15)
    assert pg_remaining(db, tenant, voucher.code) == 9
    assert flash.sample("vauchflow_flash_sale_reconciliation_corrections_total") >= corrections + 1


def test_reconciliation_drops_the_counter_of_a_voucher_no_longer_on_flash_sale(
    api: ApiSession, flash: FlashServer
) -> None:
    tenant = api.new_tenant(plan=SALE_PLAN)
    voucher = tenant.create_voucher(max_redemptions=4)
    # A counter left behind (as if its deletion after the update had failed) must not refuse an ordinary voucher.
    flash.redis.hset(stock_key(tenant, voucher.code), mapping={"units": 0, "version": 1})
    wait_for(lambda: redis_units(flash, tenant, voucher.code) is None, what="the stray counter dropped", timeout=15)
    tenant.redeem(voucher.code)


def test_a_duplicate_of_an_admitted_redeem_gets_its_result_even_though_the_gate_is_sold_out(
    api: ApiSession, db: OwnerDatabase, flash: FlashServer
) -> None:
    """Double submit of the last unit: the duplicate finds the gate sold out while the first is still in its
    transaction; it waits for the first's idempotency key and replays its redemption instead of refusing."""
    tenant = api.new_tenant()
    voucher = flash_voucher(tenant, stock=1)
    warm_key(tenant, voucher.code)
    request = redemption_service_pb2.RedeemVoucherRequest(
        code=voucher.code, order=redemption_pb2.Order(amount=1000, currency="EUR"), request_id="double-submit"
    )
    owner_dsn = flash.server.owner_dsn
    locked, release = threading.Event(), threading.Event()

    def hold_voucher_row() -> None:
        async def hold() -> None:
            conn = await asyncpg.connect(owner_dsn)
            try:
                async with conn.transaction():
                    await conn.execute("SELECT 1 FROM vouchers WHERE id = $1 FOR UPDATE", uuid.UUID(voucher.id))
                    locked.set()
                    await asyncio.get_running_loop().run_in_executor(None, release.wait, 30)
            finally:
                await conn.close()

        asyncio.run(hold())

    def lock_waiters() -> int:
        return db.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = 'vauchflow_app' AND wait_event_type = 'Lock'"
        )

    results: dict[str, Any] = {}

    def redeem(name: str) -> None:
        try:
            results[name] = tenant.redemptions.RedeemVoucher(request)
        except grpc.RpcError as error:
            results[name] = error

    holder = threading.Thread(target=hold_voucher_row)
    holder.start()
    try:
        assert locked.wait(10)
        first = threading.Thread(target=redeem, args=("first",))
        first.start()
        wait_for(lambda: lock_waiters() >= 1, what="the first redeem waits on the voucher row", timeout=10)
        assert redis_units(flash, tenant, voucher.code) == 0  # its unit is taken: the gate is sold out
        duplicate = threading.Thread(target=redeem, args=("duplicate",))
        duplicate.start()
        wait_for(lambda: lock_waiters() >= 2, what="the duplicate waits on the first's request_id", timeout=10)
    finally:
        release.set()
        holder.join(30)
    first.join(30)
    duplicate.join(30)
    assert not isinstance(results["first"], grpc.RpcError), results["first"]
    assert not isinstance(results["duplicate"], grpc.RpcError), results["duplicate"]
    assert results["duplicate"].redemption.id == results["first"].redemption.id
    assert redemption_rows(db, tenant, voucher.code) == 1
