"""Assembles and runs the delivery service: pools, relay, dispatcher, event stream, metrics; and shuts it down.

Shutdown (SIGTERM/SIGINT): report NOT_SERVING, stop claiming and relaying, end open event streams (clients resume
from their cursor elsewhere), let in-flight attempts finish within the grace period, then cut the rest short and
give their leases back; exit 0. A crash loses nothing either: leases run out and the attempts are made again.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
import time

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from vauchflow.v1 import event_stream_service_pb2, event_stream_service_pb2_grpc
from vauchflow_core.redis_client import redis_client
from vauchflow_core.rpc.auth import Authenticator
from vauchflow_core.rpc.auth_failures import AuthFailureLimiter
from vauchflow_core.rpc.metrics import RpcMetrics
from vauchflow_core.rpc.rate_limiter import RateLimiter
from vauchflow_core.rpc.request_boundary import RequestBoundary
from vauchflow_delivery.config import DeliveryConfig
from vauchflow_delivery.dispatcher import Dispatcher, DispatchLimits
from vauchflow_delivery.event_feed import EventFeed, OutboxSignal
from vauchflow_delivery.event_stream import EventStreamServicer
from vauchflow_delivery.http_sender import HttpSender
from vauchflow_delivery.mailer import Mailer
from vauchflow_delivery.metrics import DeliveryMetrics
from vauchflow_delivery.relay import OutboxRelay
from vauchflow_delivery.retention import Pruner
from vauchflow_delivery.status_notifier import NotifierSettings, StatusNotifier
from vauchflow_delivery.store import (
    DELIVERIES_CHANNEL,
    EVENTS_RELAYED_CHANNEL,
    DeliveryStore,
    EventStore,
    parse_relayed_tenants,
)
from vauchflow_delivery.stream_slots import StreamSlots

log = logging.getLogger(__name__)

SERVICE_NAME = event_stream_service_pb2.DESCRIPTOR.services_by_name["EventStreamService"].full_name


class StartupError(Exception):
    """The service cannot start safely."""


async def serve(config: DeliveryConfig) -> int:
    """Runs until SIGTERM/SIGINT; returns the exit code (1 if a background loop died)."""
    started = time.perf_counter()
    store = await DeliveryStore.connect(
        config.database_url, min_size=config.db_pool_min_size, max_size=config.db_pool_max_size
    )
    try:
        events = await EventStore.connect(config.app_database_url, min_size=1, max_size=config.db_pool_max_size)
    except BaseException:
        await store.close()
        raise
    try:
        if await events.role_can_bypass_rls():
            raise StartupError(
                "APP_DATABASE_URL connects as a superuser or BYPASSRLS role; event streams must read as vauchflow_app"
            )
        async with HttpSender(config.webhooks.address_policy, config.sender) as sender:
            return await _run(config, store, events, sender, started)
    finally:
        await events.close()
        await store.close()


async def _run(
    config: DeliveryConfig, store: DeliveryStore, events: EventStore, sender: HttpSender, started: float
) -> int:
    metrics = DeliveryMetrics()
    metrics_server, metrics_thread = metrics.serve(config.metrics_host, config.metrics_port)
    # Set by a stop signal: no more claims, relays or stream reads.
    stopping = asyncio.Event()
    relay = OutboxRelay(
        store,
        metrics,
        batch_size=config.relay_batch_size,
        poll_seconds=config.outbox_poll_seconds,
        retry_after_error_seconds=config.poll_interval_seconds,
    )
    dispatcher = Dispatcher(
        store,
        sender,
        config.webhooks.key_ring,
        config.retry_schedule,
        DispatchLimits(
            max_in_flight=config.max_in_flight,
            max_in_flight_per_endpoint=config.max_in_flight_per_endpoint,
            lease_seconds=config.delivery_lease_seconds,
            poll_seconds=config.poll_interval_seconds,
            endpoint_disable_after_seconds=config.endpoint_disable_after_seconds,
        ),
        metrics,
    )
    notifier = StatusNotifier(
        store,
        sender,
        Mailer(config.smtp) if config.smtp is not None else None,
        config.webhooks.key_ring,
        config.retry_schedule,
        NotifierSettings(
            config.status_links,
            poll_seconds=config.status_poll_seconds,
            lease_seconds=config.delivery_lease_seconds,
        ),
    )
    outbox_signal = OutboxSignal()
    feed = EventFeed(events, outbox_signal, poll_seconds=config.poll_interval_seconds)

    def notified(channel: str, payload: str) -> None:
        if channel == EVENTS_RELAYED_CHANNEL:
            outbox_signal.notify(parse_relayed_tenants(payload))
        elif channel == DELIVERIES_CHANNEL:
            dispatcher.wake()

    # Only tenant API keys are accepted here; the operator token is not configured, so no value can match it.
    authenticator = Authenticator(events, secrets.token_urlsafe(32))
    redis = redis_client(config.redis_url, config.redis_timeout_seconds)
    rpc_metrics = RpcMetrics(metrics.registry)
    # Opening a stream is a request like any other: it counts against the tenant's rate (when Redis is there).
    rate_limiter = RateLimiter(redis, rpc_metrics) if redis is not None else None
    server = grpc.aio.server(
        interceptors=[RequestBoundary(authenticator, rpc_metrics, rate_limiter, AuthFailureLimiter(redis))]
    )
    event_stream_service_pb2_grpc.add_EventStreamServiceServicer_to_server(
        EventStreamServicer(feed, stopping, authenticator, config.stream_reauthorize_seconds, StreamSlots(redis)),
        server,
    )
    grpc_health = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(grpc_health, server)
    reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    address = f"{config.grpc_host}:{config.grpc_port}"
    server.add_insecure_port(address)

    listener_stopping = asyncio.Event()
    loops = {
        asyncio.create_task(relay.run(stopping), name="relay"),
        asyncio.create_task(dispatcher.run(stopping), name="dispatcher"),
        asyncio.create_task(notifier.run(stopping), name="status-notifier"),
        asyncio.create_task(
            metrics.run_refresher(store, stopping, config.metrics_refresh_seconds), name="metrics-refresher"
        ),
        asyncio.create_task(Pruner(store, metrics, config.retention).run(stopping), name="pruner"),
    }
    listener = asyncio.create_task(
        store.listener((EVENTS_RELAYED_CHANNEL, DELIVERIES_CHANNEL), notified).run(listener_stopping), name="listener"
    )
    exit_code = 0
    try:
        await server.start()
        for name in ("", SERVICE_NAME):
            await grpc_health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info(
            "delivery service started",
            extra={"action": "service_started", "address": address, "metrics_port": config.metrics_port,
                   "startup_ms": round((time.perf_counter() - started) * 1000)},
        )  # fmt: skip

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        stop_wait = asyncio.create_task(stopping.wait())
        done, _ = await asyncio.wait({*loops, listener, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        stop_wait.cancel()
        # A loop returns once stopping is set, and may finish in the same turn as stop_wait: only one that
        # failed, or returned while nothing was stopping, ended unexpectedly.
        crashed = [
            task
            for task in done
            if task is not stop_wait and (task.cancelled() or task.exception() is not None or not stopping.is_set())
        ]
        if crashed:
            # A loop only returns once stopping is set; ending earlier is a bug. Stop cleanly and say so.
            exit_code = 1
            for task in crashed:
                error = task.exception() if not task.cancelled() else None
                log.error(
                    "background loop ended unexpectedly",
                    extra={"action": "loop_crashed", "loop": task.get_name(),
                           "error_type": type(error).__name__ if error else None},
                )  # fmt: skip
            stopping.set()

        log.info(
            "delivery service draining",
            extra={"action": "service_draining", "grace_s": config.shutdown_grace_seconds,
                   "in_flight": dispatcher.in_flight},
        )  # fmt: skip
        await grpc_health.enter_graceful_shutdown()
        await asyncio.wait(loops, timeout=config.shutdown_grace_seconds)
        await dispatcher.drain(config.shutdown_grace_seconds)
        # Streams end on their own once stopping is set; the grace only covers one that is mid-query.
        await server.stop(config.shutdown_grace_seconds)
    finally:
        stopping.set()
        listener_stopping.set()
        for task in (*loops, listener):
            if not task.done():
                task.cancel()
        await asyncio.gather(*loops, listener, return_exceptions=True)
        if redis is not None:
            await redis.aclose()
        metrics_server.shutdown()
        metrics_server.server_close()
        metrics_thread.join(timeout=5)
    log.info("delivery service stopped", extra={"action": "service_stopped", "exit_code": exit_code})
    return exit_code
