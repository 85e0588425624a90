"""client.csv: streamed CSV exports (an iterator of bytes, or straight into a file) and the import of codes into
a campaign (from a file path or any iterable of bytes), on the blocking and the asyncio client alike."""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from datetime import datetime
from typing import Any, overload

from google.api import httpbody_pb2

from vauchflow import _rpcs
from vauchflow._methods import Namespace, T
from vauchflow._resources import _timestamp
from vauchflow._transport import AsyncioTransport, BlockingTransport
from vauchflow.v1 import data_exchange_service_pb2 as data_exchange
from vauchflow.v1 import redemption_pb2

# How much of a file goes into one message of an import.
UPLOAD_CHUNK_BYTES = 256 * 1024

Source = str | os.PathLike[str] | bytes | Iterable[bytes]


def _status(status: redemption_pb2.RedemptionStatus | str | None) -> Any:
    if status is None or not isinstance(status, str):
        return status
    name = status.upper()
    return redemption_pb2.RedemptionStatus.Value(
        name if name.startswith("REDEMPTION_STATUS_") else f"REDEMPTION_STATUS_{name}"
    )


def _export_redemptions(
    start_time: datetime | None,
    end_time: datetime | None,
    status: redemption_pb2.RedemptionStatus | str | None,
    voucher_code: str | None,
    customer_id: str | None,
) -> data_exchange.ExportRedemptionsRequest:
    return data_exchange.ExportRedemptionsRequest(
        start_time=_timestamp(start_time),
        end_time=_timestamp(end_time),
        status=_status(status),
        voucher_code=voucher_code,
        customer_id=customer_id,
    )


def _chunks_of(source: Source) -> Iterator[bytes]:
    if isinstance(source, bytes):
        for start in range(0, len(source), UPLOAD_CHUNK_BYTES):
            yield source[start : start + UPLOAD_CHUNK_BYTES]
    elif isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as file:
            while chunk := file.read(UPLOAD_CHUNK_BYTES):
                yield chunk
    else:
        yield from source


def _message(chunk: bytes) -> data_exchange.ImportCampaignCodesRequest:
    return data_exchange.ImportCampaignCodesRequest(csv=httpbody_pb2.HttpBody(content_type="text/csv", data=chunk))


def _import_requests(
    campaign_id: str, chunks: Iterable[bytes], import_valid_rows: bool
) -> Iterator[data_exchange.ImportCampaignCodesRequest]:
    # The first message names the campaign even when the file is empty.
    yield data_exchange.ImportCampaignCodesRequest(campaign_id=campaign_id, import_valid_rows=import_valid_rows)
    for chunk in chunks:
        if chunk:
            yield _message(chunk)


async def _async_import_requests(
    campaign_id: str, chunks: AsyncIterable[bytes] | Iterable[bytes], import_valid_rows: bool
) -> AsyncIterator[data_exchange.ImportCampaignCodesRequest]:
    yield data_exchange.ImportCampaignCodesRequest(campaign_id=campaign_id, import_valid_rows=import_valid_rows)
    if isinstance(chunks, AsyncIterable):
        async for chunk in chunks:
            if chunk:
                yield _message(chunk)
    else:
        for chunk in chunks:
            if chunk:
                yield _message(chunk)


def _write(chunks: Iterable[bytes], path: str | os.PathLike[str]) -> int:
    written = 0
    with open(path, "wb") as file:
        for chunk in chunks:
            file.write(chunk)
            written += len(chunk)
    return written


async def _async_write(chunks: AsyncIterator[bytes], path: str | os.PathLike[str]) -> int:
    # Small synchronous writes between network reads: a local file keeps up with any download.
    written = 0
    with open(path, "wb") as file:  # noqa: ASYNC230
        async for chunk in chunks:
            file.write(chunk)
            written += len(chunk)
    return written


