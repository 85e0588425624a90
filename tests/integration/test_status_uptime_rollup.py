"""The 90-day uptime figures come from the daily rollup (status_uptime_days) that storing checks keeps, not from the
raw check rows: a history seeded through ReportCheckResults gives exactly the expected per-day and 90-day
percentages, the rollup equals a count of the raw rows, and the figures stand after the raw rows are gone."""

from __future__ import annotations

import datetime as dt
import secrets
import signal
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf import duration_pb2, timestamp_pb2

from support.api_client import OwnerDatabase
from support.ports import free_port
from support.services import ApiServer, start_api_server
from vauchflow.v1 import status_pb2, status_service_pb2, status_service_pb2_grpc
from vauchflow_devstack import stop_child

PASSED, FAILED, NOT_DEPLOYED = (status_pb2.CHECK_OUTCOME_PASSED, status_pb2.CHECK_OUTCOME_FAILED,
                                status_pb2.CHECK_OUTCOME_NOT_DEPLOYED)  # fmt: skip


@pytest.fixture
def fresh_server(postgres, redis_server, tmp_path) -> Iterator[tuple[ApiServer, OwnerDatabase]]:
    database = postgres.create_database("status_uptime")
    server = start_api_server(
        database=database, redis_url=redis_server.url, admin_token="vf_op_" + secrets.token_urlsafe(24),
        port=free_port(), log_path=tmp_path / "server.log",
    )  # fmt: skip
    try:
        yield server, OwnerDatabase(database.owner_dsn)
    finally:
        assert stop_child(server.process, name="api-server", sig=signal.SIGTERM, timeout=30) == 0
        postgres.drop_database(database.name)


def _checks(day: dt.date, outcomes: list[tuple[int, int]]) -> list[status_pb2.CheckResult]:
    """(outcome, how many) spread over the day, a minute apart from 08:00 UTC."""
    start = dt.datetime.combine(day, dt.time(8), tzinfo=dt.UTC)
    results, n = [], 0
    for outcome, count in outcomes:
        for _ in range(count):
            when = timestamp_pb2.Timestamp()
            when.FromDatetime(start + dt.timedelta(minutes=n))
            results.append(
                status_pb2.CheckResult(
                    component=status_pb2.MONITORED_COMPONENT_BACKUPS,
                    outcome=outcome,
                    check_time=when,
                    duration=duration_pb2.Duration(nanos=1_000_000),
                )
            )
            n += 1
    return results


def test_uptime_percentages_of_a_seeded_history_come_from_the_daily_rollup(fresh_server) -> None:
    server, owner = fresh_server
    today = dt.datetime.now(dt.UTC).date()
    history = {
        today - dt.timedelta(days=89): [(PASSED, 10)],  # the oldest day in the window
        today - dt.timedelta(days=90): [(FAILED, 50)],  # one day too old: outside the 90 days
        today - dt.timedelta(days=30): [(PASSED, 97), (FAILED, 3), (NOT_DEPLOYED, 40)],
        today - dt.timedelta(days=2): [(FAILED, 4), (PASSED, 196)],
        today - dt.timedelta(days=1): [(NOT_DEPLOYED, 5)],  # nothing decided: no percentage
    }
    with grpc.insecure_channel(server.target) as channel:
        status = status_service_pb2_grpc.StatusServiceStub(channel)
        operator = [("authorization", f"Bearer {server.admin_token}")]
        for day, outcomes in history.items():
            # Two reports for a day: the second adds to the first day's row instead of replacing it.
            checks = _checks(day, outcomes)
            half = len(checks) // 2
            for part in (checks[:half], checks[half:]):
                if part:
                    status.ReportCheckResults(status_service_pb2.ReportCheckResultsRequest(results=part),
                                              metadata=operator)  # fmt: skip

        rollup = {(r["component"], r["day"]): (r["passed"], r["failed"])
                  for r in owner.fetch("SELECT * FROM status_uptime_days")}  # fmt: skip
        counted = owner.fetch(
            "SELECT component, (check_time AT TIME ZONE 'UTC')::date AS day,"
            " count(*) FILTER (WHERE outcome = 'PASSED') AS passed,"
            " count(*) FILTER (WHERE outcome = 'FAILED') AS failed"
            " FROM status_checks GROUP BY 1, 2"
        )
        assert rollup == {(r["component"], r["day"]): (r["passed"], r["failed"]) for r in counted}

        # The raw rows could be pruned: the figures stand on the rollup alone.
        owner.fetch("DELETE FROM status_checks")
        summary = status.GetStatusSummary(status_service_pb2.GetStatusSummaryRequest())
    backups = next(c for c in summary.components if c.component == status_pb2.MONITORED_COMPONENT_BACKUPS)
    days = {d.date: (d.uptime_percent if d.HasField("uptime_percent") else None) for d in backups.days}
    assert len(days) == 90 and min(days) == (today - dt.timedelta(days=89)).isoformat()
    assert days[(today - dt.timedelta(days=89)).isoformat()] == 100.0
    assert days[(today - dt.timedelta(days=30)).isoformat()] == 97.0
    assert days[(today - dt.timedelta(days=2)).isoformat()] == 98.0
    assert days[(today - dt.timedelta(days=1)).isoformat()] is None
    assert days[(today - dt.timedelta(days=3)).isoformat()] is None
    # 90 days: (10 + 97 + 196) passed of (10 + 100 + 200) decided; the failures of day 90 are outside.
    assert backups.uptime_90d_percent == pytest.approx(100 * 303 / 310, abs=0.001)
