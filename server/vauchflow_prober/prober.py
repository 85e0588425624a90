"""The prober's loop: every interval, run the six checks, record them as metrics, and report them to the API's
StatusService (which stores them and opens an incident when a component fails too many checks in a row).

Results the API could not take (it may be the thing that is down) are kept, up to MAX_PENDING_ROUNDS rounds, and
sent with the next report, so the history has no hole where the outage was.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections import deque

import aiohttp
import grpc
from google.protobuf import duration_pb2, timestamp_pb2

import vauchflow
from vauchflow.v1 import status_pb2, status_service_pb2, status_service_pb2_grpc
from vauchflow_core.wakeups import wait_any
from vauchflow_prober.checks import CheckResult, Checks
from vauchflow_prober.config import ProberConfig
from vauchflow_prober.metrics import ProberMetrics

log = logging.getLogger(__name__)

MAX_PENDING_ROUNDS = 20
PROBE_TENANT_NAME = "Vauchflow status probe"


def result_message(result: CheckResult, at: dt.datetime) -> status_pb2.CheckResult:
    check_time = timestamp_pb2.Timestamp()
    check_time.FromDatetime(at)
    message = status_pb2.CheckResult(
        component="MONITORED_COMPONENT_" + result.component.upper(),
        outcome="CHECK_OUTCOME_" + result.outcome,
        check_time=check_time,
        detail=result.detail[:200],
    )
    if result.seconds is not None:
        duration = duration_pb2.Duration()
        duration.FromTimedelta(dt.timedelta(seconds=result.seconds))
        message.duration.CopyFrom(duration)
    return message


class Prober:
    def __init__(self, config: ProberConfig, metrics: ProberMetrics):
        self._config = config
        self._metrics = metrics
        self._pending: deque[list[status_pb2.CheckResult]] = deque(maxlen=MAX_PENDING_ROUNDS)
        self._client: vauchflow.AsyncClient | None = None

    async def run(self, stopping: asyncio.Event) -> None:
        config = self._config
        channel = grpc.aio.insecure_channel(config.grpc_target)
        status = status_service_pb2_grpc.StatusServiceStub(channel)
        try:
            async with aiohttp.ClientSession() as http:
                while not stopping.is_set():
                    started = time.monotonic()
                    if self._client is None:
                        self._client = await self._probe_client()
                    results = await Checks(config, http, self._client).run_all()
                    now = dt.datetime.now(dt.UTC)
                    for result in results:
                        self._metrics.record(
                            result.component,
                            deployed=result.outcome != "NOT_DEPLOYED",
                            passed=result.outcome == "PASSED",
                            seconds=result.seconds,
                        )
                    self._pending.append([result_message(r, now) for r in results])
                    await self._report(status)
                    await wait_any(stopping, timeout=max(0.0, config.interval_seconds - (time.monotonic() - started)))
        finally:
            if self._client is not None:
                await self._client.close()
            await channel.close()

    async def _report(self, status: status_service_pb2_grpc.StatusServiceStub) -> None:
        request = status_service_pb2.ReportCheckResultsRequest(
            results=[r for round_ in self._pending for r in round_],
            open_incident_after_failures=self._config.open_incident_after_failures,
        )
        try:
            response: status_service_pb2.ReportCheckResultsResponse = await status.ReportCheckResults(  # type: ignore[misc]
                request,
                metadata=(("authorization", f"Bearer {self._config.admin_token}"),),
                timeout=self._config.timeout_seconds,
            )
        except grpc.aio.AioRpcError as error:
            self._metrics.report_failures.inc()
            log.warning(
                "check results not reported",
                extra={"action": "probe_report_failed", "code": error.code().name, "pending": len(self._pending)},
            )
            return
        self._pending.clear()
        for incident in response.opened_incidents:
            log.warning("incident opened", extra={"action": "probe_incident_opened", "incident_id": incident.id})

    async def _probe_client(self) -> vauchflow.AsyncClient | None:
        """A client of the probe tenant, with its voucher in place; None when the API can't provide one now."""
        config = self._config
        key = config.probe_api_key
        try:
            if not key:
                # No provisioned key: make a probe tenant (SCALE, like the customers the target is promised to).
                async with vauchflow.AsyncOperatorClient(
                    config.admin_token, target=config.grpc_target, tls=False, timeout=config.timeout_seconds
                ) as operator:
                    created = await operator.tenants.create(PROBE_TENANT_NAME, plan="SCALE")
                key = created.secret
                log.info(
                    "probe tenant created", extra={"action": "probe_tenant_created", "tenant_id": created.tenant.id}
                )
            client = vauchflow.AsyncClient(key, target=config.grpc_target, tls=False, timeout=config.timeout_seconds)
            # VoucherCodeTaken: provisioned by an earlier run with the same key.
            with contextlib.suppress(vauchflow.VoucherCodeTaken):
                await client.vouchers.create(config.probe_voucher_code, percent_off=10, currency="EUR")
        except (vauchflow.VauchflowError, TimeoutError, OSError) as error:
            log.warning(
                "probe tenant unavailable", extra={"action": "probe_tenant_failed", "error_type": type(error).__name__}
            )
            return None
        return client
