"""Long-running operations (google.longrunning.Operation, AIP-151): the resource and its names.

An operation's state lives in PostgreSQL (table operations), so any server replica answers for it; the server
that runs it renews a lease after every chunk of work, and an operation whose lease ran out (its server died) is
marked FAILED by the next read of the tenant's operations. Codes generated before that stay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from vauchflow_core.errors import NotFound, shown_id

GENERATE_CAMPAIGN_CODES = "GENERATE_CAMPAIGN_CODES"

RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
CANCELLED = "CANCELLED"

NAME_PREFIX = "operations/"


@dataclass(frozen=True)
class Operation:
    id: UUID
    kind: str
    campaign_id: UUID
    state: str
    request: dict[str, Any]
    requested_count: int
    generated_count: int
    cancel_requested: bool
    # A google.rpc.Code, a reason and a message safe to show, when it ended other than SUCCEEDED.
    error_code: int | None
    error_reason: str | None
    error_message: str | None
    create_time: datetime
    update_time: datetime
    end_time: datetime | None

    @property
    def name(self) -> str:
        return operation_name(self.id)

    @property
    def done(self) -> bool:
        return self.state != RUNNING


def operation_name(operation_id: UUID) -> str:
    return f"{NAME_PREFIX}{operation_id}"


def operation_not_found(name: str) -> NotFound:
    shown = name.removeprefix(NAME_PREFIX)
    return NotFound(f"no operation named operations/{shown_id(shown)}", reason="OPERATION_NOT_FOUND")


def parse_name(name: str) -> UUID:
    """The id in "operations/{id}"; a name that cannot exist is simply not found."""
    if not name.startswith(NAME_PREFIX):
        raise operation_not_found(name)
    try:
        return UUID(name[len(NAME_PREFIX) :])
    except ValueError:
        raise operation_not_found(name) from None
