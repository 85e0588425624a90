"""Where a read runs: on a streaming PostgreSQL replica, or on the primary.

Only the query groups the Database hands out as reads (lists; see Database.tenant_read) ever come here; everything
that decides (redeem, validate, limits, idempotency, authentication, key lookups) runs on the primary.

A read goes to the replica when it is in rotation and has replayed at least the position the request carries
(commit_positions.required_position): at once if the last check already saw it there, else after polling the
replica for at most `wait_seconds`; otherwise it runs on the primary. A watch task compares the replica's replay
position with the primary's every `check_seconds`: the lag (bytes, and seconds since the primary first wrote what
the replica still lacks) is exported, and a replica lagging more than `max_lag_seconds` (or unreachable) is out of
rotation until it catches up.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg

from vauchflow_core.commit_positions import required_position
from vauchflow_core.db.connection import Connection
from vauchflow_core.db.queries import QUERIES
from vauchflow_server.metrics import ServerMetrics

log = logging.getLogger(__name__)

# How often a read waiting for the replica looks at its replay position again.
_WAIT_POLL_SECONDS = 0.005


@dataclass(frozen=True)
class ReplicaSettings:
    # Longest a read waits for the replica to replay the request's position before running on the primary.
    wait_seconds: float = 0.05
    # A replica further behind than this is taken out of rotation (reads go to the primary) until it catches up.
    max_lag_seconds: float = 5.0
    # How often the replica's lag is measured.
    check_seconds: float = 0.25


class ReadReplica:
    def __init__(
        self, replica: asyncpg.Pool, primary: asyncpg.Pool, settings: ReplicaSettings, metrics: ServerMetrics
    ) -> None:
        self._replica = replica
        self._primary = primary
        self._settings = settings
        self._metrics = metrics
        # The highest position the replica was seen to have replayed: a lower bound, since replay only advances.
        self._replayed = 0
        self._in_rotation = False
        # (first seen, primary position) for each primary position the watch saw, oldest first, while the replica
        # has not replayed it: the oldest one's age is the lag in seconds.
        self._unreplayed: collections.deque[tuple[float, int]] = collections.deque()
        self._task: asyncio.Task[None] | None = None

    @property
    def in_rotation(self) -> bool:
        return self._in_rotation

    async def start(self) -> None:
        """Measures once (so the first reads already know), then keeps watching in the background."""
        await self._check()
        self._task = asyncio.create_task(self._watch(), name="replica-lag-watch")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._replica.close()

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A connection for a read: the replica's when it may serve this request, else the primary's."""
        async with contextlib.AsyncExitStack() as held:
            yield await self._choose(held)

    async def _choose(self, held: contextlib.AsyncExitStack) -> Connection:
        if not self._in_rotation:
            reason = "out_of_rotation"
        else:
            replica = await self._acquire_replica()
            if replica is None:
                reason = "replica_unavailable"
            else:
                needed = required_position.get()
                try:
                    serves = needed is None or needed <= self._replayed or await self._replays_to(replica, needed)
                except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    await self._replica.release(replica)
                    raise
                if serves:
                    held.push_async_callback(self._replica.release, replica)
                    self._count("replica", "any_position" if needed is None else "at_position")
                    return replica
                await self._replica.release(replica)
                reason = "behind_position"
        self._count("primary", reason)
        return await held.enter_async_context(self._primary.acquire())

    async def _acquire_replica(self) -> asyncpg.pool.PoolConnectionProxy | None:
        try:
            conn: asyncpg.pool.PoolConnectionProxy = await self._replica.acquire(timeout=1)
        except TimeoutError:
            # Every replica connection busy: this read goes to the primary; the replica stays in rotation.
            return None
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            log.warning("replica unreachable", extra={"action": "replica_unreachable",
                                                      "error_type": type(error).__name__})  # fmt: skip
            self._set_rotation(False)
            return None
        return conn

    async def _replays_to(self, conn: Connection, needed: int) -> bool:
        deadline = time.monotonic() + self._settings.wait_seconds
        while True:
            replayed = int(await conn.fetchval(QUERIES["replayed_position"]) or 0)
            self._replayed = max(self._replayed, replayed)
            if replayed >= needed:
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(_WAIT_POLL_SECONDS)

    def _count(self, target: str, reason: str) -> None:
        self._metrics.db_reads.labels(target, reason).inc()

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._settings.check_seconds)
            await self._check()

    async def _check(self) -> None:
        now = time.monotonic()
        try:
            primary_position = int(await self._primary.fetchval(QUERIES["commit_position"], timeout=2))
            replayed = int(await self._replica.fetchval(QUERIES["replayed_position"], timeout=2) or 0)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            log.warning("replica lag check failed", extra={"action": "replica_check_failed",
                                                           "error_type": type(error).__name__})  # fmt: skip
            self._set_rotation(False)
            return
        self._replayed = max(self._replayed, replayed)
        if not self._unreplayed or self._unreplayed[-1][1] < primary_position:
            self._unreplayed.append((now, primary_position))
        while self._unreplayed and self._unreplayed[0][1] <= replayed:
            self._unreplayed.popleft()
        lag_seconds = now - self._unreplayed[0][0] if self._unreplayed else 0.0
        self._metrics.db_replica_lag_seconds.set(lag_seconds)
        self._metrics.db_replica_lag_bytes.set(max(0, primary_position - replayed))
        self._set_rotation(lag_seconds <= self._settings.max_lag_seconds)

    def _set_rotation(self, in_rotation: bool) -> None:
        if in_rotation != self._in_rotation:
            log.warning(
                "replica back in rotation" if in_rotation else "replica out of rotation",
                extra={"action": "replica_rotation", "in_rotation": in_rotation},
            )
        self._in_rotation = in_rotation
        self._metrics.db_replica_in_rotation.set(1 if in_rotation else 0)
