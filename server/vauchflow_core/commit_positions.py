"""Read-your-writes across a read replica: the commit position a write answers with and a client carries back.

A commit position is the primary's WAL insert position read after a write committed, as a decimal byte offset
(PostgreSQL's LSN `X/Y` is the same number written in two hexadecimal halves): any replica that has replayed that
far sees the write. Positions only grow, so a client keeps the highest it has seen and sends it with every call
in the `x-vauchflow-commit-position` metadata (a REST header through Envoy); a read routed to a replica then waits
briefly for the replica to get there, or runs on the primary.
"""

from __future__ import annotations

import contextvars
import re

COMMIT_POSITION_HEADER = "x-vauchflow-commit-position"

# The position the current request must read at or after; None: any state will do (no replica wait).
required_position: contextvars.ContextVar[int | None] = contextvars.ContextVar("required_position", default=None)

_DECIMAL = re.compile(r"[0-9]{1,20}")
# RPCs that change nothing, by their verb (the method name's first word); every other RPC is a write and answers
# with its commit position.
_READ_ONLY_VERBS = ("Get", "List", "Validate", "Check", "Subscribe", "Search", "Export", "Watch")


def parse_position(text: str) -> int:
    """A client's position; ValueError for anything but a decimal byte offset below 2**63."""
    if not _DECIMAL.fullmatch(text) or int(text) >= 2**63:
        raise ValueError("must be a decimal WAL position, as a previous response's x-vauchflow-commit-position")
    return int(text)


def is_read_only(method: str) -> bool:
    """method is a full gRPC method name ("/vauchflow.v1.VoucherService/ListVouchers")."""
    name = method.rpartition("/")[2]
    return name.startswith(_READ_ONLY_VERBS)
