"""Shared fixtures: real PostgreSQL and Redis as child processes, a migrated database per test, the API server,
and the Envoy gateway in front of it.

Every process a fixture starts is stopped in its teardown, and each also dies with the pytest process (see
vauchflow_devstack.child_process), so an interrupted session leaves nothing running.
"""

from __future__ import annotations

import secrets
import signal
import urllib.request
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from support.delivery_service import set_delivery_password
from support.gateway import Gateway, start_gateway
from support.polling import wait_for
from support.ports import free_port
from support.services import TEMPLATE_DATABASE, ApiServer, MigratedDatabase, MigratedPostgres, start_api_server
from support.web_service import WebService, start_web_service
from vauchflow_core.db.migrate import migrate
from vauchflow_core.secret_box import generate_key_ring_text
from vauchflow_devstack import EmbeddedPostgres, EmbeddedRedis, stop_child

__all__ = ["free_port"]


@pytest.fixture(scope="session")
async def postgres(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[MigratedPostgres]:
    cluster = EmbeddedPostgres(tmp_path_factory.mktemp("postgres"), free_port(), durable=False)
    cluster.start()
    try:
        app_password = secrets.token_urlsafe(24)
        cluster.create_database(TEMPLATE_DATABASE)
        await migrate(cluster.owner_dsn(TEMPLATE_DATABASE), app_password)
        cluster.psql(f"ALTER DATABASE {TEMPLATE_DATABASE} IS_TEMPLATE true")
        yield MigratedPostgres(cluster, app_password)
    finally:
        cluster.stop()


@pytest.fixture
def migrated_db(postgres: MigratedPostgres) -> Iterator[MigratedDatabase]:
    database = postgres.create_database()
    try:
        yield database
    finally:
        postgres.drop_database(database.name)


@pytest.fixture
async def owner(migrated_db: MigratedDatabase) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the test's database as its owner (bypasses row-level security: for setup and checks)."""
    conn = await asyncpg.connect(migrated_db.owner_dsn)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def delivery_password(postgres: MigratedPostgres) -> str:
    """The delivery role's password (a cluster-wide role: set once per session, shared by every suite using it)."""
    password = secrets.token_urlsafe(24)
    set_delivery_password(postgres.owner_dsn("postgres"), password)
    return password


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def api_server(
    postgres: MigratedPostgres, redis_server: EmbeddedRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    database = postgres.create_database("api_session")
    try:
        server = start_api_server(
            database=database,
            redis_url=redis_server.url,
            admin_token="vf_op_" + secrets.token_urlsafe(24),
            port=free_port(),
            log_path=tmp_path_factory.mktemp("api_server") / "server.log",
            webhook_keys=generate_key_ring_text(),
            # Tests that count the RPCs a surface makes (e.g. one per MCP tool call) read its metrics.
            extra_env={"VAUCHFLOW_METRICS_PORT": str(free_port())},
        )
        try:
            yield server
        finally:
            returncode = stop_child(server.process, name="api-server", sig=signal.SIGTERM, timeout=30)
            assert returncode == 0, f"API server exited {returncode} on SIGTERM; see {server.log_path}"
    finally:
        postgres.drop_database(database.name)


@pytest.fixture(scope="session")
def gateway(api_server: ApiServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """The real Envoy (public REST + gRPC port, admin port) in front of the session API server."""
    started = start_gateway(tmp_path_factory.mktemp("gateway"), [api_server.target])
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="session")
def web_service(api_server: ApiServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebService]:
    """The web service (MCP server, dashboard, status page), a client of the session API server."""
    started = start_web_service(
        api_target=api_server.target, log_path=tmp_path_factory.mktemp("web_service") / "web.log"
    )
    try:
        yield started
    finally:
        returncode = started.stop(signal.SIGTERM)
        assert returncode == 0, f"web service exited {returncode} on SIGTERM; see {started.log_path}"


@pytest.fixture(scope="session")
def web_gateway(
    api_server: ApiServer, web_service: WebService, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    """Envoy in front of the session API server and the web service: the public port as merchants and agents see it."""
    started = start_gateway(
        tmp_path_factory.mktemp("web_gateway"), [api_server.target], web_address=web_service.address
    )
    try:
        wait_for(lambda: web_gateway_serves(started), what="the web service through Envoy", timeout=30)
        yield started
    finally:
        started.stop()


def web_gateway_serves(gateway: Gateway) -> bool:
    try:
        with urllib.request.urlopen(f"{gateway.public_url}/healthz", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False
