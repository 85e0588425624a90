"""The web service's configuration, read once from the environment at the entry point and passed down frozen."""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from vauchflow_core.settings import (
    ConfigError,
    env_at_least,
    env_bool,
    env_int,
    env_non_negative_float,
    env_positive_float,
)

__all__ = ["ConfigError", "WebConfig"]


@dataclass(frozen=True)
class WebConfig:
    # Where the gRPC API answers: the public Envoy port by default, which load-balances the API replicas.
    api_target: str = "127.0.0.1:8080"
    api_tls: bool = False
    host: str = "127.0.0.1"
    port: int = 8081
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9468
    # Browser origins allowed to call /v1/mcp (DNS-rebinding protection); requests without Origin are allowed.
    allowed_origins: tuple[str, ...] = ("http://127.0.0.1:8080", "http://localhost:8080")
    # Host headers the service answers to (the public host as seen through Envoy, and its own address).
    allowed_hosts: tuple[str, ...] = ("127.0.0.1:8080", "localhost:8080", "127.0.0.1:8081", "localhost:8081")
    # How long one call to the API may take.
    api_timeout_seconds: float = 10.0
    # SIGTERM: report unhealthy, keep serving this long so Envoy stops routing here, then drain.
    shutdown_drain_delay_seconds: float = 2.5
    shutdown_grace_seconds: float = 10.0
    # Dashboard sessions live in Redis so any replica serves any session; without a URL they stay in this process.
    redis_url: str | None = None
    # 32 bytes that seal dashboard sessions in Redis (AES-256-GCM). Every replica needs the same key; without one
    # a random key is drawn at start, so sessions end when the process does.
    session_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    session_idle_seconds: int = 30 * 60
    # Failed dashboard sign-ins one client address may make within the window before the form answers 429.
    sign_in_failure_limit: int = 10
    sign_in_failure_window_seconds: int = 10 * 60

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> WebConfig:
        """VAUCHFLOW_WEB_API_TARGET, VAUCHFLOW_WEB_API_TLS, VAUCHFLOW_WEB_HOST, VAUCHFLOW_WEB_PORT,
        VAUCHFLOW_WEB_METRICS_HOST, VAUCHFLOW_WEB_METRICS_PORT, VAUCHFLOW_WEB_ALLOWED_ORIGINS and
        VAUCHFLOW_WEB_ALLOWED_HOSTS (comma-separated), VAUCHFLOW_WEB_API_TIMEOUT_SECONDS,
        VAUCHFLOW_SHUTDOWN_DRAIN_DELAY_SECONDS, VAUCHFLOW_SHUTDOWN_GRACE_SECONDS, VAUCHFLOW_WEB_REDIS_URL (else
        REDIS_URL), VAUCHFLOW_WEB_SESSION_KEY (base64 of 32 bytes), VAUCHFLOW_WEB_SESSION_IDLE_SECONDS,
        VAUCHFLOW_WEB_SIGN_IN_FAILURE_LIMIT, VAUCHFLOW_WEB_SIGN_IN_FAILURE_WINDOW_SECONDS."""
        return cls(
            api_target=env.get("VAUCHFLOW_WEB_API_TARGET") or cls.api_target,
            api_tls=env_bool(env, "VAUCHFLOW_WEB_API_TLS", cls.api_tls),
            host=env.get("VAUCHFLOW_WEB_HOST") or cls.host,
            port=env_int(env, "VAUCHFLOW_WEB_PORT", cls.port),
            metrics_host=env.get("VAUCHFLOW_WEB_METRICS_HOST") or cls.metrics_host,
            metrics_port=env_int(env, "VAUCHFLOW_WEB_METRICS_PORT", cls.metrics_port),
            allowed_origins=_list(env, "VAUCHFLOW_WEB_ALLOWED_ORIGINS", cls.allowed_origins),
            allowed_hosts=_list(env, "VAUCHFLOW_WEB_ALLOWED_HOSTS", cls.allowed_hosts),
            api_timeout_seconds=env_positive_float(env, "VAUCHFLOW_WEB_API_TIMEOUT_SECONDS", cls.api_timeout_seconds),
            shutdown_drain_delay_seconds=env_non_negative_float(
                env, "VAUCHFLOW_SHUTDOWN_DRAIN_DELAY_SECONDS", cls.shutdown_drain_delay_seconds
            ),
            shutdown_grace_seconds=env_positive_float(
                env, "VAUCHFLOW_SHUTDOWN_GRACE_SECONDS", cls.shutdown_grace_seconds
            ),
            redis_url=env.get("VAUCHFLOW_WEB_REDIS_URL") or env.get("REDIS_URL") or None,
            session_key=_session_key(env, "VAUCHFLOW_WEB_SESSION_KEY"),
            session_idle_seconds=env_int(env, "VAUCHFLOW_WEB_SESSION_IDLE_SECONDS", cls.session_idle_seconds),
            sign_in_failure_limit=env_at_least(
                env, "VAUCHFLOW_WEB_SIGN_IN_FAILURE_LIMIT", 1, cls.sign_in_failure_limit
            ),
            sign_in_failure_window_seconds=env_at_least(
                env, "VAUCHFLOW_WEB_SIGN_IN_FAILURE_WINDOW_SECONDS", 1, cls.sign_in_failure_window_seconds
            ),
        )


def _list(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _session_key(env: Mapping[str, str], name: str) -> bytes:
    raw = env.get(name)
    if not raw:
        return secrets.token_bytes(32)
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{name} must be base64 of 32 bytes") from None
    if len(key) != 32:
        raise ConfigError(f"{name} must be base64 of 32 bytes, got {len(key)} bytes")
    return key
