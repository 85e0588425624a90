from __future__ import annotations

from google.longrunning import operations_pb2, operations_pb2_grpc
from google.protobuf import empty_pb2

from vauchflow_core.tenancy import current_tenant_id
from vauchflow_server.admin.operation_admin import OperationAdmin
from vauchflow_server.api import proto_convert as convert


class OperationsServicer(operations_pb2_grpc.OperationsServicer):
    """google.longrunning.Operations for the calling tenant's operations (campaign code generation)."""

    def __init__(self, operations: OperationAdmin):
        self._operations = operations

    async def GetOperation(self, request: operations_pb2.GetOperationRequest, context) -> operations_pb2.Operation:
        return convert.operation_message(await self._operations.get(current_tenant_id(), request.name))

    async def ListOperations(
        self, request: operations_pb2.ListOperationsRequest, context
    ) -> operations_pb2.ListOperationsResponse:
        page = await self._operations.list(
            current_tenant_id(), request.name, request.filter, request.page_size, request.page_token
        )
        return operations_pb2.ListOperationsResponse(
            operations=[convert.operation_message(o) for o in page.items], next_page_token=page.next_page_token
        )

    async def CancelOperation(self, request: operations_pb2.CancelOperationRequest, context) -> empty_pb2.Empty:
        await self._operations.cancel(current_tenant_id(), request.name)
        return empty_pb2.Empty()

    async def DeleteOperation(self, request: operations_pb2.DeleteOperationRequest, context) -> empty_pb2.Empty:
        await self._operations.delete(current_tenant_id(), request.name)
        return empty_pb2.Empty()
