"""The delivery service's configuration, read once from the environment at the entry point and passed down frozen."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from vauchflow_core.settings import ConfigError, WebhookSettings, env_choice, env_float, env_int
from vauchflow_delivery.http_sender import SenderSettings
from vauchflow_delivery.mailer import TLS_MODES, SmtpSettings, StatusLinks
from vauchflow_delivery.retention import RetentionSettings
from vauchflow_delivery.retry_schedule import DEFAULT_JITTER, RetrySchedule

__all__ = ["ConfigError", "DeliveryConfig"]

DAY_SECONDS = 24 * 60 * 60


@dataclass(frozen=True)
class DeliveryConfig:
    # As vauchflow_delivery (BYPASSRLS, narrow grants): the relay and the dispatcher work across tenants.
    database_url: str
    # As vauchflow_app (RLS-bound): the event stream reads one tenant's events and authenticates API keys.
    app_database_url: str
    webhooks: WebhookSettings
    retry_schedule: RetrySchedule = field(default_factory=RetrySchedule)
    sender: SenderSettings = field(default_factory=SenderSettings)
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 50052
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9464
    # How long a claimed attempt belongs to its worker; a crashed worker's attempt is retried after it.
    # Must exceed the sender's total timeout, or a slow attempt could be sent again while still in flight.
    delivery_lease_seconds: float = 60.0
    max_in_flight: int = 128
    max_in_flight_per_endpoint: int = 32
    # An endpoint failing without a success for this long is disabled (FAILING) and the tenant told by event.
    endpoint_disable_after_seconds: float = 5 * DAY_SECONDS
    # LISTEN/NOTIFY wakes the loops at once; polling covers lost notifications and a dropped listener.
    poll_interval_seconds: float = 1.0
    # The relay polls the outbox (a read-only index probe) this often: the delay it adds before a delivery.
    outbox_poll_seconds: float = 0.02
    # An open event stream re-checks its API key this often; a revoked key's stream ends within about this long.
    stream_reauthorize_seconds: float = 5.0
    relay_batch_size: int = 500
    metrics_refresh_seconds: float = 15.0
    db_pool_min_size: int = 2
    db_pool_max_size: int = 16
    # SIGTERM: how long in-flight attempts and streams may take before their leases are released.
    shutdown_grace_seconds: float = 10.0
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    # Optional: with it, opening an event stream counts against the tenant's request rate and the open-stream cap
    # holds across replicas; without it, the cap holds per process.
    redis_url: str | None = None
    redis_timeout_seconds: float = 0.1
    # Status page notifications: mails go through SMTP when smtp is set (without it they wait and are retried);
    # their links point at status_public_url (the public port, where the web service serves /status).
    smtp: SmtpSettings | None = None
    status_public_url: str = "http://127.0.0.1:8080"
    status_poll_seconds: float = 1.0

    @property
    def status_links(self) -> StatusLinks:
        return StatusLinks(self.status_public_url.rstrip("/"))

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> DeliveryConfig:
        missing = [name for name in ("DATABASE_URL", "APP_DATABASE_URL") if not env.get(name)]
        if missing:
            raise ConfigError(f"missing environment variables: {', '.join(missing)}")
        # e.g. "5s,30s,1m,2m,...": the wait after each failed attempt (retry_schedule.py has the default).
        schedule_text = env.get("VAUCHFLOW_WEBHOOK_RETRY_SCHEDULE")
        jitter = env_float(env, "VAUCHFLOW_WEBHOOK_RETRY_JITTER", DEFAULT_JITTER)
        try:
            schedule = (
                RetrySchedule.parse(schedule_text, jitter=jitter) if schedule_text else RetrySchedule(jitter=jitter)
            )
        except ValueError as error:
            raise ConfigError(f"VAUCHFLOW_WEBHOOK_RETRY_SCHEDULE: {error}") from None
        sender = SenderSettings(
            connect_timeout=env_float(env, "VAUCHFLOW_WEBHOOK_CONNECT_TIMEOUT_SECONDS", SenderSettings.connect_timeout),
            total_timeout=env_float(env, "VAUCHFLOW_WEBHOOK_TIMEOUT_SECONDS", SenderSettings.total_timeout),
        )
        retention = RetentionSettings(
            idempotency_key_seconds=env_float(env, "VAUCHFLOW_RETENTION_IDEMPOTENCY_KEY_HOURS", 24) * 3600,
            event_seconds=env_float(env, "VAUCHFLOW_RETENTION_EVENT_DAYS", 30) * 24 * 3600,
            interval_seconds=env_float(env, "VAUCHFLOW_RETENTION_INTERVAL_SECONDS", RetentionSettings.interval_seconds),
        )
        if min(retention.idempotency_key_seconds, retention.event_seconds, retention.interval_seconds) <= 0:
            raise ConfigError("VAUCHFLOW_RETENTION_* must be positive")
        smtp = None
        if env.get("VAUCHFLOW_SMTP_HOST"):
            smtp = SmtpSettings(
                host=env["VAUCHFLOW_SMTP_HOST"],
                port=env_int(env, "VAUCHFLOW_SMTP_PORT", SmtpSettings.port),
                username=env.get("VAUCHFLOW_SMTP_USERNAME", ""),
                password=env.get("VAUCHFLOW_SMTP_PASSWORD", ""),
                sender=env.get("VAUCHFLOW_SMTP_FROM") or SmtpSettings.sender,
                tls=env_choice(env, "VAUCHFLOW_SMTP_TLS", TLS_MODES, SmtpSettings.tls),
                timeout_seconds=env_float(env, "VAUCHFLOW_SMTP_TIMEOUT_SECONDS", SmtpSettings.timeout_seconds),
            )
        config = cls(
            smtp=smtp,
            status_public_url=env.get("VAUCHFLOW_STATUS_PUBLIC_URL") or cls.status_public_url,
            status_poll_seconds=env_float(env, "VAUCHFLOW_STATUS_NOTIFY_POLL_SECONDS", cls.status_poll_seconds),
            redis_url=env.get("REDIS_URL") or None,
            redis_timeout_seconds=env_float(env, "VAUCHFLOW_REDIS_TIMEOUT_SECONDS", cls.redis_timeout_seconds),
            retention=retention,
            database_url=env["DATABASE_URL"],
            app_database_url=env["APP_DATABASE_URL"],
            webhooks=WebhookSettings.from_env(env),
            retry_schedule=schedule,
            sender=sender,
            grpc_host=env.get("VAUCHFLOW_DELIVERY_GRPC_HOST") or cls.grpc_host,
            grpc_port=env_int(env, "VAUCHFLOW_DELIVERY_GRPC_PORT", cls.grpc_port),
            metrics_host=env.get("VAUCHFLOW_DELIVERY_METRICS_HOST") or cls.metrics_host,
            metrics_port=env_int(env, "VAUCHFLOW_DELIVERY_METRICS_PORT", cls.metrics_port),
            delivery_lease_seconds=env_float(env, "VAUCHFLOW_DELIVERY_LEASE_SECONDS", cls.delivery_lease_seconds),
            stream_reauthorize_seconds=env_float(
                env, "VAUCHFLOW_STREAM_REAUTHORIZE_SECONDS", cls.stream_reauthorize_seconds
            ),
            max_in_flight=env_int(env, "VAUCHFLOW_DELIVERY_MAX_IN_FLIGHT", cls.max_in_flight),
            max_in_flight_per_endpoint=env_int(
                env, "VAUCHFLOW_DELIVERY_MAX_IN_FLIGHT_PER_ENDPOINT", cls.max_in_flight_per_endpoint
            ),
            endpoint_disable_after_seconds=env_float(
                env, "VAUCHFLOW_ENDPOINT_DISABLE_AFTER_SECONDS", cls.endpoint_disable_after_seconds
            ),
            poll_interval_seconds=env_float(env, "VAUCHFLOW_DELIVERY_POLL_SECONDS", cls.poll_interval_seconds),
            outbox_poll_seconds=env_float(env, "VAUCHFLOW_DELIVERY_OUTBOX_POLL_SECONDS", cls.outbox_poll_seconds),
            relay_batch_size=env_int(env, "VAUCHFLOW_RELAY_BATCH_SIZE", cls.relay_batch_size),
            metrics_refresh_seconds=env_float(env, "VAUCHFLOW_METRICS_REFRESH_SECONDS", cls.metrics_refresh_seconds),
            db_pool_min_size=env_int(env, "VAUCHFLOW_DB_POOL_MIN", cls.db_pool_min_size),
            db_pool_max_size=env_int(env, "VAUCHFLOW_DB_POOL_MAX", cls.db_pool_max_size),
            shutdown_grace_seconds=env_float(env, "VAUCHFLOW_SHUTDOWN_GRACE_SECONDS", cls.shutdown_grace_seconds),
        )
        config.check()
        return config

    def check(self) -> None:
        positive = {
            "VAUCHFLOW_DELIVERY_LEASE_SECONDS": self.delivery_lease_seconds,
            "VAUCHFLOW_DELIVERY_MAX_IN_FLIGHT": self.max_in_flight,
            "VAUCHFLOW_DELIVERY_MAX_IN_FLIGHT_PER_ENDPOINT": self.max_in_flight_per_endpoint,
            "VAUCHFLOW_ENDPOINT_DISABLE_AFTER_SECONDS": self.endpoint_disable_after_seconds,
            "VAUCHFLOW_DELIVERY_POLL_SECONDS": self.poll_interval_seconds,
            "VAUCHFLOW_DELIVERY_OUTBOX_POLL_SECONDS": self.outbox_poll_seconds,
            "VAUCHFLOW_RELAY_BATCH_SIZE": self.relay_batch_size,
            "VAUCHFLOW_METRICS_REFRESH_SECONDS": self.metrics_refresh_seconds,
            "VAUCHFLOW_STREAM_REAUTHORIZE_SECONDS": self.stream_reauthorize_seconds,
            "VAUCHFLOW_STATUS_NOTIFY_POLL_SECONDS": self.status_poll_seconds,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ConfigError(f"{name} must be positive, got {value}")
        if self.delivery_lease_seconds <= self.sender.total_timeout:
            # Otherwise an attempt still waiting for its response could be claimed and sent again.
            raise ConfigError(
                "VAUCHFLOW_DELIVERY_LEASE_SECONDS must exceed VAUCHFLOW_WEBHOOK_TIMEOUT_SECONDS "
                f"({self.delivery_lease_seconds} <= {self.sender.total_timeout})"
            )
