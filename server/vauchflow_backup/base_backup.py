"""Taking and verifying base backups: pg_basebackup into a hidden staging folder, pg_verifybackup, encryption,
then one rename that makes the backup visible and a catalog entry that makes it count.

A backup that fails at any step (PostgreSQL down, disk full, verification) leaves nothing behind that could be
mistaken for a backup, and never touches the backups taken before it.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import re
import shutil
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from vauchflow_backup.catalog import BASE_BACKUP, VERIFY, BackupRecord, StoredFile
from vauchflow_backup.config import BackupConfig
from vauchflow_backup.encryption import DecryptionFailed, decrypt_file, encrypt_file
from vauchflow_backup.pg_tools import Connection, PgToolFailed, find_bin_dir, run_tool
from vauchflow_backup.repository import ENCRYPTED_SUFFIX, Repository, fsync_directory

log = logging.getLogger(__name__)

_START_WAL = re.compile(r"^START WAL LOCATION: (\S+) \(file ([0-9A-F]{24})\)$", re.MULTILINE)
_HASH_CHUNK = 1 << 20


class BackupFailed(Exception):
    """A base backup or a verification failed; stage says where (a catalog.STAGES value)."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(message)
        self.stage = stage
        self.message = message


class BackupUnusable(Exception):
    """An operation cannot proceed for a reason that is not the backup's fault (unknown id, key missing)."""


@dataclass(frozen=True)
class _WalRange:
    timeline: int
    start_lsn: str
    end_lsn: str
    start_wal_file: str


def take_backup(config: BackupConfig, repository: Repository, stop: threading.Event | None = None) -> BackupRecord:
    """Takes, verifies and stores one base backup and enters it in the catalog. Raises BackupFailed (also counted
    in the catalog), RepositoryBusy, or pg_tools.Interrupted when stop is set meanwhile."""
    repository.ensure()
    try:
        with repository.backup_lock():
            for leftover in repository.remove_incomplete():
                log.warning("removed an interrupted backup", extra={"action": "backup_leftover_removed",
                                                                     "folder": leftover})  # fmt: skip
            return _take_locked(config, repository, stop)
    except BackupFailed as failure:
        log.error("backup failed", extra={"action": "backup_failed", "stage": failure.stage,
                                          "problem": failure.message})  # fmt: skip
        repository.record_failure(failure.stage, failure.message)
        raise


def _take_locked(config: BackupConfig, repository: Repository, stop: threading.Event | None) -> BackupRecord:
    started_at = time.time()
    backup_id = _new_backup_id(repository, started_at)
    staging = repository.incomplete_dir(backup_id)
    raw = staging / "raw"
    log.info("backup started", extra={"action": "backup_started", "backup_id": backup_id})
    try:
        staging.mkdir(mode=0o700)
        bin_dir = find_bin_dir(config.pg_bin_dir)
        connection = Connection.from_url(config.database_url)
        run_tool(
            [str(bin_dir / "pg_basebackup"), "--dbname", connection.url, "--pgdata", str(raw), "--format=tar",
             "--wal-method=stream", "--compress=gzip:1", "--checkpoint=fast", "--no-password",
             f"--label=vauchflow {backup_id}"],
            connection, stop=stop,
        )  # fmt: skip
        wal_range = _read_wal_range(raw)
        try:
            _pg_verifybackup(bin_dir, raw, stop)
        except PgToolFailed as error:
            raise BackupFailed(VERIFY, str(error)) from None
        stored = _store(config, raw, staging)
        shutil.rmtree(raw)
        final = repository.backup_dir(backup_id)
        staging.rename(final)
        fsync_directory(repository.base_dir)
    except PgToolFailed as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise BackupFailed(BASE_BACKUP, str(error)) from None
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise BackupFailed(BASE_BACKUP, _describe_os_error(error)) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finished_at = time.time()
    record = BackupRecord(
        id=backup_id,
        started_at=started_at,
        finished_at=finished_at,
        size_bytes=sum(file.size for file in stored),
        timeline=wal_range.timeline,
        start_lsn=wal_range.start_lsn,
        end_lsn=wal_range.end_lsn,
        start_wal_file=wal_range.start_wal_file,
        encrypted=config.encryption_key is not None,
        files=stored,
        verified_at=finished_at,
    )
    repository.update_catalog(lambda catalog: catalog.with_backup(record))
    log.info(
        "backup finished",
        extra={"action": "backup_finished", "backup_id": backup_id, "size_bytes": record.size_bytes,
               "duration_seconds": round(record.duration_seconds, 2), "encrypted": record.encrypted},
    )  # fmt: skip
    return record


