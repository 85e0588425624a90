from __future__ import annotations

from google.longrunning import operations_pb2

from vauchflow.v1 import campaign_service_pb2 as pb
from vauchflow.v1 import campaign_service_pb2_grpc
from vauchflow_core.errors import Violations
from vauchflow_core.tenancy import current_tenant_id
from vauchflow_server.admin.campaign_admin import CampaignAdmin, CreateCampaign, GenerateCodes, UpdateCampaign
from vauchflow_server.api import proto_convert as convert


class CampaignServicer(campaign_service_pb2_grpc.CampaignServiceServicer):
    def __init__(self, campaigns: CampaignAdmin):
        self._campaigns = campaigns

    async def CreateCampaign(self, request: pb.CreateCampaignRequest, context) -> pb.CreateCampaignResponse:
        violations = Violations()
        terms = convert.campaign_terms(request.campaign, violations)
        violations.raise_if_any()
        campaign = await self._campaigns.create(
            current_tenant_id(), CreateCampaign(terms=terms, request_id=request.request_id)
        )
        return pb.CreateCampaignResponse(campaign=convert.campaign_message(campaign))

    async def GetCampaign(self, request: pb.GetCampaignRequest, context) -> pb.GetCampaignResponse:
        campaign = await self._campaigns.get(current_tenant_id(), request.id)
        return pb.GetCampaignResponse(campaign=convert.campaign_message(campaign))

    async def ListCampaigns(self, request: pb.ListCampaignsRequest, context) -> pb.ListCampaignsResponse:
        page = await self._campaigns.list(current_tenant_id(), request.page_size, request.page_token)
        return pb.ListCampaignsResponse(
            campaigns=[convert.campaign_message(c) for c in page.items], next_page_token=page.next_page_token
        )

    async def UpdateCampaign(self, request: pb.UpdateCampaignRequest, context) -> pb.UpdateCampaignResponse:
        changes = convert.campaign_changes(request.campaign, list(request.update_mask.paths))
        campaign = await self._campaigns.update(current_tenant_id(), UpdateCampaign(request.campaign.id, changes))
        return pb.UpdateCampaignResponse(campaign=convert.campaign_message(campaign))

    async def GenerateCampaignCodes(
        self, request: pb.GenerateCampaignCodesRequest, context
    ) -> operations_pb2.Operation:
        operation = await self._campaigns.generate_codes(
            current_tenant_id(),
            GenerateCodes(
                campaign_id=request.campaign_id,
                count=request.count,
                pattern=convert.code_pattern(request.code_pattern),
                request_id=request.request_id,
            ),
        )
        return convert.operation_message(operation)
