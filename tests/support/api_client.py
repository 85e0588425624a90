"""A small client for gRPC-level tests: tenants with stubs bound to their key, error details, owner-side SQL.

Tests talk to the real server over TCP with the generated stubs; this module only saves them the repetition of
metadata, timeouts and unpacking google.rpc details.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import grpc
from google.longrunning import operations_pb2_grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from support.services import ApiServer
from vauchflow.v1 import (
    api_key_service_pb2,
    api_key_service_pb2_grpc,
    campaign_service_pb2_grpc,
    redemption_pb2,
    redemption_service_pb2,
    redemption_service_pb2_grpc,
    tenant_pb2,
    tenant_service_pb2,
    tenant_service_pb2_grpc,
    voucher_pb2,
    voucher_service_pb2,
    voucher_service_pb2_grpc,
    webhook_service_pb2_grpc,
)

CALL_TIMEOUT = 30.0
ERROR_DOMAIN = "vauchflow.com"


class BoundStub:
    """A generated stub whose unary calls always send one bearer token and a timeout."""

    def __init__(self, stub: Any, token: str | None, timeout: float = CALL_TIMEOUT) -> None:
        self._stub = stub
        self._metadata = (("authorization", f"Bearer {token}"),) if token is not None else ()
        self._timeout = timeout

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._stub, name)

        def call(request: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("metadata", self._metadata)
            kwargs.setdefault("timeout", self._timeout)
            return method(request, **kwargs)

        return call


@dataclass
class TenantClient:
    """One tenant, as its API key sees the API."""

    tenant: tenant_pb2.Tenant
    api_key: Any  # vauchflow.v1.api_key_pb2.ApiKey
    secret: str
    channel: grpc.Channel

    def __post_init__(self) -> None:
        self.vouchers = BoundStub(voucher_service_pb2_grpc.VoucherServiceStub(self.channel), self.secret)
        self.redemptions = BoundStub(redemption_service_pb2_grpc.RedemptionServiceStub(self.channel), self.secret)
        self.api_keys = BoundStub(api_key_service_pb2_grpc.ApiKeyServiceStub(self.channel), self.secret)
        self.webhooks = BoundStub(webhook_service_pb2_grpc.WebhookServiceStub(self.channel), self.secret)
        self.campaigns = BoundStub(campaign_service_pb2_grpc.CampaignServiceStub(self.channel), self.secret)
        self.operations = BoundStub(operations_pb2_grpc.OperationsStub(self.channel), self.secret)

    @property
    def id(self) -> str:
        return self.tenant.id

    def with_key(self, secret: str, channel: grpc.Channel | None = None) -> TenantClient:
        """The same tenant through another of its keys (or another channel)."""
        return TenantClient(self.tenant, None, secret, channel or self.channel)

    def create_key(self, permissions: Iterable[str], name: str = "test key") -> tuple[Any, str]:
        created = self.api_keys.CreateApiKey(
            api_key_service_pb2.CreateApiKeyRequest(name=name, permissions=list(permissions))
        )
        return created.api_key, created.secret

    def create_voucher(self, **fields: Any) -> voucher_pb2.Voucher:
        """CreateVoucher with a fresh unique code and 10% off unless the fields say otherwise."""
        fields.setdefault("code", unique_code())
        if "discount" not in fields:
            fields["discount"] = voucher_pb2.Discount(percent_off=10)
        response = self.vouchers.CreateVoucher(
            voucher_service_pb2.CreateVoucherRequest(voucher=voucher_pb2.Voucher(**fields))
        )
        return response.voucher

    def redeem(self, code: str, amount: int = 10_000, currency: str = "EUR", **fields: Any) -> Any:
        return self.redemptions.RedeemVoucher(
            redemption_service_pb2.RedeemVoucherRequest(code=code, order=order(amount, currency), **fields)
        )


class ApiSession:
    """One channel to the API server, the operator's TenantService, and tenants created through it."""

    def __init__(self, server: ApiServer) -> None:
        self.server = server
        self.channel = grpc.insecure_channel(server.target)
        self.tenants = BoundStub(tenant_service_pb2_grpc.TenantServiceStub(self.channel), server.admin_token)
        self._extra_channels: list[grpc.Channel] = []

    def new_tenant(self, name: str | None = None, plan: int = tenant_pb2.PLAN_SCALE) -> TenantClient:
        """SCALE unless asked otherwise: its burst (2,000 requests) lets the concurrency tests' 1,000 simultaneous
        calls through the rate limiter; tests of limits and quotas choose their plan."""
        created = self.tenants.CreateTenant(
            tenant_service_pb2.CreateTenantRequest(name=name or f"tenant {uuid.uuid4().hex[:8]}", plan=plan)
        )
        return TenantClient(created.tenant, created.api_key, created.secret, self.channel)

    def stub(self, stub_class: type, token: str | None) -> BoundStub:
        return BoundStub(stub_class(self.channel), token)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> ApiSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def unique_code(prefix: str = "T") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16].upper()}"


def order(amount: int = 10_000, currency: str = "EUR", order_id: str = "") -> redemption_pb2.Order:
    return redemption_pb2.Order(id=order_id or f"order-{uuid.uuid4().hex[:8]}", amount=amount, currency=currency)


# Concurrency


