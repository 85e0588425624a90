"""Waiting for a condition by polling it, never by sleeping a fixed time."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path


class NotReady(AssertionError):
    """The condition did not hold in time, or the process it depended on exited first."""


def wait_for(
    condition: Callable[[], bool],
    *,
    what: str,
    timeout: float,
    process: subprocess.Popen[bytes] | None = None,
    log_path: Path | None = None,
    interval: float = 0.05,
) -> float:
    """Polls condition until true; returns the seconds it took. Fails early if process exits."""
    started = time.monotonic()
    while not condition():
        if process is not None and process.poll() is not None:
            raise NotReady(f"{what}: process exited with code {process.returncode} first{_tail(log_path)}")
        if time.monotonic() - started > timeout:
            raise NotReady(f"{what}: not true within {timeout:.0f}s{_tail(log_path)}")
        time.sleep(interval)
    return time.monotonic() - started


def _tail(log_path: Path | None, lines: int = 40) -> str:
    if log_path is None or not log_path.exists():
        return ""
    return f"\n--- last lines of {log_path} ---\n" + "\n".join(
        log_path.read_text(errors="replace").splitlines()[-lines:]
    )
