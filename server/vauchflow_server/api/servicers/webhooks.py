from __future__ import annotations

from vauchflow.v1 import webhook_service_pb2 as pb
from vauchflow.v1 import webhook_service_pb2_grpc
from vauchflow_core.errors import Violations
from vauchflow_core.tenancy import current_tenant_id
from vauchflow_server.admin.webhook_admin import CreateEndpoint, EventFilter, UpdateEndpoint, WebhookAdmin
from vauchflow_server.api import proto_convert as convert


class WebhookServicer(webhook_service_pb2_grpc.WebhookServiceServicer):
    def __init__(self, webhooks: WebhookAdmin):
        self._webhooks = webhooks

    async def CreateWebhookEndpoint(
        self, request: pb.CreateWebhookEndpointRequest, context
    ) -> pb.CreateWebhookEndpointResponse:
        command = CreateEndpoint(convert.endpoint_settings(request.webhook_endpoint), request.request_id)
        created = await self._webhooks.create(current_tenant_id(), command)
        return pb.CreateWebhookEndpointResponse(
            webhook_endpoint=convert.webhook_endpoint_message(created.endpoint), secret=created.secret
        )

    async def GetWebhookEndpoint(self, request: pb.GetWebhookEndpointRequest, context) -> pb.GetWebhookEndpointResponse:
        endpoint = await self._webhooks.get(current_tenant_id(), request.id)
        return pb.GetWebhookEndpointResponse(webhook_endpoint=convert.webhook_endpoint_message(endpoint))

    async def ListWebhookEndpoints(
        self, request: pb.ListWebhookEndpointsRequest, context
    ) -> pb.ListWebhookEndpointsResponse:
        page = await self._webhooks.list(current_tenant_id(), request.page_size, request.page_token)
        return pb.ListWebhookEndpointsResponse(
            webhook_endpoints=[convert.webhook_endpoint_message(e) for e in page.items],
            next_page_token=page.next_page_token,
        )

    async def UpdateWebhookEndpoint(
        self, request: pb.UpdateWebhookEndpointRequest, context
    ) -> pb.UpdateWebhookEndpointResponse:
        changes = convert.endpoint_changes(request.webhook_endpoint, list(request.update_mask.paths))
        endpoint = await self._webhooks.update(
            current_tenant_id(), UpdateEndpoint(request.webhook_endpoint.id, changes)
        )
        return pb.UpdateWebhookEndpointResponse(webhook_endpoint=convert.webhook_endpoint_message(endpoint))

    async def DeleteWebhookEndpoint(
        self, request: pb.DeleteWebhookEndpointRequest, context
    ) -> pb.DeleteWebhookEndpointResponse:
        await self._webhooks.delete(current_tenant_id(), request.id)
        return pb.DeleteWebhookEndpointResponse()

    async def RotateSecret(self, request: pb.RotateSecretRequest, context) -> pb.RotateSecretResponse:
        rotated = await self._webhooks.rotate_secret(current_tenant_id(), request.id)
        return pb.RotateSecretResponse(
            webhook_endpoint=convert.webhook_endpoint_message(rotated.endpoint),
            secret=rotated.secret,
            previous_secret_expire_time=convert.timestamp(rotated.previous_secret_expire_time),
        )

    async def SendTestEvent(self, request: pb.SendTestEventRequest, context) -> pb.SendTestEventResponse:
        event = await self._webhooks.send_test_event(current_tenant_id(), request.id)
        return pb.SendTestEventResponse(event=convert.event_message(event))

    async def ListEvents(self, request: pb.ListEventsRequest, context) -> pb.ListEventsResponse:
        violations = Violations()
        event_filter = EventFilter(
            types=tuple(request.types),
            start_time=convert.optional_datetime(request, "start_time", violations, "start_time"),
            end_time=convert.optional_datetime(request, "end_time", violations, "end_time"),
        )
        violations.raise_if_any()
        page = await self._webhooks.list_events(
            current_tenant_id(), event_filter, request.page_size, request.page_token
        )
        return pb.ListEventsResponse(
            events=[convert.event_message(e) for e in page.items], next_page_token=page.next_page_token
        )

    async def GetEvent(self, request: pb.GetEventRequest, context) -> pb.GetEventResponse:
        event = await self._webhooks.get_event(current_tenant_id(), request.id)
        return pb.GetEventResponse(event=convert.event_message(event))

    async def ListDeliveries(self, request: pb.ListDeliveriesRequest, context) -> pb.ListDeliveriesResponse:
        page = await self._webhooks.list_deliveries(
            current_tenant_id(), request.endpoint_id, request.page_size, request.page_token
        )
        return pb.ListDeliveriesResponse(
            deliveries=[convert.delivery_message(d) for d in page.items], next_page_token=page.next_page_token
        )

    async def RedeliverEvent(self, request: pb.RedeliverEventRequest, context) -> pb.RedeliverEventResponse:
        deliveries = await self._webhooks.redeliver(current_tenant_id(), request.id, request.endpoint_id)
        return pb.RedeliverEventResponse(deliveries=[convert.delivery_message(d) for d in deliveries])

    async def Recover(self, request: pb.RecoverRequest, context) -> pb.RecoverResponse:
        violations = Violations()
        start_time = convert.optional_datetime(request, "start_time", violations, "start_time")
        end_time = convert.optional_datetime(request, "end_time", violations, "end_time")
        violations.raise_if_any()
        count = await self._webhooks.recover(current_tenant_id(), request.id, start_time, end_time)
        return pb.RecoverResponse(requeued_count=count)
