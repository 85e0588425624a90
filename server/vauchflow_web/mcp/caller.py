"""Who an MCP request acts for: the caller's API client and what the API said about their key (GetCurrentApiKey),
handed from the HTTP boundary to the MCP handlers through the request's ASGI state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import vauchflow

# The key in the ASGI scope's state under which the HTTP boundary leaves the Caller for the handlers.
STATE_KEY = "mcp_caller"


@dataclass(frozen=True)
class Caller:
    client: vauchflow.AsyncClient
    # The key's permissions, as GetCurrentApiKey reported them; empty for a tools/call, whose key check runs beside
    # the tool (which needs none: the API decides what the key may do).
    permissions: frozenset[str]
    request_id: str


class NoCaller(RuntimeError):
    """An MCP handler ran without the boundary having authenticated the request (a wiring mistake)."""


def caller_of(http_request: Any) -> Caller:
    """The Caller the boundary stored for this HTTP request (the SDK hands handlers the Starlette request)."""
    state = getattr(http_request, "scope", {}).get("state") or {}
    caller = state.get(STATE_KEY)
    if not isinstance(caller, Caller):
        raise NoCaller("no authenticated caller on this request")
    return caller
