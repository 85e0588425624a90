"""Rate limits for public calls (the status summary), which have no tenant to charge: per client address.

The address is the last hop Envoy appended to x-forwarded-for (Envoy is the one public entry point and appends the
peer it saw), else the gRPC peer. Each address gets its own GCRA bucket in the same limiter the tenants use, under
a UUID derived from the address, so the two key spaces never meet.
"""

from __future__ import annotations

import uuid
from typing import Any

from vauchflow_core.errors import RateLimited
from vauchflow_core.plans import RateLimit
from vauchflow_core.rpc.rate_limiter import RateLimiter

PUBLIC_LIMIT = RateLimit(requests_per_second=5, burst=20)
_NAMESPACE = uuid.UUID("5b0f7c2e-2f3e-4d7a-9b7e-7a1c0f3e5d11")


def client_address(context: Any) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == "x-forwarded-for" and isinstance(value, str) and value.strip():
            return value.rsplit(",", 1)[-1].strip()
    peer: str = context.peer() or "unknown"
    # "ipv4:127.0.0.1:5555" → "ipv4:127.0.0.1": the port changes with every connection.
    return peer.rsplit(":", 1)[0]


class PublicCallLimiter:
    def __init__(self, limiter: RateLimiter | None, limit: RateLimit = PUBLIC_LIMIT):
        self._limiter = limiter
        self._limit = limit

    async def admit(self, context: Any) -> None:
        if self._limiter is None:
            return
        bucket = uuid.uuid5(_NAMESPACE, "public:" + client_address(context))
        decision = await self._limiter.check(bucket, self._limit)
        if not decision.allowed:
            raise RateLimited(decision.retry_after, "PUBLIC", self._limit.requests_per_second, self._limit.burst)
