"""`python -m vauchflow_web`: run the web service (MCP server, dashboard, status page); configuration from the
environment (config.py)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import uvloop

from vauchflow_core.logs import configure_logging
from vauchflow_core.settings import with_secret_files
from vauchflow_web.config import ConfigError, WebConfig
from vauchflow_web.service import serve


def main() -> int:
    configure_logging(os.environ.get("VAUCHFLOW_LOG_LEVEL", "INFO"))
    # The MCP SDK logs its per-request session manager starting and stopping at INFO: three lines per call of a
    # stateless server, which cost time and say nothing. Its warnings and errors still come through.
    logging.getLogger("mcp").setLevel(logging.WARNING)
    log = logging.getLogger("vauchflow_web")
    try:
        config = WebConfig.from_env(with_secret_files(os.environ))
    except ConfigError as error:
        log.error("bad configuration", extra={"action": "config_invalid", "problem": str(error)})
        return 2
    uvloop.install()
    try:
        return asyncio.run(serve(config))
    except OSError as error:
        log.error("cannot start", extra={"action": "startup_failed", "error_type": type(error).__name__})
        return 1


if __name__ == "__main__":
    sys.exit(main())
