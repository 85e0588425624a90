"""POST /v1/mcp: the HTTP checks every MCP request passes before the SDK sees it, then the SDK's stateless
Streamable HTTP transport.

In order: POST only (405); the Origin, when a browser sends one, must be allowed (403) and so must the Host
(421), which is what stops DNS rebinding; the body must be JSON (415), acceptable as JSON (406) and at most
1 MiB (413); an MCP-Protocol-Version header must name a revision the SDK speaks (400); and the bearer key must
be one the API accepts, asked of GetCurrentApiKey on every request (401; 429 when the key's plan rate is used
up; 503 when the API can't answer). Every refusal is a JSON-RPC error object (the official client shows its
message to the agent) whose data carries the reason, in the API's vocabulary.

For a tools/call the key check runs beside the tool's own API call (which checks the key too) and the answer
waits for both: a refused key check turns the answer into its refusal, unless the tool call succeeded (then the
agent is told what was done).

Each request gets a fresh SDK session manager in stateless mode: nothing outlives the request, so any replica
answers any call and there is no background task to stop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import mcp_types as types
from mcp.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp_types.version import KNOWN_PROTOCOL_VERSIONS
from starlette.datastructures import Headers
from starlette.types import Message, Receive, Scope, Send

import vauchflow
from vauchflow_web.api_access import ApiAccess
from vauchflow_web.config import WebConfig
from vauchflow_web.mcp.caller import STATE_KEY, Caller
from vauchflow_web.metrics import WebMetrics

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
PROTOCOL_VERSION_HEADER = "mcp-protocol-version"
# What a client must present, for the WWW-Authenticate challenge (RFC 6750).
REALM = "vauchflow"


class Refusal(Exception):
    """A request refused at the HTTP boundary: its status, JSON-RPC code, reason and a message for the agent."""

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        *,
        code: int = types.INVALID_REQUEST,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, Any] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.code = code
        self.headers = dict(headers or {})
        self.data = dict(data or {})


class McpEndpoint:
    """The ASGI app behind the /v1/mcp route."""

    def __init__(self, server: Server[Any], config: WebConfig, api: ApiAccess, metrics: WebMetrics):
        self._server = server
        self._api = api
        self._metrics = metrics
        self._allowed_origins = tuple(config.allowed_origins)
        self._allowed_hosts = tuple(config.allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope.setdefault("state", {})
        request_id = str(state.get("request_id", ""))
        started = time.perf_counter()
        key_check: asyncio.Task[frozenset[str]] | None = None
        try:
            headers = Headers(scope=scope)
            self._check_headers(scope["method"], headers)
            body = await _read_body(headers, receive)
            client = self._client(scope, headers, request_id)
            if _is_tool_call(body):
                # A tool's own API call checks the key as well, so the key check runs beside it rather than before
                # it: a tool call stays one API round trip long. Its verdict still decides the answer (below).
                key_check = asyncio.create_task(self._check_key(client))
                state[STATE_KEY] = Caller(client, frozenset(), request_id)
            else:
                state[STATE_KEY] = Caller(client, await self._check_key(client), request_id)
        except Refusal as refusal:
            await self._refuse(refusal, request_id, started, send)
            return
        if key_check is None:
            await self._serve(scope, body, receive, send)
            return
        answer = _HeldAnswer()
        try:
            await self._serve(scope, body, receive, answer.send)
            await key_check
        except Refusal as refusal:
            # A tool call that succeeded is answered whatever the key check said (it could only have lost a race
            # with a revocation or the rate limit): the agent must learn what was done.
            if not answer.is_tool_success():
                await self._refuse(refusal, request_id, started, send)
                return
        finally:
            key_check.cancel()
        await answer.release(send)

    async def _serve(self, scope: Scope, body: bytes, receive: Receive, send: Send) -> None:
        manager = StreamableHTTPSessionManager(
            app=self._server,
            json_response=True,
            stateless=True,
            # Checked above, with JSON answers; the SDK's own checks would answer in plain text.
            security_settings=None,
            max_request_body_size=MAX_BODY_BYTES,
        )
        async with manager.run():
            await manager.handle_request(scope, _replay(body, receive), send)

    async def _refuse(self, refusal: Refusal, request_id: str, started: float, send: Send) -> None:
        self._metrics.mcp_calls.labels("http", "", "refused", refusal.reason).inc()
        self._metrics.mcp_duration.labels("http").observe(time.perf_counter() - started)
        log.info(
            "MCP request refused",
            extra={"action": "mcp_refused", "reason": refusal.reason, "status": refusal.status,
                   "request_id": request_id},
        )  # fmt: skip
        await _send_refusal(refusal, request_id, send)

    def _check_headers(self, method: str, headers: Headers) -> None:
        if method != "POST":
            # Stateless: no server-initiated stream to GET and no session to DELETE.
            raise Refusal(405, "METHOD_NOT_ALLOWED", "use POST for MCP messages", headers={"Allow": "POST"})
        origin = headers.get("origin")
        if origin is not None and not _allowed(origin, self._allowed_origins):
            raise Refusal(403, "ORIGIN_NOT_ALLOWED", "this Origin may not call the MCP server")
        if not _allowed(headers.get("host", ""), self._allowed_hosts):
            raise Refusal(421, "HOST_NOT_ALLOWED", "this Host is not served here")
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise Refusal(415, "UNSUPPORTED_MEDIA_TYPE", "send the JSON-RPC message as application/json")
        accepted = {part.split(";")[0].strip().lower() for part in headers.get("accept", "").split(",")}
        if not accepted & {"application/json", "application/*", "*/*"}:
            raise Refusal(406, "NOT_ACCEPTABLE", "accept application/json: answers are JSON")
        version = headers.get(PROTOCOL_VERSION_HEADER)
        if version is not None and version not in KNOWN_PROTOCOL_VERSIONS:
            raise Refusal(
                400,
                "UNSUPPORTED_PROTOCOL_VERSION",
                f"unsupported MCP-Protocol-Version; supported: {', '.join(KNOWN_PROTOCOL_VERSIONS)}",
                code=types.UNSUPPORTED_PROTOCOL_VERSION,
                data={"supported": list(KNOWN_PROTOCOL_VERSIONS), "requested": version[:64]},
            )
        if _bearer(headers) is None:
            raise Refusal(
                401,
                "API_KEY_INVALID",
                "send your Vauchflow API key as `Authorization: Bearer vf_sk_...`",
                headers={"WWW-Authenticate": f'Bearer realm="{REALM}"'},
            )

    def _client(self, scope: Scope, headers: Headers, request_id: str) -> vauchflow.AsyncClient:
        """The API client acting with the caller's key, passing their request id and address on."""
        api_key = _bearer(headers) or ""
        client = self._api.as_caller(api_key, request_id=request_id, client_address=_client_address(scope, headers))
        # The agent decides when to retry (and is told how long to wait); the server never sleeps on its behalf.
        return client.with_options(max_retries=0)

    async def _check_key(self, client: vauchflow.AsyncClient) -> frozenset[str]:
        """Asks the API who the key is (GetCurrentApiKey), every time: a revoked key stops working at once.
        Returns the key's permissions."""
        try:
            who = await client.whoami()
        except vauchflow.AuthenticationError as error:
            raise Refusal(
                401,
                "API_KEY_INVALID",
                f"the API key was not accepted: {error.message}",
                headers={
                    "WWW-Authenticate": f'Bearer realm="{REALM}", error="invalid_token", '
                    'error_description="the API key is malformed, unknown or revoked"'
                },
            ) from None
        except vauchflow.RateLimitedError as error:
            retry_after = error.retry_after if error.retry_after is not None else 1.0
            raise Refusal(
                429,
                "RATE_LIMITED",
                f"too many requests for this account's plan; retry after {retry_after:.3f} s",
                headers={"Retry-After": str(max(1, math.ceil(retry_after)))},
                data={"retry_after_seconds": retry_after},
            ) from None
        except (vauchflow.UnavailableError, vauchflow.DeadlineExceededError):
            raise Refusal(503, "SERVICE_UNAVAILABLE", "the Vauchflow API is unavailable; retry shortly") from None
        except vauchflow.VauchflowError as error:
            log.warning(
                "whoami failed",
                extra={"action": "mcp_auth_failed", "reason": error.reason, "code": error.grpc_code.name},
            )
            raise Refusal(500, "INTERNAL", "the key could not be checked; retry shortly") from None
        return frozenset(who.api_key.permissions)


