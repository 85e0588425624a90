"""The pure rules of redemption: why a voucher or an order is refused, in which order, and the discount."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from vauchflow_core import errors
from vauchflow_core.errors import InvalidArgument, Violations
from vauchflow_server.redemption_rules import (
    Order,
    check_order,
    customer_denial,
    discount_amount,
    order_denial,
    voucher_denial,
)
from vauchflow_server.vouchers import MAX_AMOUNT, Voucher, VoucherTerms

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def voucher(redemption_count: int = 0, **terms) -> Voucher:
    terms.setdefault("percent_off", 10)
    return Voucher(uuid.uuid4(), "CODE", VoucherTerms(**terms), redemption_count, NOW, NOW)


def order(amount: int = 10_000, currency: str | None = "EUR") -> Order:
    return Order("order-1", amount, currency)


def test_an_active_voucher_in_its_window_with_stock_is_redeemable() -> None:
    v = voucher(max_redemptions=5, redemption_count=4, valid_from=NOW - timedelta(days=1),
                valid_until=NOW + timedelta(days=1))  # fmt: skip
    assert voucher_denial(v, NOW) is None
    assert order_denial(v, order()) is None
    assert customer_denial(v, 0) is None


def test_unlimited_voucher_is_never_exhausted() -> None:
    assert voucher_denial(voucher(redemption_count=10**9), NOW) is None


def test_disabled() -> None:
    assert voucher_denial(voucher(status="DISABLED"), NOW) == errors.VOUCHER_DISABLED


def test_not_yet_valid_until_the_exact_start() -> None:
    v = voucher(valid_from=NOW)
    assert voucher_denial(v, NOW - timedelta(microseconds=1)) == errors.VOUCHER_NOT_YET_VALID
    assert voucher_denial(v, NOW) is None


def test_expired_from_the_exact_end() -> None:
    v = voucher(valid_until=NOW)
    assert voucher_denial(v, NOW - timedelta(microseconds=1)) is None
    assert voucher_denial(v, NOW) == errors.VOUCHER_EXPIRED


def test_exhausted_at_max_redemptions() -> None:
    assert voucher_denial(voucher(max_redemptions=3, redemption_count=2), NOW) is None
    assert voucher_denial(voucher(max_redemptions=3, redemption_count=3), NOW) == errors.VOUCHER_EXHAUSTED


def test_voucher_denials_in_precedence_order_disabled_then_window_then_stock() -> None:
    every_problem = dict(status="DISABLED", valid_from=NOW + timedelta(days=1), valid_until=NOW + timedelta(days=2),
                         max_redemptions=1, redemption_count=1)  # fmt: skip
    assert voucher_denial(voucher(**every_problem), NOW) == errors.VOUCHER_DISABLED
    every_problem["status"] = "ACTIVE"
    assert voucher_denial(voucher(**every_problem), NOW) == errors.VOUCHER_NOT_YET_VALID
    # Expired and exhausted: expiry wins.
    expired_and_exhausted = dict(valid_until=NOW - timedelta(days=1), max_redemptions=1, redemption_count=1)
    assert voucher_denial(voucher(**expired_and_exhausted), NOW) == errors.VOUCHER_EXPIRED


def test_currency_mismatch() -> None:
    v = voucher(percent_off=None, amount_off=500, currency="EUR")
    assert order_denial(v, order(currency="USD")) == errors.CURRENCY_MISMATCH
    assert order_denial(v, order(currency="EUR")) is None


def test_a_voucher_with_a_currency_needs_an_order_in_it_whatever_its_discount() -> None:
    assert order_denial(voucher(percent_off=None, amount_off=500, currency="EUR"), order(currency=None)) == (
        errors.CURRENCY_MISMATCH
    )
    # Issue 16, finding 8: a percentage too (it used to let an order without a currency through).
    assert order_denial(voucher(percent_off=10, currency="EUR"), order(currency=None)) == errors.CURRENCY_MISMATCH
    assert order_denial(voucher(percent_off=10), order(currency="JPY")) is None


def test_order_below_minimum_and_exactly_at_it() -> None:
    v = voucher(min_order_amount=5_000, currency="EUR")
    assert order_denial(v, order(amount=4_999)) == errors.ORDER_BELOW_MINIMUM
    assert order_denial(v, order(amount=5_000)) is None


def test_currency_mismatch_takes_precedence_over_minimum() -> None:
    v = voucher(min_order_amount=5_000, currency="EUR")
    assert order_denial(v, order(amount=1, currency="USD")) == errors.CURRENCY_MISMATCH


def test_customer_limit() -> None:
    v = voucher(per_customer_limit=2)
    assert customer_denial(v, 1) is None
    assert customer_denial(v, 2) == errors.CUSTOMER_LIMIT_REACHED
    assert customer_denial(voucher(), 1000) is None


@pytest.mark.parametrize(
    ("percent", "amount", "expected"),
    [
        (10, 10_000, 1_000),
        (15, 999, 149),  # 149.85 rounds down, in the merchant's favour
        (50, 1, 0),  # 0.5 rounds down
        (33, 3, 0),
        (1, 99, 0),
        (100, 12_345, 12_345),
        (25, 0, 0),
        (100, MAX_AMOUNT, MAX_AMOUNT),
    ],
)
def test_percentage_discount_rounds_down(percent: int, amount: int, expected: int) -> None:
    assert discount_amount(voucher(percent_off=percent), order(amount=amount)) == expected


def test_fixed_discount_is_capped_at_the_order_amount() -> None:
    v = voucher(percent_off=None, amount_off=2_000, currency="EUR")
    assert discount_amount(v, order(amount=5_000)) == 2_000
    assert discount_amount(v, order(amount=2_000)) == 2_000
    assert discount_amount(v, order(amount=1_500)) == 1_500
    assert discount_amount(v, order(amount=0)) == 0


def _order_violations(o: Order, customer_id: str = "") -> list[str]:
    violations = Violations()
    check_order(o, customer_id, violations)
    try:
        violations.raise_if_any()
    except InvalidArgument as error:
        return [v.field for v in error.violations]
    return []


def test_check_order_names_each_bad_field() -> None:
    assert _order_violations(order()) == []
    assert _order_violations(order(amount=-1)) == ["order.amount"]
    assert _order_violations(order(amount=MAX_AMOUNT + 1)) == ["order.amount"]
    assert _order_violations(order(currency="EURO")) == ["order.currency"]
    assert _order_violations(dataclasses.replace(order(), id="x" * 201)) == ["order.id"]
    assert _order_violations(order(), customer_id="c" * 201) == ["customer_id"]
    assert _order_violations(order(amount=-5, currency="XXX"), customer_id="c" * 201) == [
        "order.amount", "order.currency", "customer_id",
    ]  # fmt: skip
