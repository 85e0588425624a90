import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import httpbody_pb2 as _httpbody_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from vauchflow.v1 import redemption_pb2 as _redemption_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExportRedemptionsRequest(_message.Message):
    __slots__ = ("start_time", "end_time", "status", "voucher_code", "customer_id")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VOUCHER_CODE_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    status: _redemption_pb2.RedemptionStatus
    voucher_code: str
    customer_id: str
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status: _Optional[_Union[_redemption_pb2.RedemptionStatus, str]] = ..., voucher_code: _Optional[str] = ..., customer_id: _Optional[str] = ...) -> None: ...

class ExportCampaignCodesRequest(_message.Message):
    __slots__ = ("campaign_id",)
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    def __init__(self, campaign_id: _Optional[str] = ...) -> None: ...

class ImportCampaignCodesRequest(_message.Message):
    __slots__ = ("campaign_id", "import_valid_rows", "csv")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    IMPORT_VALID_ROWS_FIELD_NUMBER: _ClassVar[int]
    CSV_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    import_valid_rows: bool
    csv: _httpbody_pb2.HttpBody
    def __init__(self, campaign_id: _Optional[str] = ..., import_valid_rows: _Optional[bool] = ..., csv: _Optional[_Union[_httpbody_pb2.HttpBody, _Mapping]] = ...) -> None: ...

class ImportCampaignCodesResponse(_message.Message):
    __slots__ = ("imported_count", "row_count", "errors", "error_count")
    IMPORTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    ROW_COUNT_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    ERROR_COUNT_FIELD_NUMBER: _ClassVar[int]
    imported_count: int
    row_count: int
    errors: _containers.RepeatedCompositeFieldContainer[ImportRowError]
    error_count: int
    def __init__(self, imported_count: _Optional[int] = ..., row_count: _Optional[int] = ..., errors: _Optional[_Iterable[_Union[ImportRowError, _Mapping]]] = ..., error_count: _Optional[int] = ...) -> None: ...

class ImportRowError(_message.Message):
    __slots__ = ("row", "reason", "message")
    ROW_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    row: int
    reason: str
    message: str
    def __init__(self, row: _Optional[int] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...
