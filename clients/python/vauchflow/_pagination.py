"""Lists that walk every page lazily: `for item in pager` fetches the next page only when the last is used up."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from google.protobuf.message import Message

from vauchflow._rpcs import Rpc

if TYPE_CHECKING:
    from vauchflow._transport import AsyncioTransport, BlockingTransport

Item = TypeVar("Item")
Req = TypeVar("Req", bound=Message)


def _next_request(request: Req, page_token: str) -> Req:
    following = type(request)()
    following.CopyFrom(request)
    setattr(following, "page_token", page_token)  # noqa: B010 - every list request has it; Message does not say
    return following


class Pager(Generic[Item]):
    """Every item of a list, page after page, fetched as iteration reaches it. `pages()` yields the responses."""

    def __init__(
        self,
        transport: BlockingTransport,
        rpc: Rpc[Any, Any],
        request: Message,
        items: Callable[[Any], Iterable[Item]],
    ) -> None:
        self._transport = transport
        self._rpc = rpc
        self._request = request
        self._items = items

    def pages(self) -> Iterator[Any]:
        request = self._request
        while True:
            response = self._transport.unary(self._rpc, request)
            yield response
            if not response.next_page_token:
                return
            request = _next_request(request, response.next_page_token)

    def __iter__(self) -> Iterator[Item]:
        for page in self.pages():
            yield from self._items(page)


class AsyncPager(Generic[Item]):
    """Every item of a list for `async for`, page after page."""

    def __init__(
        self,
        transport: AsyncioTransport,
        rpc: Rpc[Any, Any],
        request: Message,
        items: Callable[[Any], Iterable[Item]],
    ) -> None:
        self._transport = transport
        self._rpc = rpc
        self._request = request
        self._items = items

    async def pages(self) -> AsyncIterator[Any]:
        request = self._request
        while True:
            response = await self._transport.unary(self._rpc, request)
            yield response
            if not response.next_page_token:
                return
            request = _next_request(request, response.next_page_token)

    async def __aiter__(self) -> AsyncIterator[Item]:
        async for page in self.pages():
            for item in self._items(page):
                yield item
