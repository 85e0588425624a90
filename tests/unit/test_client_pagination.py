"""Pagers fetch the next page only when iteration reaches it, and follow next_page_token to the end."""

from __future__ import annotations

from typing import Any

from vauchflow import _rpcs
from vauchflow._pagination import AsyncPager, Pager
from vauchflow._transport import AsyncioTransport, BlockingTransport, Settings
from vauchflow.v1 import voucher_pb2, voucher_service_pb2

PAGES = {
    "": (["A", "B"], "t1"),
    "t1": (["C", "D"], "t2"),
    "t2": (["E"], ""),
}


def _page(request: voucher_service_pb2.ListVouchersRequest) -> voucher_service_pb2.ListVouchersResponse:
    codes, token = PAGES[request.page_token]
    return voucher_service_pb2.ListVouchersResponse(
        vouchers=[voucher_pb2.Voucher(code=c) for c in codes], next_page_token=token
    )


class PagesFromTable(BlockingTransport):
    """A transport whose server is the PAGES table (the pager's logic is what is under test)."""

    def __init__(self) -> None:
        super().__init__(Settings(token="t"))
        self.requests: list[voucher_service_pb2.ListVouchersRequest] = []

    def unary(self, rpc: Any, request: Any) -> Any:
        self.requests.append(request)
        return _page(request)


class AsyncPagesFromTable(AsyncioTransport):
    def __init__(self) -> None:
        super().__init__(Settings(token="t"))
        self.requests: list[voucher_service_pb2.ListVouchersRequest] = []

    async def unary(self, rpc: Any, request: Any) -> Any:
        self.requests.append(request)
        return _page(request)


def test_pages_are_fetched_lazily_and_every_item_is_seen_once() -> None:
    transport = PagesFromTable()
    first = voucher_service_pb2.ListVouchersRequest(page_size=2)
    items = iter(Pager(transport, _rpcs.LIST_VOUCHERS, first, lambda r: r.vouchers))
    assert transport.requests == []
    assert [next(items).code for _ in range(3)] == ["A", "B", "C"]
    assert [r.page_token for r in transport.requests] == ["", "t1"]
    assert [v.code for v in items] == ["D", "E"]
    assert [(r.page_token, r.page_size) for r in transport.requests] == [("", 2), ("t1", 2), ("t2", 2)]
    assert first.page_token == ""  # the caller's request is not changed


def test_pages_yields_the_responses() -> None:
    pager = Pager(
        PagesFromTable(), _rpcs.LIST_VOUCHERS, voucher_service_pb2.ListVouchersRequest(), lambda r: r.vouchers
    )
    assert [page.next_page_token for page in pager.pages()] == ["t1", "t2", ""]


async def test_async_for_walks_every_page() -> None:
    transport = AsyncPagesFromTable()
    pager = AsyncPager(transport, _rpcs.LIST_VOUCHERS, voucher_service_pb2.ListVouchersRequest(), lambda r: r.vouchers)
    assert [v.code async for v in pager] == ["A", "B", "C", "D", "E"]
    assert len(transport.requests) == 3
