import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ApiKeyEventAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    API_KEY_EVENT_ACTION_UNSPECIFIED: _ClassVar[ApiKeyEventAction]
    API_KEY_EVENT_ACTION_CREATED: _ClassVar[ApiKeyEventAction]
    API_KEY_EVENT_ACTION_REVOKED: _ClassVar[ApiKeyEventAction]
API_KEY_EVENT_ACTION_UNSPECIFIED: ApiKeyEventAction
API_KEY_EVENT_ACTION_CREATED: ApiKeyEventAction
API_KEY_EVENT_ACTION_REVOKED: ApiKeyEventAction

class ApiKey(_message.Message):
    __slots__ = ("id", "tenant_id", "name", "permissions", "secret_prefix", "create_time", "revoke_time", "created_by_key_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    SECRET_PREFIX_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    REVOKE_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    tenant_id: str
    name: str
    permissions: _containers.RepeatedScalarFieldContainer[str]
    secret_prefix: str
    create_time: _timestamp_pb2.Timestamp
    revoke_time: _timestamp_pb2.Timestamp
    created_by_key_id: str
    def __init__(self, id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., name: _Optional[str] = ..., permissions: _Optional[_Iterable[str]] = ..., secret_prefix: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoke_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_by_key_id: _Optional[str] = ...) -> None: ...

class ApiKeyEvent(_message.Message):
    __slots__ = ("id", "action", "api_key_id", "api_key_name", "permissions", "actor_api_key_id", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    API_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    API_KEY_NAME_FIELD_NUMBER: _ClassVar[int]
    PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    ACTOR_API_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: int
    action: ApiKeyEventAction
    api_key_id: str
    api_key_name: str
    permissions: _containers.RepeatedScalarFieldContainer[str]
    actor_api_key_id: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., action: _Optional[_Union[ApiKeyEventAction, str]] = ..., api_key_id: _Optional[str] = ..., api_key_name: _Optional[str] = ..., permissions: _Optional[_Iterable[str]] = ..., actor_api_key_id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
