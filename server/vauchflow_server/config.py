"""Server configuration, read once from the environment at the entry point and passed down frozen."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass

from vauchflow_server.secret_box import KeyRing, KeyRingError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(Exception):
    """The environment does not describe a runnable server."""


@dataclass(frozen=True)
class WebhookSettings:
    """What the API server and the delivery service both need about webhooks. Read by each from its environment."""

    # Encrypts signing secrets at rest; new secrets go under the newest version.
    key_ring: KeyRing
    # Addresses endpoints may point at although they are private, loopback, etc. (tests and dev: loopback).
    allowed_networks: tuple[IPNetwork, ...] = ()
    # Plain http:// endpoint URLs (only for development and tests: they deliver to loopback receivers).
    allow_http: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "WebhookSettings":
        """VAUCHFLOW_WEBHOOK_KEYS (required: "1:<base64 32 bytes>,2:..."), VAUCHFLOW_WEBHOOK_ALLOW_NETWORKS
        (comma-separated CIDRs, default none), VAUCHFLOW_WEBHOOK_ALLOW_HTTP (true/false, default false)."""
        keys_text = env.get("VAUCHFLOW_WEBHOOK_KEYS")
        if not keys_text:
            raise ConfigError(
                "missing environment variables: VAUCHFLOW_WEBHOOK_KEYS (the webhook secret key ring,"
                " e.g. 1:<base64 of 32 random bytes>)"
            )
        try:
            key_ring = KeyRing.parse(keys_text)
        except KeyRingError as error:
            raise ConfigError(f"VAUCHFLOW_WEBHOOK_KEYS: {error}") from None
        networks = []
        for raw in (env.get("VAUCHFLOW_WEBHOOK_ALLOW_NETWORKS") or "").split(","):
            if raw.strip():
                try:
                    networks.append(ipaddress.ip_network(raw.strip()))
                except ValueError:
                    raise ConfigError(f"VAUCHFLOW_WEBHOOK_ALLOW_NETWORKS: {raw.strip()!r} is not a CIDR") from None
        return cls(
            key_ring=key_ring,
            allowed_networks=tuple(networks),
            allow_http=_bool(env, "VAUCHFLOW_WEBHOOK_ALLOW_HTTP", False),
        )


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

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "ServerConfig":
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
            grpc_port=_int(env, "VAUCHFLOW_GRPC_PORT", cls.grpc_port),
            db_pool_min_size=_int(env, "VAUCHFLOW_DB_POOL_MIN", cls.db_pool_min_size),
            db_pool_max_size=_int(env, "VAUCHFLOW_DB_POOL_MAX", cls.db_pool_max_size),
            shutdown_grace_seconds=float(env.get("VAUCHFLOW_SHUTDOWN_GRACE_SECONDS", cls.shutdown_grace_seconds)),
            shutdown_drain_delay_seconds=float(
                env.get("VAUCHFLOW_SHUTDOWN_DRAIN_DELAY_SECONDS", cls.shutdown_drain_delay_seconds)
            ),
            api_key_cache_seconds=float(env.get("VAUCHFLOW_API_KEY_CACHE_SECONDS", cls.api_key_cache_seconds)),
            redis_timeout_seconds=float(env.get("VAUCHFLOW_REDIS_TIMEOUT_SECONDS", cls.redis_timeout_seconds)),
            metrics_host=env.get("VAUCHFLOW_METRICS_HOST", cls.metrics_host),
            metrics_port=_int(env, "VAUCHFLOW_METRICS_PORT", 0) or None,
            flash_sale_reconcile_seconds=_positive_float(
                env, "VAUCHFLOW_FLASH_SALE_RECONCILE_SECONDS", cls.flash_sale_reconcile_seconds
            ),
            redeem_concurrency_per_voucher=_int(
                env, "VAUCHFLOW_REDEEM_CONCURRENCY_PER_VOUCHER", cls.redeem_concurrency_per_voucher
            ),
            redeem_batch_max=_at_least(env, "VAUCHFLOW_REDEEM_BATCH_MAX", 0, cls.redeem_batch_max),
            redeem_batches_in_flight=_at_least(
                env, "VAUCHFLOW_REDEEM_BATCHES_IN_FLIGHT", 1, cls.redeem_batches_in_flight
            ),
            event_loop=_choice(env, "VAUCHFLOW_EVENT_LOOP", ("uvloop", "asyncio"), cls.event_loop),
        )


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = env.get(name) or default
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def _at_least(env: Mapping[str, str], name: str, minimum: int, default: int) -> int:
    value = _int(env, name, default)
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not value > 0:
        raise ConfigError(f"{name} must be positive, got {raw!r}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")
