"""The one decision of a redeem, as a table: every refusal reason, the edges of every limit, and the gate's answers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from vauchflow_core import errors
from vauchflow_server.redemption_rules import GateAnswer, Order, Redeem, Refuse, decide_redeem
from vauchflow_server.vouchers import Voucher, VoucherTerms

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TICK = timedelta(microseconds=1)


def voucher(count: int = 0, **terms: Any) -> Voucher:
    if "amount_off" not in terms:
        terms.setdefault("percent_off", 10)
    return Voucher(uuid.uuid4(), "CODE", VoucherTerms(**terms), count, NOW, NOW)


def order(amount: int = 10_000, currency: str | None = "EUR") -> Order:
    return Order("order-1", amount, currency)


@dataclass(frozen=True)
class Case:
    name: str
    voucher: Voucher
    expected: Redeem | Refuse
    order: Order = field(default_factory=order)
    now: datetime = NOW
    customer_redemptions: int | None = None
    admitted_in_batch: int = 0
    gate: GateAnswer | None = None


def refused(reason: str) -> Refuse:
    return Refuse(reason)


def redeemed(discount: int = 1_000, *, exhausts: bool = False) -> Redeem:
    return Redeem(discount, exhausts)


CASES = [
    Case("an unlimited active voucher", voucher(), redeemed()),
    # State
    Case("disabled", voucher(status="DISABLED"), refused(errors.VOUCHER_DISABLED)),
    # Validity window: valid from its first instant, expired from its last
    Case("one tick before valid_from", voucher(valid_from=NOW + TICK), refused(errors.VOUCHER_NOT_YET_VALID)),
    Case("exactly at valid_from", voucher(valid_from=NOW), redeemed()),
    Case("one tick before valid_until", voucher(valid_until=NOW + TICK), redeemed()),
    Case("exactly at valid_until", voucher(valid_until=NOW), refused(errors.VOUCHER_EXPIRED)),
    Case("inside both ends", voucher(valid_from=NOW - TICK, valid_until=NOW + TICK), redeemed()),
    # Stock: the count at the edge, alone and after earlier redeems of the same batch
    Case("count = max - 2", voucher(3, max_redemptions=5), redeemed()),
    Case("count = max - 1 takes the last unit", voucher(4, max_redemptions=5), redeemed(exhausts=True)),
    Case("count = max", voucher(5, max_redemptions=5), refused(errors.VOUCHER_EXHAUSTED)),
    Case("count above max (never stored; still refused)", voucher(6, max_redemptions=5),
         refused(errors.VOUCHER_EXHAUSTED)),
    Case("single use, unused", voucher(max_redemptions=1), redeemed(exhausts=True)),
    Case("batch: 1 admitted, 1 left after", voucher(2, max_redemptions=5), redeemed(), admitted_in_batch=1),
    Case("batch: 1 admitted, this takes the last", voucher(3, max_redemptions=5), redeemed(exhausts=True),
         admitted_in_batch=1),
    Case("batch: admitted ones took the last", voucher(3, max_redemptions=5), refused(errors.VOUCHER_EXHAUSTED),
         admitted_in_batch=2),
    Case("batch: unlimited is never exhausted", voucher(10**9), redeemed(), admitted_in_batch=10**6),
    # Per-customer limit: only when the customer's count is known
    Case("customer count = limit - 1", voucher(per_customer_limit=2), redeemed(), customer_redemptions=1),
    Case("customer count = limit", voucher(per_customer_limit=2), refused(errors.CUSTOMER_LIMIT_REACHED),
         customer_redemptions=2),
    Case("customer count above limit", voucher(per_customer_limit=2), refused(errors.CUSTOMER_LIMIT_REACHED),
         customer_redemptions=3),
    Case("customer count not known yet (taken atomically later)", voucher(per_customer_limit=1), redeemed()),
    Case("a customer count without a limit", voucher(), redeemed(), customer_redemptions=100),
    # Minimum order amount
    Case("one below the minimum", voucher(min_order_amount=5_000), refused(errors.ORDER_BELOW_MINIMUM),
         order(4_999)),
    Case("exactly the minimum", voucher(min_order_amount=5_000), redeemed(500), order(5_000)),
    # Currency
    Case("amount off, other currency", voucher(amount_off=500, currency="EUR"), refused(errors.CURRENCY_MISMATCH),
         order(currency="USD")),
    Case("amount off, no order currency", voucher(amount_off=500, currency="EUR"), refused(errors.CURRENCY_MISMATCH),
         order(currency=None)),
    Case("amount off, same currency", voucher(amount_off=500, currency="EUR"), redeemed(500)),
    Case("percent off with a currency, other currency", voucher(currency="EUR"), refused(errors.CURRENCY_MISMATCH),
         order(currency="USD")),
    # Issue 16, finding 8: an order that names no currency can't use a voucher that has one, percentage or not.
    Case("percent off with a currency, no order currency", voucher(currency="EUR"), refused(errors.CURRENCY_MISMATCH),
         order(currency=None)),
    Case("no voucher currency, any order currency", voucher(), redeemed(), order(currency="JPY")),
    # Discount
    Case("amount off never exceeds the order", voucher(amount_off=500, currency="EUR"), redeemed(300), order(300)),
    Case("percent rounds down", voucher(percent_off=15), redeemed(14), order(99)),
    Case("a free order", voucher(), redeemed(0), order(0)),
    # Which reason wins when several hold: voucher state, window, stock, then the order, then the customer
    Case("disabled before not yet valid", voucher(status="DISABLED", valid_from=NOW + TICK),
         refused(errors.VOUCHER_DISABLED)),
    Case("expired before exhausted", voucher(1, max_redemptions=1, valid_until=NOW), refused(errors.VOUCHER_EXPIRED)),
    Case("exhausted before the order's currency", voucher(1, max_redemptions=1, amount_off=5, currency="EUR"),
         refused(errors.VOUCHER_EXHAUSTED), order(currency="USD")),
    Case("currency before the minimum", voucher(amount_off=5, currency="EUR", min_order_amount=500),
         refused(errors.CURRENCY_MISMATCH), order(100, "USD")),
    Case("the order before the customer", voucher(min_order_amount=500, per_customer_limit=1),
         refused(errors.ORDER_BELOW_MINIMUM), order(100), customer_redemptions=1),
    # The flash-sale gate's answer: only "sold out" decides anything, and it comes first (no PostgreSQL was asked)
    Case("gate admitted", voucher(4, max_redemptions=5, flash_sale=True), redeemed(exhausts=True),
         gate=GateAnswer.ADMITTED),
    Case("gate admitted, but PostgreSQL has none left", voucher(5, max_redemptions=5, flash_sale=True),
         refused(errors.VOUCHER_EXHAUSTED), gate=GateAnswer.ADMITTED),
    Case("gate admitted, order refused", voucher(min_order_amount=500, flash_sale=True),
         refused(errors.ORDER_BELOW_MINIMUM), order(100), gate=GateAnswer.ADMITTED),
    Case("no counter: PostgreSQL decides", voucher(max_redemptions=5), redeemed(), gate=GateAnswer.MISSING),
    Case("Redis bypassed: PostgreSQL decides", voucher(5, max_redemptions=5, flash_sale=True),
         refused(errors.VOUCHER_EXHAUSTED), gate=GateAnswer.BYPASSED),
    Case("gate sold out, stock left in PostgreSQL", voucher(max_redemptions=5, flash_sale=True),
         refused(errors.VOUCHER_EXHAUSTED), gate=GateAnswer.SOLD_OUT),
    Case("gate sold out before any other reason", voucher(status="DISABLED", valid_until=NOW, flash_sale=True),
         refused(errors.VOUCHER_EXHAUSTED), gate=GateAnswer.SOLD_OUT),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_decide_redeem(case: Case) -> None:
    decision = decide_redeem(
        case.voucher,
        case.order,
        case.now,
        customer_redemptions=case.customer_redemptions,
        admitted_in_batch=case.admitted_in_batch,
        gate=case.gate,
    )
    assert decision == case.expected


def test_the_table_covers_every_refusal_reason_and_every_gate_answer() -> None:
    reasons = {case.expected.reason for case in CASES if isinstance(case.expected, Refuse)}
    assert reasons == {
        errors.VOUCHER_EXHAUSTED,
        errors.VOUCHER_EXPIRED,
        errors.VOUCHER_NOT_YET_VALID,
        errors.VOUCHER_DISABLED,
        errors.CUSTOMER_LIMIT_REACHED,
        errors.ORDER_BELOW_MINIMUM,
        errors.CURRENCY_MISMATCH,
    }
    assert {case.gate for case in CASES} == {None, *GateAnswer}


def test_a_batch_admits_exactly_the_remaining_stock_in_arrival_order() -> None:
    """What the batch does with the decision: each redeem after the ones it admitted, until none is left."""
    stock = voucher(7, max_redemptions=10)
    decisions = [decide_redeem(stock, order(), NOW, admitted_in_batch=n) for n in range(5)]
    assert decisions == [redeemed(), redeemed(), redeemed(exhausts=True)] + [refused(errors.VOUCHER_EXHAUSTED)] * 2


def test_the_decision_does_not_change_the_voucher_it_was_given() -> None:
    v = voucher(3, max_redemptions=5)
    decide_redeem(v, order(), NOW, admitted_in_batch=2)
    assert v.redemption_count == 3
