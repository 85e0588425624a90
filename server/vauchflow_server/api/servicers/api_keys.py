from __future__ import annotations

from vauchflow.v1 import api_key_service_pb2 as pb
from vauchflow.v1 import api_key_service_pb2_grpc
from vauchflow_core.tenancy import current_principal, current_tenant_id
from vauchflow_server.admin.api_key_admin import ApiKeyAdmin, CreateApiKey
from vauchflow_server.api import proto_convert as convert


class ApiKeyServicer(api_key_service_pb2_grpc.ApiKeyServiceServicer):
    def __init__(self, api_keys: ApiKeyAdmin):
        self._api_keys = api_keys

    async def CreateApiKey(self, request: pb.CreateApiKeyRequest, context) -> pb.CreateApiKeyResponse:
        command = CreateApiKey(name=request.name, permissions=tuple(request.permissions), request_id=request.request_id)
        caller = current_principal.get()
        created = await self._api_keys.create(current_tenant_id(), command, caller.permissions, caller.key_id)
        return pb.CreateApiKeyResponse(api_key=convert.api_key_message(created.api_key), secret=created.secret)

    async def ListApiKeys(self, request: pb.ListApiKeysRequest, context) -> pb.ListApiKeysResponse:
        page = await self._api_keys.list(current_tenant_id(), request.page_size, request.page_token)
        return pb.ListApiKeysResponse(
            api_keys=[convert.api_key_message(k) for k in page.items], next_page_token=page.next_page_token
        )

    async def RevokeApiKey(self, request: pb.RevokeApiKeyRequest, context) -> pb.RevokeApiKeyResponse:
        caller = current_principal.get()
        api_key = await self._api_keys.revoke(current_tenant_id(), request.id, caller.permissions, caller.key_id)
        return pb.RevokeApiKeyResponse(api_key=convert.api_key_message(api_key))

    async def GetCurrentApiKey(self, request: pb.GetCurrentApiKeyRequest, context) -> pb.GetCurrentApiKeyResponse:
        key_id = current_principal.get().key_id
        assert key_id is not None  # the interceptor admitted a tenant API key (ANY_KEY)
        current = await self._api_keys.current(current_tenant_id(), key_id)
        return pb.GetCurrentApiKeyResponse(
            api_key=convert.api_key_message(current.api_key),
            tenant=convert.tenant_message(current.tenant),
            limits=convert.effective_limits_message(current.limits),
        )
