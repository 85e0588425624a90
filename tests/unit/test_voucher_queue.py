"""The per-voucher limit: never more than `limit` holders for one voucher, first come first served, other
vouchers unaffected, and no state left behind."""

from __future__ import annotations

import asyncio

from vauchflow_server.redemption.voucher_queue import PerVoucherLimit


async def test_one_voucher_never_has_more_than_the_limit_in_flight_and_waiters_go_in_arrival_order():
    limit = PerVoucherLimit(2)
    in_flight, most, order = 0, 0, []
    release = asyncio.Event()

    async def redeem(n: int) -> None:
        nonlocal in_flight, most
        async with limit.slot("hot"):
            in_flight += 1
            most = max(most, in_flight)
            order.append(n)
            await release.wait()
            in_flight -= 1

    tasks = [asyncio.create_task(redeem(n)) for n in range(10)]
    while len(order) < 2:
        await asyncio.sleep(0)
    assert order == [0, 1] and in_flight == 2  # the other eight wait
    release.set()
    await asyncio.gather(*tasks)
    assert most == 2
    assert order == list(range(10))
    assert len(limit) == 0


async def test_other_vouchers_are_not_held_up():
    limit = PerVoucherLimit(1)
    hot_entered = asyncio.Event()
    blocker = asyncio.Event()

    async def hold_hot() -> None:
        async with limit.slot("hot"):
            hot_entered.set()
            await blocker.wait()

    holder = asyncio.create_task(hold_hot())
    await hot_entered.wait()
    async with limit.slot("other"):
        pass  # entered at once although "hot" is full
    blocker.set()
    await holder
    assert len(limit) == 0


async def test_a_cancelled_waiter_leaves_nothing_behind():
    limit = PerVoucherLimit(1)
    entered = asyncio.Event()
    blocker = asyncio.Event()

    async def hold() -> None:
        async with limit.slot("v"):
            entered.set()
            await blocker.wait()

    holder = asyncio.create_task(hold())
    await entered.wait()
    waiter = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter.cancel()
    blocker.set()
    await holder
    await asyncio.gather(waiter, return_exceptions=True)
    assert len(limit) == 0


async def test_zero_means_no_limit():
    limit = PerVoucherLimit(0)
    async with limit.slot("v"), limit.slot("v"), limit.slot("v"):
        assert len(limit) == 0
