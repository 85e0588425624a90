"""StatusService: the prober's reports, the public summary and the operator's incidents. Thin: request → use case
(vauchflow_server.status.status_desk) → response; the enum and message shapes are converted here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from vauchflow.v1 import status_pb2, status_service_pb2_grpc
from vauchflow.v1 import status_service_pb2 as pb
from vauchflow_core.errors import InvalidArgument, Violations
from vauchflow_server.api.proto_convert import optional_datetime, plan_name, timestamp
from vauchflow_server.db.status_records import NewIncidentUpdate, StoredIncidentUpdate
from vauchflow_server.status.status_desk import (
    CheckReport,
    ComponentView,
    CreateIncident,
    IncidentView,
    StatusDesk,
    Summary,
)
from vauchflow_server.status.subscriptions import StatusSubscriptions

_COMPONENT_PREFIX = "MONITORED_COMPONENT_"
_COMPONENT_IDS = {"API": "api", "REDEMPTION": "redemption", "WEBHOOKS": "webhooks", "MCP": "mcp",
                  "DASHBOARD": "dashboard", "BACKUPS": "backups"}  # fmt: skip
_COMPONENT_ENUMS = {v: _COMPONENT_PREFIX + k for k, v in _COMPONENT_IDS.items()}


def _enum_name(enum: Any, value: int, prefix: str) -> str:
    return enum.Name(value).removeprefix(prefix) if value in enum.values() else f"unknown({value})"


def component_id(value: int) -> str:
    return _COMPONENT_IDS.get(_enum_name(status_pb2.MonitoredComponent, value, _COMPONENT_PREFIX), "unknown")


def _check_report(message: status_pb2.CheckResult, violations: Violations, path: str) -> CheckReport:
    duration = None
    if message.HasField("duration"):
        try:
            duration = message.duration.ToTimedelta().total_seconds() * 1000
        except (OverflowError, ValueError):
            violations.add(f"{path}.duration", "is not a valid duration")
    return CheckReport(
        component=component_id(message.component),
        outcome=_enum_name(status_pb2.CheckOutcome, message.outcome, "CHECK_OUTCOME_"),
        duration_ms=duration,
        detail=message.detail,
        check_time=optional_datetime(message, "check_time", violations, f"{path}.check_time"),
    )


def _update_message(update: StoredIncidentUpdate) -> status_pb2.IncidentUpdate:
    return status_pb2.IncidentUpdate(
        id=str(update.id),
        state="INCIDENT_STATE_" + update.state,
        message=update.message,
        create_time=timestamp(update.create_time),
        affected_endpoints=list(update.affected_endpoints),
        workaround=update.workaround,
        expected_resolution_time=timestamp(update.expected_resolution_time),
        catch_up_window=update.catch_up_window,
        author=update.author,
    )


def incident_message(view: IncidentView) -> status_pb2.Incident:
    incident = view.incident
    return status_pb2.Incident(
        id=str(incident.id),
        title=incident.title,
        state="INCIDENT_STATE_" + incident.state,
        components=[_COMPONENT_ENUMS[c] for c in incident.components],
        affected_plans=["PLAN_" + p for p in incident.affected_plans],
        create_time=timestamp(incident.create_time),
        update_time=timestamp(incident.update_time),
        resolve_time=timestamp(incident.resolve_time),
        updates=[_update_message(u) for u in view.updates],
        overdue=view.overdue,
        postmortem_required=incident.postmortem_required,
        postmortem_due_date=view.postmortem_due_date.isoformat() if view.postmortem_due_date else "",
    )


def _component_message(view: ComponentView) -> status_pb2.ComponentStatus:
    message = status_pb2.ComponentStatus(
        component=_COMPONENT_ENUMS[view.component],
        display_name=view.display_name,
        state="COMPONENT_STATE_" + view.state,
        target=view.target,
        state_reason=view.reason,
        last_check_time=timestamp(view.last_check_time),
        days=[status_pb2.DailyUptime(date=day.isoformat(), uptime_percent=percent) for day, percent in view.days],
    )
    if view.uptime_90d_percent is not None:
        message.uptime_90d_percent = view.uptime_90d_percent
    if view.p99_ms is not None:
        message.p99_milliseconds = view.p99_ms
    return message


def summary_message(summary: Summary) -> pb.GetStatusSummaryResponse:
    return pb.GetStatusSummaryResponse(
        generate_time=timestamp(summary.generate_time),
        overall_state="COMPONENT_STATE_" + summary.overall_state,
        components=[_component_message(c) for c in summary.components],
        open_incidents=[incident_message(i) for i in summary.open_incidents],
        recent_incidents=[incident_message(i) for i in summary.recent_incidents],
        sla_note=summary.sla_note,
    )


class StatusServicer(status_service_pb2_grpc.StatusServiceServicer):
    def __init__(
        self, desk: StatusDesk, subscriptions: StatusSubscriptions, admit_public: Callable[[Any], Awaitable[None]]
    ):
        self._desk = desk
        self._subscriptions = subscriptions
        # Public calls are rate-limited per client address (there is no tenant to charge them to).
        self._admit_public = admit_public

    async def ReportCheckResults(
        self, request: pb.ReportCheckResultsRequest, context: Any
    ) -> pb.ReportCheckResultsResponse:
        violations = Violations()
        reports = [_check_report(r, violations, f"results[{i}]") for i, r in enumerate(request.results)]
        violations.raise_if_any()
        opened = await self._desk.report_checks(reports, request.open_incident_after_failures)
        return pb.ReportCheckResultsResponse(opened_incidents=[incident_message(i) for i in opened])

    async def GetStatusSummary(self, request: pb.GetStatusSummaryRequest, context: Any) -> pb.GetStatusSummaryResponse:
        await self._admit_public(context)
        return summary_message(await self._desk.summary())

    async def CreateIncident(self, request: pb.CreateIncidentRequest, context: Any) -> pb.CreateIncidentResponse:
        plans = tuple(plan_name(p) or "" for p in request.affected_plans)
        view = await self._desk.create_incident(
            CreateIncident(
                title=request.title,
                components=tuple(component_id(c) for c in request.components),
                affected_plans=plans,
                message=request.message,
                request_id=request.request_id,
            )
        )
        return pb.CreateIncidentResponse(incident=incident_message(view))

    async def AddIncidentUpdate(
        self, request: pb.AddIncidentUpdateRequest, context: Any
    ) -> pb.AddIncidentUpdateResponse:
        violations = Violations()
        update = request.update
        expected: dt.datetime | None = optional_datetime(
            update, "expected_resolution_time", violations, "update.expected_resolution_time"
        )
        violations.raise_if_any()
        view = await self._desk.add_update(
            request.incident_id,
            NewIncidentUpdate(
                state=_enum_name(status_pb2.IncidentState, update.state, "INCIDENT_STATE_"),
                message=update.message,
                author="operator",
                affected_endpoints=tuple(update.affected_endpoints),
                workaround=update.workaround,
                expected_resolution_time=expected,
                catch_up_window=update.catch_up_window,
            ),
        )
        return pb.AddIncidentUpdateResponse(incident=incident_message(view))

    async def GetIncident(self, request: pb.GetIncidentRequest, context: Any) -> pb.GetIncidentResponse:
        return pb.GetIncidentResponse(incident=incident_message(await self._desk.get_incident(request.id)))

    async def ListIncidents(self, request: pb.ListIncidentsRequest, context: Any) -> pb.ListIncidentsResponse:
        page = await self._desk.list_incidents(request.page_size, request.page_token)
        return pb.ListIncidentsResponse(
            incidents=[incident_message(i) for i in page.items], next_page_token=page.next_page_token
        )

    async def CreateSubscription(
        self, request: pb.CreateSubscriptionRequest, context: Any
    ) -> pb.CreateSubscriptionResponse:
        await self._admit_public(context)
        target = request.WhichOneof("target")
        if target == "email":
            await self._subscriptions.subscribe_email(request.email)
            return pb.CreateSubscriptionResponse(confirmation_pending=True)
        if target == "webhook_url":
            created = await self._subscriptions.subscribe_webhook(request.webhook_url)
            return pb.CreateSubscriptionResponse(
                subscription_id=str(created.id),
                signing_secret=created.signing_secret,
                unsubscribe_token=created.unsubscribe_token,
            )
        raise InvalidArgument.single("email", "give an email address or a webhook_url")

    async def ConfirmSubscription(
        self, request: pb.ConfirmSubscriptionRequest, context: Any
    ) -> pb.ConfirmSubscriptionResponse:
        await self._admit_public(context)
        await self._subscriptions.confirm(request.token)
        return pb.ConfirmSubscriptionResponse()

    async def Unsubscribe(self, request: pb.UnsubscribeRequest, context: Any) -> pb.UnsubscribeResponse:
        await self._admit_public(context)
        await self._subscriptions.unsubscribe(request.token)
        return pb.UnsubscribeResponse()
