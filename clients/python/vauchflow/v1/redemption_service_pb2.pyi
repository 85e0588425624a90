from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from vauchflow.v1 import redemption_pb2 as _redemption_pb2
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
    __slots__ = ("page_size", "page_token", "voucher_code")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    VOUCHER_CODE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    voucher_code: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., voucher_code: _Optional[str] = ...) -> None: ...

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
