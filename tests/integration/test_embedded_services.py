"""The shared fixtures themselves: real, migrated, isolated, and restartable."""

from __future__ import annotations

import uuid

import asyncpg
import redis

from support.ports import free_port, port_is_free
from support.services import MigratedDatabase, MigratedPostgres
from vauchflow_devstack import ChildProcessFailed, EmbeddedPostgres, EmbeddedRedis


async def test_migrated_db_is_a_private_copy_of_the_migrated_template(
    postgres: MigratedPostgres, migrated_db: MigratedDatabase
) -> None:
    owner = await asyncpg.connect(migrated_db.owner_dsn)
    try:
        assert await owner.fetchval("SELECT max(version) FROM schema_migrations") >= 1
        await owner.execute("INSERT INTO tenants (id, name, plan) VALUES ($1, 'fixture check', 'FREE')", uuid.uuid4())
    finally:
        await owner.close()

    other = postgres.create_database()
    try:
        connection = await asyncpg.connect(other.owner_dsn)
        try:
            assert await connection.fetchval("SELECT count(*) FROM tenants") == 0
        finally:
            await connection.close()
    finally:
        postgres.drop_database(other.name)


async def test_app_dsn_logs_in_as_the_app_role_which_sees_no_rows_without_a_tenant(
    migrated_db: MigratedDatabase,
) -> None:
    owner = await asyncpg.connect(migrated_db.owner_dsn)
    try:
        await owner.execute("INSERT INTO tenants (id, name, plan) VALUES ($1, 'hidden', 'FREE')", uuid.uuid4())
    finally:
        await owner.close()

    app = await asyncpg.connect(migrated_db.app_dsn)
    try:
        role = await app.fetchrow("SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        assert (role["rolname"], role["rolsuper"], role["rolbypassrls"]) == ("vauchflow_app", False, False)
        assert await app.fetchval("SELECT count(*) FROM tenants") == 0
    finally:
        await app.close()


async def test_embedded_postgres_keeps_its_data_across_a_restart(tmp_path) -> None:
    cluster = EmbeddedPostgres(tmp_path / "pg", free_port(), durable=False)
    cluster.start()
    try:
        cluster.create_database("kept")
        pid = cluster.pid
        cluster.stop()
        assert port_is_free(cluster.port)
        cluster.start()
        assert cluster.pid != pid
        assert cluster.database_exists("kept")
    finally:
        cluster.stop()
    assert port_is_free(cluster.port)


def test_database_names_are_checked_before_they_reach_sql(tmp_path) -> None:
    cluster = EmbeddedPostgres(tmp_path / "pg", free_port())
    for bad in ('x"; DROP DATABASE postgres; --', "Upper", "", "a" * 64):
        try:
            cluster.create_database(bad)
        except ValueError as error:
            assert "database name must match" in str(error)
        else:
            raise AssertionError(f"{bad!r} was accepted")


def test_redis_server_answers_on_its_url(redis_server: EmbeddedRedis) -> None:
    client = redis.Redis.from_url(redis_server.url)
    try:
        assert client.ping() is True
        assert client.config_get("save") == {"save": ""}
    finally:
        client.close()


def test_embedded_redis_stops_and_frees_its_port(tmp_path) -> None:
    server = EmbeddedRedis(tmp_path / "redis", free_port())
    server.start()
    process = server.process
    server.stop()
    assert process is not None and process.returncode == 0
    assert port_is_free(server.port)


def test_embedded_postgres_refuses_a_port_another_server_answers_on(postgres: MigratedPostgres, tmp_path) -> None:
    squatter = EmbeddedPostgres(tmp_path / "pg", postgres.port)
    try:
        squatter.start()
    except ChildProcessFailed as error:
        assert f"127.0.0.1:{postgres.port} is not available" in str(error)
    else:
        squatter.stop()
        raise AssertionError("started on a port that was already taken")
    assert squatter.pid is None
