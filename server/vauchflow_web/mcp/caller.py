"""Who an MCP request acts for: the caller's API client and what the API said about their key, handed from the
HTTP boundary to the MCP handlers through the request's ASGI state (and, for a tools/call, back)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import grpc

import vauchflow

# The key in the ASGI scope's state under which the HTTP boundary leaves the Caller for the handlers.
STATE_KEY = "mcp_caller"


class KeyVerdict:
    """What a tool's own API call showed about the caller's key, for the HTTP boundary: a tools/call makes no
    separate key check (GetCurrentApiKey), because the API checks the key on every call anyway.

    The API authenticates a call before anything else, so any answer of its own (a result, or a refusal such as
    VOUCHER_EXHAUSTED or PERMISSION_MISSING) means it accepted the key; UNAUTHENTICATED and RATE_LIMITED are the
    boundary's to answer (401, 429). When no call reached the API (arguments refused here, an unknown tool, the API
    unreachable), the verdict stays open and the boundary asks GetCurrentApiKey after all."""

    __slots__ = ("accepted", "refusal")

    def __init__(self) -> None:
        self.accepted = False
        self.refusal: vauchflow.AuthenticationError | vauchflow.RateLimitedError | None = None

    def record(self, error: vauchflow.VauchflowError | None) -> None:
        """The outcome of the tool's API call: None for a result, else the error it raised."""
        if isinstance(error, (vauchflow.AuthenticationError, vauchflow.RateLimitedError)):
            self.refusal = error
        elif error is None or error.grpc_code in _ANSWERED_AFTER_AUTHENTICATION:
            self.accepted = True


# Refusals the API gives only once it has accepted the key (its handlers' and its permission check's). Anything
# else (a dropped connection, a deadline, an internal failure, a quota) leaves the verdict open.
_ANSWERED_AFTER_AUTHENTICATION = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.OUT_OF_RANGE,
    }
)


@dataclass(frozen=True)
class Caller:
    client: vauchflow.AsyncClient
    # The key's permissions, as GetCurrentApiKey reported them; empty for a tools/call, which makes no key check
    # (the tool needs none: the API decides what the key may do).
    permissions: frozenset[str]
    request_id: str
    # For a tools/call: what the tool's API call said about the key (see KeyVerdict).
    verdict: KeyVerdict = field(default_factory=KeyVerdict)


class NoCaller(RuntimeError):
    """An MCP handler ran without the boundary having authenticated the request (a wiring mistake)."""


def caller_of(http_request: Any) -> Caller:
    """The Caller the boundary stored for this HTTP request (the SDK hands handlers the Starlette request)."""
    state = getattr(http_request, "scope", {}).get("state") or {}
    caller = state.get(STATE_KEY)
    if not isinstance(caller, Caller):
        raise NoCaller("no authenticated caller on this request")
    return caller
