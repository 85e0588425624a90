"""POST /v1/mcp: the HTTP checks every MCP request passes before the SDK sees it, then the SDK's stateless
Streamable HTTP transport.

In order: POST only (405); the Origin, when a browser sends one, must be allowed (403) and so must the Host
(421), which is what stops DNS rebinding; the body must be JSON (415), acceptable as JSON (406) and at most
1 MiB (413); an MCP-Protocol-Version header must name a revision the SDK speaks (400); and the bearer key must
be one the API accepts, asked of GetCurrentApiKey on every request (401; 429 when the key's plan rate is used
up; 503 when the API can't answer). Every refusal is a JSON-RPC error object (the official client shows its
message to the agent) whose data carries the reason, in the API's vocabulary.

A tools/call makes no separate key check: the tool's own API call is checked by the API like every call, and
what it brought back decides (caller.KeyVerdict): the API refusing the key is HTTP 401, its rate limit HTTP 429,
and when no call reached the API (arguments refused here, an unknown tool) the key is asked about after all. So a
tool call is one API round trip, and a missing, invalid or revoked key is refused the same as anywhere else.

The SDK's session manager runs in stateless mode, one per process (started by the first request): it keeps no
session, each request gets its own transport and server task that end with it, so any replica answers any call.
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
        self._sessions = _StatelessSessions(server)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope.setdefault("state", {})
        request_id = str(state.get("request_id", ""))
        started = time.perf_counter()
        try:
            headers = Headers(scope=scope)
            self._check_headers(scope["method"], headers)
            body = await _read_body(headers, receive)
            client = self._client(scope, headers, request_id)
            tool_call = _is_tool_call(body)
            # A tool's own API call checks the key (the API does on every call), so a tools/call makes no
            # separate check: one API round trip. Every other request asks GetCurrentApiKey first.
            caller = Caller(client, frozenset() if tool_call else await self._check_key(client), request_id)
            state[STATE_KEY] = caller
        except Refusal as refusal:
            await self._refuse(refusal, request_id, started, send)
            return
        if not tool_call:
            await self._serve(scope, body, receive, send)
            return
        # The answer waits for the verdict on the key that the tool's call brought back (see KeyVerdict).
        answer = _HeldAnswer()
        await self._serve(scope, body, receive, answer.send)
        try:
            if caller.verdict.refusal is not None:
                raise _key_refusal(caller.verdict.refusal)
            if not caller.verdict.accepted:
                # No call of the tool reached the API (arguments refused here, an unknown tool, the API not
                # answering): the key still has to be one the API accepts, so it is asked.
                await self._check_key(client)
        except Refusal as refusal:
            await self._refuse(refusal, request_id, started, send)
            return
        await answer.release(send)

    async def _serve(self, scope: Scope, body: bytes, receive: Receive, send: Send) -> None:
        manager = await self._sessions.manager()
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
        # The agent decides when to retry (and is told how long to wait); the server never sleeps on its behalf.
        return self._api.as_caller(
            api_key, request_id=request_id, client_address=_client_address(scope, headers), max_retries=0
        )

    async def _check_key(self, client: vauchflow.AsyncClient) -> frozenset[str]:
        """Asks the API who the key is (GetCurrentApiKey), every time: a revoked key stops working at once.
        Returns the key's permissions."""
        try:
            who = await client.whoami()
        except vauchflow.VauchflowError as error:
            raise _key_refusal(error) from None
        return frozenset(who.api_key.permissions)


class _StatelessSessions:
    """The SDK's session manager in stateless mode, one per event loop: started by the first request and kept for
    the process's life. It keeps no session: each request gets its own transport and server task (run in the
    manager's task group) that end with the request, so any replica still answers any call; what is kept is only
    the cost of starting a manager for every request."""

    def __init__(self, server: Server[Any]):
        self._server = server
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running: asyncio.Future[StreamableHTTPSessionManager] | None = None
        self._task: asyncio.Task[None] | None = None

    async def manager(self) -> StreamableHTTPSessionManager:
        loop = asyncio.get_running_loop()
        if self._running is None or self._loop is not loop:
            self._loop = loop
            self._running = loop.create_future()
            self._task = loop.create_task(self._run(self._running), name="mcp-session-manager")
        return await asyncio.shield(self._running)

    async def _run(self, running: asyncio.Future[StreamableHTTPSessionManager]) -> None:
        manager = StreamableHTTPSessionManager(
            app=self._server,
            json_response=True,
            stateless=True,
            # Checked by McpEndpoint, with JSON answers; the SDK's own checks would answer in plain text.
            security_settings=None,
            max_request_body_size=MAX_BODY_BYTES,
        )
        try:
            async with manager.run():
                running.set_result(manager)
                await asyncio.Event().wait()  # until the loop ends (the task is cancelled)
        finally:
            if not running.done():  # it failed to start: the waiting requests fail, the next one tries again
                running.set_exception(RuntimeError("the MCP session manager did not start"))
            if self._running is running:
                self._running = None


def _key_refusal(error: vauchflow.VauchflowError) -> Refusal:
    """The HTTP answer to the API refusing the key (or failing to say): 401, 429, 503 or 500."""
    if isinstance(error, vauchflow.AuthenticationError):
        return Refusal(
            401,
            "API_KEY_INVALID",
            f"the API key was not accepted: {error.message}",
            headers={
                "WWW-Authenticate": f'Bearer realm="{REALM}", error="invalid_token", '
                'error_description="the API key is malformed, unknown or revoked"'
            },
        )
    if isinstance(error, vauchflow.RateLimitedError):
        retry_after = error.retry_after if error.retry_after is not None else 1.0
        return Refusal(
            429,
            "RATE_LIMITED",
            f"too many requests for this account's plan; retry after {retry_after:.3f} s",
            headers={"Retry-After": str(max(1, math.ceil(retry_after)))},
            data={"retry_after_seconds": retry_after},
        )
    if isinstance(error, (vauchflow.UnavailableError, vauchflow.DeadlineExceededError)):
        return Refusal(503, "SERVICE_UNAVAILABLE", "the Vauchflow API is unavailable; retry shortly")
    log.warning(
        "key check failed", extra={"action": "mcp_auth_failed", "reason": error.reason, "code": error.grpc_code.name}
    )
    return Refusal(500, "INTERNAL", "the key could not be checked; retry shortly")


def _is_tool_call(body: bytes) -> bool:
    """Whether the body is one JSON-RPC tools/call request (anything unparsable is the SDK's to refuse)."""
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        return False
    return isinstance(message, dict) and message.get("method") == "tools/call" and "id" in message


class _HeldAnswer:
    """The SDK's answer to a tools/call, held until the key's verdict is known (a JSON answer: one start, then its
    body)."""

    def __init__(self) -> None:
        self._messages: list[Message] = []

    async def send(self, message: Message) -> None:
        self._messages.append(message)

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
