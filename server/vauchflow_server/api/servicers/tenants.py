from __future__ import annotations

from vauchflow.v1 import tenant_service_pb2 as pb
from vauchflow.v1 import tenant_service_pb2_grpc
from vauchflow_core.errors import Violations
from vauchflow_server.admin.tenant_admin import CreateTenant, TenantAdmin
from vauchflow_server.api import proto_convert as convert


class TenantServicer(tenant_service_pb2_grpc.TenantServiceServicer):
    def __init__(self, tenants: TenantAdmin):
        self._tenants = tenants

    async def CreateTenant(self, request: pb.CreateTenantRequest, context) -> pb.CreateTenantResponse:
        created = await self._tenants.create(
            CreateTenant(name=request.name, plan=convert.plan_name(request.plan), request_id=request.request_id)
        )
        return pb.CreateTenantResponse(
            tenant=convert.tenant_message(created.tenant),
            api_key=convert.api_key_message(created.api_key),
            secret=created.secret,
        )

    async def GetTenant(self, request: pb.GetTenantRequest, context) -> pb.GetTenantResponse:
        return pb.GetTenantResponse(tenant=convert.tenant_message(await self._tenants.get(request.id)))

    async def ListTenants(self, request: pb.ListTenantsRequest, context) -> pb.ListTenantsResponse:
        page = await self._tenants.list(request.page_size, request.page_token)
        return pb.ListTenantsResponse(
            tenants=[convert.tenant_message(t) for t in page.items], next_page_token=page.next_page_token
        )

    async def UpdateTenant(self, request: pb.UpdateTenantRequest, context) -> pb.UpdateTenantResponse:
        paths = set(request.update_mask.paths)
        unknown = paths - _UPDATABLE
        if unknown:
            violations = Violations()
            violations.add("update_mask", f"cannot update {', '.join(sorted(unknown))}")
            violations.raise_if_any()
        name = request.tenant.name if ("name" in paths or (not paths and request.tenant.name)) else None
        plan = convert.plan_name(request.tenant.plan) if ("plan" in paths or not paths) else None
        limits = convert.tenant_limit_changes(request.tenant, paths)
        tenant = await self._tenants.update(request.tenant.id, name, plan, limits)
        return pb.UpdateTenantResponse(tenant=convert.tenant_message(tenant))


_UPDATABLE = {"name", "plan", "limits", *(f"limits.{name}" for name in convert.TENANT_LIMIT_FIELDS)}
