"""The dev stack: PostgreSQL, Redis, migrations, the API server replicas, the webhook delivery service, Envoy and
(for the embedded PostgreSQL) the backup job, started in order and stopped in reverse.

Runs in the foreground. SIGINT/SIGTERM stop every child and exit 0; a child that dies on its own stops the rest
and exits 1. The data folder holds the embedded databases and the generated secrets (mode 600) and is locked
while a stack runs, so two stacks never share one cluster.
"""

from __future__ import annotations

import asyncio
import base64
import fcntl
import functools
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import traceback
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import quote, urlsplit, urlunsplit

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from vauchflow_core.db.migrate import APP_ROLE, DELIVERY_ROLE, migrate
from vauchflow_core.secret_box import generate_key_ring_text
from vauchflow_devstack.child_process import (
    ChildProcessFailed,
    require_free_port,
    start_child,
    stop_child,
    wait_until,
)
from vauchflow_devstack.config import DevstackConfig
from vauchflow_devstack.envoy import EmbeddedEnvoy
from vauchflow_devstack.envoy_config import GatewaySettings
from vauchflow_devstack.postgres import EmbeddedPostgres
from vauchflow_devstack.postgres_replica import EmbeddedStandby
from vauchflow_devstack.redis import EmbeddedRedis, EmbeddedRedisCluster
from vauchflow_devstack.secret_files import read_or_create_secret, write_secret_file

log = logging.getLogger(__name__)


class DevstackError(RuntimeError):
    """The stack cannot start: the data folder is taken, or a step failed."""


class StartInterrupted(Exception):
    """A stop signal arrived while the stack was starting."""


@dataclass
class _Child:
    name: str
    process: subprocess.Popen[bytes]
    stop: Callable[[], object]


