"""The merchant dashboard at / (issue 13): the whole voucher workflow in a browser, acting with the signed-in key."""

from __future__ import annotations

from starlette.routing import BaseRoute

from vauchflow_web.api_access import ApiAccess
from vauchflow_web.config import WebConfig


def routes(config: WebConfig, api: ApiAccess) -> list[BaseRoute]:
    """The dashboard's routes (none yet)."""
    return []
