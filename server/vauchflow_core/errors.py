"""Domain errors: what went wrong, in the words of the API, free of gRPC and asyncpg types.

Each error carries a stable UPPER_SNAKE_CASE reason (the ErrorInfo reason clients switch on) and a message safe
to show to the caller. error_mapping.py turns them into gRPC statuses; nothing else does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class DomainError(Exception):
    """Base of every error the API reports on purpose."""

    reason: str = "UNKNOWN"

    def __init__(self, message: str, *, reason: str | None = None, metadata: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason
        self.metadata = metadata or {}


class NotFound(DomainError):
    reason = "NOT_FOUND"


def shown_id(raw: object) -> str:
    """A caller's id as an error message may quote it: only when it is an id at all (a UUID, or an "evt_" event
    id), never unbounded input, which could be huge or carry a secret pasted into the wrong field."""
    text = str(raw)
    if len(text) <= 40 and _ID_PATTERN.match(text):
        return text
    return "(not a valid id)"


_ID_PATTERN = re.compile(r"^(evt_)?[0-9a-fA-F-]{32,36}$")


class RedemptionDenied(DomainError):
    """The voucher exists but cannot be redeemed now; the reason says why."""


class FailedPrecondition(DomainError):
    """The resource is in a state that does not allow this call (a disabled webhook endpoint, say)."""


class Conflict(DomainError):
    """The request clashes with existing state (a taken code, a reused idempotency key)."""


class QuotaExceeded(DomainError):
    """The tenant's plan allows no more of a resource; upgrading the plan (or deleting some) helps, retrying doesn't."""

    reason = "PLAN_QUOTA_EXCEEDED"

    def __init__(self, resource: str, plan: str, limit: int):
        super().__init__(
            f"the {plan} plan allows at most {limit} {resource.replace('_', ' ')}",
            metadata={"resource": resource, "plan": plan, "limit": str(limit)},
        )
        self.resource = resource
        self.plan = plan
        self.limit = limit


class RateLimited(DomainError):
    """The API key sent requests faster than its plan allows; retrying after `retry_after` seconds helps."""

    reason = "RATE_LIMITED"

    def __init__(self, retry_after: float, plan: str, requests_per_second: int, burst: int):
        super().__init__(
            f"too many requests: this API key may send {requests_per_second} per second (bursts of {burst});"
            f" retry in {retry_after:.3f} s",
            metadata={"plan": plan, "requests_per_second": str(requests_per_second), "burst": str(burst)},
        )
        self.retry_after = retry_after


class TooManyFailedAuthentications(DomainError):
    """Too many failed authentications from one client address: refused before any key is looked up."""

    reason = "RATE_LIMITED"

    def __init__(self, retry_after: float):
        super().__init__(
            "too many failed authentications from this address; wait, then send a valid key",
            metadata={"scope": "client_address"},
        )
        self.retry_after = retry_after


class Unauthenticated(DomainError):
    reason = "API_KEY_INVALID"


class PermissionMissing(DomainError):
    reason = "PERMISSION_MISSING"


class Forbidden(DomainError):
    """The database refused the rows (row-level security, or a missing grant): never a tenant's own mistake."""

    reason = "ACCESS_DENIED"


class Unavailable(DomainError):
    """A dependency is down; the call may be retried."""

    reason = "SERVICE_UNAVAILABLE"


class Aborted(DomainError):
    """A concurrency conflict; the call may be retried."""

    reason = "CONCURRENT_UPDATE"


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class InvalidArgument(DomainError):
    """The request itself is wrong; every offending field is named."""

    reason = "INVALID_ARGUMENT"

    def __init__(self, violations: list[FieldViolation]):
        self.violations = list(violations)
        super().__init__("invalid request: " + "; ".join(f"{v.field}: {v.description}" for v in self.violations))

    @classmethod
    def single(cls, field_path: str, description: str) -> InvalidArgument:
        return cls([FieldViolation(field_path, description)])


class Violations:
    """Collects field violations so a request reports all its problems at once."""

    def __init__(self) -> None:
        self._items: list[FieldViolation] = []

    def add(self, field_path: str, description: str) -> None:
        self._items.append(FieldViolation(field_path, description))

    def raise_if_any(self) -> None:
        if self._items:
            raise InvalidArgument(list(self._items))


# Redemption denial reasons (FAILED_PRECONDITION), in the order they are checked.
VOUCHER_DISABLED = "VOUCHER_DISABLED"
VOUCHER_NOT_YET_VALID = "VOUCHER_NOT_YET_VALID"
VOUCHER_EXPIRED = "VOUCHER_EXPIRED"
VOUCHER_EXHAUSTED = "VOUCHER_EXHAUSTED"
CURRENCY_MISMATCH = "CURRENCY_MISMATCH"
ORDER_BELOW_MINIMUM = "ORDER_BELOW_MINIMUM"
CUSTOMER_LIMIT_REACHED = "CUSTOMER_LIMIT_REACHED"
# A campaign's code: the campaign is paused or ended, or its campaign-wide limit is used up.
CAMPAIGN_NOT_ACTIVE = "CAMPAIGN_NOT_ACTIVE"
CAMPAIGN_EXHAUSTED = "CAMPAIGN_EXHAUSTED"
REDEMPTION_ALREADY_ROLLED_BACK = "REDEMPTION_ALREADY_ROLLED_BACK"

DENIAL_MESSAGES = {
    VOUCHER_DISABLED: "the voucher is disabled",
    VOUCHER_NOT_YET_VALID: "the voucher is not valid yet",
    VOUCHER_EXPIRED: "the voucher has expired",
    VOUCHER_EXHAUSTED: "the voucher has no redemptions left",
    CURRENCY_MISMATCH: "the order currency differs from the voucher currency",
    ORDER_BELOW_MINIMUM: "the order amount is below the voucher's minimum",
    CUSTOMER_LIMIT_REACHED: "this customer has used the voucher as often as allowed",
    CAMPAIGN_NOT_ACTIVE: "the voucher's campaign is paused or has ended",
    CAMPAIGN_EXHAUSTED: "the voucher's campaign has no redemptions left",
    REDEMPTION_ALREADY_ROLLED_BACK: "the redemption was already rolled back",
}


def denied(reason: str) -> RedemptionDenied:
    return RedemptionDenied(DENIAL_MESSAGES[reason], reason=reason)
