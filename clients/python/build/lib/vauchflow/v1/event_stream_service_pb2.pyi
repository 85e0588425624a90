from google.api import annotations_pb2 as _annotations_pb2
from vauchflow.v1 import webhook_pb2 as _webhook_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SubscribeEventsRequest(_message.Message):
    __slots__ = ("after", "event_types")
    AFTER_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPES_FIELD_NUMBER: _ClassVar[int]
    after: str
    event_types: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, after: _Optional[str] = ..., event_types: _Optional[_Iterable[str]] = ...) -> None: ...

class SubscribeEventsResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: _webhook_pb2.Event
    def __init__(self, event: _Optional[_Union[_webhook_pb2.Event, _Mapping]] = ...) -> None: ...
