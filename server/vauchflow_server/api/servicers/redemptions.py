from __future__ import annotations

from vauchflow.v1 import redemption_service_pb2 as pb
from vauchflow.v1 import redemption_service_pb2_grpc
from vauchflow_core.tenancy import current_principal, current_tenant_id
from vauchflow_server.api import proto_convert as convert
from vauchflow_server.redemption.engine import RedeemVoucher, RedemptionEngine
from vauchflow_server.usage_summary import UsageReport


class RedemptionServicer(redemption_service_pb2_grpc.RedemptionServiceServicer):
    def __init__(self, engine: RedemptionEngine, usage: UsageReport):
        self._engine = engine
        self._usage = usage

    async def ValidateVoucher(self, request: pb.ValidateVoucherRequest, context) -> pb.ValidateVoucherResponse:
        result = await self._engine.validate(
            current_tenant_id(), request.code, convert.order(request.order), request.customer_id
        )
        return pb.ValidateVoucherResponse(
            valid=result.denial is None,
            reason=result.denial or "",
            discount_amount=result.discount_amount,
            voucher=convert.voucher_message_for(result.voucher, current_principal.get().permissions),
        )

    async def RedeemVoucher(self, request: pb.RedeemVoucherRequest, context) -> pb.RedeemVoucherResponse:
        command = RedeemVoucher(
            code=request.code,
            order=convert.order(request.order),
            customer_id=request.customer_id,
            metadata=dict(request.metadata),
            request_id=request.request_id,
        )
        result = await self._engine.redeem(current_tenant_id(), command)
        return pb.RedeemVoucherResponse(
            redemption=convert.redemption_message(result.redemption),
            voucher=convert.voucher_message_for(result.voucher, current_principal.get().permissions),
        )

    async def GetRedemption(self, request: pb.GetRedemptionRequest, context) -> pb.GetRedemptionResponse:
        redemption = await self._engine.get(current_tenant_id(), request.id)
        return pb.GetRedemptionResponse(redemption=convert.redemption_message(redemption))

    async def ListRedemptions(self, request: pb.ListRedemptionsRequest, context) -> pb.ListRedemptionsResponse:
        page = await self._engine.list(
            current_tenant_id(), convert.redemption_filter(request), request.page_size, request.page_token
        )
        return pb.ListRedemptionsResponse(
            redemptions=[convert.redemption_message(r) for r in page.items], next_page_token=page.next_page_token
        )

    async def RollbackRedemption(self, request: pb.RollbackRedemptionRequest, context) -> pb.RollbackRedemptionResponse:
        redemption = await self._engine.rollback(current_tenant_id(), request.id, request.reason)
        return pb.RollbackRedemptionResponse(redemption=convert.redemption_message(redemption))

    async def GetUsageSummary(self, request: pb.GetUsageSummaryRequest, context) -> pb.GetUsageSummaryResponse:
        return convert.usage_summary_message(await self._usage.summarize(current_tenant_id()))
