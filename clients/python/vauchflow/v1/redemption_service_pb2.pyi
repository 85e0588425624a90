import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from vauchflow.v1 import api_key_service_pb2 as _api_key_service_pb2
from vauchflow.v1 import redemption_pb2 as _redemption_pb2
from vauchflow.v1 import tenant_pb2 as _tenant_pb2
from vauchflow.v1 import voucher_pb2 as _voucher_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ValidateVoucherRequest(_message.Message):
    __slots__ = ("code", "customer_id", "order")
    CODE_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    code: str
    customer_id: str
    order: _redemption_pb2.Order
    def __init__(self, code: _Optional[str] = ..., customer_id: _Optional[str] = ..., order: _Optional[_Union[_redemption_pb2.Order, _Mapping]] = ...) -> None: ...

class ValidateVoucherResponse(_message.Message):
    __slots__ = ("valid", "reason", "discount_amount", "voucher")
    VALID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    VOUCHER_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    reason: str
    discount_amount: int
    voucher: _voucher_pb2.Voucher
    def __init__(self, valid: _Optional[bool] = ..., reason: _Optional[str] = ..., discount_amount: _Optional[int] = ..., voucher: _Optional[_Union[_voucher_pb2.Voucher, _Mapping]] = ...) -> None: ...

class RedeemVoucherRequest(_message.Message):
    __slots__ = ("code", "customer_id", "order", "metadata", "request_id")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CODE_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    code: str
    customer_id: str
    order: _redemption_pb2.Order
    metadata: _containers.ScalarMap[str, str]
    request_id: str
    def __init__(self, code: _Optional[str] = ..., customer_id: _Optional[str] = ..., order: _Optional[_Union[_redemption_pb2.Order, _Mapping]] = ..., metadata: _Optional[_Mapping[str, str]] = ..., request_id: _Optional[str] = ...) -> None: ...

class RedeemVoucherResponse(_message.Message):
    __slots__ = ("redemption", "voucher")
    REDEMPTION_FIELD_NUMBER: _ClassVar[int]
    VOUCHER_FIELD_NUMBER: _ClassVar[int]
    redemption: _redemption_pb2.Redemption
    voucher: _voucher_pb2.Voucher
    def __init__(self, redemption: _Optional[_Union[_redemption_pb2.Redemption, _Mapping]] = ..., voucher: _Optional[_Union[_voucher_pb2.Voucher, _Mapping]] = ...) -> None: ...

class GetRedemptionRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetRedemptionResponse(_message.Message):
    __slots__ = ("redemption",)
    REDEMPTION_FIELD_NUMBER: _ClassVar[int]
    redemption: _redemption_pb2.Redemption
    def __init__(self, redemption: _Optional[_Union[_redemption_pb2.Redemption, _Mapping]] = ...) -> None: ...

class ListRedemptionsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "voucher_code", "customer_id", "status", "start_time", "end_time", "order_by", "campaign_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    VOUCHER_CODE_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    voucher_code: str
    customer_id: str
    status: _redemption_pb2.RedemptionStatus
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    order_by: str
    campaign_id: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., voucher_code: _Optional[str] = ..., customer_id: _Optional[str] = ..., status: _Optional[_Union[_redemption_pb2.RedemptionStatus, str]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., order_by: _Optional[str] = ..., campaign_id: _Optional[str] = ...) -> None: ...

class ListRedemptionsResponse(_message.Message):
    __slots__ = ("redemptions", "next_page_token")
    REDEMPTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    redemptions: _containers.RepeatedCompositeFieldContainer[_redemption_pb2.Redemption]
    next_page_token: str
    def __init__(self, redemptions: _Optional[_Iterable[_Union[_redemption_pb2.Redemption, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RollbackRedemptionRequest(_message.Message):
    __slots__ = ("id", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    reason: str
    def __init__(self, id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RollbackRedemptionResponse(_message.Message):
    __slots__ = ("redemption",)
    REDEMPTION_FIELD_NUMBER: _ClassVar[int]
    redemption: _redemption_pb2.Redemption
    def __init__(self, redemption: _Optional[_Union[_redemption_pb2.Redemption, _Mapping]] = ...) -> None: ...

class GetUsageSummaryRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetUsageSummaryResponse(_message.Message):
    __slots__ = ("window_start", "window_end", "hours", "redemptions", "rollbacks", "refusals", "webhook_deliveries", "plan", "limits")
    WINDOW_START_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_FIELD_NUMBER: _ClassVar[int]
    HOURS_FIELD_NUMBER: _ClassVar[int]
    REDEMPTIONS_FIELD_NUMBER: _ClassVar[int]
    ROLLBACKS_FIELD_NUMBER: _ClassVar[int]
    REFUSALS_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    window_start: _timestamp_pb2.Timestamp
    window_end: _timestamp_pb2.Timestamp
    hours: _containers.RepeatedCompositeFieldContainer[UsageHour]
    redemptions: int
    rollbacks: int
    refusals: _containers.RepeatedCompositeFieldContainer[RefusalCount]
    webhook_deliveries: WebhookDeliveryUsage
    plan: _tenant_pb2.Plan
    limits: _api_key_service_pb2.EffectiveLimits
    def __init__(self, window_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., hours: _Optional[_Iterable[_Union[UsageHour, _Mapping]]] = ..., redemptions: _Optional[int] = ..., rollbacks: _Optional[int] = ..., refusals: _Optional[_Iterable[_Union[RefusalCount, _Mapping]]] = ..., webhook_deliveries: _Optional[_Union[WebhookDeliveryUsage, _Mapping]] = ..., plan: _Optional[_Union[_tenant_pb2.Plan, str]] = ..., limits: _Optional[_Union[_api_key_service_pb2.EffectiveLimits, _Mapping]] = ...) -> None: ...

class UsageHour(_message.Message):
    __slots__ = ("start_time", "redemptions", "rollbacks", "refusals")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    REDEMPTIONS_FIELD_NUMBER: _ClassVar[int]
    ROLLBACKS_FIELD_NUMBER: _ClassVar[int]
    REFUSALS_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    redemptions: int
    rollbacks: int
    refusals: int
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., redemptions: _Optional[int] = ..., rollbacks: _Optional[int] = ..., refusals: _Optional[int] = ...) -> None: ...

class RefusalCount(_message.Message):
    __slots__ = ("reason", "count")
    REASON_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    reason: str
    count: int
    def __init__(self, reason: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class WebhookDeliveryUsage(_message.Message):
    __slots__ = ("total", "delivered", "delivered_within_hour", "pending", "failed", "share_delivered_within_hour")
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_WITHIN_HOUR_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    SHARE_DELIVERED_WITHIN_HOUR_FIELD_NUMBER: _ClassVar[int]
    total: int
    delivered: int
    delivered_within_hour: int
    pending: int
    failed: int
    share_delivered_within_hour: float
    def __init__(self, total: _Optional[int] = ..., delivered: _Optional[int] = ..., delivered_within_hour: _Optional[int] = ..., pending: _Optional[int] = ..., failed: _Optional[int] = ..., share_delivered_within_hour: _Optional[float] = ...) -> None: ...
