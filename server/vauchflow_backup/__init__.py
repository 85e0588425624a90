"""The backup job: daily base backups and continuous WAL streaming for point-in-time recovery, verification,
retention and a currency metric, all built on PostgreSQL's own tools (pg_basebackup, pg_receivewal,
pg_verifybackup). Runs as its own process: `python -m vauchflow_backup` (see __main__.py for the commands)."""

from vauchflow_backup.catalog import BackupRecord, Catalog
from vauchflow_backup.config import BackupConfig, ConfigError
from vauchflow_backup.repository import Repository

__all__ = ["BackupConfig", "BackupRecord", "Catalog", "ConfigError", "Repository"]
