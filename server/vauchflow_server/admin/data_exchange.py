"""Use cases for CSV out of and into a tenant's data: streamed exports and the import of codes into a campaign.

An export yields chunks of CSV bytes: the header row at once (so the first bytes leave before any query has run,
however large the export), then one chunk per page of rows read with keyset pagination. Each page is its own short
tenant transaction, so a slow download holds no connection or snapshot while it waits; a row changed during the
export appears as it was when its page was read.

An import likewise holds no connection while the upload arrives: its parsed rows wait in a spooled file (memory
up to a few MiB, then disk), and only a complete upload opens the transaction that copies and inserts them. Those
transactions are few at a time per server (IMPORTS_AT_ONCE); more wait their turn, holding only their file.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import logging
import tempfile
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any
from uuid import UUID

from vauchflow_core.csv_format import CsvChunks, neutralised
from vauchflow_core.errors import Aborted, FieldViolation, InvalidArgument
from vauchflow_server import resource_events
from vauchflow_server.admin.campaign_admin import campaign_not_found, parse_campaign_id
from vauchflow_server.admin.voucher_admin import check_voucher_quota, voucher_not_found
from vauchflow_server.code_import import MAX_REPORTED_ERRORS, CodeFileReader, RowError, RowErrors
from vauchflow_server.db.database import Database, RedemptionExportFilters
from vauchflow_server.metrics import ServerMetrics
from vauchflow_server.vouchers import lookup_code

log = logging.getLogger(__name__)

# Rows read per page (one short transaction each).
EXPORT_PAGE_ROWS = 5_000
# Rows written between checks for a full chunk: chunks stay near CHUNK_BYTES (csv_format) whatever a row's size.
_ROWS_PER_WRITE = 200

# Keyset bounds of a walk over everything: before and after every time, and the smallest id.
_FIRST = datetime(1, 1, 1, tzinfo=UTC)
_LAST = datetime(9999, 12, 31, tzinfo=UTC)
_NIL = UUID(int=0)

REDEMPTION_COLUMNS = (
    "id",
    "create_time",
    "status",
    "voucher_code",
    "customer_id",
    "order_id",
    "order_amount",
    "currency",
    "discount_amount",
    "rollback_time",
    "rollback_reason",
    "metadata",
)


CODE_COLUMNS = ("code", "status", "redemption_count", "max_redemptions", "create_time")
# An import's parsed rows stay in memory up to this size, then go to a temporary file.
IMPORT_SPOOL_MEMORY_BYTES = 4 * 1024 * 1024
# Import transactions at once per server: each holds a connection for its COPY and INSERT (seconds for a million
# rows), so a burst of imports can't take the pool from redemptions.
IMPORTS_AT_ONCE = 2
# Refused rows an all-or-nothing import names in its INVALID_ARGUMENT status (a status travels in trailers, which
# must stay small); the count covers them all, and import_valid_rows reports up to MAX_REPORTED_ERRORS.
_ROWS_NAMED_IN_STATUS = 20


@dataclass(frozen=True)
class ExportRedemptions:
    start_time: datetime | None = None
    end_time: datetime | None = None
    status: str | None = None  # SUCCEEDED or ROLLED_BACK
    voucher_code: str | None = None
    customer_id: str | None = None


@dataclass(frozen=True)
class ImportCodes:
    campaign_id: str
    # Import the valid rows and report the others, instead of importing nothing when any row is refused.
    import_valid_rows: bool = False


@dataclass(frozen=True)
class ImportReport:
    imported_count: int
    row_count: int
    errors: list[RowError]
    error_count: int


def _campaign_uuid(raw: str) -> UUID:
    if not raw:
        raise InvalidArgument.single("campaign_id", "is required")
    return parse_campaign_id(raw)


def csv_time(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with microseconds, as the JSON API writes times."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _redemption_cells(row: tuple[Any, ...]) -> tuple[Any, ...]:
    (id_, create_time, status, code, customer, order_id, amount, currency, discount, rollback_time, reason, meta) = row
    # Text a caller chose (customer, order id, reason, metadata, and codes, which may start with "-") is
    # neutralised; ids, enums, currencies, amounts and times are ours and can't start a formula.
    return (
        str(id_),
        csv_time(create_time),
        status,
        neutralised(code),
        neutralised(customer),
        neutralised(order_id),
        amount,
        currency,
        discount,
        csv_time(rollback_time),
        neutralised(reason),
        neutralised(json.dumps(meta, separators=(",", ":"), sort_keys=True)) if meta else None,
    )


class DataExchange:
    def __init__(
        self,
        db: Database,
        metrics: ServerMetrics | None = None,
        *,
        page_rows: int = EXPORT_PAGE_ROWS,
        imports_at_once: int = IMPORTS_AT_ONCE,
    ):
        self._db = db
        self._page_rows = page_rows
        self._import_slots = asyncio.Semaphore(imports_at_once)
        self._imports = (metrics or ServerMetrics()).code_imports

    async def export_redemptions(self, tenant_id: UUID, command: ExportRedemptions) -> AsyncIterator[bytes]:
        """The CSV file in chunks; a filter's error (an unknown voucher) is raised before the first chunk."""
        voucher_id = None
        if command.voucher_code is not None:
            code = lookup_code(command.voucher_code, "voucher_code")
            async with self._db.tenant_transaction(tenant_id) as tx:
                voucher = await tx.voucher_by_code(code)
            if voucher is None:
                raise voucher_not_found(code)
            voucher_id = voucher.id
        filters = RedemptionExportFilters(
            end_time=command.end_time or _LAST,
            status=command.status,
            voucher_id=voucher_id,
            customer_id=command.customer_id,
        )
        # create_time >= start is (create_time, id) > (start, the nil uuid): the keyset walk starts there.
        return self._redemption_chunks(tenant_id, filters, (command.start_time or _FIRST, _NIL))

    async def _redemption_chunks(
        self, tenant_id: UUID, filters: RedemptionExportFilters, after: tuple[datetime, UUID]
    ) -> AsyncIterator[bytes]:
        chunks = CsvChunks(REDEMPTION_COLUMNS)
        yield chunks.rest()
        while True:
            async with self._db.tenant_read(tenant_id) as tx:
                rows = await tx.export_redemptions_page(filters, after, self._page_rows)
            if not rows:
                break
            after = (rows[-1][1], rows[-1][0])
            for start in range(0, len(rows), _ROWS_PER_WRITE):
                chunks.write(_redemption_cells(row) for row in rows[start : start + _ROWS_PER_WRITE])
                chunk = chunks.full_chunk()
                if chunk is not None:
                    yield chunk
            if len(rows) < self._page_rows:
                break
        rest = chunks.rest()
        if rest:
            yield rest

    async def export_campaign_codes(self, tenant_id: UUID, campaign_id: str) -> AsyncIterator[bytes]:
        """A campaign's codes as CSV chunks; an unknown campaign is refused before the first chunk."""
        campaign = _campaign_uuid(campaign_id)
        async with self._db.tenant_transaction(tenant_id) as tx:
            if not await tx.campaign_exists(campaign):
                raise campaign_not_found(campaign_id)
        return self._code_chunks(tenant_id, campaign)

    async def _code_chunks(self, tenant_id: UUID, campaign_id: UUID) -> AsyncIterator[bytes]:
        chunks = CsvChunks(CODE_COLUMNS)
        yield chunks.rest()
        after = (_FIRST, _NIL)
        while True:
            async with self._db.tenant_read(tenant_id) as tx:
                rows = await tx.export_campaign_codes_page(campaign_id, after, self._page_rows)
            if not rows:
                break
            after = (rows[-1][5], rows[-1][0])
            for start in range(0, len(rows), _ROWS_PER_WRITE):
                chunks.write(
                    (neutralised(code), status, count, limit, csv_time(created))
                    for _, code, status, count, limit, created in rows[start : start + _ROWS_PER_WRITE]
                )
                chunk = chunks.full_chunk()
                if chunk is not None:
                    yield chunk
            if len(rows) < self._page_rows:
                break
        rest = chunks.rest()
        if rest:
            yield rest

    async def import_codes(self, tenant_id: UUID, command: ImportCodes, csv: AsyncIterable[bytes]) -> ImportReport:
        """Parses the CSV as it arrives into a spooled file, then, in one transaction, copies its rows into a
        staging table (COPY) and inserts the new codes into the campaign: nothing is written unless everything is
        (or, with import_valid_rows, the valid rows are)."""
        campaign = _campaign_uuid(command.campaign_id)
        async with self._db.tenant_transaction(tenant_id) as tx:
            # Before the upload is read: an unknown campaign is refused at once.
            if not await tx.campaign_exists(campaign):
                raise campaign_not_found(command.campaign_id)
        reader = CodeFileReader()
        started = time.perf_counter()
        with tempfile.SpooledTemporaryFile(max_size=IMPORT_SPOOL_MEMORY_BYTES) as spool:
            with self._imports.labels("upload").track_inprogress():
                async for chunk in csv:
                    _spool_rows(spool, reader.feed(chunk))
                _spool_rows(spool, reader.finish())
            uploaded = time.perf_counter()
            spool.seek(0)
            with self._imports.labels("waiting").track_inprogress():
                await self._import_slots.acquire()
            try:
                with self._imports.labels("transaction").track_inprogress():
                    imported, errors, staged = await self._import_spooled(tenant_id, command, campaign, reader, spool)
            finally:
                self._import_slots.release()
        log.info(
            "codes imported",
            extra={
                "action": "codes_imported",
                "campaign_id": str(campaign),
                "rows": reader.row_count,
                "imported": imported,
                "refused": errors.count,
                # The upload and its parsing; then the COPY (after any wait for a slot); then the checks and INSERT.
                "upload_ms": round((uploaded - started) * 1000),
                "staging_ms": round((staged - uploaded) * 1000),
                "total_ms": round((time.perf_counter() - started) * 1000),
            },
        )
        return ImportReport(imported, reader.row_count, errors.reported, errors.count)

    async def _import_spooled(
        self, tenant_id: UUID, command: ImportCodes, campaign: UUID, reader: CodeFileReader, spool: IO[bytes]
    ) -> tuple[int, RowErrors, float]:
        """The import's transaction: (codes imported, refused rows, when staging ended)."""
        async with self._db.tenant_transaction(tenant_id) as tx:
            if not await tx.lock_campaign_for_import(campaign):
                raise campaign_not_found(command.campaign_id)  # deleted while the file was uploading
            await tx.stage_import_codes(_spooled_rows(spool))
            staged = time.perf_counter()
            refused, refused_count = await tx.refused_staged_codes(MAX_REPORTED_ERRORS)
            errors = _merged(reader.errors, refused, refused_count)
            if errors.count and not command.import_valid_rows:
                raise _rows_refused(errors, reader.row_count)
            # Every staged row is a distinct code's first row, a later duplicate or a taken code, and refused
            # counts exactly the last two: what remains are the new codes.
            new_codes = reader.row_count - reader.errors.count - refused_count
            await check_voucher_quota(tx, new_codes)
            imported = await tx.insert_staged_codes(campaign)
            if imported != new_codes and not command.import_valid_rows:
                # Another request took some of the codes since they were checked: nothing of this one is kept.
                raise Aborted("some codes were created concurrently by another request; retry the import")
            if imported:
                await tx.record_event(
                    resource_events.codes_imported_event(campaign, imported, reader.row_count, errors.count)
                )
        return imported, errors, staged


