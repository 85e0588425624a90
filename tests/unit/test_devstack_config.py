"""The dev stack's settings and the app connection it derives from the owner's."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from vauchflow_devstack.config import ConfigError, DevstackConfig
from vauchflow_devstack.redis import CLUSTER_BUS_OFFSET, free_cluster_ports
from vauchflow_devstack.stack import app_dsn, without_password


def test_defaults_start_everything_embedded_on_the_documented_ports(tmp_path: Path) -> None:
    config = DevstackConfig.from_env({}, tmp_path / ".data")
    assert config.owner_database_url is None and config.redis_url is None and config.admin_token is None
    assert (config.postgres_port, config.redis_port, config.grpc_port) == (54329, 63799, 50051)
    assert config.grpc_host == "127.0.0.1"
    assert config.data_dir == (tmp_path / ".data").resolve()


def test_every_port_and_the_data_folder_are_overridable(tmp_path: Path) -> None:
    config = DevstackConfig.from_env(
        {
            "VAUCHFLOW_PG_PORT": "1111",
            "VAUCHFLOW_REDIS_PORT": "2222",
            "VAUCHFLOW_GRPC_PORT": "3333",
            "VAUCHFLOW_DATA_DIR": str(tmp_path / "elsewhere"),
        },
        tmp_path / ".data",
    )
    assert (config.postgres_port, config.redis_port, config.grpc_port) == (1111, 2222, 3333)
    assert config.data_dir == tmp_path / "elsewhere"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"VAUCHFLOW_PG_PORT": "fifty"}, "VAUCHFLOW_PG_PORT must be a port number"),
        ({"VAUCHFLOW_GRPC_PORT": "0"}, "VAUCHFLOW_GRPC_PORT must be between 1 and 65535"),
        ({"DATABASE_URL": "host=db user=me"}, "DATABASE_URL must be a postgresql:// URL"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL must be a redis://"),
        ({"VAUCHFLOW_ADMIN_TOKEN": "short"}, "at least 16 characters"),
    ],
)
def test_bad_settings_are_rejected_with_the_variable_named(
    tmp_path: Path, environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        DevstackConfig.from_env(environ, tmp_path)


def test_app_dsn_swaps_only_the_credentials() -> None:
    owner = "postgresql://owner:s3cret@db.internal:6432/vauchflow?sslmode=require"
    assert app_dsn(owner, "p@ss/word") == (
        "postgresql://vauchflow_app:p%40ss%2Fword@db.internal:6432/vauchflow?sslmode=require"
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://owner:s3cret@db:5432/vauchflow", "postgresql://owner@db:5432/vauchflow"),
        ("redis://:s3cret@cache:6379/0", "redis://cache:6379/0"),
        ("redis://127.0.0.1:63799/0", "redis://127.0.0.1:63799/0"),
    ],
)
def test_urls_are_shown_without_their_password(url: str, shown: str) -> None:
    assert without_password(url) == shown


def test_every_port_the_stack_listens_on_is_checked_free_and_denied_to_webhooks(tmp_path: Path) -> None:
    """listening_ports() feeds both the free-port check and VAUCHFLOW_WEBHOOK_DENY_PORTS: a new *_port setting
    that it forgets fails here."""
    config = DevstackConfig.from_env({"VAUCHFLOW_API_REPLICAS": "2"}, tmp_path)
    listed = {port for _, port in config.listening_ports()}
    for field in dataclasses.fields(config):
        if field.name.endswith("_port") and getattr(config, field.name) is not None:
            assert getattr(config, field.name) in listed, field.name
    assert set(config.api_ports) | set(config.api_metrics_ports) | {config.delivery_port} <= listed


def test_the_backup_job_runs_by_default_on_its_own_metrics_port_and_can_be_turned_off(tmp_path: Path) -> None:
    config = DevstackConfig.from_env({}, tmp_path)
    assert config.backups and config.backup_metrics_port == 9466 and config.backup_dir == tmp_path.resolve() / "backups"
    assert not DevstackConfig.from_env({"VAUCHFLOW_BACKUPS": "off"}, tmp_path).backups
    with pytest.raises(ConfigError, match="VAUCHFLOW_BACKUPS must be on or off"):
        DevstackConfig.from_env({"VAUCHFLOW_BACKUPS": "sometimes"}, tmp_path)


def test_a_dev_redis_cluster_takes_six_ports_and_their_bus_ports_all_denied_to_webhooks(tmp_path: Path) -> None:
    config = DevstackConfig.from_env({"VAUCHFLOW_DEV_REDIS": "cluster", "VAUCHFLOW_REDIS_CLUSTER_PORT": "30001"},
                                     tmp_path)  # fmt: skip
    assert config.redis_cluster
    listed = {port for _, port in config.listening_ports()}
    clients = set(range(30001, 30007))
    assert clients | {port + 10000 for port in clients} <= listed
    assert config.redis_port not in listed  # the single Redis does not run beside the cluster
    assert not DevstackConfig.from_env({}, tmp_path).redis_cluster


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"VAUCHFLOW_DEV_REDIS": "sharded"}, "VAUCHFLOW_DEV_REDIS must be single or cluster"),
        ({"VAUCHFLOW_DEV_REDIS": "cluster", "VAUCHFLOW_REDIS_CLUSTER_PORT": "60000"}, "bus ports"),
    ],
)
def test_bad_redis_cluster_settings_are_rejected(tmp_path: Path, environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        DevstackConfig.from_env(environ, tmp_path)


def test_a_cluster_redis_url_is_accepted(tmp_path: Path) -> None:
    config = DevstackConfig.from_env({"REDIS_URL": "redis+cluster://cache-0.internal:6379"}, tmp_path)
    assert config.redis_url == "redis+cluster://cache-0.internal:6379"


def test_replicated_services_move_to_their_design_port_ranges_and_every_port_is_listed(tmp_path: Path) -> None:
    config = DevstackConfig.from_env(
        {"VAUCHFLOW_API_REPLICAS": "2", "VAUCHFLOW_DELIVERY_REPLICAS": "3", "VAUCHFLOW_WEB_REPLICAS": "2"}, tmp_path
    )
    assert config.api_ports == (50051, 50052) and config.api_metrics_ports == (9470, 9471)
    assert config.delivery_ports == (50061, 50062, 50063) and config.delivery_metrics_ports == (9480, 9481, 9482)
    assert config.web_ports == (8081, 8082) and config.web_metrics_ports == (9490, 9491)
    listed = [port for _, port in config.listening_ports()]
    assert len(listed) == len(set(listed))
    assert {
        *config.delivery_ports,
        *config.delivery_metrics_ports,
        *config.web_ports,
        *config.web_metrics_ports,
    } <= set(listed)
    # One replica each: the single-process defaults, as before.
    single = DevstackConfig.from_env({}, tmp_path)
    assert (single.delivery_ports, single.delivery_metrics_ports) == ((50052,), (9464,))
    assert (single.web_ports, single.web_metrics_ports, single.api_metrics_ports) == ((8081,), (9468,), (9465,))


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"VAUCHFLOW_WEB_REPLICAS": "10"}, "VAUCHFLOW_WEB_REPLICAS must be between 1 and 9"),
        ({"VAUCHFLOW_DELIVERY_REPLICAS": "two"}, "VAUCHFLOW_DELIVERY_REPLICAS must be a number"),
        # Two web replicas from 8081 would take 8082, where the public port was put.
        ({"VAUCHFLOW_WEB_REPLICAS": "2", "VAUCHFLOW_PUBLIC_PORT": "8082"}, "both take port 8082"),
    ],
)
def test_bad_replica_settings_are_rejected(tmp_path: Path, environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        DevstackConfig.from_env(environ, tmp_path)


def test_a_cluster_for_tests_takes_ports_below_the_ephemeral_range_bus_ports_included() -> None:
    """Outgoing connections take ports from the ephemeral range at any moment: a cluster port there could be taken
    between the check that it is free and the node's bind."""
    floor = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(20):
        first = free_cluster_ports(6)
        assert first > 1024 and first + 5 + CLUSTER_BUS_OFFSET < floor
