"""Tenant isolation in PostgreSQL itself (DESIGN.md invariant 3), checked as the API server's own role.

The catalog is read rather than a list of tables written here, so a new table holding tenant data without
forced row-level security fails these tests. Data is seeded as the owner (a superuser, which RLS does not
restrict); every isolation check then runs as vauchflow_app.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import asyncpg
import pytest

from support.services import MigratedDatabase
from vauchflow_core.db.migrate import APP_ROLE
from vauchflow_core.db.queries import QUERIES
from vauchflow_core.plans import LimitOverrides
from vauchflow_server.db.database import Database

# Tables with no tenant data at all. Anything else in schema public must be isolated by tenant.
# The status page's tables hold platform data (probe results, incidents), no tenant's (migration 0008).
NON_TENANT_TABLES = {
    "schema_migrations",
    "outbox_relay_position",
    "status_checks",
    "status_incidents",
    "status_incident_updates",
    # Migration 0011: the status outbox, its subscribers and their notifications, the daily uptime rollup.
    "status_events",
    "status_subscriptions",
    "status_notifications",
    "status_uptime_days",
}
RLS_VIOLATION = "42501"

_TENANT_TABLES_SQL = """
SELECT c.relname
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
  AND (c.relname = 'tenants'
       OR EXISTS (SELECT FROM pg_attribute a
                  WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND a.attnum > 0 AND NOT a.attisdropped))
