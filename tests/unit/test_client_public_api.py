"""The client's public surface is curated: `vauchflow.__all__` is pinned here, so adding or dropping a public
name is a deliberate change to this list; everything else lives in private modules."""

from __future__ import annotations

import pkgutil

import pytest

import vauchflow
from vauchflow import _transport

PUBLIC_NAMES = [
    "AsyncClient",
    "AsyncEventStream",
    "AsyncOperatorClient",
    "AsyncPager",
    "AuthenticationError",
    "CampaignExhausted",
    "CampaignNotActive",
    "Client",
    "ConflictError",
    "CurrencyMismatch",
    "CustomerLimitReached",
    "DeadlineExceededError",
    "ErrorReason",
    "EventStream",
    "FailedPreconditionError",
    "FieldViolation",
    "IdempotencyKeyReused",
    "InternalError",
    "InvalidRequestError",
    "NotFoundError",
    "OperationError",
    "OperatorClient",
    "OrderBelowMinimum",
    "Pager",
    "PermissionDeniedError",
    "Plan",
    "QuotaExceededError",
    "RateLimitedError",
    "RedemptionAlreadyRolledBack",
    "RedemptionRefused",
    "UnavailableError",
    "VauchflowError",
    "VoucherCodeTaken",
    "VoucherDisabled",
    "VoucherExhausted",
    "VoucherExpired",
    "VoucherNotYetValid",
    "WebhookEndpointDisabled",
    "WebhookEvent",
    "WebhookVerificationError",
    "__version__",
    "webhooks",
]


def test_all_is_pinned_and_every_name_exists() -> None:
    assert vauchflow.__all__ == PUBLIC_NAMES
    for name in PUBLIC_NAMES:
        assert hasattr(vauchflow, name), name


def test_modules_are_private_except_webhooks_and_the_generated_v1() -> None:
    modules = {info.name for info in pkgutil.iter_modules(vauchflow.__path__)}
    assert {name for name in modules if not name.startswith("_")} == {"webhooks", "v1"}


def test_settings_come_from_arguments_then_the_environment_then_defaults() -> None:
    environ = {"VAUCHFLOW_API_KEY": "vf_sk_env", "VAUCHFLOW_TARGET": "api.example.com:443"}
    from_env = vauchflow.Client(environ=environ).settings
    assert (from_env.token, from_env.target, from_env.tls) == ("vf_sk_env", "api.example.com:443", True)
    given = vauchflow.Client("vf_sk_arg", target="127.0.0.1:50051", environ=environ).settings
    assert (given.token, given.target, given.tls) == ("vf_sk_arg", "127.0.0.1:50051", False)
    default = vauchflow.Client("k", environ={}, timeout=5, max_retries=0).settings
    assert (default.target, default.tls, default.timeout, default.retry.max_retries) == (
        _transport.DEFAULT_TARGET,
        False,
        5,
        0,
    )
    assert vauchflow.Client("k", target="localhost:1", root_certificates=b"pem", environ={}).settings.tls
    assert vauchflow.OperatorClient(environ={"VAUCHFLOW_ADMIN_TOKEN": "op"}).settings.token == "op"


def test_missing_credentials_are_refused_early() -> None:
    with pytest.raises(ValueError, match="VAUCHFLOW_API_KEY"):
        vauchflow.Client(environ={})
    with pytest.raises(ValueError, match="VAUCHFLOW_ADMIN_TOKEN"):
        vauchflow.OperatorClient(environ={"VAUCHFLOW_API_KEY": "not the operator's"})


def test_with_options_changes_only_what_it_is_given() -> None:
    client = vauchflow.Client("k", environ={}, timeout=7, max_retries=4)
    quick = client.with_options(timeout=1)
    assert (quick.settings.timeout, quick.settings.retry.max_retries) == (1, 4)
    assert (client.settings.timeout, client.with_options(max_retries=0).settings.retry.max_retries) == (7, 0)
    with pytest.raises(ValueError):
        client.with_options(timeout=0)
