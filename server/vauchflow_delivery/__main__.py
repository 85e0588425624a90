"""`python -m vauchflow_delivery`: run the webhook delivery service. Configuration comes from the environment
(config.py): DATABASE_URL as vauchflow_delivery, APP_DATABASE_URL as vauchflow_app, VAUCHFLOW_WEBHOOK_KEYS."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import uvloop

from vauchflow_core import errors
from vauchflow_core.logs import configure_logging
from vauchflow_core.settings import with_secret_files
from vauchflow_delivery.config import ConfigError, DeliveryConfig
from vauchflow_delivery.service import StartupError, serve
from vauchflow_delivery.store import StoreUnavailable


def main() -> int:
    configure_logging(os.environ.get("VAUCHFLOW_LOG_LEVEL", "INFO"))
    log = logging.getLogger("vauchflow_delivery")
    try:
        config = DeliveryConfig.from_env(with_secret_files(os.environ))
    except ConfigError as error:
        log.error("bad configuration", extra={"action": "config_invalid", "problem": str(error)})
        return 2
    uvloop.install()  # as in the API server: cheaper socket I/O per query and per request
    try:
        return asyncio.run(serve(config))
    except (StartupError, errors.Unavailable, StoreUnavailable, OSError) as error:
        log.error(
            "cannot start",
            extra={"action": "startup_failed", "problem": str(error.args[0]) if error.args else type(error).__name__},
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
