"""`vauchflow-migrate`: apply database migrations as the owner role.

Environment: DATABASE_URL (an owner/superuser connection), VAUCHFLOW_APP_DB_PASSWORD and
VAUCHFLOW_DELIVERY_DB_PASSWORD (optional; set the passwords of the vauchflow_app role the API server logs in as
and of the vauchflow_delivery role the webhook delivery service logs in as).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from vauchflow_core.db.migrate import MigrationError, migrate


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    dsn = os.environ.get("DATABASE_URL")
    if not dsn:
        print("DATABASE_URL must name the owner connection", file=sys.stderr)
        return 2
    try:
        applied = asyncio.run(
            migrate(dsn, os.environ.get("VAUCHFLOW_APP_DB_PASSWORD"), os.environ.get("VAUCHFLOW_DELIVERY_DB_PASSWORD"))
        )
    except MigrationError as error:
        print(f"migration failed: {error}", file=sys.stderr)
        return 1
    print(f"applied migrations: {applied or 'none pending'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
