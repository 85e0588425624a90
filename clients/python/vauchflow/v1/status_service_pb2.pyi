import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from vauchflow.v1 import status_pb2 as _status_pb2
from vauchflow.v1 import tenant_pb2 as _tenant_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReportCheckResultsRequest(_message.Message):
    __slots__ = ("results", "open_incident_after_failures")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    OPEN_INCIDENT_AFTER_FAILURES_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[_status_pb2.CheckResult]
    open_incident_after_failures: int
    def __init__(self, results: _Optional[_Iterable[_Union[_status_pb2.CheckResult, _Mapping]]] = ..., open_incident_after_failures: _Optional[int] = ...) -> None: ...

class ReportCheckResultsResponse(_message.Message):
    __slots__ = ("opened_incidents",)
    OPENED_INCIDENTS_FIELD_NUMBER: _ClassVar[int]
    opened_incidents: _containers.RepeatedCompositeFieldContainer[_status_pb2.Incident]
    def __init__(self, opened_incidents: _Optional[_Iterable[_Union[_status_pb2.Incident, _Mapping]]] = ...) -> None: ...

class GetStatusSummaryRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetStatusSummaryResponse(_message.Message):
    __slots__ = ("generate_time", "overall_state", "components", "open_incidents", "recent_incidents", "sla_note")
    GENERATE_TIME_FIELD_NUMBER: _ClassVar[int]
    OVERALL_STATE_FIELD_NUMBER: _ClassVar[int]
    COMPONENTS_FIELD_NUMBER: _ClassVar[int]
    OPEN_INCIDENTS_FIELD_NUMBER: _ClassVar[int]
    RECENT_INCIDENTS_FIELD_NUMBER: _ClassVar[int]
    SLA_NOTE_FIELD_NUMBER: _ClassVar[int]
    generate_time: _timestamp_pb2.Timestamp
    overall_state: _status_pb2.ComponentState
    components: _containers.RepeatedCompositeFieldContainer[_status_pb2.ComponentStatus]
    open_incidents: _containers.RepeatedCompositeFieldContainer[_status_pb2.Incident]
    recent_incidents: _containers.RepeatedCompositeFieldContainer[_status_pb2.Incident]
    sla_note: str
    def __init__(self, generate_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., overall_state: _Optional[_Union[_status_pb2.ComponentState, str]] = ..., components: _Optional[_Iterable[_Union[_status_pb2.ComponentStatus, _Mapping]]] = ..., open_incidents: _Optional[_Iterable[_Union[_status_pb2.Incident, _Mapping]]] = ..., recent_incidents: _Optional[_Iterable[_Union[_status_pb2.Incident, _Mapping]]] = ..., sla_note: _Optional[str] = ...) -> None: ...

class CreateIncidentRequest(_message.Message):
    __slots__ = ("title", "components", "affected_plans", "message", "request_id")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    COMPONENTS_FIELD_NUMBER: _ClassVar[int]
    AFFECTED_PLANS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    title: str
    components: _containers.RepeatedScalarFieldContainer[_status_pb2.MonitoredComponent]
    affected_plans: _containers.RepeatedScalarFieldContainer[_tenant_pb2.Plan]
    message: str
    request_id: str
    def __init__(self, title: _Optional[str] = ..., components: _Optional[_Iterable[_Union[_status_pb2.MonitoredComponent, str]]] = ..., affected_plans: _Optional[_Iterable[_Union[_tenant_pb2.Plan, str]]] = ..., message: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateIncidentResponse(_message.Message):
    __slots__ = ("incident",)
    INCIDENT_FIELD_NUMBER: _ClassVar[int]
    incident: _status_pb2.Incident
    def __init__(self, incident: _Optional[_Union[_status_pb2.Incident, _Mapping]] = ...) -> None: ...

class AddIncidentUpdateRequest(_message.Message):
    __slots__ = ("incident_id", "update")
    INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    incident_id: str
    update: _status_pb2.IncidentUpdate
    def __init__(self, incident_id: _Optional[str] = ..., update: _Optional[_Union[_status_pb2.IncidentUpdate, _Mapping]] = ...) -> None: ...

class AddIncidentUpdateResponse(_message.Message):
    __slots__ = ("incident",)
    INCIDENT_FIELD_NUMBER: _ClassVar[int]
    incident: _status_pb2.Incident
    def __init__(self, incident: _Optional[_Union[_status_pb2.Incident, _Mapping]] = ...) -> None: ...

class GetIncidentRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetIncidentResponse(_message.Message):
    __slots__ = ("incident",)
    INCIDENT_FIELD_NUMBER: _ClassVar[int]
    incident: _status_pb2.Incident
    def __init__(self, incident: _Optional[_Union[_status_pb2.Incident, _Mapping]] = ...) -> None: ...

class ListIncidentsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListIncidentsResponse(_message.Message):
    __slots__ = ("incidents", "next_page_token")
    INCIDENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    incidents: _containers.RepeatedCompositeFieldContainer[_status_pb2.Incident]
    next_page_token: str
    def __init__(self, incidents: _Optional[_Iterable[_Union[_status_pb2.Incident, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CreateSubscriptionRequest(_message.Message):
    __slots__ = ("email", "webhook_url")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_URL_FIELD_NUMBER: _ClassVar[int]
    email: str
    webhook_url: str
    def __init__(self, email: _Optional[str] = ..., webhook_url: _Optional[str] = ...) -> None: ...

class CreateSubscriptionResponse(_message.Message):
    __slots__ = ("confirmation_pending", "subscription_id", "signing_secret", "unsubscribe_token")
    CONFIRMATION_PENDING_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIPTION_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNING_SECRET_FIELD_NUMBER: _ClassVar[int]
    UNSUBSCRIBE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    confirmation_pending: bool
    subscription_id: str
    signing_secret: str
    unsubscribe_token: str
    def __init__(self, confirmation_pending: _Optional[bool] = ..., subscription_id: _Optional[str] = ..., signing_secret: _Optional[str] = ..., unsubscribe_token: _Optional[str] = ...) -> None: ...

class ConfirmSubscriptionRequest(_message.Message):
    __slots__ = ("token",)
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: str
    def __init__(self, token: _Optional[str] = ...) -> None: ...

class ConfirmSubscriptionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UnsubscribeRequest(_message.Message):
    __slots__ = ("token",)
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: str
    def __init__(self, token: _Optional[str] = ...) -> None: ...

class UnsubscribeResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
