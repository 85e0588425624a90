"""Idempotency keys (`request_id`): a retry with the same key and request gets the original resource back.

The key is claimed inside the mutation's own transaction, so it commits or vanishes with the change. A
concurrent duplicate blocks on the key's unique index until the first transaction ends, then replays its
result (or, if the first failed and rolled back, runs for real): exactly one side effect either way. Failed
requests leave no key behind, so retrying a denied redemption asks the question again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any
from uuid import UUID

from vauchflow_core.errors import Conflict, Violations

MAX_KEY_LENGTH = 200


def check_key(request_id: str, violations: Violations) -> None:
    if len(request_id) > MAX_KEY_LENGTH:
        violations.add("request_id", f"at most {MAX_KEY_LENGTH} characters")


def fingerprint(command: Any) -> bytes:
    """A stable hash of a command dataclass (its request_id excluded)."""
    fields = dataclasses.asdict(command)
    fields.pop("request_id", None)
    canonical = json.dumps(fields, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).digest()


async def claim(tx: Any, operation: str, request_id: str, request_hash: bytes, new_resource_id: UUID) -> UUID | None:
    """None when this request owns the key and must do the work; otherwise the id of the original resource."""
    if await tx.claim_idempotency_key(operation, request_id, request_hash, new_resource_id):
        return None
    record = await tx.idempotency_record(operation, request_id)
    assert record is not None, "the claim failed, so the key exists"
    return _checked(record, request_hash)


def _checked(record: tuple[bytes, UUID], request_hash: bytes) -> UUID:
    stored_hash, resource_id = record
    if stored_hash != request_hash:
        raise Conflict("this request_id was already used with a different request", reason="IDEMPOTENCY_KEY_REUSED")
    return resource_id
