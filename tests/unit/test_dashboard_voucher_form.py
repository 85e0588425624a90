"""The voucher form: what a merchant typed becomes the client's arguments, and the API's violations land beside
the fields they concern."""

from __future__ import annotations

from datetime import UTC, datetime

from vauchflow_web.dashboard.voucher_form import metadata_text, read_voucher_form, violations_to_errors

from vauchflow import FieldViolation


def test_a_filled_form_becomes_the_clients_arguments() -> None:
    form = read_voucher_form(
        {
            "code": " SPRING ",
            "discount_kind": "amount_off",
            "discount_value": "500",
            "currency": "eur",
            "max_redemptions": "10",
            "valid_until": "2027-01-31T23:59",
            "metadata": "campaign=spring\n\nchannel = email",
        },
        creating=True,
    )
    assert form.valid
    assert form.arguments == {
        "code": "SPRING",
        "amount_off": 500,
        "currency": "EUR",
        "max_redemptions": 10,
        "valid_until": datetime(2027, 1, 31, 23, 59, tzinfo=UTC),
        "metadata": {"campaign": "spring", "channel": "email"},
    }


def test_what_cannot_be_read_is_named_beside_its_field() -> None:
    form = read_voucher_form(
        {"max_redemptions": "ten", "metadata": "no separator", "valid_until": "soon"}, creating=True
    )
    assert set(form.errors) == {"discount_value", "max_redemptions", "metadata", "valid_until"}
    assert not form.valid


def test_an_edit_changes_only_what_was_filled_and_keeps_the_code() -> None:
    form = read_voucher_form({"code": "IGNORED", "discount_value": "20"}, creating=False)
    assert form.arguments == {"percent_off": 20}


def test_the_apis_field_violations_go_to_their_fields() -> None:
    errors = violations_to_errors(
        [
            FieldViolation("voucher.discount.percent_off", "must be between 1 and 100"),
            FieldViolation("voucher.code", "may hold A-Z, 0-9, - and _"),
            FieldViolation("request_id", "too long"),
        ]
    )
    assert errors == {
        "discount_value": "must be between 1 and 100",
        "code": "may hold A-Z, 0-9, - and _",
        "": "too long",
    }


def test_metadata_round_trips_through_its_text_form() -> None:
    text = metadata_text({"b": "2", "a": "1"})
    assert text == "a=1\nb=2"
    assert read_voucher_form({"metadata": text}, creating=False).arguments["metadata"] == {"a": "1", "b": "2"}
