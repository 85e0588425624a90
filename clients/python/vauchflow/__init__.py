"""Vauchflow's Python client.

    import vauchflow

    with vauchflow.Client() as client:  # VAUCHFLOW_API_KEY, VAUCHFLOW_TARGET
        voucher = client.vouchers.create("WELCOME10", percent_off=10, currency="EUR")

The protobuf messages and gRPC stubs it is built on are generated into ``vauchflow.v1`` from ``protos/`` by
``make generate``; everything public is re-exported here, the implementation lives in private modules.
"""

from vauchflow import webhooks
from vauchflow._client import AsyncClient, AsyncOperatorClient, Client, OperatorClient
from vauchflow._errors import (
    AuthenticationError,
    CampaignExhausted,
    CampaignNotActive,
    ConflictError,
    CurrencyMismatch,
    CustomerLimitReached,
    DeadlineExceededError,
    FailedPreconditionError,
    FieldViolation,
    IdempotencyKeyReused,
    InternalError,
    InvalidRequestError,
    NotFoundError,
    OperationError,
    OrderBelowMinimum,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitedError,
    RedemptionAlreadyRolledBack,
    RedemptionRefused,
    UnavailableError,
    VauchflowError,
    VoucherCodeTaken,
    VoucherDisabled,
    VoucherExhausted,
    VoucherExpired,
    VoucherNotYetValid,
    WebhookEndpointDisabled,
)
from vauchflow._event_stream import AsyncEventStream, EventStream
from vauchflow._pagination import AsyncPager, Pager
from vauchflow._version import __version__
from vauchflow._webhooks import WebhookEvent, WebhookVerificationError
from vauchflow.v1.error_reason_pb2 import ErrorReason
from vauchflow.v1.tenant_pb2 import Plan

__all__ = [
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
