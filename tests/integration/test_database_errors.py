"""The one boundary where PostgreSQL's errors become domain errors (vauchflow_core.db.connection), on a real
database as the API server's own role: what each SQLSTATE becomes, and that no SQL or value leaks through."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from support.services import MigratedDatabase
from vauchflow_core import errors
from vauchflow_core.db.connection import StatementFailed, UniqueViolation, translated_errors
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
