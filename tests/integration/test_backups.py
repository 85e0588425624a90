"""The backup job and its commands on a real PostgreSQL: backups verified and counted from the catalog, and the
faults an operator meets — a non-empty restore directory, a damaged backup, PostgreSQL down, a full disk — each
reported in one clear line, retried where it should be, and never costing an earlier good backup.

Commands run as real processes (`python -m vauchflow_backup ...`); the full disk is a file-size limit (prlimit) on
the command's process, never a filled disk."""

from __future__ import annotations

import base64
import os
import secrets
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from support.polling import wait_for
from support.ports import free_port
from vauchflow_backup.metrics import CatalogCollector
from vauchflow_backup.repository import INCOMPLETE_PREFIX, Repository
from vauchflow_devstack import EmbeddedPostgres, start_child, stop_child

ENCRYPTION_KEY = base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    cluster = EmbeddedPostgres(tmp_path_factory.mktemp("backup-source"), free_port(), durable=False)
    cluster.start()
    cluster.psql("CREATE TABLE kept_rows AS SELECT generate_series(1, 1000) AS id")
    try:
        yield cluster
    finally:
        cluster.stop()


def env_for(repository: Path, database_url: str = "", **settings: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("VAUCHFLOW_")}
    env.update(VAUCHFLOW_BACKUP_DIR=str(repository), **settings)
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def backup_command(
    env: dict[str, str], *args: str, limit_file_size: int | None = None
) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "vauchflow_backup", *args]
    if limit_file_size is not None:
        argv = ["prlimit", f"--fsize={limit_file_size}", "--", *argv]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)


def metrics(repository: Path) -> dict[str, float]:
    """The job's metrics as the collector serves them, read from the repository's catalog: name{labels} → value."""
    registry = CollectorRegistry()
    registry.register(CatalogCollector(Repository(repository)))
    samples = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def backup_folders(repository: Path) -> list[str]:
    return sorted(path.name for path in (repository / "base").iterdir())


def assert_one_clear_line(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_a_backup_is_verified_encrypted_listed_and_counted_from_the_catalog(
    source: EmbeddedPostgres, tmp_path: Path
) -> None:
    repository = tmp_path / "repository"
    env = env_for(repository, source.owner_dsn(), VAUCHFLOW_BACKUP_ENCRYPTION_KEY=ENCRYPTION_KEY)
    assert metrics(repository)["vauchflow_backup_last_success_timestamp_seconds"] == 0

    result = backup_command(env, "backup")
    assert result.returncode == 0, result.stderr
    assert "verified, encrypted" in result.stdout
    catalog = Repository(repository).read_catalog()
    (backup,) = catalog.backups
    stored = sorted(path.name for path in (repository / "base" / backup.id).iterdir())
    assert stored == ["backup_manifest.enc", "base.tar.gz.enc", "pg_wal.tar.gz.enc"]
    assert not (repository / "base" / backup.id / "base.tar.gz.enc").read_bytes().startswith(b"\x1f\x8b")

    seen = metrics(repository)
    assert seen["vauchflow_backup_last_success_timestamp_seconds"] == backup.finished_at
    assert seen["vauchflow_backup_last_duration_seconds"] == pytest.approx(backup.duration_seconds)
    assert seen["vauchflow_backup_last_size_bytes"] == backup.size_bytes > 0
    assert seen["vauchflow_backup_restorable_backups"] == 1
    listed = backup_command(env, "list")
    assert backup.id in listed.stdout and "ok (encrypted)" in listed.stdout
    # Without the key the backup cannot be read, and the command says so.
    assert_one_clear_line(backup_command(env_for(repository), "verify"), "set VAUCHFLOW_BACKUP_ENCRYPTION_KEY")


def test_restore_refuses_a_directory_that_is_not_empty(source: EmbeddedPostgres, tmp_path: Path) -> None:
    repository = tmp_path / "repository"
    env = env_for(repository, source.owner_dsn())
    assert backup_command(env, "backup").returncode == 0
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "PG_VERSION").write_text("18\n")

    assert_one_clear_line(backup_command(env, "restore", "--target-dir", str(occupied)), "is not empty")
    assert sorted(p.name for p in occupied.iterdir()) == ["PG_VERSION"]
    assert_one_clear_line(backup_command(env, "restore", "--target-dir", str(tmp_path / "new"), "--time", "noon"),
                          "is not an ISO 8601 time")  # fmt: skip
    assert not (tmp_path / "new").exists()