ORDER BY c.relname
"""


@dataclass(frozen=True)
class SeededTenant:
    id: uuid.UUID
    voucher_id: uuid.UUID
    voucher_codes: frozenset[str]
    voucher_ids: frozenset[uuid.UUID]
    api_key_hash: bytes
    api_key_id: uuid.UUID


# One INSERT per tenant table, for a given tenant: used to seed (as owner) and to attempt writes (as the app).
# Each returns (sql, args) with fresh unique values, so the only thing that can refuse it is the policy.
Insert = Callable[[uuid.UUID, uuid.UUID], tuple[str, tuple]]


def _rand() -> str:
    return secrets.token_hex(6).upper()


INSERTS: dict[str, Insert] = {
    "tenants": lambda tenant_id, _voucher: (
        "INSERT INTO tenants (id, name, plan) VALUES ($1, $2, 'FREE')",
        (tenant_id, f"tenant {_rand()}"),
    ),
    "api_keys": lambda tenant_id, _voucher: (
        "INSERT INTO api_keys (tenant_id, id, name, permissions, secret_hash, secret_prefix)"
        " VALUES ($1, $2, 'key', ARRAY['vouchers:read'], $3, 'vf_sk_xxxxxx')",
        (tenant_id, uuid.uuid4(), secrets.token_bytes(32)),
    ),
    "vouchers": lambda tenant_id, _voucher: (
        "INSERT INTO vouchers (tenant_id, id, code, percent_off, status) VALUES ($1, $2, $3, 10, 'ACTIVE')",
        (tenant_id, uuid.uuid4(), f"V-{_rand()}"),
    ),
    "customer_redemption_counts": lambda tenant_id, voucher_id: (
        "INSERT INTO customer_redemption_counts (tenant_id, voucher_id, customer_id, redemption_count)"
        " VALUES ($1, $2, $3, 1)",
        (tenant_id, voucher_id, f"customer-{_rand()}"),
    ),
    "redemptions": lambda tenant_id, voucher_id: (
        "INSERT INTO redemptions (tenant_id, id, voucher_id, voucher_code, order_amount, discount_amount, status)"
        " VALUES ($1, $2, $3, 'SEEDED', 1000, 100, 'SUCCEEDED')",
        (tenant_id, uuid.uuid4(), voucher_id),
    ),
    "idempotency_keys": lambda tenant_id, _voucher: (
        "INSERT INTO idempotency_keys (tenant_id, operation, key, request_hash, response)"
        " VALUES ($1, 'RedeemVoucher', $2, $3, $4)",
        (tenant_id, f"request-{_rand()}", secrets.token_bytes(32), b"response"),
    ),
    "outbox_events": lambda tenant_id, _voucher: (
        "INSERT INTO outbox_events (tenant_id, event_id, type, payload) VALUES ($1, $2, 'voucher.created', $3)",
        (tenant_id, uuid.uuid4(), json.dumps({"seeded": True})),
    ),
    "webhook_endpoints": lambda tenant_id, _voucher: (
        "INSERT INTO webhook_endpoints (tenant_id, id, url, secret_ciphertext, secret_nonce, secret_key_version)"
        " VALUES ($1, $2, $3, $4, $5, 1)",
        (tenant_id, uuid.uuid4(), f"https://hooks.example/{_rand()}", secrets.token_bytes(48), secrets.token_bytes(12)),
    ),
    # An endpoint and event pair of the tenant's without a delivery yet (the seed leaves one free). Seen from
    # another tenant the lookups find nothing, and the policy refuses the row before any NOT NULL check.
    "webhook_deliveries": lambda tenant_id, _voucher: (
        "WITH pair AS (SELECT ep.id AS endpoint_id, ev.event_id FROM webhook_endpoints ep, outbox_events ev"
        "              WHERE ep.tenant_id = $1 AND ev.tenant_id = $1 AND NOT EXISTS ("
        "                  SELECT FROM webhook_deliveries d"
        "                  WHERE d.tenant_id = $1 AND d.endpoint_id = ep.id AND d.event_id = ev.event_id)"
        "              LIMIT 1)"
        " INSERT INTO webhook_deliveries (tenant_id, id, endpoint_id, event_id, event_type, status)"
        " VALUES ($1, $2, (SELECT endpoint_id FROM pair), (SELECT event_id FROM pair), 'voucher.created', 'PENDING')",
        (tenant_id, uuid.uuid4()),
    ),
    "webhook_delivery_attempts": lambda tenant_id, _voucher: (
        "INSERT INTO webhook_delivery_attempts (tenant_id, delivery_id, attempt_number, http_status, latency_ms)"
        " VALUES ($1, (SELECT id FROM webhook_deliveries WHERE tenant_id = $1 LIMIT 1), 1, 500, 12)",
        (tenant_id,),
    ),
    # Campaigns (migration 0009); the counter and the operation belong to one of the tenant's campaigns.
    "campaigns": lambda tenant_id, _voucher: (
        "INSERT INTO campaigns (tenant_id, id, name, percent_off, status) VALUES ($1, $2, $3, 10, 'ACTIVE')",
        (tenant_id, uuid.uuid4(), f"campaign {_rand()}"),
    ),
    "campaign_customer_redemption_counts": lambda tenant_id, _voucher: (
        "INSERT INTO campaign_customer_redemption_counts (tenant_id, campaign_id, customer_id, redemption_count)"
        " VALUES ($1, (SELECT id FROM campaigns WHERE tenant_id = $1 LIMIT 1), $2, 1)",
        (tenant_id, f"customer-{_rand()}"),
    ),
    "operations": lambda tenant_id, _voucher: (
        "INSERT INTO operations (tenant_id, id, kind, campaign_id, state, request, requested_count)"
        " VALUES ($1, $2, 'GENERATE_CAMPAIGN_CODES', (SELECT id FROM campaigns WHERE tenant_id = $1 LIMIT 1),"
        " 'RUNNING', '{}', 10)",
        (tenant_id, uuid.uuid4()),
    ),
    "api_key_audit_events": lambda tenant_id, _voucher: (
        "INSERT INTO api_key_audit_events (tenant_id, action, key_id, key_name, permissions)"
        " VALUES ($1, 'CREATED', $2, 'seeded', ARRAY['vouchers:read'])",
        (tenant_id, uuid.uuid4()),
    ),
}


async def _tenant_tables(conn: asyncpg.Connection) -> list[str]:
    return [row["relname"] for row in await conn.fetch(_TENANT_TABLES_SQL)]


async def _seed_tenant(owner: asyncpg.Connection, vouchers: int) -> SeededTenant:
    tenant_id = uuid.uuid4()
    await owner.execute(*_unpack(INSERTS["tenants"](tenant_id, tenant_id)))
    codes, ids = [], []
    for _ in range(vouchers):
        sql, args = INSERTS["vouchers"](tenant_id, tenant_id)
        await owner.execute(sql, *args)
        ids.append(args[1])
        codes.append(args[2])
    # Two events and one endpoint: one delivery is seeded, and a second event is left free for the write checks.
    for table in ("customer_redemption_counts", "redemptions", "idempotency_keys", "outbox_events", "outbox_events",
                  "webhook_endpoints", "webhook_deliveries", "webhook_delivery_attempts",
                  "api_key_audit_events", "campaigns", "campaign_customer_redemption_counts",
                  "operations"):  # fmt: skip
        await owner.execute(*_unpack(INSERTS[table](tenant_id, ids[0])))
    sql, args = INSERTS["api_keys"](tenant_id, ids[0])
    await owner.execute(sql, *args)
    return SeededTenant(tenant_id, ids[0], frozenset(codes), frozenset(ids), args[2], args[1])


def _unpack(statement: tuple[str, tuple]) -> tuple:
    sql, args = statement
    return (sql, *args)


@pytest.fixture
async def seeded(migrated_db: MigratedDatabase) -> AsyncIterator[tuple[SeededTenant, SeededTenant]]:
    owner = await asyncpg.connect(migrated_db.owner_dsn)
    try:
        # Every tenant table must be known to INSERTS, so no table escapes the write checks below.
        assert set(await _tenant_tables(owner)) == set(INSERTS), "add the new tenant table to INSERTS"
        yield await _seed_tenant(owner, vouchers=3), await _seed_tenant(owner, vouchers=2)
    finally:
        await owner.close()


@pytest.fixture
async def app_conn(migrated_db: MigratedDatabase) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(migrated_db.app_dsn)
    try:
        yield conn
    finally:
        await conn.close()


async def _as_tenant(conn: asyncpg.Connection, tenant_id: uuid.UUID | str) -> None:
    await conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(tenant_id))


def _tenant_column(table: str) -> str:
    return "id" if table == "tenants" else "tenant_id"


# --- The catalog -----------------------------------------------------------------------------------------------


async def test_every_tenant_table_has_forced_rls_and_read_and_write_policies(migrated_db: MigratedDatabase) -> None:
    conn = await asyncpg.connect(migrated_db.owner_dsn)
    try:
        tables = await _tenant_tables(conn)
        # Guards the query itself: it must find the tables we know of.
        assert {"tenants", "api_keys", "vouchers", "redemptions", "outbox_events"} <= set(tables)
        flags = {
            row["relname"]: (row["relrowsecurity"], row["relforcerowsecurity"])
            for row in await conn.fetch(
                "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class"
                " WHERE relnamespace = 'public'::regnamespace AND relname = ANY($1)",
                tables,
            )
        }
        policies = await conn.fetch(
            "SELECT tablename, policyname, permissive, cmd, qual, with_check FROM pg_policies"
            " WHERE schemaname = 'public'"
        )
    finally:
        await conn.close()
    for table in tables:
        assert flags[table] == (True, True), f"{table}: ENABLE and FORCE ROW LEVEL SECURITY"
        own = [p for p in policies if p["tablename"] == table]
        assert own, f"{table} has no policy"
        for policy in own:
            name = f"{table}.{policy['policyname']}"
            assert policy["cmd"] == "ALL", f"{name} must cover reads and writes"
            assert policy["qual"] is not None, f"{name} has no USING"
            assert policy["with_check"] is not None, f"{name} has no WITH CHECK"
            # A permissive policy is OR-ed with the others: each one must itself be keyed on the tenant.
            for expression in (policy["qual"], policy["with_check"]):
                assert "current_setting('app.tenant_id'" in expression, f"{name}: {expression}"


async def test_every_table_in_public_is_a_tenant_table_or_explicitly_global(migrated_db: MigratedDatabase) -> None:
    conn = await asyncpg.connect(migrated_db.owner_dsn)
    try:
        tenant_tables = set(await _tenant_tables(conn))
        all_tables = {
            row["relname"]
            for row in await conn.fetch(
                "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p')"
            )
        }
    finally:
        await conn.close()
    assert all_tables - tenant_tables == NON_TENANT_TABLES


async def test_unique_keys_of_tenant_tables_include_the_tenant(migrated_db: MigratedDatabase) -> None:
    """A unique key across tenants would let one tenant probe for another's values through conflicts."""
    # Random 256-bit hashes: a collision is not an oracle anyone can aim.
    cross_tenant_by_design = {"api_keys (secret_hash)"}
    conn = await asyncpg.connect(migrated_db.owner_dsn)
    try:
        tables = [t for t in await _tenant_tables(conn) if t != "tenants"]
        keys = await conn.fetch(
            """SELECT c.conrelid::regclass::text AS tbl, c.contype::text AS contype,
                      (SELECT array_agg(a.attname::text ORDER BY k.ord)
                       FROM unnest(c.conkey) WITH ORDINALITY k(num, ord)
                       JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.num) AS columns
               FROM pg_constraint c
               WHERE c.contype IN ('p', 'u') AND c.conrelid::regclass::text = ANY($1)""",
            tables,
        )
    finally:
        await conn.close()
    assert {row["tbl"] for row in keys if row["contype"] == "p"} == set(tables), "every tenant table has a key"
    offending = [f"{row['tbl']} ({', '.join(row['columns'])})" for row in keys if "tenant_id" not in row["columns"]]
    assert set(offending) == cross_tenant_by_design
    # Primary keys lead with tenant_id, so the tables shard by tenant.
    assert all(row["columns"][0] == "tenant_id" for row in keys if row["contype"] == "p")


