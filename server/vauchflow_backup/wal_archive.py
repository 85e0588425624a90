"""The WAL side of the repository: pg_receivewal streaming into it on a replication slot (restarted when it
stops), encryption of completed segments at rest, and pruning by the retention plan.

The segment being written (".partial") is plaintext while it streams: pg_receivewal writes it directly. Each
completed segment is encrypted within a sweep interval when a key is configured.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from vauchflow_backup.catalog import PRUNE, WAL_ARCHIVE, WAL_STREAM
from vauchflow_backup.config import BackupConfig
from vauchflow_backup.encryption import encrypt_file
from vauchflow_backup.pg_tools import Connection, PgToolFailed, describe_failure, find_bin_dir, run_tool, start_tool
from vauchflow_backup.repository import ENCRYPTED_SUFFIX, Repository, fsync_directory
from vauchflow_backup.retention import plan_retention, prunable_wal

log = logging.getLogger(__name__)

_MAX_RESTART_DELAY_SECONDS = 30.0


class WalReceiver:
    """Keeps one pg_receivewal streaming into the repository's WAL directory."""

    def __init__(self, config: BackupConfig, repository: Repository) -> None:
        self._config = config
        self._repository = repository
        self._connection = Connection.from_url(config.database_url)
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path = repository.root / "pg_receivewal.log"
        self._failures_in_a_row = 0
        self._next_start = 0.0
        self._started_at = 0.0

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def keep_running(self) -> None:
        """Notices an exited receiver (counted as a wal_stream failure) and starts one when its back-off is over."""
        now = time.monotonic()
        if self._process is not None and self._process.poll() is not None:
            problem = describe_failure("pg_receivewal", self._process.returncode, self._log_tail(),
                                       self._connection)  # fmt: skip
            self._process = None
            # A receiver that streamed for a while and then lost its server starts over with a short wait.
            if now - self._started_at > _MAX_RESTART_DELAY_SECONDS:
                self._failures_in_a_row = 0
            self._fail(problem, now)
        if self._process is None and now >= self._next_start:
            self._start(now)

    def _start(self, now: float) -> None:
        bin_dir = find_bin_dir(self._config.pg_bin_dir)
        slot = self._config.replication_slot
        try:
            # The slot makes PostgreSQL keep WAL the receiver has not flushed yet, so a restart loses nothing.
            run_tool([str(bin_dir / "pg_receivewal"), "--dbname", self._connection.url, "--slot", slot,
                      "--create-slot", "--if-not-exists", "--no-password"], self._connection)  # fmt: skip
        except PgToolFailed as error:
            self._fail(str(error), now)
            return
        self._repository.ensure()
        with self._log_path.open("wb") as receiver_log:
            self._process = start_tool(
                # --synchronous: flush every write and report it, so at most what is in flight is at risk.
                # --no-loop: exit on a lost connection, so this supervisor sees and counts it.
                [str(bin_dir / "pg_receivewal"), "--dbname", self._connection.url, "--directory",
                 str(self._repository.wal_dir), "--slot", slot, "--synchronous", "--no-loop", "--no-password"],
                self._connection,
                stderr=receiver_log.fileno(),
            )  # fmt: skip
        self._started_at = now
        log.info("WAL streaming started", extra={"action": "wal_stream_started", "slot": slot,
                                                 "pid": self._process.pid})  # fmt: skip

    def _fail(self, problem: str, now: float) -> None:
        delay = min(2.0**self._failures_in_a_row, _MAX_RESTART_DELAY_SECONDS)
        self._failures_in_a_row += 1
        self._next_start = now + delay
        log.error("WAL streaming stopped", extra={"action": "wal_stream_failed", "problem": problem,
                                                  "retry_in_seconds": delay})  # fmt: skip
        self._repository.record_failure(WAL_STREAM, problem)

    def _log_tail(self) -> str:
        try:
            return self._log_path.read_text(errors="replace")[-2000:]
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        """pg_receivewal flushes what it has and exits 0 on SIGTERM."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        log.info("WAL streaming stopped", extra={"action": "wal_stream_stopped",
                                                 "returncode": self._process.returncode})  # fmt: skip
        self._process = None


def encrypt_completed_wal(config: BackupConfig, repository: Repository) -> int:
    """Encrypts every completed segment and history file not yet encrypted; returns how many."""
    if config.encryption_key is None:
        return 0
    done = 0
    try:
        for wal_file in repository.wal_files():
            if wal_file.partial or wal_file.encrypted:
                continue
            sealed = wal_file.path.with_name(wal_file.path.name + ENCRYPTED_SUFFIX)
            in_progress = sealed.with_name(sealed.name + ".tmp")
            encrypt_file(config.encryption_key, wal_file.path, in_progress, wal_file.name)
            os.replace(in_progress, sealed)
            fsync_directory(repository.wal_dir)
            wal_file.path.unlink()
            done += 1
    except OSError as error:
        problem = f"encrypting WAL failed: {error.strerror or type(error).__name__}"
        log.error("WAL encryption failed", extra={"action": "wal_archive_failed", "problem": problem})
        repository.record_failure(WAL_ARCHIVE, problem)
    return done


@dataclass(frozen=True)
class PruneResult:
    dropped_backups: list[str]
    removed_wal: list[Path]


def prune(config: BackupConfig, repository: Repository) -> PruneResult:
    """Applies retention (call with the backup lock held): drops old backups from the catalog, then their folders
    and the WAL only they needed."""
    plan = plan_retention(repository.read_catalog().backups, config.keep_backups)
    dropped = [backup.id for backup in plan.drop_backups]
    removed: list[Path] = []
    try:
        if dropped:
            # The catalog first: a crash in between leaves an unlisted folder, never a listed backup without files.
            repository.update_catalog(lambda catalog: catalog.without(dropped))
            for backup_id in dropped:
                shutil.rmtree(repository.backup_dir(backup_id), ignore_errors=True)
        for wal_file in prunable_wal(repository.wal_files(), plan.wal_floor):
            wal_file.path.unlink(missing_ok=True)
            removed.append(wal_file.path)
    except OSError as error:
        problem = f"pruning failed: {error.strerror or type(error).__name__}"
        repository.record_failure(PRUNE, problem)
        log.error("prune failed", extra={"action": "prune_failed", "problem": problem})
    if dropped or removed:
        log.info("pruned", extra={"action": "prune", "backups_dropped": dropped, "wal_files_removed": len(removed)})
    return PruneResult(dropped, removed)