def run_concurrently(
    target: str, threads: int, call: Callable[[grpc.Channel, int], Any], *, connect_timeout: float = 30
) -> list[Any]:
    """threads real threads, each on its own channel (its own TCP connection), connect first and then make
    `call(channel, index)` at the same moment (a Barrier). Returns, per thread, the result or the grpc.RpcError."""
    results: list[Any] = [None] * threads
    barrier = threading.Barrier(threads, timeout=connect_timeout)

    def client(index: int) -> None:
        with grpc.insecure_channel(target) as channel:
            try:
                grpc.channel_ready_future(channel).result(timeout=connect_timeout)
                barrier.wait()
                results[index] = call(channel, index)
            except grpc.RpcError as error:
                results[index] = error
            except BaseException as error:
                barrier.abort()
                results[index] = error

    workers = [threading.Thread(target=client, args=(i,), name=f"client-{i}") for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=connect_timeout + CALL_TIMEOUT * 2)
    assert not any(worker.is_alive() for worker in workers), "a client thread hung"
    broken = [r for r in results if isinstance(r, BaseException) and not isinstance(r, grpc.RpcError)]
    assert not broken, f"client threads failed outside gRPC: {broken[:3]!r}"
    return results


def outcome(result: Any) -> str:
    """ "OK" for a response, "<CODE>/<REASON>" for a grpc.RpcError."""
    if isinstance(result, grpc.RpcError):
        return f"{result.code().name}/{reason(result) or '-'}"
    return "OK"


# Errors


def expect_rpc_error(call: Callable[..., Any], *args: Any, **kwargs: Any) -> grpc.RpcError:
    """Runs call and returns the RpcError it raised; fails the test if it succeeded."""
    try:
        result = call(*args, **kwargs)
    except grpc.RpcError as error:
        return error
    raise AssertionError(f"expected the call to fail, it returned {result!r}")


def error_info(error: grpc.RpcError) -> error_details_pb2.ErrorInfo | None:
    status = rpc_status.from_call(error)
    if status is None:
        return None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    return None


def reason(error: grpc.RpcError) -> str | None:
    info = error_info(error)
    return info.reason if info is not None else None


def field_violations(error: grpc.RpcError) -> list[tuple[str, str]]:
    status = rpc_status.from_call(error)
    violations: list[tuple[str, str]] = []
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            violations.extend((v.field, v.description) for v in bad_request.field_violations)
    return violations


def violation_fields(error: grpc.RpcError) -> set[str]:
    return {name for name, _ in field_violations(error)}


def assert_error(error: grpc.RpcError, code: grpc.StatusCode, expected_reason: str | None = None) -> None:
    """The status code and, when given, the ErrorInfo reason (always in our domain)."""
    assert error.code() == code, f"expected {code.name}, got {error.code().name}: {error.details()}"
    if expected_reason is not None:
        info = error_info(error)
        assert info is not None, f"{code.name} without a google.rpc.ErrorInfo: {error.details()}"
        assert (info.reason, info.domain) == (expected_reason, ERROR_DOMAIN), error.details()


def assert_invalid(error: grpc.RpcError, field_path: str) -> None:
    """INVALID_ARGUMENT whose BadRequest names field_path."""
    assert_error(error, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")
    assert field_path in violation_fields(error), f"{field_path} not among {field_violations(error)}"


# The database as its owner, a superuser: sees every tenant's rows, to check what calls did or did not write


@dataclass(frozen=True)
class OwnerDatabase:
    dsn: str

    def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        return _run(self._fetch(sql, args))

    def fetchval(self, sql: str, *args: Any) -> Any:
        rows = self.fetch(sql, *args)
        return rows[0][0] if rows else None

    async def _fetch(self, sql: str, args: Sequence[Any]) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.dsn)
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    def tenant_snapshot(self, tenant_id: str) -> dict[str, list[str]]:
        """Everything a tenant owns, row by row, to compare before and after a call."""
        return _run(self._snapshot(uuid.UUID(tenant_id)))

    async def _snapshot(self, tenant_id: uuid.UUID) -> dict[str, list[str]]:
        conn = await asyncpg.connect(self.dsn)
        try:
            snapshot: dict[str, list[str]] = {}
            for table, column, order_by in _TENANT_TABLES:
                rows = await conn.fetch(f"SELECT * FROM {table} WHERE {column} = $1 ORDER BY {order_by}", tenant_id)
                snapshot[table] = [json.dumps(dict(r), default=str, sort_keys=True) for r in rows]
            return snapshot
        finally:
            await conn.close()

    def event_types(self, tenant_id: str) -> list[str]:
        rows = self.fetch("SELECT type FROM outbox_events WHERE tenant_id = $1 ORDER BY id", uuid.UUID(tenant_id))
        return [r["type"] for r in rows]

    def counts(self, tenant_id: str) -> dict[str, int]:
        return {table: len(rows) for table, rows in self.tenant_snapshot(tenant_id).items()}


_TENANT_TABLES = (
    ("tenants", "id", "id"),
    ("api_keys", "tenant_id", "id"),
    ("vouchers", "tenant_id", "id"),
    ("customer_redemption_counts", "tenant_id", "voucher_id, customer_id"),
    ("redemptions", "tenant_id", "id"),
    ("idempotency_keys", "tenant_id", "operation, key"),
    ("outbox_events", "tenant_id", "id"),
    ("webhook_endpoints", "tenant_id", "id"),
    ("webhook_deliveries", "tenant_id", "id"),
    ("webhook_delivery_attempts", "tenant_id", "id"),
    ("api_key_audit_events", "tenant_id", "id"),
    ("campaigns", "tenant_id", "id"),
    ("campaign_customer_redemption_counts", "tenant_id", "campaign_id, customer_id"),
    ("operations", "tenant_id", "id"),
)


def _run(coroutine: Any) -> Any:
    # A private loop: asyncio.run would unset the event loop pytest-asyncio keeps for the session.
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()
