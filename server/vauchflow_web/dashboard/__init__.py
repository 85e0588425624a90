"""The merchant dashboard at / (issue 13): the whole voucher workflow in a browser, acting with the signed-in key.

Server-rendered pages (Jinja2) with one small script of ours for the live feed; sessions in Redis; every API call
made with the session's key through the shared connection (ApiAccess), so permissions, rate limits and tenant
boundaries are the API's own.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from vauchflow_core.redis_client import redis_client
from vauchflow_web.api_access import ApiAccess
from vauchflow_web.config import WebConfig
from vauchflow_web.dashboard.live_events import stream_events
from vauchflow_web.dashboard.operator_pages import OperatorPages
from vauchflow_web.dashboard.page_guard import PageGuard
from vauchflow_web.dashboard.rendering import Renderer
from vauchflow_web.dashboard.sessions import InProcessBackend, RedisBackend, SessionStore
from vauchflow_web.dashboard.sign_in import SignIn
from vauchflow_web.dashboard.sign_in_throttle import SignInThrottle
from vauchflow_web.dashboard.tenant_pages import TenantPages

STATIC = Path(__file__).parent / "static"


def routes(config: WebConfig, api: ApiAccess) -> list[BaseRoute]:
    """The dashboard's routes: sign-in, the tenant's pages, the operator's pages and our static files."""
    redis = redis_client(config.redis_url, timeout_seconds=2.0)
    backend = RedisBackend(redis) if redis is not None else InProcessBackend()
    sessions = SessionStore(backend, config.session_key, config.session_idle_seconds)
    renderer = Renderer()
    guard = PageGuard(config, api, sessions, renderer)
    throttle = SignInThrottle(redis, config.sign_in_failure_limit, config.sign_in_failure_window_seconds)
    sign_in = SignIn(config, api, sessions, guard, renderer, throttle)
    pages = TenantPages(renderer)
    operator = OperatorPages(renderer)
    tenant = guard.tenant_page
    overview = tenant(pages.overview)

    async def home(request: Request) -> Response:
        # The status page's probe: GET / answers 200 with no session (the sign-in page).
        found = await guard.current_session(request)
        if found is None:
            return sign_in.sign_in_page(request)
        if found[1].kind == "operator":
            return RedirectResponse("/operator/tenants", status_code=303)
        return await overview(request)

    get, post = ["GET"], ["POST"]
    return [
        Route("/", home, methods=get),
        Route("/sign-in", sign_in.form, methods=get),
        Route("/sign-in", sign_in.submit, methods=post),
        Route("/sign-out", sign_in.sign_out, methods=post),
        Route("/vouchers", tenant(pages.vouchers), methods=get),
        Route("/vouchers", tenant(pages.create_voucher), methods=post),
        Route("/vouchers/new", tenant(pages.new_voucher), methods=get),
        Route("/vouchers/{code}", tenant(pages.voucher), methods=get),
        Route("/vouchers/{code}/edit", tenant(pages.edit_voucher), methods=get),
        Route("/vouchers/{code}/edit", tenant(pages.update_voucher), methods=post),
        Route("/vouchers/{code}/disable", tenant(pages.disable_voucher), methods=post),
        Route("/redemptions", tenant(pages.redemptions), methods=get),
        Route("/redemptions/{redemption_id}/rollback", tenant(pages.confirm_rollback), methods=get),
        Route("/redemptions/{redemption_id}/rollback", tenant(pages.rollback), methods=post),
        Route("/webhooks", tenant(pages.webhooks), methods=get),
        Route("/webhooks", tenant(pages.create_endpoint), methods=post),
        Route("/webhooks/{endpoint_id}", tenant(pages.endpoint), methods=get),
        Route("/webhooks/{endpoint_id}/edit", tenant(pages.update_endpoint), methods=post),
        Route("/webhooks/{endpoint_id}/rotate-secret", tenant(pages.rotate_secret), methods=post),
        Route("/webhooks/{endpoint_id}/test", tenant(pages.send_test_event), methods=post),
        Route("/webhooks/{endpoint_id}/recover", tenant(pages.recover), methods=post),
        Route("/events", tenant(pages.events), methods=get),
        Route("/events/live", tenant(stream_events), methods=get),
        Route("/events/{event_id}/redeliver", tenant(pages.redeliver), methods=post),
        Route("/api-keys", tenant(pages.api_keys), methods=get),
        Route("/api-keys", tenant(pages.create_api_key), methods=post),
        Route("/api-keys/{key_id}/revoke", tenant(pages.revoke_api_key), methods=post),
        Route("/operator/tenants", guard.operator_page(operator.tenants), methods=get),
        Route("/operator/tenants", guard.operator_page(operator.create_tenant), methods=post),
        Route("/operator/tenants/{tenant_id}/plan", guard.operator_page(operator.change_plan), methods=post),
        Route("/operator/incidents", guard.operator_page(operator.incidents), methods=get),
        Route("/operator/incidents", guard.operator_page(operator.create_incident), methods=post),
        Route("/operator/incidents/{incident_id}", guard.operator_page(operator.incident), methods=get),
        Route("/operator/incidents/{incident_id}/updates", guard.operator_page(operator.add_update), methods=post),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
