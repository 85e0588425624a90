"""The web service (`python -m vauchflow_web`) as the tests start it: the real entry point, on free ports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from support.polling import wait_for
from support.ports import free_port
from vauchflow_devstack import start_child, stop_child


@dataclass
class WebService:
    port: int
    metrics_port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30) -> int:
        return stop_child(self.process, name="web", sig=sig, timeout=timeout)


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def start_web_service(
    *, api_target: str, log_path: Path, extra_env: Mapping[str, str] | None = None, timeout: float = 60
) -> WebService:
    port, metrics_port = free_port(), free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("VAUCHFLOW_")}
    env.update(
        VAUCHFLOW_WEB_PORT=str(port),
        VAUCHFLOW_WEB_METRICS_PORT=str(metrics_port),
        VAUCHFLOW_WEB_API_TARGET=api_target,
        VAUCHFLOW_SHUTDOWN_DRAIN_DELAY_SECONDS="0",
    )
    env.update(extra_env or {})
    process = start_child([sys.executable, "-m", "vauchflow_web"], name="web", env=env, log_path=log_path)
    service = WebService(port, metrics_port, process, log_path)
    try:
        wait_for(lambda: healthy(service.url), what="web service healthy", timeout=timeout, process=process,
                 log_path=log_path, interval=0.1)  # fmt: skip
    except BaseException:
        stop_child(process, name="web", sig=signal.SIGKILL, timeout=10)
        raise
    return service
