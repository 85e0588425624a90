"""The seed's incident rules, enforced by the real API server with shortened thresholds: an open incident goes
overdue without updates (flag and metric) and an update clears it; a component down longer than the threshold
marks its incident as needing a postmortem, due 5 business days (Berlin calendar) after it resolved."""

from __future__ import annotations

import datetime as dt
import secrets
import signal
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf import timestamp_pb2

from support.metrics import sample, scrape
from support.polling import wait_for
from support.ports import free_port
from support.services import ApiServer, start_api_server
from vauchflow.v1 import status_pb2, status_service_pb2, status_service_pb2_grpc
from vauchflow_devstack import stop_child
from vauchflow_server.status.rules import postmortem_due_date


@pytest.fixture
def quick_rules_server(postgres, redis_server, tmp_path) -> Iterator[tuple[ApiServer, int]]:
    database = postgres.create_database("status_rules")
    metrics_port = free_port()
    server = start_api_server(
        database=database, redis_url=redis_server.url, admin_token="vf_op_" + secrets.token_urlsafe(24),
        port=free_port(), log_path=tmp_path / "server.log",
        extra_env={"VAUCHFLOW_STATUS_UPDATE_CADENCE_SECONDS": "1", "VAUCHFLOW_METRICS_PORT": str(metrics_port),
                   "VAUCHFLOW_STATUS_POSTMORTEM_AFTER_DOWN_SECONDS": "2", "VAUCHFLOW_STATUS_METRICS_SECONDS": "0.2"},
    )  # fmt: skip
    try:
        yield server, metrics_port
    finally:
        assert stop_child(server.process, name="api-server", sig=signal.SIGTERM, timeout=30) == 0
        postgres.drop_database(database.name)


def _overdue_gauge(port: int) -> float:
    return sample(scrape(port), "vauchflow_status_incidents_overdue", default=-1.0)


def _at(moment: dt.datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def test_overdue_and_postmortem_rules(quick_rules_server) -> None:
    server, metrics_port = quick_rules_server
    metadata = (("authorization", f"Bearer {server.admin_token}"),)
    with grpc.insecure_channel(server.target) as channel:
        status = status_service_pb2_grpc.StatusServiceStub(channel)

        def get(incident_id: str) -> status_pb2.Incident:
            request = status_service_pb2.GetIncidentRequest(id=incident_id)
            return status.GetIncident(request, metadata=metadata, timeout=10).incident

        created = status.CreateIncident(
            status_service_pb2.CreateIncidentRequest(title="API errors", components=["MONITORED_COMPONENT_API"]),
            metadata=metadata, timeout=10,
        ).incident  # fmt: skip
        assert not created.overdue and not created.postmortem_required

        # No update within the (shortened) cadence: flagged, and counted by the metric.
        wait_for(lambda: get(created.id).overdue, what="incident overdue", timeout=30)
        wait_for(lambda: _overdue_gauge(metrics_port) == 1.0, what="overdue gauge at 1", timeout=30)
        update = status_pb2.IncidentUpdate(state="INCIDENT_STATE_IDENTIFIED", message="A bad deploy.")
        updated = status.AddIncidentUpdate(
            status_service_pb2.AddIncidentUpdateRequest(incident_id=created.id, update=update),
            metadata=metadata, timeout=10,
        ).incident  # fmt: skip
        assert not updated.overdue

        # Down for longer than the threshold (failed checks since 3 s ago, none passing since): postmortem due.
        now = dt.datetime.now(dt.UTC)
        failures = [
            status_pb2.CheckResult(component="MONITORED_COMPONENT_API", outcome="CHECK_OUTCOME_FAILED",
                                   check_time=_at(now - dt.timedelta(seconds=seconds)), detail="HTTP 503")
            for seconds in (3, 1)
        ]  # fmt: skip
        status.ReportCheckResults(
            status_service_pb2.ReportCheckResultsRequest(results=failures), metadata=metadata, timeout=10
        )
        assert get(created.id).postmortem_required
        resolved = status.AddIncidentUpdate(
            status_service_pb2.AddIncidentUpdateRequest(
                incident_id=created.id,
                update=status_pb2.IncidentUpdate(state="INCIDENT_STATE_RESOLVED", message="Rolled back."),
            ),
            metadata=metadata, timeout=10,
        ).incident  # fmt: skip
        resolve_time = resolved.resolve_time.ToDatetime(tzinfo=dt.UTC)
        assert resolved.postmortem_due_date == postmortem_due_date(resolve_time, 5).isoformat()
        assert not resolved.overdue  # resolved incidents are never overdue

        # A component that failed only briefly does not require one.
        dashboard = status_service_pb2.CreateIncidentRequest(
            title="Slow dashboard", components=["MONITORED_COMPONENT_DASHBOARD"]
        )
        other = status.CreateIncident(dashboard, metadata=metadata, timeout=10).incident
        brief = status_pb2.CheckResult(component="MONITORED_COMPONENT_DASHBOARD", outcome="CHECK_OUTCOME_FAILED")
        status.ReportCheckResults(
            status_service_pb2.ReportCheckResultsRequest(results=[brief]), metadata=metadata, timeout=10
        )
        assert not get(other.id).postmortem_required
