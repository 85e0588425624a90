"""The prober (`python -m vauchflow_prober`) as the tests start it: the real entry point, a short interval."""

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
class Prober:
    metrics_port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            return str(response.read().decode())

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30) -> int:
        return stop_child(self.process, name="prober", sig=sig, timeout=timeout)


def _serves_metrics(prober: Prober) -> bool:
    try:
        return "vauchflow_probe_not_deployed" in prober.metrics()
    except OSError:
        return False


def start_prober(
    *, admin_token: str, public_url: str, grpc_target: str, log_path: Path, extra_env: Mapping[str, str] | None = None
) -> Prober:
    metrics_port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("VAUCHFLOW_")}
    env.update(
        VAUCHFLOW_ADMIN_TOKEN=admin_token,
        VAUCHFLOW_PROBE_PUBLIC_URL=public_url,
        VAUCHFLOW_PROBE_GRPC_TARGET=grpc_target,
        VAUCHFLOW_PROBER_METRICS_PORT=str(metrics_port),
        # Nothing listens there in the tests unless a test says so: the backup job is "not deployed".
        VAUCHFLOW_PROBE_BACKUP_METRICS_URL=f"http://127.0.0.1:{free_port()}/metrics",
        VAUCHFLOW_PROBE_DELIVERY_METRICS_URL=f"http://127.0.0.1:{free_port()}/metrics",
        VAUCHFLOW_PROBE_INTERVAL_SECONDS="0.5",
    )
    env.update(extra_env or {})
    process = start_child([sys.executable, "-m", "vauchflow_prober"], name="prober", env=env, log_path=log_path)
    prober = Prober(metrics_port, process, log_path)
    try:
        wait_for(lambda: _serves_metrics(prober), what="prober metrics", timeout=60, process=process,
                 log_path=log_path, interval=0.1)  # fmt: skip
    except BaseException:
        stop_child(process, name="prober", sig=signal.SIGKILL, timeout=10)
        raise
    return prober
