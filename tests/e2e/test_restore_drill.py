"""The restore drill (`make restore-drill`) as a test: backup, load from three tenants, a crash that deletes the
data directory, then restores to a point in time and to the latest WAL, each checked (see
vauchflow_devstack/restore_drill.py for the checks). It prints each check and the elapsed times (`pytest -s`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vauchflow_devstack.restore_drill import MAX_LOSS_SECONDS, Drill, print_summary


def test_the_restore_drill_restores_to_a_point_in_time_and_to_the_latest_wal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = Drill(tmp_path, load_seconds=3.0).run()
    print_summary(report)

    # The drill raises on a failed check; these pin that it checked what it promises, on real load.
    assert report.redeemed_before_target > 50 and report.redeemed_after_target > 50
    checks = "\n".join(report.checks)
    for promise in (
        "every redemption acknowledged before T is restored",
        "no redemption from after T is restored",
        "every voucher's redemption_count equals its redemption rows",
        "RLS: the app role without a tenant sees no redemptions",
        "webhook signing secrets decrypt with the key ring",
        "the API server starts on the restored database",
        "the backup job stops cleanly on SIGTERM",
    ):
        assert promise in checks
    assert checks.count("RLS: the app role as tenant") == 3
    assert report.lost_window_seconds <= MAX_LOSS_SECONDS
    assert report.total_seconds < 120
    with capsys.disabled():
        print()
        print_summary(report)
