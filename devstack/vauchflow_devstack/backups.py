"""`python -m vauchflow_devstack.backups COMMAND ...`: the backup commands (`python -m vauchflow_backup`) pointed at
the dev stack's embedded PostgreSQL and its repository under the data folder. Behind `make backup`,
`make backups`, `make verify-backup` and `make restore`.

The dev stack's settings come from the same environment `make run` reads (VAUCHFLOW_DATA_DIR, VAUCHFLOW_PG_PORT);
VAUCHFLOW_BACKUP_* settings (the encryption key, for one) pass through unchanged.
"""

from __future__ import annotations

import os
import subprocess
import sys

from vauchflow_devstack.config import ConfigError, DevstackConfig, default_data_dir
from vauchflow_devstack.postgres import EmbeddedPostgres

# The commands that only read the repository; the others connect to PostgreSQL.
_OFFLINE = ("list", "verify", "restore")


def main(argv: list[str]) -> int:
    try:
        config = DevstackConfig.from_env(os.environ, default_data_dir())
    except ConfigError as error:
        print(f"backups: {error}", file=sys.stderr)
        return 2
    env = {**os.environ, "VAUCHFLOW_BACKUP_DIR": str(config.backup_dir)}
    command = argv[0] if argv else ""
    if command not in _OFFLINE:
        if config.owner_database_url is not None:
            env["DATABASE_URL"] = config.owner_database_url
        else:
            postgres = EmbeddedPostgres(config.data_dir / "postgres", config.postgres_port)
            if not (postgres.root_dir / "owner.password").exists():
                print(f"backups: no dev stack database under {config.data_dir}; start one with `make run`",
                      file=sys.stderr)  # fmt: skip
                return 1
            env["DATABASE_URL"] = postgres.owner_dsn(config.database_name)
    return subprocess.run([sys.executable, "-m", "vauchflow_backup", *argv], env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
