"""vauchflow.v1.EventStreamService: a thin servicer over EventFeed. The RequestBoundary interceptor has already
authenticated the tenant's API key (events:read) and set the principal."""

from __future__ import annotations

import asyncio

from google.protobuf import struct_pb2, timestamp_pb2

from vauchflow.v1 import event_stream_service_pb2, event_stream_service_pb2_grpc, webhook_pb2
from vauchflow_core import event_cursor
from vauchflow_core.errors import FieldViolation, InvalidArgument
from vauchflow_core.events import EVENT_TYPES
from vauchflow_core.rpc.auth import Authenticator
from vauchflow_core.tenancy import current_principal, current_tenant_id
from vauchflow_delivery.event_feed import START, EventFeed
from vauchflow_delivery.store import StoredEvent
from vauchflow_delivery.stream_slots import StreamSlots

SUBSCRIBE_METHOD = "/vauchflow.v1.EventStreamService/SubscribeEvents"


class EventStreamServicer(event_stream_service_pb2_grpc.EventStreamServiceServicer):
    def __init__(
        self,
        feed: EventFeed,
        stopping: asyncio.Event,
        authenticator: Authenticator,
        reauthorize_seconds: float,
        slots: StreamSlots | None = None,
    ):
        self._slots = slots or StreamSlots(None)
        self._feed = feed
        self._stopping = stopping
        self._authenticator = authenticator
        self._reauthorize_seconds = reauthorize_seconds

    async def SubscribeEvents(self, request: event_stream_service_pb2.SubscribeEventsRequest, context):
        principal = current_principal.get()
        tenant_id = current_tenant_id()
        after = event_cursor.decode(request.after, "after") if request.after else START
        event_types = _checked_event_types(request.event_types)
        metadata = tuple(context.invocation_metadata() or ())
        # The plan caps the tenant's open streams (PLAN_QUOTA_EXCEEDED beyond them).
        async with self._slots.hold(tenant_id, principal.plan or "FREE") as renew_slot:

            async def still_allowed() -> None:
                # A stream outlives its opening check: a revoked key (or one that lost events:read) ends it.
                await self._authenticator.authorize(SUBSCRIBE_METHOD, metadata)
                await renew_slot()

            events = self._feed.follow(
                tenant_id, after, event_types, self._stopping, still_allowed, self._reauthorize_seconds
            )
            async for event in events:
                yield event_stream_service_pb2.SubscribeEventsResponse(event=to_proto(event))


def _checked_event_types(event_types) -> tuple[str, ...]:
    violations = [
        FieldViolation(f"event_types[{index}]", f"is not an event type; use one of {', '.join(EVENT_TYPES)}")
        for index, event_type in enumerate(event_types)
        if event_type not in EVENT_TYPES
    ]
    if violations:
        raise InvalidArgument(violations)
    return tuple(sorted(set(event_types)))


def to_proto(event: StoredEvent) -> webhook_pb2.Event:
    payload = event.payload
    create_time = timestamp_pb2.Timestamp()
    create_time.FromDatetime(event.create_time)
    data = struct_pb2.Struct()
    data.update(payload.get("data") or {})
    return webhook_pb2.Event(
        id=payload.get("id") or event.public_id,
        type=event.type,
        create_time=create_time,
        data=data,
        cursor=event_cursor.encode(event.position),
    )
