"""`python -m vauchflow_server.cli.reencrypt_secrets`: re-seal every webhook signing secret under the newest key.

Rotating the key ring: add a new version to VAUCHFLOW_WEBHOOK_KEYS ("1:<old>,2:<new>"), restart the API servers
and delivery services with it (new secrets are then sealed under version 2, and both versions open), run this
command, and only then drop version 1 from the ring.

Environment:
  DATABASE_URL            the OWNER connection (the role that ran the migrations). The command must read every
                          tenant's endpoints, which the API server's role (vauchflow_app) cannot: row-level
                          security shows it one tenant at a time. A role that cannot bypass RLS is refused.
  VAUCHFLOW_WEBHOOK_KEYS  the key ring, holding the newest version and every version still in use.

It works in batches, each in its own transaction with the rows locked, so it can run while the servers do.
Idempotent: a second run finds nothing to do. Previous secrets whose 24-hour overlap has ended are dropped
rather than re-sealed. Prints the counts; exits 1 if any secret could not be opened (wrong or missing key).
"""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from uuid import UUID

from vauchflow_core import errors
from vauchflow_core.secret_box import KeyRing, SecretBoxError
from vauchflow_core.webhook_endpoints import EndpointSecrets, open_signing_secret, seal_signing_secret
from vauchflow_server.config import ConfigError, WebhookSettings
from vauchflow_server.db.database import Database

BATCH_SIZE = 500


@dataclass
class Counts:
    endpoints: int = 0
    current: int = 0
    previous: int = 0
    expired_dropped: int = 0
    failed: int = 0

    def summary(self, version: int) -> str:
        return (
            f"key version {version}: {self.endpoints} endpoints updated, {self.current} current and "
            f"{self.previous} previous secrets re-encrypted, {self.expired_dropped} expired previous secrets "
            f"dropped, {self.failed} failed"
        )


class NotOwner(Exception):
    """DATABASE_URL connects as a role bound by row-level security."""


def resealed(ring: KeyRing, tenant_id: UUID, endpoint_id: UUID, stored: EndpointSecrets,
             previous_expired: bool) -> EndpointSecrets:  # fmt: skip
    """stored with every secret under the newest key version (and an expired previous secret dropped)."""
    newest = ring.newest_version
    current = stored.current
    if current.key_version != newest:
        raw = open_signing_secret(ring, current, tenant_id=tenant_id, endpoint_id=endpoint_id)
        current = seal_signing_secret(ring, raw, tenant_id=tenant_id, endpoint_id=endpoint_id)
    previous, expire_time = stored.previous, stored.previous_expire_time
    if previous is not None and previous_expired:
        previous, expire_time = None, None
    elif previous is not None and previous.key_version != newest:
        raw = open_signing_secret(ring, previous, tenant_id=tenant_id, endpoint_id=endpoint_id, previous=True)
        previous = seal_signing_secret(ring, raw, tenant_id=tenant_id, endpoint_id=endpoint_id, previous=True)
    return EndpointSecrets(current, previous, expire_time)


def _count(counts: Counts, before: EndpointSecrets, after: EndpointSecrets) -> None:
    counts.endpoints += 1
    counts.current += before.current != after.current
    if before.previous is not None and after.previous is None:
        counts.expired_dropped += 1
    elif before.previous != after.previous:
        counts.previous += 1


async def reencrypt(db: Database, ring: KeyRing, batch_size: int = BATCH_SIZE) -> Counts:
    counts = Counts()
    after: tuple[UUID, UUID] | None = None
    while True:
        async with db.maintenance_transaction() as tx:
            if not await tx.can_see_every_tenant():
                raise NotOwner(
                    "DATABASE_URL must be the owner connection (a role that bypasses row-level security);"
                    " the app role sees one tenant at a time"
                )
            batch = await tx.endpoint_secrets_to_reencrypt(ring.newest_version, after, batch_size)
            for row in batch:
                try:
                    secrets = resealed(ring, row.tenant_id, row.endpoint_id, row.secrets, row.previous_expired)
                except SecretBoxError as error:
                    counts.failed += 1
                    print(f"endpoint {row.endpoint_id} of tenant {row.tenant_id}: {error}", file=sys.stderr)
                    continue
                await tx.store_endpoint_secrets(row.tenant_id, row.endpoint_id, secrets)
                _count(counts, row.secrets, secrets)
        if len(batch) < batch_size:
            return counts
        after = (batch[-1].tenant_id, batch[-1].endpoint_id)


async def _run(dsn: str, ring: KeyRing) -> Counts:
    db = await Database.connect(dsn, min_size=1, max_size=1)
    try:
        return await reencrypt(db, ring)
    finally:
        await db.close()


def main() -> int:
    dsn = os.environ.get("DATABASE_URL")
    if not dsn:
        print("DATABASE_URL must name the owner connection", file=sys.stderr)
        return 2
    try:
        ring = WebhookSettings.from_env(os.environ).key_ring
    except ConfigError as error:
        print(f"bad configuration: {error}", file=sys.stderr)
        return 2
    try:
        counts = asyncio.run(_run(dsn, ring))
    except NotOwner as error:
        print(str(error), file=sys.stderr)
        return 2
    except errors.Unavailable as error:
        print(f"cannot re-encrypt: {error.message}", file=sys.stderr)
        return 1
    print(counts.summary(ring.newest_version))
    return 1 if counts.failed else 0


if __name__ == "__main__":
    sys.exit(main())