async def test_the_app_role_owns_nothing_and_cannot_bypass_rls(migrated_db: MigratedDatabase) -> None:
    conn = await asyncpg.connect(migrated_db.owner_dsn)
    try:
        role = await conn.fetchrow(
            "SELECT oid, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb, rolcanlogin FROM pg_roles"
            " WHERE rolname = $1",
            APP_ROLE,
        )
        assert role is not None
        assert (role["rolsuper"], role["rolbypassrls"], role["rolcreaterole"], role["rolcreatedb"]) == (
            False, False, False, False,
        )  # fmt: skip
        assert role["rolcanlogin"]
        owned = await conn.fetch(
            """SELECT 'relation ' || relname AS what FROM pg_class WHERE relowner = $1
               UNION ALL SELECT 'function ' || proname FROM pg_proc WHERE proowner = $1
               UNION ALL SELECT 'schema ' || nspname FROM pg_namespace WHERE nspowner = $1
               UNION ALL SELECT 'type ' || typname FROM pg_type WHERE typowner = $1""",
            role["oid"],
        )
        assert [row["what"] for row in owned] == []
        # Nor may it become a role that owns tables or bypasses RLS.
        borrowed = await conn.fetch(
            """SELECT r.rolname FROM pg_roles r
               WHERE r.rolname <> $1 AND pg_has_role($1, r.oid, 'MEMBER')
                 AND (r.rolsuper OR r.rolbypassrls
                      OR EXISTS (SELECT FROM pg_class c WHERE c.relowner = r.oid
                                 AND c.relnamespace = 'public'::regnamespace))""",
            APP_ROLE,
        )
        assert [row["rolname"] for row in borrowed] == []
    finally:
        await conn.close()


