"""The long-running backup job: WAL streamed continuously, a base backup daily (and at once when there is none),
retention after each backup, metrics from the catalog; SIGTERM/SIGINT stop it cleanly with exit code 0.

One thread does the work in a loop; the only other thread is prometheus_client's /metrics server. A base backup
in progress when a stop arrives is cut short and its staging folder removed (it was never in the catalog).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import UTC, datetime, timedelta

from vauchflow_backup.base_backup import BackupFailed, take_backup
from vauchflow_backup.config import BackupConfig
from vauchflow_backup.metrics import serve_metrics
from vauchflow_backup.offsite import OffsiteCopy, OffsiteFailed
from vauchflow_backup.pg_tools import Interrupted
from vauchflow_backup.repository import Repository, RepositoryBusy
from vauchflow_backup.schedule import first_due, next_daily
from vauchflow_backup.wal_archive import WalReceiver, encrypt_completed_wal, prune

log = logging.getLogger(__name__)

# When another process holds the backup lock (say a `make backup`), look again this much later.
_BUSY_RETRY = timedelta(seconds=60)
_OFFSITE_RETRY_SECONDS = 60.0


def run_job(config: BackupConfig, stop: threading.Event | None = None) -> int:
    """Runs until stop is set (by SIGTERM/SIGINT when called from the main thread); returns the exit code."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda _signum, _frame: stop.set())
    repository = Repository(config.repository_dir)
    repository.ensure()
    receiver = WalReceiver(config, repository)
    offsite = (
        OffsiteCopy(config.offsite, repository, encrypted=config.encryption_key is not None)
        if config.offsite is not None
        else None
    )
    next_offsite = 0.0
    try:
        metrics_server, metrics_thread = serve_metrics(repository, config.metrics_host, config.metrics_port,
                                                       lambda: receiver.running)  # fmt: skip
    except OSError as error:
        raise OSError(error.errno, f"cannot serve metrics on {config.metrics_host}:{config.metrics_port}: "
                                   f"{error.strerror}") from None  # fmt: skip
    catalog = repository.read_catalog()
    now = datetime.now(UTC)
    last_success = datetime.fromtimestamp(catalog.last_success_at, UTC) if catalog.last_success_at else None
    due = first_due(now, config.backup_time_utc, bool(catalog.restorable), last_success)
    log.info(
        "backup job started",
        extra={"action": "job_started", "repository": str(config.repository_dir), "metrics_port": config.metrics_port,
               "next_backup": due.isoformat(), "encrypted": config.encryption_key is not None,
               "keep_backups": config.keep_backups},
    )  # fmt: skip
    try:
        while not stop.is_set():
            # Streaming first: the slot then holds every WAL segment from before the base backup's start.
            receiver.keep_running()
            encrypt_completed_wal(config, repository)
            now = datetime.now(UTC)
            if now >= due:
                due = _backup_and_prune(config, repository, stop, now, offsite)
            if offsite is not None and time.monotonic() >= next_offsite:
                try:
                    offsite.sync()
                    next_offsite = time.monotonic()
                except OffsiteFailed:
                    # Counted and logged; an unreachable bucket is tried again a minute later, not every sweep.
                    next_offsite = time.monotonic() + _OFFSITE_RETRY_SECONDS
            wait = min(config.wal_sweep_seconds, max(0.0, (due - datetime.now(UTC)).total_seconds()))
            stop.wait(max(wait, 0.05))
    finally:
        receiver.stop()
        encrypt_completed_wal(config, repository)
        metrics_server.shutdown()
        metrics_thread.join(timeout=5)
    log.info("backup job stopped", extra={"action": "job_stopped"})
    return 0


def _backup_and_prune(
    config: BackupConfig, repository: Repository, stop: threading.Event, now: datetime, offsite: OffsiteCopy | None
) -> datetime:
    """Takes the due backup and applies retention; returns when the next one is due."""
    started = time.monotonic()
    try:
        take_backup(config, repository, stop)
    except BackupFailed:
        # Already logged and counted; the next attempt comes after the retry interval, not a day later.
        return now + timedelta(seconds=config.retry_seconds)
    except RepositoryBusy as busy:
        log.warning("backup postponed", extra={"action": "backup_postponed", "problem": str(busy)})
        return now + _BUSY_RETRY
    except Interrupted:
        log.info("backup interrupted by shutdown", extra={"action": "backup_interrupted",
                                                          "seconds": round(time.monotonic() - started, 2)})  # fmt: skip
        return now
    try:
        with repository.backup_lock():
            pruned = prune(config, repository)
        if offsite is not None:
            offsite.forget(pruned.dropped_backups, pruned.removed_wal)
    except RepositoryBusy:
        pass  # the other process prunes after its own backup
    except OffsiteFailed:
        pass  # counted; the objects stay in the bucket until a later prune (never fewer copies than wanted)
    return next_daily(datetime.now(UTC), config.backup_time_utc)
