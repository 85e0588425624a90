"""Connections to PostgreSQL for every service: pools, transactions, LISTEN, and the one place where driver
exceptions become domain errors.

Only the db packages import asyncpg. Each service keeps its own statements' callers (the API server's
`vauchflow_server.db.database`, the delivery service's `vauchflow_delivery.store`) on top of this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Mapping

import asyncpg

from vauchflow_core import errors
from vauchflow_core.db.queries import QUERIES
from vauchflow_core.wakeups import wait_any

log = logging.getLogger(__name__)

# A connection of one's own or one borrowed from a pool: statements run the same on both.
Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy

_SERIALIZATION_FAILURE = "40001"
_DEADLOCK_DETECTED = "40P01"
# Raised for a row that row-level security refuses to write, or a statement the role has no grant for.
_INSUFFICIENT_PRIVILEGE = "42501"


class UniqueViolation(errors.Conflict):
    """A unique constraint refused a row; `constraint` says which."""

    def __init__(self, constraint: str):
        super().__init__("already exists", reason="ALREADY_EXISTS")
        self.constraint = constraint


class CheckViolation(errors.DomainError):
    def __init__(self, constraint: str):
        super().__init__("a database constraint refused the change", reason="CONSTRAINT_VIOLATED")
        self.constraint = constraint


class StatementFailed(Exception):
    """PostgreSQL refused a statement for a reason no caller can act on (a bug, or a schema out of step): not a
    domain error, so the RPC edge answers INTERNAL. Carries only the SQLSTATE: the driver's text can quote SQL."""

    def __init__(self, sqlstate: str):
        super().__init__(f"statement failed with SQLSTATE {sqlstate}")
        self.sqlstate = sqlstate


@contextlib.contextmanager
def translated_errors() -> Iterator[None]:
    """Driver exceptions → domain errors (23505 conflict, 23514 check, 40001/40P01 retry, 42501 forbidden,
    unreachable → unavailable, anything else → StatementFailed)."""
    try:
        yield
    except asyncpg.UniqueViolationError as error:
        raise UniqueViolation(error.constraint_name or "") from None
    except asyncpg.CheckViolationError as error:
        raise CheckViolation(error.constraint_name or "") from None
    except asyncpg.PostgresError as error:
        if error.sqlstate in (_SERIALIZATION_FAILURE, _DEADLOCK_DETECTED):
            raise errors.Aborted("concurrent update; retry the request") from None
        if error.sqlstate == _INSUFFICIENT_PRIVILEGE:
            log.error("database refused access", extra={"action": "db_forbidden", "sqlstate": error.sqlstate})
            raise errors.Forbidden("the database refused access to these rows") from None
        if isinstance(error, (asyncpg.CannotConnectNowError, asyncpg.AdminShutdownError)):
            raise errors.Unavailable("the database is unavailable") from None
        log.error("statement failed", extra={"action": "db_statement_failed", "sqlstate": error.sqlstate})
        raise StatementFailed(error.sqlstate or "") from None
    except (TimeoutError, OSError, asyncpg.ConnectionDoesNotExistError, asyncpg.InterfaceError) as error:
        log.warning("database unreachable", extra={"action": "db_unavailable", "error_type": type(error).__name__})
        raise errors.Unavailable("the database is unavailable") from None


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _release_connection(conn: asyncpg.Connection) -> None:
    """Replaces asyncpg's default reset query (a round trip on every release, ~1 per request).

    Nothing session-level is ever left on a pooled connection: tenant and operator settings are
    transaction-local (set_config(..., true)), and no pooled connection LISTENs, holds advisory locks or cursors.
    A connection is only ever handed back inside a transaction if a bug or a cancellation cut one short; roll that
    back rather than pass it on.
    """
    if conn.is_in_transaction():
        await conn.execute(QUERIES["rollback"])


# No transaction of ours waits between statements for more than milliseconds; one idle this long belongs to a
# process that stopped (SIGSTOP, a hung host) while holding it, and PostgreSQL ends its session so the row locks it
# holds (a voucher being redeemed) go back to the live replicas.
IDLE_IN_TRANSACTION_LIMIT = "60s"


async def create_pool(dsn: str, *, min_size: int, max_size: int) -> asyncpg.Pool:
    with translated_errors():
        pool: asyncpg.Pool = await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            init=_init_connection,
            reset=_release_connection,
            server_settings={"idle_in_transaction_session_timeout": IDLE_IN_TRANSACTION_LIMIT},
        )
    return pool


@contextlib.asynccontextmanager
async def transaction(conn: Connection, begin: str) -> AsyncIterator[None]:
    """Runs `begin` (which may also set transaction-local settings in the same round trip), commits on success,
    rolls back on any exit by exception."""
    await conn.execute(begin)
    try:
        yield
    except BaseException:
        try:
            await conn.execute(QUERIES["rollback"])
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
            conn.terminate()  # a connection that can't roll back never goes back to the pool
        raise
    await conn.execute(QUERIES["commit"])


class NotificationListener:
    """LISTENs on some channels over a dedicated connection (a pooled one would hand its notifications to whoever
    borrows it next), reconnecting after a loss.

    Notifications sent while disconnected are lost, so `on_connect` runs after every (re)connection: callers
    resynchronise there (drop a cache, poll once).
    """

    def __init__(
        self,
        dsn: str,
        channels: Mapping[str, Callable[[str], None]],
        on_connect: Callable[[], None],
        retry_seconds: float = 1.0,
    ):
        self._dsn = dsn
        self._channels = dict(channels)
        self._on_connect = on_connect
        self._retry_seconds = retry_seconds
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name=f"listen:{','.join(self._channels)}")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def run(self, stopping: asyncio.Event | None = None) -> None:
        """Listens until `stopping` (or stop()) is set."""
        stop = stopping or self._stopping
        while not stop.is_set():
            lost = asyncio.Event()
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self._dsn)
                conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                for channel, on_notify in self._channels.items():
                    await conn.add_listener(channel, _callback(on_notify))
                self._on_connect()
                self.connected.set()
                await wait_any(stop, lost, timeout=None)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as error:
                log.warning(
                    "listener disconnected",
                    extra={"action": "listen_failed", "channels": list(self._channels),
                           "error_type": type(error).__name__},
                )  # fmt: skip
            finally:
                self.connected.clear()
                if conn is not None and not conn.is_closed():
                    try:
                        await asyncio.wait_for(conn.close(), timeout=2)
                    except BaseException:
                        conn.terminate()
                        raise
            if not stop.is_set():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self._retry_seconds)


def _callback(on_notify: Callable[[str], None]) -> Callable[[object, int, str, object], None]:
    return lambda _conn, _pid, _channel, payload: on_notify(str(payload))
