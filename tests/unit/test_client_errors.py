"""vauchflow's error parsing: google.rpc details become one typed exception with every field filled in."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

import vauchflow
from vauchflow import _errors


def _status(code: grpc.StatusCode, *details: object) -> status_pb2.Status:
    packed = []
    for detail in details:
        item = any_pb2.Any()
        item.Pack(detail)  # type: ignore[arg-type]
        packed.append(item)
    return status_pb2.Status(code=code.value[0], message="m", details=packed)


def _info(reason: str, domain: str = "vauchflow.com", **metadata: str) -> error_details_pb2.ErrorInfo:
    return error_details_pb2.ErrorInfo(reason=reason, domain=domain, metadata=metadata)


def test_a_refusal_becomes_its_own_class_with_reason_and_http_status() -> None:
    code = grpc.StatusCode.FAILED_PRECONDITION
    error = _errors.from_status(code, "no redemptions left", _status(code, _info("VOUCHER_EXHAUSTED")))
    assert type(error) is vauchflow.VoucherExhausted
    assert isinstance(error, vauchflow.RedemptionRefused)
    assert isinstance(error, vauchflow.FailedPreconditionError)
    assert (error.reason, error.grpc_code, error.http_status, error.message) == (
        "VOUCHER_EXHAUSTED",
        code,
        400,
        "no redemptions left",
    )
    assert error.error_reason == vauchflow.ErrorReason.ERROR_REASON_VOUCHER_EXHAUSTED
    assert str(error) == "FAILED_PRECONDITION/VOUCHER_EXHAUSTED: no redemptions left"


def test_bad_request_field_violations_are_listed() -> None:
    code = grpc.StatusCode.INVALID_ARGUMENT
    bad_request = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field="voucher.code", description="too long"),
            error_details_pb2.BadRequest.FieldViolation(field="order.amount", description="negative"),
        ]
    )
    error = _errors.from_status(code, "invalid", _status(code, _info("INVALID_ARGUMENT"), bad_request))
    assert type(error) is vauchflow.InvalidRequestError
    assert error.field_violations == (
        vauchflow.FieldViolation("voucher.code", "too long"),
        vauchflow.FieldViolation("order.amount", "negative"),
    )
    assert error.http_status == 400


def test_retry_info_gives_retry_after_and_metadata_is_kept() -> None:
    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    retry = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=1, nanos=250_000_000))
    error = _errors.from_status(code, "slow down", _status(code, _info("RATE_LIMITED", plan="FREE"), retry))
    assert type(error) is vauchflow.RateLimitedError
    assert error.retry_after == 1.25
    assert error.metadata == {"plan": "FREE"}
    assert error.http_status == 429


def test_the_retry_after_header_is_the_fallback_for_retry_info() -> None:
    error = _errors.from_status(grpc.StatusCode.UNAVAILABLE, "down", None, [("retry-after", "3")])
    assert (type(error), error.retry_after) == (vauchflow.UnavailableError, 3.0)
    assert _errors.from_status(grpc.StatusCode.UNAVAILABLE, "down", None, [("retry-after", "soon")]).retry_after is None


def test_request_id_prefers_what_the_server_echoed_over_what_was_sent() -> None:
    code = grpc.StatusCode.NOT_FOUND
    status = _status(code, _info("VOUCHER_NOT_FOUND"))
    assert _errors.from_status(code, "m", status, [("x-request-id", "envoy-1")], "sent-1").request_id == "envoy-1"
    assert _errors.from_status(code, "m", status, [], "sent-1").request_id == "sent-1"


def test_a_quota_error_is_not_a_rate_limit() -> None:
    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    error = _errors.from_status(code, "plan", _status(code, _info("PLAN_QUOTA_EXCEEDED")))
    assert (type(error), error.retry_after) == (vauchflow.QuotaExceededError, None)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (grpc.StatusCode.UNAVAILABLE, vauchflow.UnavailableError),
        (grpc.StatusCode.DEADLINE_EXCEEDED, vauchflow.DeadlineExceededError),
        (grpc.StatusCode.NOT_FOUND, vauchflow.NotFoundError),
        (grpc.StatusCode.UNAUTHENTICATED, vauchflow.AuthenticationError),
        (grpc.StatusCode.PERMISSION_DENIED, vauchflow.PermissionDeniedError),
        (grpc.StatusCode.ALREADY_EXISTS, vauchflow.ConflictError),
        (grpc.StatusCode.FAILED_PRECONDITION, vauchflow.FailedPreconditionError),
        (grpc.StatusCode.UNIMPLEMENTED, vauchflow.InternalError),
        (grpc.StatusCode.INTERNAL, vauchflow.InternalError),
    ],
)
def test_without_a_known_reason_the_status_code_decides(code: grpc.StatusCode, expected: type) -> None:
    assert type(_errors.from_status(code, "m", None)) is expected
    # A reason newer than this client, or from another domain, is kept as text but classed by code.
    newer = _errors.from_status(code, "m", _status(code, _info("SOMETHING_NEW")))
    assert (type(newer), newer.reason, newer.error_reason) == (expected, "SOMETHING_NEW", 0)
    foreign = _errors.from_status(code, "m", _status(code, _info("VOUCHER_EXHAUSTED", domain="googleapis.com")))
    assert (type(foreign), foreign.reason) == (expected, "")


def test_every_vauchflow_error_is_one_exception_type() -> None:
    for name in vauchflow.__all__:
        value = getattr(vauchflow, name)
        if isinstance(value, type) and issubclass(value, Exception) and value is not vauchflow.WebhookVerificationError:
            assert issubclass(value, vauchflow.VauchflowError), name
