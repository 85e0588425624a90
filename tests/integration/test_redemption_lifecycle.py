"""A voucher's life over gRPC: redeem, roll back, every denial reason (redeem and validate agree), the outbox
event each change writes, and pagination that returns every item exactly once."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable
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
    expect_rpc_error,
    order,
)
from vauchflow.v1 import (
    api_key_service_pb2,
    redemption_pb2,
    redemption_service_pb2,
    tenant_service_pb2,
    voucher_pb2,
    voucher_service_pb2,
)

FAILED = grpc.StatusCode.FAILED_PRECONDITION


def ts(when: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(when)
    return stamp


def get_voucher(tenant: TenantClient, code: str) -> voucher_pb2.Voucher:
    return tenant.vouchers.GetVoucher(voucher_service_pb2.GetVoucherRequest(code=code)).voucher


def rollback(tenant: TenantClient, redemption_id: str, reason: str = "order cancelled") -> redemption_pb2.Redemption:
    return tenant.redemptions.RollbackRedemption(
        redemption_service_pb2.RollbackRedemptionRequest(id=redemption_id, reason=reason)
    ).redemption


def events(db: OwnerDatabase, tenant: TenantClient) -> list[tuple[str, dict[str, Any]]]:
    rows = db.fetch("SELECT type, payload FROM outbox_events WHERE tenant_id = $1 ORDER BY id", uuid.UUID(tenant.id))
    return [(r["type"], json.loads(r["payload"])) for r in rows]


def customer_usage(db: OwnerDatabase, voucher_id: str, customer_id: str) -> int | None:
    return db.fetchval(
        "SELECT redemption_count FROM customer_redemption_counts WHERE voucher_id = $1 AND customer_id = $2",
        uuid.UUID(voucher_id),
        customer_id,
    )


# Redeem and roll back


def test_redeem_then_rollback_gives_the_count_and_customer_usage_back(api: ApiSession, db: OwnerDatabase) -> None:
    tenant = api.new_tenant()
    voucher = tenant.create_voucher(max_redemptions=3, per_customer_limit=1, currency="EUR")

    redeemed = tenant.redeem(voucher.code, amount=12_345, customer_id="alice", metadata={"cart": "c-1"})
    redemption = redeemed.redemption
    assert redemption.status == redemption_pb2.REDEMPTION_STATUS_SUCCEEDED
    assert (redemption.voucher_id, redemption.voucher_code, redemption.customer_id) == (
        voucher.id,
        voucher.code,
        "alice",
    )
    assert redemption.discount_amount == 1_234  # 10% of 12,345, rounded down in the merchant's favour
    assert dict(redemption.metadata) == {"cart": "c-1"}
    assert redeemed.voucher.redemption_count == 1
    assert customer_usage(db, voucher.id, "alice") == 1
    limit_error = expect_rpc_error(tenant.redeem, voucher.code, customer_id="alice")
    assert_error(limit_error, FAILED, "CUSTOMER_LIMIT_REACHED")

    rolled_back = rollback(tenant, redemption.id, reason="order cancelled")

    assert rolled_back.id == redemption.id
    assert rolled_back.status == redemption_pb2.REDEMPTION_STATUS_ROLLED_BACK
    assert rolled_back.rollback_reason == "order cancelled"
    assert rolled_back.HasField("rollback_time")
    assert get_voucher(tenant, voucher.code).redemption_count == 0
    assert customer_usage(db, voucher.id, "alice") == 0
    fetched = tenant.redemptions.GetRedemption(redemption_service_pb2.GetRedemptionRequest(id=redemption.id))
    assert fetched.redemption == rolled_back
    # The customer's use is given back: alice may redeem again.
    again = tenant.redeem(voucher.code, customer_id="alice")
    assert again.voucher.redemption_count == 1
    assert customer_usage(db, voucher.id, "alice") == 1


def test_rollback_twice_is_refused_and_gives_back_only_once(api: ApiSession, db: OwnerDatabase) -> None:
    tenant = api.new_tenant()
    voucher = tenant.create_voucher(max_redemptions=5)
    first = tenant.redeem(voucher.code, customer_id="a").redemption
    tenant.redeem(voucher.code, customer_id="b")
    rollback(tenant, first.id)
    before = db.tenant_snapshot(tenant.id)

    error = expect_rpc_error(rollback, tenant, first.id)

    assert_error(error, FAILED, "REDEMPTION_ALREADY_ROLLED_BACK")
    assert db.tenant_snapshot(tenant.id) == before
    assert get_voucher(tenant, voucher.code).redemption_count == 1


def test_rollback_of_unknown_or_foreign_redemptions_is_not_found(api: ApiSession, db: OwnerDatabase) -> None:
    owner, stranger = api.new_tenant(), api.new_tenant()
    voucher = owner.create_voucher()
    redemption = owner.redeem(voucher.code).redemption
    before = db.tenant_snapshot(owner.id)

    for caller, redemption_id in (
        (stranger, redemption.id),
        (owner, str(uuid.uuid4())),
        (owner, "not-a-uuid"),
        (owner, ""),
    ):
        error = expect_rpc_error(rollback, caller, redemption_id)
        assert_error(error, grpc.StatusCode.NOT_FOUND, "REDEMPTION_NOT_FOUND")

    assert db.tenant_snapshot(owner.id) == before
    assert rollback(owner, redemption.id).status == redemption_pb2.REDEMPTION_STATUS_ROLLED_BACK


def test_rollback_of_an_exhausted_voucher_makes_it_redeemable_again(api: ApiSession) -> None:
    tenant = api.new_tenant()
    voucher = tenant.create_voucher(max_redemptions=1)
    redemption = tenant.redeem(voucher.code).redemption
    assert_error(expect_rpc_error(tenant.redeem, voucher.code), FAILED, "VOUCHER_EXHAUSTED")
    rollback(tenant, redemption.id)
    assert tenant.redeem(voucher.code).voucher.redemption_count == 1


def test_rolling_back_a_redemption_of_a_disabled_voucher_still_gives_it_back(api: ApiSession) -> None:
    tenant = api.new_tenant()
    voucher = tenant.create_voucher(max_redemptions=2)
    redemption = tenant.redeem(voucher.code).redemption
    tenant.vouchers.DisableVoucher(voucher_service_pb2.DisableVoucherRequest(code=voucher.code))
    rollback(tenant, redemption.id)
    assert get_voucher(tenant, voucher.code).redemption_count == 0


# Denials: redeem and validate give the same reason, and neither changes anything

NOW = datetime.now(UTC)

DENIALS: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    # (case, voucher fields, order/customer fields, reason)
    (
        "expired",
        dict(valid_from=ts(NOW - timedelta(days=10)), valid_until=ts(NOW - timedelta(days=1))),
        {},
        "VOUCHER_EXPIRED",
    ),
    ("not yet valid", dict(valid_from=ts(NOW + timedelta(days=1))), {}, "VOUCHER_NOT_YET_VALID"),
    ("below minimum", dict(min_order_amount=5_000, currency="EUR"), dict(amount=4_999), "ORDER_BELOW_MINIMUM"),
    ("currency mismatch", dict(currency="EUR"), dict(currency="USD"), "CURRENCY_MISMATCH"),
    (
        "fixed discount, order without currency",
        dict(discount=voucher_pb2.Discount(amount_off=500), currency="EUR"),
        dict(currency=""),
        "CURRENCY_MISMATCH",
    ),
]


@pytest.mark.parametrize(
    ("voucher_fields", "order_fields", "expected"), [d[1:] for d in DENIALS], ids=[d[0] for d in DENIALS]
)
def test_denied_redeem_and_validate_agree_and_change_nothing(
    api: ApiSession, db: OwnerDatabase, voucher_fields: dict[str, Any], order_fields: dict[str, Any], expected: str
) -> None:
    tenant = api.new_tenant()
    voucher = tenant.create_voucher(**voucher_fields)
    amount, currency = order_fields.get("amount", 10_000), order_fields.get("currency", "EUR")
    before = db.tenant_snapshot(tenant.id)

    validation = tenant.redemptions.ValidateVoucher(
        redemption_service_pb2.ValidateVoucherRequest(code=voucher.code, order=order(amount, currency))
    )
    assert (validation.valid, validation.reason, validation.discount_amount) == (False, expected, 0)
    assert validation.voucher.id == voucher.id
    error = expect_rpc_error(tenant.redeem, voucher.code, amount=amount, currency=currency)
    assert_error(error, FAILED, expected)

    assert db.tenant_snapshot(tenant.id) == before


def test_disabled_exhausted_and_customer_limit_denials(api: ApiSession, db: OwnerDatabase) -> None:
    tenant = api.new_tenant()
    disabled = tenant.create_voucher()
    tenant.vouchers.DisableVoucher(voucher_service_pb2.DisableVoucherRequest(code=disabled.code))
    exhausted = tenant.create_voucher(max_redemptions=1)
    tenant.redeem(exhausted.code)
    limited = tenant.create_voucher(per_customer_limit=1)
    tenant.redeem(limited.code, customer_id="bob")
    before = db.tenant_snapshot(tenant.id)

    for code, customer_id, expected in (
        (disabled.code, "", "VOUCHER_DISABLED"),
        (exhausted.code, "", "VOUCHER_EXHAUSTED"),
        (limited.code, "bob", "CUSTOMER_LIMIT_REACHED"),
    ):
        validation = tenant.redemptions.ValidateVoucher(
            redemption_service_pb2.ValidateVoucherRequest(code=code, customer_id=customer_id, order=order())
        )
        assert (validation.valid, validation.reason) == (False, expected)
        assert_error(expect_rpc_error(tenant.redeem, code, customer_id=customer_id), FAILED, expected)

    assert db.tenant_snapshot(tenant.id) == before
    # A different customer is not limited by bob's use.
    assert tenant.redemptions.ValidateVoucher(
        redemption_service_pb2.ValidateVoucherRequest(code=limited.code, customer_id="carol", order=order())
    ).valid


def test_unknown_codes_are_not_found(api: ApiSession) -> None:
    tenant = api.new_tenant()
    for call in (
        lambda: tenant.redeem("NO-SUCH-CODE"),
        lambda: tenant.redemptions.ValidateVoucher(
            redemption_service_pb2.ValidateVoucherRequest(code="NO-SUCH-CODE", order=order())
        ),
        lambda: get_voucher(tenant, "NO-SUCH-CODE"),
    ):
        assert_error(expect_rpc_error(call), grpc.StatusCode.NOT_FOUND, "VOUCHER_NOT_FOUND")


def test_validate_of_a_redeemable_voucher_tells_the_discount_and_changes_nothing(
    api: ApiSession, db: OwnerDatabase
) -> None:
    tenant = api.new_tenant()
    fixed = tenant.create_voucher(discount=voucher_pb2.Discount(amount_off=500), currency="EUR", max_redemptions=1)
    before = db.tenant_snapshot(tenant.id)

    for amount, discount in ((10_000, 500), (300, 300)):  # never more than the order
        validation = tenant.redemptions.ValidateVoucher(
            redemption_service_pb2.ValidateVoucherRequest(code=fixed.code.lower(), order=order(amount, "EUR"))
        )
        assert (validation.valid, validation.reason, validation.discount_amount) == (True, "", discount)

    assert db.tenant_snapshot(tenant.id) == before
    assert tenant.redeem(fixed.code.lower(), amount=300).redemption.discount_amount == 300


# The outbox: every change writes its event, in the same transaction


def test_every_change_writes_its_outbox_event(api: ApiSession, db: OwnerDatabase) -> None:
    tenant = api.new_tenant()
    seen = 0

    def new_events() -> list[tuple[str, dict[str, Any]]]:
        nonlocal seen
        current = events(db, tenant)
        fresh, seen = current[seen:], len(current)
        return fresh

    def types_after(action: Callable[[], Any]) -> list[str]:
        action()
        return [event_type for event_type, _ in new_events()]

    voucher = tenant.create_voucher(max_redemptions=2)
    created = new_events()
    assert [t for t, _ in created] == ["voucher.created"]
    assert created[0][1]["type"] == "voucher.created"
    assert created[0][1]["data"]["code"] == voucher.code and created[0][1]["data"]["id"] == voucher.id

    def update(**fields: Any) -> Any:
        return tenant.vouchers.UpdateVoucher(
            voucher_service_pb2.UpdateVoucherRequest(
                voucher=voucher_pb2.Voucher(code=voucher.code, **fields),
                update_mask=field_mask_pb2.FieldMask(paths=list(fields)),
            )
        )

    assert types_after(lambda: update(metadata={"campaign": "spring"})) == ["voucher.updated"]
    redemption_ids: list[str] = []
    assert types_after(lambda: redemption_ids.append(tenant.redeem(voucher.code).redemption.id)) == [
        "redemption.succeeded"
    ]
    assert types_after(lambda: redemption_ids.append(tenant.redeem(voucher.code).redemption.id)) == [
        "redemption.succeeded",
        "voucher.exhausted",
    ]
    assert types_after(lambda: expect_rpc_error(tenant.redeem, voucher.code)) == []  # refused: no event
    rollback(tenant, redemption_ids[0])
    rolled_back = new_events()
    assert [t for t, _ in rolled_back] == ["redemption.rolled_back"]
    assert rolled_back[0][1]["data"]["id"] == redemption_ids[0]
    assert rolled_back[0][1]["data"]["status"] == "ROLLED_BACK"
    assert types_after(lambda: expect_rpc_error(rollback, tenant, redemption_ids[0])) == []
    assert types_after(
        lambda: tenant.vouchers.DisableVoucher(voucher_service_pb2.DisableVoucherRequest(code=voucher.code))
    ) == ["voucher.disabled"]
    assert (
        types_after(
            lambda: tenant.vouchers.DisableVoucher(voucher_service_pb2.DisableVoucherRequest(code=voucher.code))
        )
        == []
    )  # already disabled: nothing changed, nothing to report
    assert types_after(lambda: update(status=voucher_pb2.VOUCHER_STATUS_ACTIVE)) == ["voucher.updated"]
    assert types_after(lambda: update(status=voucher_pb2.VOUCHER_STATUS_DISABLED)) == ["voucher.disabled"]
    # Reads and validation write nothing.
    assert types_after(lambda: get_voucher(tenant, voucher.code)) == []
    assert (
        types_after(
            lambda: tenant.redemptions.ValidateVoucher(
                redemption_service_pb2.ValidateVoucherRequest(code=voucher.code, order=order())
            )
        )
        == []
    )

    all_events = events(db, tenant)
    assert Counter(t for t, _ in all_events) == {
        "voucher.created": 1,
        "voucher.updated": 2,
        "redemption.succeeded": 2,
        "voucher.exhausted": 1,
        "redemption.rolled_back": 1,
        "voucher.disabled": 2,
    }
    assert len({payload["id"] for _, payload in all_events}) == len(all_events), "event ids must be unique"
    redemption_rows = db.fetchval("SELECT count(*) FROM redemptions WHERE tenant_id = $1", uuid.UUID(tenant.id))
    assert redemption_rows == 2


# Pagination


def collect_pages(fetch: Callable[[str], tuple[list[Any], str]], max_pages: int = 100) -> tuple[list[Any], int]:
    items: list[Any] = []
    token, pages = "", 0
    while True:
        page, token = fetch(token)
        pages += 1
        items.extend(page)
        if not token:
            return items, pages
        assert pages < max_pages, "pagination does not end"


def test_list_vouchers_returns_every_voucher_exactly_once(api: ApiSession) -> None:
    tenant = api.new_tenant()
    created = [tenant.create_voucher().id for _ in range(23)]

    def fetch(token: str) -> tuple[list[Any], str]:
        page = tenant.vouchers.ListVouchers(voucher_service_pb2.ListVouchersRequest(page_size=5, page_token=token))
        assert len(page.vouchers) <= 5
        return [v.id for v in page.vouchers], page.next_page_token

    ids, pages = collect_pages(fetch)
    assert ids == created  # oldest first, each once
    assert pages == 5
    default_page = tenant.vouchers.ListVouchers(voucher_service_pb2.ListVouchersRequest())
    assert len(default_page.vouchers) == 20 and default_page.next_page_token


def test_list_redemptions_returns_every_redemption_exactly_once(api: ApiSession) -> None:
    tenant = api.new_tenant()
    first, second = tenant.create_voucher(), tenant.create_voucher()
    by_voucher: dict[str, list[str]] = {first.code: [], second.code: []}
    for i in range(17):
        code = first.code if i % 3 else second.code
        by_voucher[code].append(tenant.redeem(code).redemption.id)
    rollback(tenant, by_voucher[first.code][0])  # rolled back redemptions are still listed
    everything = [rid for rids in by_voucher.values() for rid in rids]

    def fetcher(voucher_code: str) -> Callable[[str], tuple[list[Any], str]]:
        def fetch(token: str) -> tuple[list[Any], str]:
            page = tenant.redemptions.ListRedemptions(
                redemption_service_pb2.ListRedemptionsRequest(page_size=4, page_token=token, voucher_code=voucher_code)
            )
            return [r.id for r in page.redemptions], page.next_page_token

        return fetch

    all_ids, _ = collect_pages(fetcher(""))
    assert sorted(all_ids) == sorted(everything) and len(set(all_ids)) == len(all_ids)
    for code, expected in by_voucher.items():
        ids, _ = collect_pages(fetcher(code))
        assert ids == expected
        ids_lower, _ = collect_pages(fetcher(code.lower()))
        assert ids_lower == expected


def test_list_api_keys_and_tenants_return_every_item_exactly_once(api: ApiSession) -> None:
    tenant = api.new_tenant()
    key_ids = [tenant.api_key.id] + [tenant.create_key(["vouchers:read"])[0].id for _ in range(6)]

    def fetch_keys(token: str) -> tuple[list[Any], str]:
        page = tenant.api_keys.ListApiKeys(api_key_service_pb2.ListApiKeysRequest(page_size=3, page_token=token))
        return [k.id for k in page.api_keys], page.next_page_token

    assert collect_pages(fetch_keys)[0] == key_ids

    new_tenants = {api.new_tenant().id for _ in range(5)}

    def fetch_tenants(token: str) -> tuple[list[Any], str]:
        page = api.tenants.ListTenants(tenant_service_pb2.ListTenantsRequest(page_size=7, page_token=token))
        return [t.id for t in page.tenants], page.next_page_token

    listed, _ = collect_pages(fetch_tenants, max_pages=10_000)
    assert len(listed) == len(set(listed))
    assert new_tenants | {tenant.id} <= set(listed)
