"""Keeps the vauchflow_status_incidents_overdue gauge current: open incidents past the update cadence, recounted
every interval (the seed promises an update at least every 30 minutes; the alerting pack pages on this)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from vauchflow_core import errors
from vauchflow_server.metrics import ServerMetrics
from vauchflow_server.status.status_desk import StatusDesk

log = logging.getLogger(__name__)


class OverdueWatch:
    def __init__(self, desk: StatusDesk, metrics: ServerMetrics, interval_seconds: float):
        self._desk = desk
        self._metrics = metrics
        self._interval = interval_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="status-overdue-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                self._metrics.incidents_overdue.set(await self._desk.overdue_count())
            except errors.DomainError as error:  # the database is away: keep the last count, try again
                log.warning(
                    "overdue incidents not counted",
                    extra={"action": "status_overdue_count_failed", "error_type": type(error).__name__},
                )
            await asyncio.sleep(self._interval)
