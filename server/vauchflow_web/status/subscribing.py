"""Subscribing to the status page: POST /status/subscriptions (JSON or the page's form), and the confirm and
unsubscribe links every mail carries. The API's public StatusService does the work (rate-limited per client
address: the browser's address travels as x-forwarded-for); this module renders forms and answers.

A link in a mail only shows a page with a button: the POST does the work, so a mail scanner that follows links
neither confirms nor unsubscribes anyone. The unsubscribe POST also takes the token from the query string, which
is how a mail client's RFC 8058 one-click unsubscribe (List-Unsubscribe-Post) arrives.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict
from grpc_status import rpc_status
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from vauchflow.v1 import status_service_pb2 as pb
from vauchflow.v1 import status_service_pb2_grpc

log = logging.getLogger(__name__)

_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html"])
)
HTML_HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",  # the token in the URL must not travel on
}
_HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 503,
}
MAX_BODY = 4096


def _client_address(request: Request) -> str | None:
    forwarded = request.headers.get("x-forwarded-for", "")
    if forwarded:
        return forwarded.rsplit(",", 1)[-1].strip()[:64] or None
    return request.client.host if request.client else None


def _problem(error: grpc.aio.AioRpcError) -> tuple[int, dict[str, Any], str]:
    """(HTTP status, the google.rpc.Status as JSON, a sentence for a person)."""
    status = rpc_status.from_call(error)
    body = MessageToDict(status) if status is not None else {"code": error.code().value[0], "message": ""}
    http = _HTTP_STATUS.get(error.code(), 502 if error.code() != grpc.StatusCode.INTERNAL else 500)
    if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        body = {"code": 14, "message": "subscriptions are unavailable right now; try again in a minute"}
    sentence = {
        400: "That does not look right: " + str(body.get("message", "")).removeprefix("invalid request: "),
        404: "This link is not valid any more (it may have been used already).",
        429: "Too many requests from your address; try again in a minute.",
    }.get(http, "We cannot take this request right now; try again in a minute.")
    return http, body, sentence


class SubscriptionPages:
    def __init__(self, api_target: str, *, tls: bool = False, timeout_seconds: float = 5.0):
        self._channel = (
            grpc.aio.secure_channel(api_target, grpc.ssl_channel_credentials())
            if tls
            else grpc.aio.insecure_channel(api_target)
        )
        self._stub = status_service_pb2_grpc.StatusServiceStub(self._channel)
        self._timeout = timeout_seconds

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/status/subscriptions", self.subscribe, methods=["POST"]),
            Route("/status/subscriptions/confirm", self.confirm_form, methods=["GET"]),
            Route("/status/subscriptions/confirm", self.confirm, methods=["POST"]),
            Route("/status/subscriptions/unsubscribe", self.unsubscribe_form, methods=["GET"]),
            Route("/status/subscriptions/unsubscribe", self.unsubscribe, methods=["POST"]),
        ]

    async def close(self) -> None:
        await self._channel.close()

    def _metadata(self, request: Request) -> tuple[tuple[str, str], ...]:
        address = _client_address(request)
        return (("x-forwarded-for", address),) if address else ()

    @staticmethod
    def _page(title: str, message: str, status_code: int = 200, **form: str) -> HTMLResponse:
        html = _TEMPLATES.get_template("subscription.html").render(title=title, message=message, form=form or None)
        return HTMLResponse(html, status_code=status_code, headers=HTML_HEADERS)

    async def _fields(self, request: Request) -> tuple[dict[str, str], bool]:
        """The request's fields, and whether it came as JSON."""
        body = await request.body()
        if len(body) > MAX_BODY:
            return {}, True
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                parsed = json.loads(body or b"{}")
            except ValueError:
                return {}, True
            return ({k: v for k, v in parsed.items() if isinstance(v, str)} if isinstance(parsed, dict) else {}), True
        form = await request.form()
        return {k: v for k, v in form.items() if isinstance(v, str)}, False

    async def subscribe(self, request: Request) -> Response:
        fields, as_json = await self._fields(request)
        if "webhook_url" in fields:
            message = pb.CreateSubscriptionRequest(webhook_url=fields["webhook_url"])
        else:
            message = pb.CreateSubscriptionRequest(email=fields.get("email", ""))
        try:
            response = await self._stub.CreateSubscription(
                message, metadata=self._metadata(request), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as error:
            http, body, sentence = _problem(error)
            if as_json:
                return JSONResponse(body, status_code=http)
            return self._page("Subscription not made", sentence, http)
        if as_json:
            return JSONResponse(MessageToDict(response, preserving_proto_field_name=True), status_code=201)
        return self._page(
            "Check your inbox",
            "We sent a confirmation mail. You will get incident notifications once you follow its link.",
            201,
        )

    async def confirm_form(self, request: Request) -> Response:
        return self._page(
            "Confirm your subscription",
            "Confirm that this address should receive Vauchflow's incident notifications.",
            action="/status/subscriptions/confirm",
            token=request.query_params.get("token", ""),
            button="Confirm subscription",
        )

    async def unsubscribe_form(self, request: Request) -> Response:
        return self._page(
            "Unsubscribe",
            "Stop Vauchflow's incident notifications to this subscription.",
            action="/status/subscriptions/unsubscribe",
            token=request.query_params.get("token", ""),
            button="Unsubscribe",
        )

    async def confirm(self, request: Request) -> Response:
        fields, _ = await self._fields(request)
        token = fields.get("token") or request.query_params.get("token", "")
        try:
            await self._stub.ConfirmSubscription(
                pb.ConfirmSubscriptionRequest(token=token), metadata=self._metadata(request), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as error:
            http, _, sentence = _problem(error)
            return self._page("Not confirmed", sentence, http)
        return self._page("Subscription confirmed", "You will receive a mail whenever an incident changes.")

    async def unsubscribe(self, request: Request) -> Response:
        fields, _ = await self._fields(request)
        token = fields.get("token") or request.query_params.get("token", "")
        try:
            await self._stub.Unsubscribe(
                pb.UnsubscribeRequest(token=token), metadata=self._metadata(request), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as error:
            http, _, sentence = _problem(error)
            return self._page("Not unsubscribed", sentence, http)
        return self._page("Unsubscribed", "You will not receive any more notifications. Your address is deleted.")
