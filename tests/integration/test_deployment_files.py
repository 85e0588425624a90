"""docker-compose.yml and the Dockerfile describe the deployment; they must stay valid and keep matching the
real entry points and the environment variables the code reads. (No Docker engine runs here, so these are checked
by schema and against the code, not by starting containers.)"""

from __future__ import annotations

import base64
import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from ruamel.yaml import YAML

from vauchflow_backup.config import BackupConfig
from vauchflow_core.settings import SECRET_FILE_SUFFIX, with_secret_files
from vauchflow_delivery.config import DeliveryConfig
from vauchflow_devstack.envoy import envoy_binary
from vauchflow_server.config import ServerConfig

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
_INTERPOLATION = re.compile(r"\$\{(\w+)(?::?[-?][^}]*)?\}")


def _compose() -> dict:
    return YAML(typ="safe").load(COMPOSE_FILE.read_text())


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    # The compose-spec schema ships inside check-jsonschema, so this needs no network.
    return subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _interpolated(environment: dict[str, object], values: dict[str, str]) -> dict[str, str]:
    """Resolves ${NAME}, ${NAME:?message} and ${NAME:-default} the way compose does, from values."""
    return {key: _INTERPOLATION.sub(lambda m: values[m[1]], str(value)) for key, value in environment.items()}


