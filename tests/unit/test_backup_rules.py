"""The backup job's pure rules: configuration, the schedule, retention, the catalog's JSON, encryption at rest, and
restore targets."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, time
from pathlib import Path

import pytest

from vauchflow_backup.catalog import BASE_BACKUP, VERIFY, BackupRecord, Catalog, CatalogError, StoredFile
from vauchflow_backup.config import BackupConfig, ConfigError
from vauchflow_backup.encryption import CHUNK_BYTES, DecryptionFailed, decrypt_file, encrypt_file
from vauchflow_backup.pg_tools import Connection
from vauchflow_backup.repository import Repository, WalFile
from vauchflow_backup.restore import RestoreRefused, choose_backup, first_gap, parse_target_time
from vauchflow_backup.retention import plan_retention, prunable_wal
from vauchflow_backup.schedule import first_due, next_daily

KEY = bytes(range(32))
ENV = {"DATABASE_URL": "postgresql://backup:s3cret@db:5432/vauchflow", "VAUCHFLOW_BACKUP_DIR": "/var/backups/vf"}


def backup(backup_id: str, finished_at: float, start_wal: str, damaged: str | None = None) -> BackupRecord:
    return BackupRecord(
        id=backup_id, started_at=finished_at - 5, finished_at=finished_at, size_bytes=100, timeline=1,
        start_lsn="0/0", end_lsn="0/0", start_wal_file=start_wal, encrypted=False,
        files=(StoredFile("base.tar.gz", 100, "0" * 64),), damaged=damaged,
    )  # fmt: skip


def segment(name: str, partial: bool = False) -> WalFile:
    return WalFile(Path(name), name, partial=partial, encrypted=False)


# -- configuration -----------------------------------------------------------------------------------------------


def test_defaults_follow_the_design() -> None:
    config = BackupConfig.from_env(ENV)
    assert (config.keep_backups, config.backup_time_utc, config.metrics_port) == (7, time(2, 0), 9466)
    assert config.encryption_key is None and config.retry_seconds == 300


def test_the_encryption_key_and_password_stay_out_of_the_repr() -> None:
    config = BackupConfig.from_env({**ENV, "VAUCHFLOW_BACKUP_ENCRYPTION_KEY": base64.b64encode(KEY).decode()})
    assert config.encryption_key == KEY
    assert "s3cret" not in repr(config) and base64.b64encode(KEY).decode() not in repr(config)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"DATABASE_URL": ""}, "missing environment variables: DATABASE_URL"),
        ({"DATABASE_URL": "host=db"}, "DATABASE_URL must be a postgresql:// URL"),
        ({"VAUCHFLOW_BACKUP_TIME": "25:00"}, "VAUCHFLOW_BACKUP_TIME must be HH:MM"),
        ({"VAUCHFLOW_BACKUP_KEEP": "0"}, "VAUCHFLOW_BACKUP_KEEP must be at least 1"),
        ({"VAUCHFLOW_BACKUP_ENCRYPTION_KEY": "not base64!"}, "not valid base64"),
        ({"VAUCHFLOW_BACKUP_ENCRYPTION_KEY": base64.b64encode(b"short").decode()}, "must decode to 32 bytes"),
        ({"VAUCHFLOW_BACKUP_SLOT": "Bad-Slot"}, "VAUCHFLOW_BACKUP_SLOT must match"),
        ({"VAUCHFLOW_BACKUP_METRICS_PORT": "70000"}, "between 1 and 65535"),
    ],
)
def test_bad_settings_name_the_variable_and_never_echo_a_key(changes: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        BackupConfig.from_env({**ENV, **changes})
    assert "not base64!" not in str(raised.value)


def test_commands_that_only_read_the_repository_need_no_database() -> None:
    config = BackupConfig.from_env({"VAUCHFLOW_BACKUP_DIR": "/r"}, need_database=False)
    assert config.database_url == ""


def test_the_password_reaches_the_tools_through_the_environment_only() -> None:
    connection = Connection.from_url("postgresql://vauchflow_owner:p%40ss@127.0.0.1:54329/vauchflow")
    assert "p%40ss" not in connection.url and "p@ss" not in connection.url
    assert connection.env["PGPASSWORD"] == "p@ss"
    assert connection.url == "postgresql://vauchflow_owner@127.0.0.1:54329/vauchflow"


# -- schedule ------------------------------------------------------------------------------------------------------


def test_the_daily_backup_is_the_next_occurrence_of_its_time() -> None:
    at = time(2, 0)
    assert next_daily(datetime(2026, 12, 1, 1, 59, tzinfo=UTC), at) == datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    assert next_daily(datetime(2026, 12, 1, 2, 0, tzinfo=UTC), at) == datetime(2026, 12, 2, 2, 0, tzinfo=UTC)


def test_start_up_backs_up_at_once_when_nothing_is_restorable_or_the_daily_one_was_missed() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    at = time(2, 0)
    assert first_due(now, at, has_restorable_backup=False, last_success=None) == now
    assert first_due(now, at, True, last_success=datetime(2026, 11, 30, 2, 5, tzinfo=UTC)) == now
    today = datetime(2026, 12, 1, 2, 5, tzinfo=UTC)
    assert first_due(now, at, True, last_success=today) == datetime(2026, 12, 2, 2, 0, tzinfo=UTC)


# -- retention -----------------------------------------------------------------------------------------------------


def test_retention_keeps_the_newest_backups_and_the_wal_from_the_oldest_kept_one() -> None:
    backups = [backup(f"b{i}", 1000.0 + i, f"0000000100000000000000{i:02X}") for i in range(1, 10)]
    plan = plan_retention(backups, keep=7)
    assert [b.id for b in plan.drop_backups] == ["b1", "b2"]
    assert plan.wal_floor == "0000000000000003"
    wal = [segment("000000010000000000000002"), segment("000000010000000000000003"),
           segment("000000010000000000000009", partial=True), WalFile(Path("00000002.history"), "00000002.history",
                                                                      False, False)]  # fmt: skip
    assert [f.name for f in prunable_wal(wal, plan.wal_floor)] == ["000000010000000000000002"]


def test_retention_drops_nothing_until_enough_restorable_backups_exist() -> None:
    backups = [backup("b1", 1.0, "000000010000000000000001"),
               backup("b2", 2.0, "000000010000000000000002", damaged="checksum mismatch"),
               backup("b3", 3.0, "000000010000000000000003")]  # fmt: skip
    plan = plan_retention(backups, keep=2)
    # b2 is damaged, so only b1 and b3 count: both are kept, and all the WAL from b1 on.
    assert plan.drop_backups == () and plan.wal_floor == "0000000000000001"
    assert plan_retention([backup("x", 1.0, "000000010000000000000001", damaged="bad")], keep=1).wal_floor is None


def test_the_open_segment_is_never_pruned_even_below_the_floor() -> None:
    partial = segment("000000010000000000000001", partial=True)
    assert prunable_wal([partial], "0000000000000005") == []


# -- catalog -------------------------------------------------------------------------------------------------------


def test_the_catalog_survives_json_and_only_a_successful_backup_moves_last_success() -> None:
    catalog = Catalog().with_backup(backup("b1", 100.0, "000000010000000000000001"))
    catalog = catalog.with_failure(BASE_BACKUP, 200.0, "PostgreSQL is not reachable")
    catalog = catalog.with_verification("b1", 300.0, "checksum mismatch").with_failure(VERIFY, 300.0, "mismatch")
    again = Catalog.from_json(json.loads(json.dumps(catalog.to_json())))
    assert again == catalog
    assert again.last_success_at == 100.0 and again.failures[BASE_BACKUP] == 1 and again.failures[VERIFY] == 1
    assert again.restorable == () and again.backups[0].damaged == "checksum mismatch"


def test_a_damaged_catalog_file_is_reported_not_crashed_on(tmp_path: Path) -> None:
    repository = Repository(tmp_path)
    repository.catalog_path.write_text("{not json")
    with pytest.raises(CatalogError, match="is not valid JSON"):
        repository.read_catalog()
    repository.catalog_path.write_text('{"format": 1, "backups": [{"id": 1}], "failures": {}}')
    with pytest.raises(CatalogError, match="malformed backup catalog"):
        repository.read_catalog()


# -- encryption at rest --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, CHUNK_BYTES, 2 * CHUNK_BYTES + 17])
def test_encrypted_files_round_trip_and_hide_their_contents(tmp_path: Path, size: int) -> None:
    plain = tmp_path / "plain"
    plain.write_bytes((b"PGDATA tenant row " * (size // 18 + 1))[:size])
    sealed, opened = tmp_path / "sealed", tmp_path / "opened"
    encrypt_file(KEY, plain, sealed, "base.tar.gz")
    assert b"tenant row" not in sealed.read_bytes()
    decrypt_file(KEY, sealed, opened, "base.tar.gz")
    assert opened.read_bytes() == plain.read_bytes()


def test_a_flipped_byte_a_cut_a_rename_or_another_key_never_decrypts(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_bytes(b"x" * (2 * CHUNK_BYTES + 5))
    sealed = tmp_path / "sealed"
    encrypt_file(KEY, plain, sealed, "base.tar.gz")
    data = sealed.read_bytes()
    cases = {
        "flipped": (data[:100] + bytes([data[100] ^ 1]) + data[101:], "base.tar.gz", KEY),
        "cut after a whole chunk": (data[: len(data) - (5 + 16 + 16)], "base.tar.gz", KEY),
        "renamed": (data, "pg_wal.tar.gz", KEY),
        "other key": (data, "base.tar.gz", bytes(32)),
    }
    for case, (content, name, key) in cases.items():
        damaged = tmp_path / f"damaged-{case}"
        damaged.write_bytes(content)
        with pytest.raises(DecryptionFailed):
            decrypt_file(key, damaged, tmp_path / "out", name)


# -- restore targets -----------------------------------------------------------------------------------------------


def test_restore_times_need_a_zone_and_pick_the_newest_backup_finished_before_them() -> None:
    assert parse_target_time("2026-12-01T22:40:00+01:00") == datetime(2026, 12, 1, 21, 40, tzinfo=UTC)
    with pytest.raises(RestoreRefused, match="has no time zone"):
        parse_target_time("2026-12-01T22:40:00")
    with pytest.raises(RestoreRefused, match="is not an ISO 8601 time"):
        parse_target_time("yesterday")
    catalog = Catalog()
    for record in (backup("b1", 1000.0, "000000010000000000000001"), backup("b2", 2000.0, "000000010000000000000002"),
                   backup("b3", 3000.0, "000000010000000000000003", damaged="bad")):  # fmt: skip
        catalog = catalog.with_backup(record)
    assert choose_backup(catalog, None).id == "b2"
    assert choose_backup(catalog, datetime.fromtimestamp(1500.0, UTC)).id == "b1"
    with pytest.raises(RestoreRefused, match="the earliest point that can be restored is"):
        choose_backup(catalog, datetime.fromtimestamp(500.0, UTC))


def test_off_host_copies_are_off_unless_a_bucket_is_set_and_keep_credentials_out_of_the_repr() -> None:
    assert BackupConfig.from_env(ENV).offsite is None
    s3 = {
        "VAUCHFLOW_BACKUP_S3_BUCKET": "vf-backups",
        "VAUCHFLOW_BACKUP_S3_PREFIX": "eu",
        "VAUCHFLOW_BACKUP_S3_ACCESS_KEY_ID": "AKIA1",
        "VAUCHFLOW_BACKUP_S3_SECRET_ACCESS_KEY": "s3-secret",
    }
    config = BackupConfig.from_env({**ENV, **s3})
    assert config.offsite is not None and (config.offsite.bucket, config.offsite.prefix) == ("vf-backups", "eu/")
    assert "s3-secret" not in repr(config) and "AKIA1" not in repr(config)
    with pytest.raises(ConfigError, match="or neither"):
        BackupConfig.from_env({**ENV, "VAUCHFLOW_BACKUP_S3_BUCKET": "b", "VAUCHFLOW_BACKUP_S3_ACCESS_KEY_ID": "AKIA1"})
    with pytest.raises(ConfigError, match="must be an http"):
        BackupConfig.from_env({**ENV, "VAUCHFLOW_BACKUP_S3_BUCKET": "b", "VAUCHFLOW_BACKUP_S3_ENDPOINT_URL": "s3.eu"})


def test_a_hole_in_the_wal_is_found_where_it_is(tmp_path: Path) -> None:
    segment_size = 1 << 20  # a valid (if small) PostgreSQL segment size: 4096 segments per log file
    for name in ("000000010000000000000FFF", "000000010000000100000000", "000000010000000100000001"):
        (tmp_path / name).write_bytes(bytes(segment_size))
    (tmp_path / "00000002.history").write_text("1\t0/5000000\tno recovery target specified\n")
    assert first_gap(tmp_path) is None
    (tmp_path / "000000010000000100000003").write_bytes(bytes(segment_size))
    assert first_gap(tmp_path) == "000000010000000100000001"
