"""The one place domain errors become gRPC statuses with google.rpc details.

Every error carries a google.rpc.ErrorInfo (domain "vauchflow.com", an UPPER_SNAKE_CASE reason); invalid input
also carries google.rpc.BadRequest field violations; an exceeded plan quota a QuotaFailure (and no RetryInfo:
retrying does not help until the plan changes); retryable errors a RetryInfo (for RATE_LIMITED the exact delay
until the key's next request would be admitted). Whenever RetryInfo asks to wait, the trailing metadata also
carries `retry-after: <whole seconds, rounded up>`, which REST clients get from Envoy as the Retry-After header.
Unexpected exceptions become a generic INTERNAL status: their text may hold SQL or secrets, so it never leaves
the process. Every ErrorInfo carries the request id in its metadata (`request_id`), for the caller to quote.
"""

from __future__ import annotations

import math
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2

from vauchflow_core import errors

ERROR_DOMAIN = "vauchflow.com"

_STATUS_CODES: dict[type[errors.DomainError], grpc.StatusCode] = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.RedemptionDenied: grpc.StatusCode.FAILED_PRECONDITION,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.Conflict: grpc.StatusCode.ALREADY_EXISTS,
    errors.QuotaExceeded: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.RateLimited: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.TooManyFailedAuthentications: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.PermissionMissing: grpc.StatusCode.PERMISSION_DENIED,
    errors.Forbidden: grpc.StatusCode.PERMISSION_DENIED,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
    errors.Aborted: grpc.StatusCode.ABORTED,
}
_RETRY_DELAY_SECONDS = {grpc.StatusCode.UNAVAILABLE: 1, grpc.StatusCode.ABORTED: 0}


def status_code_of(error: errors.DomainError) -> grpc.StatusCode:
    for error_type in type(error).__mro__:
        if error_type in _STATUS_CODES:
            return _STATUS_CODES[error_type]
    return grpc.StatusCode.INTERNAL


def _packed(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def to_rpc_status(error: errors.DomainError, request_id: str = "") -> tuple[grpc.StatusCode, status_pb2.Status]:
    code = status_code_of(error)
    metadata = {**error.metadata, "request_id": request_id} if request_id else error.metadata
    details = [_packed(error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN, metadata=metadata))]
    if isinstance(error, errors.InvalidArgument):
        details.append(
            _packed(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                        for v in error.violations
                    ]
                )
            )
        )
    if isinstance(error, errors.QuotaExceeded):
        violation = error_details_pb2.QuotaFailure.Violation(subject=f"plan:{error.plan}", description=error.message)
        details.append(_packed(error_details_pb2.QuotaFailure(violations=[violation])))
    delay = _retry_delay(error, code)
    if delay is not None:
        details.append(_packed(error_details_pb2.RetryInfo(retry_delay=delay)))
    return code, status_pb2.Status(code=code.value[0], message=error.message, details=details)


def _retry_delay(error: errors.DomainError, code: grpc.StatusCode) -> duration_pb2.Duration | None:
    if isinstance(error, (errors.RateLimited, errors.TooManyFailedAuthentications)):
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(max(0, round(error.retry_after * 1e9)))
        return delay
    if code in _RETRY_DELAY_SECONDS:
        return duration_pb2.Duration(seconds=_RETRY_DELAY_SECONDS[code])
    return None


def internal_status(request_id: str = "") -> tuple[grpc.StatusCode, status_pb2.Status]:
    metadata = {"request_id": request_id} if request_id else {}
    info = error_details_pb2.ErrorInfo(reason="INTERNAL", domain=ERROR_DOMAIN, metadata=metadata)
    message = "internal error; the request may not have been applied"
    return grpc.StatusCode.INTERNAL, status_pb2.Status(code=code_pb2.INTERNAL, message=message, details=[_packed(info)])


def retry_after_seconds(status: status_pb2.Status) -> int | None:
    """The status's RetryInfo delay in whole seconds, rounded up (HTTP Retry-After); None without one or at 0."""
    for detail in status.details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            nanos = info.retry_delay.ToNanoseconds()
            return math.ceil(nanos / 1e9) if nanos > 0 else None
    return None


async def abort(context: grpc.aio.ServicerContext[Any, Any], code: grpc.StatusCode, status: status_pb2.Status) -> None:
    """Ends the RPC with `status` (raises grpc.aio.AbortError)."""
    metadata: list[tuple[str, str | bytes]] = [("grpc-status-details-bin", status.SerializeToString())]
    retry_after = retry_after_seconds(status)
    if retry_after is not None:
        metadata.append(("retry-after", str(retry_after)))
    await context.abort(code, status.message, trailing_metadata=tuple(metadata))
