"""The one place gRPC failures become typed exceptions: status details (google.rpc.ErrorInfo, BadRequest,
RetryInfo) parsed once, and the class chosen by the ErrorInfo reason through a table keyed by the ErrorReason enum
(falling back to the status code when the reason is missing or newer than this client)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from vauchflow.v1 import error_reason_pb2
from vauchflow.v1.error_reason_pb2 import ErrorReason

ERROR_DOMAIN = "vauchflow.com"
REQUEST_ID_HEADER = "x-request-id"
_REASON_PREFIX = "ERROR_REASON_"

# The HTTP status Envoy's transcoder answers for each gRPC code (google.rpc.Code's documented mapping).
HTTP_STATUS: Mapping[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}


@dataclass(frozen=True)
class FieldViolation:
    """One offending field of an invalid request (google.rpc.BadRequest)."""

    field: str
    description: str


class VauchflowError(Exception):
    """Any failed call. `reason` is the machine-readable ErrorInfo reason ("VOUCHER_EXHAUSTED"), empty when the
    failure did not come from the API (a dropped connection, a deadline)."""

    def __init__(
        self,
        message: str,
        *,
        grpc_code: grpc.StatusCode = grpc.StatusCode.UNKNOWN,
        reason: str = "",
        metadata: Mapping[str, str] | None = None,
        field_violations: Sequence[FieldViolation] = (),
        retry_after: float | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.grpc_code = grpc_code
        self.reason = reason
        self.metadata: Mapping[str, str] = dict(metadata or {})
        self.field_violations: tuple[FieldViolation, ...] = tuple(field_violations)
        # Seconds the server asked to wait before retrying (google.rpc.RetryInfo); None when it did not say.
        self.retry_after = retry_after
        # The x-request-id of the call, to quote to support.
        self.request_id = request_id

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.grpc_code, 500)

    @property
    def error_reason(self) -> ErrorReason:
        """The reason as the ErrorReason enum; ERROR_REASON_UNSPECIFIED when absent or unknown to this client."""
        return reason_enum(self.reason)

    def __str__(self) -> str:
        reason = f"/{self.reason}" if self.reason else ""
        return f"{self.grpc_code.name}{reason}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, grpc_code={self.grpc_code.name}, reason={self.reason!r})"


class InvalidRequestError(VauchflowError):
    """INVALID_ARGUMENT: `field_violations` names every offending field."""


class AuthenticationError(VauchflowError):
    """UNAUTHENTICATED: the API key (or operator token) is missing, malformed, unknown or revoked."""


class PermissionDeniedError(VauchflowError):
    """PERMISSION_DENIED: the key lacks a permission; `metadata["permission"]` names it."""


class NotFoundError(VauchflowError):
    """NOT_FOUND."""


class ConflictError(VauchflowError):
    """ALREADY_EXISTS or ABORTED: the request clashes with existing state or a concurrent change."""


class VoucherCodeTaken(ConflictError):
    """The tenant already has a voucher with this code."""


class IdempotencyKeyReused(ConflictError):
    """The request_id was used before with a different request."""


class FailedPreconditionError(VauchflowError):
    """FAILED_PRECONDITION: the resource's state does not allow the call."""


class WebhookEndpointDisabled(FailedPreconditionError):
    """The call needs an enabled webhook endpoint."""


class RedemptionRefused(FailedPreconditionError):
    """A redeem or rollback was refused; the subclass (and `reason`) says why."""


class VoucherDisabled(RedemptionRefused):
    """VOUCHER_DISABLED."""


class VoucherNotYetValid(RedemptionRefused):
    """VOUCHER_NOT_YET_VALID: before the voucher's valid_from."""


class VoucherExpired(RedemptionRefused):
    """VOUCHER_EXPIRED: after the voucher's valid_until."""


class VoucherExhausted(RedemptionRefused):
    """VOUCHER_EXHAUSTED: no redemptions left."""


class CurrencyMismatch(RedemptionRefused):
    """CURRENCY_MISMATCH: the order's currency is not the voucher's."""


class OrderBelowMinimum(RedemptionRefused):
    """ORDER_BELOW_MINIMUM: the order amount is below the voucher's min_order_amount."""


class CustomerLimitReached(RedemptionRefused):
    """CUSTOMER_LIMIT_REACHED: this customer used the voucher as often as it allows."""


