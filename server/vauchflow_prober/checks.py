"""The six synthetic checks, each exactly as the status page describes its measurement.

A check never raises: it returns what it found. A surface that does not exist yet (a 404 where the MCP server or
the dashboard will be, no backup job listening) is NOT_DEPLOYED, never PASSED.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

import aiohttp

import vauchflow
from vauchflow_prober.config import ProberConfig

PASSED = "PASSED"
FAILED = "FAILED"
NOT_DEPLOYED = "NOT_DEPLOYED"

COMPONENTS = ("api", "redemption", "webhooks", "mcp", "dashboard", "backups")

DELIVERY_RATIO = "vauchflow_webhook_delivered_within_1h_ratio"
BACKUP_TIMESTAMP = "vauchflow_backup_last_success_timestamp_seconds"
DELIVERY_TARGET = 0.99
BACKUP_MAX_AGE_SECONDS = 24 * 3600

_MCP_INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "vauchflow-prober", "version": "1"},
    },
}


@dataclass(frozen=True)
class CheckResult:
    component: str
    outcome: str
    seconds: float | None = None
    detail: str = ""


def metric_value(text: str, name: str) -> float | None:
    """The first sample of an unlabelled metric in Prometheus text format."""
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            try:
                return float(line.rsplit(" ", 1)[-1])
            except ValueError:
                return None
    return None


class Checks:
    def __init__(self, config: ProberConfig, http: aiohttp.ClientSession, client: vauchflow.AsyncClient | None):
        self._config = config
        self._http = http
        self._client = client
        self._timeout = aiohttp.ClientTimeout(total=config.timeout_seconds)

    async def run_all(self) -> list[CheckResult]:
        return list(
            await asyncio.gather(
                self.api(), self.redemption(), self.webhooks(), self.mcp(), self.dashboard(), self.backups()
            )
        )

    async def _get(self, url: str) -> tuple[int, str]:
        async with self._http.get(url, timeout=self._timeout, allow_redirects=False) as response:
            return response.status, await response.text()

    async def api(self) -> CheckResult:
        started = time.perf_counter()
        try:
            status, _ = await self._get(self._config.public_url + "/actuator/health")
        except (aiohttp.ClientError, TimeoutError) as error:
            return CheckResult("api", FAILED, None, _unreachable(error))
        elapsed = time.perf_counter() - started
        return CheckResult(
            "api", PASSED if status == 200 else FAILED, elapsed, "" if status == 200 else f"HTTP {status}"
        )

    async def dashboard(self) -> CheckResult:
        started = time.perf_counter()
        try:
            status, _ = await self._get(self._config.public_url + "/")
        except (aiohttp.ClientError, TimeoutError) as error:
            return CheckResult("dashboard", FAILED, None, _unreachable(error))
        elapsed = time.perf_counter() - started
        if status == 404:
            return CheckResult("dashboard", NOT_DEPLOYED, None, "GET / answers 404: the dashboard is not deployed")
        return CheckResult(
            "dashboard", PASSED if status == 200 else FAILED, elapsed, "" if status == 200 else f"HTTP {status}"
        )

    async def mcp(self) -> CheckResult:
        deadline = self._config.mcp_deadline_seconds
        started = time.perf_counter()
        try:
            async with self._http.post(
                self._config.public_url + "/v1/mcp",
                json=_MCP_INITIALIZE,
                headers={"accept": "application/json, text/event-stream"},
                timeout=aiohttp.ClientTimeout(total=deadline),
                allow_redirects=False,
            ) as response:
                status, body = response.status, await response.text()
        except TimeoutError:
            return CheckResult("mcp", FAILED, None, f"no answer to initialize within {deadline:g} s")
        except aiohttp.ClientError as error:
            return CheckResult("mcp", FAILED, None, _unreachable(error))
        elapsed = time.perf_counter() - started
        if status == 404:
            return CheckResult("mcp", NOT_DEPLOYED, None, "POST /v1/mcp answers 404: the MCP server is not deployed")
        if status != 200 or '"result"' not in body or "protocolVersion" not in body:
            return CheckResult("mcp", FAILED, elapsed, f"initialize answered HTTP {status} without a result")
        return CheckResult("mcp", PASSED, elapsed)

    async def webhooks(self) -> CheckResult:
        try:
            status, text = await self._get(self._config.delivery_metrics_url)
        except (aiohttp.ClientError, TimeoutError) as error:
            return CheckResult("webhooks", FAILED, None, "delivery service metrics: " + _unreachable(error))
        ratio = metric_value(text, DELIVERY_RATIO) if status == 200 else None
        if ratio is None:
            return CheckResult("webhooks", FAILED, None, f"delivery service metrics without {DELIVERY_RATIO}")
        if ratio < DELIVERY_TARGET:
            return CheckResult("webhooks", FAILED, None, f"{ratio:.2%} delivered within 1 hour over 24 hours")
        return CheckResult("webhooks", PASSED, None)

    async def backups(self) -> CheckResult:
        try:
            status, text = await self._get(self._config.backup_metrics_url)
        except aiohttp.ClientConnectionError:
            return CheckResult("backups", NOT_DEPLOYED, None, "no backup job answers at its metrics address")
        except (aiohttp.ClientError, TimeoutError) as error:
            return CheckResult("backups", FAILED, None, "backup job metrics: " + _unreachable(error))
        if status == 404:
            return CheckResult("backups", NOT_DEPLOYED, None, "no backup job answers at its metrics address")
        last = metric_value(text, BACKUP_TIMESTAMP) if status == 200 else None
        if last is None or last <= 0:
            return CheckResult("backups", FAILED, None, "the backup job reports no successful backup")
        age = time.time() - last
        if age >= BACKUP_MAX_AGE_SECONDS:
            return CheckResult("backups", FAILED, None, f"last successful backup {age / 3600:.1f} hours ago")
        return CheckResult("backups", PASSED, None)

    async def redemption(self) -> CheckResult:
        """Validate, redeem and roll back the probe voucher through the public API; the redeem call is timed."""
        if self._client is None:
            return CheckResult("redemption", FAILED, None, "no probe tenant (provisioning failed)")
        code = self._config.probe_voucher_code
        try:
            await self._client.redemptions.validate(code, amount=10_000, currency="EUR")
            started = time.perf_counter()
            redeemed = await self._client.redemptions.redeem(
                code, amount=10_000, currency="EUR", order_id=f"probe-{uuid.uuid4()}"
            )
            elapsed = time.perf_counter() - started
            await self._client.redemptions.rollback(redeemed.redemption.id, reason="status probe")
        except vauchflow.VauchflowError as error:
            return CheckResult("redemption", FAILED, None, f"{type(error).__name__}")
        except (TimeoutError, OSError) as error:
            return CheckResult("redemption", FAILED, None, _unreachable(error))
        return CheckResult("redemption", PASSED, elapsed)


def _by_status(component: str, status: int, elapsed: float) -> CheckResult:
    """Only 200 passes: a redirect or any other answer is not the page the status promises."""
    if status == 200:
        return CheckResult(component, PASSED, elapsed)
    return CheckResult(component, FAILED, elapsed, f"HTTP {status}")


def _unreachable(error: BaseException) -> str:
    # The exception's type, not its text: texts can carry addresses and are not for a public page.
    if isinstance(error, TimeoutError):
        return "timed out"
    return f"unreachable ({type(error).__name__})"
