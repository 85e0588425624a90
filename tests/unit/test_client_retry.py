"""The client's retry rules: which RPCs may be repeated (written once, in vauchflow._rpcs, checked here against
the protos), which failures are retried, and how long it waits."""

from __future__ import annotations

import grpc
import pytest
from google.api import annotations_pb2
from google.protobuf import descriptor_pool

from vauchflow import _errors, _rpcs
from vauchflow._retry import RetryPolicy
from vauchflow._rpcs import Retry
from vauchflow._transport import with_request_id
from vauchflow.v1 import redemption_service_pb2, voucher_service_pb2

# Served to tenants and the operator (HealthService is for probes, not the client).
CLIENT_SERVICES = (
    "VoucherService",
    "RedemptionService",
    "WebhookService",
    "ApiKeyService",
    "TenantService",
    "EventStreamService",
    "CampaignService",
)
# google.longrunning.Operations as served (WaitOperation is not: the client polls GetOperation).
OPERATIONS = ("GetOperation", "ListOperations", "CancelOperation", "DeleteOperation")
# POST, but without side effects.
SAFE_POSTS = {"/vauchflow.v1.RedemptionService/ValidateVoucher"}


def _methods() -> dict[str, object]:
    pool = descriptor_pool.Default()
    methods = {}
    for service_name in CLIENT_SERVICES:
        service = pool.FindServiceByName(f"vauchflow.v1.{service_name}")
        for method in service.methods:
            methods[f"/vauchflow.v1.{service_name}/{method.name}"] = method
    operations = pool.FindServiceByName("google.longrunning.Operations")
    for name in OPERATIONS:
        methods[f"/google.longrunning.Operations/{name}"] = operations.methods_by_name[name]
    return methods


def test_every_rpc_of_the_client_services_is_in_the_table_once_with_its_message_types() -> None:
    methods = _methods()
    table = {rpc.full_method: rpc for rpc in _rpcs.ALL}
    assert len(table) == len(_rpcs.ALL), "an RPC is listed twice"
    assert sorted(table) == sorted(methods)
    for name, rpc in table.items():
        method = methods[name]
        assert rpc.request_type.DESCRIPTOR is method.input_type, name  # type: ignore[attr-defined]
        assert rpc.response_type.DESCRIPTOR is method.output_type, name  # type: ignore[attr-defined]


def test_the_retry_rule_follows_the_http_verb_and_the_request_id_field() -> None:
    for name, method in _methods().items():
        rule = method.GetOptions().Extensions[annotations_pb2.http]  # type: ignore[attr-defined]
        takes_key = "request_id" in method.input_type.fields_by_name  # type: ignore[attr-defined]
        if rule.get or name in SAFE_POSTS:
            expected = Retry.SAFE
        elif takes_key:
            expected = Retry.WITH_REQUEST_ID
        else:
            expected = Retry.NEVER
        assert {rpc.full_method: rpc.retry for rpc in _rpcs.ALL}[name] is expected, name


def _error(code: grpc.StatusCode, retry_after: float | None = None) -> _errors.VauchflowError:
    return _errors.VauchflowError("m", grpc_code=code, retry_after=retry_after)


def _no_jitter() -> float:
    return 1.0


POLICY = RetryPolicy(max_retries=3, initial_backoff=0.5, max_backoff=4.0)


@pytest.mark.parametrize("rule", [Retry.SAFE, Retry.WITH_REQUEST_ID])
def test_unavailable_and_aborted_are_retried_for_safe_and_keyed_calls(rule: Retry) -> None:
    for code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED):
        assert POLICY.delay_before_retry(rule, _error(code), 0, _no_jitter) == 0.5


def test_a_call_without_request_id_is_never_retried() -> None:
    assert POLICY.delay_before_retry(Retry.NEVER, _error(grpc.StatusCode.UNAVAILABLE), 0) is None


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.DEADLINE_EXCEEDED,  # may have been applied and the caller's time is up
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.NOT_FOUND,
    ],
)
def test_other_failures_are_not_retried(code: grpc.StatusCode) -> None:
    assert POLICY.delay_before_retry(Retry.SAFE, _error(code), 0) is None


def test_resource_exhausted_is_retried_only_when_the_server_says_when() -> None:
    quota = _error(grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert POLICY.delay_before_retry(Retry.SAFE, quota, 0) is None
    limited = _error(grpc.StatusCode.RESOURCE_EXHAUSTED, retry_after=2.5)
    assert POLICY.delay_before_retry(Retry.SAFE, limited, 0, _no_jitter) == 2.5
    too_long = _error(grpc.StatusCode.RESOURCE_EXHAUSTED, retry_after=POLICY.max_retry_after + 1)
    assert POLICY.delay_before_retry(Retry.SAFE, too_long, 0) is None


def test_backoff_grows_exponentially_to_a_cap_and_retries_run_out() -> None:
    unavailable = _error(grpc.StatusCode.UNAVAILABLE)
    delays = [POLICY.delay_before_retry(Retry.SAFE, unavailable, n, _no_jitter) for n in range(4)]
    assert delays == [0.5, 1.0, 2.0, None]
    assert RetryPolicy(max_retries=10, initial_backoff=0.5, max_backoff=4.0).backoff(9, _no_jitter) == 4.0
    # The server's retry-after is a floor, never shortened by the backoff.
    assert POLICY.delay_before_retry(Retry.SAFE, _error(grpc.StatusCode.UNAVAILABLE, 0.1), 2, _no_jitter) == 2.0


def test_jitter_spreads_a_delay_over_its_upper_half() -> None:
    assert POLICY.backoff(1, lambda: 0.0) == 0.5
    assert POLICY.backoff(1, lambda: 1.0) == 1.0


def test_a_keyed_mutation_gets_a_request_id_once_and_keeps_a_callers() -> None:
    request = redemption_service_pb2.RedeemVoucherRequest(code="A")
    keyed = with_request_id(_rpcs.REDEEM_VOUCHER, request)
    assert keyed.request_id and request.request_id == ""  # the caller's message is left alone
    assert with_request_id(_rpcs.REDEEM_VOUCHER, keyed) is keyed
    given = redemption_service_pb2.RedeemVoucherRequest(code="A", request_id="order-1")
    assert with_request_id(_rpcs.REDEEM_VOUCHER, given).request_id == "order-1"
    read = voucher_service_pb2.GetVoucherRequest(code="A")
    assert with_request_id(_rpcs.GET_VOUCHER, read) is read
