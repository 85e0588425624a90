"""Generating a campaign's codes in the background of the API server: the worker behind GenerateCampaignCodes.

Codes are drawn in chunks (bounded memory whatever the count) and each chunk is one transaction: COPY into a
temporary staging table, `INSERT ... SELECT ... ON CONFLICT DO NOTHING` into vouchers (codes taken anywhere in the
tenant are skipped and drawn again in the next chunk), the plan's voucher quota checked, and the operation's
progress and lease recorded. Between chunks the worker reads the operation's cancel flag. When it ends, the same
transaction that records the end writes one campaign.codes_generated event.

If the server stops, a running operation ends FAILED with the codes generated so far kept; if the server dies,
its lease runs out and the next read of the tenant's operations marks it FAILED the same way (operations.py).
"""

from __future__ import annotations

import asyncio
import logging
from uuid import UUID

from vauchflow_core.errors import QuotaExceeded
from vauchflow_server import resource_events
from vauchflow_server.admin.voucher_admin import check_voucher_quota
from vauchflow_server.campaign_codes import CodeDrawer, CodePattern
from vauchflow_server.db.database import Database
from vauchflow_server.operations import CANCELLED, FAILED, SUCCEEDED, Operation

log = logging.getLogger(__name__)

# google.rpc.Code values of a failed or cancelled operation's error.
_CANCELLED = 1
_FAILED_PRECONDITION = 9
_RESOURCE_EXHAUSTED = 8
_ABORTED = 10
_INTERNAL = 13
# Chunks in a row that add no code before the pattern counts as used up by the tenant's existing codes.
_MAX_FRUITLESS_CHUNKS = 3


class CodeGenerator:
    def __init__(self, db: Database, *, chunk_size: int = 50_000, lease_seconds: float = 60.0):
        self._db = db
        self._chunk_size = chunk_size
        self.lease_seconds = lease_seconds
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, tenant_id: UUID, operation: Operation) -> None:
        task = asyncio.create_task(self._run(tenant_id, operation), name=f"generate-codes-{operation.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Cancels running generations; each records its end (FAILED, codes kept) before it goes."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, tenant_id: UUID, operation: Operation) -> None:
        request = operation.request
        drawer = CodeDrawer(CodePattern(request["pattern"], request["charset"], request["prefix"], request["suffix"]))
        remaining = operation.requested_count - operation.generated_count
        fruitless = 0
        log.info(
            "code generation started",
            extra={"action": "codes_generation_started", "operation": operation.name, "count": remaining},
        )
        try:
            while remaining > 0:
                # Drawn distinct within the chunk; a code another voucher has is skipped by the INSERT.
                codes = list(dict.fromkeys(drawer.draw(min(self._chunk_size, remaining))))
                async with self._db.tenant_transaction(tenant_id) as tx:
                    await check_voucher_quota(tx, len(codes))
                    inserted = await tx.insert_campaign_codes(operation.campaign_id, codes)
                    current = await tx.record_operation_progress(operation.id, inserted, self.lease_seconds)
                if current is None:
                    return  # no longer RUNNING: marked abandoned meanwhile (this server was too slow to renew)
                operation = current
                remaining -= inserted
                fruitless = 0 if inserted else fruitless + 1
                if fruitless >= _MAX_FRUITLESS_CHUNKS:
                    await self._finish(
                        tenant_id, operation, FAILED, _FAILED_PRECONDITION, "CODE_SPACE_EXHAUSTED",
                        "the pattern's codes are taken by the tenant's existing vouchers; use a larger pattern",
                    )  # fmt: skip
                    return
                if operation.cancel_requested and remaining > 0:
                    await self._finish(tenant_id, operation, CANCELLED, _CANCELLED, "OPERATION_CANCELLED", "cancelled")
                    return
                await asyncio.sleep(0)  # let RPCs run between chunks
            await self._finish(tenant_id, operation, SUCCEEDED)
        except QuotaExceeded as error:
            await self._finish(tenant_id, operation, FAILED, _RESOURCE_EXHAUSTED, error.reason, error.message)
        except asyncio.CancelledError:
            await asyncio.shield(
                self._finish(
                    tenant_id, operation, FAILED, _ABORTED, "OPERATION_ABANDONED",
                    "the server running the operation stopped; the codes generated so far are kept",
                )
            )  # fmt: skip
            raise
        except Exception as error:
            # Type only: an exception's text can carry SQL.
            log.error(
                "code generation failed",
                extra={"action": "codes_generation_failed", "operation": operation.name,
                       "error_type": type(error).__name__},
            )  # fmt: skip
            await self._finish(
                tenant_id, operation, FAILED, _INTERNAL, "INTERNAL",
                "code generation failed; the codes generated so far are kept",
            )  # fmt: skip

    async def _finish(
        self,
        tenant_id: UUID,
        operation: Operation,
        state: str,
        code: int | None = None,
        reason: str | None = None,
        message: str | None = None,
    ) -> None:
        """Records the end, with the one campaign.codes_generated event when any code was generated."""
        try:
            async with self._db.tenant_transaction(tenant_id) as tx:
                ended = await tx.finish_operation(operation.id, state, code, reason, message)
                if ended is not None and ended.generated_count > 0:
                    await tx.record_event(resource_events.codes_generated_event(ended))
        except Exception as error:
            log.error(
                "could not record the end of code generation",
                extra={"action": "codes_generation_end_failed", "operation": operation.name,
                       "error_type": type(error).__name__},
            )  # fmt: skip
            return
        log.info(
            "code generation ended",
            extra={"action": "codes_generation_ended", "operation": operation.name, "state": state,
                   "generated": ended.generated_count if ended else None},
        )  # fmt: skip