async def test_connecting_as_the_app_role_works(migrated_db: MigratedDatabase, app_conn: asyncpg.Connection) -> None:
    assert await app_conn.fetchval("SELECT current_user") == APP_ROLE
    assert await app_conn.fetchval("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user") is (
        False
    )
    db = await Database.connect(migrated_db.app_dsn, min_size=1, max_size=1)
    try:
        assert await db.ping()
        assert await db.role_can_bypass_rls() is False
    finally:
        await db.close()


# --- Reads and writes as the app role -------------------------------------------------------------------------


async def test_with_tenant_a_set_b_rows_cannot_be_read(seeded, app_conn: asyncpg.Connection) -> None:
    a, b = seeded
    async with app_conn.transaction():
        await _as_tenant(app_conn, a.id)
        for table in INSERTS:
            column = _tenant_column(table)
            seen = {row[0] for row in await app_conn.fetch(f"SELECT {column} FROM {table}")}
            assert seen == {a.id}, f"{table}: tenant A sees {seen}"
            assert await app_conn.fetchval(f"SELECT count(*) FROM {table} WHERE {column} = $1", b.id) == 0
        assert await app_conn.fetchval("SELECT count(*) FROM vouchers WHERE code = ANY($1)", list(b.voucher_codes)) == 0


async def test_with_tenant_a_set_b_rows_cannot_be_updated(seeded, app_conn: asyncpg.Connection) -> None:
    a, b = seeded
    for table in INSERTS:
        column = _tenant_column(table)
        async with app_conn.transaction():
            await _as_tenant(app_conn, a.id)
            can_update = await app_conn.fetchval("SELECT has_table_privilege(current_user, $1, 'UPDATE')", table)
            statement = f"UPDATE {table} SET {column} = {column} WHERE {column} = $1"
            if not can_update:
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await app_conn.execute(statement, b.id)
                continue
            assert await app_conn.execute(statement, b.id) == "UPDATE 0", table
            # The same statement does reach the tenant's own rows, so 0 above is the policy's doing.
            assert await app_conn.execute(statement, a.id) != "UPDATE 0", table
    # Nor can A move its own rows over to B: WITH CHECK refuses the new row.
    for table in ("vouchers", "redemptions", "api_keys"):
        async with app_conn.transaction():
            await _as_tenant(app_conn, a.id)
            with pytest.raises(asyncpg.PostgresError) as raised:
                await app_conn.execute(f"UPDATE {table} SET tenant_id = $1 WHERE tenant_id = $2", b.id, a.id)
            assert raised.value.sqlstate == RLS_VIOLATION, table