def verify_backup(config: BackupConfig, repository: Repository, backup_id: str) -> BackupRecord:
    """Checks a stored backup: its files' checksums, then pg_verifybackup on its (decrypted) contents. Records the
    outcome; a failure marks the backup damaged, counts under stage "verify" and raises BackupFailed."""
    backup = repository.read_catalog().find(backup_id)
    if backup is None:
        raise BackupUnusable(f"no backup {backup_id!r} in {repository.root}")
    if backup.encrypted and config.encryption_key is None:
        raise BackupUnusable(f"backup {backup_id} is encrypted: set VAUCHFLOW_BACKUP_ENCRYPTION_KEY to verify it")
    try:
        with tempfile.TemporaryDirectory(prefix=".verify-", dir=repository.root) as scratch:
            contents = open_backup(config, repository, backup, Path(scratch))
            _pg_verifybackup(find_bin_dir(config.pg_bin_dir), contents, None)
    except (PgToolFailed, BackupFailed) as error:
        problem = error.message if isinstance(error, BackupFailed) else str(error)
        log.error("backup failed verification", extra={"action": "verify_failed", "backup_id": backup_id,
                                                         "problem": problem})  # fmt: skip
        now = time.time()
        repository.update_catalog(
            lambda catalog: catalog.with_verification(backup_id, now, problem).with_failure(VERIFY, now, problem)
        )
        raise BackupFailed(VERIFY, problem) from None
    now = time.time()
    updated = repository.update_catalog(lambda catalog: catalog.with_verification(backup_id, now, None))
    log.info("backup verified", extra={"action": "verify_ok", "backup_id": backup_id})
    verified = updated.find(backup_id)
    assert verified is not None
    return verified


def open_backup(config: BackupConfig, repository: Repository, backup: BackupRecord, scratch: Path) -> Path:
    """The folder holding the backup's plain files (pg_basebackup's output): the backup's own folder, or scratch
    with decrypted copies. Checks every stored file's size and checksum first; raises BackupFailed(VERIFY) if
    one is missing or changed, BackupUnusable if the key is missing or wrong."""
    folder = repository.backup_dir(backup.id)
    for stored in backup.files:
        path = folder / stored.name
        if not path.is_file():
            raise BackupFailed(VERIFY, f"backup {backup.id}: {stored.name} is missing")
        if path.stat().st_size != stored.size or _sha256(path) != stored.sha256:
            raise BackupFailed(VERIFY, f"backup {backup.id}: {stored.name} has changed since it was written "
                                       "(checksum mismatch)")  # fmt: skip
    if not backup.encrypted:
        return folder
    if config.encryption_key is None:
        raise BackupUnusable(f"backup {backup.id} is encrypted: set VAUCHFLOW_BACKUP_ENCRYPTION_KEY")
    for stored in backup.files:
        plain_name = stored.name.removesuffix(ENCRYPTED_SUFFIX)
        try:
            decrypt_file(config.encryption_key, folder / stored.name, scratch / plain_name, plain_name)
        except DecryptionFailed:
            # The checksum matched, so the file is as written: the key is not the one it was written with.
            raise BackupUnusable(
                f"backup {backup.id} does not decrypt with VAUCHFLOW_BACKUP_ENCRYPTION_KEY (a different key?)"
            ) from None
    return scratch


def _pg_verifybackup(bin_dir: Path, folder: Path, stop: threading.Event | None) -> None:
    # Tar-format backups cannot have their WAL parsed by pg_verifybackup (PostgreSQL 18): --no-parse-wal. Every
    # file, the WAL in pg_wal.tar.gz included, is still checked against the manifest's checksums.
    run_tool([str(bin_dir / "pg_verifybackup"), "--no-parse-wal", "--quiet", str(folder)], None, stop=stop)


def _store(config: BackupConfig, raw: Path, staging: Path) -> tuple[StoredFile, ...]:
    stored = []
    for source in sorted(raw.iterdir()):
        if config.encryption_key is not None:
            target = staging / (source.name + ENCRYPTED_SUFFIX)
            encrypt_file(config.encryption_key, source, target, source.name)
        else:
            target = staging / source.name
            source.rename(target)
        stored.append(StoredFile(target.name, target.stat().st_size, _sha256(target)))
    fsync_directory(staging)
    return tuple(stored)


def _read_wal_range(raw: Path) -> _WalRange:
    try:
        wal_ranges = json.loads((raw / "backup_manifest").read_text())["WAL-Ranges"]
        with tarfile.open(raw / "base.tar.gz", "r:gz") as base:
            member = base.extractfile("backup_label")
            if member is None:
                raise PgToolFailed("pg_basebackup wrote no backup_label")
            label = member.read().decode()
    except (KeyError, ValueError, tarfile.TarError) as error:
        raise PgToolFailed(f"pg_basebackup's output is not as expected ({type(error).__name__}: {error})") from None
    start = _START_WAL.search(label)
    if start is None:
        raise PgToolFailed("pg_basebackup's backup_label names no start WAL location")
    return _WalRange(
        timeline=int(wal_ranges[-1]["Timeline"]),
        start_lsn=start[1],
        end_lsn=str(wal_ranges[-1]["End-LSN"]),
        start_wal_file=start[2],
    )


def _new_backup_id(repository: Repository, at: float) -> str:
    base = datetime.fromtimestamp(at, UTC).strftime("%Y%m%dT%H%M%SZ")
    candidate, suffix = base, 1
    while repository.backup_dir(candidate).exists() or repository.incomplete_dir(candidate).exists():
        suffix += 1
        candidate = f"{base}-{suffix}"
    return candidate


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _describe_os_error(error: OSError) -> str:
    if error.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        return "writing the backup failed: the backup disk is full (or a file-size limit was reached)"
    return f"writing the backup failed: {error.strerror or type(error).__name__}"
