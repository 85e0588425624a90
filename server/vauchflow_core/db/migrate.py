"""Versioned SQL migrations, applied in order by the owner role.

Each file in migrations/ named NNNN_name.sql runs once, in its own transaction, and is recorded in
schema_migrations. A session-level advisory lock makes concurrent starts safe: the second process waits, then
finds nothing left to do.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
APP_ROLE = "vauchflow_app"
# The webhook delivery service's role: works across tenants (BYPASSRLS) with only the grants it needs.
DELIVERY_ROLE = "vauchflow_delivery"
# Arbitrary constant shared by every migrating process.
_MIGRATION_LOCK_KEY = 0x7661756368666C6F


class MigrationError(Exception):
    """The database cannot be migrated as asked (wrong role, broken file)."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = re.fullmatch(r"(\d{4})_(\w+)\.sql", path.name)
        if not match:
            raise MigrationError(f"migration file name must look like 0001_name.sql: {path.name}")
        migrations.append(Migration(int(match[1]), match[2], path.read_text()))
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise MigrationError(f"migration versions must be 1..N without gaps, found {versions}")
    return migrations


async def migrate(owner_dsn: str, app_password: str | None = None, delivery_password: str | None = None) -> list[int]:
    """Applies pending migrations as the owner; returns the versions applied. Sets the roles' passwords."""
    conn = await asyncpg.connect(owner_dsn)
    try:
        can_bypass = await conn.fetchval("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user")
        if not can_bypass:
            # authenticate_api_key() runs with the owner's rights and must read api_keys across tenants.
            raise MigrationError("the migrating role must be a superuser or have BYPASSRLS")
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK_KEY)
        try:
            applied = await _apply_pending(conn)
            for role, password in ((APP_ROLE, app_password), (DELIVERY_ROLE, delivery_password)):
                if password is not None:
                    # Literals can't be bind parameters in ALTER ROLE; quote_literal does it safely.
                    literal = await conn.fetchval("SELECT quote_literal($1)", password)
                    await conn.execute(f"ALTER ROLE {role} WITH LOGIN PASSWORD {literal}")
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK_KEY)
    finally:
        await conn.close()
    return applied


async def _apply_pending(conn: asyncpg.Connection) -> list[int]:
    await conn.execute(
        """CREATE TABLE IF NOT EXISTS schema_migrations (
               version integer PRIMARY KEY,
               name text NOT NULL,
               applied_at timestamptz NOT NULL DEFAULT now())"""
    )
    done = {row["version"] for row in await conn.fetch("SELECT version FROM schema_migrations")}
    applied = []
    for migration in load_migrations():
        if migration.version in done:
            continue
        async with conn.transaction():
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", migration.version, migration.name
            )
        log.info("migration applied", extra={"action": "migrate", "version": migration.version})
        applied.append(migration.version)
    return applied
