"""Turns a template and its values into a page: Jinja2 with autoescaping on everything, the security headers, and
the few formatting filters the templates share (times, money, enum names)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from google.protobuf.json_format import MessageToDict
from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp
from starlette.requests import Request
from starlette.responses import HTMLResponse

from vauchflow.v1 import redemption_pb2, status_pb2, tenant_pb2, webhook_pb2

if TYPE_CHECKING:
    from vauchflow_web.dashboard.page_guard import Caller

TEMPLATES = Path(__file__).parent / "templates"

# No inline script or style anywhere; the only script is ours, from /static.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# A form shown again with what needs fixing is a page the merchant works with, not a failed load: 200 (browsers log
# every 4xx document as a console error). Refusals (CSRF, permissions) keep their 4xx.
FORM_NEEDS_ATTENTION = 200

SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    # Pages can show a secret once (a new key, a rotated signing secret): nothing may be kept by a cache.
    "cache-control": "no-store",
}


def format_time(value: Timestamp | None) -> str:
    if value is None or (value.seconds == 0 and value.nanos == 0):
        return ""
    return value.ToDatetime(tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _minor_units(amount: int, currency: str = "") -> str:
    return f"{amount / 100:.2f} {currency}".strip()


# What identifies an event's subject, in the order a merchant looks for it.
_EVENT_KEYS = ("code", "voucher_code", "customer_id", "status", "url", "reason")


def event_data(data: Struct | None) -> str:
    """The few fields of an event's data that say what it is about ("voucher_code=SPRING customer_id=c1"), so a
    row stays one line on a phone; the whole event is in the API."""
    fields = MessageToDict(data) if data is not None else {}
    shown = [f"{key}={fields[key]}" for key in _EVENT_KEYS if isinstance(fields.get(key), str | int | float)]
    return " ".join(shown)[:160] or json.dumps(fields, sort_keys=True)[:160]


def _plan(value: int) -> str:
    return tenant_pb2.Plan.Name(value).removeprefix("PLAN_")


def _redemption_status(value: int) -> str:
    return redemption_pb2.RedemptionStatus.Name(value).removeprefix("REDEMPTION_STATUS_").replace("_", " ").lower()


def _incident_state(value: int) -> str:
    return status_pb2.IncidentState.Name(value).removeprefix("INCIDENT_STATE_").capitalize()


# The monitored components as the status page names them.
COMPONENT_NAMES = {"API": "API uptime", "REDEMPTION": "Redemption latency p99", "WEBHOOKS": "Webhook delivery",
                   "MCP": "MCP server", "DASHBOARD": "Dashboard", "BACKUPS": "Database backup currency"}  # fmt: skip


def _component_name(value: int) -> str:
    key = status_pb2.MonitoredComponent.Name(value).removeprefix("MONITORED_COMPONENT_")
    return COMPONENT_NAMES.get(key, key)


def _delivery_status(value: int) -> str:
    return webhook_pb2.WebhookDeliveryStatus.Name(value).removeprefix("WEBHOOK_DELIVERY_STATUS_").lower()


class Renderer:
    def __init__(self) -> None:
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            # Everything a tenant typed (codes, metadata, URLs, names) is escaped: autoescape for every template.
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.filters["when"] = format_time
        self._env.filters["money"] = _minor_units
        self._env.filters["plan"] = _plan
        self._env.filters["event_data"] = event_data
        self._env.filters["redemption_status"] = _redemption_status
        self._env.filters["delivery_status"] = _delivery_status
        self._env.filters["incident_state"] = _incident_state
        self._env.filters["component"] = _component_name

    def page(
        self,
        request: Request,
        caller: Caller | None,
        template: str,
        context: dict[str, Any],
        status_code: int = 200,
    ) -> HTMLResponse:
        values: dict[str, Any] = {
            "caller": caller,
            "csrf_token": caller.session.csrf_token if caller else "",
            "path": request.url.path,
            "now": datetime.now(UTC),
            **context,
        }
        html = self._env.get_template(template).render(values)
        return _with_security_headers(HTMLResponse(html, status_code=status_code))

    def bare(self, request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
        """A page for someone not signed in (sign-in, refusals)."""
        return self.page(request, None, template, context, status_code)


def _with_security_headers(response: HTMLResponse) -> HTMLResponse:
    response.headers.update(SECURITY_HEADERS)
    return response
