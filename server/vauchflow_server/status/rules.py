"""The status page's rules, as pure functions: what state is a component in after these checks, how much of a day
was it up, when is an incident overdue, and when is its postmortem due? (docs/status.md states them for readers.)"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

# The incident workflow lives in the shared core (the dashboard's operator pages offer the same steps); re-exported.
from vauchflow_core.incident_workflow import IDENTIFIED as IDENTIFIED
from vauchflow_core.incident_workflow import INCIDENT_STATES as INCIDENT_STATES
from vauchflow_core.incident_workflow import INVESTIGATING as INVESTIGATING
from vauchflow_core.incident_workflow import MONITORING as MONITORING
from vauchflow_core.incident_workflow import RESOLVED as RESOLVED
from vauchflow_core.incident_workflow import allowed_next_states as allowed_next_states

# Component ids, in the order the status page lists them, with their public names and targets.
COMPONENTS: dict[str, tuple[str, str]] = {
    "api": ("API uptime", "99.9% availability"),
    "redemption": ("Redemption latency p99", "< 200 ms"),
    "webhooks": ("Webhook delivery", ">= 99% delivered within 1 hour"),
    "mcp": ("MCP server", "99.9% availability"),
    "dashboard": ("Dashboard", "99.9% availability"),
    "backups": ("Database backup currency", "last backup within 24 hours"),
}

PASSED = "PASSED"
FAILED = "FAILED"
NOT_DEPLOYED = "NOT_DEPLOYED"

OPERATIONAL = "OPERATIONAL"
DEGRADED = "DEGRADED"
PARTIAL_OUTAGE = "PARTIAL_OUTAGE"
MAJOR_OUTAGE = "MAJOR_OUTAGE"
UNKNOWN = "UNKNOWN"
# Worst last: the overall state is the worst deployed component's.
SEVERITY = (OPERATIONAL, DEGRADED, PARTIAL_OUTAGE, MAJOR_OUTAGE)


SLA_NOTE = (
    "The 99.9% availability targets apply to Scale and Enterprise plans. Free, Starter and Growth plans share the "
    "same infrastructure but do not carry a contractual SLA."
)

SUPPORT_TIMEZONE = ZoneInfo("Europe/Berlin")  # "CET" in the seed: the support calendar, with its summer time


@dataclass(frozen=True)
class StateRules:
    """The defaults are the status page's published rules."""

    failures_for_outage: int = 3
    passes_for_recovery: int = 2
    # Redemption: p99 at or above this is degraded, judged on at least min_latency_samples in latency_window.
    latency_threshold_ms: float = 200.0
    min_latency_samples: int = 20
    latency_window: dt.timedelta = dt.timedelta(minutes=10)
    # No check for this long: the state is unknown rather than whatever it was.
    stale_after: dt.timedelta = dt.timedelta(minutes=5)
    update_cadence: dt.timedelta = dt.timedelta(minutes=30)
    postmortem_after_down: dt.timedelta = dt.timedelta(minutes=15)
    postmortem_business_days: int = 5


@dataclass(frozen=True)
class Check:
    outcome: str
    check_time: dt.datetime
    duration_ms: float | None = None
    detail: str = ""


@dataclass(frozen=True)
class ComponentVerdict:
    state: str
    reason: str
    p99_ms: float | None = None


def component_state(component: str, checks: Sequence[Check], now: dt.datetime, rules: StateRules) -> ComponentVerdict:
    """checks: the component's recent checks, oldest first.

    A state machine over the sequence, so recovery needs passes_for_recovery passing checks in a row after an outage
    (one lucky check does not flip the page back), while a component with no bad history is operational at once.
    """
    if not checks or now - checks[-1].check_time > rules.stale_after:
        return ComponentVerdict(UNKNOWN, "no recent check")
    if checks[-1].outcome == NOT_DEPLOYED:
        return ComponentVerdict(NOT_DEPLOYED, checks[-1].detail or "not deployed yet")
    state, failures, passes = UNKNOWN, 0, 0
    for check in checks:
        if check.outcome == NOT_DEPLOYED:
            state, failures, passes = NOT_DEPLOYED, 0, 0
        elif check.outcome == FAILED:
            failures, passes = failures + 1, 0
            state = MAJOR_OUTAGE if failures >= rules.failures_for_outage or state == MAJOR_OUTAGE else DEGRADED
        else:
            failures, passes = 0, passes + 1
            if state in (UNKNOWN, NOT_DEPLOYED) or passes >= rules.passes_for_recovery:
                state = OPERATIONAL
    last = checks[-1]
    if state == MAJOR_OUTAGE and last.outcome == FAILED:
        reason = f"{failures} failed checks in a row: {last.detail}".rstrip(": ")
    elif state == MAJOR_OUTAGE:
        reason = f"recovering: {passes} passing check(s), {rules.passes_for_recovery} needed"
    elif state == DEGRADED and last.outcome == FAILED:
        reason = f"{failures} failed check(s): {last.detail}".rstrip(": ")
    elif state == DEGRADED:
        reason = f"recovering: {passes} passing check(s), {rules.passes_for_recovery} needed"
    else:
        reason = "checks passing"
    p99 = None
    if component == "redemption":
        p99 = latency_p99(checks, now, rules)
        if state == OPERATIONAL and p99 is not None and p99 >= rules.latency_threshold_ms:
            return ComponentVerdict(DEGRADED, f"p99 {p99:.0f} ms (target < {rules.latency_threshold_ms:.0f} ms)", p99)
    return ComponentVerdict(state, reason, p99)


def latency_p99(checks: Sequence[Check], now: dt.datetime, rules: StateRules) -> float | None:
    """The nearest-rank p99 of passing checks' durations in the window; None below min_latency_samples."""
    samples = sorted(
        c.duration_ms
        for c in checks
        if c.outcome == PASSED and c.duration_ms is not None and now - c.check_time <= rules.latency_window
    )
    if len(samples) < rules.min_latency_samples:
        return None
    rank = -(-99 * len(samples) // 100)  # ceil(0.99 n), 1-based
    return samples[rank - 1]


def overall_state(states: Sequence[str]) -> str:
    judged = [s for s in states if s in SEVERITY]
    return max(judged, key=SEVERITY.index) if judged else UNKNOWN


def uptime_percent(passed: int, failed: int) -> float | None:
    """Not-deployed checks count neither way; a day without decided checks has no percentage."""
    decided = passed + failed
    return round(100.0 * passed / decided, 3) if decided else None


def is_overdue(state: str, last_update_time: dt.datetime, now: dt.datetime, rules: StateRules) -> bool:
    return state != RESOLVED and now - last_update_time > rules.update_cadence


def postmortem_due_date(resolved_at: dt.datetime, business_days: int) -> dt.date:
    """business_days working days (Monday to Friday in the support timezone) after the day the incident resolved."""
    day = resolved_at.astimezone(SUPPORT_TIMEZONE).date()
    remaining = business_days
    while remaining:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            remaining -= 1
    return day


def failures_in_a_row(outcomes_newest_first: Sequence[str]) -> int:
    count = 0
    for outcome in outcomes_newest_first:
        if outcome != FAILED:
            break
        count += 1
    return count
