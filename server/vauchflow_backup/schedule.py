"""When the next base backup is due: daily at a configured time of day (UTC), at once when the repository holds
no restorable backup, and a retry interval after a failure."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta


def next_daily(after: datetime, at: time) -> datetime:
    """The first moment strictly after `after` whose UTC time of day is `at`."""
    after = after.astimezone(UTC)
    candidate = after.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    if candidate <= after:
        candidate += timedelta(days=1)
    return candidate


def first_due(now: datetime, at: time, has_restorable_backup: bool, last_success: datetime | None) -> datetime:
    """At start-up: now if there is nothing to restore from, or the day's backup time has passed since the last
    success (a job that was down at backup time catches up); else the next daily time."""
    if not has_restorable_backup or last_success is None:
        return now
    missed = next_daily(last_success, at)
    return now if missed <= now else missed