async def test_with_tenant_a_set_b_rows_cannot_be_deleted(seeded, app_conn: asyncpg.Connection) -> None:
    a, b = seeded
    before = await _counts_per_tenant(seeded, app_conn)
    for table in INSERTS:
        column = _tenant_column(table)
        transaction = app_conn.transaction()
        await transaction.start()
        try:
            await _as_tenant(app_conn, a.id)
            try:
                result = await app_conn.execute(f"DELETE FROM {table} WHERE {column} = $1", b.id)
            except asyncpg.InsufficientPrivilegeError:
                continue
            assert result == "DELETE 0", table
            # The same statement does reach the tenant's own rows (rolled back below).
            assert await app_conn.execute(f"DELETE FROM {table} WHERE {column} = $1", a.id) != "DELETE 0", table
        finally:
            await transaction.rollback()
    after = await _counts_per_tenant(seeded, app_conn)
    assert after == before
    assert all(count > 0 for count in after.values()), after


async def _counts_per_tenant(seeded, app_conn: asyncpg.Connection) -> dict[tuple[str, str], int]:
    counts = {}
    for tenant, label in zip(seeded, "AB", strict=False):
        async with app_conn.transaction():
            await _as_tenant(app_conn, tenant.id)
            for table in INSERTS:
                counts[(table, label)] = await app_conn.fetchval(f"SELECT count(*) FROM {table}")
    return counts