class _RecordingEnv(dict[str, str]):
    """An environment that remembers which names were looked up."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def get(self, key, default=None):  # type: ignore[override]
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return super().__contains__(key)


SECRETS = {
    "POSTGRES_PASSWORD": "owner-secret",
    "VAUCHFLOW_APP_DB_PASSWORD": "app-secret",
    "VAUCHFLOW_DELIVERY_DB_PASSWORD": "delivery-secret",
    "VAUCHFLOW_ADMIN_TOKEN": "vf_op_0123456789abcdef",
    "VAUCHFLOW_WEBHOOK_KEYS": "1:" + base64.b64encode(bytes(range(32))).decode(),
    "VAUCHFLOW_BACKUP_ENCRYPTION_KEY": base64.b64encode(bytes(range(32, 64))).decode(),
    "VAUCHFLOW_WEB_SESSION_KEY": base64.b64encode(bytes(range(64, 96))).decode(),
    "VAUCHFLOW_SMTP_PASSWORD": "smtp-secret",
    "GRAFANA_ADMIN_PASSWORD": "grafana-secret",
}
SECRETS_DIR = "/run/secrets/"


def _environment(service: dict, tmp_path: Path) -> _RecordingEnv:
    """The service's environment as its entry point resolves it: interpolated, and each *_FILE variable replaced by
    the secret file compose mounts (written here from SECRETS, as the top-level secret's source names it)."""
    declared = _compose()["secrets"]
    environment = _interpolated(service["environment"], {**SECRETS, **_OPTIONAL})
    for name, value in list(environment.items()):
        if name.endswith(SECRET_FILE_SUFFIX) and value.startswith(SECRETS_DIR):
            secret = value.removeprefix(SECRETS_DIR)
            assert secret in service.get("secrets", []), f"{name} reads secret {secret}, which the service lacks"
            file = tmp_path / secret
            file.write_text(SECRETS[declared[secret]["environment"]] + "\n")
            environment[name] = str(file)
    resolved = with_secret_files(environment)
    return _RecordingEnv({k: v for k, v in resolved.items() if not k.endswith(SECRET_FILE_SUFFIX)})


# Optional settings (their defaults, and a mail relay so the SMTP settings are read too).
_OPTIONAL = {"VAUCHFLOW_SMTP_HOST": "mail.example.com", "VAUCHFLOW_SMTP_PORT": "587", "VAUCHFLOW_SMTP_USERNAME": "",
                   "VAUCHFLOW_SMTP_FROM": "Vauchflow status <status@localhost>", "VAUCHFLOW_SMTP_TLS": "starttls",
                   "VAUCHFLOW_PUBLIC_ORIGIN": "http://localhost:8080", "VAUCHFLOW_PUBLIC_HOST": "localhost:8080",
                   "VAUCHFLOW_PROBE_API_KEY": ""}  # fmt: skip


def test_compose_file_is_valid_against_the_compose_spec() -> None:
    result = _validate(COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_spec_validation_rejects_a_misspelt_key(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE_FILE.read_text().replace("healthcheck:", "healthchek:", 1))
    result = _validate(broken)
    assert result.returncode != 0
    assert "healthchek" in result.stdout + result.stderr


def test_server_service_runs_the_real_entry_point_with_the_variables_it_reads(tmp_path: Path) -> None:
    server = _compose()["services"]["server"]
    assert server["command"] == ["python", "-m", "vauchflow_server"]
    assert importlib.util.find_spec("vauchflow_server.__main__") is not None

    environment = _environment(server, tmp_path)
    config = ServerConfig.from_env(environment)
    unread = set(environment) - environment.read
    assert not unread, f"compose sets variables the server never reads: {sorted(unread)}"
    assert config.database_url.startswith("postgresql://vauchflow_app:app-secret@postgres:5432/")
    assert config.redis_url == "redis://redis:6379/0"
    assert config.admin_token == SECRETS["VAUCHFLOW_ADMIN_TOKEN"]
    assert config.webhooks.key_ring.key(1) == bytes(range(32))
    # Production: https only, and no private address is allow-listed.
    assert (config.webhooks.allow_http, config.webhooks.allowed_networks) == (False, ())
    assert (config.grpc_host, config.grpc_port) == ("0.0.0.0", 50051)
    assert server["expose"] == [str(config.grpc_port), str(config.metrics_port)]
    assert "ports" not in server, "the API server is reached through the gateway"


def test_webhooks_service_runs_the_delivery_entry_point_with_the_variables_it_reads(tmp_path: Path) -> None:
    services = _compose()["services"]
    webhooks = services["webhooks"]
    assert webhooks["command"] == ["python", "-m", "vauchflow_delivery"]
    assert importlib.util.find_spec("vauchflow_delivery.__main__") is not None

    environment = _environment(webhooks, tmp_path)
    config = DeliveryConfig.from_env(environment)
    unread = set(environment) - environment.read
    assert not unread, f"compose sets variables the delivery service never reads: {sorted(unread)}"
    assert config.database_url.startswith("postgresql://vauchflow_delivery:delivery-secret@postgres:5432/")
    assert config.app_database_url.startswith("postgresql://vauchflow_app:app-secret@postgres:5432/")
    assert config.webhooks.key_ring.key(1) == bytes(range(32))
    assert (config.webhooks.allow_http, config.webhooks.allowed_networks) == (False, ())
    assert (config.grpc_host, config.grpc_port, config.metrics_port) == ("0.0.0.0", 50052, 9464)
    assert config.smtp is not None and (config.smtp.host, config.smtp.port) == ("mail.example.com", 587)
    assert config.smtp.password == SECRETS["VAUCHFLOW_SMTP_PASSWORD"]  # from the secret file
    assert config.status_public_url == "http://localhost:8080"
    assert webhooks["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert "VAUCHFLOW_DELIVERY_DB_PASSWORD" in services["migrate"]["environment"]


def test_migrate_service_runs_the_migration_entry_point_as_the_database_owner() -> None:
    services = _compose()["services"]
    migrate, postgres = services["migrate"], services["postgres"]
    assert migrate["command"] == ["python", "-m", "vauchflow_server.cli.migrate"]
    assert importlib.util.find_spec("vauchflow_server.cli.migrate") is not None
    source = (REPO / "server" / "vauchflow_server" / "cli" / "migrate.py").read_text()
    for name in migrate["environment"]:
        assert f'"{name}"' in source, f"vauchflow_server.cli.migrate does not read {name}"
    owner = _interpolated(postgres["environment"], SECRETS)
    # The image reads its password from the secret file; it is the one the owner's URL carries.
    assert owner.pop("POSTGRES_PASSWORD_FILE") == SECRETS_DIR + "postgres_password"
    assert _compose()["secrets"]["postgres_password"] == {"environment": "POSTGRES_PASSWORD"}
    owner["POSTGRES_PASSWORD"] = SECRETS["POSTGRES_PASSWORD"]
    database_url = _interpolated(migrate["environment"], SECRETS)["DATABASE_URL"]
    assert database_url == (
        f"postgresql://{owner['POSTGRES_USER']}:{owner['POSTGRES_PASSWORD']}@postgres:5432/{owner['POSTGRES_DB']}"
    )
    assert services["server"]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}


def test_backup_service_runs_the_backup_job_with_the_variables_it_reads(tmp_path: Path) -> None:
    services = _compose()["services"]
    backup = services["backup"]
    assert backup["command"] == ["python", "-m", "vauchflow_backup"]
    assert importlib.util.find_spec("vauchflow_backup.__main__") is not None
    assert backup["build"] == {"context": ".", "target": "backup"}
    assert "FROM python:3.11-slim AS backup" in (REPO / "Dockerfile").read_text()

    environment = _environment(backup, tmp_path)
    config = BackupConfig.from_env(environment)
    unread = set(environment) - environment.read
    assert not unread, f"compose sets variables the backup job never reads: {sorted(unread)}"
    assert config.database_url.startswith("postgresql://vauchflow_owner:owner-secret@postgres:5432/")
    assert config.encryption_key == bytes(range(32, 64))
    assert (config.metrics_host, config.metrics_port, config.keep_backups) == ("0.0.0.0", 9466, 7)
    volume, mount = backup["volumes"][0].split(":")[:2]
    assert volume in _compose()["volumes"] and str(config.repository_dir) == mount
    # PostgreSQL admits the job's replication connections (the image allows them from its own loopback only).
    init_script = services["postgres"]["volumes"][1].split(":")[0]
    assert "host replication" in (REPO / init_script).read_text()


def test_every_long_running_service_has_a_healthcheck() -> None:
    services = _compose()["services"]
    for name in ("postgres", "redis", "server", "webhooks", "backup", "envoy", "prober", "prometheus", "grafana"):
        assert services[name]["healthcheck"]["test"], name


def test_dockerfile_builds_the_server_image_as_a_non_root_user() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    keywords = {}  # the last value of each instruction; continuation lines are indented
    for line in dockerfile.splitlines():
        if line.strip() and not line.startswith(("#", " ")):
            keyword, _, rest = line.partition(" ")
            keywords[keyword] = rest
    assert keywords["FROM"] == "python:3.11-slim"
    assert keywords["CMD"] == '["python", "-m", "vauchflow_server"]'
    assert keywords["USER"] not in ("root", "0")
    # Third-party packages only hash-checked from the lock; the repository's own packages from their folders.
    assert "pip install --require-hashes -r /app/requirements/runtime.lock" in dockerfile
    assert "pip install --no-deps /app/clients/python /app" in dockerfile
    assert (REPO / "requirements" / "runtime.lock").is_file()


def test_the_server_does_not_depend_on_a_package_index_name_for_its_own_client() -> None:
    """A bare `vauchflow` requirement could be satisfied by someone else's package of that name."""
    server = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert not any(re.match(r"vauchflow\b(?!-)", dependency) for dependency in server["dependencies"])
    lock = (REPO / "requirements" / "dev.lock").read_text()
    assert not re.search(r"^vauchflow[=\[ ]", lock, re.MULTILINE)


def test_envoy_service_loads_the_generated_gateway_config_that_points_at_the_server(tmp_path: Path) -> None:
    services = _compose()["services"]
    envoy = services["envoy"]
    config_path = envoy["command"][envoy["command"].index("-c") + 1]
    mount_source, mount_target = envoy["volumes"][0].split(":")[:2]
    assert mount_source == "./gateway/generated"
    local_config = REPO / "gateway" / "generated" / Path(config_path).relative_to(mount_target)
    rendered = local_config.read_text()
    server_port = services["server"]["environment"]["VAUCHFLOW_GRPC_PORT"]
    assert f'"address": "server", "port_value": {server_port}' in rendered
    assert "type: STRICT_DNS" in rendered
    assert envoy["ports"] == ["8080:8080"] and "port_value: 8080" in rendered
    descriptor_inside = f"{mount_target}/vauchflow.pb"
    assert descriptor_inside in rendered
    # Envoy itself validates the file, with the descriptor set at its path in this checkout.
    checkable = tmp_path / "envoy.yaml"
    checkable.write_text(rendered.replace(descriptor_inside, str(REPO / "gateway" / "generated" / "vauchflow.pb")))
    result = subprocess.run(
        [str(envoy_binary()), "--mode", "validate", "-c", str(checkable), "-l", "error"],
        capture_output=True, text=True, timeout=60,
    check=False,
)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_web_service_runs_its_entry_point_with_the_variables_it_reads(tmp_path: Path) -> None:
    web = _compose()["services"]["web"]
    assert web["command"] == ["python", "-m", "vauchflow_web"]
    source = (REPO / "server" / "vauchflow_web" / "config.py").read_text()
    environment = _environment(web, tmp_path)
    assert environment["VAUCHFLOW_WEB_SESSION_KEY"] == SECRETS["VAUCHFLOW_WEB_SESSION_KEY"]
    for name in environment:
        assert f'"{name}"' in source, f"vauchflow_web.config does not read {name}"
    assert "ports" not in web  # replicable: Envoy reaches it inside the network
    assert web["healthcheck"]["test"]


def test_prober_service_runs_its_entry_point_with_the_variables_it_reads(tmp_path: Path) -> None:
    prober = _compose()["services"]["prober"]
    assert prober["command"] == ["python", "-m", "vauchflow_prober"]
    assert importlib.util.find_spec("vauchflow_prober.__main__") is not None
    source = (REPO / "server" / "vauchflow_prober" / "config.py").read_text()
    environment = _environment(prober, tmp_path)
    assert environment["VAUCHFLOW_ADMIN_TOKEN"] == SECRETS["VAUCHFLOW_ADMIN_TOKEN"]
    for name in environment:
        assert f'"{name}"' in source, f"vauchflow_prober.config does not read {name}"
    assert "ports" not in prober


def test_prometheus_loads_the_alerting_pack_and_scrapes_every_metrics_port() -> None:
    services = _compose()["services"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in services["prometheus"]["volumes"]
    config = YAML(typ="safe").load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    assert (REPO / "deploy" / "prometheus" / "alerts.yml").is_file()
    scraped = set()
    for job in config["scrape_configs"]:
        for sd in job.get("dns_sd_configs", []):
            scraped.update(f"{name}:{sd['port']}" for name in sd["names"])
        for static in job.get("static_configs", []):
            scraped.update(static["targets"])
    assert scraped == {"server:9465", "webhooks:9464", "web:9468", "prober:9467", "backup:9466"}
    assert "9465" in services["server"]["expose"]


def test_replicated_services_scale_by_the_dev_stacks_variables_without_host_ports() -> None:
    """Issue 18: server, webhooks and web scale like the dev stack (VAUCHFLOW_*_REPLICAS); a fixed host port would
    make a second replica fail to start, so each is reached inside the network (Envoy, Prometheus by DNS)."""
    services = _compose()["services"]
    for name, variable in (("server", "VAUCHFLOW_API_REPLICAS"), ("webhooks", "VAUCHFLOW_DELIVERY_REPLICAS"),
                           ("web", "VAUCHFLOW_WEB_REPLICAS")):  # fmt: skip
        service = services[name]
        assert "ports" not in service, name
        assert service["deploy"]["replicas"] == f"${{{variable}:-1}}", name
        assert _interpolated({"replicas": service["deploy"]["replicas"]}, {variable: "3"}) == {"replicas": "3"}
    # The webhook replicas count a tenant's event streams together, in Redis.
    assert services["webhooks"]["environment"]["REDIS_URL"] == services["server"]["environment"]["REDIS_URL"]


def test_secrets_reach_the_containers_as_files_never_as_plain_environment() -> None:
    compose = _compose()
    declared = compose["secrets"]
    assert {secret["environment"] for secret in declared.values()} <= set(SECRETS)
    expected_files = {
        "server": {"VAUCHFLOW_ADMIN_TOKEN_FILE", "VAUCHFLOW_WEBHOOK_KEYS_FILE"},
        "webhooks": {"VAUCHFLOW_WEBHOOK_KEYS_FILE", "VAUCHFLOW_SMTP_PASSWORD_FILE"},
        "web": {"VAUCHFLOW_WEB_SESSION_KEY_FILE"},
        "backup": {"VAUCHFLOW_BACKUP_ENCRYPTION_KEY_FILE"},
        "prober": {"VAUCHFLOW_ADMIN_TOKEN_FILE"},
        "postgres": {"POSTGRES_PASSWORD_FILE"},
        "grafana": {"GF_SECURITY_ADMIN_PASSWORD__FILE"},
    }
    secret_values = {value for name, value in SECRETS.items() if not name.endswith("DB_PASSWORD")}
    secret_values.discard(SECRETS["POSTGRES_PASSWORD"])  # inside the owner's DATABASE_URL (migrate, backup)
    for name, service in compose["services"].items():
        environment = service.get("environment", {})
        files = {key for key, value in environment.items() if str(value).startswith(SECRETS_DIR)}
        assert files == expected_files.get(name, set()), name
        for key in files:
            assert environment[key].removeprefix(SECRETS_DIR) in service["secrets"], (name, key)
            assert environment[key].removeprefix(SECRETS_DIR) in declared, (name, key)
        plain = _interpolated(environment, {**SECRETS, **_OPTIONAL})
        leaked = [key for key, value in plain.items() if value in secret_values]
        assert not leaked, f"{name} passes secrets as environment variables: {leaked}"
