"""The dev stack's settings, read once from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


def default_data_dir() -> Path:
    """.data/ at the repository root when running from a checkout (editable install), else in the current folder."""
    repo_root = Path(__file__).resolve().parents[2]
    if (repo_root / "Makefile").exists() and (repo_root / "server").is_dir():
        return repo_root / ".data"
    return Path.cwd() / ".data"


class ConfigError(ValueError):
    """An environment variable has a value the dev stack cannot use."""


@dataclass(frozen=True)
class DevstackConfig:
    data_dir: Path
    # None: start an embedded PostgreSQL / Redis under data_dir.
    owner_database_url: str | None
    redis_url: str | None
    postgres_port: int
    redis_port: int
    grpc_host: str
    grpc_port: int
    admin_token: str | None
    # Envoy's public port (REST, gRPC, /actuator/health) and admin port; API replicas behind it.
    public_port: int = 8080
    envoy_admin_port: int = 9901
    api_replicas: int = 1
    # The webhook delivery service's gRPC port (None: 50052, or the port after the last API replica when a
    # replica already takes 50052) and its Prometheus metrics port.
    delivery_grpc_port: int | None = None
    delivery_metrics_port: int = 9464
    # API replica i serves Prometheus metrics on api_metrics_port + i.
    api_metrics_port: int = 9465
    # The web service (MCP server, dashboard, status page) behind Envoy, and its Prometheus metrics.
    web_port: int = 8081
    web_metrics_port: int = 9468
    # The backup job runs when PostgreSQL is the embedded one, unless VAUCHFLOW_BACKUPS=off (the benchmark turns it
    # off: a start-up base backup competing for the CPU would skew its figures). Its Prometheus metrics port.
    backups: bool = True
    backup_metrics_port: int = 9466
    # The prober's Prometheus metrics, and the backup job's it reads (issue 14; "not deployed" while nothing
    # listens there).
    prober_metrics_port: int = 9467
    backup_metrics_url: str = "http://127.0.0.1:9466/metrics"
    database_name: str = "vauchflow"
    ready_timeout: float = 90.0
    # A streaming hot standby of the embedded PostgreSQL that the API servers' lists read from, on this port
    # (VAUCHFLOW_DEV_PG_REPLICA=1; VAUCHFLOW_PG_REPLICA_PORT, default 54330); None: none. Or an external replica's
    # owner URL (DATABASE_REPLICA_URL, beside an external DATABASE_URL).
    postgres_replica_port: int | None = None
    replica_owner_database_url: str | None = None
    # VAUCHFLOW_DEV_REDIS=cluster: the embedded Redis is a Redis Cluster (three masters, one replica each) on six
    # ports from redis_cluster_port_base, each with its cluster bus port 10000 above (Redis 6's rule).
    redis_cluster: bool = False
    redis_cluster_port_base: int = 46379
    # VAUCHFLOW_DELIVERY_REPLICAS / VAUCHFLOW_WEB_REPLICAS: replica i of a service runs on its port + i (gRPC or
    # HTTP, and metrics). With several replicas a service moves to its DESIGN.md range unless a port is set:
    # webhook service 50061-50069 (metrics 9480-9489), web service 8081-8089 (metrics 9490-9499); API metrics
    # 9470-9479 with several API replicas.
    delivery_replicas: int = 1
    web_replicas: int = 1

    @classmethod
    def from_env(cls, environ: Mapping[str, str], default_data_dir: Path) -> DevstackConfig:
        database_url = environ.get("DATABASE_URL") or None
        if database_url is not None and urlsplit(database_url).scheme not in ("postgres", "postgresql"):
            raise ConfigError("DATABASE_URL must be a postgresql:// URL naming an owner (superuser) connection")
        redis_url = environ.get("REDIS_URL") or None
        if redis_url is not None and urlsplit(redis_url).scheme not in (
            "redis", "rediss", "unix", "redis+cluster", "rediss+cluster"
        ):  # fmt: skip
            raise ConfigError(
                "REDIS_URL must be a redis://, rediss://, unix://, redis+cluster:// or rediss+cluster:// URL"
            )
        dev_redis = (environ.get("VAUCHFLOW_DEV_REDIS") or "single").strip().lower()
        if dev_redis not in ("single", "cluster"):
            raise ConfigError(f"VAUCHFLOW_DEV_REDIS must be single or cluster, got {dev_redis!r}")
        admin_token = environ.get("VAUCHFLOW_ADMIN_TOKEN") or None
        if admin_token is not None and len(admin_token) < 16:
            raise ConfigError("VAUCHFLOW_ADMIN_TOKEN must be at least 16 characters")
        api_replicas = _replicas(environ, "VAUCHFLOW_API_REPLICAS", MAX_API_REPLICAS)
        delivery_replicas = _replicas(environ, "VAUCHFLOW_DELIVERY_REPLICAS", MAX_SERVICE_REPLICAS)
        web_replicas = _replicas(environ, "VAUCHFLOW_WEB_REPLICAS", MAX_SERVICE_REPLICAS)
        return cls(
            data_dir=Path(environ.get("VAUCHFLOW_DATA_DIR") or default_data_dir).resolve(),
            owner_database_url=database_url,
            redis_url=redis_url,
            postgres_port=_port(environ, "VAUCHFLOW_PG_PORT", 54329),
            redis_port=_port(environ, "VAUCHFLOW_REDIS_PORT", 63799),
            grpc_host=environ.get("VAUCHFLOW_GRPC_HOST") or "127.0.0.1",
            grpc_port=_port(environ, "VAUCHFLOW_GRPC_PORT", 50051),
            admin_token=admin_token,
            public_port=_port(environ, "VAUCHFLOW_PUBLIC_PORT", 8080),
            envoy_admin_port=_port(environ, "VAUCHFLOW_ENVOY_ADMIN_PORT", 9901),
            api_replicas=api_replicas,
            delivery_grpc_port=_port(environ, "VAUCHFLOW_DELIVERY_GRPC_PORT", 0) or None,
            delivery_metrics_port=_port(
                environ, "VAUCHFLOW_DELIVERY_METRICS_PORT", 9464 if delivery_replicas == 1 else 9480
            ),
            api_metrics_port=_port(environ, "VAUCHFLOW_METRICS_PORT", 9465 if api_replicas == 1 else 9470),
            web_port=_port(environ, "VAUCHFLOW_WEB_PORT", 8081),
            web_metrics_port=_port(environ, "VAUCHFLOW_WEB_METRICS_PORT", 9468 if web_replicas == 1 else 9490),
            delivery_replicas=delivery_replicas,
            web_replicas=web_replicas,
            backups=_on_off(environ, "VAUCHFLOW_BACKUPS"),
            backup_metrics_port=_port(environ, "VAUCHFLOW_BACKUP_METRICS_PORT", 9466),
            prober_metrics_port=_port(environ, "VAUCHFLOW_PROBER_METRICS_PORT", 9467),
            backup_metrics_url=environ.get("VAUCHFLOW_PROBE_BACKUP_METRICS_URL") or "http://127.0.0.1:9466/metrics",
            postgres_replica_port=(
                _port(environ, "VAUCHFLOW_PG_REPLICA_PORT", 54330)
                if _on_off(environ, "VAUCHFLOW_DEV_PG_REPLICA", default="off")
                else None
            ),
            replica_owner_database_url=_replica_url(environ, database_url),
            redis_cluster=dev_redis == "cluster",
            redis_cluster_port_base=_port(environ, "VAUCHFLOW_REDIS_CLUSTER_PORT", 46379),
        )._checked()

    def _checked(self) -> DevstackConfig:
        if self.delivery_grpc_port is not None and self.delivery_grpc_port in self.api_ports:
            raise ConfigError(
                f"VAUCHFLOW_DELIVERY_GRPC_PORT {self.delivery_grpc_port} is an API replica's port "
                f"({', '.join(map(str, self.api_ports))})"
            )
        if self.redis_cluster and self.redis_cluster_port_base + REDIS_CLUSTER_NODES - 1 + 10000 > 65535:
            raise ConfigError(
                f"VAUCHFLOW_REDIS_CLUSTER_PORT {self.redis_cluster_port_base}: the cluster's "
                f"{REDIS_CLUSTER_NODES} nodes need their bus ports (port + 10000) below 65536"
            )
        taken: dict[int, str] = {}
        for setting, port in self.listening_ports():
            if port in taken:
                raise ConfigError(f"{setting} and {taken[port]} both take port {port} (replicas count up from a port)")
            taken[port] = setting
        return self

    def listening_ports(self) -> list[tuple[str, int]]:
        """(setting, port) of everything the stack listens on: checked free before start-up, and refused as
        webhook targets (a tenant's endpoint must never reach Envoy's admin, a metrics port or a database)."""
        ports = [("VAUCHFLOW_GRPC_PORT", port) for port in self.api_ports]
        ports += [("VAUCHFLOW_METRICS_PORT", port) for port in self.api_metrics_ports]
        ports += [("VAUCHFLOW_PUBLIC_PORT", self.public_port), ("VAUCHFLOW_ENVOY_ADMIN_PORT", self.envoy_admin_port)]
        ports += [("VAUCHFLOW_DELIVERY_GRPC_PORT", port) for port in self.delivery_ports]
        ports += [("VAUCHFLOW_DELIVERY_METRICS_PORT", port) for port in self.delivery_metrics_ports]
        ports += [("VAUCHFLOW_WEB_PORT", port) for port in self.web_ports]
        ports += [("VAUCHFLOW_WEB_METRICS_PORT", port) for port in self.web_metrics_ports]
        ports += [("VAUCHFLOW_PROBER_METRICS_PORT", self.prober_metrics_port)]
        if self.owner_database_url is None:
            ports.append(("VAUCHFLOW_PG_PORT", self.postgres_port))
            if self.postgres_replica_port is not None:
                ports.append(("VAUCHFLOW_PG_REPLICA_PORT", self.postgres_replica_port))
            if self.backups:
                ports.append(("VAUCHFLOW_BACKUP_METRICS_PORT", self.backup_metrics_port))
        if self.redis_url is None and self.redis_cluster:
            ports += [("VAUCHFLOW_REDIS_CLUSTER_PORT", port) for port in self.redis_cluster_ports]
        elif self.redis_url is None:
            ports.append(("VAUCHFLOW_REDIS_PORT", self.redis_port))
        return ports

    @property
    def redis_cluster_ports(self) -> tuple[int, ...]:
        """The embedded Redis Cluster's client ports, then their cluster bus ports."""
        clients = tuple(self.redis_cluster_port_base + i for i in range(REDIS_CLUSTER_NODES))
        return clients + tuple(port + 10000 for port in clients)

    @property
    def backup_dir(self) -> Path:
        """The backup repository of the embedded PostgreSQL."""
        return self.data_dir / "backups"

    @property
    def api_ports(self) -> tuple[int, ...]:
        """Replica i listens on grpc_port + i."""
        return tuple(self.grpc_port + i for i in range(self.api_replicas))

    @property
    def api_metrics_ports(self) -> tuple[int, ...]:
        return tuple(self.api_metrics_port + i for i in range(self.api_replicas))

    @property
    def delivery_port(self) -> int:
        """The first webhook service replica's gRPC port."""
        if self.delivery_grpc_port is not None:
            return self.delivery_grpc_port
        if self.delivery_replicas > 1:
            return DELIVERY_REPLICAS_PORT
        return DEFAULT_DELIVERY_PORT if DEFAULT_DELIVERY_PORT not in self.api_ports else max(self.api_ports) + 1

    @property
    def delivery_ports(self) -> tuple[int, ...]:
        return tuple(self.delivery_port + i for i in range(self.delivery_replicas))

    @property
    def delivery_metrics_ports(self) -> tuple[int, ...]:
        return tuple(self.delivery_metrics_port + i for i in range(self.delivery_replicas))

    @property
    def web_ports(self) -> tuple[int, ...]:
        return tuple(self.web_port + i for i in range(self.web_replicas))

    @property
    def web_metrics_ports(self) -> tuple[int, ...]:
        return tuple(self.web_metrics_port + i for i in range(self.web_replicas))