async def test_with_tenant_a_set_rows_for_b_cannot_be_inserted(seeded, app_conn: asyncpg.Connection) -> None:
    a, b = seeded
    for table, insert in INSERTS.items():
        if not await app_conn.fetchval("SELECT has_table_privilege(current_user, $1, 'INSERT')", table):
            continue
        async with app_conn.transaction():
            await _as_tenant(app_conn, a.id)
            with pytest.raises(asyncpg.PostgresError) as raised:
                await app_conn.execute(*_unpack(insert(b.id, b.voucher_id)))
            assert raised.value.sqlstate == RLS_VIOLATION, f"{table}: {raised.value!r}"
            assert "row-level security" in str(raised.value), table
    # The same statements for the tenant's own id go through, so the refusals above are the policy's.
    for table, insert in INSERTS.items():
        if not await app_conn.fetchval("SELECT has_table_privilege(current_user, $1, 'INSERT')", table):
            continue  # written only by the delivery service's role
        own_id = uuid.uuid4() if table == "tenants" else a.id
        async with app_conn.transaction():
            await _as_tenant(app_conn, own_id)
            await app_conn.execute(*_unpack(insert(own_id, a.voucher_id)))
            assert await app_conn.fetchval(f"SELECT count(*) FROM {table}") >= 1


async def test_with_no_tenant_set_every_tenant_table_is_empty(seeded, app_conn: asyncpg.Connection) -> None:
    # Autocommit, inside a transaction, and with the setting present but empty.
    for table in INSERTS:
        assert await app_conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table
    async with app_conn.transaction():
        for table in INSERTS:
            assert await app_conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table
    async with app_conn.transaction():
        await _as_tenant(app_conn, "")
        for table in INSERTS:
            assert await app_conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table
    # And writes without a tenant are refused too.
    async with app_conn.transaction():
        with pytest.raises(asyncpg.PostgresError) as raised:
            await app_conn.execute(*_unpack(INSERTS["vouchers"](seeded[0].id, seeded[0].voucher_id)))
        assert raised.value.sqlstate == RLS_VIOLATION


async def test_the_tenant_setting_dies_with_its_transaction(seeded, app_conn: asyncpg.Connection) -> None:
    a, _ = seeded
    async with app_conn.transaction():
        await _as_tenant(app_conn, a.id)
        assert await app_conn.fetchval("SELECT count(*) FROM vouchers") == len(a.voucher_ids)
    # Same connection, next transaction, no set_config: nothing is visible.
    assert await app_conn.fetchval("SELECT nullif(current_setting('app.tenant_id', true), '')") is None
    async with app_conn.transaction():
        assert await app_conn.fetchval("SELECT count(*) FROM vouchers") == 0
    # A rolled-back transaction leaves nothing behind either.
    with pytest.raises(ZeroDivisionError):
        async with app_conn.transaction():
            await _as_tenant(app_conn, a.id)
            assert await app_conn.fetchval("SELECT count(*) FROM vouchers") == len(a.voucher_ids)
            raise ZeroDivisionError  # an error inside the transaction
    assert await app_conn.fetchval("SELECT count(*) FROM vouchers") == 0


async def test_the_servers_own_settings_statements_are_transaction_local(seeded, app_conn: asyncpg.Connection) -> None:
    """The pool resets connections on release, which would hide a session-level SET; check the statements."""
    a, _ = seeded
    async with app_conn.transaction():
        await app_conn.execute(QUERIES["set_tenant"], str(a.id))
        assert await app_conn.fetchval("SELECT count(*) FROM vouchers") == len(a.voucher_ids)
    assert await app_conn.fetchval("SELECT count(*) FROM vouchers") == 0
    async with app_conn.transaction():
        await app_conn.execute(QUERIES["set_operator"])
        assert await app_conn.fetchval("SELECT count(*) FROM tenants") == 2
    assert await app_conn.fetchval("SELECT count(*) FROM tenants") == 0
    assert await app_conn.fetchval("SELECT nullif(current_setting('app.operator', true), '')") is None


