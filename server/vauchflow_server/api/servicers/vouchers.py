from __future__ import annotations

from vauchflow.v1 import voucher_service_pb2 as pb
from vauchflow.v1 import voucher_service_pb2_grpc
from vauchflow_core.errors import Violations
from vauchflow_core.tenancy import current_tenant_id
from vauchflow_server.admin.voucher_admin import CreateVoucher, UpdateVoucher, VoucherAdmin
from vauchflow_server.api import proto_convert as convert


class VoucherServicer(voucher_service_pb2_grpc.VoucherServiceServicer):
    def __init__(self, vouchers: VoucherAdmin):
        self._vouchers = vouchers

    async def CreateVoucher(self, request: pb.CreateVoucherRequest, context) -> pb.CreateVoucherResponse:
        violations = Violations()
        terms = convert.voucher_terms(request.voucher, violations)
        violations.raise_if_any()
        code = request.voucher.code if request.voucher.HasField("code") else None
        voucher = await self._vouchers.create(
            current_tenant_id(), CreateVoucher(code=code, terms=terms, request_id=request.request_id)
        )
        return pb.CreateVoucherResponse(voucher=convert.voucher_message(voucher))

    async def GetVoucher(self, request: pb.GetVoucherRequest, context) -> pb.GetVoucherResponse:
        voucher = await self._vouchers.get(current_tenant_id(), request.code)
        return pb.GetVoucherResponse(voucher=convert.voucher_message(voucher))

    async def ListVouchers(self, request: pb.ListVouchersRequest, context) -> pb.ListVouchersResponse:
        page = await self._vouchers.list(
            current_tenant_id(), request.page_size, request.page_token, convert.voucher_filter(request)
        )
        return pb.ListVouchersResponse(
            vouchers=[convert.voucher_message(v) for v in page.items], next_page_token=page.next_page_token
        )

    async def UpdateVoucher(self, request: pb.UpdateVoucherRequest, context) -> pb.UpdateVoucherResponse:
        changes = convert.voucher_changes(request.voucher, list(request.update_mask.paths))
        voucher = await self._vouchers.update(current_tenant_id(), UpdateVoucher(request.voucher.code, changes))
        return pb.UpdateVoucherResponse(voucher=convert.voucher_message(voucher))

    async def DisableVoucher(self, request: pb.DisableVoucherRequest, context) -> pb.DisableVoucherResponse:
        voucher = await self._vouchers.disable(current_tenant_id(), request.code)
        return pb.DisableVoucherResponse(voucher=convert.voucher_message(voucher))
