"""The repository's catalog as data: which base backups it holds, what each needs to be restored, which failed
verification, and the failure counters by stage. Pure values; repository.py reads and writes them as JSON."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

FORMAT = 1

# The stages a failure is counted under (label values of vauchflow_backup_failures_total).
BASE_BACKUP = "base_backup"
VERIFY = "verify"
WAL_STREAM = "wal_stream"
WAL_ARCHIVE = "wal_archive"
PRUNE = "prune"
OFFSITE = "offsite"
STAGES = (BASE_BACKUP, VERIFY, WAL_STREAM, WAL_ARCHIVE, PRUNE, OFFSITE)


class CatalogError(Exception):
    """The catalog file cannot be read as a catalog."""


@dataclass(frozen=True)
class StoredFile:
    """One file of a base backup as stored in the repository (after encryption, when on)."""

    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class BackupRecord:
    id: str
    started_at: float
    finished_at: float
    size_bytes: int
    timeline: int
    start_lsn: str
    end_lsn: str
    # The first WAL segment a restore of this backup replays: every later segment must be kept while it is.
    start_wal_file: str
    encrypted: bool
    files: tuple[StoredFile, ...]
    verified_at: float | None = None
    # Why verification failed; a damaged backup is never chosen for a restore and never counts for retention.
    damaged: str | None = None

    @property
    def restorable(self) -> bool:
        return self.damaged is None

    @property
    def duration_seconds(self) -> float:
        return self.finished_at - self.started_at

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "size_bytes": self.size_bytes,
            "timeline": self.timeline,
            "start_lsn": self.start_lsn,
            "end_lsn": self.end_lsn,
            "start_wal_file": self.start_wal_file,
            "encrypted": self.encrypted,
            "files": [{"name": f.name, "size": f.size, "sha256": f.sha256} for f in self.files],
            "verified_at": self.verified_at,
            "damaged": self.damaged,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BackupRecord:
        return cls(
            id=str(data["id"]),
            started_at=float(data["started_at"]),
            finished_at=float(data["finished_at"]),
            size_bytes=int(data["size_bytes"]),
            timeline=int(data["timeline"]),
            start_lsn=str(data["start_lsn"]),
            end_lsn=str(data["end_lsn"]),
            start_wal_file=str(data["start_wal_file"]),
            encrypted=bool(data["encrypted"]),
            files=tuple(StoredFile(str(f["name"]), int(f["size"]), str(f["sha256"])) for f in data["files"]),
            verified_at=None if data.get("verified_at") is None else float(data["verified_at"]),
            damaged=None if data.get("damaged") is None else str(data["damaged"]),
        )


@dataclass(frozen=True)
class Failure:
    stage: str
    at: float
    message: str


def _no_failures() -> Mapping[str, int]:
    return MappingProxyType(dict.fromkeys(STAGES, 0))


@dataclass(frozen=True)
class Catalog:
    # Oldest first.
    backups: tuple[BackupRecord, ...] = ()
    failures: Mapping[str, int] = field(default_factory=_no_failures)
    last_failure: Failure | None = None
    # When the newest successful base backup finished. Only a successful backup moves it: a failed backup or a
    # failed verification never does.
    last_success_at: float | None = None

    @property
    def restorable(self) -> tuple[BackupRecord, ...]:
        return tuple(backup for backup in self.backups if backup.restorable)

    @property
    def last_backup(self) -> BackupRecord | None:
        return max(self.backups, key=lambda backup: backup.finished_at, default=None)

    def find(self, backup_id: str) -> BackupRecord | None:
        return next((backup for backup in self.backups if backup.id == backup_id), None)

    def with_backup(self, backup: BackupRecord) -> Catalog:
        backups = tuple(sorted((*self.backups, backup), key=lambda b: b.finished_at))
        return replace(self, backups=backups, last_success_at=max(self.last_success_at or 0.0, backup.finished_at))

    def without(self, backup_ids: Iterable[str]) -> Catalog:
        dropped = set(backup_ids)
        return replace(self, backups=tuple(b for b in self.backups if b.id not in dropped))

    def with_failure(self, stage: str, at: float, message: str) -> Catalog:
        if stage not in STAGES:
            raise ValueError(f"unknown backup stage {stage!r}")
        failures = {**self.failures, stage: self.failures.get(stage, 0) + 1}
        return replace(self, failures=MappingProxyType(failures), last_failure=Failure(stage, at, message))

    def with_verification(self, backup_id: str, at: float, problem: str | None) -> Catalog:
        def updated(backup: BackupRecord) -> BackupRecord:
            if backup.id != backup_id:
                return backup
            return replace(backup, verified_at=at, damaged=problem)

        return replace(self, backups=tuple(updated(b) for b in self.backups))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "backups": [backup.to_json() for backup in self.backups],
            "failures": dict(self.failures),
            "last_failure": None
            if self.last_failure is None
            else {
                "stage": self.last_failure.stage,
                "at": self.last_failure.at,
                "message": self.last_failure.message,
            },
            "last_success_at": self.last_success_at,
        }

    @classmethod
    def from_json(cls, data: Any) -> Catalog:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise CatalogError(f"not a format-{FORMAT} backup catalog")
        try:
            last_failure = data.get("last_failure")
            return cls(
                backups=tuple(
                    sorted((BackupRecord.from_json(b) for b in data["backups"]), key=lambda b: b.finished_at)
                ),
                failures=MappingProxyType({**_no_failures(), **{str(k): int(v) for k, v in data["failures"].items()}}),
                last_failure=None
                if last_failure is None
                else Failure(str(last_failure["stage"]), float(last_failure["at"]), str(last_failure["message"])),
                last_success_at=None if data.get("last_success_at") is None else float(data["last_success_at"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise CatalogError(f"malformed backup catalog ({type(error).__name__}: {error})") from None
