"""The voucher form: what a merchant typed → the client's keyword arguments, and the API's field violations →
messages beside the fields they concern. Pure functions; the page handlers call them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Form field → the API's field path (google.rpc.BadRequest) for the same value.
_API_FIELD = {
    "code": "voucher.code",
    "discount_value": "voucher.discount",
    "currency": "voucher.currency",
    "max_redemptions": "voucher.max_redemptions",
    "per_customer_limit": "voucher.per_customer_limit",
    "min_order_amount": "voucher.min_order_amount",
    "valid_until": "voucher.valid_until",
    "metadata": "voucher.metadata",
}


@dataclass
class VoucherForm:
    values: dict[str, str]
    # Form field → what is wrong with it; "" holds what belongs to no field.
    errors: dict[str, str] = field(default_factory=dict)
    arguments: dict[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return not self.errors


FIELDS = (*_API_FIELD, "discount_kind")


def read_voucher_form(form: Mapping[str, Any], *, creating: bool) -> VoucherForm:
    values = {name: str(form.get(name, "")).strip() for name in FIELDS}
    parsed = VoucherForm(values)
    arguments = parsed.arguments
    if creating and values["code"]:
        arguments["code"] = values["code"]
    kind = values["discount_kind"] or "percent_off"
    if values["discount_value"]:
        number = _whole(parsed, "discount_value", values["discount_value"])
        if number is not None:
            if kind == "amount_off":
                arguments["amount_off"] = number
            else:
                arguments["percent_off"] = number
    elif creating:
        parsed.errors["discount_value"] = "Enter the discount."
    if values["currency"]:
        arguments["currency"] = values["currency"].upper()
    for name in ("max_redemptions", "per_customer_limit", "min_order_amount"):
        if values[name]:
            number = _whole(parsed, name, values[name])
            if number is not None:
                arguments[name] = number
    if values["valid_until"]:
        try:
            arguments["valid_until"] = datetime.fromisoformat(values["valid_until"]).replace(tzinfo=UTC)
        except ValueError:
            parsed.errors["valid_until"] = "Enter a date and time."
    if values["metadata"]:
        metadata = _metadata(values["metadata"])
        if metadata is None:
            parsed.errors["metadata"] = "One key=value pair per line."
        else:
            arguments["metadata"] = metadata
    return parsed


def violations_to_errors(violations: Sequence[Any]) -> dict[str, str]:
    """The API's field violations, each beside its form field (the rest under "")."""
    form_field = {api: name for name, api in _API_FIELD.items()}
    errors: dict[str, str] = {}
    for violation in violations:
        path = str(violation.field)
        name = form_field.get(path) or form_field.get(path.split("[")[0]) or ""
        if path.startswith("voucher.discount"):
            name = "discount_value"
        errors[name] = (errors[name] + " " if name in errors else "") + str(violation.description)
    return errors


def metadata_text(metadata: Mapping[str, str]) -> str:
    return "\n".join(f"{key}={value}" for key, value in sorted(metadata.items()))


def _whole(parsed: VoucherForm, name: str, text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        parsed.errors[name] = "Enter a whole number."
        return None


def _metadata(text: str) -> dict[str, str] | None:
    pairs: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        key, separator, value = line.partition("=")
        if not separator or not key.strip():
            return None
        pairs[key.strip()] = value.strip()
    return pairs
