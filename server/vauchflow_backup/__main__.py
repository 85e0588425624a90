"""`python -m vauchflow_backup [COMMAND]`: the backup job and its commands.

  run (default)              the long-running job: WAL streaming, daily base backups, retention, metrics
  backup                     take one base backup now (and apply retention)
  list                       the backups in the repository, and the span of time that can be restored
  verify [ID | --all]        check a backup (the newest by default) with its checksums and pg_verifybackup
  restore --target-dir DIR [--time ISO8601] [--backup ID]
                             prepare DIR (new or empty) to recover to a time, or to the newest WAL
  prune                      apply retention now

Configuration comes from the environment (config.py): DATABASE_URL (a replication-capable role; run and backup
only), VAUCHFLOW_BACKUP_DIR, and the optional VAUCHFLOW_BACKUP_* settings. Exit codes: 0 success, 1 the
operation failed (the message says why), 2 bad configuration or arguments.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from vauchflow_backup.base_backup import BackupFailed, BackupUnusable, take_backup, verify_backup
from vauchflow_backup.catalog import CatalogError
from vauchflow_backup.config import BackupConfig, ConfigError
from vauchflow_backup.job import run_job
from vauchflow_backup.offsite import OffsiteCopy, OffsiteFailed
from vauchflow_backup.pg_tools import Interrupted, PgToolFailed
from vauchflow_backup.repository import Repository, RepositoryBusy
from vauchflow_backup.restore import RESTORE_WAL_DIR, RestoreRefused, parse_target_time, restore
from vauchflow_backup.wal_archive import prune
from vauchflow_core.logs import configure_logging
from vauchflow_core.settings import with_secret_files

log = logging.getLogger("vauchflow_backup")

_READ_ONLY_COMMANDS = ("list", "verify", "restore")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vauchflow_backup", description="Vauchflow backups")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="the long-running backup job (default)")
    commands.add_parser("backup", help="take a base backup now")
    commands.add_parser("list", help="list the backups")
    verify = commands.add_parser("verify", help="verify a backup (default: the newest)")
    verify.add_argument("backup_id", nargs="?")
    verify.add_argument("--all", action="store_true", help="verify every backup")
    restore_command = commands.add_parser("restore", help="restore into a new data directory")
    restore_command.add_argument("--target-dir", required=True, type=Path)
    restore_command.add_argument("--time", help="ISO 8601 with a zone, e.g. 2026-12-01T22:40:00Z (default: latest)")
    restore_command.add_argument("--backup", help="restore this backup (default: the newest before --time)")
    commands.add_parser("prune", help="apply retention now")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    command = arguments.command or "run"
    # The job logs at INFO; one-off commands print their result and log only problems.
    configure_logging(os.environ.get("VAUCHFLOW_LOG_LEVEL") or ("INFO" if command == "run" else "WARNING"))
    try:
        config = BackupConfig.from_env(with_secret_files(os.environ), need_database=command not in _READ_ONLY_COMMANDS)
    except ConfigError as error:
        print(f"vauchflow_backup: {error}", file=sys.stderr)
        return 2
    repository = Repository(config.repository_dir)
    try:
        if command == "run":
            return run_job(config)
        if command == "backup":
            return _backup(config, repository)
        if command == "list":
            return _list(repository)
        if command == "verify":
            return _verify(config, repository, arguments.backup_id, arguments.all)
        if command == "restore":
            return _restore(config, repository, arguments.target_dir, arguments.time, arguments.backup)
        if command == "prune":
            with repository.backup_lock():
                pruned = prune(config, repository)
            if config.offsite is not None:
                OffsiteCopy(config.offsite, repository, encrypted=config.encryption_key is not None).forget(
                    pruned.dropped_backups, pruned.removed_wal
                )
            print(f"dropped {len(pruned.dropped_backups)} backup(s) {' '.join(pruned.dropped_backups)}; "
                  f"removed {len(pruned.removed_wal)} WAL file(s)")  # fmt: skip
            return 0
    except BackupFailed as failure:
        print(f"vauchflow_backup: {command} failed ({failure.stage}): {failure.message}", file=sys.stderr)
        return 1
    except (BackupUnusable, RestoreRefused, RepositoryBusy, CatalogError, PgToolFailed, OffsiteFailed) as error:
        print(f"vauchflow_backup: {command}: {error}", file=sys.stderr)
        return 1
    except Interrupted:
        print(f"vauchflow_backup: {command} interrupted", file=sys.stderr)
        return 1
    except OSError as error:
        # Port taken, repository not writable, ...: the message without a traceback.
        where = f" ({error.filename})" if error.filename else ""
        print(f"vauchflow_backup: {command}: {error.strerror or error}{where}", file=sys.stderr)
        return 1
    raise AssertionError(command)


def _backup(config: BackupConfig, repository: Repository) -> int:
    backup = take_backup(config, repository)
    with repository.backup_lock():
        pruned = prune(config, repository)
    dropped = pruned.dropped_backups
    print(
        f"backup {backup.id}: {_size(backup.size_bytes)} in {backup.duration_seconds:.1f}s, verified"
        + (", encrypted" if backup.encrypted else "")
        + (f"; retention dropped {', '.join(dropped)}" if dropped else "")
    )
    if config.offsite is not None:
        offsite = OffsiteCopy(config.offsite, repository, encrypted=config.encryption_key is not None)
        offsite.forget(dropped, pruned.removed_wal)
        uploaded = offsite.sync()
        print(f"off-host copy: {uploaded} file(s) uploaded to s3://{config.offsite.bucket}/{config.offsite.prefix}")
    return 0


def _list(repository: Repository) -> int:
    catalog = repository.read_catalog()
    if not catalog.backups:
        print(f"no backups in {repository.root}")
        return 0
    print(f"{'backup':<22} {'finished (UTC)':<20} {'size':>9} {'took':>7}  status")
    for backup in catalog.backups:
        status = "ok" if backup.restorable else f"DAMAGED: {backup.damaged}"
        if backup.encrypted:
            status += " (encrypted)"
        print(f"{backup.id:<22} {_utc(backup.finished_at):<20} {_size(backup.size_bytes):>9} "
              f"{backup.duration_seconds:>6.1f}s  {status}")  # fmt: skip
    restorable = catalog.restorable
    newest_wal = repository.newest_wal_modified_at()
    if restorable and newest_wal is not None:
        print(f"restorable: any time from {_utc(restorable[0].finished_at)} to {_utc(newest_wal)} (newest WAL)")
    return 0


def _verify(config: BackupConfig, repository: Repository, backup_id: str | None, every: bool) -> int:
    catalog = repository.read_catalog()
    if every:
        ids = [backup.id for backup in catalog.backups]
    elif backup_id is not None:
        ids = [backup_id]
    else:
        last = catalog.last_backup
        if last is None:
            print(f"vauchflow_backup: verify: no backups in {repository.root}", file=sys.stderr)
            return 1
        ids = [last.id]
    failed = 0
    for one in ids:
        try:
            verify_backup(config, repository, one)
            print(f"backup {one}: verified")
        except BackupFailed as failure:
            print(f"backup {one}: FAILED verification: {failure.message}")
            failed += 1
    return 1 if failed else 0


def _restore(config: BackupConfig, repository: Repository, target_dir: Path, time_text: str | None,
             backup_id: str | None) -> int:  # fmt: skip
    target_time = parse_target_time(time_text) if time_text else None
    result = restore(config, repository, target_dir, target_time, backup_id)
    print(f"restored backup {result.backup.id} into {result.target_dir} in {result.seconds:.1f}s; "
          f"{result.wal_files_staged} WAL file(s) staged"
          + (" (including the open, partial segment)" if result.includes_partial_segment else ""))  # fmt: skip
    print(f"recovery target: {target_time.isoformat() if target_time else 'the end of the archived WAL (latest)'}")
    if result.wal_gap_after is not None:
        print(f"WARNING: WAL segments are missing after {result.wal_gap_after}: recovery stops at the end of that "
              "segment (a time after it cannot be reached)")  # fmt: skip
    print(f"next: start PostgreSQL on {result.target_dir}; it replays the WAL, then opens for writes.")
    print(f"      Once it accepts writes, delete {result.target_dir / RESTORE_WAL_DIR}.")
    return 0


def _utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _size(size_bytes: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size_bytes < 1024 or unit == "GiB":
            return f"{size_bytes:.0f} {unit}" if unit == "B" else f"{size_bytes:.1f} {unit}"
        size_bytes /= 1024  # type: ignore[assignment]
    raise AssertionError


if __name__ == "__main__":
    sys.exit(main())
