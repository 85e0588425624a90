"""Runs the web service under uvicorn, and stops it cleanly.

SIGTERM/SIGINT: /healthz answers 503 at once and the service keeps serving for the drain delay (Envoy checks
every second and needs two failures to stop routing here), then uvicorn stops accepting and lets open requests
finish within the grace period; exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator

import uvicorn
from starlette.routing import BaseRoute

from vauchflow_web import dashboard, mcp, status
from vauchflow_web.api_access import ApiAccess
from vauchflow_web.app import Health, build_app
from vauchflow_web.config import WebConfig
from vauchflow_web.metrics import WebMetrics

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: ours drain first, then set should_exit."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def surfaces(config: WebConfig, api: ApiAccess, metrics: WebMetrics) -> list[BaseRoute]:
    """Every surface's routes: the MCP server, the status page, then the dashboard (which answers the rest)."""
    return [*mcp.routes(config, api, metrics), *status.routes(config, api), *dashboard.routes(config, api)]


async def serve(config: WebConfig) -> int:
    metrics = WebMetrics()
    metrics.serve(config.metrics_host, config.metrics_port)
    health = Health()
    api = ApiAccess(config)
    app = build_app(metrics, health, surfaces(config, api, metrics))
    server = _Server(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=int(config.shutdown_grace_seconds),
            server_header=False,
        )
    )
    stop_requested = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_requested.set)

    async def drain_on_stop() -> None:
        await stop_requested.wait()
        health.draining = True
        log.info("web service draining", extra={"action": "service_draining"})
        await asyncio.sleep(config.shutdown_drain_delay_seconds)  # a fixed window for Envoy's health checks
        server.should_exit = True

    stopper = asyncio.create_task(drain_on_stop(), name="drain-on-stop")
    try:
        log.info(
            "web service started",
            extra={"action": "service_started", "port": config.port, "metrics_port": config.metrics_port},
        )
        await server.serve()
    finally:
        stopper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stopper
        await api.close()
    if not server.started:
        return 1
    log.info("web service stopped", extra={"action": "service_stopped"})
    return 0
