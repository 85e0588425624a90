"""The MCP server at /v1/mcp (issue 12): AI agents validate, redeem and manage vouchers through the same API.

http_endpoint.py checks each HTTP request and authenticates its key; server.py is the MCP server on the official
SDK; tools.py lists the tools as data; views.py is what an agent sees of the API's messages; refusals.py turns the
API's refusals into tool results.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from vauchflow_web.api_access import ApiAccess
from vauchflow_web.config import WebConfig
from vauchflow_web.mcp.http_endpoint import McpEndpoint
from vauchflow_web.mcp.server import build_server, load_api_reference
from vauchflow_web.metrics import WebMetrics

PATH = "/v1/mcp"


def routes(config: WebConfig, api: ApiAccess, metrics: WebMetrics) -> list[BaseRoute]:
    """/v1/mcp, every method: the endpoint answers all but POST with a JSON 405 of its own."""
    endpoint = McpEndpoint(build_server(metrics, load_api_reference()), config, api, metrics)
    return [Route(PATH, endpoint)]