@dataclass
class DevStack:
    config: DevstackConfig
    server_command: tuple[str, ...] = (sys.executable, "-m", "vauchflow_server")
    delivery_command: tuple[str, ...] = (sys.executable, "-m", "vauchflow_delivery")
    web_command: tuple[str, ...] = (sys.executable, "-m", "vauchflow_web")
    backup_command: tuple[str, ...] = (sys.executable, "-m", "vauchflow_backup")
    prober_command: tuple[str, ...] = (sys.executable, "-m", "vauchflow_prober")
    started_at: float = field(default_factory=time.monotonic)
    # Set by a stop signal; start-up checks it between steps instead of finishing first.
    stop_requested: threading.Event = field(default_factory=threading.Event)
    _children: list[_Child] = field(default_factory=list)
    _lock_file: IO[str] | None = None
    # Where PostgreSQL (owner URL without its password) and Redis are, for the summary.
    _database_shown: str = ""
    # Connection URLs (with passwords) once started, for tools that drive the stack (bench/).
    owner_dsn: str = ""
    app_dsn: str = ""
    _redis_shown: str = ""
    _replica_shown: str = ""

    @property
    def operator_token_path(self) -> Path:
        return self.config.data_dir / "operator-token"

    @property
    def app_password_path(self) -> Path:
        return self.config.data_dir / "app-db-password"

    @property
    def delivery_password_path(self) -> Path:
        return self.config.data_dir / "delivery-db-password"

    @property
    def delivery_target(self) -> str:
        return f"127.0.0.1:{self.config.delivery_port}"

    @property
    def grpc_targets(self) -> tuple[str, ...]:
        """Where each API server replica can be reached."""
        host = self.config.grpc_host
        connect_host = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else host
        return tuple(f"{connect_host}:{port}" for port in self.config.api_ports)

    @property
    def grpc_target(self) -> str:
        return self.grpc_targets[0]

    def start(self) -> None:
        """Brings every piece up; on failure stops what it started and raises."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        config = self.config
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock_data_dir()
        self._require_free_ports()
        app_password = read_or_create_secret(self.app_password_path)
        delivery_password = read_or_create_secret(self.delivery_password_path)
        admin_token = config.admin_token or read_or_create_secret(self.operator_token_path, prefix="vf_op_")
        # The key ring that encrypts webhook signing secrets: generated once, kept beside the other secrets.
        webhook_keys_path = config.data_dir / "webhook-keys"
        if not webhook_keys_path.exists():
            write_secret_file(webhook_keys_path, generate_key_ring_text())
        webhook_keys = read_or_create_secret(webhook_keys_path)
        web_session_key_path = config.data_dir / "web-session-key"
        if not web_session_key_path.exists():
            write_secret_file(web_session_key_path, base64.b64encode(secrets.token_bytes(32)).decode())
        web_session_key = read_or_create_secret(web_session_key_path)

        replica_owner_dsn = config.replica_owner_database_url
        if config.owner_database_url is None:
            postgres = EmbeddedPostgres(config.data_dir / "postgres", config.postgres_port)
            postgres.start()
            assert postgres.process is not None
            self._children.append(_Child("postgres", postgres.process, postgres.stop))
            if not postgres.database_exists(config.database_name):
                postgres.create_database(config.database_name)
            owner_dsn = postgres.owner_dsn(config.database_name)
            if config.postgres_replica_port is not None:
                replica_owner_dsn = self._start_replica(postgres, config.postgres_replica_port)
        else:
            owner_dsn = config.owner_database_url
        self._check_stop_requested()

        if config.redis_url is None and config.redis_cluster:
            cluster = EmbeddedRedisCluster(config.data_dir / "redis-cluster", config.redis_cluster_port_base)
            cluster.start(timeout=config.ready_timeout)
            for port, process in cluster.processes.items():
                stop_node = functools.partial(stop_child, process, name=f"redis-{port}", timeout=30)
                self._children.append(_Child(f"redis-{port}", process, stop_node))
            redis_url = cluster.url
        elif config.redis_url is None:
            redis = EmbeddedRedis(config.data_dir / "redis", config.redis_port)
            redis.start()
            assert redis.process is not None
            self._children.append(_Child("redis", redis.process, redis.stop))
            redis_url = redis.url
        else:
            redis_url = config.redis_url
        self._check_stop_requested()

        applied = asyncio.run(migrate(owner_dsn, app_password, delivery_password))
        log.info("database migrated", extra={"action": "migrate", "applied": applied or "none"})
        self._check_stop_requested()

        env = {
            **os.environ,
            "DATABASE_URL": app_dsn(owner_dsn, app_password),
            "REDIS_URL": redis_url,
            "VAUCHFLOW_ADMIN_TOKEN": admin_token,
            "VAUCHFLOW_GRPC_HOST": config.grpc_host,
            "VAUCHFLOW_WEBHOOK_KEYS": webhook_keys,
            # Development delivers to receivers on this machine, over plain http.
            "VAUCHFLOW_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8,::1/128",
            "VAUCHFLOW_WEBHOOK_ALLOW_HTTP": "true",
            # ...but never to the stack's own ports.
            "VAUCHFLOW_WEBHOOK_DENY_PORTS": ",".join(str(port) for _, port in config.listening_ports()),
        }
        if replica_owner_dsn is not None:
            # The API servers' lists read from the replica, as the same app role (its passwords are the primary's).
            env["DATABASE_REPLICA_URL"] = app_dsn(replica_owner_dsn, app_password)
        for index, (port, target) in enumerate(zip(config.api_ports, self.grpc_targets, strict=False)):
            name = f"api-server-{index + 1}" if config.api_replicas > 1 else "api-server"
            replica_env = {**env, "VAUCHFLOW_GRPC_PORT": str(port),
                           "VAUCHFLOW_METRICS_PORT": str(config.api_metrics_ports[index])}  # fmt: skip
            server = start_child(self.server_command, name=name, env=replica_env)
            self._children.append(_Child(name, server, functools.partial(stop_child, server, name=name, timeout=30)))
            wait_until(functools.partial(self._ready_or_stopping, target), process=server,
                       name=name, timeout=config.ready_timeout, interval=0.1)  # fmt: skip
            self._check_stop_requested()

        # The webhook delivery service replicas: relay the outbox (one at a time, by SKIP LOCKED on its position),
        # deliver webhooks (each attempt claimed by one replica, SKIP LOCKED) and serve the event stream (the
        # tenant's stream slots are counted in Redis across replicas).
        for index, port in enumerate(config.delivery_ports):
            name = f"webhooks-{index + 1}" if config.delivery_replicas > 1 else "webhooks"
            delivery = start_child(
                self.delivery_command,
                name=name,
                env={
                    **env,
                    "DATABASE_URL": role_dsn(owner_dsn, DELIVERY_ROLE, delivery_password),
                    "APP_DATABASE_URL": app_dsn(owner_dsn, app_password),
                    "VAUCHFLOW_DELIVERY_GRPC_HOST": "127.0.0.1",
                    "VAUCHFLOW_DELIVERY_GRPC_PORT": str(port),
                    "VAUCHFLOW_DELIVERY_METRICS_PORT": str(config.delivery_metrics_ports[index]),
                },
            )
            stop_delivery = functools.partial(stop_child, delivery, name=name, timeout=30)
            self._children.append(_Child(name, delivery, stop_delivery))
            wait_until(functools.partial(self._ready_or_stopping, f"127.0.0.1:{port}"), process=delivery,
                       name=name, timeout=config.ready_timeout, interval=0.1)  # fmt: skip
            self._check_stop_requested()

        # The web service replicas: clients of the API through Envoy's public port (so they see what merchants
        # see); dashboard sessions in Redis, so any replica serves any session.
        for index, port in enumerate(config.web_ports):
            name = f"web-{index + 1}" if config.web_replicas > 1 else "web"
            web = start_child(
                self.web_command,
                name=name,
                env={
                    **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
                    "VAUCHFLOW_WEB_HOST": "127.0.0.1",
                    "VAUCHFLOW_WEB_PORT": str(port),
                    "VAUCHFLOW_WEB_METRICS_PORT": str(config.web_metrics_ports[index]),
                    "VAUCHFLOW_WEB_API_TARGET": f"127.0.0.1:{config.public_port}",
                    # Dashboard sessions: in the stack's Redis, sealed with a key kept beside the other secrets.
                    "VAUCHFLOW_WEB_REDIS_URL": redis_url,
                    "VAUCHFLOW_WEB_SESSION_KEY": web_session_key,
                    # The MCP server answers the hosts and browser origins it is reached by: Envoy's public port
                    # and its own (DNS-rebinding protection refuses any other).
                    "VAUCHFLOW_WEB_ALLOWED_HOSTS": ",".join(
                        f"{host}:{allowed}"
                        for host in ("127.0.0.1", "localhost")
                        for allowed in (config.public_port, port)
                    ),
                    "VAUCHFLOW_WEB_ALLOWED_ORIGINS": ",".join(
                        f"http://{host}:{config.public_port}" for host in ("127.0.0.1", "localhost")
                    ),
                },
            )
            self._children.append(_Child(name, web, functools.partial(stop_child, web, name=name, timeout=30)))
            wait_until(functools.partial(self._ready_or_stopping_http, f"http://127.0.0.1:{port}/healthz"),
                       process=web, name=name, timeout=config.ready_timeout, interval=0.1)  # fmt: skip
            self._check_stop_requested()

        gateway = EmbeddedEnvoy(
            config.data_dir / "envoy",
            GatewaySettings(
                public_port=config.public_port,
                admin_port=config.envoy_admin_port,
                api_addresses=tuple(("127.0.0.1", port) for port in config.api_ports),
                webhook_addresses=tuple(("127.0.0.1", port) for port in config.delivery_ports),
                web_addresses=tuple(("127.0.0.1", port) for port in config.web_ports),
            ),
        )
        gateway.start(timeout=config.ready_timeout)
        assert gateway.process is not None
        self._children.append(_Child("envoy", gateway.process, gateway.stop))
        self._check_stop_requested()

        if config.owner_database_url is None and config.backups:
            self._start_backup_job(owner_dsn)
        # The prober checks what customers see, so it goes through Envoy and starts after it; it needs no database.
        prober = start_child(
            self.prober_command,
            name="prober",
            env={
                **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
                "VAUCHFLOW_ADMIN_TOKEN": admin_token,
                "VAUCHFLOW_PROBE_PUBLIC_URL": f"http://127.0.0.1:{config.public_port}",
                "VAUCHFLOW_PROBE_GRPC_TARGET": f"127.0.0.1:{config.public_port}",
                "VAUCHFLOW_PROBE_DELIVERY_METRICS_URL": f"http://127.0.0.1:{config.delivery_metrics_port}/metrics",
                "VAUCHFLOW_PROBE_BACKUP_METRICS_URL": config.backup_metrics_url,
                "VAUCHFLOW_PROBER_METRICS_PORT": str(config.prober_metrics_port),
            },
        )
        stop_prober = functools.partial(stop_child, prober, name="prober", timeout=30)
        self._children.append(_Child("prober", prober, stop_prober))
        self._check_stop_requested()
        self._database_shown = without_password(owner_dsn)
        self.owner_dsn, self.app_dsn = owner_dsn, app_dsn(owner_dsn, app_password)
        self._redis_shown = without_password(redis_url)

    def _start_replica(self, postgres: EmbeddedPostgres, port: int) -> str:
        """A streaming hot standby of the embedded PostgreSQL (copied once); returns its owner URL."""
        replica = EmbeddedStandby(postgres, self.config.data_dir / "postgres-replica", port)
        replica.start()
        assert replica.process is not None
        self._children.append(_Child("postgres-replica", replica.process, replica.stop))
        self._replica_shown = without_password(replica.owner_dsn(self.config.database_name))
        return replica.owner_dsn(self.config.database_name)

    def _start_backup_job(self, owner_dsn: str) -> None:
        """The backup job against the embedded PostgreSQL: WAL streaming, a base backup now if the repository has
        none, then daily. It replicates as the owner (a superuser); see docs/operations.md."""
        config = self.config
        backup = start_child(
            self.backup_command,
            name="backup",
            env={
                **os.environ,
                "DATABASE_URL": owner_dsn,
                "VAUCHFLOW_BACKUP_DIR": str(config.backup_dir),
                "VAUCHFLOW_BACKUP_METRICS_HOST": "127.0.0.1",
                "VAUCHFLOW_BACKUP_METRICS_PORT": str(config.backup_metrics_port),
            },
        )
        self._children.append(_Child("backup", backup, lambda: stop_child(backup, name="backup", timeout=30)))
        wait_until(functools.partial(self._metrics_or_stopping, config.backup_metrics_port), process=backup,
                   name="backup", timeout=config.ready_timeout, interval=0.1)  # fmt: skip
        self._check_stop_requested()

    def _metrics_or_stopping(self, port: int) -> bool:
        return self.stop_requested.is_set() or serves_metrics(port)

    def stop(self) -> None:
        """Stops every child in reverse start order and waits for each."""
        while self._children:
            child = self._children.pop()
            try:
                child.stop()
            except Exception:
                log.exception("could not stop child", extra={"action": "child_stop_failed", "child": child.name})
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def _require_free_ports(self) -> None:
        wanted = self.config.listening_ports()
        for variable, port in wanted:
            try:
                require_free_port(port, variable)
            except ChildProcessFailed as error:
                raise DevstackError(f"{error}; stop what listens there or set {variable} to another port") from None

    @property
    def web_health_url(self) -> str:
        return f"http://127.0.0.1:{self.config.web_port}/healthz"

    def _ready_or_stopping_http(self, url: str) -> bool:
        return self.stop_requested.is_set() or http_ok(url)

    def _ready_or_stopping(self, target: str) -> bool:
        return self.stop_requested.is_set() or grpc_serving(target)

    def _check_stop_requested(self) -> None:
        if self.stop_requested.is_set():
            raise StartInterrupted

    def child_pids(self) -> dict[str, int]:
        """Name → PID of every running child (bench/ samples their CPU time)."""
        return {child.name: child.process.pid for child in self._children}

    def dead_child(self) -> _Child | None:
        return next((child for child in self._children if child.process.poll() is not None), None)

    def summary(self) -> str:
        startup = time.monotonic() - self.started_at
        token_source = "from VAUCHFLOW_ADMIN_TOKEN" if self.config.admin_token else f"cat {self.operator_token_path}"
        return "\n".join(
            [
                "Vauchflow dev stack is up.",
                f"  REST + gRPC        http://127.0.0.1:{self.config.public_port}  (Envoy; try /actuator/health)",
                f"  Envoy admin        http://127.0.0.1:{self.config.envoy_admin_port}  (/stats/prometheus)",
                f"  API servers        {', '.join(self.grpc_targets)}  (direct gRPC)",
                f"  API metrics        "
                f"{', '.join(f'http://127.0.0.1:{port}/metrics' for port in self.config.api_metrics_ports)}",
                f"  webhook service    {', '.join(f'127.0.0.1:{port}' for port in self.config.delivery_ports)}  "
                f"(event stream; metrics "
                f"{', '.join(f'http://127.0.0.1:{port}/metrics' for port in self.config.delivery_metrics_ports)})",
                f"  web service        http://127.0.0.1:{self.config.public_port}/v1/mcp (MCP), / (dashboard), /status "
                f"(through Envoy; direct {', '.join(f':{port}' for port in self.config.web_ports)}, metrics "
                f"{', '.join(f'http://127.0.0.1:{port}/metrics' for port in self.config.web_metrics_ports)})",
                f"  prober             metrics http://127.0.0.1:{self.config.prober_metrics_port}/metrics "
                f"(every component every 30 s; status page http://127.0.0.1:{self.config.public_port}/status)",
                f"  PostgreSQL         {self._database_shown}  (owner; app role {APP_ROLE})",
                *(
                    [f"  PostgreSQL replica {self._replica_shown}  (streaming hot standby; lists read from it)"]
                    if self._replica_shown
                    else []
                ),
                f"  Redis              {self._redis_shown}",
                f"  backups            {self._backups_shown()}",
                f"  operator token     {token_source}",
                f"  data folder        {self.config.data_dir}",
                f"  started in         {startup:.2f}s",
                "Press Ctrl-C to stop.",
            ]
        )

    def _backups_shown(self) -> str:
        if self.config.owner_database_url is not None:
            return "not run by the dev stack for an external DATABASE_URL (see docs/operations.md)"
        if not self.config.backups:
            return "off (VAUCHFLOW_BACKUPS=off)"
        return (f"{self.config.backup_dir}  (metrics http://127.0.0.1:{self.config.backup_metrics_port}/metrics; "
                "make backup, make backups, make restore)")  # fmt: skip

    def _lock_data_dir(self) -> None:
        lock_file = open(self.config.data_dir / "devstack.pid", "a+")  # noqa: SIM115 - held while the stack runs
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.seek(0)
            holder = lock_file.read().strip() or "unknown"
            lock_file.close()
            raise DevstackError(
                f"another dev stack (pid {holder}) is using {self.config.data_dir}; stop it or set VAUCHFLOW_DATA_DIR"
            ) from None
        lock_file.truncate(0)
        lock_file.write(f"{os.getpid()}\n")
        lock_file.flush()
        self._lock_file = lock_file


def app_dsn(owner_dsn: str, app_password: str) -> str:
    """The owner's URL with the app role's credentials: same host, port, database and options."""
    return role_dsn(owner_dsn, APP_ROLE, app_password)


def role_dsn(owner_dsn: str, role: str, password: str) -> str:
    """The owner's URL with another role's credentials."""
    parts = urlsplit(owner_dsn)
    host_port = parts.netloc.rpartition("@")[2]
    netloc = f"{quote(role, safe='')}:{quote(password, safe='')}@{host_port}"
    return urlunsplit(parts._replace(netloc=netloc))


def without_password(url: str) -> str:
    """url with any password removed from its user part, for showing to people."""
    parts = urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    if not at:
        return url
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}" if user else host))


def grpc_serving(target: str) -> bool:
    """Whether the overall health service ("") at target reports SERVING."""
    with grpc.insecure_channel(target) as channel:
        try:
            response = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
        except grpc.RpcError:
            return False
    return response.status == health_pb2.HealthCheckResponse.SERVING


def http_ok(url: str) -> bool:
    """Whether url answers 200 within a second."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (OSError, ValueError):
        return False


