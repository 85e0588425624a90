"""What the shared fixtures hand to tests: a migrated PostgreSQL cluster, a database per test, the API server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from support.grpc_health import is_serving
from support.polling import wait_for
from vauchflow_core.db.migrate import APP_ROLE
from vauchflow_core.secret_box import generate_key_ring_text
from vauchflow_devstack import EmbeddedPostgres, start_child, stop_child

TEMPLATE_DATABASE = "vauchflow_template"
# Tests deliver webhooks to receivers on loopback, over plain http.
TEST_WEBHOOK_ALLOW_NETWORKS = "127.0.0.0/8,::1/128"


class MigratedPostgres:
    """An embedded cluster whose vauchflow_template database carries every migration."""

    def __init__(self, cluster: EmbeddedPostgres, app_password: str) -> None:
        self._cluster = cluster
        self._app_password = app_password

    @property
    def port(self) -> int:
        return self._cluster.port

    @property
    def bin_dir(self) -> Path:
        return self._cluster.bin_dir

    @property
    def pid(self) -> int | None:
        return self._cluster.pid

    def owner_dsn(self, dbname: str = "postgres") -> str:
        return self._cluster.owner_dsn(dbname)

    def app_dsn(self, dbname: str) -> str:
        """The API server's connection: role vauchflow_app, which owns nothing and cannot bypass RLS."""
        return self._cluster.dsn(dbname, APP_ROLE, self._app_password)

    def stop(self) -> None:
        self._cluster.stop()

    def start(self) -> None:
        self._cluster.start()

    def create_database(self, prefix: str = "test") -> MigratedDatabase:
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        self._cluster.create_database(name, template=TEMPLATE_DATABASE)
        return MigratedDatabase(name=name, owner_dsn=self.owner_dsn(name), app_dsn=self.app_dsn(name))

    def drop_database(self, name: str) -> None:
        self._cluster.drop_database(name)


@dataclass(frozen=True)
class MigratedDatabase:
    name: str
    owner_dsn: str
    app_dsn: str


@dataclass
class ApiServer:
    target: str
    admin_token: str
    owner_dsn: str
    app_dsn: str
    process: subprocess.Popen[bytes]
    log_path: Path
    # The webhook secret key ring the server runs with (VAUCHFLOW_WEBHOOK_KEYS), so tests can open ciphertexts.
    webhook_keys: str = ""
    # Where its Prometheus metrics are served, when VAUCHFLOW_METRICS_PORT was given.
    metrics_port: int | None = None


def start_api_server(
    *,
    database: MigratedDatabase,
    redis_url: str,
    admin_token: str,
    port: int,
    log_path: Path,
    webhook_keys: str | None = None,
    extra_env: Mapping[str, str] | None = None,
    timeout: float = 60,
) -> ApiServer:
    """Starts `python -m vauchflow_server` as the real entry point and waits for grpc.health.v1 SERVING."""
    webhook_keys = webhook_keys or generate_key_ring_text()
    env = {key: value for key, value in os.environ.items() if not key.startswith("VAUCHFLOW_")}
    env.update(
        DATABASE_URL=database.app_dsn,
        REDIS_URL=redis_url,
        VAUCHFLOW_ADMIN_TOKEN=admin_token,
        VAUCHFLOW_GRPC_HOST="127.0.0.1",
        VAUCHFLOW_GRPC_PORT=str(port),
        VAUCHFLOW_WEBHOOK_KEYS=webhook_keys,
        VAUCHFLOW_WEBHOOK_ALLOW_NETWORKS=TEST_WEBHOOK_ALLOW_NETWORKS,
        VAUCHFLOW_WEBHOOK_ALLOW_HTTP="true",
        # Every test calls from 127.0.0.1, and many send bad keys on purpose: the per-address limit of failed
        # authentications gets its own server in tests/integration/test_auth_failures.py.
        VAUCHFLOW_AUTH_FAILURES_PER_MINUTE="1000000",
    )
    env.update(extra_env or {})
    process = start_child([sys.executable, "-m", "vauchflow_server"], name="api-server", env=env, log_path=log_path)
    target = f"127.0.0.1:{port}"
    try:
        wait_for(lambda: is_serving(target), what=f"API server SERVING on {target}", timeout=timeout,
                 process=process, log_path=log_path, interval=0.1)  # fmt: skip
    except BaseException:
        stop_child(process, name="api-server", sig=signal.SIGKILL, timeout=10)
        raise
    metrics_port = int(env.get("VAUCHFLOW_METRICS_PORT") or 0) or None
    return ApiServer(
        target, admin_token, database.owner_dsn, database.app_dsn, process, log_path, webhook_keys, metrics_port
    )
