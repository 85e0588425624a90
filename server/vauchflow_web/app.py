"""The ASGI application: its routes, and what every request passes through (metrics, request id, errors).

Each surface (MCP, dashboard, status page) contributes its routes; this module only assembles them. Errors are
JSON with a reason, never a stack trace or an exception's text.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vauchflow_web.metrics import WebMetrics

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "x-request-id"
# A caller's request id is kept only when it is short and plain (Envoy applies the same rule at the edge).
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class Health:
    """What /healthz reports: serving until a stop signal, then draining (so Envoy routes elsewhere)."""

    def __init__(self) -> None:
        self.draining = False


def build_app(metrics: WebMetrics, health: Health, routes: Sequence[BaseRoute] = ()) -> ASGIApp:
    async def healthz(_request: Request) -> Response:
        if health.draining:
            return JSONResponse({"status": "DRAINING"}, status_code=503)
        return JSONResponse({"status": "UP"})

    app = Starlette(
        routes=[Route("/healthz", healthz, methods=["GET"]), *routes],
        exception_handlers={HTTPException: _http_error, Exception: _internal_error},
    )
    return RequestObserver(app, metrics)


def error_body(code: int, reason: str, message: str) -> dict[str, object]:
    """The JSON error shape the API's REST errors use (google.rpc.Status with an ErrorInfo)."""
    return {
        "code": code,
        "message": message,
        "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "vauchflow.com"}],
    }


_HTTP_REASONS = {404: ("NOT_FOUND", 5), 405: ("METHOD_NOT_ALLOWED", 12), 413: ("PAYLOAD_TOO_LARGE", 3)}


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    reason, code = _HTTP_REASONS.get(error.status_code, ("BAD_REQUEST", 3))
    message = "no such page" if error.status_code == 404 else str(error.detail)
    return JSONResponse(error_body(code, reason, message), status_code=error.status_code, headers=error.headers)


async def _internal_error(request: Request, error: Exception) -> Response:
    # Type only: an exception's text can carry secrets.
    log.error(
        "request failed",
        extra={"action": "web_request_failed", "path": request.url.path, "error_type": type(error).__name__},
    )
    return JSONResponse(error_body(13, "INTERNAL", "internal error"), status_code=500)


class RequestObserver:
    """Gives every request an x-request-id (the caller's, when sane), returns it, and records metrics.

    Plain ASGI rather than BaseHTTPMiddleware, so streamed responses (MCP, live events) pass through unbuffered.
    """

    def __init__(self, app: ASGIApp, metrics: WebMetrics):
        self._app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        sent = headers.get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        request_id = sent if _SANE_REQUEST_ID.match(sent) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    (k, v) for k, v in message["headers"] if k.lower() != REQUEST_ID_HEADER.encode()
                ] + [(REQUEST_ID_HEADER.encode(), request_id.encode())]
                self._metrics.http_duration.labels(_route(scope)).observe(time.perf_counter() - started)
            await send(message)

        try:
            await self._app(scope, receive, send_with_id)
        finally:
            self._metrics.http_requests.labels(_route(scope), scope["method"], str(status)).inc()


def _route(scope: Scope) -> str:
    """The matched route's template ("/vouchers/{code}"), or "unmatched": bounded, whatever the path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return (scope.get("root_path") or "") + path
    return "unmatched"
