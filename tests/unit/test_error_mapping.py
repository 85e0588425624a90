"""error_mapping: each domain error's gRPC code and google.rpc details; nothing internal ever leaks."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2, status_pb2

from vauchflow_core import errors
from vauchflow_core.errors import FieldViolation, InvalidArgument
from vauchflow_core.rpc import error_mapping
from vauchflow_server.db.database import CheckViolation, UniqueViolation

DOMAIN = "vauchflow.com"


def unpack(status: status_pb2.Status, message_type):
    found = []
    for detail in status.details:
        if detail.Is(message_type.DESCRIPTOR):
            message = message_type()
            detail.Unpack(message)
            found.append(message)
    return found


def error_info(status: status_pb2.Status) -> error_details_pb2.ErrorInfo:
    infos = unpack(status, error_details_pb2.ErrorInfo)
    assert len(infos) == 1
    return infos[0]


@pytest.mark.parametrize(
    ("error", "code", "reason"),
    [
        (errors.NotFound("no voucher", reason="VOUCHER_NOT_FOUND"), grpc.StatusCode.NOT_FOUND, "VOUCHER_NOT_FOUND"),
        (errors.NotFound("gone"), grpc.StatusCode.NOT_FOUND, "NOT_FOUND"),
        (errors.denied(errors.VOUCHER_EXHAUSTED), grpc.StatusCode.FAILED_PRECONDITION, "VOUCHER_EXHAUSTED"),
        (errors.denied(errors.VOUCHER_EXPIRED), grpc.StatusCode.FAILED_PRECONDITION, "VOUCHER_EXPIRED"),
        (errors.denied(errors.VOUCHER_NOT_YET_VALID), grpc.StatusCode.FAILED_PRECONDITION, "VOUCHER_NOT_YET_VALID"),
        (errors.denied(errors.VOUCHER_DISABLED), grpc.StatusCode.FAILED_PRECONDITION, "VOUCHER_DISABLED"),
        (errors.denied(errors.CUSTOMER_LIMIT_REACHED), grpc.StatusCode.FAILED_PRECONDITION, "CUSTOMER_LIMIT_REACHED"),
        (errors.denied(errors.ORDER_BELOW_MINIMUM), grpc.StatusCode.FAILED_PRECONDITION, "ORDER_BELOW_MINIMUM"),
        (errors.denied(errors.CURRENCY_MISMATCH), grpc.StatusCode.FAILED_PRECONDITION, "CURRENCY_MISMATCH"),
        (
            errors.denied(errors.REDEMPTION_ALREADY_ROLLED_BACK),
            grpc.StatusCode.FAILED_PRECONDITION,
            "REDEMPTION_ALREADY_ROLLED_BACK",
        ),
        (errors.Conflict("taken", reason="VOUCHER_CODE_TAKEN"), grpc.StatusCode.ALREADY_EXISTS, "VOUCHER_CODE_TAKEN"),
        (
            errors.Conflict("reused", reason="IDEMPOTENCY_KEY_REUSED"),
            grpc.StatusCode.ALREADY_EXISTS,
            "IDEMPOTENCY_KEY_REUSED",
        ),
        (UniqueViolation("some_key"), grpc.StatusCode.ALREADY_EXISTS, "ALREADY_EXISTS"),
        (errors.Unauthenticated("bad key"), grpc.StatusCode.UNAUTHENTICATED, "API_KEY_INVALID"),
        (errors.PermissionMissing("no"), grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_MISSING"),
        (errors.Forbidden("rls"), grpc.StatusCode.PERMISSION_DENIED, "ACCESS_DENIED"),
        (errors.Unavailable("db down"), grpc.StatusCode.UNAVAILABLE, "SERVICE_UNAVAILABLE"),
        (errors.Aborted("retry"), grpc.StatusCode.ABORTED, "CONCURRENT_UPDATE"),
        (errors.RateLimited(0.1, "FREE", 10, 20), grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED"),
        (
            InvalidArgument.single("voucher.code", "must not be empty"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
        ),
        # A domain error without a mapping is a bug, not a client's fault.
        (CheckViolation("redemption_count_within_max"), grpc.StatusCode.INTERNAL, "CONSTRAINT_VIOLATED"),
        (errors.DomainError("unmapped"), grpc.StatusCode.INTERNAL, "UNKNOWN"),
    ],
)
def test_each_domain_error_maps_to_its_code_and_error_info(error, code: grpc.StatusCode, reason: str) -> None:
    mapped_code, status = error_mapping.to_rpc_status(error)
    assert mapped_code == code
    assert status.code == code.value[0]
    assert status.message == error.message
    info = error_info(status)
    assert info.domain == DOMAIN
    assert info.reason == reason
    assert info.reason == info.reason.upper() and " " not in info.reason


def test_status_codes_follow_subclasses() -> None:
    class VoucherGone(errors.NotFound):
        reason = "VOUCHER_NOT_FOUND"

    code, status = error_mapping.to_rpc_status(VoucherGone("no such voucher"))
    assert code == grpc.StatusCode.NOT_FOUND
    assert error_info(status).reason == "VOUCHER_NOT_FOUND"


def test_error_metadata_travels_in_error_info() -> None:
    error = errors.PermissionMissing("lacks vouchers:write", metadata={"permission": "vouchers:write"})
    _, status = error_mapping.to_rpc_status(error)
    assert dict(error_info(status).metadata) == {"permission": "vouchers:write"}


def test_invalid_argument_carries_every_field_violation() -> None:
    error = InvalidArgument([
        FieldViolation("voucher.discount.percent_off", "must be between 1 and 100"),
        FieldViolation("voucher.valid_until", "must be after valid_from"),
    ])  # fmt: skip
    _, status = error_mapping.to_rpc_status(error)
    [bad_request] = unpack(status, error_details_pb2.BadRequest)
    assert [(v.field, v.description) for v in bad_request.field_violations] == [
        ("voucher.discount.percent_off", "must be between 1 and 100"),
        ("voucher.valid_until", "must be after valid_from"),
    ]
    assert not unpack(status, error_details_pb2.RetryInfo)


def test_a_denial_carries_neither_bad_request_nor_retry_info() -> None:
    _, status = error_mapping.to_rpc_status(errors.denied(errors.VOUCHER_EXHAUSTED))
    assert not unpack(status, error_details_pb2.BadRequest)
    assert not unpack(status, error_details_pb2.RetryInfo)


@pytest.mark.parametrize("error", [errors.Unavailable("db down"), errors.Aborted("concurrent update")])
def test_retryable_errors_carry_retry_info(error) -> None:
    _, status = error_mapping.to_rpc_status(error)
    [retry] = unpack(status, error_details_pb2.RetryInfo)
    assert retry.HasField("retry_delay")


def test_rate_limited_is_resource_exhausted_with_the_exact_delay_and_a_retry_after_in_whole_seconds() -> None:
    code, status = error_mapping.to_rpc_status(errors.RateLimited(0.25, "FREE", 10, 20))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    info = error_info(status)
    assert (info.reason, dict(info.metadata)) == (
        "RATE_LIMITED",
        {"plan": "FREE", "requests_per_second": "10", "burst": "20"},
    )
    [retry] = unpack(status, error_details_pb2.RetryInfo)
    assert (retry.retry_delay.seconds, retry.retry_delay.nanos) == (0, 250_000_000)
    assert error_mapping.retry_after_seconds(status) == 1  # HTTP Retry-After: whole seconds, rounded up
    _, status = error_mapping.to_rpc_status(errors.RateLimited(2.0001, "SCALE", 500, 2000))
    assert error_mapping.retry_after_seconds(status) == 3


def test_only_errors_that_ask_to_wait_get_a_retry_after() -> None:
    assert error_mapping.retry_after_seconds(error_mapping.to_rpc_status(errors.Unavailable("db down"))[1]) == 1
    for error in (errors.Aborted("retry now"), errors.QuotaExceeded("vouchers", "FREE", 100), errors.NotFound("x")):
        assert error_mapping.retry_after_seconds(error_mapping.to_rpc_status(error)[1]) is None


def test_internal_status_is_generic() -> None:
    try:
        raise RuntimeError("SELECT secret_hash FROM api_keys -- vf_sk_leaked")
    except RuntimeError:
        code, status = error_mapping.internal_status()
    assert code == grpc.StatusCode.INTERNAL
    assert status.code == code_pb2.INTERNAL
    serialized = status.SerializeToString()
    for leak in (b"SELECT", b"api_keys", b"vf_sk_", b"RuntimeError", b"Traceback"):
        assert leak not in serialized
    info = error_info(status)
    assert (info.domain, info.reason) == (DOMAIN, "INTERNAL")
    assert [d.type_url for d in status.details] == ["type.googleapis.com/google.rpc.ErrorInfo"]


def test_database_errors_carry_no_sql_or_constraint_text_to_the_caller() -> None:
    for error in (CheckViolation("redemption_count_within_max"), UniqueViolation("api_keys_secret_hash_key")):
        _, status = error_mapping.to_rpc_status(error)
        serialized = status.SerializeToString()
        assert error.constraint.encode() not in serialized


def test_the_request_id_is_in_every_error_info_beside_the_errors_own_metadata():
    missing = errors.PermissionMissing("needs vouchers:write", metadata={"permission": "vouchers:write"})
    _, status = error_mapping.to_rpc_status(missing, "req-42")
    assert dict(error_info(status).metadata) == {"permission": "vouchers:write", "request_id": "req-42"}
    _, internal = error_mapping.internal_status("req-43")
    assert dict(error_info(internal).metadata) == {"request_id": "req-43"}
    _, without = error_mapping.to_rpc_status(errors.NotFound("gone"))
    assert dict(error_info(without).metadata) == {}
