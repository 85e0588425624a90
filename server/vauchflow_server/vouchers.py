"""Vouchers: the resource, and the rules for what a valid voucher is."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from vauchflow_core.errors import InvalidArgument, Violations
from vauchflow_server.currencies import is_known_currency

ACTIVE = "ACTIVE"
DISABLED = "DISABLED"
STATUSES = (ACTIVE, DISABLED)

CODE_PATTERN = re.compile(r"^[A-Z0-9_-]{1,64}$")
# No 0/O or 1/I: generated codes get read aloud and typed in.
_GENERATED_CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
# Anything larger is a bug in the caller, not a real price (10^12 minor units = 10 billion euros).
MAX_AMOUNT = 10**12
MAX_REDEMPTIONS_LIMIT = 10**9
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_LENGTH = 40
MAX_METADATA_VALUE_LENGTH = 500


@dataclass(frozen=True)
class VoucherTerms:
    """Everything a merchant chooses about a voucher."""

    percent_off: int | None = None
    amount_off: int | None = None
    currency: str | None = None
    max_redemptions: int | None = None
    per_customer_limit: int | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    min_order_amount: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    status: str = ACTIVE
    # Redeems first ask the Redis pre-gate (flash_sale_gate.py); PostgreSQL still enforces max_redemptions.
    flash_sale: bool = False


UPDATABLE_FIELDS = frozenset(f.name for f in fields(VoucherTerms)) | {"discount"}


@dataclass(frozen=True)
class CampaignState:
    """The campaign a code belongs to, as a redeem of the code needs it (read with the code's row)."""

    id: UUID
    status: str
    max_redemptions: int | None
    per_customer_limit: int | None
    redemption_count: int

    @property
    def has_shared_limits(self) -> bool:
        """Whether a redeem must count on campaign-wide rows (and so cannot run in a batch)."""
        return self.max_redemptions is not None or self.per_customer_limit is not None


@dataclass(frozen=True)
class Voucher:
    id: UUID
    code: str
    terms: VoucherTerms
    redemption_count: int
    create_time: datetime
    update_time: datetime
    # A campaign's code: its campaign, and (when read with it) the campaign's state; a plain voucher has neither.
    campaign_id: UUID | None = None
    campaign: CampaignState | None = None

    @property
    def remaining(self) -> int | None:
        if self.terms.max_redemptions is None:
            return None
        return self.terms.max_redemptions - self.redemption_count


def generate_code() -> str:
    groups = ("".join(secrets.choice(_GENERATED_CODE_ALPHABET) for _ in range(4)) for _ in range(3))
    return "-".join(groups)


def normalize_code(code: str) -> str:
    """Codes are case-insensitive: customers type them."""
    return code.strip().upper()


MAX_CODE_LENGTH = 64


def lookup_code(code: str, field_path: str = "code") -> str:
    """A code to look up, normalized; a longer one than any voucher can have is refused before any query."""
    normalized = normalize_code(code)
    if len(normalized) > MAX_CODE_LENGTH:
        raise InvalidArgument.single(field_path, f"at most {MAX_CODE_LENGTH} characters")
    return normalized


def shown_code(code: str) -> str:
    """A caller's code as an error message may quote it: only when it could be a code at all."""
    normalized = normalize_code(code)
    return normalized if CODE_PATTERN.match(normalized) else "(not a valid code)"


def check_code(code: str, violations: Violations, field_path: str = "voucher.code") -> None:
    if not code:
        violations.add(field_path, "must not be empty")
    elif not CODE_PATTERN.match(code):
        violations.add(field_path, "must be 1-64 characters of A-Z, 0-9, '-' and '_'")


def check_terms(terms: VoucherTerms, violations: Violations, prefix: str = "voucher") -> None:
    """Adds a violation for every rule the terms break."""
    if (terms.percent_off is None) == (terms.amount_off is None):
        violations.add(f"{prefix}.discount", "set exactly one of percent_off or amount_off")
    if terms.percent_off is not None and not 1 <= terms.percent_off <= 100:
        violations.add(f"{prefix}.discount.percent_off", "must be between 1 and 100")
    if terms.amount_off is not None and not 1 <= terms.amount_off <= MAX_AMOUNT:
        violations.add(f"{prefix}.discount.amount_off", f"must be between 1 and {MAX_AMOUNT}")
    if terms.currency is not None and not is_known_currency(terms.currency):
        violations.add(f"{prefix}.currency", "must be an ISO 4217 currency code such as EUR")
    needs_currency = terms.amount_off is not None or terms.min_order_amount is not None
    if needs_currency and terms.currency is None:
        violations.add(f"{prefix}.currency", "is required with amount_off or min_order_amount")
    for name in ("max_redemptions", "per_customer_limit"):
        value = getattr(terms, name)
        if value is not None and not 1 <= value <= MAX_REDEMPTIONS_LIMIT:
            violations.add(f"{prefix}.{name}", f"must be between 1 and {MAX_REDEMPTIONS_LIMIT}, or unset")
    if terms.min_order_amount is not None and not 0 <= terms.min_order_amount <= MAX_AMOUNT:
        violations.add(f"{prefix}.min_order_amount", f"must be between 0 and {MAX_AMOUNT}")
    if terms.valid_from and terms.valid_until and terms.valid_until <= terms.valid_from:
        violations.add(f"{prefix}.valid_until", "must be after valid_from")
    if terms.flash_sale and terms.max_redemptions is None:
        violations.add(f"{prefix}.flash_sale", "requires max_redemptions (the stock the sale counts down)")
    if terms.status not in STATUSES:
        violations.add(f"{prefix}.status", "must be VOUCHER_STATUS_ACTIVE or VOUCHER_STATUS_DISABLED")
    check_metadata(terms.metadata, violations, f"{prefix}.metadata")


def check_metadata(metadata: dict[str, str], violations: Violations, field_path: str) -> None:
    if len(metadata) > MAX_METADATA_KEYS:
        violations.add(field_path, f"at most {MAX_METADATA_KEYS} keys")
        return
    for key, value in metadata.items():
        if not key or len(key) > MAX_METADATA_KEY_LENGTH:
            violations.add(field_path, f"keys must be 1-{MAX_METADATA_KEY_LENGTH} characters")
            return
        if len(value) > MAX_METADATA_VALUE_LENGTH:
            violations.add(f"{field_path}.{key}", f"at most {MAX_METADATA_VALUE_LENGTH} characters")
            return


def apply_changes(terms: VoucherTerms, changes: dict[str, Any]) -> VoucherTerms:
    """The terms after an update; `discount` replaces both discount fields at once."""
    changes = dict(changes)
    if "discount" in changes:
        percent_off, amount_off = changes.pop("discount")
        changes["percent_off"], changes["amount_off"] = percent_off, amount_off
    return replace(terms, **changes)
