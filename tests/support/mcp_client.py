"""Talking to the MCP server as agents do: the official `mcp` client over Streamable HTTP with a bearer key, and
raw JSON-RPC posts for what a well-behaved client never sends (bad bodies, foreign origins, old revisions)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx2
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

TIMEOUT = 30.0


@asynccontextmanager
async def mcp_session(url: str, api_key: str | None, *, mode: str = "legacy") -> AsyncIterator[Client]:
    """An initialized official MCP client acting with api_key ("legacy": the initialize handshake; a modern
    revision such as "2026-07-28": the stateless per-request envelope; "auto": discover, then fall back)."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=TIMEOUT) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,
    ):
        yield client


@dataclass
class RawResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def post_raw(
    url: str,
    body: bytes | Mapping[str, Any],
    *,
    api_key: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> RawResponse:
    """One POST to the MCP endpoint, with the headers a client sends unless overridden."""
    sent = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if api_key:
        sent["Authorization"] = f"Bearer {api_key}"
    sent.update(headers or {})
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with httpx2.AsyncClient(timeout=TIMEOUT) as http:
        response = await http.post(url, content=content, headers=sent)
        return RawResponse(response.status_code, dict(response.headers), response.content)


def initialize_message(protocol_version: str, request_id: int = 1) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "initialize",
        "params": {
            "protocolVersion": protocol_version,
            "capabilities": {},
            "clientInfo": {"name": "vauchflow-tests", "version": "1"},
        },
    }
