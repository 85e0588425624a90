"""A refused or failed tool call as the agent sees it: a tool result with isError, the API's own reason
(the same word gRPC and REST use: VOUCHER_EXHAUSTED, ...), and a sentence saying what to do next.

The reason comes from the API's google.rpc.ErrorInfo, parsed by the client (`VauchflowError.reason`); nothing
here decides whether a call is allowed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import grpc
import mcp_types as types

import vauchflow
from vauchflow.v1.error_reason_pb2 import ErrorReason
from vauchflow_web.mcp.tools import FieldProblem

INVALID_ARGUMENT = "INVALID_ARGUMENT"

# What an agent should do after each refusal; the API's message (which names the detail) follows it.
NEXT_STEP: Mapping[str, str] = {
    "VOUCHER_EXHAUSTED": "The voucher has no redemptions left; tell the customer it is sold out and do not retry.",
    "VOUCHER_EXPIRED": "The voucher's validity has ended; tell the customer and do not retry.",
    "VOUCHER_NOT_YET_VALID": "The voucher is not valid yet; it can be used from its valid_from time.",
    "VOUCHER_DISABLED": "The merchant disabled this voucher; it cannot be redeemed.",
    "VOUCHER_NOT_FOUND": "No voucher with this code exists for this account; check the code's spelling.",
    "CUSTOMER_LIMIT_REACHED": "This customer has used the voucher as often as it allows; do not retry.",
    "ORDER_BELOW_MINIMUM": "The order total is below the voucher's min_order_amount; it applies to larger orders.",
    "CURRENCY_MISMATCH": "The order's currency is not the voucher's; the voucher cannot be used for this order.",
    "CAMPAIGN_NOT_ACTIVE": "The code's campaign is paused or has ended; tell the customer and do not retry.",
    "CAMPAIGN_EXHAUSTED": "The code's campaign has no redemptions left across its codes; do not retry.",
    "CAMPAIGN_NOT_FOUND": "No campaign with this id exists for this account.",
    "OPERATION_NOT_FOUND": "No operation with this name exists for this account.",
    "REDEMPTION_ALREADY_ROLLED_BACK": "This redemption was rolled back already; nothing more to do.",
    "REDEMPTION_NOT_FOUND": "No redemption with this id exists for this account.",
    "WEBHOOK_ENDPOINT_NOT_FOUND": "No webhook endpoint with this id exists for this account.",
    "WEBHOOK_ENDPOINT_DISABLED": "The webhook endpoint is disabled; enable it before sending to it.",
    "EVENT_NOT_FOUND": "No event with this id exists for this account.",
    "NOT_FOUND": "Nothing with this id exists for this account.",
    "VOUCHER_CODE_TAKEN": "A voucher with this code exists already; choose another code.",
    "IDEMPOTENCY_KEY_REUSED": "This request_id was used before for a different request; use a new request_id "
    "for a new operation (and the same one only to retry the same operation).",
    "INVALID_ARGUMENT": "Fix the arguments named in field_violations and call again.",
    "PERMISSION_MISSING": "This API key lacks the permission for this tool; ask the account owner for a key that "
    "has it.",
    "ACCESS_DENIED": "This API key may not do this; ask the account owner.",
    "API_KEY_INVALID": "The API key is invalid or was revoked; a new key is needed.",
    "RATE_LIMITED": "Too many requests for this account's plan; wait retry_after_seconds, then retry the same call "
    "(with the same request_id).",
    "PLAN_QUOTA_EXCEEDED": "The account's plan allows no more of these; retrying does not help.",
    "CONCURRENT_UPDATE": "Someone changed this at the same moment; read it again and retry.",
    "SERVICE_UNAVAILABLE": "Vauchflow could not answer just now; retry shortly with the same request_id.",
    "INTERNAL": "Vauchflow failed to answer; retry shortly with the same request_id, and quote request_id to "
    "support if it persists.",
}

# For a failure without a reason of the API's (a dropped connection, a deadline): one by status code.
_REASON_BY_CODE: Mapping[grpc.StatusCode, str] = {
    grpc.StatusCode.UNAVAILABLE: "SERVICE_UNAVAILABLE",
    grpc.StatusCode.DEADLINE_EXCEEDED: "SERVICE_UNAVAILABLE",
    grpc.StatusCode.UNAUTHENTICATED: "API_KEY_INVALID",
    grpc.StatusCode.PERMISSION_DENIED: "PERMISSION_MISSING",
    grpc.StatusCode.NOT_FOUND: "NOT_FOUND",
    grpc.StatusCode.INVALID_ARGUMENT: INVALID_ARGUMENT,
    grpc.StatusCode.RESOURCE_EXHAUSTED: "RATE_LIMITED",
}

_KNOWN_REASONS = frozenset(ErrorReason.keys())

REFUSAL_SCHEMA_NOTE = (
    "A refusal is a result with isError true whose structuredContent.error has reason (the API's ErrorReason), "
    "message, next_step, field_violations, retry_after_seconds and request_id."
)


def reason_of(error: vauchflow.VauchflowError) -> str:
    """The API's reason, or one derived from the status code; always a name of the ErrorReason enum."""
    if error.reason and f"ERROR_REASON_{error.reason}" in _KNOWN_REASONS:
        return error.reason
    return _REASON_BY_CODE.get(error.grpc_code, "INTERNAL")


def refusal(error: vauchflow.VauchflowError) -> types.CallToolResult:
    """The tool result for an API refusal or failure."""
    reason = reason_of(error)
    # An internal failure's message is the server's business; the reason and request id are enough.
    message = error.message if reason not in ("INTERNAL", "SERVICE_UNAVAILABLE") else ""
    return _error_result(
        reason,
        message,
        [(v.field, v.description) for v in error.field_violations],
        retry_after=error.retry_after,
        request_id=error.request_id,
        details=dict(error.metadata),
    )


def invalid_arguments(problems: Sequence[FieldProblem], request_id: str) -> types.CallToolResult:
    """The tool result for arguments that miss the tool's input schema (the API was not called)."""
    names = ", ".join(problem.field for problem in problems)
    return _error_result(
        INVALID_ARGUMENT,
        f"invalid arguments: {names}",
        [(problem.field, problem.description) for problem in problems],
        retry_after=None,
        request_id=request_id,
        details={},
    )


def _error_result(
    reason: str,
    message: str,
    violations: Sequence[tuple[str, str]],
    *,
    retry_after: float | None,
    request_id: str | None,
    details: Mapping[str, str],
) -> types.CallToolResult:
    next_step = NEXT_STEP.get(reason, NEXT_STEP["INTERNAL"])
    error: dict[str, Any] = {
        "reason": reason,
        "message": message,
        "next_step": next_step,
        "field_violations": [{"field": field, "description": description} for field, description in violations],
        "retry_after_seconds": None if retry_after is None else math.ceil(retry_after * 1000) / 1000,
        "request_id": request_id,
        "details": dict(details),
    }
    lines = [f"{reason}: {next_step}"]
    if message:
        lines.append(f"Detail: {message}")
    lines.extend(f"- {field}: {description}" for field, description in violations)
    if retry_after is not None:
        lines.append(f"Retry after {error['retry_after_seconds']} s.")
    return types.CallToolResult(
        content=[types.TextContent(type="text", text="\n".join(lines))],
        structured_content={"error": error},
        is_error=True,
    )


def as_text(structured: Mapping[str, Any]) -> str:
    """The structured result as JSON text, for clients that read only content (the spec asks for both)."""
    return json.dumps(structured, separators=(",", ":"), ensure_ascii=False)
