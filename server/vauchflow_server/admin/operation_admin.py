"""Use cases behind google.longrunning.Operations: read, list, cancel and delete the tenant's operations.

Every read first marks the tenant's abandoned operations (RUNNING past their lease: their server died) FAILED, so
no replica ever reports an operation as running that nobody runs.
"""

from __future__ import annotations

from uuid import UUID

from vauchflow_core.errors import FailedPrecondition, InvalidArgument
from vauchflow_server.db.database import Database
from vauchflow_server.operations import Operation, operation_not_found, parse_name
from vauchflow_server.pagination import Page, make_page, page_request

# google.longrunning's collection name for ListOperations.
COLLECTION = "operations"


class OperationAdmin:
    def __init__(self, db: Database):
        self._db = db

    async def get(self, tenant_id: UUID, name: str) -> Operation:
        ident = parse_name(name)
        async with self._db.tenant_transaction(tenant_id) as tx:
            await tx.fail_abandoned_operations()
            operation = await tx.get_operation(ident)
        if operation is None:
            raise operation_not_found(name)
        return operation

    async def list(self, tenant_id: UUID, name: str, filter_: str, page_size: int, page_token: str) -> Page[Operation]:
        if name not in ("", COLLECTION):
            raise InvalidArgument.single("name", f'must be "{COLLECTION}" (or empty)')
        if filter_:
            raise InvalidArgument.single("filter", "filters are not supported; list all and page through them")
        request = page_request(page_size, page_token)
        async with self._db.tenant_transaction(tenant_id) as tx:
            await tx.fail_abandoned_operations()
            rows = await tx.list_operations(request.after, request.size + 1)
        return make_page(rows, request, lambda o: (o.create_time, o.id))

    async def cancel(self, tenant_id: UUID, name: str) -> None:
        """Asks a running operation to stop after its current chunk; cancelling a finished one changes nothing."""
        ident = parse_name(name)
        async with self._db.tenant_transaction(tenant_id) as tx:
            await tx.fail_abandoned_operations()
            if await tx.request_operation_cancel(ident) is None and await tx.get_operation(ident) is None:
                raise operation_not_found(name)

    async def delete(self, tenant_id: UUID, name: str) -> None:
        """Forgets a finished operation (what it did stays); a running one must be cancelled first."""
        ident = parse_name(name)
        async with self._db.tenant_transaction(tenant_id) as tx:
            await tx.fail_abandoned_operations()
            if not await tx.delete_operation(ident):
                if await tx.get_operation(ident) is None:
                    raise operation_not_found(name)
                raise FailedPrecondition(
                    "the operation is still running: cancel it and delete it once it is done",
                    reason="OPERATION_RUNNING",
                )
