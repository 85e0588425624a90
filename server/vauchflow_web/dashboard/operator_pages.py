"""The platform operator's pages, with the operator token of the session: tenants (list, create, change plan) and
the status page's incidents (list with the overdue flag, open, post updates through the workflow, resolve)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

import vauchflow
from vauchflow.v1 import status_pb2
from vauchflow_core.incident_workflow import INCIDENT_STATES, allowed_next_states
from vauchflow_web.dashboard.page_guard import Caller
from vauchflow_web.dashboard.rendering import COMPONENT_NAMES as COMPONENTS
from vauchflow_web.dashboard.rendering import FORM_NEEDS_ATTENTION, Renderer

PLANS = ("FREE", "STARTER", "GROWTH", "SCALE", "ENTERPRISE")


def incident_state(value: int) -> str:
    return status_pb2.IncidentState.Name(value).removeprefix("INCIDENT_STATE_")


def _problem(error: vauchflow.InvalidRequestError) -> str:
    return "; ".join(f"{v.field}: {v.description}" for v in error.field_violations) or error.message


class OperatorPages:
    def __init__(self, renderer: Renderer) -> None:
        self._render = renderer

    async def tenants(self, request: Request, caller: Caller) -> Response:
        return await self._tenants_page(request, caller)

    async def _tenants_page(
        self, request: Request, caller: Caller, extra: dict[str, Any] | None = None, status_code: int = 200
    ) -> Response:
        tenants = [tenant async for tenant in caller.operator_api.tenants.list(page_size=200)]
        context = {"title": "Tenants", "tenants": tenants, "plans": PLANS, **(extra or {})}
        return self._render.page(request, caller, "tenants.html", context, status_code=status_code)

    async def create_tenant(self, request: Request, caller: Caller) -> Response:
        form = await request.form()
        name = str(form.get("name", "")).strip()
        plan = str(form.get("plan", "FREE"))
        try:
            created = await caller.operator_api.tenants.create(name, plan=plan if plan in PLANS else "FREE")
        except vauchflow.InvalidRequestError as error:
            message = "; ".join(v.description for v in error.field_violations) or error.message
            return await self._tenants_page(request, caller, {"error": message}, FORM_NEEDS_ATTENTION)
        return await self._tenants_page(request, caller, {"created": created.tenant, "secret": created.secret})

    async def change_plan(self, request: Request, caller: Caller) -> Response:
        form = await request.form()
        plan = str(form.get("plan", ""))
        tenant_id = request.path_params["tenant_id"]
        if plan in PLANS:
            await caller.operator_api.tenants.update(tenant_id, plan=plan)
        return RedirectResponse(f"/operator/tenants#tenant-{quote(tenant_id, safe='')}", status_code=303)

    # Incidents

    async def incidents(self, request: Request, caller: Caller) -> Response:
        return await self._incidents_page(request, caller)

    async def _incidents_page(
        self, request: Request, caller: Caller, extra: dict[str, Any] | None = None, status_code: int = 200
    ) -> Response:
        incidents = [incident async for incident in caller.operator_api.incidents.list(page_size=100)]
        # A fresh idempotency key per form shown: a double submit opens one incident, not two.
        context = {"title": "Incidents", "incidents": incidents, "components": COMPONENTS, "plans": PLANS,
                   "request_id": str(uuid.uuid4()), **(extra or {})}  # fmt: skip
        return self._render.page(request, caller, "incidents.html", context, status_code=status_code)

    async def create_incident(self, request: Request, caller: Caller) -> Response:
        form = await request.form()
        components = [str(c) for c in form.getlist("components") if str(c) in COMPONENTS]
        plans = [str(p) for p in form.getlist("affected_plans") if str(p) in PLANS]
        try:
            created = await caller.operator_api.incidents.create(
                str(form.get("title", "")).strip(),
                components,
                affected_plans=plans,
                message=str(form.get("message", "")).strip() or None,
                request_id=str(form.get("request_id", "")) or None,
            )
        except vauchflow.InvalidRequestError as error:
            return await self._incidents_page(request, caller, {"error": _problem(error)}, FORM_NEEDS_ATTENTION)
        return RedirectResponse(f"/operator/incidents/{quote(created.id, safe='')}", status_code=303)

    async def incident(self, request: Request, caller: Caller) -> Response:
        return await self._incident_page(request, caller)

    async def _incident_page(
        self, request: Request, caller: Caller, extra: dict[str, Any] | None = None, status_code: int = 200
    ) -> Response:
        incident = await caller.operator_api.incidents.get(request.path_params["incident_id"])
        state = incident_state(incident.state)
        context = {"title": incident.title, "incident": incident, "state": state,
                   "next_states": allowed_next_states(state), **(extra or {})}  # fmt: skip
        return self._render.page(request, caller, "incident.html", context, status_code=status_code)

    async def add_update(self, request: Request, caller: Caller) -> Response:
        form = await request.form()
        incident_id = request.path_params["incident_id"]
        state = str(form.get("state", ""))
        update = status_pb2.IncidentUpdate(
            # An unknown state goes to the API as UNSPECIFIED, which refuses it with the field named.
            state="INCIDENT_STATE_" + (state if state in INCIDENT_STATES else "UNSPECIFIED"),
            message=str(form.get("message", "")).strip(),
            affected_endpoints=[e.strip() for e in str(form.get("affected_endpoints", "")).split(",") if e.strip()],
            workaround=str(form.get("workaround", "")).strip(),
            catch_up_window=str(form.get("catch_up_window", "")).strip(),
        )
        expected = str(form.get("expected_resolution_time", "")).strip()
        if expected:
            try:
                # A datetime-local field: the page labels it UTC.
                update.expected_resolution_time.FromDatetime(dt.datetime.fromisoformat(expected).replace(tzinfo=dt.UTC))
            except ValueError:
                return await self._incident_page(
                    request, caller, {"error": "expected resolution: not a date and time"}, FORM_NEEDS_ATTENTION
                )
        try:
            await caller.operator_api.incidents.add_update(incident_id, update)
        except vauchflow.InvalidRequestError as error:
            return await self._incident_page(request, caller, {"error": _problem(error)}, FORM_NEEDS_ATTENTION)
        return RedirectResponse(f"/operator/incidents/{quote(incident_id, safe='')}", status_code=303)