def _spool_rows(spool: IO[bytes], rows: Iterable[tuple[int, str]]) -> None:
    # A valid code is letters, digits and dashes (CODE_PATTERN): a tab and a line end delimit it safely.
    spool.write(b"".join(b"%d\t%s\n" % (row, code.encode()) for row, code in rows))


async def _spooled_rows(spool: IO[bytes]) -> AsyncIterator[tuple[int, str]]:
    for line in spool:
        row, _, code = line.rstrip(b"\n").partition(b"\t")
        yield int(row), code.decode()


def _merged(parsed: RowErrors, refused: list[tuple[int, str]], refused_count: int) -> RowErrors:
    """The reader's and the database's refused rows in row order (each list is in row order already)."""
    merged = RowErrors(count=parsed.count + refused_count)
    ordered = heapq.merge(parsed.reported, (RowError(row, reason) for row, reason in refused), key=lambda e: e.row)
    merged.reported = list(itertools.islice(ordered, MAX_REPORTED_ERRORS))
    return merged


def _rows_refused(errors: RowErrors, row_count: int) -> InvalidArgument:
    named = [
        FieldViolation("csv", f"row {error.row}: {error.reason}: {error.message}")
        for error in errors.reported[:_ROWS_NAMED_IN_STATUS]
    ]
    error = InvalidArgument(named)
    error.message = (
        f"{errors.count} of {row_count} rows refused, nothing imported (the first {len(named)} are listed; "
        "set import_valid_rows to import the valid rows and get every refused row in the response)"
    )
    return error
