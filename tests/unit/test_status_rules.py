"""The status page's rules as the seed states them: 3 failed checks → major outage, 2 passing → operational again,
redemption p99 ≥ 200 ms (on ≥ 20 samples) → degraded, the 30-minute cadence, postmortems 5 business days out."""

from __future__ import annotations

import datetime as dt

import pytest

from vauchflow_server.status import rules
from vauchflow_server.status.rules import Check, StateRules

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
RULES = StateRules()


def checks(outcomes: str, *, every: float = 30.0, duration_ms: float = 10.0) -> list[Check]:
    """'PPF' → passed, passed, failed, oldest first, the last one at NOW."""
    names = {"P": rules.PASSED, "F": rules.FAILED, "N": rules.NOT_DEPLOYED}
    n = len(outcomes)
    return [
        Check(names[o], NOW - dt.timedelta(seconds=every * (n - 1 - i)), duration_ms, "HTTP 503" if o == "F" else "")
        for i, o in enumerate(outcomes)
    ]


@pytest.mark.parametrize(
    ("history", "state"),
    [
        ("P", rules.OPERATIONAL),
        ("PPF", rules.DEGRADED),
        ("PPFF", rules.DEGRADED),
        ("PPFFF", rules.MAJOR_OUTAGE),
        ("FFFP", rules.MAJOR_OUTAGE),  # one passing check is not recovery
        ("FFFPP", rules.OPERATIONAL),
        ("FFFPPF", rules.DEGRADED),
        ("FFFPF", rules.MAJOR_OUTAGE),
        ("PPN", rules.NOT_DEPLOYED),
        ("NNP", rules.OPERATIONAL),
    ],
)
def test_component_state_follows_the_published_rules(history: str, state: str) -> None:
    assert rules.component_state("api", checks(history), NOW, RULES).state == state


def test_no_recent_check_is_unknown_never_operational() -> None:
    stale = [Check(rules.PASSED, NOW - dt.timedelta(minutes=6))]
    assert rules.component_state("api", stale, NOW, RULES).state == rules.UNKNOWN
    assert rules.component_state("api", [], NOW, RULES).state == rules.UNKNOWN


def test_the_outage_reason_names_the_streak_and_the_last_failure() -> None:
    verdict = rules.component_state("api", checks("FFF"), NOW, RULES)
    assert verdict.reason == "3 failed checks in a row: HTTP 503"


def test_slow_redemptions_degrade_only_with_enough_samples() -> None:
    slow = checks("P" * 20, every=15, duration_ms=250.0)
    verdict = rules.component_state("redemption", slow, NOW, RULES)
    assert (verdict.state, verdict.p99_ms) == (rules.DEGRADED, 250.0)
    assert rules.component_state("redemption", slow[1:], NOW, RULES).state == rules.OPERATIONAL  # 19 samples
    fast = checks("P" * 20, every=15, duration_ms=199.0)
    assert rules.component_state("redemption", fast, NOW, RULES).state == rules.OPERATIONAL
    assert rules.component_state("api", slow, NOW, RULES).state == rules.OPERATIONAL  # latency judges redemption only


def test_p99_is_the_nearest_rank_of_the_window() -> None:
    samples = [Check(rules.PASSED, NOW - dt.timedelta(seconds=i), float(i)) for i in range(1, 101)]
    assert rules.latency_p99(samples, NOW, RULES) == 99.0
    old = [Check(rules.PASSED, NOW - dt.timedelta(minutes=11), 900.0)] * 50
    assert rules.latency_p99(old + samples[:20], NOW, RULES) == 20.0


def test_uptime_counts_decided_checks_only() -> None:
    assert rules.uptime_percent(999, 1) == 99.9
    assert rules.uptime_percent(0, 0) is None


def test_overall_state_is_the_worst_deployed_component() -> None:
    assert rules.overall_state([rules.OPERATIONAL, rules.NOT_DEPLOYED, rules.DEGRADED]) == rules.DEGRADED
    assert rules.overall_state([rules.NOT_DEPLOYED]) == rules.UNKNOWN


def test_an_open_incident_is_overdue_after_the_cadence() -> None:
    last = NOW - dt.timedelta(minutes=30)
    assert not rules.is_overdue(rules.IDENTIFIED, last, NOW, RULES)
    assert rules.is_overdue(rules.IDENTIFIED, last - dt.timedelta(seconds=1), NOW, RULES)
    assert not rules.is_overdue(rules.RESOLVED, last - dt.timedelta(hours=1), NOW, RULES)


def test_incident_states_move_forward_and_resolved_is_final() -> None:
    assert rules.IDENTIFIED in rules.allowed_next_states(rules.INVESTIGATING)
    assert rules.INVESTIGATING not in rules.allowed_next_states(rules.IDENTIFIED)
    assert rules.allowed_next_states(rules.RESOLVED) == ()


@pytest.mark.parametrize(
    ("resolved", "due"),
    [
        (dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC), dt.date(2026, 12, 8)),  # Tuesday → next Tuesday
        (dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC), dt.date(2026, 12, 11)),  # Friday → next Friday
        (dt.datetime(2026, 12, 5, 23, 30, tzinfo=dt.UTC), dt.date(2026, 12, 11)),  # Sunday 00:30 in Berlin
        (dt.datetime(2026, 12, 4, 23, 30, tzinfo=dt.UTC), dt.date(2026, 12, 11)),  # already Saturday in Berlin
    ],
)
def test_the_postmortem_is_due_five_business_days_later_in_the_support_timezone(resolved, due) -> None:
    assert rules.postmortem_due_date(resolved, 5) == due
