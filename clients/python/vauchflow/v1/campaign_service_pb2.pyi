from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.longrunning import operations_pb2 as _operations_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from vauchflow.v1 import campaign_pb2 as _campaign_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateCampaignRequest(_message.Message):
    __slots__ = ("campaign", "request_id")
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    campaign: _campaign_pb2.Campaign
    request_id: str
    def __init__(self, campaign: _Optional[_Union[_campaign_pb2.Campaign, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateCampaignResponse(_message.Message):
    __slots__ = ("campaign",)
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    campaign: _campaign_pb2.Campaign
    def __init__(self, campaign: _Optional[_Union[_campaign_pb2.Campaign, _Mapping]] = ...) -> None: ...

class GetCampaignRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetCampaignResponse(_message.Message):
    __slots__ = ("campaign",)
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    campaign: _campaign_pb2.Campaign
    def __init__(self, campaign: _Optional[_Union[_campaign_pb2.Campaign, _Mapping]] = ...) -> None: ...

class ListCampaignsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListCampaignsResponse(_message.Message):
    __slots__ = ("campaigns", "next_page_token")
    CAMPAIGNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    campaigns: _containers.RepeatedCompositeFieldContainer[_campaign_pb2.Campaign]
    next_page_token: str
    def __init__(self, campaigns: _Optional[_Iterable[_Union[_campaign_pb2.Campaign, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateCampaignRequest(_message.Message):
    __slots__ = ("campaign", "update_mask")
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    campaign: _campaign_pb2.Campaign
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, campaign: _Optional[_Union[_campaign_pb2.Campaign, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateCampaignResponse(_message.Message):
    __slots__ = ("campaign",)
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    campaign: _campaign_pb2.Campaign
    def __init__(self, campaign: _Optional[_Union[_campaign_pb2.Campaign, _Mapping]] = ...) -> None: ...

class GenerateCampaignCodesRequest(_message.Message):
    __slots__ = ("campaign_id", "count", "code_pattern", "request_id")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    CODE_PATTERN_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    count: int
    code_pattern: _campaign_pb2.CodePattern
    request_id: str
    def __init__(self, campaign_id: _Optional[str] = ..., count: _Optional[int] = ..., code_pattern: _Optional[_Union[_campaign_pb2.CodePattern, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class GenerateCampaignCodesResponse(_message.Message):
    __slots__ = ("campaign_id", "generated_count")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    GENERATED_COUNT_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    generated_count: int
    def __init__(self, campaign_id: _Optional[str] = ..., generated_count: _Optional[int] = ...) -> None: ...
