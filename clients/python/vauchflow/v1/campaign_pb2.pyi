import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from vauchflow.v1 import voucher_pb2 as _voucher_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CampaignStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CAMPAIGN_STATUS_UNSPECIFIED: _ClassVar[CampaignStatus]
    CAMPAIGN_STATUS_ACTIVE: _ClassVar[CampaignStatus]
    CAMPAIGN_STATUS_PAUSED: _ClassVar[CampaignStatus]
    CAMPAIGN_STATUS_ENDED: _ClassVar[CampaignStatus]
CAMPAIGN_STATUS_UNSPECIFIED: CampaignStatus
CAMPAIGN_STATUS_ACTIVE: CampaignStatus
CAMPAIGN_STATUS_PAUSED: CampaignStatus
CAMPAIGN_STATUS_ENDED: CampaignStatus

class Campaign(_message.Message):
    __slots__ = ("id", "name", "discount", "currency", "valid_from", "valid_until", "min_order_amount", "code_redemption_limit", "max_redemptions", "per_customer_limit", "metadata", "status", "code_count", "redemption_count", "create_time", "update_time")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    MIN_ORDER_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CODE_REDEMPTION_LIMIT_FIELD_NUMBER: _ClassVar[int]
    MAX_REDEMPTIONS_FIELD_NUMBER: _ClassVar[int]
    PER_CUSTOMER_LIMIT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CODE_COUNT_FIELD_NUMBER: _ClassVar[int]
    REDEMPTION_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    discount: _voucher_pb2.Discount
    currency: str
    valid_from: _timestamp_pb2.Timestamp
    valid_until: _timestamp_pb2.Timestamp
    min_order_amount: int
    code_redemption_limit: int
    max_redemptions: int
    per_customer_limit: int
    metadata: _containers.ScalarMap[str, str]
    status: CampaignStatus
    code_count: int
    redemption_count: int
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., discount: _Optional[_Union[_voucher_pb2.Discount, _Mapping]] = ..., currency: _Optional[str] = ..., valid_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., min_order_amount: _Optional[int] = ..., code_redemption_limit: _Optional[int] = ..., max_redemptions: _Optional[int] = ..., per_customer_limit: _Optional[int] = ..., metadata: _Optional[_Mapping[str, str]] = ..., status: _Optional[_Union[CampaignStatus, str]] = ..., code_count: _Optional[int] = ..., redemption_count: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CodePattern(_message.Message):
    __slots__ = ("pattern", "charset", "prefix", "suffix")
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    CHARSET_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    SUFFIX_FIELD_NUMBER: _ClassVar[int]
    pattern: str
    charset: str
    prefix: str
    suffix: str
    def __init__(self, pattern: _Optional[str] = ..., charset: _Optional[str] = ..., prefix: _Optional[str] = ..., suffix: _Optional[str] = ...) -> None: ...

class GenerateCampaignCodesMetadata(_message.Message):
    __slots__ = ("campaign_id", "requested_count", "generated_count", "cancel_requested", "create_time", "update_time", "end_time")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    GENERATED_COUNT_FIELD_NUMBER: _ClassVar[int]
    CANCEL_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    requested_count: int
    generated_count: int
    cancel_requested: bool
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, campaign_id: _Optional[str] = ..., requested_count: _Optional[int] = ..., generated_count: _Optional[int] = ..., cancel_requested: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
