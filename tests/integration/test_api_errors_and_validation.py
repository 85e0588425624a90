"""Bad input on every create and update: INVALID_ARGUMENT naming the field, and nothing written. Hostile bytes and
forged tokens are refused the same way, and no response ever carries exception text."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2, timestamp_pb2

from support.api_client import (
    ApiSession,
    OwnerDatabase,
    TenantClient,
    assert_error,
    assert_invalid,
    error_info,
    expect_rpc_error,
    field_violations,
    order,
    violation_fields,
)
from vauchflow.v1 import (
    api_key_service_pb2,
    redemption_service_pb2,
    tenant_pb2,
    tenant_service_pb2,
    voucher_pb2,
    voucher_service_pb2,
)


@dataclass
class World:
    tenant: TenantClient
    voucher: voucher_pb2.Voucher  # 10% off, EUR, max 5, limit 2 per customer; redeemed once
    fixed: voucher_pb2.Voucher  # 500 EUR cents off


@pytest.fixture(scope="module")
def world(api: ApiSession) -> World:
    tenant = api.new_tenant()
    voucher = tenant.create_voucher(currency="EUR", max_redemptions=5, per_customer_limit=2)
    tenant.redeem(voucher.code, customer_id="first")
    fixed = tenant.create_voucher(discount=voucher_pb2.Discount(amount_off=500), currency="EUR")
    return World(tenant, voucher, fixed)


def ts(when: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(when)
    return stamp


NOW = datetime.now(UTC)
PCT = voucher_pb2.Discount(percent_off=10)
TOO_MANY_KEYS = {f"k{i}": "v" for i in range(51)}


def _voucher(**fields: Any) -> voucher_pb2.Voucher:
    fields.setdefault("discount", PCT)
    return voucher_pb2.Voucher(**fields)


# CreateVoucher: (case id, voucher fields, field the violation must name)
CREATE_VOUCHER_CASES = [
    ("percent 0", dict(discount=voucher_pb2.Discount(percent_off=0)), "voucher.discount.percent_off"),
    ("percent over 100", dict(discount=voucher_pb2.Discount(percent_off=101)), "voucher.discount.percent_off"),
    ("percent negative", dict(discount=voucher_pb2.Discount(percent_off=-5)), "voucher.discount.percent_off"),
    ("amount 0", dict(discount=voucher_pb2.Discount(amount_off=0), currency="EUR"), "voucher.discount.amount_off"),
    (
        "amount negative",
        dict(discount=voucher_pb2.Discount(amount_off=-100), currency="EUR"),
        "voucher.discount.amount_off",
    ),
    (
        "amount absurd",
        dict(discount=voucher_pb2.Discount(amount_off=10**15), currency="EUR"),
        "voucher.discount.amount_off",
    ),
    ("no discount", dict(discount=voucher_pb2.Discount()), "voucher.discount"),
    ("unknown currency", dict(currency="ABC"), "voucher.currency"),
    ("currency not a code", dict(currency="EURO"), "voucher.currency"),
    ("amount without currency", dict(discount=voucher_pb2.Discount(amount_off=100)), "voucher.currency"),
    ("minimum without currency", dict(min_order_amount=1000), "voucher.currency"),
    ("minimum negative", dict(min_order_amount=-1, currency="EUR"), "voucher.min_order_amount"),
    ("minimum absurd", dict(min_order_amount=10**15, currency="EUR"), "voucher.min_order_amount"),
    ("empty code", dict(code=""), "voucher.code"),
    ("blank code", dict(code="   "), "voucher.code"),
    ("code too long", dict(code="A" * 65), "voucher.code"),
    ("code with space", dict(code="SUMMER SALE"), "voucher.code"),
    ("code with punctuation", dict(code="SALE!"), "voucher.code"),
    ("code with umlaut", dict(code="GRÜN"), "voucher.code"),
    ("code with slash", dict(code="A/B"), "voucher.code"),
    ("max_redemptions 0", dict(max_redemptions=0), "voucher.max_redemptions"),
    ("max_redemptions negative", dict(max_redemptions=-1), "voucher.max_redemptions"),
    ("max_redemptions absurd", dict(max_redemptions=10**12), "voucher.max_redemptions"),
    ("per_customer_limit 0", dict(per_customer_limit=0), "voucher.per_customer_limit"),
    ("per_customer_limit negative", dict(per_customer_limit=-3), "voucher.per_customer_limit"),
    (
        "valid_until before valid_from",
        dict(valid_from=ts(NOW), valid_until=ts(NOW - timedelta(days=1))),
        "voucher.valid_until",
    ),
    ("valid_until equals valid_from", dict(valid_from=ts(NOW), valid_until=ts(NOW)), "voucher.valid_until"),
    ("timestamp out of range", dict(valid_from=timestamp_pb2.Timestamp(seconds=10**13)), "voucher.valid_from"),
    ("too many metadata keys", dict(metadata=TOO_MANY_KEYS), "voucher.metadata"),
    ("metadata key too long", dict(metadata={"k" * 41: "v"}), "voucher.metadata"),
    ("metadata value too long", dict(metadata={"note": "v" * 501}), "voucher.metadata.note"),
    ("unknown status", dict(status=7), "voucher.status"),
    ("NUL in metadata", dict(metadata={"note": "a\x00b"}), "voucher.metadata.note"),
]


@pytest.mark.parametrize(
    ("fields", "field_path"), [c[1:] for c in CREATE_VOUCHER_CASES], ids=[c[0] for c in CREATE_VOUCHER_CASES]
)
def test_create_voucher_rejects_bad_input_and_writes_nothing(
    world: World, db: OwnerDatabase, fields: dict[str, Any], field_path: str
) -> None:
    before = db.tenant_snapshot(world.tenant.id)
    request = voucher_service_pb2.CreateVoucherRequest(voucher=_voucher(**fields), request_id=str(uuid.uuid4()))
    error = expect_rpc_error(world.tenant.vouchers.CreateVoucher, request)
    assert_invalid(error, field_path)
    assert db.tenant_snapshot(world.tenant.id) == before


def test_create_voucher_reports_every_violation_at_once(world: World, db: OwnerDatabase) -> None:
    before = db.tenant_snapshot(world.tenant.id)
    bad = voucher_pb2.Voucher(
        code="no good", discount=voucher_pb2.Discount(percent_off=0), currency="XYZ", max_redemptions=0
    )
    error = expect_rpc_error(world.tenant.vouchers.CreateVoucher, voucher_service_pb2.CreateVoucherRequest(voucher=bad))
    assert_invalid(error, "voucher.code")
    assert violation_fields(error) == {
        "voucher.code",
        "voucher.discount.percent_off",
        "voucher.currency",
        "voucher.max_redemptions",
    }
    assert all(description for _, description in field_violations(error))
    assert db.tenant_snapshot(world.tenant.id) == before


def test_create_voucher_accepts_the_edges_of_what_is_valid(world: World) -> None:
    """So the rejections above are about the values, not about the requests being unusable."""
    created = [
        world.tenant.create_voucher(code="A" * 64),
        world.tenant.create_voucher(code=" lower_case-ok ", discount=voucher_pb2.Discount(percent_off=100)),
        world.tenant.create_voucher(discount=voucher_pb2.Discount(amount_off=10**12), currency="eur"),
        world.tenant.create_voucher(max_redemptions=1, per_customer_limit=1, min_order_amount=0, currency="JPY"),
        world.tenant.create_voucher(metadata={f"k{i}": "v" * 500 for i in range(50)}),
    ]
    assert created[1].code == "LOWER_CASE-OK"
    assert created[2].currency == "EUR"
    assert len(created[4].metadata) == 50


# UpdateVoucher: (case id, voucher fields without code, mask paths, field)
UPDATE_VOUCHER_CASES = [
    (
        "percent over 100",
        dict(discount=voucher_pb2.Discount(percent_off=150)),
        ["discount"],
        "voucher.discount.percent_off",
    ),
    ("percent 0", dict(discount=voucher_pb2.Discount(percent_off=0)), ["discount"], "voucher.discount.percent_off"),
    ("discount cleared", dict(), ["discount"], "voucher.discount"),
    (
        "amount negative",
        dict(discount=voucher_pb2.Discount(amount_off=-1)),
        ["discount"],
        "voucher.discount.amount_off",
    ),
    ("unknown currency", dict(currency="QQQ"), ["currency"], "voucher.currency"),
    ("max_redemptions 0", dict(max_redemptions=0), ["max_redemptions"], "voucher.max_redemptions"),
    ("max_redemptions below count", dict(max_redemptions=1), None, None),  # filled in: see the test
    ("per_customer_limit negative", dict(per_customer_limit=-1), ["per_customer_limit"], "voucher.per_customer_limit"),
    (
        "valid_until before valid_from",
        dict(valid_from=ts(NOW + timedelta(days=2)), valid_until=ts(NOW + timedelta(days=1))),
        ["valid_from", "valid_until"],
        "voucher.valid_until",
    ),
    ("too many metadata keys", dict(metadata=TOO_MANY_KEYS), ["metadata"], "voucher.metadata"),
    ("metadata value too long", dict(metadata={"note": "x" * 501}), ["metadata"], "voucher.metadata.note"),
    ("unknown status", dict(status=9), ["status"], "voucher.status"),
    ("mask names the code", dict(), ["code"], "update_mask"),
    ("mask names redemption_count", dict(redemption_count=0), ["redemption_count"], "update_mask"),
    ("mask names an unknown field", dict(), ["no_such_field"], "update_mask"),
    ("nothing to change", dict(), [], "update_mask"),
]


@pytest.mark.parametrize(
    ("fields", "paths", "field_path"), [c[1:] for c in UPDATE_VOUCHER_CASES], ids=[c[0] for c in UPDATE_VOUCHER_CASES]
)
def test_update_voucher_rejects_bad_input_and_writes_nothing(
    world: World, db: OwnerDatabase, fields: dict[str, Any], paths: list[str] | None, field_path: str | None
) -> None:
    if paths is None:  # max_redemptions below the current redemption_count (1): 1 is fine, so make it 2 first
        world.tenant.redeem(world.voucher.code, customer_id="second")
        paths, field_path = ["max_redemptions"], "voucher.max_redemptions"
    before = db.tenant_snapshot(world.tenant.id)
    request = voucher_service_pb2.UpdateVoucherRequest(
        voucher=voucher_pb2.Voucher(code=world.voucher.code, **fields),
        update_mask=field_mask_pb2.FieldMask(paths=paths),
    )
    error = expect_rpc_error(world.tenant.vouchers.UpdateVoucher, request)
    assert_invalid(error, field_path)
    assert db.tenant_snapshot(world.tenant.id) == before


def test_update_voucher_clearing_the_currency_of_a_fixed_discount_is_refused(world: World, db: OwnerDatabase) -> None:
    before = db.tenant_snapshot(world.tenant.id)
    request = voucher_service_pb2.UpdateVoucherRequest(
        voucher=voucher_pb2.Voucher(code=world.fixed.code), update_mask=field_mask_pb2.FieldMask(paths=["currency"])
    )
    assert_invalid(expect_rpc_error(world.tenant.vouchers.UpdateVoucher, request), "voucher.currency")
    assert db.tenant_snapshot(world.tenant.id) == before


# CreateApiKey
API_KEY_CASES = [
    ("empty name", dict(name="", permissions=["vouchers:read"]), "name"),
    ("blank name", dict(name="  ", permissions=["vouchers:read"]), "name"),
    ("name too long", dict(name="n" * 201, permissions=["vouchers:read"]), "name"),
    ("no permissions", dict(name="k", permissions=[]), "permissions"),
    ("unknown permission", dict(name="k", permissions=["vouchers:read", "vouchers:delete"]), "permissions"),
    ("operator is no permission", dict(name="k", permissions=["operator"]), "permissions"),
    ("NUL in name", dict(name="k\x00", permissions=["vouchers:read"]), "name"),
]


@pytest.mark.parametrize(("fields", "field_path"), [c[1:] for c in API_KEY_CASES], ids=[c[0] for c in API_KEY_CASES])
def test_create_api_key_rejects_bad_input_and_writes_nothing(
    world: World, db: OwnerDatabase, fields: dict[str, Any], field_path: str
) -> None:
    before = db.tenant_snapshot(world.tenant.id)
    request = api_key_service_pb2.CreateApiKeyRequest(request_id=str(uuid.uuid4()), **fields)
    assert_invalid(expect_rpc_error(world.tenant.api_keys.CreateApiKey, request), field_path)
    assert db.tenant_snapshot(world.tenant.id) == before


# CreateTenant and UpdateTenant
CREATE_TENANT_CASES = [
    ("empty name", dict(name=""), "name"),
    ("blank name", dict(name="   "), "name"),
    ("name too long", dict(name="n" * 201), "name"),
    ("unknown plan", dict(name="ok", plan=42), "plan"),
    ("NUL in name", dict(name="Evil\x00Corp"), "name"),
]


@pytest.mark.parametrize(
    ("fields", "field_path"), [c[1:] for c in CREATE_TENANT_CASES], ids=[c[0] for c in CREATE_TENANT_CASES]
)
def test_create_tenant_rejects_bad_input_and_writes_nothing(
    api: ApiSession, db: OwnerDatabase, fields: dict[str, Any], field_path: str
) -> None:
    tenants_before = db.fetchval("SELECT count(*) FROM tenants")
    keys_before = db.fetchval("SELECT count(*) FROM api_keys")
    request = tenant_service_pb2.CreateTenantRequest(request_id=str(uuid.uuid4()), **fields)
    assert_invalid(expect_rpc_error(api.tenants.CreateTenant, request), field_path)
    assert (db.fetchval("SELECT count(*) FROM tenants"), db.fetchval("SELECT count(*) FROM api_keys")) == (
        tenants_before,
        keys_before,
    )


UPDATE_TENANT_CASES = [
    ("empty name", dict(name=""), ["name"], "tenant.name"),
    ("name too long", dict(name="n" * 201), ["name"], "tenant.name"),
    ("unknown plan", dict(plan=42), ["plan"], "tenant.plan"),
    ("mask names the id", dict(name="x"), ["id"], "update_mask"),
    ("mask names create_time", dict(), ["create_time"], "update_mask"),
    ("nothing to change", dict(), [], "update_mask"),
]


@pytest.mark.parametrize(
    ("fields", "paths", "field_path"), [c[1:] for c in UPDATE_TENANT_CASES], ids=[c[0] for c in UPDATE_TENANT_CASES]
)
def test_update_tenant_rejects_bad_input_and_writes_nothing(
    api: ApiSession, world: World, db: OwnerDatabase, fields: dict[str, Any], paths: list[str], field_path: str
) -> None:
    before = db.tenant_snapshot(world.tenant.id)
    request = tenant_service_pb2.UpdateTenantRequest(
        tenant=tenant_pb2.Tenant(id=world.tenant.id, **fields), update_mask=field_mask_pb2.FieldMask(paths=paths)
    )
    assert_invalid(expect_rpc_error(api.tenants.UpdateTenant, request), field_path)
    assert db.tenant_snapshot(world.tenant.id) == before


def test_update_tenant_changes_only_what_it_is_asked_to(api: ApiSession, db: OwnerDatabase) -> None:
    tenant = api.new_tenant("Before GmbH", plan=tenant_pb2.PLAN_FREE)
    updated = api.tenants.UpdateTenant(
        tenant_service_pb2.UpdateTenantRequest(
            tenant=tenant_pb2.Tenant(id=tenant.id, name="ignored", plan=tenant_pb2.PLAN_SCALE),
            update_mask=field_mask_pb2.FieldMask(paths=["plan"]),
        )
    ).tenant
    assert (updated.name, updated.plan) == ("Before GmbH", tenant_pb2.PLAN_SCALE)
    assert db.fetchval("SELECT plan FROM tenants WHERE id = $1", uuid.UUID(tenant.id)) == "SCALE"


# RedeemVoucher, ValidateVoucher, RollbackRedemption


def _redeem(world: World, **fields: Any) -> redemption_service_pb2.RedeemVoucherRequest:
    fields.setdefault("code", world.voucher.code)
    fields.setdefault("customer_id", "cust")
    fields.setdefault("order", order(10_000, "EUR"))
    fields.setdefault("request_id", str(uuid.uuid4()))
    return redemption_service_pb2.RedeemVoucherRequest(**fields)


REDEEM_CASES = [
    ("negative amount", dict(order=order(-1, "EUR")), "order.amount"),
    ("absurd amount", dict(order=order(10**15, "EUR")), "order.amount"),
    ("unknown currency", dict(order=order(100, "ABC")), "order.currency"),
    ("order id too long", dict(order=order(100, "EUR", "o" * 201)), "order.id"),
    ("customer id too long", dict(customer_id="c" * 201), "customer_id"),
    ("missing customer id for a per-customer limit", dict(customer_id=""), "customer_id"),
    ("too many metadata keys", dict(metadata=TOO_MANY_KEYS), "metadata"),
    ("metadata value too long", dict(metadata={"note": "x" * 501}), "metadata.note"),
    ("request_id too long", dict(request_id="r" * 201), "request_id"),
    ("NUL in customer id", dict(customer_id="c\x00"), "customer_id"),
    ("NUL in order id", dict(order=order(100, "EUR", "o\x00")), "order.id"),
]


@pytest.mark.parametrize(("fields", "field_path"), [c[1:] for c in REDEEM_CASES], ids=[c[0] for c in REDEEM_CASES])
def test_redeem_rejects_bad_input_and_writes_nothing(
    world: World, db: OwnerDatabase, fields: dict[str, Any], field_path: str
) -> None:
    before = db.tenant_snapshot(world.tenant.id)
    request = _redeem(world, **fields)
    assert_invalid(expect_rpc_error(world.tenant.redemptions.RedeemVoucher, request), field_path)
    assert db.tenant_snapshot(world.tenant.id) == before


def test_validate_and_rollback_reject_bad_input(world: World, db: OwnerDatabase) -> None:
    before = db.tenant_snapshot(world.tenant.id)
    validate = world.tenant.redemptions.ValidateVoucher
    for bad_order, field_path in ((order(-5, "EUR"), "order.amount"), (order(5, "EURO"), "order.currency")):
        request = redemption_service_pb2.ValidateVoucherRequest(code=world.voucher.code, order=bad_order)
        assert_invalid(expect_rpc_error(validate, request), field_path)
    redemption_id = db.fetchval(
        "SELECT id FROM redemptions WHERE voucher_id = $1 AND status = 'SUCCEEDED' LIMIT 1", uuid.UUID(world.voucher.id)
    )
    rollback = redemption_service_pb2.RollbackRedemptionRequest(id=str(redemption_id), reason="r" * 501)
    assert_invalid(expect_rpc_error(world.tenant.redemptions.RollbackRedemption, rollback), "reason")
    assert db.tenant_snapshot(world.tenant.id) == before


# Hostile input: never INTERNAL or UNKNOWN, never exception text

LEAK_MARKERS = (
    "Traceback",
    "Exception",
    "Error",
    "asyncpg",
    "protobuf",
    "SELECT",
    "INSERT",
    "UPDATE ",
    ".py",
    "<class",
)


def assert_no_leak(error: grpc.RpcError) -> None:
    details = error.details() or ""
    for marker in LEAK_MARKERS:
        assert marker not in details, f"{error.code().name} response leaks {marker!r}: {details}"
    info = error_info(error)
    assert info is not None, f"{error.code().name} without ErrorInfo: {details}"
    assert all(marker not in str(info.metadata) for marker in LEAK_MARKERS)


def _token(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "wire",
    [b"\xff\xff\xff\xff", b"\x0a\x03\xff\xfe\xfd", b"\x0a\x10short"],
    ids=["corrupt wire format", "invalid UTF-8 in a string", "truncated field"],
)
def test_unparseable_requests_are_invalid_argument_without_parser_text(
    world: World, db: OwnerDatabase, wire: bytes
) -> None:
    before = db.tenant_snapshot(world.tenant.id)
    auth = (("authorization", f"Bearer {world.tenant.secret}"),)
    for method in ("/vauchflow.v1.VoucherService/CreateVoucher", "/vauchflow.v1.RedemptionService/RedeemVoucher"):
        raw_call = world.tenant.channel.unary_unary(method, request_serializer=bytes, response_deserializer=bytes)
        error = expect_rpc_error(raw_call, wire, metadata=auth, timeout=30)
        assert_invalid(error, "request")
        assert_no_leak(error)
    # Unauthenticated garbage is refused for the credentials first, and never parsed into an answer.
    error = expect_rpc_error(raw_call, wire, timeout=30)
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert db.tenant_snapshot(world.tenant.id) == before


@pytest.mark.parametrize(
    "page_token",
    [
        "!!!not base64!!!",
        _token({"a": 1}),
        _token(["not a time", str(uuid.uuid4())]),
        _token(["2024-01-01T00:00:00+00:00", "not a uuid"]),
        _token(["9999-12-31T23:59:59.999999-12:00", str(uuid.uuid4())]),
        _token(["0001-01-01T00:00:00+01:00", str(uuid.uuid4())]),
    ],
    ids=["not base64", "object", "bad time", "bad id", "after year 9999 in UTC", "before year 1 in UTC"],
)
def test_forged_page_tokens_are_invalid_argument(world: World, page_token: str) -> None:
    for call, request in (
        (world.tenant.vouchers.ListVouchers, voucher_service_pb2.ListVouchersRequest(page_token=page_token)),
        (
            world.tenant.redemptions.ListRedemptions,
            redemption_service_pb2.ListRedemptionsRequest(page_token=page_token),
        ),
        (world.tenant.api_keys.ListApiKeys, api_key_service_pb2.ListApiKeysRequest(page_token=page_token)),
    ):
        error = expect_rpc_error(call, request)
        assert_invalid(error, "page_token")
        assert_no_leak(error)


def test_nul_characters_in_lookups_are_invalid_argument(world: World) -> None:
    cases: list[tuple[Callable[..., Any], Any, str]] = [
        (world.tenant.vouchers.GetVoucher, voucher_service_pb2.GetVoucherRequest(code="A\x00B"), "code"),
        (world.tenant.vouchers.DisableVoucher, voucher_service_pb2.DisableVoucherRequest(code="\x00"), "code"),
        (world.tenant.redemptions.GetRedemption, redemption_service_pb2.GetRedemptionRequest(id="\x00"), "id"),
        (
            world.tenant.redemptions.ListRedemptions,
            redemption_service_pb2.ListRedemptionsRequest(voucher_code="X\x00"),
            "voucher_code",
        ),
    ]
    for call, request, field_path in cases:
        error = expect_rpc_error(call, request)
        assert_invalid(error, field_path)
        assert_no_leak(error)


def test_negative_page_size_is_invalid(world: World) -> None:
    error = expect_rpc_error(world.tenant.vouchers.ListVouchers, voucher_service_pb2.ListVouchersRequest(page_size=-1))
    assert_invalid(error, "page_size")


def test_an_oversized_code_is_refused_on_read_paths_and_never_echoed(world: World) -> None:
    """A code longer than any voucher can have is refused before any query, and no error quotes it back."""
    huge = "A" * 8192
    tenant = world.tenant
    for call in (
        lambda: tenant.vouchers.GetVoucher(voucher_service_pb2.GetVoucherRequest(code=huge)),
        lambda: tenant.vouchers.DisableVoucher(voucher_service_pb2.DisableVoucherRequest(code=huge)),
    ):
        error = expect_rpc_error(call)
        assert_invalid(error, "code")
        assert huge[:100] not in (error.details() or "")
    weird = "no such code!<script>"
    error = expect_rpc_error(tenant.vouchers.GetVoucher, voucher_service_pb2.GetVoucherRequest(code=weird))
    assert_error(error, grpc.StatusCode.NOT_FOUND, "VOUCHER_NOT_FOUND")
    assert "script" not in (error.details() or "").lower()
