from __future__ import annotations

from collections.abc import AsyncIterator

from google.api import httpbody_pb2

from vauchflow.v1 import data_exchange_service_pb2 as pb
from vauchflow.v1 import data_exchange_service_pb2_grpc, redemption_pb2
from vauchflow_core.csv_format import CONTENT_TYPE
from vauchflow_core.errors import Violations
from vauchflow_core.tenancy import current_tenant_id
from vauchflow_server.admin.data_exchange import DataExchange, ExportRedemptions, ImportCodes
from vauchflow_server.api import proto_convert as convert

_STATUS_NAMES = {
    redemption_pb2.REDEMPTION_STATUS_SUCCEEDED: "SUCCEEDED",
    redemption_pb2.REDEMPTION_STATUS_ROLLED_BACK: "ROLLED_BACK",
}


async def _http_bodies(chunks: AsyncIterator[bytes]) -> AsyncIterator[httpbody_pb2.HttpBody]:
    # The transcoder takes the REST response's content type from the first message.
    async for chunk in chunks:
        yield httpbody_pb2.HttpBody(content_type=CONTENT_TYPE, data=chunk)


class DataExchangeServicer(data_exchange_service_pb2_grpc.DataExchangeServiceServicer):
    def __init__(self, exchange: DataExchange):
        self._exchange = exchange

    async def ExportRedemptions(
        self, request: pb.ExportRedemptionsRequest, context
    ) -> AsyncIterator[httpbody_pb2.HttpBody]:
        violations = Violations()
        command = ExportRedemptions(
            start_time=convert.optional_datetime(request, "start_time", violations, "start_time"),
            end_time=convert.optional_datetime(request, "end_time", violations, "end_time"),
            status=_STATUS_NAMES.get(request.status),
            voucher_code=request.voucher_code or None,
            customer_id=request.customer_id or None,
        )
        violations.raise_if_any()
        chunks = await self._exchange.export_redemptions(current_tenant_id(), command)
        async for body in _http_bodies(chunks):
            yield body

    async def ExportCampaignCodes(
        self, request: pb.ExportCampaignCodesRequest, context
    ) -> AsyncIterator[httpbody_pb2.HttpBody]:
        chunks = await self._exchange.export_campaign_codes(current_tenant_id(), request.campaign_id)
        async for body in _http_bodies(chunks):
            yield body

    async def ImportCampaignCodes(
        self, requests: AsyncIterator[pb.ImportCampaignCodesRequest], context
    ) -> pb.ImportCampaignCodesResponse:
        # Over REST the transcoder puts the path's campaign_id and the query's import_valid_rows in the first
        # message only, and splits the body across as many messages as it arrives in.
        first = await anext(requests, pb.ImportCampaignCodesRequest())
        command = ImportCodes(campaign_id=first.campaign_id, import_valid_rows=first.import_valid_rows)

        async def csv() -> AsyncIterator[bytes]:
            yield first.csv.data
            async for request in requests:
                yield request.csv.data

        report = await self._exchange.import_codes(current_tenant_id(), command, csv())
        return pb.ImportCampaignCodesResponse(
            imported_count=report.imported_count,
            row_count=report.row_count,
            errors=[pb.ImportRowError(row=e.row, reason=e.reason, message=e.message) for e in report.errors],
            error_count=report.error_count,
        )
