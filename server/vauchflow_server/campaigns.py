"""Campaigns: the resource, the rules for valid terms and changes, and the terms its codes inherit."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from vauchflow_core.errors import Violations
from vauchflow_server.vouchers import (
    ACTIVE as VOUCHER_ACTIVE,
)
from vauchflow_server.vouchers import (
    MAX_REDEMPTIONS_LIMIT,
    VoucherTerms,
    check_metadata,
    check_terms,
)

ACTIVE = "ACTIVE"
PAUSED = "PAUSED"
ENDED = "ENDED"
STATUSES = (ACTIVE, PAUSED, ENDED)
MAX_NAME_LENGTH = 200


@dataclass(frozen=True)
class CampaignTerms:
    """Everything a merchant chooses about a campaign."""

    name: str
    percent_off: int | None = None
    amount_off: int | None = None
    currency: str | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    min_order_amount: int | None = None
    # How often each code can be redeemed.
    code_redemption_limit: int = 1
    # Across all the campaign's codes; None: unlimited. Present or absent for good once created.
    max_redemptions: int | None = None
    # Per customer across all the campaign's codes; None: unlimited. Present or absent for good once created.
    per_customer_limit: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    status: str = ACTIVE


# What UpdateCampaign may change. The discount, currency, minimum order and per-code limit are copied into every
# code, so they are fixed; the validity window is copied too, and a change rewrites the codes' copies.
UPDATABLE_FIELDS = frozenset(
    {"name", "valid_from", "valid_until", "max_redemptions", "per_customer_limit", "metadata", "status"}
)


@dataclass(frozen=True)
class Campaign:
    id: UUID
    terms: CampaignTerms
    code_count: int
    redemption_count: int
    create_time: datetime
    update_time: datetime
    # The campaign-wide counter; kept only when terms.max_redemptions is set.
    counted_redemptions: int = 0


def code_terms(terms: CampaignTerms) -> VoucherTerms:
    """The terms every code of the campaign carries."""
    return VoucherTerms(
        percent_off=terms.percent_off,
        amount_off=terms.amount_off,
        currency=terms.currency,
        max_redemptions=terms.code_redemption_limit,
        valid_from=terms.valid_from,
        valid_until=terms.valid_until,
        min_order_amount=terms.min_order_amount,
        status=VOUCHER_ACTIVE,
    )


def check_campaign_terms(terms: CampaignTerms, violations: Violations, prefix: str = "campaign") -> None:
    """Adds a violation for every rule the terms break."""
    if not terms.name.strip() or len(terms.name) > MAX_NAME_LENGTH:
        violations.add(f"{prefix}.name", f"must be 1-{MAX_NAME_LENGTH} characters")
    # The discount, currency, window and minimum follow the voucher's rules (the codes are vouchers).
    check_terms(replace(code_terms(terms), max_redemptions=None), violations, prefix)
    for name in ("code_redemption_limit", "max_redemptions", "per_customer_limit"):
        value = getattr(terms, name)
        if value is not None and not 1 <= value <= MAX_REDEMPTIONS_LIMIT:
            violations.add(f"{prefix}.{name}", f"must be between 1 and {MAX_REDEMPTIONS_LIMIT}, or unset")
    if terms.status not in STATUSES:
        violations.add(f"{prefix}.status", "must be CAMPAIGN_STATUS_ACTIVE, CAMPAIGN_STATUS_PAUSED or _ENDED")
    check_metadata(terms.metadata, violations, f"{prefix}.metadata")


def check_change(current: Campaign, updated: CampaignTerms, violations: Violations) -> None:
    """The rules of an update beyond valid terms: limits keep their presence, ENDED is final."""
    before = current.terms
    for name in ("max_redemptions", "per_customer_limit"):
        if (getattr(before, name) is None) != (getattr(updated, name) is None):
            violations.add(f"campaign.{name}", "can be changed but not added or removed after the campaign is created")
    if updated.max_redemptions is not None and updated.max_redemptions < current.counted_redemptions:
        violations.add("campaign.max_redemptions", "must not be below the campaign's redemption_count")
    if before.status == ENDED and updated.status != ENDED:
        violations.add("campaign.status", "an ended campaign cannot be resumed")


def apply_changes(terms: CampaignTerms, changes: dict[str, Any]) -> CampaignTerms:
    return replace(terms, **changes)