class CampaignNotActive(RedemptionRefused):
    """CAMPAIGN_NOT_ACTIVE: the code's campaign is paused or has ended."""


class CampaignExhausted(RedemptionRefused):
    """CAMPAIGN_EXHAUSTED: the code's campaign has no redemptions left across its codes."""


class RedemptionAlreadyRolledBack(RedemptionRefused):
    """REDEMPTION_ALREADY_ROLLED_BACK: a redemption is rolled back at most once."""


class RateLimitedError(VauchflowError):
    """RESOURCE_EXHAUSTED / RATE_LIMITED: too many requests; `retry_after` says when to try again."""


class QuotaExceededError(VauchflowError):
    """RESOURCE_EXHAUSTED / PLAN_QUOTA_EXCEEDED: the plan allows no more of a resource; retrying does not help."""


class UnavailableError(VauchflowError):
    """UNAVAILABLE: the service (or a dependency) is down or unreachable; the call may be retried."""


class DeadlineExceededError(VauchflowError):
    """DEADLINE_EXCEEDED: no answer within the timeout; the call may or may not have been applied."""


class InternalError(VauchflowError):
    """INTERNAL, UNKNOWN and every other server-side failure."""


class OperationError(VauchflowError):
    """A long-running operation ended without its result (OPERATION_CANCELLED, OPERATION_ABANDONED: its server
    stopped, CODE_SPACE_EXHAUSTED); what it did before is kept."""


_R = ErrorReason
# Every reason the server emits (the ErrorReason enum) has its class here; a unit test fails when one is missing.
REASON_CLASSES: Mapping[ErrorReason, type[VauchflowError]] = {
    _R.ERROR_REASON_INVALID_ARGUMENT: InvalidRequestError,
    _R.ERROR_REASON_API_KEY_INVALID: AuthenticationError,
    _R.ERROR_REASON_PERMISSION_MISSING: PermissionDeniedError,
    _R.ERROR_REASON_ACCESS_DENIED: PermissionDeniedError,
    _R.ERROR_REASON_NOT_FOUND: NotFoundError,
    _R.ERROR_REASON_VOUCHER_NOT_FOUND: NotFoundError,
    _R.ERROR_REASON_REDEMPTION_NOT_FOUND: NotFoundError,
    _R.ERROR_REASON_API_KEY_NOT_FOUND: NotFoundError,
    _R.ERROR_REASON_TENANT_NOT_FOUND: NotFoundError,
    _R.ERROR_REASON_WEBHOOK_ENDPOINT_NOT_FOUND: NotFoundError,
    _R.ERROR_REASON_EVENT_NOT_FOUND: NotFoundError,
    _R.ERROR_REASON_VOUCHER_DISABLED: VoucherDisabled,
    _R.ERROR_REASON_VOUCHER_NOT_YET_VALID: VoucherNotYetValid,
    _R.ERROR_REASON_VOUCHER_EXPIRED: VoucherExpired,
    _R.ERROR_REASON_VOUCHER_EXHAUSTED: VoucherExhausted,
    _R.ERROR_REASON_CURRENCY_MISMATCH: CurrencyMismatch,
    _R.ERROR_REASON_ORDER_BELOW_MINIMUM: OrderBelowMinimum,
    _R.ERROR_REASON_CUSTOMER_LIMIT_REACHED: CustomerLimitReached,
    _R.ERROR_REASON_REDEMPTION_ALREADY_ROLLED_BACK: RedemptionAlreadyRolledBack,
    _R.ERROR_REASON_WEBHOOK_ENDPOINT_DISABLED: WebhookEndpointDisabled,
    _R.ERROR_REASON_ALREADY_EXISTS: ConflictError,
    _R.ERROR_REASON_VOUCHER_CODE_TAKEN: VoucherCodeTaken,
    _R.ERROR_REASON_IDEMPOTENCY_KEY_REUSED: IdempotencyKeyReused,
    _R.ERROR_REASON_CONSTRAINT_VIOLATED: InternalError,
    _R.ERROR_REASON_RATE_LIMITED: RateLimitedError,
    _R.ERROR_REASON_PLAN_QUOTA_EXCEEDED: QuotaExceededError,
    _R.ERROR_REASON_CONCURRENT_UPDATE: ConflictError,
    _R.ERROR_REASON_SERVICE_UNAVAILABLE: UnavailableError,
    _R.ERROR_REASON_INTERNAL: InternalError,
    _R.ERROR_REASON_CAMPAIGN_NOT_FOUND: NotFoundError,
    _R.ERROR_REASON_OPERATION_NOT_FOUND: NotFoundError,
    _R.ERROR_REASON_CAMPAIGN_EXHAUSTED: CampaignExhausted,
    _R.ERROR_REASON_CAMPAIGN_NOT_ACTIVE: CampaignNotActive,
    _R.ERROR_REASON_OPERATION_ABANDONED: OperationError,
    _R.ERROR_REASON_OPERATION_CANCELLED: OperationError,
    _R.ERROR_REASON_CODE_SPACE_EXHAUSTED: OperationError,
    _R.ERROR_REASON_OPERATION_RUNNING: FailedPreconditionError,
}

