"""API server configuration, read once from the environment at the entry point and passed down frozen."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from vauchflow_core.settings import (
    ConfigError,
    WebhookSettings,
    env_at_least,
    env_choice,
    env_int,
    env_non_negative_float,
    env_positive_float,
)

__all__ = ["ConfigError", "ServerConfig", "WebhookSettings"]


@dataclass(frozen=True)
class ServerConfig:
    database_url: str
    redis_url: str | None
    admin_token: str
    webhooks: WebhookSettings
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 50051
    db_pool_min_size: int = 2
    db_pool_max_size: int = 16
    # SIGTERM: how long in-flight RPCs may take to finish before they are cancelled.
    shutdown_grace_seconds: float = 10.0
    # SIGTERM: how long the server keeps accepting RPCs after reporting NOT_SERVING, so load balancers stop
    # routing to it first (Envoy checks every second and needs two failures).
    shutdown_drain_delay_seconds: float = 2.5
    # How long an API key lookup is reused. Revocation evicts at once (locally, and on other replicas by
    # NOTIFY); this bounds staleness only if a notification is missed. 0 disables the cache.
    api_key_cache_seconds: float = 5.0
    # How long any one Redis call (rate limit, flash-sale gate, health) may take, connecting included: a hung
    # Redis must not stall requests, and rate limits fail open when it doesn't answer in time.
    redis_timeout_seconds: float = 0.1
    # Prometheus /metrics on its own port; None: not served.
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None
    # How often flash-sale counters in Redis are compared with PostgreSQL and corrected (flash_sale_reconciliation).
    flash_sale_reconcile_seconds: float = 30.0
    # How many redemptions of one voucher this process sends to PostgreSQL at once (voucher_queue.py); 0: no limit.
    redeem_concurrency_per_voucher: int = 8
    # Concurrent redeems of one tenant share transactions (redemption_batches.py): at most this many per batch
    # (0: every redeem alone), with at most this many of the tenant's batches in PostgreSQL at once.
    redeem_batch_max: int = 64
    redeem_batches_in_flight: int = 2
    # "uvloop" or "asyncio" (the standard loop, for comparison and debugging).
    event_loop: str = "uvloop"
    # How long the flash-sale gate waits for Redis (a call, its retry and a pooled connection) before PostgreSQL
    # alone decides for a moment.
    flash_sale_gate_timeout_seconds: float = 0.5
    # Failed authentications a client address may make per minute before its requests are refused unread.
    auth_failures_per_minute: int = 30
    # The status page's incident rules (docs/status.md): an open incident without an update for this long is
    # overdue; a component down for longer than postmortem_after_down requires a postmortem. Shortened in tests.
    status_update_cadence_seconds: float = 30 * 60.0
    status_postmortem_after_down_seconds: float = 15 * 60.0
    # How often the vauchflow_status_incidents_overdue gauge is recomputed.
    status_metrics_seconds: float = 15.0
    # A streaming PostgreSQL replica (hot standby) of DATABASE_URL's database that lists read from, as the same
    # role (db/read_replica.py); None: every read on the primary. A read carrying a commit position waits at most
    # replica_wait_seconds for the replica to replay it, else runs on the primary; a replica lagging more than
    # replica_max_lag_seconds is out of rotation until it catches up; its lag is measured every
    # replica_check_seconds.
    database_replica_url: str | None = None
    replica_wait_seconds: float = 0.05
    replica_max_lag_seconds: float = 5.0
    replica_check_seconds: float = 0.25

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ServerConfig:
        missing = [name for name in ("DATABASE_URL", "VAUCHFLOW_ADMIN_TOKEN") if not env.get(name)]
        if missing:
            raise ConfigError(f"missing environment variables: {', '.join(missing)}")
        if len(env["VAUCHFLOW_ADMIN_TOKEN"]) < 16:
            raise ConfigError("VAUCHFLOW_ADMIN_TOKEN must be at least 16 characters")
        return cls(
            database_url=env["DATABASE_URL"],
            redis_url=env.get("REDIS_URL") or None,
            admin_token=env["VAUCHFLOW_ADMIN_TOKEN"],
            webhooks=WebhookSettings.from_env(env),
            grpc_host=env.get("VAUCHFLOW_GRPC_HOST", cls.grpc_host),
            grpc_port=env_int(env, "VAUCHFLOW_GRPC_PORT", cls.grpc_port),
            db_pool_min_size=env_int(env, "VAUCHFLOW_DB_POOL_MIN", cls.db_pool_min_size),
            db_pool_max_size=env_int(env, "VAUCHFLOW_DB_POOL_MAX", cls.db_pool_max_size),
            shutdown_grace_seconds=float(env.get("VAUCHFLOW_SHUTDOWN_GRACE_SECONDS", cls.shutdown_grace_seconds)),
            shutdown_drain_delay_seconds=float(
                env.get("VAUCHFLOW_SHUTDOWN_DRAIN_DELAY_SECONDS", cls.shutdown_drain_delay_seconds)
            ),
            api_key_cache_seconds=float(env.get("VAUCHFLOW_API_KEY_CACHE_SECONDS", cls.api_key_cache_seconds)),
            redis_timeout_seconds=float(env.get("VAUCHFLOW_REDIS_TIMEOUT_SECONDS", cls.redis_timeout_seconds)),
            metrics_host=env.get("VAUCHFLOW_METRICS_HOST", cls.metrics_host),
            metrics_port=env_int(env, "VAUCHFLOW_METRICS_PORT", 0) or None,
            flash_sale_reconcile_seconds=env_positive_float(
                env, "VAUCHFLOW_FLASH_SALE_RECONCILE_SECONDS", cls.flash_sale_reconcile_seconds
            ),
            redeem_concurrency_per_voucher=env_int(
                env, "VAUCHFLOW_REDEEM_CONCURRENCY_PER_VOUCHER", cls.redeem_concurrency_per_voucher
            ),
            redeem_batch_max=env_at_least(env, "VAUCHFLOW_REDEEM_BATCH_MAX", 0, cls.redeem_batch_max),
            redeem_batches_in_flight=env_at_least(
                env, "VAUCHFLOW_REDEEM_BATCHES_IN_FLIGHT", 1, cls.redeem_batches_in_flight
            ),
            event_loop=env_choice(env, "VAUCHFLOW_EVENT_LOOP", ("uvloop", "asyncio"), cls.event_loop),
            flash_sale_gate_timeout_seconds=env_positive_float(
                env, "VAUCHFLOW_FLASH_SALE_GATE_TIMEOUT_SECONDS", cls.flash_sale_gate_timeout_seconds
            ),
            auth_failures_per_minute=env_at_least(
                env, "VAUCHFLOW_AUTH_FAILURES_PER_MINUTE", 1, cls.auth_failures_per_minute
            ),
            status_update_cadence_seconds=env_positive_float(
                env, "VAUCHFLOW_STATUS_UPDATE_CADENCE_SECONDS", cls.status_update_cadence_seconds
            ),
            status_postmortem_after_down_seconds=env_positive_float(
                env, "VAUCHFLOW_STATUS_POSTMORTEM_AFTER_DOWN_SECONDS", cls.status_postmortem_after_down_seconds
            ),
            status_metrics_seconds=env_positive_float(
                env, "VAUCHFLOW_STATUS_METRICS_SECONDS", cls.status_metrics_seconds
            ),
            database_replica_url=env.get("DATABASE_REPLICA_URL") or None,
            replica_wait_seconds=env_non_negative_float(
                env, "VAUCHFLOW_REPLICA_WAIT_SECONDS", cls.replica_wait_seconds
            ),
            replica_max_lag_seconds=env_positive_float(
                env, "VAUCHFLOW_REPLICA_MAX_LAG_SECONDS", cls.replica_max_lag_seconds
            ),
            replica_check_seconds=env_positive_float(env, "VAUCHFLOW_REPLICA_CHECK_SECONDS", cls.replica_check_seconds),
        )
