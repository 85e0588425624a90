"""client.events.stream(): the tenant's events from a cursor, then live, resumed from the last cursor whenever
the connection drops (or the server ends the stream to shut down), so the caller sees every event exactly once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

import grpc

from vauchflow import _rpcs
from vauchflow._errors import VauchflowError, from_rpc_error
from vauchflow.v1 import event_stream_service_pb2, webhook_pb2

if TYPE_CHECKING:
    from vauchflow._transport import AsyncioTransport, BlockingTransport

# A dropped connection, a restarting or draining delivery service: the stream resumes. Anything else (a revoked
# key, a bad cursor) ends it with the error.
_RESUMABLE_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN})
# Reconnects in a row without progress before giving up: with the backoff capped at 8 s, about a minute, enough for
# a delivery service to restart.
DEFAULT_MAX_RECONNECTS = 10
# A stream that stayed open this long before it ended was healthy, events or not (a quiet tenant's stream is ended
# by the gateway's idle limit, every 5 minutes): its end starts the count of reconnects afresh, so a quiet stream
# never gives up, while a stream that keeps failing at once still does.
HEALTHY_STREAM_SECONDS = 30.0


def _request(after: str, event_types: tuple[str, ...]) -> event_stream_service_pb2.SubscribeEventsRequest:
    return event_stream_service_pb2.SubscribeEventsRequest(after=after, event_types=list(event_types))


class _Resumption:
    """Counts reconnects without progress; an event received, or a stream that stayed open for
    HEALTHY_STREAM_SECONDS, resets the count."""

    def __init__(self, after: str, max_reconnects: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.cursor = after
        self.max_reconnects = max_reconnects
        self.failures = 0
        self._clock = clock
        self._opened_at = clock()

    def opened(self) -> None:
        self._opened_at = self._clock()

    def received(self, event: webhook_pb2.Event) -> None:
        self.cursor = event.cursor
        self.failures = 0

    def check(self, error: VauchflowError | None) -> int:
        """Raises the error when the stream must not resume; otherwise returns the reconnect number."""
        if error is not None and error.grpc_code not in _RESUMABLE_CODES:
            raise error
        if self._clock() - self._opened_at >= HEALTHY_STREAM_SECONDS:
            self.failures = 0
        if self.failures >= self.max_reconnects:
            if error is not None:
                raise error
            raise VauchflowError("the event stream kept ending without events", grpc_code=grpc.StatusCode.UNAVAILABLE)
        self.failures += 1
        return self.failures - 1


class EventStream:
    """Iterate for events; `cursor` is the last one seen (give it as `after` to continue in a later process);
    `close()` ends the iteration from another thread."""

    def __init__(
        self, transport: BlockingTransport, after: str, event_types: tuple[str, ...], max_reconnects: int
    ) -> None:
        self._transport = transport
        self._event_types = event_types
        self._resumption = _Resumption(after, max_reconnects)
        self._call: Any = None
        self._closed = False

    @property
    def cursor(self) -> str:
        return self._resumption.cursor

    def __iter__(self) -> Iterator[webhook_pb2.Event]:
        policy = self._transport.settings.retry
        while not self._closed:
            error: VauchflowError | None = None
            self._resumption.opened()
            responses, self._call, x_request_id = self._transport.open_stream(
                _rpcs.SUBSCRIBE_EVENTS, _request(self.cursor, self._event_types)
            )
            try:
                for response in responses:
                    self._resumption.received(response.event)
                    yield response.event
            except grpc.RpcError as failure:
                if self._closed:
                    return
                error = from_rpc_error(failure, x_request_id)
            finally:
                self._call.cancel()  # a no-op when the stream ended; frees it when the caller stopped iterating
            if self._closed:
                return
            time.sleep(policy.backoff(self._resumption.check(error)))

    def close(self) -> None:
        self._closed = True
        if self._call is not None:
            self._call.cancel()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncEventStream:
    """`async for` events, resumed like EventStream; `close()` ends it."""

    def __init__(
        self, transport: AsyncioTransport, after: str, event_types: tuple[str, ...], max_reconnects: int
    ) -> None:
        self._transport = transport
        self._event_types = event_types
        self._resumption = _Resumption(after, max_reconnects)
        self._call: Any = None
        self._closed = False

    @property
    def cursor(self) -> str:
        return self._resumption.cursor

    async def __aiter__(self) -> AsyncIterator[webhook_pb2.Event]:
        policy = self._transport.settings.retry
        while not self._closed:
            error: VauchflowError | None = None
            self._resumption.opened()
            self._call, x_request_id = self._transport.open_stream(
                _rpcs.SUBSCRIBE_EVENTS, _request(self.cursor, self._event_types)
            )
            try:
                async for response in self._call:
                    self._resumption.received(response.event)
                    yield response.event
            except asyncio.CancelledError:
                if self._closed:
                    return
                raise
            except grpc.RpcError as failure:
                if self._closed:
                    return
                error = from_rpc_error(failure, x_request_id)
            finally:
                self._call.cancel()
            if self._closed:
                return
            await asyncio.sleep(policy.backoff(self._resumption.check(error)))

    def close(self) -> None:
        self._closed = True
        if self._call is not None:
            self._call.cancel()

    async def __aenter__(self) -> AsyncEventStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
