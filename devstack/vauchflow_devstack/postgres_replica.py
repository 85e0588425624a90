"""A streaming hot standby of the embedded PostgreSQL, for read replicas in development and tests.

Made once by pg_basebackup -R (which writes standby.signal and the primary_conninfo) through a physical
replication slot on the primary, so the primary keeps the WAL the standby has not received yet (bounded by the
primary's max_slot_wal_keep_size). Later starts reuse the copy. Layout under root_dir: pgdata/ and postgres.log.
The standby serves reads (hot_standby=on) with the primary's roles and passwords: the API server connects to it as
the same app role, under the same row-level security.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
from pathlib import Path
from urllib.parse import quote

from vauchflow_devstack.child_process import (
    ChildProcessFailed,
    as_unprivileged,
    require_free_port,
    stop_child,
)
from vauchflow_devstack.postgres import OWNER_ROLE, EmbeddedPostgres, start_postgres

log = logging.getLogger(__name__)

DEFAULT_SLOT = "vauchflow_replica"
_SLOT_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class EmbeddedStandby:
    def __init__(self, primary: EmbeddedPostgres, root_dir: Path, port: int, *, slot: str = DEFAULT_SLOT) -> None:
        if not 1 <= port <= 65535:
            raise ValueError(f"PostgreSQL replica port must be 1..65535, got {port}")
        if not _SLOT_NAME.fullmatch(slot):
            raise ValueError(f"replication slot name must match {_SLOT_NAME.pattern}, got {slot!r}")
        self.primary = primary
        self.root_dir = Path(root_dir).resolve()
        self.port = port
        self.slot = slot
        self.data_dir = self.root_dir / "pgdata"
        self.log_path = self.root_dir / "postgres.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        return self._process

    def dsn(self, dbname: str, user: str, password: str) -> str:
        credentials = f"{quote(user, safe='')}:{quote(password, safe='')}"
        return f"postgresql://{credentials}@127.0.0.1:{self.port}/{quote(dbname, safe='')}"

    def owner_dsn(self, dbname: str = "postgres") -> str:
        return self.dsn(dbname, OWNER_ROLE, self.primary.owner_password())

    def initialize(self) -> bool:
        """Copies the primary (which must be running) unless a copy exists; returns whether it did."""
        if (self.data_dir / "PG_VERSION").exists():
            return False
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise ChildProcessFailed(f"{self.data_dir} is neither empty nor a PostgreSQL cluster; move it away")
        self.root_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        self.primary.psql(
            f"SELECT pg_create_physical_replication_slot('{self.slot}') "
            f"WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = '{self.slot}')"
        )
        # The password travels in the environment (not argv, which other users can read); -R writes it into the
        # copy's postgresql.auto.conf (mode 600, inside the 700 data folder) so the standby can reconnect.
        conninfo = f"host=127.0.0.1 port={self.primary.port} user={OWNER_ROLE} dbname=postgres"
        argv = as_unprivileged(
            [
                str(self.primary.bin_dir / "pg_basebackup"),
                "--dbname", conninfo,
                "--pgdata", str(self.data_dir),
                "--write-recovery-conf",
                "--slot", self.slot,
                "--wal-method=stream",
                "--checkpoint=fast",
                "--no-password",
            ]
        )  # fmt: skip
        env = {**os.environ, "PGPASSWORD": self.primary.owner_password()}
        result = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
        if result.returncode != 0:
            raise ChildProcessFailed(f"pg_basebackup failed with code {result.returncode}:\n{result.stderr}")
        log.info("standby copied", extra={"action": "postgres_standby_init", "data_dir": str(self.data_dir)})
        return True

    def start(self, timeout: float = 60.0) -> None:
        """Copies the primary if needed, starts the standby and returns once it accepts read connections."""
        if self._process is not None and self._process.poll() is None:
            raise ChildProcessFailed(f"the standby is already running (pid {self._process.pid})")
        require_free_port(self.port, "PostgreSQL replica port")
        self.initialize()
        settings = ["max_connections=300", "hot_standby=on", "hot_standby_feedback=on",
                    "wal_level=replica", "max_wal_senders=10"]  # fmt: skip
        self._process = start_postgres(
            self.primary.bin_dir, self.data_dir, self.port, settings, name="postgres-replica",
            log_path=self.log_path, accepts_connections=self._accepts_connections, timeout=timeout,
        )  # fmt: skip
        log.info("standby ready", extra={"action": "postgres_standby_ready", "port": self.port,
                                         "pid": self._process.pid})  # fmt: skip

    def stop(self, timeout: float = 60.0) -> None:
        if self._process is not None:
            stop_child(self._process, name="postgres-replica", sig=signal.SIGINT, timeout=timeout)
            self._process = None

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Runs sql on the standby as the owner (a superuser: it may pause and resume replay)."""
        result = subprocess.run(
            [str(self.primary.bin_dir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d",
             self.owner_dsn(dbname), "-c", sql],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise ChildProcessFailed(f"psql failed: {result.stderr.strip()}")
        return result.stdout

    def _accepts_connections(self) -> bool:
        result = subprocess.run(
            [str(self.primary.bin_dir / "pg_isready"), "-q", "-h", str(self.data_dir), "-p", str(self.port),
             "-d", "postgres", "-U", OWNER_ROLE, "-t", "1"],
            check=False,
        )  # fmt: skip
        return result.returncode == 0
