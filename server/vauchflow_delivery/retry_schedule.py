"""When a failed webhook delivery is tried again, as data: dense in the first hour, then on for more than a day.

The default keeps the promise of the status page: a receiver that is down for 10 minutes gets every event within
about a quarter of an hour, and a delivery is only given up (FAILED) after more than 24 hours of retries.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

# Seconds to wait after the n-th failed attempt (index n-1); cumulative: 5s, 35s, 1.6m, 3.6m, 6.6m, 11.6m,
# 16.6m, 26.6m, 41.6m, 71.6m, 2.2h, 4.2h, 8.2h, 16.2h, 28.2h, 52.2h.
DEFAULT_DELAYS: tuple[float, ...] = (
    5, 30, 60, 120, 180, 300, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 43200, 86400,
)  # fmt: skip
DEFAULT_JITTER = 0.1
# A receiver's Retry-After is honoured up to this long; a larger value would stall the endpoint for days.
DEFAULT_MAX_RETRY_AFTER = 3600.0

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)?")


class ScheduleError(ValueError):
    """A retry schedule written in configuration could not be read."""


@dataclass(frozen=True)
class RetrySchedule:
    delays: tuple[float, ...] = DEFAULT_DELAYS
    # Each delay is stretched or shrunk by up to this fraction, so endpoints that failed together do not
    # all come back at the same instant.
    jitter: float = DEFAULT_JITTER
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER

    def __post_init__(self) -> None:
        if any(d < 0 for d in self.delays):
            raise ScheduleError("retry delays must not be negative")
        if not 0 <= self.jitter < 1:
            raise ScheduleError("jitter must be a fraction in [0, 1)")
        if self.max_retry_after < 0:
            raise ScheduleError("max_retry_after must not be negative")

    @property
    def max_attempts(self) -> int:
        """The first attempt plus one retry per delay."""
        return len(self.delays) + 1

    @property
    def total_seconds(self) -> float:
        """How long after the first attempt the last retry happens, without jitter."""
        return float(sum(self.delays))

    def next_delay(
        self, attempt_number: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float | None:
        """Seconds until the next attempt after attempt number attempt_number (1-based) failed; None: give up.

        A Retry-After from the receiver is a floor (capped at max_retry_after), never a reason to retry
        sooner or more often than the schedule says.
        """
        if attempt_number < 1:
            raise ValueError("attempt_number starts at 1")
        if attempt_number > len(self.delays):
            return None
        base = self.delays[attempt_number - 1]
        delay = base * (1 + (rng or random).uniform(-self.jitter, self.jitter))
        if retry_after is not None and retry_after > 0:
            delay = max(delay, min(retry_after, self.max_retry_after))
        return delay

    @classmethod
    def parse(
        cls, spec: str, jitter: float = DEFAULT_JITTER, max_retry_after: float = DEFAULT_MAX_RETRY_AFTER
    ) -> RetrySchedule:
        """A schedule from configuration: comma-separated durations such as "5s,30s,1m,2h,1d" (bare = seconds)."""
        delays = []
        for item in spec.split(","):
            match = _DURATION.fullmatch(item.strip())
            if match is None:
                raise ScheduleError(f"not a duration: {item.strip()!r} (use e.g. 500ms, 5s, 1m, 2h, 1d)")
            delays.append(float(match.group(1)) * _UNITS[match.group(2) or "s"])
        return cls(tuple(delays), jitter, max_retry_after)
