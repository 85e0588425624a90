"""Reads a SubscribeEvents stream on a background thread, so a test can wait for messages with a deadline and
hang up whenever it likes."""

from __future__ import annotations

import queue
import threading
from typing import Any

import grpc

from vauchflow.v1 import event_stream_service_pb2, event_stream_service_pb2_grpc


class EventStreamReader:
    def __init__(self, channel: grpc.Channel, api_key: str | None, after: str = "", event_types: tuple[str, ...] = ()):
        metadata = (("authorization", f"Bearer {api_key}"),) if api_key else ()
        self._call = event_stream_service_pb2_grpc.EventStreamServiceStub(channel).SubscribeEvents(
            event_stream_service_pb2.SubscribeEventsRequest(after=after, event_types=list(event_types)),
            metadata=metadata,
            timeout=120,
        )
        self._queue: queue.Queue[Any] = queue.Queue()
        self.error: grpc.RpcError | None = None
        self._thread = threading.Thread(target=self._read, name="event-stream-reader", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for response in self._call:
                self._queue.put(response.event)
        except grpc.RpcError as error:
            self.error = error
        self._queue.put(None)

    def take(self, count: int, timeout: float = 30) -> list[Any]:
        """The next count events; fails if the stream ends or they do not come in time."""
        events = []
        for _ in range(count):
            try:
                event = self._queue.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"only {len(events)} of {count} events arrived within {timeout}s") from None
            if event is None:
                raise AssertionError(f"the stream ended after {len(events)} of {count} events: {self.error!r}")
            events.append(event)
        return events

    def pending(self) -> int:
        return self._queue.qsize()

    def finished_with(self, timeout: float = 30) -> grpc.RpcError | None:
        """Waits for the stream to end; returns its error (None if it ended OK)."""
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the stream did not end"
        return self.error

    def cancel(self) -> None:
        self._call.cancel()
        self._thread.join(10)
