"""The public status page at /status (issue 15): each monitored component's state, uptime and incidents."""

from __future__ import annotations

from starlette.routing import BaseRoute

from vauchflow_web.api_access import ApiAccess
from vauchflow_web.config import WebConfig


def routes(config: WebConfig, api: ApiAccess) -> list[BaseRoute]:
    """The status page's routes (none yet)."""
    return []
