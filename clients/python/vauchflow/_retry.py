"""When a failed call is tried again, and after how long: exponential backoff with jitter that honours the
server's RetryInfo / retry-after. Pure decisions; the transports do the waiting."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from vauchflow._errors import VauchflowError
from vauchflow._rpcs import Retry

# UNAVAILABLE: the call did not reach a server or the server could not serve it. RESOURCE_EXHAUSTED: rate
# limited, retried only when the server says when (a plan quota carries no RetryInfo: waiting does not help).
# ABORTED: a concurrent update got in the way.
RETRYABLE_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.ABORTED})


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 2
    initial_backoff: float = 0.25
    max_backoff: float = 8.0
    multiplier: float = 2.0
    # A server asking for a longer wait than this gets the error raised instead: the caller decides.
    max_retry_after: float = 60.0

    def backoff(self, retry_number: int, jitter: Callable[[], float] = random.random) -> float:
        """Seconds before retry number retry_number (0-based): exponential, capped, with "equal jitter" (half
        fixed, half random) so a crowd of clients that failed together does not come back together."""
        ceiling = min(self.max_backoff, self.initial_backoff * self.multiplier**retry_number)
        return ceiling / 2 + ceiling / 2 * jitter()

    def delay_before_retry(
        self, rule: Retry, error: VauchflowError, retry_number: int, jitter: Callable[[], float] = random.random
    ) -> float | None:
        """Seconds to wait before trying the call again, or None when it must not be retried."""
        if rule is Retry.NEVER or retry_number >= self.max_retries or error.grpc_code not in RETRYABLE_CODES:
            return None
        if error.grpc_code is grpc.StatusCode.RESOURCE_EXHAUSTED and error.retry_after is None:
            return None
        delay = self.backoff(retry_number, jitter)
        if error.retry_after is not None:
            if error.retry_after > self.max_retry_after:
                return None
            delay = max(delay, error.retry_after)
        return delay
