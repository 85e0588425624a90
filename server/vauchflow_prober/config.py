"""The prober's configuration, read once from the environment at the entry point (defaults: the dev stack's ports)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


class ConfigError(ValueError):
    """The environment does not describe a prober that can run."""


@dataclass(frozen=True)
class ProberConfig:
    admin_token: str
    # Envoy's public port: the HTTP checks go to this base URL, the gRPC calls (the probe redemption through the
    # Python client, and the reports to StatusService) to grpc_target.
    public_url: str = "http://127.0.0.1:8080"
    grpc_target: str = "127.0.0.1:8080"
    delivery_metrics_url: str = "http://127.0.0.1:9464/metrics"
    backup_metrics_url: str = "http://127.0.0.1:9466/metrics"
    # The probe tenant's key; when empty the prober provisions a probe tenant (plan SCALE) with the operator token.
    probe_api_key: str = ""
    probe_voucher_code: str = "STATUS-PROBE"
    interval_seconds: float = 30.0
    timeout_seconds: float = 5.0
    # The MCP server must answer initialize within this (the status page's promise).
    mcp_deadline_seconds: float = 1.0
    open_incident_after_failures: int = 3
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = 9467

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ProberConfig:
        token = environ.get("VAUCHFLOW_ADMIN_TOKEN", "")
        if not token:
            raise ConfigError("VAUCHFLOW_ADMIN_TOKEN is required: the prober reports with the operator token")
        defaults = cls(admin_token=token)
        port = environ.get("VAUCHFLOW_PROBER_METRICS_PORT", str(defaults.metrics_port))
        try:
            config = cls(
                admin_token=token,
                public_url=environ.get("VAUCHFLOW_PROBE_PUBLIC_URL", defaults.public_url).rstrip("/"),
                grpc_target=environ.get("VAUCHFLOW_PROBE_GRPC_TARGET", defaults.grpc_target),
                delivery_metrics_url=environ.get("VAUCHFLOW_PROBE_DELIVERY_METRICS_URL", defaults.delivery_metrics_url),
                backup_metrics_url=environ.get("VAUCHFLOW_PROBE_BACKUP_METRICS_URL", defaults.backup_metrics_url),
                probe_api_key=environ.get("VAUCHFLOW_PROBE_API_KEY", ""),
                probe_voucher_code=environ.get("VAUCHFLOW_PROBE_VOUCHER_CODE", defaults.probe_voucher_code),
                interval_seconds=float(environ.get("VAUCHFLOW_PROBE_INTERVAL_SECONDS", defaults.interval_seconds)),
                timeout_seconds=float(environ.get("VAUCHFLOW_PROBE_TIMEOUT_SECONDS", defaults.timeout_seconds)),
                mcp_deadline_seconds=float(environ.get("VAUCHFLOW_PROBE_MCP_DEADLINE_SECONDS", 1.0)),
                open_incident_after_failures=int(environ.get("VAUCHFLOW_PROBE_OPEN_INCIDENT_AFTER", 3)),
                metrics_host=environ.get("VAUCHFLOW_PROBER_METRICS_HOST", defaults.metrics_host),
                metrics_port=int(port) if port else None,
            )
        except ValueError as error:
            raise ConfigError(f"invalid prober setting: {error}") from None
        if config.interval_seconds <= 0 or config.timeout_seconds <= 0:
            raise ConfigError("VAUCHFLOW_PROBE_INTERVAL_SECONDS and VAUCHFLOW_PROBE_TIMEOUT_SECONDS must be positive")
        return config
