"""A redeem's flash-sale claim as one scope: settled exactly once on every way out, kept only when PostgreSQL
counted the unit (or proved none was left), and settled by whoever holds it once a batch takes it over.

The gate's Redis side is an in-memory fake that keeps the Lua scripts' contract (a take holds a lease; a settle ends
it, giving the unit back only if asked and only once per lease), so these tests need no Redis.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest

from vauchflow_core import errors
from vauchflow_server.redemption.engine import GateClaim, RedeemResult
from vauchflow_server.redemption.flash_sale_gate import StockClaim, UnitReturn, VoucherKey
from vauchflow_server.redemption_rules import GateAnswer, Order
from vauchflow_server.redemptions import Redemption
from vauchflow_server.vouchers import Voucher, VoucherTerms

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEY = VoucherKey(uuid.uuid4(), "SALE")


class FakeRedis:
    """The gate's counter and leases for one voucher, as FlashSaleGate._take and ._settle see them."""

    def __init__(self, units: int | None) -> None:
        self.units = units
        self.leases: set[str] = set()
        self.settles: list[bool] = []  # give_back of every settle that reached "Redis"
        self.take_entered = asyncio.Event()
        self.take_released = asyncio.Event()
        self.take_released.set()

    async def _take(self, claim: StockClaim, remaining: int | None) -> GateAnswer:
        lease = uuid.uuid4().hex
        claim._hold(lease)  # as the real gate: held before the call, so a cancelled take is still settled
        self.take_entered.set()
        await self.take_released.wait()
        if self.units is None and remaining is not None:
            self.units = remaining
        if self.units is None or self.units <= 0:
            claim._hold(None)
            return GateAnswer.MISSING if self.units is None else GateAnswer.SOLD_OUT
        self.units -= 1
        self.leases.add(lease)
        return GateAnswer.ADMITTED

    async def _settle(self, key: VoucherKey, lease: str, give_back: bool) -> None:
        self.settles.append(give_back)
        if lease in self.leases:
            self.leases.discard(lease)
            if give_back and self.units is not None:
                self.units += 1

    async def hold_for_return(self, tenant_id: uuid.UUID, code: str) -> StockClaim:
        claim = StockClaim(self, VoucherKey(tenant_id, code))  # type: ignore[arg-type]
        lease = uuid.uuid4().hex
        self.leases.add(lease)
        claim._hold(lease)
        return claim


def claim_on(redis: FakeRedis) -> GateClaim:
    return GateClaim(StockClaim(redis, KEY))  # type: ignore[arg-type]


def result(*, replayed: bool = False) -> RedeemResult:
    voucher = Voucher(uuid.uuid4(), "SALE", VoucherTerms(percent_off=10, flash_sale=True), 1, NOW, NOW)
    redemption = Redemption(uuid.uuid4(), voucher.id, "SALE", "", Order("o", 100, "EUR"), 10, "SUCCEEDED")
    return RedeemResult(redemption, voucher, replayed=replayed)


async def test_a_new_redemption_keeps_its_unit_settled_once() -> None:
    redis = FakeRedis(units=3)
    async with claim_on(redis) as claim:
        assert claim.answer is GateAnswer.ADMITTED
        assert redis.units == 2
        claim.outcome = result()
    assert (redis.units, redis.leases, redis.settles) == (2, set(), [False])


async def test_a_replay_gives_its_unit_back() -> None:
    redis = FakeRedis(units=3)
    async with claim_on(redis) as claim:
        claim.outcome = result(replayed=True)
    assert (redis.units, redis.leases, redis.settles) == (3, set(), [True])


@pytest.mark.parametrize(
    ("refusal", "units_after"),
    [
        (errors.VOUCHER_EXHAUSTED, 2),  # PostgreSQL proved none left: the counter was too high, keeping lowers it
        (errors.VOUCHER_EXPIRED, 3),
        (errors.ORDER_BELOW_MINIMUM, 3),
        (errors.CUSTOMER_LIMIT_REACHED, 3),
    ],
)
async def test_a_refusal_keeps_the_unit_only_when_none_was_left(refusal: str, units_after: int) -> None:
    redis = FakeRedis(units=3)
    with pytest.raises(errors.RedemptionDenied):
        async with claim_on(redis):
            raise errors.denied(refusal)
    assert (redis.units, redis.leases, len(redis.settles)) == (units_after, set(), 1)


