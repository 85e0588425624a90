"""Migrations on a fresh, empty database: applied exactly once even when two migrators start together."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import pytest

from support.services import MigratedDatabase, MigratedPostgres
from vauchflow_core.db.migrate import APP_ROLE, MigrationError, load_migrations, migrate

EXPECTED = [(m.version, m.name) for m in load_migrations()]


def _with_user(dsn: str, user: str, password: str) -> str:
    parts = urlsplit(dsn)
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{parts.hostname}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.fixture
async def empty_db(postgres: MigratedPostgres) -> AsyncIterator[str]:
    """The owner's DSN of a brand-new database made from template0: no tables, no schema_migrations."""
    name = f"empty_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres.owner_dsn("postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        try:
            yield postgres.owner_dsn(name)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def _applied(dsn: str) -> list[tuple[int, str]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT version, name FROM schema_migrations ORDER BY version")
        return [(r["version"], r["name"]) for r in rows]
    finally:
        await conn.close()


async def _public_tables(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'"
        )
        return {r["relname"] for r in rows}
    finally:
        await conn.close()


async def test_the_fresh_database_really_is_empty(empty_db: str) -> None:
    assert await _public_tables(empty_db) == set()


async def test_two_concurrent_migrations_apply_each_file_exactly_once(empty_db: str) -> None:
    assert EXPECTED and EXPECTED[0][0] == 1
    first, second = await asyncio.gather(migrate(empty_db), migrate(empty_db))
    # One migrator did all the work; the other found nothing left. Never both, never a half each.
    assert sorted([first, second], key=len) == [[], [v for v, _ in EXPECTED]]
    assert await _applied(empty_db) == EXPECTED
    assert {"tenants", "vouchers", "redemptions", "schema_migrations"} <= await _public_tables(empty_db)
    conn = await asyncpg.connect(empty_db)
    try:
        policies = await conn.fetch("SELECT tablename, count(*) AS n FROM pg_policies GROUP BY tablename")
        assert policies and all(row["n"] == 1 for row in policies), policies
    finally:
        await conn.close()


async def test_rerunning_applies_nothing_and_changes_nothing(empty_db: str) -> None:
    assert await migrate(empty_db) == [v for v, _ in EXPECTED]
    conn = await asyncpg.connect(empty_db)
    try:
        before = await conn.fetch("SELECT version, name, applied_at FROM schema_migrations ORDER BY version")
        assert await migrate(empty_db) == []
        assert await migrate(empty_db) == []
        after = await conn.fetch("SELECT version, name, applied_at FROM schema_migrations ORDER BY version")
    finally:
        await conn.close()
    assert after == before


async def _run_migrate_command(dsn: str) -> tuple[int, str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("VAUCHFLOW_")}
    # No VAUCHFLOW_APP_DB_PASSWORD: the app role is shared by the whole test cluster and keeps its password.
    env["DATABASE_URL"] = dsn
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "vauchflow_server.cli.migrate",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode, stdout.decode(), stderr.decode()


async def test_two_migrate_commands_started_together_both_succeed(empty_db: str) -> None:
    results = await asyncio.gather(_run_migrate_command(empty_db), _run_migrate_command(empty_db))
    for returncode, stdout, stderr in results:
        assert returncode == 0, f"stdout:\n{stdout}\nstderr:\n{stderr}"
    outputs = sorted(stdout.strip().splitlines()[-1] for _, stdout, _ in results)
    assert outputs == sorted([f"applied migrations: {[v for v, _ in EXPECTED]}", "applied migrations: none pending"])
    assert await _applied(empty_db) == EXPECTED


async def test_the_migrate_command_needs_database_url() -> None:
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "vauchflow_server.cli.migrate", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 2
    assert b"DATABASE_URL" in stderr


@pytest.fixture
async def migrator_role(postgres: MigratedPostgres, empty_db: str) -> AsyncIterator[Callable[[str], Awaitable[str]]]:
    """Makes a login role with the given attributes that may create tables in the empty database; its DSN."""
    made: list[str] = []
    admin = await asyncpg.connect(postgres.owner_dsn("postgres"))

    async def make(attributes: str) -> str:
        role = f"migrator_{uuid.uuid4().hex[:8]}"
        password = secrets.token_urlsafe(16)
        await admin.execute(f"CREATE ROLE {role} LOGIN NOSUPERUSER {attributes} PASSWORD '{password}'")
        made.append(role)
        owner = await asyncpg.connect(empty_db)
        try:
            await owner.execute(f"GRANT ALL ON SCHEMA public TO {role}")
        finally:
            await owner.close()
        return _with_user(empty_db, role, password)

    try:
        yield make
    finally:
        # Roles are cluster-wide: leave none behind.
        cleanup = await asyncpg.connect(empty_db)
        try:
            for role in made:
                await cleanup.execute(f"REASSIGN OWNED BY {role} TO current_user")
                await cleanup.execute(f"DROP OWNED BY {role}")
        finally:
            await cleanup.close()
        for role in made:
            await admin.execute(f"DROP ROLE {role}")
        await admin.close()


async def test_a_non_superuser_migrating_role_is_refused(migrator_role, empty_db: str) -> None:
    dsn = await migrator_role("NOBYPASSRLS")
    conn = await asyncpg.connect(dsn)
    try:
        # The role can connect and could create tables: only migrate()'s own check stops it.
        assert await conn.fetchval("SELECT has_schema_privilege('public', 'CREATE')")
    finally:
        await conn.close()
    with pytest.raises(MigrationError, match="superuser or have BYPASSRLS"):
        await migrate(dsn)
    assert await _public_tables(empty_db) == set()


async def test_a_bypassrls_owner_may_migrate_and_its_key_lookup_crosses_tenants(
    postgres: MigratedPostgres, migrator_role, empty_db: str
) -> None:
    """The managed-database case (no superuser): authenticate_api_key() runs with an owner that bypasses RLS,
    which FORCE ROW LEVEL SECURITY would otherwise restrict like anyone else."""
    dsn = await migrator_role("BYPASSRLS")
    assert await migrate(dsn) == [v for v, _ in EXPECTED]
    owner = await asyncpg.connect(dsn)
    keys = {}
    try:
        for _ in range(2):
            tenant_id, secret_hash = uuid.uuid4(), secrets.token_bytes(32)
            await owner.execute("INSERT INTO tenants (id, name, plan) VALUES ($1, 't', 'FREE')", tenant_id)
            await owner.execute(
                "INSERT INTO api_keys (tenant_id, id, name, permissions, secret_hash, secret_prefix)"
                " VALUES ($1, $2, 'k', ARRAY['vouchers:read'], $3, 'vf_sk_abcdef')",
                tenant_id, uuid.uuid4(), secret_hash,
            )  # fmt: skip
            keys[tenant_id] = secret_hash
    finally:
        await owner.close()
    app = await asyncpg.connect(postgres.app_dsn(urlsplit(empty_db).path.lstrip("/")))
    try:
        for tenant_id, secret_hash in keys.items():
            assert await app.fetchval("SELECT tenant_id FROM authenticate_api_key($1)", secret_hash) == tenant_id
        assert await app.fetchval("SELECT count(*) FROM api_keys") == 0
    finally:
        await app.close()


async def test_migrating_leaves_the_app_role_unprivileged(empty_db: str) -> None:
    await migrate(empty_db)
    conn = await asyncpg.connect(empty_db)
    try:
        role = await conn.fetchrow("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1", APP_ROLE)
        owners = await conn.fetch(
            "SELECT DISTINCT pg_get_userbyid(relowner) AS owner FROM pg_class"
            " WHERE relnamespace = 'public'::regnamespace"
        )
    finally:
        await conn.close()
    assert (role["rolsuper"], role["rolbypassrls"]) == (False, False)
    assert APP_ROLE not in {row["owner"] for row in owners}


async def test_no_trigger_sends_a_notify_from_the_transactions_that_write_events(empty_db: str) -> None:
    """A NOTIFY serialises the commits of every transaction that sends one, so redemptions (which write outbox
    events) must not: the delivery relay polls instead. Checked on the schema and on a real insert."""
    await migrate(empty_db)
    conn = await asyncpg.connect(empty_db)
    listener = await asyncpg.connect(empty_db)
    heard: list[str] = []
    try:
        triggers = await conn.fetch(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'outbox_events'::regclass AND NOT tgisinternal"
        )
        for channel in ("vauchflow_outbox", "vauchflow_events_relayed", "vauchflow_deliveries"):
            await listener.add_listener(channel, lambda _c, _p, channel, _payload: heard.append(channel))
        tenant = await conn.fetchval(
            "INSERT INTO tenants (id, name, plan) VALUES (gen_random_uuid(), 't', 'FREE') RETURNING id"
        )
        await conn.execute(
            "INSERT INTO outbox_events (tenant_id, event_id, type, payload)"
            " VALUES ($1, gen_random_uuid(), 'voucher.created', '{}')",
            tenant,
        )
        await listener.execute("SELECT 1")  # a round trip: a notification sent at that commit would be here by now
    finally:
        await listener.close()
        await conn.close()
    assert [t["tgname"] for t in triggers] == []
    assert heard == []


async def test_a_freshly_migrated_database_matches_the_test_template(
    migrated_db: MigratedDatabase, empty_db: str
) -> None:
    """Each test's database (a copy of the template) is what migrate() produces, column for column and policy
    for policy. Compared through a copy: a connection to the template itself would block CREATE DATABASE."""
    await migrate(empty_db)
    fingerprint_sql = """
        SELECT 'column', c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
               || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
        UNION ALL
        SELECT 'constraint', conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
        FROM pg_constraint WHERE connamespace = 'public'::regnamespace
        UNION ALL
        SELECT 'policy', tablename || ' ' || policyname || ' ' || coalesce(qual, '') || ' ' || coalesce(with_check, '')
        FROM pg_policies WHERE schemaname = 'public'
        UNION ALL
        SELECT 'rls', relname || ' ' || relrowsecurity || ' ' || relforcerowsecurity
        FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'
        ORDER BY 1, 2
    """

    async def fingerprint(dsn: str) -> list[tuple[str, str]]:
        conn = await asyncpg.connect(dsn)
        try:
            return [tuple(r) for r in await conn.fetch(fingerprint_sql)]
        finally:
            await conn.close()

    fresh = await fingerprint(empty_db)
    assert fresh
    assert fresh == await fingerprint(migrated_db.owner_dsn)