async def test_a_pooled_connection_carries_no_tenant_into_its_next_use(seeded, migrated_db: MigratedDatabase) -> None:
    """The pool skips asyncpg's reset query, so nothing but transaction-local settings may exist: after each kind of
    server transaction (committed, failed, operator), the same single connection sees no tenant and no rows."""
    a, _ = seeded
    db = await Database.connect(migrated_db.app_dsn, min_size=1, max_size=1)
    try:

        async def leftover_visibility() -> tuple[object, object, int]:
            async with db._pool.acquire() as conn:  # the pool's only connection: the one just used
                return (
                    await conn.fetchval("SELECT nullif(current_setting('app.tenant_id', true), '')"),
                    await conn.fetchval("SELECT nullif(current_setting('app.operator', true), '')"),
                    await conn.fetchval("SELECT count(*) FROM vouchers"),
                )

        async with db.tenant_transaction(a.id) as tx:
            assert len(await tx.list_vouchers(None, 100)) == len(a.voucher_ids)
        assert await leftover_visibility() == (None, None, 0)
        with pytest.raises(ZeroDivisionError):
            async with db.tenant_transaction(a.id) as tx:
                await tx.list_vouchers(None, 100)
                raise ZeroDivisionError  # an error inside the transaction
        assert await leftover_visibility() == (None, None, 0)
        async with db.operator_transaction() as tx:
            assert len(await tx.list_tenants(None, 100)) == 2
        assert await leftover_visibility() == (None, None, 0)
    finally:
        await db.close()


# --- The one path across tenants: authenticate_api_key() ----------------------------------------------------------


async def test_authenticate_api_key_returns_only_the_matching_key(
    seeded, migrated_db: MigratedDatabase, app_conn: asyncpg.Connection
) -> None:
    a, b = seeded
    for tenant in (a, b):
        rows = await app_conn.fetch("SELECT * FROM authenticate_api_key($1)", tenant.api_key_hash)
        assert [(r["key_id"], r["tenant_id"], r["revoked"]) for r in rows] == [(tenant.api_key_id, tenant.id, False)]
        # The key, and its own tenant's plan and limit overrides (for the rate limiter): nothing else.
        assert set(rows[0].keys()) == {
            "key_id", "tenant_id", "permissions", "revoked",
            "plan", "requests_per_second", "burst", "max_vouchers", "max_webhook_endpoints",
        }  # fmt: skip
    for unknown in (hashlib.sha256(b"nobody").digest(), b"", None):
        assert await app_conn.fetch("SELECT * FROM authenticate_api_key($1)", unknown) == []
    # With tenant A set, the function still answers for B's key (it runs before any tenant is known)...
    async with app_conn.transaction():
        await _as_tenant(app_conn, a.id)
        assert await app_conn.fetchval("SELECT tenant_id FROM authenticate_api_key($1)", b.api_key_hash) == b.id
        # ...but the table itself stays isolated.
        assert await app_conn.fetchval("SELECT count(*) FROM api_keys WHERE tenant_id = $1", b.id) == 0
        assert await app_conn.fetchval("SELECT count(*) FROM api_keys WHERE secret_hash = $1", b.api_key_hash) == 0
    assert await app_conn.fetchval("SELECT count(*) FROM api_keys") == 0
    db = await Database.connect(migrated_db.app_dsn, min_size=1, max_size=1)
    try:
        identity = await db.authenticate_api_key(a.api_key_hash)
        assert identity is not None and (identity.key_id, identity.tenant_id) == (a.api_key_id, a.id)
        assert identity.permissions == frozenset({"vouchers:read"}) and not identity.revoked
        assert (identity.plan, identity.limits) == ("FREE", LimitOverrides())
        assert await db.authenticate_api_key(hashlib.sha256(b"nobody").digest()) is None
    finally:
        await db.close()


