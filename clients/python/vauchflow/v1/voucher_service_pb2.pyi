from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from vauchflow.v1 import voucher_pb2 as _voucher_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateVoucherRequest(_message.Message):
    __slots__ = ("voucher", "request_id")
    VOUCHER_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    voucher: _voucher_pb2.Voucher
    request_id: str
    def __init__(self, voucher: _Optional[_Union[_voucher_pb2.Voucher, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateVoucherResponse(_message.Message):
    __slots__ = ("voucher",)
    VOUCHER_FIELD_NUMBER: _ClassVar[int]
    voucher: _voucher_pb2.Voucher
    def __init__(self, voucher: _Optional[_Union[_voucher_pb2.Voucher, _Mapping]] = ...) -> None: ...

class GetVoucherRequest(_message.Message):
    __slots__ = ("code",)
    CODE_FIELD_NUMBER: _ClassVar[int]
    code: str
    def __init__(self, code: _Optional[str] = ...) -> None: ...

class GetVoucherResponse(_message.Message):
    __slots__ = ("voucher",)
    VOUCHER_FIELD_NUMBER: _ClassVar[int]
    voucher: _voucher_pb2.Voucher
    def __init__(self, voucher: _Optional[_Union[_voucher_pb2.Voucher, _Mapping]] = ...) -> None: ...

class ListVouchersRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "status", "code_prefix", "metadata_key", "metadata_value", "order_by", "campaign_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CODE_PREFIX_FIELD_NUMBER: _ClassVar[int]
    METADATA_KEY_FIELD_NUMBER: _ClassVar[int]
    METADATA_VALUE_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    status: _voucher_pb2.VoucherStatus
    code_prefix: str
    metadata_key: str
    metadata_value: str
    order_by: str
    campaign_id: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., status: _Optional[_Union[_voucher_pb2.VoucherStatus, str]] = ..., code_prefix: _Optional[str] = ..., metadata_key: _Optional[str] = ..., metadata_value: _Optional[str] = ..., order_by: _Optional[str] = ..., campaign_id: _Optional[str] = ...) -> None: ...

class ListVouchersResponse(_message.Message):
    __slots__ = ("vouchers", "next_page_token")
    VOUCHERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    vouchers: _containers.RepeatedCompositeFieldContainer[_voucher_pb2.Voucher]
    next_page_token: str
    def __init__(self, vouchers: _Optional[_Iterable[_Union[_voucher_pb2.Voucher, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateVoucherRequest(_message.Message):
    __slots__ = ("voucher", "update_mask")
    VOUCHER_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    voucher: _voucher_pb2.Voucher
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, voucher: _Optional[_Union[_voucher_pb2.Voucher, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateVoucherResponse(_message.Message):
    __slots__ = ("voucher",)
    VOUCHER_FIELD_NUMBER: _ClassVar[int]
    voucher: _voucher_pb2.Voucher
    def __init__(self, voucher: _Optional[_Union[_voucher_pb2.Voucher, _Mapping]] = ...) -> None: ...

class DisableVoucherRequest(_message.Message):
    __slots__ = ("code",)
    CODE_FIELD_NUMBER: _ClassVar[int]
    code: str
    def __init__(self, code: _Optional[str] = ...) -> None: ...

class DisableVoucherResponse(_message.Message):
    __slots__ = ("voucher",)
    VOUCHER_FIELD_NUMBER: _ClassVar[int]
    voucher: _voucher_pb2.Voucher
    def __init__(self, voucher: _Optional[_Union[_voucher_pb2.Voucher, _Mapping]] = ...) -> None: ...
