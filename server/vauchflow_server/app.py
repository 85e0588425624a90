"""Assembles and runs the gRPC server: database pool, use cases, servicers, health, reflection, shutdown."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import signal
import time
from uuid import UUID

import grpc
from google.longrunning import operations_pb2, operations_pb2_grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from vauchflow.v1 import (
    api_key_service_pb2,
    api_key_service_pb2_grpc,
    campaign_service_pb2,
    campaign_service_pb2_grpc,
    data_exchange_service_pb2,
    data_exchange_service_pb2_grpc,
    health_service_pb2,
    health_service_pb2_grpc,
    redemption_service_pb2,
    redemption_service_pb2_grpc,
    status_service_pb2,
    status_service_pb2_grpc,
    tenant_service_pb2,
    tenant_service_pb2_grpc,
    voucher_service_pb2,
    voucher_service_pb2_grpc,
    webhook_service_pb2,
    webhook_service_pb2_grpc,
)
from vauchflow_core.redis_client import redis_client as redis_client_for
from vauchflow_core.rpc.api_key_cache import ApiKeyCache
from vauchflow_core.rpc.auth import Authenticator
from vauchflow_core.rpc.auth_failures import AuthFailureLimiter
from vauchflow_core.rpc.rate_limiter import RateLimiter
from vauchflow_core.rpc.request_boundary import RequestBoundary
from vauchflow_core.webhook_endpoints import UrlPolicy
from vauchflow_server.admin.api_key_admin import ApiKeyAdmin
from vauchflow_server.admin.campaign_admin import CampaignAdmin
from vauchflow_server.admin.data_exchange import DataExchange
from vauchflow_server.admin.operation_admin import OperationAdmin
from vauchflow_server.admin.tenant_admin import TenantAdmin
from vauchflow_server.admin.voucher_admin import VoucherAdmin
from vauchflow_server.admin.webhook_admin import WebhookAdmin
from vauchflow_server.api.public_limits import PublicCallLimiter
from vauchflow_server.api.servicers.api_keys import ApiKeyServicer
from vauchflow_server.api.servicers.campaigns import CampaignServicer
from vauchflow_server.api.servicers.data_exchange import DataExchangeServicer
from vauchflow_server.api.servicers.health import HealthServicer
from vauchflow_server.api.servicers.operations import OperationsServicer
from vauchflow_server.api.servicers.redemptions import RedemptionServicer
from vauchflow_server.api.servicers.status import StatusServicer
from vauchflow_server.api.servicers.tenants import TenantServicer
from vauchflow_server.api.servicers.vouchers import VoucherServicer
from vauchflow_server.api.servicers.webhooks import WebhookServicer
from vauchflow_server.code_generation import CodeGenerator
from vauchflow_server.config import ServerConfig
from vauchflow_server.db.database import (
    API_KEY_REVOKED_CHANNEL,
    TENANT_CHANGED_CHANNEL,
    Database,
    NotificationListener,
)
from vauchflow_server.db.read_replica import ReplicaSettings
from vauchflow_server.health import HealthChecker
from vauchflow_server.metrics import ServerMetrics
from vauchflow_server.redemption.engine import RedemptionEngine
from vauchflow_server.redemption.flash_sale_gate import FlashSaleGate
from vauchflow_server.redemption.flash_sale_reconciliation import FlashSaleReconciler
from vauchflow_server.refusal_counts import RefusalCounts
from vauchflow_server.status.overdue_watch import OverdueWatch
from vauchflow_server.status.rules import StateRules
from vauchflow_server.status.status_desk import StatusDesk
from vauchflow_server.status.subscriptions import StatusSubscriptions
from vauchflow_server.usage_summary import UsageReport

log = logging.getLogger(__name__)

SERVICE_NAMES = (
    tenant_service_pb2.DESCRIPTOR.services_by_name["TenantService"].full_name,
    api_key_service_pb2.DESCRIPTOR.services_by_name["ApiKeyService"].full_name,
    voucher_service_pb2.DESCRIPTOR.services_by_name["VoucherService"].full_name,
    redemption_service_pb2.DESCRIPTOR.services_by_name["RedemptionService"].full_name,
    webhook_service_pb2.DESCRIPTOR.services_by_name["WebhookService"].full_name,
    health_service_pb2.DESCRIPTOR.services_by_name["HealthService"].full_name,
    status_service_pb2.DESCRIPTOR.services_by_name["StatusService"].full_name,
    campaign_service_pb2.DESCRIPTOR.services_by_name["CampaignService"].full_name,
    operations_pb2.DESCRIPTOR.services_by_name["Operations"].full_name,
    data_exchange_service_pb2.DESCRIPTOR.services_by_name["DataExchangeService"].full_name,
)


class StartupError(Exception):
    """The server cannot start safely."""


async def serve(config: ServerConfig) -> None:
    started = time.perf_counter()
    db = await Database.connect(config.database_url, min_size=config.db_pool_min_size, max_size=config.db_pool_max_size)
    redis_client = redis_client_for(config.redis_url, config.redis_timeout_seconds)
    background: list[NotificationListener | FlashSaleReconciler | OverdueWatch | CodeGenerator] = []
    try:
        if await db.role_can_bypass_rls():
            raise StartupError(
                "DATABASE_URL connects as a superuser or BYPASSRLS role; the server must run as vauchflow_app"
            )
        key_cache = ApiKeyCache(config.api_key_cache_seconds)
        revocations = db.listener(
            API_KEY_REVOKED_CHANNEL,
            on_notify=lambda key_id: key_cache.evict_key(UUID(key_id)),
            on_connect=key_cache.clear,
        )
        revocations.start()
        background.append(revocations)
        tenant_changes = db.listener(
            TENANT_CHANGED_CHANNEL,
            on_notify=lambda tenant_id: key_cache.evict_tenant(UUID(tenant_id)),
            on_connect=key_cache.clear,
        )
        tenant_changes.start()
        background.append(tenant_changes)
        metrics = ServerMetrics()
        if config.metrics_port is not None:
            metrics.serve(config.metrics_host, config.metrics_port)
        if config.database_replica_url is not None:
            await db.add_read_replica(
                config.database_replica_url,
                ReplicaSettings(
                    wait_seconds=config.replica_wait_seconds,
                    max_lag_seconds=config.replica_max_lag_seconds,
                    check_seconds=config.replica_check_seconds,
                ),
                metrics,
                max_size=config.db_pool_max_size,
            )
        gate = (
            FlashSaleGate(redis_client, metrics, timeout_seconds=config.flash_sale_gate_timeout_seconds)
            if redis_client is not None
            else None
        )
        if gate is not None:
            reconciler = FlashSaleReconciler(db, gate, metrics, config.flash_sale_reconcile_seconds)
            reconciler.start()
            background.append(reconciler)
        rate_limiter = RateLimiter(redis_client, metrics) if redis_client is not None else None
        server = grpc.aio.server(
            interceptors=[
                RequestBoundary(
                    Authenticator(db, config.admin_token, key_cache),
                    metrics,
                    rate_limiter,
                    AuthFailureLimiter(redis_client, limit=config.auth_failures_per_minute),
                    commit_position=db.commit_position,
                )
            ]
        )
        tenant_service_pb2_grpc.add_TenantServiceServicer_to_server(
            TenantServicer(TenantAdmin(db, on_changed=key_cache.evict_tenant)), server
        )
        api_key_service_pb2_grpc.add_ApiKeyServiceServicer_to_server(
            ApiKeyServicer(ApiKeyAdmin(db, on_revoked=key_cache.evict_key)), server
        )
        voucher_service_pb2_grpc.add_VoucherServiceServicer_to_server(VoucherServicer(VoucherAdmin(db, gate)), server)
        refusals = RefusalCounts(redis_client, metrics)
        engine = RedemptionEngine(
            db,
            gate=gate,
            metrics=metrics,
            per_voucher_concurrency=config.redeem_concurrency_per_voucher,
            max_batch=config.redeem_batch_max,
            batches_in_flight=config.redeem_batches_in_flight,
            refusals=refusals,
        )
        redemption_service_pb2_grpc.add_RedemptionServiceServicer_to_server(
            RedemptionServicer(engine, UsageReport(db, refusals)), server
        )
        # Code generation runs here, in the background; stopped (its operations ended FAILED) before the pool closes.
        code_generator = CodeGenerator(db)
        background.append(code_generator)
        campaign_service_pb2_grpc.add_CampaignServiceServicer_to_server(
            CampaignServicer(CampaignAdmin(db, code_generator)), server
        )
        operations_pb2_grpc.add_OperationsServicer_to_server(OperationsServicer(OperationAdmin(db)), server)
        data_exchange_service_pb2_grpc.add_DataExchangeServiceServicer_to_server(
            DataExchangeServicer(DataExchange(db, metrics)), server
        )
        webhooks = config.webhooks
        url_policy = UrlPolicy(webhooks.address_policy, allow_http=webhooks.allow_http)
        webhook_service_pb2_grpc.add_WebhookServiceServicer_to_server(
            WebhookServicer(WebhookAdmin(db, webhooks.key_ring, url_policy)), server
        )
        status_desk = StatusDesk(
            db,
            StateRules(
                update_cadence=dt.timedelta(seconds=config.status_update_cadence_seconds),
                postmortem_after_down=dt.timedelta(seconds=config.status_postmortem_after_down_seconds),
            ),
        )
        overdue_watch = OverdueWatch(status_desk, metrics, config.status_metrics_seconds)
        overdue_watch.start()
        background.append(overdue_watch)
        status_service_pb2_grpc.add_StatusServiceServicer_to_server(
            StatusServicer(
                status_desk,
                StatusSubscriptions(db, webhooks.key_ring, url_policy),
                PublicCallLimiter(rate_limiter).admit,
            ),
            server,
        )
        health_service_pb2_grpc.add_HealthServiceServicer_to_server(
            HealthServicer(HealthChecker(db, redis_client)), server
        )
        grpc_health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(grpc_health, server)
        reflection.enable_server_reflection((*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
        address = f"{config.grpc_host}:{config.grpc_port}"
        server.add_insecure_port(address)
        await server.start()
        for name in ("", *SERVICE_NAMES):
            await grpc_health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info(
            "server started",
            extra={
                "action": "server_started",
                "address": address,
                "startup_ms": round((time.perf_counter() - started) * 1000),
            },
        )

        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        await stopping.wait()

        # Report NOT_SERVING and keep serving while load balancers notice (Envoy's health check needs up to two
        # intervals), so requests they still send here succeed instead of being cancelled; then stop accepting,
        # let in-flight RPCs finish within the grace period, and cancel what remains.
        log.info("server draining", extra={"action": "server_draining", "grace_s": config.shutdown_grace_seconds})
        await grpc_health.enter_graceful_shutdown()
        await asyncio.sleep(config.shutdown_drain_delay_seconds)
        await server.stop(config.shutdown_grace_seconds)
        log.info("server stopped", extra={"action": "server_stopped"})
    finally:
        for task in background:
            await task.stop()
        if redis_client is not None:
            await redis_client.aclose()
        await db.close()
