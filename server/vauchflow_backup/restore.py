"""Restoring into a new data directory: the right base backup unpacked, the WAL after it staged beside it, and
PostgreSQL told to recover to a point in time (or to the end of the WAL) and then promote.

The result is a data directory that PostgreSQL finishes restoring when it starts: it replays the staged WAL up to
the target and opens for writes on a new timeline. Nothing in the repository is changed by a restore.
"""

from __future__ import annotations

import itertools
import logging
import re
import shlex
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from vauchflow_backup.base_backup import BackupUnusable, open_backup
from vauchflow_backup.catalog import BackupRecord, Catalog
from vauchflow_backup.config import BackupConfig
from vauchflow_backup.encryption import DecryptionFailed, decrypt_file
from vauchflow_backup.repository import Repository, WalFile, wal_position

log = logging.getLogger(__name__)

# Inside the restored data directory: the WAL recovery reads (restore_command copies from here). PostgreSQL
# ignores folders it does not know; delete it once the server has finished recovery.
RESTORE_WAL_DIR = "vauchflow_restore_wal"
_SEGMENT_NAME = re.compile(r"[0-9A-F]{24}")


class RestoreRefused(Exception):
    """The restore cannot be done as asked; the message says why and what to do instead."""


@dataclass(frozen=True)
class RestoreResult:
    backup: BackupRecord
    target_dir: Path
    target_time: datetime | None
    wal_files_staged: int
    includes_partial_segment: bool
    seconds: float
    # The last segment before a hole in the staged WAL (recovery cannot get past it), or None when there is none.
    wal_gap_after: str | None = None


def parse_target_time(text: str) -> datetime:
    """An ISO 8601 time with its zone, e.g. 2026-12-01T22:40:00Z; a time without a zone is ambiguous: refused."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise RestoreRefused(f"{text!r} is not an ISO 8601 time such as 2026-12-01T22:40:00Z") from None
    if parsed.tzinfo is None:
        raise RestoreRefused(f"{text!r} has no time zone: add one, e.g. Z for UTC or +01:00")
    return parsed.astimezone(UTC)


def choose_backup(catalog: Catalog, target_time: datetime | None) -> BackupRecord:
    """The newest restorable backup that finished before the target (recovery can only move forward from it)."""
    candidates = catalog.restorable
    if target_time is not None:
        candidates = tuple(b for b in candidates if b.finished_at <= target_time.timestamp())
    if not candidates:
        if target_time is not None and catalog.restorable:
            oldest = datetime.fromtimestamp(catalog.restorable[0].finished_at, UTC)
            raise RestoreRefused(
                f"no backup finished before {target_time.isoformat()}; the earliest point that can be restored is "
                f"{oldest.isoformat()}"
            )
        raise RestoreRefused("the repository holds no restorable backup")
    return max(candidates, key=lambda b: b.finished_at)


def restore(
    config: BackupConfig,
    repository: Repository,
    target_dir: Path,
    target_time: datetime | None = None,
    backup_id: str | None = None,
) -> RestoreResult:
    """Prepares target_dir (new or empty) to recover to target_time, or to the end of the WAL when None."""
    started = time.monotonic()
    target_dir = target_dir.resolve()
    if target_dir.exists() and (not target_dir.is_dir() or any(target_dir.iterdir())):
        raise RestoreRefused(f"{target_dir} is not empty: restore only into a new or empty directory")
    if target_time is not None and target_time > datetime.now(UTC):
        raise RestoreRefused(f"{target_time.isoformat()} is in the future: leave the time out to restore the latest")
    catalog = repository.read_catalog()
    if backup_id is not None:
        backup = catalog.find(backup_id)
        if backup is None or not backup.restorable:
            raise RestoreRefused(f"no restorable backup {backup_id!r} in {repository.root}")
    else:
        backup = choose_backup(catalog, target_time)
    created = not target_dir.exists()
    target_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(prefix=".restore-", dir=repository.root) as scratch:
            contents = open_backup(config, repository, backup, Path(scratch))
            _extract(contents / "base.tar.gz", target_dir)
            _extract(contents / "pg_wal.tar.gz", target_dir / "pg_wal")
        staged, partial = _stage_wal(config, repository, backup, target_dir / RESTORE_WAL_DIR)
        gap_after = first_gap(target_dir / RESTORE_WAL_DIR)
        if gap_after is not None and target_time is None:
            log.warning("WAL has a hole", extra={"action": "restore_wal_gap", "after": gap_after})
        _write_recovery_settings(target_dir, target_time)
        target_dir.chmod(0o700)
    except BaseException:
        # Leave the directory as we found it, so the same command can simply be run again.
        if created:
            shutil.rmtree(target_dir, ignore_errors=True)
        else:
            for child in target_dir.iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        raise
    result = RestoreResult(backup, target_dir, target_time, staged, partial, time.monotonic() - started, gap_after)
    log.info(
        "restore prepared",
        extra={"action": "restore_prepared", "backup_id": backup.id, "target_dir": str(target_dir),
               "target_time": target_time.isoformat() if target_time else "latest", "wal_files": staged,
               "seconds": round(result.seconds, 2)},
    )  # fmt: skip
    return result


def _extract(archive: Path, destination: Path) -> None:
    destination.mkdir(mode=0o700, exist_ok=True)
    with tarfile.open(archive, "r:*") as tar:
        # "data": no absolute paths, no links out of the destination, no device files.
        tar.extractall(destination, filter="data")


def _stage_wal(config: BackupConfig, repository: Repository, backup: BackupRecord, staging: Path) -> tuple[int, bool]:
    """Copies (decrypting) every segment from the backup's start on, and the history files. The open segment's
    .partial file is staged under the segment's own name when no complete copy exists: it holds the newest WAL."""
    staging.mkdir(mode=0o700)
    floor = wal_position(backup.start_wal_file)
    files = [f for f in repository.wal_files() if not f.is_segment or f.position >= floor]
    complete = {f.name for f in files if not f.partial}
    staged, used_partial = 0, False
    for wal_file in files:
        if wal_file.partial and wal_file.name in complete:
            continue
        _copy_wal(config, wal_file, staging / wal_file.name)
        staged += 1
        used_partial = used_partial or wal_file.partial
    return staged, used_partial


