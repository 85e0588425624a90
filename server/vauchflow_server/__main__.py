"""`python -m vauchflow_server`: run the API server. Configuration comes from the environment (config.py)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import uvloop

from vauchflow_core import errors
from vauchflow_core.logs import configure_logging
from vauchflow_core.settings import with_secret_files
from vauchflow_server.app import StartupError, serve
from vauchflow_server.config import ConfigError, ServerConfig


def main() -> int:
    configure_logging(os.environ.get("VAUCHFLOW_LOG_LEVEL", "INFO"))
    log = logging.getLogger("vauchflow_server")
    try:
        config = ServerConfig.from_env(with_secret_files(os.environ))
    except ConfigError as error:
        log.error("bad configuration", extra={"action": "config_invalid", "problem": str(error)})
        return 2
    if config.event_loop == "uvloop":
        # libuv's event loop: cheaper socket I/O per query and per RPC (measured by bench/, see docs/performance.md).
        uvloop.install()
    try:
        asyncio.run(serve(config))
    except (StartupError, errors.Unavailable) as error:
        log.error("cannot start", extra={"action": "startup_failed", "problem": error.args[0]})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