def serves_metrics(port: int) -> bool:
    """Whether a Prometheus /metrics endpoint answers on 127.0.0.1:port."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def run_in_foreground(stack: DevStack) -> int:
    """Starts the stack, waits for a stop signal or a dying child, stops everything; returns the exit code."""
    wake = threading.Event()
    stop_signal: list[int] = []

    def on_stop(signum: int, _frame: object) -> None:
        stop_signal.append(signum)
        stack.stop_requested.set()
        wake.set()

    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGTERM, on_stop)
    # A child's exit wakes the loop at once instead of at the next poll.
    signal.signal(signal.SIGCHLD, lambda _signum, _frame: wake.set())

    try:
        stack.start()
    except StartInterrupted:
        log.info("stopped during start-up", extra={"action": "devstack_stop"})
        return 0
    except (ChildProcessFailed, DevstackError, OSError) as error:
        log.error("dev stack failed to start: %s", error, extra={"action": "devstack_start_failed"})
        return 1
    except Exception as error:
        # The JSON log formatter leaves tracebacks out of records; a developer at the terminal still needs one.
        log.error("dev stack failed to start", extra={"action": "devstack_start_failed", "error": type(error).__name__})
        traceback.print_exc()
        return 1
    print(stack.summary(), flush=True)
    log.info("dev stack ready", extra={"action": "devstack_ready",
                                       "startup_seconds": round(time.monotonic() - stack.started_at, 2)})  # fmt: skip

    exit_code = 0
    while True:
        # The timeout is only a safety net; signals set the event.
        wake.wait(timeout=5)
        wake.clear()
        if stop_signal:
            log.info("stopping", extra={"action": "devstack_stop", "signal": signal.Signals(stop_signal[0]).name})
            break
        dead = stack.dead_child()
        if dead is not None:
            log.error(
                "child exited unexpectedly; stopping the stack",
                extra={"action": "child_died", "child": dead.name, "returncode": dead.process.returncode},
            )
            exit_code = 1
            break
    stack.stop()
    log.info("dev stack stopped", extra={"action": "devstack_stopped", "exit_code": exit_code})
    return exit_code
