"""The backup repository on disk, and the only module that writes its catalog.

Layout under the repository directory:
  catalog.json         the catalog (catalog.py), replaced atomically (write, fsync, rename) under catalog.lock
  base/<id>/           one finished base backup: base.tar.gz, pg_wal.tar.gz, backup_manifest (each + ".enc" when
                       encrypted); a backup is in the catalog only once all of it is written and verified
  base/.incomplete-<id>/  a backup being taken; never listed, removed on failure and at the next start
  wal/                 pg_receivewal's directory: completed segments (".enc" once encrypted), history files, and
                       the open segment "<name>.partial" (always plaintext: it is written as it streams)
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from vauchflow_backup.catalog import Catalog, CatalogError

ENCRYPTED_SUFFIX = ".enc"
PARTIAL_SUFFIX = ".partial"
INCOMPLETE_PREFIX = ".incomplete-"
_SEGMENT = re.compile(r"[0-9A-F]{24}")
_HISTORY = re.compile(r"[0-9A-F]{8}\.history")


class RepositoryBusy(Exception):
    """Another process is taking a base backup in this repository."""


@dataclass(frozen=True)
class WalFile:
    """A file in the WAL directory: a segment (complete or the open .partial) or a timeline history file."""

    path: Path
    # The segment's or history file's own name, without .partial or .enc.
    name: str
    partial: bool
    encrypted: bool

    @property
    def is_segment(self) -> bool:
        return _SEGMENT.fullmatch(self.name) is not None

    @property
    def position(self) -> str:
        """The segment's place in the WAL regardless of timeline (log and segment number, fixed-width hex)."""
        return self.name[8:]


def wal_position(segment_name: str) -> str:
    return segment_name[8:]


class Repository:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.catalog_path = root / "catalog.json"
        self.base_dir = root / "base"
        self.wal_dir = root / "wal"

    def ensure(self) -> None:
        for directory in (self.root, self.base_dir, self.wal_dir):
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    # -- the catalog --------------------------------------------------------------------------------------------

    def read_catalog(self) -> Catalog:
        try:
            text = self.catalog_path.read_text()
        except FileNotFoundError:
            return Catalog()
        try:
            return Catalog.from_json(json.loads(text))
        except json.JSONDecodeError as error:
            raise CatalogError(f"{self.catalog_path} is not valid JSON ({error.msg} at line {error.lineno})") from None

    def update_catalog(self, change: Callable[[Catalog], Catalog]) -> Catalog:
        """Applies change to the current catalog under an exclusive lock (the job and a `make backup` in another
        process may both write) and replaces the file atomically; returns the new catalog."""
        self.ensure()
        with self._locked("catalog.lock", blocking=True):
            updated = change(self.read_catalog())
            self._write_atomically(self.catalog_path, json.dumps(updated.to_json(), indent=2) + "\n")
            return updated

    def record_failure(self, stage: str, message: str) -> Catalog:
        return self.update_catalog(lambda catalog: catalog.with_failure(stage, time.time(), message))

    def _write_atomically(self, path: Path, text: str) -> None:
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with temporary.open("w") as file:
                file.write(text)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        fsync_directory(path.parent)

    @contextmanager
    def _locked(self, name: str, *, blocking: bool) -> Iterator[IO[str]]:
        with open(self.root / name, "a+") as lock_file:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                lock_file.seek(0)
                holder = lock_file.read().strip() or "unknown"
                raise RepositoryBusy(f"another process (pid {holder}) is taking a backup in {self.root}") from None
            lock_file.truncate(0)
            lock_file.write(f"{os.getpid()}\n")
            lock_file.flush()
            yield lock_file

    @contextmanager
    def backup_lock(self) -> Iterator[None]:
        """Held while a base backup is taken or pruned, so two never run at once (raises RepositoryBusy)."""
        self.ensure()
        with self._locked("backup.lock", blocking=False):
            yield

    # -- base backups -------------------------------------------------------------------------------------------

    def backup_dir(self, backup_id: str) -> Path:
        return self.base_dir / backup_id

    def incomplete_dir(self, backup_id: str) -> Path:
        return self.base_dir / f"{INCOMPLETE_PREFIX}{backup_id}"

    def remove_incomplete(self) -> list[str]:
        """Removes what interrupted backups left behind (call with the backup lock held); returns their names."""
        removed = []
        for leftover in sorted(self.base_dir.glob(f"{INCOMPLETE_PREFIX}*")):
            shutil.rmtree(leftover, ignore_errors=True)
            removed.append(leftover.name)
        return removed

    # -- WAL ----------------------------------------------------------------------------------------------------

    def wal_files(self) -> list[WalFile]:
        """Every segment and history file in the WAL directory, in WAL order; partial ones after complete ones."""
        found = []
        for path in self.wal_dir.iterdir() if self.wal_dir.is_dir() else ():
            name, encrypted = path.name, path.name.endswith(ENCRYPTED_SUFFIX)
            if encrypted:
                name = name.removesuffix(ENCRYPTED_SUFFIX)
            partial = name.endswith(PARTIAL_SUFFIX)
            name = name.removesuffix(PARTIAL_SUFFIX)
            if _SEGMENT.fullmatch(name) or (_HISTORY.fullmatch(name) and not partial):
                found.append(WalFile(path, name, partial, encrypted))
        return sorted(found, key=lambda f: (f.position if f.is_segment else "", f.name, f.partial))

    def newest_wal_modified_at(self) -> float | None:
        """When WAL last arrived: the newest modification time among segments (the open .partial included)."""
        times = []
        for wal_file in self.wal_files():
            if wal_file.is_segment:
                try:
                    times.append(wal_file.path.stat().st_mtime)
                except FileNotFoundError:  # encrypted and renamed in between
                    continue
        return max(times, default=None)


def fsync_directory(directory: Path) -> None:
    """Makes a rename or new file in directory durable."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