async def test_an_error_gives_the_unit_back() -> None:
    redis = FakeRedis(units=3)
    with pytest.raises(errors.Unavailable):
        async with claim_on(redis) as claim:
            claim.outcome = result()  # the result was computed, then the COMMIT failed
            raise errors.Unavailable("the connection was lost")
    assert (redis.units, redis.leases, redis.settles) == (3, set(), [True])


async def test_nothing_run_gives_the_unit_back() -> None:
    redis = FakeRedis(units=3)
    async with claim_on(redis):
        pass
    assert (redis.units, redis.settles) == (3, [True])


async def test_a_cancelled_redeem_gives_its_unit_back_once() -> None:
    redis = FakeRedis(units=3)
    inside = asyncio.Event()

    async def redeem() -> None:
        async with claim_on(redis):
            inside.set()
            await asyncio.Event().wait()  # waits for PostgreSQL forever

    task = asyncio.create_task(redeem())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (redis.units, redis.leases, redis.settles) == (3, set(), [True])


async def test_a_redeem_cancelled_during_its_take_still_settles_the_lease() -> None:
    redis = FakeRedis(units=3)
    redis.take_released.clear()
    task = asyncio.create_task(claim_on(redis).__aenter__())
    await redis.take_entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert redis.settles == [True]  # the lease taken before the call was ended, giving back whatever it took


async def test_sold_out_and_no_counter_hold_nothing_to_settle() -> None:
    for units, answer in ((0, GateAnswer.SOLD_OUT), (None, GateAnswer.MISSING)):
        redis = FakeRedis(units=units)
        with pytest.raises(errors.RedemptionDenied):
            async with claim_on(redis) as claim:
                assert claim.answer is answer
                raise errors.denied(errors.VOUCHER_EXHAUSTED)
        assert redis.settles == []


async def test_a_counter_built_inside_the_scope_is_settled_by_the_scope() -> None:
    redis = FakeRedis(units=None)
    async with claim_on(redis) as claim:
        assert claim.answer is GateAnswer.MISSING
        assert claim.stock is not None
        assert await claim.stock.build_and_take(5) is GateAnswer.ADMITTED
        claim.outcome = result()
    assert (redis.units, redis.leases, redis.settles) == (4, set(), [False])


async def test_without_a_gate_the_scope_holds_nothing() -> None:
    async with GateClaim(None) as claim:
        assert claim.answer is None
        claim.outcome = result()


async def test_a_claim_handed_to_a_batch_is_settled_by_the_batch_only() -> None:
    """The caller's scope ends first (its caller was cancelled); the batch then commits the redemption: the unit
    must stay taken, and the caller's leaving must not have given it back."""
    redis = FakeRedis(units=3)
    caller_scope = claim_on(redis)
    async with caller_scope:
        batch_scope = caller_scope.hand_over()
    assert (redis.units, redis.settles) == (2, [])  # the caller's scope settled nothing
    async with batch_scope as claim:
        assert claim.answer is GateAnswer.ADMITTED  # entering the batch's scope does not take again
        claim.outcome = result()
    async with batch_scope:  # the batch's safety net leaves it again: nothing more happens
        pass
    assert (redis.units, redis.leases, redis.settles) == (2, set(), [False])


async def test_a_batch_that_is_cancelled_before_answering_gives_the_unit_back() -> None:
    redis = FakeRedis(units=3)
    async with claim_on(redis) as caller_scope:
        batch_scope = caller_scope.hand_over()
    with pytest.raises(asyncio.CancelledError):
        async with batch_scope:
            raise asyncio.CancelledError
    assert (redis.units, redis.leases, redis.settles) == (3, set(), [True])


async def test_a_rollback_returns_its_unit_only_when_its_transaction_committed() -> None:
    redis = FakeRedis(units=2)
    async with UnitReturn(redis, KEY.tenant_id) as unit_return:  # type: ignore[arg-type]
        await unit_return.hold("SALE")
    assert (redis.units, redis.leases, redis.settles) == (3, set(), [True])

    with pytest.raises(errors.Unavailable):
        async with UnitReturn(redis, KEY.tenant_id) as unit_return:  # type: ignore[arg-type]
            await unit_return.hold("SALE")
            raise errors.Unavailable("COMMIT failed")
    assert (redis.units, redis.leases, redis.settles) == (3, set(), [True, False])

    async with UnitReturn(None, KEY.tenant_id) as unit_return:  # no Redis: nothing to hold or return
        await unit_return.hold("SALE")
