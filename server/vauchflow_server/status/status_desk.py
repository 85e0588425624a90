"""The status page's use cases: store the prober's checks (opening incidents the prober asks for), build the public
summary, and keep incidents with their immutable history. No gRPC and no SQL here: rules come from status.rules,
rows from the database's status transaction."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from uuid import UUID

from vauchflow_core.errors import Conflict, NotFound, Violations
from vauchflow_core.events import new_event
from vauchflow_core.status_subscriptions import INCIDENT_CREATED, INCIDENT_RESOLVED, INCIDENT_UPDATED
from vauchflow_core.tenancy import PLANS
from vauchflow_server import idempotency
from vauchflow_server.db.database import Database
from vauchflow_server.db.status_records import (
    NewIncidentUpdate,
    StatusTransaction,
    StoredCheck,
    StoredIncident,
    StoredIncidentUpdate,
)
from vauchflow_server.pagination import Page, make_page, page_request
from vauchflow_server.status import rules
from vauchflow_server.status.rules import COMPONENTS, Check, StateRules

log = logging.getLogger(__name__)

# How many recent checks per component the state machine and the p99 look at (10 minutes at the default 30 s is
# 20; the rest lets an outage's onset stay in view while it recovers).
RECENT_CHECKS = 60
UPTIME_DAYS = 90
RECENT_RESOLVED = dt.timedelta(days=14)
MAX_TITLE = 200
MAX_FAILURES_TO_OPEN = RECENT_CHECKS
# 20 rounds of six checks (the prober's backlog while the API was away) fit with room to spare.
MAX_REPORTED_CHECKS = 1000
MAX_MESSAGE = 5000


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class CheckReport:
    component: str
    outcome: str
    duration_ms: float | None
    detail: str
    check_time: dt.datetime | None


@dataclass(frozen=True)
class IncidentView:
    incident: StoredIncident
    updates: list[StoredIncidentUpdate]
    overdue: bool
    postmortem_due_date: dt.date | None


@dataclass(frozen=True)
class ComponentView:
    component: str
    display_name: str
    target: str
    state: str
    reason: str
    last_check_time: dt.datetime | None
    p99_ms: float | None
    uptime_90d_percent: float | None
    # (day, percent or None), oldest first.
    days: list[tuple[dt.date, float | None]]


@dataclass(frozen=True)
class Summary:
    generate_time: dt.datetime
    overall_state: str
    components: list[ComponentView]
    open_incidents: list[IncidentView]
    recent_incidents: list[IncidentView]
    sla_note: str = rules.SLA_NOTE


@dataclass(frozen=True)
class CreateIncident:
    title: str
    components: tuple[str, ...]
    affected_plans: tuple[str, ...] = ()
    message: str = ""
    request_id: str = ""
    author: str = field(default="operator", compare=False)


def incident_not_found(raw: object) -> NotFound:
    # The generic NOT_FOUND reason: ErrorReason (and the client's table) stay as they are for one more resource.
    return NotFound(f"no incident with id {raw}", reason="NOT_FOUND")


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


async def record_change(
    tx: StatusTransaction, event_type: str, incident: StoredIncident, update: NewIncidentUpdate, now: dt.datetime
) -> None:
    """The incident change as an event in the status outbox, in the transaction that makes the change: the
    delivery service sends it to every confirmed subscriber (signed webhooks, mails)."""
    data = {
        "incident": {
            "id": str(incident.id),
            "title": incident.title,
            "state": incident.state,
            "components": list(incident.components),
            "affected_plans": list(incident.affected_plans),
            "create_time": _iso(incident.create_time),
            "resolve_time": _iso(incident.resolve_time),
        },
        "update": {
            "state": update.state,
            "message": update.message,
            "affected_endpoints": list(update.affected_endpoints),
            "workaround": update.workaround,
            "expected_resolution_time": _iso(update.expected_resolution_time),
            "catch_up_window": update.catch_up_window,
            "create_time": _iso(now),
        },
    }
    await tx.insert_event(new_event(event_type, data), now)


def _parse_id(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise incident_not_found("given") from None


class StatusDesk:
    def __init__(
        self,
        db: Database,
        state_rules: StateRules | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
    ):
        self._db = db
        self._rules = state_rules or StateRules()
        self._clock = clock

    # Checks

    async def report_checks(self, reports: Sequence[CheckReport], open_after_failures: int) -> list[IncidentView]:
        """Stores the checks; opens an Investigating incident for a component that has now failed
        open_after_failures checks in a row and is named by no open incident; marks open incidents naming a
        component down for longer than the postmortem threshold. Returns the incidents it opened."""
        violations = Violations()
        for i, report in enumerate(reports):
            if report.component not in COMPONENTS:
                violations.add(f"results[{i}].component", "must be one of the six monitored components")
            if report.outcome not in (rules.PASSED, rules.FAILED, rules.NOT_DEPLOYED):
                violations.add(f"results[{i}].outcome", "must be PASSED, FAILED or NOT_DEPLOYED")
            if report.duration_ms is not None and report.duration_ms < 0:
                violations.add(f"results[{i}].duration", "must not be negative")
        if not reports:
            violations.add("results", "must not be empty")
        if not 0 <= open_after_failures <= MAX_FAILURES_TO_OPEN:
            violations.add("open_incident_after_failures", f"must be between 0 and {MAX_FAILURES_TO_OPEN}")
        if len(reports) > MAX_REPORTED_CHECKS:
            violations.add("results", f"at most {MAX_REPORTED_CHECKS} per report")
        violations.raise_if_any()
        now = self._clock()
        checks = [
            StoredCheck(r.component, r.outcome, r.duration_ms, r.detail[:200], r.check_time or now) for r in reports
        ]
        failing = sorted({c.component for c in checks if c.outcome == rules.FAILED})
        opened: list[UUID] = []
        async with self._db.status_transaction() as tx:
            await tx.insert_checks(checks)
            if not failing:
                return []
            recent = await tx.recent_checks(failing, max(open_after_failures, 1))
            open_incidents = await tx.open_incidents()
            named = {component for incident in open_incidents for component in incident.components}
            for component in failing:
                streak = rules.failures_in_a_row([c.outcome for c in reversed(recent[component])])
                if open_after_failures and streak >= open_after_failures and component not in named:
                    opened.append(await self._open_by_prober(tx, component, streak, now))
            # The postmortem rule, judged while the component is still down.
            long_down: set[str] = set()
            for component in failing:
                started = await tx.failure_streak_start(component)
                if started is not None and now - started > self._rules.postmortem_after_down:
                    long_down.add(component)
            if long_down:
                marked = [i.id for i in await tx.open_incidents() if long_down & set(i.components)]
                await tx.require_postmortem(marked)
        return [await self.get_incident(str(i)) for i in opened]

    async def _open_by_prober(self, tx: StatusTransaction, component: str, failures: int, now: dt.datetime) -> UUID:
        name = COMPONENTS[component][0]
        incident_id = uuid.uuid4()
        incident = await tx.insert_incident(incident_id, f"{name}: checks failing", [component], [], None, None, now)
        assert incident is not None
        message = (
            f"Our automated checks of {name} have failed {failures} times in a row. We are investigating; "
            "the cause is not yet known."
        )
        update = NewIncidentUpdate(rules.INVESTIGATING, message, "prober")
        await tx.insert_update(incident_id, update, now)
        await record_change(tx, INCIDENT_CREATED, incident, update, now)
        log.warning(
            "incident opened by the prober",
            extra={"action": "status_incident_opened", "component": component, "incident_id": str(incident_id)},
        )
        return incident_id

    # The summary

    async def summary(self) -> Summary:
        now = self._clock()
        today = now.date()
        first_day = today - dt.timedelta(days=UPTIME_DAYS - 1)
        since = dt.datetime.combine(first_day, dt.time(), tzinfo=dt.UTC)
        async with self._db.status_transaction() as tx:
            recent = await tx.recent_checks(list(COMPONENTS), RECENT_CHECKS)
            daily = await tx.daily_uptime(since)
            open_incidents = await tx.open_incidents()
            resolved = await tx.resolved_incidents_since(now - RECENT_RESOLVED)
            updates = await tx.updates_of([i.id for i in (*open_incidents, *resolved)])
        components = []
        for component, (display_name, target) in COMPONENTS.items():
            checks = [Check(c.outcome, c.check_time, c.duration_ms, c.detail) for c in recent[component]]
            verdict = rules.component_state(component, checks, now, self._rules)
            days = [first_day + dt.timedelta(days=n) for n in range(UPTIME_DAYS)]
            counts = [daily.get((component, day), (0, 0)) for day in days]
            total_passed = sum(p for p, _ in counts)
            total_failed = sum(f for _, f in counts)
            components.append(
                ComponentView(
                    component=component,
                    display_name=display_name,
                    target=target,
                    state=verdict.state,
                    reason=verdict.reason,
                    last_check_time=checks[-1].check_time if checks else None,
                    p99_ms=verdict.p99_ms,
                    uptime_90d_percent=rules.uptime_percent(total_passed, total_failed),
                    days=[(day, rules.uptime_percent(p, f)) for day, (p, f) in zip(days, counts, strict=True)],
                )
            )
        return Summary(
            generate_time=now,
            overall_state=rules.overall_state([c.state for c in components]),
            components=components,
            open_incidents=[self._view(i, updates[i.id], now) for i in open_incidents],
            recent_incidents=[self._view(i, updates[i.id], now) for i in resolved],
        )

    # Incidents

    async def create_incident(self, command: CreateIncident) -> IncidentView:
        violations = Violations()
        if not command.title.strip():
            violations.add("title", "must not be empty")
        elif len(command.title) > MAX_TITLE:
            violations.add("title", f"at most {MAX_TITLE} characters")
        if not command.components:
            violations.add("components", "name at least one component")
        for component in command.components:
            if component not in COMPONENTS:
                violations.add("components", "must be monitored components")
        for plan in command.affected_plans:
            if plan not in PLANS:
                violations.add("affected_plans", f"must be among {', '.join(PLANS)}")
        if len(command.message) > MAX_MESSAGE:
            violations.add("message", f"at most {MAX_MESSAGE} characters")
        idempotency.check_key(command.request_id, violations)
        violations.raise_if_any()
        request_hash = idempotency.fingerprint(command) if command.request_id else None
        now = self._clock()
        incident_id = uuid.uuid4()
        async with self._db.status_transaction() as tx:
            created = await tx.insert_incident(
                incident_id,
                command.title.strip(),
                sorted(set(command.components), key=list(COMPONENTS).index),
                sorted(set(command.affected_plans), key=PLANS.index),
                command.request_id or None,
                request_hash,
                now,
            )
            if created is None:
                original = await tx.incident_by_request_id(command.request_id)
                assert original is not None
                if original.request_hash != request_hash:
                    raise Conflict(
                        "this request_id was already used with a different request", reason="IDEMPOTENCY_KEY_REUSED"
                    )
                incident_id = original.id
            else:
                names = ", ".join(COMPONENTS[c][0] for c in created.components)
                message = command.message.strip() or f"We are investigating an issue affecting {names}."
                update = NewIncidentUpdate(rules.INVESTIGATING, message, command.author)
                await tx.insert_update(incident_id, update, now)
                await record_change(tx, INCIDENT_CREATED, created, update, now)
        return await self.get_incident(str(incident_id))

    async def add_update(self, raw_id: str, update: NewIncidentUpdate) -> IncidentView:
        incident_id = _parse_id(raw_id)
        violations = Violations()
        if update.state not in rules.INCIDENT_STATES:
            violations.add("update.state", "must be INVESTIGATING, IDENTIFIED, MONITORING or RESOLVED")
        if not update.message.strip():
            violations.add("update.message", "must not be empty")
        elif len(update.message) > MAX_MESSAGE:
            violations.add("update.message", f"at most {MAX_MESSAGE} characters")
        violations.raise_if_any()
        now = self._clock()
        async with self._db.status_transaction() as tx:
            incident = await tx.get_incident(incident_id, lock=True)
            if incident is None:
                raise incident_not_found(incident_id)
            if update.state not in rules.allowed_next_states(incident.state):
                refused = Violations()
                refused.add("update.state", f"an incident in state {incident.state} cannot move to {update.state}")
                refused.raise_if_any()
            await tx.insert_update(incident_id, update, now)
            changed = await tx.set_incident_state(incident_id, update.state, now)
            kind = INCIDENT_RESOLVED if update.state == rules.RESOLVED else INCIDENT_UPDATED
            await record_change(tx, kind, changed, update, now)
        return await self.get_incident(str(incident_id))

    async def get_incident(self, raw_id: str) -> IncidentView:
        incident_id = _parse_id(raw_id)
        async with self._db.status_transaction() as tx:
            incident = await tx.get_incident(incident_id)
            if incident is None:
                raise incident_not_found(incident_id)
            updates = await tx.updates_of([incident_id])
        return self._view(incident, updates[incident_id], self._clock())

    async def list_incidents(self, page_size: int, page_token: str) -> Page[IncidentView]:
        request = page_request(page_size, page_token)
        async with self._db.status_transaction() as tx:
            rows = await tx.list_incidents(request.after, request.size + 1)
            updates = await tx.updates_of([i.id for i in rows])
        now = self._clock()
        page = make_page(rows, request, lambda i: (i.create_time, i.id))
        return Page([self._view(i, updates[i.id], now) for i in page.items], page.next_page_token)

    async def overdue_count(self) -> int:
        """Open incidents past the update cadence (for the vauchflow_status_incidents_overdue gauge)."""
        now = self._clock()
        async with self._db.status_transaction() as tx:
            return sum(
                1 for i in await tx.open_incidents() if rules.is_overdue(i.state, i.update_time, now, self._rules)
            )

    def _view(self, incident: StoredIncident, updates: list[StoredIncidentUpdate], now: dt.datetime) -> IncidentView:
        due = None
        if incident.postmortem_required:
            due = rules.postmortem_due_date(incident.resolve_time or now, self._rules.postmortem_business_days)
        last_update = updates[0].create_time if updates else incident.update_time
        return IncidentView(incident, updates, rules.is_overdue(incident.state, last_update, now, self._rules), due)
