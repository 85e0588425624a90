"""The sign-in throttle without Redis (a web service run alone): the same window, counted in the process."""

from __future__ import annotations

from vauchflow_web.dashboard.sign_in_throttle import SignInThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_an_address_waits_out_the_window_once_over_the_limit() -> None:
    clock = Clock()
    throttle = SignInThrottle(None, limit=2, window_seconds=600, clock=clock)
    assert await throttle.wait_seconds("203.0.113.9") == 0
    await throttle.record_failure("203.0.113.9")
    clock.now += 100
    await throttle.record_failure("203.0.113.9")

    # The window started with the first failure: 500 of its 600 seconds are left.
    assert await throttle.wait_seconds("203.0.113.9") == 500
    assert await throttle.wait_seconds("203.0.113.10") == 0
    clock.now += 500
    assert await throttle.wait_seconds("203.0.113.9") == 0
    # A new window: one failure is not yet the limit.
    await throttle.record_failure("203.0.113.9")
    assert await throttle.wait_seconds("203.0.113.9") == 0
