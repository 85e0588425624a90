"""ListVouchers and ListRedemptions filters and order over gRPC: each filter narrows to exactly the matching rows of
the calling tenant, pages keep their filters, a token used with other filters is refused, and bad filter values
are INVALID_ARGUMENT with a field violation."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import grpc
from google.protobuf import timestamp_pb2

from support.api_client import (
    ApiSession,
    TenantClient,
    assert_invalid,
    expect_rpc_error,
    unique_code,
)
from vauchflow.v1 import redemption_pb2, redemption_service_pb2, voucher_pb2, voucher_service_pb2

from .test_campaigns import generated_campaign

ListVouchers = voucher_service_pb2.ListVouchersRequest
ListRedemptions = redemption_service_pb2.ListRedemptionsRequest


def all_pages(call: Callable[[Any], Any], request: Any, items: str) -> list[Any]:
    found: list[Any] = []
    while True:
        response = call(request)
        found.extend(getattr(response, items))
        if not response.next_page_token:
            return found
        request.page_token = response.next_page_token


def codes(tenant: TenantClient, request: Any) -> list[str]:
    return [v.code for v in all_pages(tenant.vouchers.ListVouchers, request, "vouchers")]


def test_voucher_filters_narrow_to_the_matching_vouchers(api: ApiSession) -> None:
    tenant, other = api.new_tenant(), api.new_tenant()
    stem = unique_code("SRCH")
    made = [
        tenant.create_voucher(code=f"{stem}-A{i}", metadata={"campaign": "spring" if i % 2 else "autumn"})
        for i in range(5)
    ]
    tenant.create_voucher(code=unique_code("ELSE"), metadata={"campaign": "spring"})
    tenant.vouchers.DisableVoucher(voucher_service_pb2.DisableVoucherRequest(code=made[1].code))
    # Another tenant's vouchers with the same prefix and metadata never show.
    other.create_voucher(code=f"{stem}-A9", metadata={"campaign": "spring"})

    every = [v.code for v in made]
    # The prefix is compared as codes are: trimmed and case-insensitive.
    assert codes(tenant, ListVouchers(code_prefix=f" {stem.lower()}-a", page_size=2)) == every
    assert codes(tenant, ListVouchers(code_prefix=stem, status=voucher_pb2.VOUCHER_STATUS_DISABLED)) == [every[1]]
    assert codes(tenant, ListVouchers(code_prefix=stem, status=voucher_pb2.VOUCHER_STATUS_ACTIVE)) == [
        every[0], *every[2:]
    ]  # fmt: skip
    spring = codes(tenant, ListVouchers(metadata_key="campaign", metadata_value="spring", page_size=1))
    assert spring[:2] == [every[1], every[3]] and len(spring) == 3
    assert codes(tenant, ListVouchers(metadata_key="campaign", metadata_value="spring", code_prefix=stem)) == [
        every[1], every[3]
    ]  # fmt: skip
    assert codes(tenant, ListVouchers(metadata_key="campaign", metadata_value="winter")) == []
    newest = codes(tenant, ListVouchers(code_prefix=stem, order_by="create_time desc", page_size=2))
    assert newest == list(reversed(every))
    assert codes(other, ListVouchers(code_prefix=stem)) == [f"{stem}-A9"]


def test_a_page_token_only_continues_its_own_filters(api: ApiSession) -> None:
    tenant = api.new_tenant()
    stem = unique_code("TOK")
    for i in range(3):
        tenant.create_voucher(code=f"{stem}{i}")
    first = tenant.vouchers.ListVouchers(ListVouchers(code_prefix=stem, page_size=1))
    assert first.next_page_token
    for changed in (
        ListVouchers(code_prefix=stem + "1", page_size=1),
        ListVouchers(page_size=1),
        ListVouchers(code_prefix=stem, order_by="create_time desc", page_size=1),
        ListVouchers(code_prefix=stem, status=voucher_pb2.VOUCHER_STATUS_ACTIVE, page_size=1),
    ):
        changed.page_token = first.next_page_token
        assert_invalid(expect_rpc_error(tenant.vouchers.ListVouchers, changed), "page_token")
    # The same filters (the prefix in another case is the same filter) continue; the page size may change.
    same = tenant.vouchers.ListVouchers(
        ListVouchers(code_prefix=stem.lower(), page_size=5, page_token=first.next_page_token)
    )
    assert [v.code for v in same.vouchers] == [f"{stem}1", f"{stem}2"]
    # An unfiltered list's tokens look as they always did and still work.
    plain = tenant.vouchers.ListVouchers(ListVouchers(page_size=1))
    assert tenant.vouchers.ListVouchers(ListVouchers(page_size=1, page_token=plain.next_page_token)).vouchers


def test_bad_voucher_filters_are_invalid_arguments(api: ApiSession) -> None:
    tenant = api.new_tenant()
    for request, field in (
        (ListVouchers(code_prefix="no spaces"), "code_prefix"),
        (ListVouchers(code_prefix="X" * 65), "code_prefix"),
        (ListVouchers(status=99), "status"),
        (ListVouchers(metadata_value="orphan"), "metadata_key"),
        (ListVouchers(metadata_key="k" * 41, metadata_value="v"), "metadata_key"),
        (ListVouchers(order_by="code"), "order_by"),
        (ListVouchers(order_by="create_time sideways"), "order_by"),
    ):
        error = expect_rpc_error(tenant.vouchers.ListVouchers, request)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert_invalid(error, field)


def stamp(seconds: int, nanos: int = 0) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)


def test_redemption_filters_narrow_to_the_matching_redemptions(api: ApiSession) -> None:
    tenant, other = api.new_tenant(), api.new_tenant()
    first, second = tenant.create_voucher(), tenant.create_voucher()
    made = [
        tenant.redeem(first.code, customer_id="alice").redemption,
        tenant.redeem(second.code, customer_id="bob").redemption,
        tenant.redeem(first.code, customer_id="bob").redemption,
        tenant.redeem(second.code, customer_id="alice").redemption,
    ]
    tenant.redemptions.RollbackRedemption(redemption_service_pb2.RollbackRedemptionRequest(id=made[2].id))
    other.redeem(other.create_voucher().code, customer_id="alice")

    def ids(**filters: Any) -> list[str]:
        request = ListRedemptions(page_size=1, **filters)
        return [r.id for r in all_pages(tenant.redemptions.ListRedemptions, request, "redemptions")]

    every = [r.id for r in made]
    assert ids() == every
    assert ids(voucher_code=first.code.lower()) == [every[0], every[2]]
    assert ids(customer_id="bob") == [every[1], every[2]]
    assert ids(customer_id="bob", status=redemption_pb2.REDEMPTION_STATUS_ROLLED_BACK) == [every[2]]
    assert ids(status=redemption_pb2.REDEMPTION_STATUS_SUCCEEDED) == [every[0], every[1], every[3]]
    assert ids(customer_id="carol") == []
    assert ids(order_by="create_time desc") == list(reversed(every))
    # [start_time, end_time): from the second redemption's instant up to (not including) the fourth's.
    second_at, fourth_at = made[1].create_time, made[3].create_time
    assert ids(start_time=second_at, end_time=fourth_at) == [every[1], every[2]]
    assert ids(start_time=fourth_at) == [every[3]]
    assert ids(end_time=second_at) == [every[0]]


def test_bad_redemption_filters_are_invalid_arguments(api: ApiSession) -> None:
    tenant = api.new_tenant()
    for request, field in (
        (ListRedemptions(status=7), "status"),
        (ListRedemptions(customer_id="c" * 256), "customer_id"),
        (ListRedemptions(start_time=stamp(2_000), end_time=stamp(1_000)), "end_time"),
        (ListRedemptions(start_time=stamp(253_402_300_800)), "start_time"),  # year 10000
        (ListRedemptions(order_by="create_time descending"), "order_by"),
    ):
        error = expect_rpc_error(tenant.redemptions.ListRedemptions, request)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert_invalid(error, field)
    listed = tenant.redemptions.ListRedemptions(ListRedemptions(customer_id="x", page_size=1))
    assert listed.next_page_token == ""
    tenant.redeem(tenant.create_voucher().code, customer_id="x")
    tenant.redeem(tenant.create_voucher().code, customer_id="x")
    page = tenant.redemptions.ListRedemptions(ListRedemptions(customer_id="x", page_size=1))
    refused = ListRedemptions(customer_id="y", page_size=1, page_token=page.next_page_token)
    assert_invalid(expect_rpc_error(tenant.redemptions.ListRedemptions, refused), "page_token")


def test_the_metadata_lookup_runs_as_the_owner_but_sees_only_the_callers_tenant(api: ApiSession) -> None:
    """vouchers_with_metadata bypasses row-level security (migration list_filters says why), so it must confine
    itself: as the application role it returns the transaction's tenant's matches and nothing without a tenant."""
    first, second = api.new_tenant(), api.new_tenant()
    pair = {"shared": uuid.uuid4().hex}
    mine = first.create_voucher(metadata=pair)
    second.create_voucher(metadata=pair)

    async def lookup(tenant_id: str | None) -> list[uuid.UUID]:
        conn = await asyncpg.connect(api.server.app_dsn)
        try:
            async with conn.transaction():
                if tenant_id:
                    await conn.execute("SELECT set_config('app.tenant_id', $1, true)", tenant_id)
                rows = await conn.fetch("SELECT * FROM vouchers_with_metadata('shared', $1)", pair["shared"])
        finally:
            await conn.close()
        return [row[0] for row in rows]

    assert asyncio.run(lookup(first.id)) == [uuid.UUID(mine.id)]
    assert asyncio.run(lookup(None)) == []


def test_the_campaign_filter_lists_a_campaigns_codes_and_their_redemptions(api: ApiSession) -> None:
    tenant, other = api.new_tenant(), api.new_tenant()
    campaign, _ = generated_campaign(tenant, 5, code_redemption_limit=2)
    generated_campaign(tenant, 3)  # another campaign's codes
    plain = tenant.create_voucher()
    listed = codes(tenant, ListVouchers(campaign_id=campaign.id, page_size=2))
    assert len(listed) == 5 and plain.code not in listed
    assert codes(tenant, ListVouchers(campaign_id=campaign.id, code_prefix=listed[0])) == [listed[0]]
    # Another tenant naming this campaign sees nothing of it.
    assert codes(other, ListVouchers(campaign_id=campaign.id)) == []

    mine = [tenant.redeem(code).redemption.id for code in listed[:2]]
    tenant.redeem(plain.code)
    request = ListRedemptions(campaign_id=campaign.id, page_size=1)
    assert [r.id for r in all_pages(tenant.redemptions.ListRedemptions, request, "redemptions")] == mine
    for bad in (ListVouchers(campaign_id="not-a-uuid"), ListRedemptions(campaign_id="nope")):
        call = tenant.vouchers.ListVouchers if isinstance(bad, ListVouchers) else tenant.redemptions.ListRedemptions
        assert_invalid(expect_rpc_error(call, bad), "campaign_id")
