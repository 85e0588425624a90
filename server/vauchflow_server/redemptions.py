"""Redemptions: one successful use of a voucher by an order, which can be rolled back once."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from vauchflow_server.redemption_rules import Order

SUCCEEDED = "SUCCEEDED"
ROLLED_BACK = "ROLLED_BACK"


@dataclass(frozen=True)
class Redemption:
    id: UUID
    voucher_id: UUID
    voucher_code: str
    customer_id: str
    order: Order
    discount_amount: int
    status: str
    metadata: dict[str, str] = field(default_factory=dict)
    create_time: datetime | None = None
    rollback_time: datetime | None = None
    rollback_reason: str = ""
