"""The public status page at /status (issue 15): each monitored component's state, uptime and incidents.

GET /status (HTML), /status/summary.json (schema: summary.schema.json) and /status/feed.atom (Atom), from the
API's public StatusService summary; the last summary seen is kept and shown with its age when the API is down.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from vauchflow_web.api_access import ApiAccess
from vauchflow_web.config import WebConfig
from vauchflow_web.status import page
from vauchflow_web.status.subscribing import SubscriptionPages
from vauchflow_web.status.summary_source import SummarySource

# Nothing but our own stylesheet may load; no script may run (there is none).
_HTML_HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'",
    "cache-control": "no-cache",
    "x-content-type-options": "nosniff",
}


def routes(config: WebConfig, api: ApiAccess) -> list[BaseRoute]:
    source = SummarySource(config.api_target, tls=config.api_tls)
    subscriptions = SubscriptionPages(config.api_target, tls=config.api_tls)

    async def status_page(_request: Request) -> Response:
        return Response(page.render_html(await source.get()), media_type="text/html", headers=_HTML_HEADERS)

    async def summary_json(_request: Request) -> Response:
        snapshot = await source.get()
        if snapshot is None:
            body = {"code": 14, "message": "status data is unavailable right now",
                    "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "UNAVAILABLE",
                                 "domain": "vauchflow.com"}]}  # fmt: skip
            return JSONResponse(body, status_code=503, headers={"retry-after": "30"})
        return JSONResponse(page.summary_document(snapshot), headers={"cache-control": "no-cache"})

    async def feed(request: Request) -> Response:
        base_url = f"{request.url.scheme}://{request.headers.get('host', 'localhost')}"
        return Response(page.render_atom(await source.get(), base_url), media_type="application/atom+xml")

    async def stylesheet(_request: Request) -> Response:
        return Response(page.STYLESHEET, media_type="text/css", headers={"cache-control": "max-age=3600"})

    return [
        Route("/status", status_page, methods=["GET"]),
        Route("/status/summary.json", summary_json, methods=["GET"]),
        Route("/status/feed.atom", feed, methods=["GET"]),
        Route("/status/status.css", stylesheet, methods=["GET"]),
        *subscriptions.routes(),
    ]
