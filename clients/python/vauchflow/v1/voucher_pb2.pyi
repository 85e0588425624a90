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

class VoucherStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VOUCHER_STATUS_UNSPECIFIED: _ClassVar[VoucherStatus]
    VOUCHER_STATUS_ACTIVE: _ClassVar[VoucherStatus]
    VOUCHER_STATUS_DISABLED: _ClassVar[VoucherStatus]
VOUCHER_STATUS_UNSPECIFIED: VoucherStatus
VOUCHER_STATUS_ACTIVE: VoucherStatus
VOUCHER_STATUS_DISABLED: VoucherStatus

class Voucher(_message.Message):
    __slots__ = ("id", "code", "discount", "currency", "max_redemptions", "per_customer_limit", "valid_from", "valid_until", "min_order_amount", "metadata", "status", "redemption_count", "create_time", "update_time", "flash_sale", "campaign_id")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    MAX_REDEMPTIONS_FIELD_NUMBER: _ClassVar[int]
    PER_CUSTOMER_LIMIT_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    MIN_ORDER_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REDEMPTION_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    FLASH_SALE_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    code: str
    discount: Discount
    currency: str
    max_redemptions: int
    per_customer_limit: int
    valid_from: _timestamp_pb2.Timestamp
    valid_until: _timestamp_pb2.Timestamp
    min_order_amount: int
    metadata: _containers.ScalarMap[str, str]
    status: VoucherStatus
    redemption_count: int
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    flash_sale: bool
    campaign_id: str
    def __init__(self, id: _Optional[str] = ..., code: _Optional[str] = ..., discount: _Optional[_Union[Discount, _Mapping]] = ..., currency: _Optional[str] = ..., max_redemptions: _Optional[int] = ..., per_customer_limit: _Optional[int] = ..., valid_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., min_order_amount: _Optional[int] = ..., metadata: _Optional[_Mapping[str, str]] = ..., status: _Optional[_Union[VoucherStatus, str]] = ..., redemption_count: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., flash_sale: _Optional[bool] = ..., campaign_id: _Optional[str] = ...) -> None: ...

class Discount(_message.Message):
    __slots__ = ("percent_off", "amount_off")
    PERCENT_OFF_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_OFF_FIELD_NUMBER: _ClassVar[int]
    percent_off: int
    amount_off: int
    def __init__(self, percent_off: _Optional[int] = ..., amount_off: _Optional[int] = ...) -> None: ...
