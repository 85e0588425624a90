"""vouchers.check_terms: every rule a voucher's terms must keep, each violation naming its field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vauchflow_core.errors import InvalidArgument, Violations
from vauchflow_server.vouchers import (
    MAX_AMOUNT,
    MAX_METADATA_KEYS,
    MAX_REDEMPTIONS_LIMIT,
    VoucherTerms,
    apply_changes,
    check_code,
    check_terms,
    generate_code,
    normalize_code,
)

START = datetime(2026, 1, 1, tzinfo=UTC)


def violations_of(terms: VoucherTerms, prefix: str = "voucher") -> list[tuple[str, str]]:
    violations = Violations()
    check_terms(terms, violations, prefix)
    try:
        violations.raise_if_any()
    except InvalidArgument as error:
        return [(v.field, v.description) for v in error.violations]
    return []


def fields_of(terms: VoucherTerms, prefix: str = "voucher") -> list[str]:
    return [field for field, _ in violations_of(terms, prefix)]


def test_valid_terms_have_no_violations() -> None:
    assert fields_of(VoucherTerms(percent_off=10)) == []
    assert fields_of(VoucherTerms(percent_off=100, max_redemptions=1, per_customer_limit=1)) == []
    assert fields_of(VoucherTerms(amount_off=500, currency="EUR", min_order_amount=0)) == []
    assert fields_of(VoucherTerms(amount_off=MAX_AMOUNT, currency="JPY", max_redemptions=MAX_REDEMPTIONS_LIMIT,
                                  valid_from=START, valid_until=START + timedelta(seconds=1),
                                  metadata={"k" * 40: "v" * 500}, status="DISABLED")) == []  # fmt: skip


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        (VoucherTerms(), "voucher.discount"),
        (VoucherTerms(percent_off=10, amount_off=5, currency="EUR"), "voucher.discount"),
        (VoucherTerms(percent_off=0), "voucher.discount.percent_off"),
        (VoucherTerms(percent_off=101), "voucher.discount.percent_off"),
        (VoucherTerms(percent_off=-5), "voucher.discount.percent_off"),
        (VoucherTerms(amount_off=0, currency="EUR"), "voucher.discount.amount_off"),
        (VoucherTerms(amount_off=-1, currency="EUR"), "voucher.discount.amount_off"),
        (VoucherTerms(amount_off=MAX_AMOUNT + 1, currency="EUR"), "voucher.discount.amount_off"),
        (VoucherTerms(percent_off=10, currency="EURO"), "voucher.currency"),
        (VoucherTerms(percent_off=10, currency="eur"), "voucher.currency"),
        (VoucherTerms(percent_off=10, currency="XXX"), "voucher.currency"),
        (VoucherTerms(amount_off=100), "voucher.currency"),
        (VoucherTerms(percent_off=10, min_order_amount=100), "voucher.currency"),
        (VoucherTerms(percent_off=10, max_redemptions=0), "voucher.max_redemptions"),
        (VoucherTerms(percent_off=10, max_redemptions=-1), "voucher.max_redemptions"),
        (VoucherTerms(percent_off=10, max_redemptions=MAX_REDEMPTIONS_LIMIT + 1), "voucher.max_redemptions"),
        (VoucherTerms(percent_off=10, per_customer_limit=0), "voucher.per_customer_limit"),
        (VoucherTerms(percent_off=10, per_customer_limit=MAX_REDEMPTIONS_LIMIT + 1), "voucher.per_customer_limit"),
        (VoucherTerms(percent_off=10, currency="EUR", min_order_amount=-1), "voucher.min_order_amount"),
        (VoucherTerms(percent_off=10, currency="EUR", min_order_amount=MAX_AMOUNT + 1), "voucher.min_order_amount"),
        (VoucherTerms(percent_off=10, valid_from=START, valid_until=START), "voucher.valid_until"),
        (VoucherTerms(percent_off=10, valid_from=START, valid_until=START - timedelta(days=1)), "voucher.valid_until"),
        (VoucherTerms(percent_off=10, status="EXPIRED"), "voucher.status"),
        (
            VoucherTerms(percent_off=10, metadata={str(i): "v" for i in range(MAX_METADATA_KEYS + 1)}),
            "voucher.metadata",
        ),
        (VoucherTerms(percent_off=10, metadata={"": "v"}), "voucher.metadata"),
        (VoucherTerms(percent_off=10, metadata={"k" * 41: "v"}), "voucher.metadata"),
        (VoucherTerms(percent_off=10, metadata={"note": "v" * 501}), "voucher.metadata.note"),
    ],
)
def test_each_violation_names_its_field(terms: VoucherTerms, field: str) -> None:
    assert fields_of(terms) == [field]


def test_every_problem_is_reported_at_once_with_the_given_prefix() -> None:
    terms = VoucherTerms(percent_off=150, max_redemptions=0, valid_from=START, valid_until=START, status="?")
    assert fields_of(terms, prefix="changes") == [
        "changes.discount.percent_off", "changes.max_redemptions", "changes.valid_until", "changes.status",
    ]  # fmt: skip


def test_an_open_ended_window_is_fine() -> None:
    assert fields_of(VoucherTerms(percent_off=10, valid_from=START)) == []
    assert fields_of(VoucherTerms(percent_off=10, valid_until=START)) == []


def _code_violations(code: str) -> list[str]:
    violations = Violations()
    check_code(code, violations)
    try:
        violations.raise_if_any()
    except InvalidArgument as error:
        return [v.field for v in error.violations]
    return []


def test_codes() -> None:
    assert _code_violations("SUMMER-2026_A") == []
    assert _code_violations("A" * 64) == []
    assert _code_violations("") == ["voucher.code"]
    assert _code_violations("A" * 65) == ["voucher.code"]
    assert _code_violations("SUMMER 2026") == ["voucher.code"]
    assert _code_violations("summer") == ["voucher.code"]  # callers normalise first
    assert normalize_code("  summer-26 ") == "SUMMER-26"
    for _ in range(50):
        code = generate_code()
        assert _code_violations(code) == []
        assert not set(code) & set("01IO")


def test_apply_changes_replaces_both_discount_fields() -> None:
    terms = VoucherTerms(percent_off=10, max_redemptions=5)
    changed = apply_changes(terms, {"discount": (None, 700), "currency": "EUR"})
    assert (changed.percent_off, changed.amount_off, changed.currency, changed.max_redemptions) == (
        None, 700, "EUR", 5,
    )  # fmt: skip
    assert terms.percent_off == 10  # the original is untouched
