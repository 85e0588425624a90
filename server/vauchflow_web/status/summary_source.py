"""Where the status page gets its data: the API's public StatusService.GetStatusSummary, kept in memory.

The last summary that arrived is kept, so the page still answers while the API (or PostgreSQL behind it) is down,
showing what it last knew and how old that is. A fresh copy is asked for at most every `refresh_seconds`, which
also keeps the page's load off the API no matter how many people are looking.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict

from vauchflow.v1 import status_service_pb2, status_service_pb2_grpc

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SummarySnapshot:
    # GetStatusSummaryResponse as JSON (proto field names, enum names as strings).
    summary: dict[str, Any]
    fetched_at: float  # time.time() of its arrival
    # True when the latest attempt to refresh it failed (the API is unreachable or refused).
    stale: bool

    def age_seconds(self, now: float | None = None) -> float:
        return max(0.0, (now or time.time()) - self.fetched_at)


class SummarySource:
    def __init__(
        self, api_target: str, *, tls: bool = False, refresh_seconds: float = 5.0, timeout_seconds: float = 3.0
    ):
        # Its own channel: the shared client (vauchflow.AsyncClient) has no StatusService surface, and the summary
        # needs no caller key.
        self._channel = (
            grpc.aio.secure_channel(api_target, grpc.ssl_channel_credentials())
            if tls
            else grpc.aio.insecure_channel(api_target)
        )
        self._stub = status_service_pb2_grpc.StatusServiceStub(self._channel)
        self._refresh_seconds = refresh_seconds
        self._timeout = timeout_seconds
        self._last: SummarySnapshot | None = None
        self._last_attempt = 0.0
        self._lock = asyncio.Lock()

    async def get(self) -> SummarySnapshot | None:
        """The freshest summary available; None only when the API has never answered."""
        async with self._lock:  # one refresh at a time; the others wait for it and share its result
            if time.monotonic() - self._last_attempt < self._refresh_seconds and self._last is not None:
                return self._last
            self._last_attempt = time.monotonic()
            try:
                response = await self._stub.GetStatusSummary(
                    status_service_pb2.GetStatusSummaryRequest(), timeout=self._timeout
                )
            except grpc.aio.AioRpcError as error:
                log.warning(
                    "status summary unavailable",
                    extra={"action": "status_summary_failed", "code": error.code().name},
                )
                if self._last is not None:
                    self._last = SummarySnapshot(self._last.summary, self._last.fetched_at, stale=True)
                return self._last
            summary = MessageToDict(
                response, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
            )
            self._last = SummarySnapshot(summary, time.time(), stale=False)
            return self._last

    async def close(self) -> None:
        await self._channel.close()
