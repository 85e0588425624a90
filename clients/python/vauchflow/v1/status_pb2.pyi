import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from vauchflow.v1 import tenant_pb2 as _tenant_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MonitoredComponent(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MONITORED_COMPONENT_UNSPECIFIED: _ClassVar[MonitoredComponent]
    MONITORED_COMPONENT_API: _ClassVar[MonitoredComponent]
    MONITORED_COMPONENT_REDEMPTION: _ClassVar[MonitoredComponent]
    MONITORED_COMPONENT_WEBHOOKS: _ClassVar[MonitoredComponent]
    MONITORED_COMPONENT_MCP: _ClassVar[MonitoredComponent]
    MONITORED_COMPONENT_DASHBOARD: _ClassVar[MonitoredComponent]
    MONITORED_COMPONENT_BACKUPS: _ClassVar[MonitoredComponent]

class CheckOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHECK_OUTCOME_UNSPECIFIED: _ClassVar[CheckOutcome]
    CHECK_OUTCOME_PASSED: _ClassVar[CheckOutcome]
    CHECK_OUTCOME_FAILED: _ClassVar[CheckOutcome]
    CHECK_OUTCOME_NOT_DEPLOYED: _ClassVar[CheckOutcome]

class ComponentState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMPONENT_STATE_UNSPECIFIED: _ClassVar[ComponentState]
    COMPONENT_STATE_OPERATIONAL: _ClassVar[ComponentState]
    COMPONENT_STATE_DEGRADED: _ClassVar[ComponentState]
    COMPONENT_STATE_PARTIAL_OUTAGE: _ClassVar[ComponentState]
    COMPONENT_STATE_MAJOR_OUTAGE: _ClassVar[ComponentState]
    COMPONENT_STATE_NOT_DEPLOYED: _ClassVar[ComponentState]
    COMPONENT_STATE_UNKNOWN: _ClassVar[ComponentState]

class IncidentState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INCIDENT_STATE_UNSPECIFIED: _ClassVar[IncidentState]
    INCIDENT_STATE_INVESTIGATING: _ClassVar[IncidentState]
    INCIDENT_STATE_IDENTIFIED: _ClassVar[IncidentState]
    INCIDENT_STATE_MONITORING: _ClassVar[IncidentState]
    INCIDENT_STATE_RESOLVED: _ClassVar[IncidentState]
MONITORED_COMPONENT_UNSPECIFIED: MonitoredComponent
MONITORED_COMPONENT_API: MonitoredComponent
MONITORED_COMPONENT_REDEMPTION: MonitoredComponent
MONITORED_COMPONENT_WEBHOOKS: MonitoredComponent
MONITORED_COMPONENT_MCP: MonitoredComponent
MONITORED_COMPONENT_DASHBOARD: MonitoredComponent
MONITORED_COMPONENT_BACKUPS: MonitoredComponent
CHECK_OUTCOME_UNSPECIFIED: CheckOutcome
CHECK_OUTCOME_PASSED: CheckOutcome
CHECK_OUTCOME_FAILED: CheckOutcome
CHECK_OUTCOME_NOT_DEPLOYED: CheckOutcome
COMPONENT_STATE_UNSPECIFIED: ComponentState
COMPONENT_STATE_OPERATIONAL: ComponentState
COMPONENT_STATE_DEGRADED: ComponentState
COMPONENT_STATE_PARTIAL_OUTAGE: ComponentState
COMPONENT_STATE_MAJOR_OUTAGE: ComponentState
COMPONENT_STATE_NOT_DEPLOYED: ComponentState
COMPONENT_STATE_UNKNOWN: ComponentState
INCIDENT_STATE_UNSPECIFIED: IncidentState
INCIDENT_STATE_INVESTIGATING: IncidentState
INCIDENT_STATE_IDENTIFIED: IncidentState
INCIDENT_STATE_MONITORING: IncidentState
INCIDENT_STATE_RESOLVED: IncidentState

class CheckResult(_message.Message):
    __slots__ = ("component", "outcome", "duration", "check_time", "detail")
    COMPONENT_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    CHECK_TIME_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    component: MonitoredComponent
    outcome: CheckOutcome
    duration: _duration_pb2.Duration
    check_time: _timestamp_pb2.Timestamp
    detail: str
    def __init__(self, component: _Optional[_Union[MonitoredComponent, str]] = ..., outcome: _Optional[_Union[CheckOutcome, str]] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., check_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., detail: _Optional[str] = ...) -> None: ...

class DailyUptime(_message.Message):
    __slots__ = ("date", "uptime_percent")
    DATE_FIELD_NUMBER: _ClassVar[int]
    UPTIME_PERCENT_FIELD_NUMBER: _ClassVar[int]
    date: str
    uptime_percent: float
    def __init__(self, date: _Optional[str] = ..., uptime_percent: _Optional[float] = ...) -> None: ...

class ComponentStatus(_message.Message):
    __slots__ = ("component", "display_name", "state", "target", "state_reason", "last_check_time", "uptime_90d_percent", "days", "p99_milliseconds")
    COMPONENT_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    STATE_REASON_FIELD_NUMBER: _ClassVar[int]
    LAST_CHECK_TIME_FIELD_NUMBER: _ClassVar[int]
    UPTIME_90D_PERCENT_FIELD_NUMBER: _ClassVar[int]
    DAYS_FIELD_NUMBER: _ClassVar[int]
    P99_MILLISECONDS_FIELD_NUMBER: _ClassVar[int]
    component: MonitoredComponent
    display_name: str
    state: ComponentState
    target: str
    state_reason: str
    last_check_time: _timestamp_pb2.Timestamp
    uptime_90d_percent: float
    days: _containers.RepeatedCompositeFieldContainer[DailyUptime]
    p99_milliseconds: float
    def __init__(self, component: _Optional[_Union[MonitoredComponent, str]] = ..., display_name: _Optional[str] = ..., state: _Optional[_Union[ComponentState, str]] = ..., target: _Optional[str] = ..., state_reason: _Optional[str] = ..., last_check_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., uptime_90d_percent: _Optional[float] = ..., days: _Optional[_Iterable[_Union[DailyUptime, _Mapping]]] = ..., p99_milliseconds: _Optional[float] = ...) -> None: ...

class IncidentUpdate(_message.Message):
    __slots__ = ("id", "state", "message", "create_time", "affected_endpoints", "workaround", "expected_resolution_time", "catch_up_window", "author")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    AFFECTED_ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    WORKAROUND_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_RESOLUTION_TIME_FIELD_NUMBER: _ClassVar[int]
    CATCH_UP_WINDOW_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    id: str
    state: IncidentState
    message: str
    create_time: _timestamp_pb2.Timestamp
    affected_endpoints: _containers.RepeatedScalarFieldContainer[str]
    workaround: str
    expected_resolution_time: _timestamp_pb2.Timestamp
    catch_up_window: str
    author: str
    def __init__(self, id: _Optional[str] = ..., state: _Optional[_Union[IncidentState, str]] = ..., message: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., affected_endpoints: _Optional[_Iterable[str]] = ..., workaround: _Optional[str] = ..., expected_resolution_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., catch_up_window: _Optional[str] = ..., author: _Optional[str] = ...) -> None: ...

class Incident(_message.Message):
    __slots__ = ("id", "title", "state", "components", "affected_plans", "create_time", "update_time", "resolve_time", "updates", "overdue", "postmortem_required", "postmortem_due_date")
    ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    COMPONENTS_FIELD_NUMBER: _ClassVar[int]
    AFFECTED_PLANS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    RESOLVE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATES_FIELD_NUMBER: _ClassVar[int]
    OVERDUE_FIELD_NUMBER: _ClassVar[int]
    POSTMORTEM_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    POSTMORTEM_DUE_DATE_FIELD_NUMBER: _ClassVar[int]
    id: str
    title: str
    state: IncidentState
    components: _containers.RepeatedScalarFieldContainer[MonitoredComponent]
    affected_plans: _containers.RepeatedScalarFieldContainer[_tenant_pb2.Plan]
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    resolve_time: _timestamp_pb2.Timestamp
    updates: _containers.RepeatedCompositeFieldContainer[IncidentUpdate]
    overdue: bool
    postmortem_required: bool
    postmortem_due_date: str
    def __init__(self, id: _Optional[str] = ..., title: _Optional[str] = ..., state: _Optional[_Union[IncidentState, str]] = ..., components: _Optional[_Iterable[_Union[MonitoredComponent, str]]] = ..., affected_plans: _Optional[_Iterable[_Union[_tenant_pb2.Plan, str]]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., resolve_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updates: _Optional[_Iterable[_Union[IncidentUpdate, _Mapping]]] = ..., overdue: _Optional[bool] = ..., postmortem_required: _Optional[bool] = ..., postmortem_due_date: _Optional[str] = ...) -> None: ...
