"""The MCP server at /v1/mcp (issue 12): AI agents validate, redeem and manage vouchers through the same API."""

from __future__ import annotations

from starlette.routing import BaseRoute

from vauchflow_web.api_access import ApiAccess
from vauchflow_web.config import WebConfig


def routes(config: WebConfig, api: ApiAccess) -> list[BaseRoute]:
    """The MCP server's routes (none yet)."""
    return []