class Csv(Namespace[T]):
    """CSV files out of and into the tenant's data. Exports stream as they are read (header row first; RFC 4180,
    CRLF, text cells a spreadsheet would evaluate prefixed with an apostrophe); nothing is held whole in memory."""

    @overload
    def export_redemptions(
        self: Csv[BlockingTransport],
        *,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        status: redemption_pb2.RedemptionStatus | str | None = None,
        voucher_code: str | None = None,
        customer_id: str | None = None,
    ) -> Iterator[bytes]: ...
    @overload
    def export_redemptions(
        self: Csv[AsyncioTransport],
        *,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        status: redemption_pb2.RedemptionStatus | str | None = None,
        voucher_code: str | None = None,
        customer_id: str | None = None,
    ) -> AsyncIterator[bytes]: ...
    def export_redemptions(
        self,
        *,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        status: redemption_pb2.RedemptionStatus | str | None = None,
        voucher_code: str | None = None,
        customer_id: str | None = None,
    ) -> Iterator[bytes] | AsyncIterator[bytes]:
        """The redemptions created in [start_time, end_time) with this status, voucher and customer (each filter
        optional), oldest first, as chunks of CSV bytes."""
        request = _export_redemptions(start_time, end_time, status, voucher_code, customer_id)
        transport: BlockingTransport | AsyncioTransport = self._transport
        return transport.download(_rpcs.EXPORT_REDEMPTIONS, request)

    @overload
    def export_campaign_codes(self: Csv[BlockingTransport], campaign_id: str) -> Iterator[bytes]: ...
    @overload
    def export_campaign_codes(self: Csv[AsyncioTransport], campaign_id: str) -> AsyncIterator[bytes]: ...
    def export_campaign_codes(self, campaign_id: str) -> Iterator[bytes] | AsyncIterator[bytes]:
        """A campaign's codes (code, status, redemption_count, max_redemptions, create_time), oldest first, as
        chunks of CSV bytes."""
        request = data_exchange.ExportCampaignCodesRequest(campaign_id=campaign_id)
        transport: BlockingTransport | AsyncioTransport = self._transport
        return transport.download(_rpcs.EXPORT_CAMPAIGN_CODES, request)

    @overload
    def save(self: Csv[BlockingTransport], export: Iterator[bytes], path: str | os.PathLike[str]) -> int: ...
    @overload
    def save(self: Csv[AsyncioTransport], export: AsyncIterator[bytes], path: str | os.PathLike[str]) -> Any: ...
    def save(self, export: Iterator[bytes] | AsyncIterator[bytes], path: str | os.PathLike[str]) -> Any:
        """Writes an export into a file as it arrives; returns the bytes written (awaitable on AsyncClient):
        `client.csv.save(client.csv.export_redemptions(customer_id="c-1"), "redemptions.csv")`."""
        if isinstance(export, AsyncIterator):
            return _async_write(export, path)
        return _write(export, path)

    @overload
    def import_campaign_codes(
        self: Csv[BlockingTransport], campaign_id: str, source: Source, *, import_valid_rows: bool = False
    ) -> data_exchange.ImportCampaignCodesResponse: ...
    @overload
    def import_campaign_codes(
        self: Csv[AsyncioTransport],
        campaign_id: str,
        source: Source | AsyncIterable[bytes],
        *,
        import_valid_rows: bool = False,
    ) -> Any: ...
    def import_campaign_codes(
        self, campaign_id: str, source: Source | AsyncIterable[bytes], *, import_valid_rows: bool = False
    ) -> Any:
        """Imports existing codes into a campaign from a CSV file: a path, bytes, or an iterable of byte chunks
        (async iterables too on AsyncClient). One code per row, an optional `code` header; BOM and CRLF are fine.
        All or nothing: any refused row (DUPLICATE_IN_FILE, CODE_TAKEN, BAD_CHARACTERS, TOO_LONG, EMPTY,
        MALFORMED_ROW) raises InvalidArgument naming the first rows; with import_valid_rows the valid rows are
        imported and the ImportCampaignCodesResponse lists the refused ones. Streams the file: a million rows fit."""
        transport: BlockingTransport | AsyncioTransport = self._transport
        if isinstance(transport, AsyncioTransport):
            chunks: AsyncIterable[bytes] | Iterable[bytes] = (
                source if isinstance(source, AsyncIterable) else _chunks_of(source)
            )
            return transport.upload(
                _rpcs.IMPORT_CAMPAIGN_CODES, _async_import_requests(campaign_id, chunks, import_valid_rows)
            )
        if isinstance(source, AsyncIterable):
            raise TypeError("the blocking client imports from a path, bytes or an iterable of bytes")
        return transport.upload(
            _rpcs.IMPORT_CAMPAIGN_CODES, _import_requests(campaign_id, _chunks_of(source), import_valid_rows)
        )
