"""The webhook delivery service as tests run it: the real `python -m vauchflow_delivery` process, its database
roles, and the rows it works on (tenants, API keys, endpoints with sealed secrets, outbox events) written as the
owner, as the API server would write them.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

from support.grpc_health import is_serving
from support.polling import wait_for
from support.ports import free_port
from support.services import TEST_WEBHOOK_ALLOW_NETWORKS
from vauchflow_core import api_key_secrets
from vauchflow_core.db.migrate import DELIVERY_ROLE
from vauchflow_core.secret_box import KeyRing
from vauchflow_core.webhook_endpoints import format_signing_secret, generate_signing_secret, seal_signing_secret
from vauchflow_devstack import start_child, stop_child

# Fast enough for tests, with the lease above the request timeout as the service requires.
FAST_SETTINGS = {
    "VAUCHFLOW_WEBHOOK_RETRY_SCHEDULE": "200ms,400ms,600ms,800ms,1s,1s,1s,1s",
    "VAUCHFLOW_WEBHOOK_RETRY_JITTER": "0",
    "VAUCHFLOW_WEBHOOK_TIMEOUT_SECONDS": "3",
    "VAUCHFLOW_WEBHOOK_CONNECT_TIMEOUT_SECONDS": "1",
    # Well above the 3 s request timeout even on a loaded 2-core CI machine, so no lease runs out by accident.
    "VAUCHFLOW_DELIVERY_LEASE_SECONDS": "8",
    "VAUCHFLOW_DELIVERY_POLL_SECONDS": "0.25",
    "VAUCHFLOW_METRICS_REFRESH_SECONDS": "0.25",
    "VAUCHFLOW_SHUTDOWN_GRACE_SECONDS": "5",
}


def with_role(dsn: str, role: str, password: str) -> str:
    parts = urlsplit(dsn)
    host_port = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{quote(role, safe='')}:{quote(password, safe='')}@{host_port}"))


@dataclass(frozen=True)
class DeliveryDatabase:
    name: str
    owner_dsn: str
    app_dsn: str
    delivery_dsn: str


@dataclass
class DeliveryService:
    process: subprocess.Popen[bytes]
    target: str
    metrics_url: str
    log_path: Path

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30) -> int:
        return stop_child(self.process, name="delivery-service", sig=sig, timeout=timeout)

    def metrics(self) -> dict[str, float]:
        """Every sample of the metrics endpoint: 'name{labels}' -> value."""
        with urllib.request.urlopen(self.metrics_url, timeout=5) as response:
            text = response.read().decode()
        samples = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                samples[name] = float(value)
        return samples


def start_delivery_service(
    database: DeliveryDatabase, key_ring: KeyRing, log_path: Path, *, timeout: float = 60, **settings: str
) -> DeliveryService:
    """Starts `python -m vauchflow_delivery` and waits for grpc.health.v1 SERVING."""
    grpc_port, metrics_port = free_port(), free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("VAUCHFLOW_")}
    env.update(FAST_SETTINGS)
    env.update(
        DATABASE_URL=database.delivery_dsn,
        APP_DATABASE_URL=database.app_dsn,
        VAUCHFLOW_WEBHOOK_KEYS=key_ring.to_text(),
        VAUCHFLOW_WEBHOOK_ALLOW_NETWORKS=TEST_WEBHOOK_ALLOW_NETWORKS,
        VAUCHFLOW_WEBHOOK_ALLOW_HTTP="true",
        VAUCHFLOW_DELIVERY_GRPC_PORT=str(grpc_port),
        VAUCHFLOW_DELIVERY_METRICS_PORT=str(metrics_port),
    )
    env.update(settings)
    process = start_child([sys.executable, "-m", "vauchflow_delivery"], name="delivery-service", env=env,
                          log_path=log_path)  # fmt: skip
    target = f"127.0.0.1:{grpc_port}"
    try:
        wait_for(lambda: is_serving(target), what=f"delivery service SERVING on {target}", timeout=timeout,
                 process=process, log_path=log_path, interval=0.1)  # fmt: skip
    except BaseException:
        stop_child(process, name="delivery-service", sig=signal.SIGKILL, timeout=10)
        raise
    return DeliveryService(process, target, f"http://127.0.0.1:{metrics_port}/metrics", log_path)


@dataclass(frozen=True)
class Endpoint:
    tenant_id: uuid.UUID
    id: uuid.UUID
    url: str
    secret: str  # "whsec_..."


class Rows:
    """Writes and reads as the owner on one connection held by a private event loop (tests here are
    synchronous, so they can poll with support.polling while the service works)."""

    def __init__(self, dsn: str, key_ring: KeyRing):
        self._key_ring = key_ring
        self._loop = asyncio.new_event_loop()
        self._conn: asyncpg.Connection = self._run(asyncpg.connect(dsn))
        self._run(self._conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"))

    def _run(self, coroutine: Any) -> Any:
        return self._loop.run_until_complete(coroutine)

    def close(self) -> None:
        self._run(self._conn.close())
        self._loop.close()

    def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        return self._run(self._conn.fetch(sql, *args))

    def fetchval(self, sql: str, *args: Any) -> Any:
        return self._run(self._conn.fetchval(sql, *args))

    def execute(self, sql: str, *args: Any) -> str:
        return self._run(self._conn.execute(sql, *args))

    def tenant(self) -> uuid.UUID:
        tenant_id = uuid.uuid4()
        self.execute(
            "INSERT INTO tenants (id, name, plan) VALUES ($1, $2, 'GROWTH')", tenant_id, f"t {tenant_id.hex[:8]}"
        )
        return tenant_id

    def api_key(self, tenant_id: uuid.UUID, permissions: tuple[str, ...] = ("events:read",)) -> str:
        new = api_key_secrets.generate()
        self.execute(
            "INSERT INTO api_keys (tenant_id, id, name, permissions, secret_hash, secret_prefix)"
            " VALUES ($1, $2, 'test', $3, $4, $5)",
            tenant_id, uuid.uuid4(), list(permissions), new.secret_hash, new.display_prefix,
        )  # fmt: skip
        return new.secret

    def endpoint(self, tenant_id: uuid.UUID, url: str, event_types: tuple[str, ...] = ()) -> Endpoint:
        endpoint_id = uuid.uuid4()
        raw = generate_signing_secret()
        sealed = seal_signing_secret(self._key_ring, raw, tenant_id=tenant_id, endpoint_id=endpoint_id)
        self.execute(
            "INSERT INTO webhook_endpoints (tenant_id, id, url, event_types, secret_ciphertext, secret_nonce,"
            " secret_key_version) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            tenant_id, endpoint_id, url, list(event_types), sealed.ciphertext, sealed.nonce, sealed.key_version,
        )  # fmt: skip
        return Endpoint(tenant_id, endpoint_id, url, format_signing_secret(raw))

    def events(self, tenant_id: uuid.UUID, count: int, event_type: str = "voucher.created") -> list[str]:
        """Inserts count events in one transaction; returns their webhook ids ("evt_...") in id order."""
        ids = [uuid.uuid4() for _ in range(count)]
        payloads = [event_payload(event_id, event_type, {"n": n}) for n, event_id in enumerate(ids)]
        self.execute(
            "INSERT INTO outbox_events (tenant_id, event_id, type, payload)"
            " SELECT $1, e, $2, p FROM unnest($3::uuid[], $4::jsonb[]) WITH ORDINALITY AS x (e, p, n) ORDER BY n",
            tenant_id, event_type, ids, payloads,
        )  # fmt: skip
        return [p["id"] for p in payloads]

    def deliveries(self, tenant_id: uuid.UUID) -> list[asyncpg.Record]:
        return self.fetch("SELECT * FROM webhook_deliveries WHERE tenant_id = $1 ORDER BY create_time", tenant_id)

    def attempts(self, tenant_id: uuid.UUID) -> list[asyncpg.Record]:
        return self.fetch("SELECT * FROM webhook_delivery_attempts WHERE tenant_id = $1 ORDER BY id", tenant_id)


def event_payload(event_id: uuid.UUID, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """The shape vauchflow_core.events writes."""
    return {
        "id": f"evt_{event_id.hex}",
        "type": event_type,
        "timestamp": datetime.now(UTC).isoformat(),
        "data": data,
    }


def set_delivery_password(owner_dsn: str, password: str) -> None:
    """Roles belong to the cluster: one ALTER ROLE serves every test database."""

    async def alter() -> None:
        conn = await asyncpg.connect(owner_dsn)
        try:
            literal = await conn.fetchval("SELECT quote_literal($1)", password)
            await conn.execute(f"ALTER ROLE {DELIVERY_ROLE} WITH LOGIN PASSWORD {literal}")
        finally:
            await conn.close()

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(alter())
    finally:
        loop.close()
