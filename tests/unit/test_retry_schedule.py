"""The retry schedule: dense in the first hour, more than a day in total, bounded jitter, Retry-After as a floor."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime

import pytest

from vauchflow_delivery.http_sender import parse_retry_after
from vauchflow_delivery.retry_schedule import RetrySchedule, ScheduleError

DEFAULT = RetrySchedule()


def attempt_times(schedule: RetrySchedule) -> list[float]:
    """Seconds after the first attempt at which every attempt happens, without jitter."""
    return [0.0, *itertools.accumulate(schedule.delays)]


def test_retries_continue_for_more_than_a_day_then_give_up() -> None:
    assert DEFAULT.total_seconds >= 24 * 3600
    assert DEFAULT.next_delay(len(DEFAULT.delays), rng=random.Random(1)) is not None
    assert DEFAULT.next_delay(len(DEFAULT.delays) + 1, rng=random.Random(1)) is None
    assert DEFAULT.max_attempts == len(DEFAULT.delays) + 1


def test_the_first_hour_is_dense() -> None:
    assert sum(1 for t in attempt_times(DEFAULT) if t <= 3600) >= 9
    assert all(later >= earlier for earlier, later in itertools.pairwise(DEFAULT.delays))


@pytest.mark.parametrize("outage_start", [0, 30, 120, 299, 450, 590])
def test_a_receiver_down_for_ten_minutes_gets_every_event_within_a_quarter_of_an_hour(outage_start: int) -> None:
    # An event created at outage_start seconds into a 10-minute outage, with the worst jitter against it.
    slowest = RetrySchedule(tuple(d * (1 + DEFAULT.jitter) for d in DEFAULT.delays), jitter=0)
    recovered_at = 600
    delivered_at = next(outage_start + t for t in attempt_times(slowest) if outage_start + t >= recovered_at)
    assert delivered_at <= 15 * 60


def test_jitter_stays_within_its_fraction_and_actually_varies() -> None:
    rng = random.Random(42)
    for attempt, base in enumerate(DEFAULT.delays, start=1):
        samples = [DEFAULT.next_delay(attempt, rng=rng) for _ in range(200)]
        assert all(base * (1 - DEFAULT.jitter) <= s <= base * (1 + DEFAULT.jitter) for s in samples)
        assert len(set(samples)) > 1


def test_no_jitter_gives_the_exact_delays() -> None:
    schedule = RetrySchedule((5.0, 30.0), jitter=0)
    assert [schedule.next_delay(n) for n in (1, 2, 3)] == [5.0, 30.0, None]


def test_retry_after_is_a_floor_never_a_shortcut() -> None:
    schedule = RetrySchedule((5.0, 600.0), jitter=0)
    assert schedule.next_delay(1, retry_after=120) == 120
    assert schedule.next_delay(2, retry_after=60) == 600  # the schedule already waits longer
    assert schedule.next_delay(1, retry_after=0) == 5.0


def test_retry_after_is_capped() -> None:
    schedule = RetrySchedule((5.0,), jitter=0, max_retry_after=3600)
    assert schedule.next_delay(1, retry_after=7 * 86400) == 3600


def test_retry_after_does_not_extend_a_finished_schedule() -> None:
    assert RetrySchedule((5.0,), jitter=0).next_delay(2, retry_after=60) is None


def test_parse_reads_configuration_durations() -> None:
    schedule = RetrySchedule.parse("500ms, 5s,30s,1m,2h,1d,7", jitter=0.2)
    assert schedule.delays == (0.5, 5.0, 30.0, 60.0, 7200.0, 86400.0, 7.0)
    assert schedule.jitter == 0.2


@pytest.mark.parametrize("spec", ["", "5x", "5s,,1m", "-1s", "1m30s", "fast"])
def test_parse_refuses_unreadable_schedules(spec: str) -> None:
    with pytest.raises(ScheduleError):
        RetrySchedule.parse(spec)


@pytest.mark.parametrize("kwargs", [{"delays": (-1.0,)}, {"jitter": 1.0}, {"jitter": -0.1}, {"max_retry_after": -1}])
def test_invalid_schedules_are_refused(kwargs: dict) -> None:
    with pytest.raises(ScheduleError):
        RetrySchedule(**kwargs)


def test_attempt_numbers_start_at_one() -> None:
    with pytest.raises(ValueError):
        DEFAULT.next_delay(0)


NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "header, seconds",
    [("120", 120.0), (" 0 ", 0.0), ("Sun, 01 Mar 2026 12:05:00 GMT", 300.0), ("Sun, 01 Mar 2026 11:00:00 GMT", 0.0),
     ("Sunday, 01-Mar-26 12:01:00 GMT", 60.0), ("soon", None), ("-5", None), ("1.5", None), ("", None), (None, None)],
)  # fmt: skip
def test_retry_after_headers_are_read_as_seconds_from_now(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, NOW) == seconds