def test_a_flipped_byte_fails_verification_without_moving_last_success_or_losing_the_earlier_backup(
    source: EmbeddedPostgres, tmp_path: Path
) -> None:
    repository = tmp_path / "repository"
    env = env_for(repository, source.owner_dsn())
    assert backup_command(env, "backup").returncode == 0
    assert backup_command(env, "backup").returncode == 0
    older, newer = Repository(repository).read_catalog().backups
    before = metrics(repository)

    damaged = repository / "base" / newer.id / "base.tar.gz"
    content = bytearray(damaged.read_bytes())
    content[len(content) // 2] ^= 0x01
    damaged.write_bytes(bytes(content))

    result = backup_command(env, "verify", newer.id)
    assert result.returncode == 1 and "FAILED verification" in result.stdout and "checksum mismatch" in result.stdout
    after = metrics(repository)
    assert (
        after['vauchflow_backup_failures_total{stage="verify"}']
        == before['vauchflow_backup_failures_total{stage="verify"}'] + 1
    )
    assert (
        after["vauchflow_backup_last_success_timestamp_seconds"]
        == before["vauchflow_backup_last_success_timestamp_seconds"]
    )
    assert after["vauchflow_backup_restorable_backups"] == 1
    assert "DAMAGED" in backup_command(env, "list").stdout

    assert backup_command(env, "verify", older.id).returncode == 0
    restored = backup_command(env, "restore", "--target-dir", str(tmp_path / "restored"))
    assert restored.returncode == 0, restored.stderr
    assert f"restored backup {older.id}" in restored.stdout


def test_a_backup_while_postgresql_is_down_fails_clearly_and_keeps_the_earlier_backup(
    source: EmbeddedPostgres, tmp_path: Path
) -> None:
    repository = tmp_path / "repository"
    assert backup_command(env_for(repository, source.owner_dsn()), "backup").returncode == 0
    password = "pw-" + secrets.token_hex(8)
    nothing_listens = f"postgresql://vauchflow_owner:{password}@127.0.0.1:{free_port()}/vauchflow"

    result = backup_command(env_for(repository, nothing_listens), "backup")
    assert_one_clear_line(result, "PostgreSQL is not reachable at 127.0.0.1:")
    assert password not in result.stderr + result.stdout + (repository / "catalog.json").read_text()
    catalog = Repository(repository).read_catalog()
    assert catalog.failures["base_backup"] == 1 and len(catalog.restorable) == 1
    assert not [name for name in backup_folders(repository) if name.startswith(INCOMPLETE_PREFIX)]


def test_a_full_disk_is_reported_and_leaves_no_half_backup(source: EmbeddedPostgres, tmp_path: Path) -> None:
    repository = tmp_path / "repository"
    env = env_for(repository, source.owner_dsn())
    assert backup_command(env, "backup").returncode == 0
    good = backup_folders(repository)

    # Far below the base backup's size, far above the catalog's: the backup's own files hit the limit.
    result = backup_command(env, "backup", limit_file_size=512 * 1024)
    assert_one_clear_line(result, "the backup disk is full (or a file-size limit was reached)")
    assert backup_folders(repository) == good
    catalog = Repository(repository).read_catalog()
    assert [b.id for b in catalog.backups] == good and catalog.failures["base_backup"] == 1
    assert backup_command(env, "verify", good[0]).returncode == 0


def test_retention_drops_old_backups_and_only_the_wal_no_kept_backup_needs(
    source: EmbeddedPostgres, tmp_path: Path
) -> None:
    repository = tmp_path / "repository"
    env = env_for(repository, source.owner_dsn(), VAUCHFLOW_BACKUP_KEEP="2")
    for _ in range(2):
        assert backup_command(env, "backup").returncode == 0
    first, second = Repository(repository).read_catalog().backups
    wal = repository / "wal"
    floor = int(second.start_wal_file, 16)
    below, at_floor = f"{floor - 1:024X}", second.start_wal_file
    for name in (below, at_floor, f"{floor - 2:024X}.partial"):
        (wal / name).write_bytes(b"")

    result = backup_command(env, "backup")
    assert result.returncode == 0 and f"retention dropped {first.id}" in result.stdout
    kept = [b.id for b in Repository(repository).read_catalog().backups]
    assert first.id not in kept and second.id in kept and len(kept) == 2
    assert backup_folders(repository) == sorted(kept)
    assert sorted(p.name for p in wal.iterdir()) == sorted([at_floor, f"{floor - 2:024X}.partial"])


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def scrape_or_empty(port: int) -> dict[str, float]:
    try:
        return scrape(port)
    except OSError:
        return {}


def test_the_job_retries_a_backup_that_failed_while_postgresql_was_down_and_stops_cleanly(tmp_path: Path) -> None:
    cluster = EmbeddedPostgres(tmp_path / "cluster", free_port(), durable=False)
    cluster.initialize()
    repository, port, log_path = tmp_path / "repository", free_port(), tmp_path / "job.log"
    env = env_for(repository, cluster.owner_dsn(), VAUCHFLOW_BACKUP_RETRY_SECONDS="1",
                  VAUCHFLOW_BACKUP_METRICS_PORT=str(port), VAUCHFLOW_BACKUP_WAL_SWEEP_SECONDS="0.2")  # fmt: skip
    job = start_child([sys.executable, "-m", "vauchflow_backup"], name="backup", env=env, log_path=log_path)
    try:
        wait_for(lambda: scrape_or_empty(port).get('vauchflow_backup_failures_total{stage="base_backup"}', 0) >= 1,
                 what="a failed start-up backup", timeout=60, process=job, log_path=log_path)  # fmt: skip
        assert scrape(port)["vauchflow_backup_last_success_timestamp_seconds"] == 0
        assert scrape(port)["vauchflow_backup_wal_receiver_up"] == 0

        cluster.start()
        wait_for(lambda: scrape(port)["vauchflow_backup_last_success_timestamp_seconds"] > 0,
                 what="the retried backup", timeout=60, process=job, log_path=log_path)  # fmt: skip
        wait_for(lambda: scrape(port)["vauchflow_backup_wal_receiver_up"] == 1 and
                 "vauchflow_backup_wal_newest_age_seconds" in scrape(port),
                 what="WAL streaming", timeout=60, process=job, log_path=log_path)  # fmt: skip
    finally:
        returncode = stop_child(job, name="backup", sig=signal.SIGTERM, timeout=30)
        cluster.stop()
    assert returncode == 0
    log = log_path.read_text()
    assert '"action": "backup_failed"' in log and "PostgreSQL is not reachable" in log
    assert '"action": "backup_finished"' in log and '"action": "job_stopped"' in log
    password = (tmp_path / "cluster" / "owner.password").read_text().strip()
    assert password not in log and password not in (repository / "catalog.json").read_text()


# -- off-host copies, against moto's S3-compatible server (a real HTTP server in its own process) ------------------

S3_KEY_ID, S3_SECRET = "drill-key-id", "drill-secret-" + secrets.token_hex(8)


@pytest.fixture
def s3_endpoint(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log_path = tmp_path / "moto.log"
    server = start_child([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], name="moto",
                         log_path=log_path)  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(endpoint), what="moto S3 server", timeout=60, process=server, log_path=log_path)
        yield endpoint
    finally:
        stop_child(server, name="moto", timeout=10)


def _answers(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(endpoint, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def s3_client(endpoint: str):  # type: ignore[no-untyped-def]
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=S3_KEY_ID,
                        aws_secret_access_key=S3_SECRET)  # fmt: skip


def s3_settings(endpoint: str, bucket: str) -> dict[str, str]:
    return {
        "VAUCHFLOW_BACKUP_S3_BUCKET": bucket,
        "VAUCHFLOW_BACKUP_S3_ENDPOINT_URL": endpoint,
        "VAUCHFLOW_BACKUP_S3_REGION": "us-east-1",
        "VAUCHFLOW_BACKUP_S3_PREFIX": "site-a",
        "VAUCHFLOW_BACKUP_S3_ACCESS_KEY_ID": S3_KEY_ID,
        "VAUCHFLOW_BACKUP_S3_SECRET_ACCESS_KEY": S3_SECRET,
    }


def test_the_job_copies_backups_and_wal_off_host_and_the_copy_is_a_repository(
    source: EmbeddedPostgres, tmp_path: Path, s3_endpoint: str
) -> None:
    client = s3_client(s3_endpoint)
    client.create_bucket(Bucket="vauchflow-backups")
    repository, log_path, port = tmp_path / "repository", tmp_path / "job.log", free_port()
    settings = s3_settings(s3_endpoint, "vauchflow-backups")
    env = env_for(repository, source.owner_dsn(), VAUCHFLOW_BACKUP_ENCRYPTION_KEY=ENCRYPTION_KEY,
                  VAUCHFLOW_BACKUP_SLOT="offsite_test", VAUCHFLOW_BACKUP_METRICS_PORT=str(port),
                  VAUCHFLOW_BACKUP_WAL_SWEEP_SECONDS="0.2", **settings)  # fmt: skip

    def remote_keys() -> list[str]:
        listed = client.list_objects_v2(Bucket="vauchflow-backups", Prefix="site-a/")
        return sorted(item["Key"] for item in listed.get("Contents", []))

    def copied_a_backup_and_wal() -> bool:
        # Each call completes a WAL segment, so one reaches the bucket once streaming runs.
        source.psql("INSERT INTO kept_rows VALUES (1); SELECT pg_switch_wal()")
        keys = remote_keys()
        return any(k.endswith("base.tar.gz.enc") for k in keys) and any(k.startswith("site-a/wal/") for k in keys)

    job = start_child([sys.executable, "-m", "vauchflow_backup"], name="backup", env=env, log_path=log_path)
    try:
        wait_for(copied_a_backup_and_wal, what="a backup and WAL in the bucket", timeout=90, process=job,
                 log_path=log_path, interval=0.5)  # fmt: skip
    finally:
        assert stop_child(job, name="backup", sig=signal.SIGTERM, timeout=30) == 0
        source.psql("SELECT pg_drop_replication_slot('offsite_test')")
    keys = remote_keys()
    assert "site-a/catalog.json" in keys
    assert not any(key.endswith(".partial") for key in keys), "the open segment stays local"
    assert all(key.endswith((".enc", "catalog.json")) for key in keys), keys

    # The bucket, copied back, is a repository: list and verify work on it as on the original.
    copy = tmp_path / "copy"
    for key in keys:
        target = copy / key.removeprefix("site-a/")
        target.parent.mkdir(parents=True, exist_ok=True)
        client.download_file("vauchflow-backups", key, str(target))
    copy_env = env_for(copy, VAUCHFLOW_BACKUP_ENCRYPTION_KEY=ENCRYPTION_KEY)
    verified = backup_command(copy_env, "verify", "--all")
    assert verified.returncode == 0 and "verified" in verified.stdout, verified.stdout + verified.stderr
    assert S3_SECRET not in log_path.read_text()


def test_an_unreachable_bucket_is_reported_counted_and_keeps_the_local_backup(
    source: EmbeddedPostgres, tmp_path: Path, s3_endpoint: str
) -> None:
    repository = tmp_path / "repository"
    env = env_for(repository, source.owner_dsn(), **s3_settings(s3_endpoint, "no-such-bucket"))
    result = backup_command(env, "backup")
    assert_one_clear_line(result, "uploading to s3://no-such-bucket/site-a/ failed")
    assert "NoSuchBucket" in result.stderr and S3_SECRET not in result.stderr + result.stdout
    catalog = Repository(repository).read_catalog()
    assert catalog.failures["offsite"] == 1 and len(catalog.restorable) == 1
