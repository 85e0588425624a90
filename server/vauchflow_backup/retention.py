"""Retention as pure rules: which base backups to drop, and below which WAL position segments are no longer needed.

Safe by construction: nothing is dropped until `keep` restorable backups exist, damaged backups never count toward
`keep`, and WAL is pruned only below the start of the oldest backup that is kept, so every kept backup can still
be restored to any point after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vauchflow_backup.catalog import BackupRecord
from vauchflow_backup.repository import WalFile, wal_position


@dataclass(frozen=True)
class RetentionPlan:
    drop_backups: tuple[BackupRecord, ...]
    # WAL segments at positions below this are not needed by any kept backup; None: keep all WAL.
    wal_floor: str | None


def plan_retention(backups: Sequence[BackupRecord], keep: int) -> RetentionPlan:
    if keep < 1:
        raise ValueError("keep must be at least 1")
    restorable = sorted((b for b in backups if b.restorable), key=lambda b: b.finished_at)
    if not restorable:
        return RetentionPlan((), None)
    kept = restorable[-keep:]
    oldest_kept = kept[0]
    drop = tuple(b for b in backups if b.finished_at < oldest_kept.finished_at)
    return RetentionPlan(drop, wal_position(oldest_kept.start_wal_file))


def prunable_wal(files: Sequence[WalFile], wal_floor: str | None) -> list[WalFile]:
    """Complete segments below the floor. The open .partial segment and timeline history files always stay."""
    if wal_floor is None:
        return []
    return [f for f in files if f.is_segment and not f.partial and f.position < wal_floor]
