import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Plan(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PLAN_UNSPECIFIED: _ClassVar[Plan]
    PLAN_FREE: _ClassVar[Plan]
    PLAN_STARTER: _ClassVar[Plan]
    PLAN_GROWTH: _ClassVar[Plan]
    PLAN_SCALE: _ClassVar[Plan]
    PLAN_ENTERPRISE: _ClassVar[Plan]
PLAN_UNSPECIFIED: Plan
PLAN_FREE: Plan
PLAN_STARTER: Plan
PLAN_GROWTH: Plan
PLAN_SCALE: Plan
PLAN_ENTERPRISE: Plan

class Tenant(_message.Message):
    __slots__ = ("id", "name", "plan", "create_time", "update_time", "limits")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    plan: Plan
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    limits: TenantLimits
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., plan: _Optional[_Union[Plan, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., limits: _Optional[_Union[TenantLimits, _Mapping]] = ...) -> None: ...

class TenantLimits(_message.Message):
    __slots__ = ("requests_per_second", "burst", "max_vouchers", "max_webhook_endpoints")
    REQUESTS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    BURST_FIELD_NUMBER: _ClassVar[int]
    MAX_VOUCHERS_FIELD_NUMBER: _ClassVar[int]
    MAX_WEBHOOK_ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    requests_per_second: int
    burst: int
    max_vouchers: int
    max_webhook_endpoints: int
    def __init__(self, requests_per_second: _Optional[int] = ..., burst: _Optional[int] = ..., max_vouchers: _Optional[int] = ..., max_webhook_endpoints: _Optional[int] = ...) -> None: ...