def _port(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if not raw:
        return default
    try:
        port = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a port number, got {raw!r}") from None
    if not 1 <= port <= 65535:
        raise ConfigError(f"{name} must be between 1 and 65535, got {port}")
    return port


def _on_off(environ: Mapping[str, str], name: str, default: str = "on") -> bool:
    raw = (environ.get(name) or default).strip().lower()
    if raw not in ("on", "off", "true", "false", "1", "0"):
        raise ConfigError(f"{name} must be on or off, got {raw!r}")
    return raw in ("on", "true", "1")


MAX_API_REPLICAS = 16
# The webhook and web services' port ranges in DESIGN.md hold nine replicas each.
MAX_SERVICE_REPLICAS = 9
DELIVERY_REPLICAS_PORT = 50061
# Three masters with one replica each.
REDIS_CLUSTER_NODES = 6
DEFAULT_DELIVERY_PORT = 50052


def _replicas(environ: Mapping[str, str], name: str, most: int) -> int:
    raw = environ.get(name)
    if not raw:
        return 1
    try:
        replicas = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not 1 <= replicas <= most:
        raise ConfigError(f"{name} must be between 1 and {most}, got {replicas}")
    return replicas


def _replica_url(environ: Mapping[str, str], database_url: str | None) -> str | None:
    replica_url = environ.get("DATABASE_REPLICA_URL") or None
    if replica_url is None:
        return None
    if urlsplit(replica_url).scheme not in ("postgres", "postgresql"):
        raise ConfigError("DATABASE_REPLICA_URL must be a postgresql:// URL naming an owner connection to the replica")
    if database_url is None:
        raise ConfigError(
            "DATABASE_REPLICA_URL needs DATABASE_URL (its primary); for the embedded PostgreSQL set "
            "VAUCHFLOW_DEV_PG_REPLICA=1 instead"
        )
    return replica_url
