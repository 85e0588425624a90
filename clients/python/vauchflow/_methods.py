"""Sync and async from one definition: a resource declares each method once, as a request builder plus the RPC
it calls, and the descriptors here turn it into a blocking method on Client and a coroutine on AsyncClient, with
the builder's exact signature for type checkers on both."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Generic, ParamSpec, Self, TypeVar, overload

from google.protobuf.message import Message

from vauchflow._pagination import AsyncPager, Pager
from vauchflow._rpcs import Rpc
from vauchflow._transport import AsyncioTransport, BlockingTransport

P = ParamSpec("P")
Out = TypeVar("Out")
Item = TypeVar("Item")
Req = TypeVar("Req", bound=Message)
Resp = TypeVar("Resp", bound=Message)
# Which transport a namespace runs on decides what its methods return.
T = TypeVar("T", bound=BlockingTransport | AsyncioTransport)


class Namespace(Generic[T]):
    """A group of methods (client.vouchers, client.redemptions, ...) bound to one transport."""

    def __init__(self, transport: T) -> None:
        self._transport: T = transport


class UnaryMethod(Generic[P, Out]):
    """A unary call: build(*args, **kwargs) -> request; the RPC's response; unwrap(response) -> what the caller
    gets (often the resource itself)."""

    @overload
    def __init__(self: UnaryMethod[P, Resp], rpc: Rpc[Req, Resp], build: Callable[P, Req]) -> None: ...
    @overload
    def __init__(self, rpc: Rpc[Req, Resp], build: Callable[P, Req], unwrap: Callable[[Resp], Out]) -> None: ...
    def __init__(
        self, rpc: Rpc[Any, Any], build: Callable[P, Any], unwrap: Callable[[Any], Any] = lambda response: response
    ) -> None:
        self._rpc: Rpc[Any, Any] = rpc
        self._build: Callable[P, Any] = build
        self._unwrap: Callable[[Any], Out] = unwrap
        self.__doc__ = build.__doc__

    @overload
    def __get__(self, namespace: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, namespace: Namespace[BlockingTransport], owner: type[Any]) -> Callable[P, Out]: ...
    @overload
    def __get__(
        self, namespace: Namespace[AsyncioTransport], owner: type[Any]
    ) -> Callable[P, Coroutine[Any, Any, Out]]: ...
    def __get__(self, namespace: Namespace[Any] | None, owner: type[Any]) -> Any:
        if namespace is None:
            return self
        transport = namespace._transport
        rpc, build, unwrap = self._rpc, self._build, self._unwrap
        if isinstance(transport, AsyncioTransport):

            async def call_async(*args: P.args, **kwargs: P.kwargs) -> Out:
                return unwrap(await transport.unary(rpc, build(*args, **kwargs)))

            call_async.__doc__ = self.__doc__
            return call_async

        def call(*args: P.args, **kwargs: P.kwargs) -> Out:
            return unwrap(transport.unary(rpc, build(*args, **kwargs)))

        call.__doc__ = self.__doc__
        return call


class ListMethod(Generic[P, Item]):
    """A list call: returns a Pager (sync) or AsyncPager that walks every page lazily."""

    def __init__(self, rpc: Rpc[Req, Resp], build: Callable[P, Req], items: Callable[[Resp], Iterable[Item]]) -> None:
        self._rpc: Rpc[Any, Any] = rpc
        self._build: Callable[P, Any] = build
        self._items: Callable[[Any], Iterable[Item]] = items
        self.__doc__ = build.__doc__

    @overload
    def __get__(self, namespace: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, namespace: Namespace[BlockingTransport], owner: type[Any]) -> Callable[P, Pager[Item]]: ...
    @overload
    def __get__(self, namespace: Namespace[AsyncioTransport], owner: type[Any]) -> Callable[P, AsyncPager[Item]]: ...
    def __get__(self, namespace: Namespace[Any] | None, owner: type[Any]) -> Any:
        if namespace is None:
            return self
        transport = namespace._transport
        rpc, build, items = self._rpc, self._build, self._items
        if isinstance(transport, AsyncioTransport):

            def list_async(*args: P.args, **kwargs: P.kwargs) -> AsyncPager[Item]:
                return AsyncPager(transport, rpc, build(*args, **kwargs), items)

            list_async.__doc__ = self.__doc__
            return list_async

        def list_blocking(*args: P.args, **kwargs: P.kwargs) -> Pager[Item]:
            return Pager(transport, rpc, build(*args, **kwargs), items)

        list_blocking.__doc__ = self.__doc__
        return list_blocking
