"""`python -m vauchflow_devstack`: run the dev stack in the foreground (see stack.py)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from vauchflow_core.logs import configure_logging
from vauchflow_devstack.config import ConfigError, DevstackConfig
from vauchflow_devstack.stack import DevStack, run_in_foreground

log = logging.getLogger("vauchflow_devstack")


def _default_data_dir() -> Path:
    # .data/ at the repository root when running from a checkout (editable install), else in the current folder.
    repo_root = Path(__file__).resolve().parents[2]
    if (repo_root / "Makefile").exists() and (repo_root / "server").is_dir():
        return repo_root / ".data"
    return Path.cwd() / ".data"


def main() -> int:
    configure_logging()
    try:
        config = DevstackConfig.from_env(os.environ, _default_data_dir())
    except ConfigError as error:
        print(f"devstack: {error}", file=sys.stderr)
        return 2
    return run_in_foreground(DevStack(config))


if __name__ == "__main__":
    sys.exit(main())
