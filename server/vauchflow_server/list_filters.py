"""What a list of vouchers or redemptions may be narrowed to, checked and normalised before any query.

Each filter is a typed request field (no filter language to parse); an empty field means "any". Every filter has
an index (migration list_filters), and `scope()` names the filters and order for the page token, so a token only
continues the list it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from vauchflow_core.errors import Violations
from vauchflow_server.vouchers import CODE_PATTERN, MAX_CODE_LENGTH, normalize_code

MAX_METADATA_KEY_LENGTH = 40
MAX_METADATA_VALUE_LENGTH = 500
MAX_CUSTOMER_ID_LENGTH = 255
_ORDERS = {"": False, "create_time": False, "create_time asc": False, "create_time desc": True}


@dataclass(frozen=True)
class VoucherFilter:
    status: str | None = None
    code_prefix: str | None = None
    metadata: tuple[str, str] | None = None
    campaign_id: UUID | None = None
    newest_first: bool = False

    @property
    def code_range(self) -> tuple[str, str] | None:
        """[prefix, next) in byte order: codes are upper-case ASCII, so the prefix's last character plus one bounds
        every code that starts with it (an index range, where LIKE with a parameter could not use the index)."""
        if not self.code_prefix:
            return None
        return self.code_prefix, self.code_prefix[:-1] + chr(ord(self.code_prefix[-1]) + 1)

    def scope(self) -> str:
        return _scope(self)


@dataclass(frozen=True)
class RedemptionFilter:
    voucher_code: str | None = None
    customer_id: str | None = None
    status: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    campaign_id: UUID | None = None
    newest_first: bool = False

    def scope(self) -> str:
        return _scope(self)


def newest_first(order_by: str, violations: Violations) -> bool:
    """AIP-132 order_by on the one sortable field: "create_time" (ascending) or "create_time desc"."""
    # Envoy's transcoder leaves a query string's "+" as it is: "create_time+desc" is what a form encoder sends.
    normalized = " ".join(order_by.replace("+", " ").split()).lower()
    if normalized not in _ORDERS:
        violations.add("order_by", 'must be "create_time" or "create_time desc"')
        return False
    return _ORDERS[normalized]


def code_prefix(raw: str, violations: Violations, field_path: str = "code_prefix") -> str | None:
    """Normalised as codes are (trimmed, upper-case), so "summer" finds "SUMMER-10"."""
    prefix = normalize_code(raw)
    if not prefix:
        return None
    if len(prefix) > MAX_CODE_LENGTH or not CODE_PATTERN.match(prefix):
        violations.add(field_path, f"at most {MAX_CODE_LENGTH} characters of A-Z, 0-9, '-' and '_'")
        return None
    return prefix


def metadata_pair(key: str, value: str, violations: Violations) -> tuple[str, str] | None:
    if not key:
        if value:
            violations.add("metadata_key", "is required with metadata_value")
        return None
    if len(key) > MAX_METADATA_KEY_LENGTH:
        violations.add("metadata_key", f"at most {MAX_METADATA_KEY_LENGTH} characters")
    if len(value) > MAX_METADATA_VALUE_LENGTH:
        violations.add("metadata_value", f"at most {MAX_METADATA_VALUE_LENGTH} characters")
    return key, value


def customer_id(raw: str, violations: Violations) -> str | None:
    if len(raw) > MAX_CUSTOMER_ID_LENGTH:
        violations.add("customer_id", f"at most {MAX_CUSTOMER_ID_LENGTH} characters")
    return raw or None


def campaign_id(raw: str, violations: Violations) -> UUID | None:
    if not raw:
        return None
    try:
        return UUID(raw)
    except ValueError:
        violations.add("campaign_id", "is not a campaign id")
        return None


def time_range(start: datetime | None, end: datetime | None, violations: Violations) -> None:
    if start is not None and end is not None and end <= start:
        violations.add("end_time", "must be after start_time")


def _scope(filters: VoucherFilter | RedemptionFilter) -> str:
    """Empty for no filter in the default order, so tokens of plain lists stay as they always were."""
    if filters == type(filters)():
        return ""
    return repr(filters)
