"""Reading the environment: the settings every service shares, and the parsers each service's config uses.

Configuration is read once, at a service's entry point, into frozen dataclasses; nothing else reads os.environ.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass

from vauchflow_core.address_policy import AddressPolicy
from vauchflow_core.secret_box import KeyRing, KeyRingError

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
    # Ports never reachable on an allow-listed address: the stack's own (the dev stack derives them from the
    # same settings that start its processes).
    denied_ports: frozenset[int] = frozenset()

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> WebhookSettings:
        """VAUCHFLOW_WEBHOOK_KEYS (required: "1:<base64 32 bytes>,2:..."), VAUCHFLOW_WEBHOOK_ALLOW_NETWORKS
        (comma-separated CIDRs, default none), VAUCHFLOW_WEBHOOK_ALLOW_HTTP (true/false, default false),
        VAUCHFLOW_WEBHOOK_DENY_PORTS (comma-separated ports, default none)."""
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
            allow_http=env_bool(env, "VAUCHFLOW_WEBHOOK_ALLOW_HTTP", False),
            denied_ports=_ports(env, "VAUCHFLOW_WEBHOOK_DENY_PORTS"),
        )

    @property
    def address_policy(self) -> AddressPolicy:
        return AddressPolicy(self.allowed_networks, self.denied_ports)


def _ports(env: Mapping[str, str], name: str) -> frozenset[int]:
    ports = set()
    for raw in (env.get(name) or "").split(","):
        if raw.strip():
            try:
                port = int(raw.strip())
            except ValueError:
                raise ConfigError(f"{name}: {raw.strip()!r} is not a port number") from None
            if not 1 <= port <= 65535:
                raise ConfigError(f"{name}: {port} is not between 1 and 65535")
            ports.add(port)
    return frozenset(ports)


def env_choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = env.get(name) or default
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def env_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def env_at_least(env: Mapping[str, str], name: str, minimum: int, default: int) -> int:
    value = env_int(env, name, default)
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def env_positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    value = _seconds(env, name, default)
    if not value > 0:
        raise ConfigError(f"{name} must be positive, got {env.get(name)!r}")
    return value


def env_non_negative_float(env: Mapping[str, str], name: str, default: float) -> float:
    """Seconds where 0 means "none" (e.g. no drain delay, in tests)."""
    value = _seconds(env, name, default)
    if value < 0:
        raise ConfigError(f"{name} must not be negative, got {env.get(name)!r}")
    return value


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None


def env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def env_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None


SECRET_FILE_SUFFIX = "_FILE"
# Other programs' *_FILE variables (TF_CLI_CONFIG_FILE, ...) are none of ours.
_URL_SETTINGS = ("DATABASE_URL", "APP_DATABASE_URL", "REDIS_URL")


def with_secret_files(env: Mapping[str, str]) -> dict[str, str]:
    """The environment with every VAUCHFLOW_X_FILE (and DATABASE_URL_FILE, ...) read into X when X itself is unset:
    how docker compose `secrets:` (files under /run/secrets) reach a setting without putting it in the
    environment of the container. Called once at each entry point, before the config is read."""
    resolved = dict(env)
    for name, path in env.items():
        if not name.endswith(SECRET_FILE_SUFFIX) or not path:
            continue
        target = name[: -len(SECRET_FILE_SUFFIX)]
        if not (target.startswith("VAUCHFLOW_") or target in _URL_SETTINGS) or env.get(target):
            continue
        try:
            with open(path, encoding="utf-8") as file:
                resolved[target] = file.read().strip()
        except OSError as error:
            # The path is configuration, not a secret; the file's content never appears here.
            raise ConfigError(f"{name}: cannot read {path} ({type(error).__name__})") from None
    return resolved
