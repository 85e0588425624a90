"""A campaign's rules as pure functions: valid terms, what an update may change, and how a campaign's state and
limits refuse a redeem of its codes (the one decision, decide_redeem)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from vauchflow_core import errors
from vauchflow_core.errors import InvalidArgument, Violations
from vauchflow_server.campaigns import (
    ENDED,
    PAUSED,
    Campaign,
    CampaignTerms,
    check_campaign_terms,
    check_change,
    code_terms,
)
from vauchflow_server.redemption_rules import Order, Redeem, Refuse, decide_redeem
from vauchflow_server.vouchers import CampaignState, Voucher

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def fields_refused(check) -> set[str]:
    violations = Violations()
    check(violations)
    try:
        violations.raise_if_any()
    except InvalidArgument as error:
        return {v.field for v in error.violations}
    return set()


def campaign(**terms) -> Campaign:
    return Campaign(uuid.uuid4(), CampaignTerms(name="c", percent_off=10, **terms), 0, 0, NOW, NOW)


def test_terms_follow_the_voucher_rules_and_name_campaign_fields():
    bad = CampaignTerms(name="", amount_off=100, code_redemption_limit=0, max_redemptions=0)
    assert fields_refused(lambda v: check_campaign_terms(bad, v)) == {
        "campaign.name",
        "campaign.currency",  # a fixed amount needs a currency, as a voucher's does
        "campaign.code_redemption_limit",
        "campaign.max_redemptions",
    }
    assert fields_refused(lambda v: check_campaign_terms(CampaignTerms(name="ok", percent_off=5), v)) == set()


def test_codes_inherit_the_terms_with_the_per_code_limit():
    terms = code_terms(CampaignTerms(name="c", amount_off=500, currency="EUR", code_redemption_limit=3))
    assert (terms.amount_off, terms.currency, terms.max_redemptions, terms.per_customer_limit) == (500, "EUR", 3, None)


@pytest.mark.parametrize(
    ("before", "after", "refused"),
    [
        ({}, {"max_redemptions": 5}, {"campaign.max_redemptions"}),  # added after create
        ({"per_customer_limit": 2}, {"per_customer_limit": None}, {"campaign.per_customer_limit"}),  # removed
        ({"max_redemptions": 5}, {"max_redemptions": 9}, set()),  # changed: fine
        ({"status": ENDED}, {"status": "ACTIVE"}, {"campaign.status"}),  # ended is final
        ({}, {"status": PAUSED}, set()),
    ],
)
def test_what_an_update_may_change(before: dict, after: dict, refused: set[str]):
    current = campaign(**before)
    assert fields_refused(lambda v: check_change(current, replace(current.terms, **after), v)) == refused


def test_max_redemptions_cannot_drop_below_what_was_counted():
    current = replace(campaign(max_redemptions=10), counted_redemptions=7)
    assert fields_refused(lambda v: check_change(current, replace(current.terms, max_redemptions=6), v)) == {
        "campaign.max_redemptions"
    }


def code(state: CampaignState) -> Voucher:
    terms = code_terms(CampaignTerms(name="c", percent_off=10, code_redemption_limit=1))
    return Voucher(uuid.uuid4(), "C-1", terms, 0, NOW, NOW, campaign_id=state.id, campaign=state)


def state(**fields) -> CampaignState:
    values = {"status": "ACTIVE", "max_redemptions": None, "per_customer_limit": None, "redemption_count": 0}
    return CampaignState(id=uuid.uuid4(), **{**values, **fields})


ORDER = Order("o-1", 10_000, None)


@pytest.mark.parametrize(
    ("campaign_state", "customer", "reason"),
    [
        (state(), None, None),
        (state(status=PAUSED), None, errors.CAMPAIGN_NOT_ACTIVE),
        (state(status=ENDED), None, errors.CAMPAIGN_NOT_ACTIVE),
        (state(max_redemptions=5, redemption_count=4), None, None),
        (state(max_redemptions=5, redemption_count=5), None, errors.CAMPAIGN_EXHAUSTED),
        (state(per_customer_limit=2), 1, None),
        (state(per_customer_limit=2), 2, errors.CUSTOMER_LIMIT_REACHED),
    ],
)
def test_the_campaign_refuses_a_redeem_of_its_code(campaign_state: CampaignState, customer: int | None, reason):
    decision = decide_redeem(code(campaign_state), ORDER, NOW, campaign_customer_redemptions=customer)
    if reason is None:
        assert isinstance(decision, Redeem) and decision.discount_amount == 1_000
    else:
        assert decision == Refuse(reason)


def test_only_campaigns_with_shared_limits_leave_the_batched_path():
    assert not state().has_shared_limits
    assert state(max_redemptions=1).has_shared_limits
    assert state(per_customer_limit=1).has_shared_limits
