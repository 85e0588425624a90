"""`python -m vauchflow_devstack`: run the dev stack in the foreground (see stack.py)."""

from __future__ import annotations

import logging
import os
import sys

from vauchflow_core.logs import configure_logging
from vauchflow_devstack.config import ConfigError, DevstackConfig, default_data_dir
from vauchflow_devstack.stack import DevStack, run_in_foreground

log = logging.getLogger("vauchflow_devstack")


def main() -> int:
    configure_logging()
    try:
        config = DevstackConfig.from_env(os.environ, default_data_dir())
    except ConfigError as error:
        print(f"devstack: {error}", file=sys.stderr)
        return 2
    return run_in_foreground(DevStack(config))


if __name__ == "__main__":
    sys.exit(main())
