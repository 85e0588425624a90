"""The rules of redemption, as pure functions: may this order use this voucher now, and for how much?

`decide_redeem` is the one decision of a redeem, made from the voucher as read, the order, the customer's count,
the units a batch has already given the voucher, and the flash-sale gate's answer. Every path of the redemption
engine calls it (a batch, a redeem alone, validation), and so does the engine after PostgreSQL's conditional UPDATE
refused, to name the reason: the SQL only guards atomically, it never decides a reason of its own.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime

from vauchflow_core import errors
from vauchflow_core.errors import Violations
from vauchflow_server.currencies import is_known_currency
from vauchflow_server.vouchers import ACTIVE, MAX_AMOUNT, Voucher

MAX_CUSTOMER_ID_LENGTH = 200
MAX_ORDER_ID_LENGTH = 200


@dataclass(frozen=True)
class Order:
    id: str
    amount: int
    currency: str | None


class GateAnswer(enum.Enum):
    """What the flash-sale pre-gate (redemption/flash_sale_gate.py) answered a redeem's claim."""

    ADMITTED = "admitted"  # a unit is held for this request
    SOLD_OUT = "rejected"  # none left: refuse without PostgreSQL
    MISSING = "missing"  # no counter (not a flash sale, or lost): PostgreSQL decides, and may build one
    BYPASSED = "bypassed"  # Redis unavailable: PostgreSQL alone


@dataclass(frozen=True)
class Redeem:
    """The redeem may go ahead: one unit, for this discount; `exhausts` when it takes the voucher's last unit."""

    discount_amount: int
    exhausts: bool


@dataclass(frozen=True)
class Refuse:
    """The redeem is refused, for this reason (an ErrorInfo reason such as VOUCHER_EXHAUSTED)."""

    reason: str


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
    campaign = voucher.campaign
    if campaign is not None and campaign.status != ACTIVE:
        return errors.CAMPAIGN_NOT_ACTIVE
    if terms.valid_from is not None and now < terms.valid_from:
        return errors.VOUCHER_NOT_YET_VALID
    if terms.valid_until is not None and now >= terms.valid_until:
        return errors.VOUCHER_EXPIRED
    if voucher.remaining is not None and voucher.remaining <= 0:
        return errors.VOUCHER_EXHAUSTED
    if (
        campaign is not None
        and campaign.max_redemptions is not None
        and (campaign.redemption_count >= campaign.max_redemptions)
    ):
        return errors.CAMPAIGN_EXHAUSTED
    return None


def order_denial(voucher: Voucher, order: Order) -> str | None:
    """Why this order cannot use the voucher (currency, minimum amount), or None."""
    terms = voucher.terms
    # A voucher with a currency needs an order in that currency: an order that names none is refused too (it
    # could be in any currency, and a percentage of "some money" is not a discount the merchant agreed to).
    if terms.currency is not None and order.currency != terms.currency:
        return errors.CURRENCY_MISMATCH
    if terms.min_order_amount is not None and order.amount < terms.min_order_amount:
        return errors.ORDER_BELOW_MINIMUM
    return None


def customer_denial(voucher: Voucher, customer_redemptions: int, campaign_redemptions: int | None = None) -> str | None:
    """`customer_redemptions`: the customer's count of this voucher; `campaign_redemptions`: of its campaign's codes."""
    limit = voucher.terms.per_customer_limit
    if limit is not None and customer_redemptions >= limit:
        return errors.CUSTOMER_LIMIT_REACHED
    campaign_limit = voucher.campaign.per_customer_limit if voucher.campaign is not None else None
    if campaign_limit is not None and campaign_redemptions is not None and campaign_redemptions >= campaign_limit:
        return errors.CUSTOMER_LIMIT_REACHED
    return None


def decide_redeem(
    voucher: Voucher,
    order: Order,
    now: datetime,
    *,
    customer_redemptions: int | None = None,
    campaign_customer_redemptions: int | None = None,
    admitted_in_batch: int = 0,
    gate: GateAnswer | None = None,
) -> Redeem | Refuse:
    """The one decision of a redeem. `customer_redemptions`: the customer's count for this voucher, when known (a
    redeem alone learns it only from its atomic upsert, so it decides without it first);
    `campaign_customer_redemptions`: the customer's count across the voucher's campaign, likewise;
    `admitted_in_batch`: units this voucher has already given earlier redeems of the same batch; `gate`: the
    flash-sale claim's answer, None without a gate. Refusals come in a fixed order: the gate's sold out, then the
    voucher (and its campaign), the order, the customer."""
    if gate is GateAnswer.SOLD_OUT:
        # The counter found none left, which stands whatever else is true of the voucher: the sold-out path refuses
        # before reading it, and a counter built from PostgreSQL's read and found empty refuses the same way.
        return Refuse(errors.VOUCHER_EXHAUSTED)
    if admitted_in_batch:
        voucher = replace(voucher, redemption_count=voucher.redemption_count + admitted_in_batch)
    reason = voucher_denial(voucher, now) or order_denial(voucher, order)
    if reason is None and (customer_redemptions is not None or campaign_customer_redemptions is not None):
        reason = customer_denial(voucher, customer_redemptions or 0, campaign_customer_redemptions)
    if reason is not None:
        return Refuse(reason)
    return Redeem(discount_amount(voucher, order), exhausts=voucher.remaining == 1)


def discount_amount(voucher: Voucher, order: Order) -> int:
    """The discount in minor units; never more than the order. Percentages round half down in the merchant's favour."""
    terms = voucher.terms
    if terms.percent_off is not None:
        return order.amount * terms.percent_off // 100
    return min(terms.amount_off or 0, order.amount)
