"""`python -m vauchflow_prober`: run the prober until SIGTERM or SIGINT (then finish the current round's report
and exit 0). Configuration comes from the environment (config.py)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from vauchflow_core import settings
from vauchflow_core.logs import configure_logging
from vauchflow_core.settings import with_secret_files
from vauchflow_prober.config import ConfigError, ProberConfig
from vauchflow_prober.metrics import ProberMetrics
from vauchflow_prober.prober import Prober

log = logging.getLogger("vauchflow_prober")


async def serve(config: ProberConfig) -> int:
    metrics = ProberMetrics()
    server = None
    if config.metrics_port is not None:
        server, _ = metrics.serve(config.metrics_host, config.metrics_port)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    log.info(
        "prober started",
        extra={"action": "prober_started", "interval_s": config.interval_seconds, "metrics_port": config.metrics_port},
    )
    try:
        await Prober(config, metrics).run(stopping)
    finally:
        if server is not None:
            server.shutdown()
    log.info("prober stopped", extra={"action": "prober_stopped"})
    return 0


def main() -> int:
    configure_logging(os.environ.get("VAUCHFLOW_LOG_LEVEL", "INFO"))
    try:
        config = ProberConfig.from_env(with_secret_files(os.environ))
    except (ConfigError, settings.ConfigError) as error:
        log.error("bad configuration", extra={"action": "config_invalid", "problem": str(error)})
        return 2
    try:
        return asyncio.run(serve(config))
    except OSError as error:
        log.error("cannot start", extra={"action": "startup_failed", "problem": type(error).__name__})
        return 1


if __name__ == "__main__":
    sys.exit(main())
