"""The off-host copy: the repository mirrored to an S3-compatible bucket (AWS S3, Backblaze B2, MinIO, ...).

Objects keep the repository's own layout under a prefix (catalog.json, base/<id>/..., wal/...), so a bucket copied
back to a directory is a repository that `list`, `verify` and `restore` work on. Files are uploaded as they are at
rest: encrypted when encryption is on. The open .partial segment is not uploaded (it changes with every write),
so the bucket trails the local repository by the open WAL segment.

Deletion is never inferred from absence: a host that lost its disk starts with an empty repository, and that must
not empty the bucket. Only what retention explicitly dropped is deleted remotely.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from vauchflow_backup.catalog import OFFSITE
from vauchflow_backup.config import OffsiteSettings
from vauchflow_backup.repository import Repository

log = logging.getLogger(__name__)


class OffsiteFailed(Exception):
    """The bucket could not be reached or written; the message says why (never with credentials)."""


class OffsiteCopy:
    def __init__(self, settings: OffsiteSettings, repository: Repository, *, encrypted: bool) -> None:
        """encrypted: the repository encrypts at rest, so WAL leaves the host only once encrypted."""
        import boto3  # only when off-host copies are configured: the dev stack and tests without S3 skip it

        self._settings = settings
        self._repository = repository
        self._encrypted = encrypted
        self._client: Any = boto3.client(
            "s3",
            endpoint_url=settings.endpoint_url,
            region_name=settings.region,
            aws_access_key_id=settings.access_key_id,
            aws_secret_access_key=settings.secret_access_key,
        )
        self._uploaded: set[str] | None = None

    def _key(self, path: Path) -> str:
        return self._settings.prefix + path.relative_to(self._repository.root).as_posix()

    def sync(self) -> int:
        """Uploads every finished backup file and completed WAL file the bucket lacks, then the catalog; returns
        how many files it uploaded. Raises OffsiteFailed (already counted in the catalog)."""
        try:
            if self._uploaded is None:
                self._uploaded = self._list_remote()
            catalog = self._repository.read_catalog()
            wanted = [self._repository.backup_dir(b.id) / f.name for b in catalog.backups for f in b.files]
            # A segment completes before the sweep encrypts it: with encryption on, only its .enc copy leaves.
            wanted += [
                f.path for f in self._repository.wal_files() if not f.partial and (f.encrypted or not self._encrypted)
            ]
            uploaded = 0
            for path in wanted:
                key = self._key(path)
                if key in self._uploaded or not path.exists():
                    continue
                self._client.upload_file(str(path), self._settings.bucket, key)
                self._uploaded.add(key)
                uploaded += 1
            if uploaded and self._repository.catalog_path.exists():
                self._client.upload_file(
                    str(self._repository.catalog_path), self._settings.bucket, self._key(self._repository.catalog_path)
                )
            return uploaded
        except Exception as error:  # botocore raises many types; all mean the copy did not happen
            raise self._failed("uploading to", error) from None

    def forget(self, backup_ids: Iterable[str], wal_paths: Iterable[Path]) -> None:
        """Deletes what retention dropped locally: the backups' objects and the WAL files."""
        keys = [self._key(path) for path in wal_paths]
        try:
            for backup_id in backup_ids:
                listed = self._client.list_objects_v2(
                    Bucket=self._settings.bucket, Prefix=self._key(self._repository.backup_dir(backup_id)) + "/"
                )
                keys += [item["Key"] for item in listed.get("Contents", [])]
            for start in range(0, len(keys), 1000):
                batch = keys[start : start + 1000]
                self._client.delete_objects(
                    Bucket=self._settings.bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
                )
            if self._uploaded is not None:
                self._uploaded.difference_update(keys)
        except Exception as error:
            raise self._failed("deleting from", error) from None

    def _list_remote(self) -> set[str]:
        keys: set[str] = set()
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._settings.bucket, Prefix=self._settings.prefix):
            keys.update(item["Key"] for item in page.get("Contents", []))
        return keys

    def _failed(self, doing: str, error: Exception) -> OffsiteFailed:
        # botocore's messages name the bucket and the operation, never the credentials.
        problem = (
            f"{doing} s3://{self._settings.bucket}/{self._settings.prefix} failed: {type(error).__name__}: {error}"
        )
        log.error("off-host copy failed", extra={"action": "offsite_failed", "problem": problem})
        self._repository.record_failure(OFFSITE, problem[:500])
        self._uploaded = None  # list again next time: the bucket may have changed under us
        return OffsiteFailed(problem)
