"""The rules of redemption, as pure functions: may this order use this voucher now, and for how much?

The redemption engine runs them before and after its atomic UPDATE; validation runs them alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from vauchflow_core import errors
from vauchflow_server.vouchers import ACTIVE, MAX_AMOUNT, Voucher
from vauchflow_server.currencies import is_known_currency
from vauchflow_core.errors import Violations

MAX_CUSTOMER_ID_LENGTH = 200
MAX_ORDER_ID_LENGTH = 200


@dataclass(frozen=True)
class Order:
    id: str
    amount: int
    currency: str | None


def check_order(order: Order, customer_id: str, violations: Violations) -> None:
    if not 0 <= order.amount <= MAX_AMOUNT:
        violations.add("order.amount", f"must be between 0 and {MAX_AMOUNT}")
    if order.currency is not None and not is_known_currency(order.currency):
        violations.add("order.currency", "must be an ISO 4217 currency code such as EUR")
    if len(order.id) > MAX_ORDER_ID_LENGTH:
        violations.add("order.id", f"at most {MAX_ORDER_ID_LENGTH} characters")
    if len(customer_id) > MAX_CUSTOMER_ID_LENGTH:
        violations.add("customer_id", f"at most {MAX_CUSTOMER_ID_LENGTH} characters")


def voucher_denial(voucher: Voucher, now: datetime) -> str | None:
    """Why the voucher itself cannot be redeemed now (state, validity window, stock), or None."""
    terms = voucher.terms
    if terms.status != ACTIVE:
        return errors.VOUCHER_DISABLED
    if terms.valid_from is not None and now < terms.valid_from:
        return errors.VOUCHER_NOT_YET_VALID
    if terms.valid_until is not None and now >= terms.valid_until:
        return errors.VOUCHER_EXPIRED
    if voucher.remaining is not None and voucher.remaining <= 0:
        return errors.VOUCHER_EXHAUSTED
    return None


def order_denial(voucher: Voucher, order: Order) -> str | None:
    """Why this order cannot use the voucher (currency, minimum amount), or None."""
    terms = voucher.terms
    if terms.currency is not None and order.currency is not None and order.currency != terms.currency:
        return errors.CURRENCY_MISMATCH
    if terms.currency is not None and order.currency is None and terms.amount_off is not None:
        return errors.CURRENCY_MISMATCH
    if terms.min_order_amount is not None and order.amount < terms.min_order_amount:
        return errors.ORDER_BELOW_MINIMUM
    return None


def customer_denial(voucher: Voucher, customer_redemptions: int) -> str | None:
    limit = voucher.terms.per_customer_limit
    if limit is not None and customer_redemptions >= limit:
        return errors.CUSTOMER_LIMIT_REACHED
    return None


def discount_amount(voucher: Voucher, order: Order) -> int:
    """The discount in minor units; never more than the order. Percentages round half down in the merchant's favour."""
    terms = voucher.terms
    if terms.percent_off is not None:
        return order.amount * terms.percent_off // 100
    return min(terms.amount_off or 0, order.amount)