# When there is no reason this client knows: the class by status code.
CODE_CLASSES: Mapping[grpc.StatusCode, type[VauchflowError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidRequestError,
    grpc.StatusCode.OUT_OF_RANGE: InvalidRequestError,
    grpc.StatusCode.UNAUTHENTICATED: AuthenticationError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: ConflictError,
    grpc.StatusCode.ABORTED: ConflictError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: RateLimitedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
}


def reason_enum(reason: str) -> ErrorReason:
    """ "VOUCHER_EXHAUSTED" -> ERROR_REASON_VOUCHER_EXHAUSTED; UNSPECIFIED for an empty or unknown reason."""
    if not reason:
        return ErrorReason.ERROR_REASON_UNSPECIFIED
    try:
        return cast(ErrorReason, error_reason_pb2.ErrorReason.Value(_REASON_PREFIX + reason))
    except ValueError:
        return ErrorReason.ERROR_REASON_UNSPECIFIED


def error_class(code: grpc.StatusCode, reason: str) -> type[VauchflowError]:
    by_reason = REASON_CLASSES.get(reason_enum(reason))
    if by_reason is not None:
        return by_reason
    return CODE_CLASSES.get(code, InternalError)


def from_status(
    code: grpc.StatusCode,
    message: str,
    status: status_pb2.Status | None,
    response_metadata: Sequence[tuple[str, str | bytes]] = (),
    request_id: str | None = None,
) -> VauchflowError:
    """The typed exception for a status and its google.rpc details."""
    reason = ""
    metadata: dict[str, str] = {}
    violations: list[FieldViolation] = []
    retry_after: float | None = None
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            if info.domain == ERROR_DOMAIN:
                reason = info.reason
                metadata.update(info.metadata)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            violations.extend(FieldViolation(v.field, v.description) for v in bad_request.field_violations)
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry_info = error_details_pb2.RetryInfo()
            detail.Unpack(retry_info)
            retry_after = retry_info.retry_delay.ToNanoseconds() / 1e9
    header_values = {key.lower(): value for key, value in response_metadata if isinstance(value, str)}
    if retry_after is None and "retry-after" in header_values:
        retry_after = _seconds(header_values["retry-after"])
    echoed = header_values.get(REQUEST_ID_HEADER) or metadata.get("request_id")
    return error_class(code, reason)(
        message,
        grpc_code=code,
        reason=reason,
        metadata=metadata,
        field_violations=violations,
        retry_after=retry_after,
        request_id=echoed or request_id,
    )


def from_rpc_error(error: grpc.RpcError, request_id: str | None = None) -> VauchflowError:
    """The typed exception for a failed gRPC call (sync or asyncio); request_id is the x-request-id it sent."""
    call = cast(grpc.Call, error)  # every RpcError grpc raises (sync or asyncio) is also a grpc.Call
    try:
        status = rpc_status.from_call(call)
    except ValueError:  # a status whose code disagrees with its details: trust the call's own code
        status = None
    response_metadata = [*_pairs(call.initial_metadata()), *_pairs(call.trailing_metadata())]
    return from_status(call.code(), call.details() or "", status, response_metadata, request_id)


def _pairs(metadata: object) -> list[tuple[str, str | bytes]]:
    if metadata is None:
        return []
    return [(str(key), value) for key, value in metadata]  # type: ignore[attr-defined]


def _seconds(value: str) -> float | None:
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None