def _is_tool_call(body: bytes) -> bool:
    """Whether the body is one JSON-RPC tools/call request (anything unparsable is the SDK's to refuse)."""
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        return False
    return isinstance(message, dict) and message.get("method") == "tools/call" and "id" in message


class _HeldAnswer:
    """The SDK's answer, held until the key check has spoken (a JSON answer: one start, then its body)."""

    def __init__(self) -> None:
        self._messages: list[Message] = []

    async def send(self, message: Message) -> None:
        self._messages.append(message)

    def is_tool_success(self) -> bool:
        body = b"".join(m.get("body", b"") for m in self._messages if m["type"] == "http.response.body")
        try:
            result = json.loads(body).get("result")
        except (ValueError, AttributeError):
            return False
        return isinstance(result, dict) and not result.get("isError", False)

    async def release(self, send: Send) -> None:
        for message in self._messages:
            await send(message)


def _allowed(value: str, allowed: Sequence[str]) -> bool:
    """Exact, or a "scheme://host:*" / "host:*" entry matching any port (the SDK's convention)."""
    if value in allowed:
        return True
    return any(entry.endswith(":*") and value.startswith(entry[:-1]) for entry in allowed)


def _bearer(headers: Headers) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _client_address(scope: Scope, headers: Headers) -> str | None:
    """The agent's address: Envoy's x-forwarded-for when it came through Envoy, else the peer's."""
    forwarded = headers.get("x-forwarded-for")
    if forwarded:
        return forwarded
    client = scope.get("client")
    return str(client[0]) if client else None


async def _read_body(headers: Headers, receive: Receive) -> bytes:
    """The whole body, refused with 413 as soon as it is known to be over the limit (declared or sent)."""
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        body.extend(message.get("body", b""))
        if len(body) > MAX_BODY_BYTES:
            raise _too_large()
        if not message.get("more_body", False):
            break
    return bytes(body)


def _too_large() -> Refusal:
    return Refusal(413, "PAYLOAD_TOO_LARGE", f"the message is larger than {MAX_BODY_BYTES} bytes")


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the SDK the body read here, then whatever comes next (a disconnect)."""
    delivered = False

    async def replayed() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def _send_refusal(refusal: Refusal, request_id: str, send: Send) -> None:
    error: dict[str, Any] = {
        "code": refusal.code,
        "message": refusal.message,
        "data": {"reason": refusal.reason, "http_status": refusal.status, "request_id": request_id, **refusal.data},
    }
    body = json.dumps({"jsonrpc": "2.0", "id": None, "error": error}, separators=(",", ":")).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in refusal.headers.items()),
    ]
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
