import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RedemptionStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REDEMPTION_STATUS_UNSPECIFIED: _ClassVar[RedemptionStatus]
    REDEMPTION_STATUS_SUCCEEDED: _ClassVar[RedemptionStatus]
    REDEMPTION_STATUS_ROLLED_BACK: _ClassVar[RedemptionStatus]
REDEMPTION_STATUS_UNSPECIFIED: RedemptionStatus
REDEMPTION_STATUS_SUCCEEDED: RedemptionStatus
REDEMPTION_STATUS_ROLLED_BACK: RedemptionStatus

class Order(_message.Message):
    __slots__ = ("id", "amount", "currency")
    ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    id: str
    amount: int
    currency: str
    def __init__(self, id: _Optional[str] = ..., amount: _Optional[int] = ..., currency: _Optional[str] = ...) -> None: ...

class Redemption(_message.Message):
    __slots__ = ("id", "voucher_id", "voucher_code", "customer_id", "order", "discount_amount", "status", "metadata", "create_time", "rollback_time", "rollback_reason")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    VOUCHER_ID_FIELD_NUMBER: _ClassVar[int]
    VOUCHER_CODE_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ROLLBACK_TIME_FIELD_NUMBER: _ClassVar[int]
    ROLLBACK_REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    voucher_id: str
    voucher_code: str
    customer_id: str
    order: Order
    discount_amount: int
    status: RedemptionStatus
    metadata: _containers.ScalarMap[str, str]
    create_time: _timestamp_pb2.Timestamp
    rollback_time: _timestamp_pb2.Timestamp
    rollback_reason: str
    def __init__(self, id: _Optional[str] = ..., voucher_id: _Optional[str] = ..., voucher_code: _Optional[str] = ..., customer_id: _Optional[str] = ..., order: _Optional[_Union[Order, _Mapping]] = ..., discount_amount: _Optional[int] = ..., status: _Optional[_Union[RedemptionStatus, str]] = ..., metadata: _Optional[_Mapping[str, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., rollback_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., rollback_reason: _Optional[str] = ...) -> None: ...