def first_gap(staging: Path) -> str | None:
    """The segment after which the staged WAL has a hole (segments missing, say while the slot was lost), or None.
    Segment numbers follow from the segment size, which is any complete staged segment's size."""
    segments = sorted((p for p in staging.iterdir() if _SEGMENT_NAME.fullmatch(p.name)), key=lambda p: p.name[8:])
    if len(segments) < 2:
        return None
    segment_size = segments[0].stat().st_size
    if segment_size <= 0 or (1 << 32) % segment_size:
        return None  # not a whole segment (a damaged file): recovery itself will say so
    per_log = (1 << 32) // segment_size

    def number(name: str) -> int:
        return int(name[8:16], 16) * per_log + int(name[16:24], 16)

    for previous, following in itertools.pairwise(segments):
        if number(following.name) - number(previous.name) > 1:
            return previous.name
    return None


def _copy_wal(config: BackupConfig, wal_file: WalFile, destination: Path) -> None:
    if not wal_file.encrypted:
        shutil.copyfile(wal_file.path, destination)
        return
    if config.encryption_key is None:
        raise BackupUnusable("the WAL is encrypted: set VAUCHFLOW_BACKUP_ENCRYPTION_KEY")
    try:
        decrypt_file(config.encryption_key, wal_file.path, destination, wal_file.name)
    except DecryptionFailed as error:
        raise RestoreRefused(f"WAL segment {wal_file.name} cannot be used: {error}") from None


def _write_recovery_settings(target_dir: Path, target_time: datetime | None) -> None:
    staging = target_dir / RESTORE_WAL_DIR
    # restore_command runs in a shell; the setting's value is a single-quoted string in which ' is doubled.
    command = f"cp {shlex.quote(str(staging))}/%f %p"
    settings = [
        "# Added by vauchflow_backup restore: recover from the staged WAL, then open for writes.",
        f"restore_command = '{_conf_quote(command)}'",
        "recovery_target_action = 'promote'",
    ]
    if target_time is not None:
        settings.append(f"recovery_target_time = '{target_time.strftime('%Y-%m-%d %H:%M:%S.%f+00')}'")
    auto_conf = target_dir / "postgresql.auto.conf"
    existing = auto_conf.read_text() if auto_conf.exists() else ""
    auto_conf.write_text(
        existing + ("\n" if existing and not existing.endswith("\n") else "") + "\n".join(settings) + "\n"
    )
    # Its presence makes PostgreSQL start in archive recovery instead of as a crashed primary.
    (target_dir / "recovery.signal").touch()


def _conf_quote(value: str) -> str:
    return value.replace("'", "''")
