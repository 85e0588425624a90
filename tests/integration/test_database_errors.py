"""The one boundary where PostgreSQL's errors become domain errors (vauchflow_core.db.connection), on a real
database as the API server's own role: what each SQLSTATE becomes, and that no SQL or value leaks through."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from support.services import MigratedDatabase
from vauchflow_core import errors
from vauchflow_core.db.connection import (
    IDLE_IN_TRANSACTION_LIMIT,
    StatementFailed,
    UniqueViolation,
    create_pool,
    translated_errors,
)
from vauchflow_core.db.queries import QUERIES


@pytest.fixture
async def tenants(owner: asyncpg.Connection) -> tuple[uuid.UUID, uuid.UUID]:
    a, b = uuid.uuid4(), uuid.uuid4()
    for tenant_id in (a, b):
        await owner.execute("INSERT INTO tenants (id, name, plan) VALUES ($1, $2, 'FREE')", tenant_id, str(tenant_id))
    return a, b


@pytest.fixture
async def app(migrated_db: MigratedDatabase) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(migrated_db.app_dsn)
    try:
        yield conn
    finally:
        await conn.close()


async def test_a_row_for_another_tenant_is_refused_as_forbidden_not_internal(
    app: asyncpg.Connection, tenants: tuple[uuid.UUID, uuid.UUID]
) -> None:
    a, b = tenants
    with pytest.raises(errors.Forbidden) as refused, translated_errors():
        async with app.transaction():
            await app.execute(QUERIES["set_tenant"], str(a))
            await app.execute(
                "INSERT INTO vouchers (tenant_id, id, code, percent_off, status) VALUES ($1, $2, 'X1', 10, 'ACTIVE')",
                b,
                uuid.uuid4(),
            )
    assert refused.value.reason == "ACCESS_DENIED"
    assert "INSERT" not in str(refused.value) and str(b) not in str(refused.value)


async def test_a_duplicate_is_a_conflict_naming_its_constraint(
    app: asyncpg.Connection, tenants: tuple[uuid.UUID, uuid.UUID]
) -> None:
    a, _ = tenants
    insert = "INSERT INTO vouchers (tenant_id, id, code, percent_off, status) VALUES ($1, $2, 'DUP', 10, 'ACTIVE')"
    with pytest.raises(UniqueViolation) as refused, translated_errors():
        async with app.transaction():
            await app.execute(QUERIES["set_tenant"], str(a))
            await app.execute(insert, a, uuid.uuid4())
            await app.execute(insert, a, uuid.uuid4())
    assert isinstance(refused.value, errors.Conflict)
    assert refused.value.constraint


async def test_any_other_refusal_carries_only_its_sqlstate(app: asyncpg.Connection) -> None:
    with pytest.raises(StatementFailed) as failed, translated_errors():
        await app.execute("SELECT no_such_column_secret_value FROM tenants")
    assert failed.value.sqlstate == "42703"
    assert "secret_value" not in str(failed.value) and "SELECT" not in str(failed.value)
    assert not isinstance(failed.value, errors.DomainError)  # the RPC edge answers INTERNAL, as for any bug


async def test_pooled_connections_end_a_transaction_left_idle_by_a_stopped_process(
    migrated_db: MigratedDatabase,
) -> None:
    """Every pool of the services sets idle_in_transaction_session_timeout, so a process stopped mid-transaction
    (SIGSTOP) can't hold a voucher's row lock for ever: PostgreSQL ends its session."""
    pool = await create_pool(migrated_db.app_dsn, min_size=1, max_size=1)
    try:
        conn = await pool.acquire()
        # PostgreSQL shows its own unit: 60s is "1min".
        assert IDLE_IN_TRANSACTION_LIMIT == "60s"
        assert await conn.fetchval("SHOW idle_in_transaction_session_timeout") == "1min"
        # The limit is the session's own: a transaction that idles past it (here made short) loses its session.
        await conn.execute("SET idle_in_transaction_session_timeout = '100ms'")
        await conn.execute("BEGIN")
        ended = False
        for _ in range(100):  # up to 10 s on a slow machine; PostgreSQL ends it after 100 ms idle
            await asyncio.sleep(0.1)
            try:
                await conn.execute("SELECT 1")
            except (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, ConnectionError):
                ended = True
                break
        assert ended
    finally:
        pool.terminate()
