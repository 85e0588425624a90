"""The platform operator's pages: tenants (list, create, change plan), with the operator token of the session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

import vauchflow
from vauchflow_web.config import WebConfig
from vauchflow_web.dashboard.page_guard import Caller
from vauchflow_web.dashboard.rendering import FORM_NEEDS_ATTENTION, Renderer

PLANS = ("FREE", "STARTER", "GROWTH", "SCALE", "ENTERPRISE")


class OperatorPages:
    def __init__(self, config: WebConfig, renderer: Renderer) -> None:
        self._config = config
        self._render = renderer

    @asynccontextmanager
    async def _operator(self, caller: Caller) -> AsyncIterator[vauchflow.AsyncOperatorClient]:
        # Operator pages are rare: a connection of their own, closed after the request.
        client = vauchflow.AsyncOperatorClient(
            caller.session.secret,
            target=self._config.api_target,
            tls=self._config.api_tls,
            timeout=self._config.api_timeout_seconds,
        )
        try:
            yield client
        finally:
            await client.close()

    async def tenants(self, request: Request, caller: Caller) -> Response:
        return await self._tenants_page(request, caller)

    async def _tenants_page(
        self, request: Request, caller: Caller, extra: dict[str, Any] | None = None, status_code: int = 200
    ) -> Response:
        async with self._operator(caller) as operator:
            tenants = [tenant async for tenant in operator.tenants.list(page_size=200)]
        context = {"title": "Tenants", "tenants": tenants, "plans": PLANS, **(extra or {})}
        return self._render.page(request, caller, "tenants.html", context, status_code=status_code)

    async def create_tenant(self, request: Request, caller: Caller) -> Response:
        form = await request.form()
        name = str(form.get("name", "")).strip()
        plan = str(form.get("plan", "FREE"))
        try:
            async with self._operator(caller) as operator:
                created = await operator.tenants.create(name, plan=plan if plan in PLANS else "FREE")
        except vauchflow.InvalidRequestError as error:
            message = "; ".join(v.description for v in error.field_violations) or error.message
            return await self._tenants_page(request, caller, {"error": message}, FORM_NEEDS_ATTENTION)
        return await self._tenants_page(request, caller, {"created": created.tenant, "secret": created.secret})

    async def change_plan(self, request: Request, caller: Caller) -> Response:
        form = await request.form()
        plan = str(form.get("plan", ""))
        tenant_id = request.path_params["tenant_id"]
        if plan in PLANS:
            async with self._operator(caller) as operator:
                await operator.tenants.update(tenant_id, plan=plan)
        return RedirectResponse(f"/operator/tenants#tenant-{quote(tenant_id, safe='')}", status_code=303)