async def test_the_security_definers_are_known_pinned_and_not_public(migrated_db: MigratedDatabase) -> None:
    """authenticate_api_key (before the tenant is known) and vouchers_with_metadata (the metadata filter's index
    lookup, confined to the transaction's tenant: tests/integration/test_list_filters.py) and nothing else."""
    conn = await asyncpg.connect(migrated_db.owner_dsn)
    try:
        definers = await conn.fetch(
            "SELECT p.oid::regprocedure::text AS signature, p.proconfig FROM pg_proc p"
            " WHERE p.pronamespace = 'public'::regnamespace AND p.prosecdef ORDER BY 1"
        )
        assert [row["signature"] for row in definers] == [
            "authenticate_api_key(bytea)",
            "vouchers_with_metadata(text,text)",
        ]
        for definer in definers:
            # A pinned search_path, so a caller's objects can't hijack the owner's rights.
            assert any(setting.startswith("search_path=") for setting in definer["proconfig"] or [])
            grantees = await conn.fetch(
                "SELECT coalesce(r.rolname, 'PUBLIC') AS grantee FROM pg_proc p, aclexplode(p.proacl) acl"
                " LEFT JOIN pg_roles r ON r.oid = acl.grantee"
                " WHERE p.oid = $1::regprocedure AND acl.privilege_type = 'EXECUTE'",
                definer["signature"],
            )
            assert "PUBLIC" not in {row["grantee"] for row in grantees}
            assert APP_ROLE in {row["grantee"] for row in grantees}
    finally:
        await conn.close()


# --- A pooled server under load -------------------------------------------------------------------------------


async def test_ten_thousand_alternating_transactions_on_two_connections_never_cross_tenants(
    seeded, migrated_db: MigratedDatabase
) -> None:
    a, b = seeded
    expected = {a.id: a.voucher_ids, b.id: b.voucher_ids}
    db = await Database.connect(migrated_db.app_dsn, min_size=2, max_size=2)

    async def list_as(tenant_id: uuid.UUID) -> tuple[uuid.UUID, frozenset[uuid.UUID]]:
        async with db.tenant_transaction(tenant_id) as tx:
            vouchers = await tx.list_vouchers(None, 100)
        return tenant_id, frozenset(v.id for v in vouchers)

    try:
        tenants = [a.id, b.id]
        total, batch = 10_000, 500
        wrong = []
        for start in range(0, total, batch):
            results = await asyncio.gather(*(list_as(tenants[i % 2]) for i in range(start, start + batch)))
            # Exactly the tenant's own vouchers: a stale setting from the other tenant would show as missing rows.
            wrong.extend((tenant_id, seen) for tenant_id, seen in results if seen != expected[tenant_id])
        assert wrong == []
    finally:
        await db.close()


async def test_alternating_raw_queries_on_a_two_connection_pool_see_only_the_set_tenant(
    seeded, migrated_db: MigratedDatabase
) -> None:
    """No tenant filter in the SQL at all: only the per-transaction setting and RLS decide what is seen."""
    a, b = seeded
    expected = {a.id: a.voucher_ids, b.id: b.voucher_ids}
    pool = await asyncpg.create_pool(migrated_db.app_dsn, min_size=2, max_size=2)

    async def unfiltered(index: int) -> tuple[uuid.UUID | None, frozenset[uuid.UUID]]:
        async with pool.acquire() as conn:
            if index % 3 == 2:
                # Every third transaction sets no tenant and must see nothing.
                async with conn.transaction():
                    return None, frozenset(r["id"] for r in await conn.fetch("SELECT id FROM vouchers"))
            tenant_id = (a.id, b.id)[index % 3]
            async with conn.transaction():
                await _as_tenant(conn, tenant_id)
                return tenant_id, frozenset(r["id"] for r in await conn.fetch("SELECT id FROM vouchers"))

    try:
        results = []
        for start in range(0, 3_000, 500):
            results += await asyncio.gather(*(unfiltered(i) for i in range(start, start + 500)))
    finally:
        await pool.close()
    wrong = [(t, seen) for t, seen in results if seen != expected.get(t, frozenset())]
    assert wrong == []
