"""Periodic reconciliation of flash-sale counters with PostgreSQL, the system of record.

Counters drift when a unit is taken and never settled (a process died mid-request, Redis failed at the wrong
moment) or when a rollback lands while a counter is missing. Every interval this walks the counters that exist in
Redis (the server's database role sees one tenant per transaction, by row-level security, so it cannot list flash
sales across tenants; the counters name their tenant) and compares each with `max_redemptions - redemption_count`.

When is a difference drift rather than redemptions in flight? A unit taken by an admission is missing from Redis
before PostgreSQL commits it, so "Redis < PostgreSQL" is normal mid-sale. The rule: correct only if (1) the snapshot
shows no live lease — every admission and rollback holds one from before its COMMIT until it has settled in Redis,
so nothing that PostgreSQL's count reflects is still unsettled in Redis — and (2) the counter's version is unchanged
when the correction is written (checked atomically with the write, together with "still no live lease"), so no
admission, give-back or rebuild happened in between. Whatever this rule cannot see — a bypassed redemption during a
Redis outage, a lease that outlived its deadline — can only leave a counter too high, which PostgreSQL's own
limit makes harmless; it never lowers a counter below what PostgreSQL allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from vauchflow_core import errors
from vauchflow_server.db.database import Database
from vauchflow_server.metrics import ServerMetrics
from vauchflow_server.redemption.flash_sale_gate import FlashSaleGate, VoucherKey
from vauchflow_server.vouchers import ACTIVE

log = logging.getLogger(__name__)


class FlashSaleReconciler:
    def __init__(self, db: Database, gate: FlashSaleGate, metrics: ServerMetrics, interval_seconds: float):
        self._db = db
        self._gate = gate
        self._metrics = metrics
        self._interval = interval_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="flash-sale-reconciliation")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def run_once(self) -> int:
        """Reconciles every counter once; returns how many were corrected."""
        corrected = 0
        async for key in self._gate.counter_keys():
            corrected += await self._reconcile(key)
        return corrected

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning(
                    "flash-sale reconciliation failed",
                    extra={"action": "flash_sale_reconcile_failed", "error_type": type(error).__name__},
                )

    async def _reconcile(self, key: VoucherKey) -> int:
        seen = await self._gate.snapshot(key)
        if seen is None or seen.in_flight:
            return 0
        try:
            async with self._db.tenant_transaction(key.tenant_id) as tx:
                voucher = await tx.voucher_by_code(key.code)
        except errors.Unavailable:
            return 0
        if voucher is None or not voucher.terms.flash_sale or voucher.terms.status != ACTIVE:
            # Not (or no longer) a live flash sale: the counter has nothing to gate.
            await self._gate.drop(key)
            return 0
        remaining = voucher.remaining or 0
        if await self._gate.correct(key, seen, remaining) != 1:
            return 0
        self._metrics.flash_sale_corrections.inc()
        log.info(
            "flash-sale counter corrected",
            extra={"action": "flash_sale_corrected", "tenant_id": str(key.tenant_id), "voucher_code": key.code,
                   "redis_units": seen.units, "postgres_remaining": remaining},
        )  # fmt: skip
        return 1
