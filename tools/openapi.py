"""Write the REST API reference, an OpenAPI 3.0.3 document, from the descriptor set Envoy's transcoder loads.

The descriptor set (built with --include_imports --include_source_info) holds everything the gateway knows: the
google.api.http routes, the messages and the proto comments. This walker turns it into what the transcoder serves:
path parameters from the route template, the `body` field (or `*`) as the request body, every other field as a
query parameter, and proto3 JSON shapes (snake_case names, 64-bit integers as strings, enums by name).
Path variables are written with plain names (`{voucher.code}` becomes `{code}`): OpenAPI allows one path item per
path, and generators want parameter names that are identifiers. google.api.field_behavior becomes `required`
(REQUIRED) and `readOnly` (OUTPUT_ONLY); the bounds and patterns the server's validation enforces are imported
from it (FIELD_CONSTRAINTS), so the document cannot promise what the server refuses. Every operation carries an
example built from its messages.
Called by tools/generate_code.py; the output is committed as docs/openapi.json and must be byte-identical across
runs, so everything is ordered by the descriptor or sorted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from google.api import annotations_pb2, field_behavior_pb2, http_pb2
from google.protobuf import descriptor_pb2

from vauchflow_core import events, plans, webhook_endpoints
from vauchflow_core.permissions import ALL_PERMISSIONS, ANY_KEY, OPERATOR, PUBLIC, REQUIRED_PERMISSION
from vauchflow_core.rpc import request_ids
from vauchflow_server import idempotency, pagination, redemption_rules, vouchers
from vauchflow_server.admin import api_key_admin, tenant_admin
from vauchflow_server.redemption import engine as redemption_engine

FieldProto = descriptor_pb2.FieldDescriptorProto
Schema = dict[str, Any]

OPENAPI_VERSION = "3.0.3"
HTTP_METHODS = ("get", "put", "post", "delete", "patch")
SCHEMA_REF = "#/components/schemas/"
RESPONSE_REF = "#/components/responses/"
HEADER_REF = "#/components/headers/"
# The variant of a resource schema an update's body uses (AIP-134): what is REQUIRED on create may be left out.
PATCH_SUFFIX = ".Patch"
SECURITY_SCHEME = "bearerAuth"

# FileDescriptorProto / DescriptorProto / ... field numbers, which make up SourceCodeInfo location paths.
_FILE_MESSAGE, _FILE_ENUM, _FILE_SERVICE = 4, 5, 6
_MESSAGE_FIELD, _MESSAGE_NESTED, _MESSAGE_ENUM = 2, 3, 4
_ENUM_VALUE = 2
_SERVICE_METHOD = 2

# Any other 64-bit integer: a decimal string of at most 19 digits (20 for unsigned).
_INT64_PATTERN = "^-?[0-9]{1,19}$"
_UINT64_PATTERN = "^[0-9]{1,20}$"

_SCALARS: dict[int, Schema] = {
    FieldProto.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FieldProto.TYPE_FLOAT: {"type": "number", "format": "float"},
    # proto3 JSON writes 64-bit integers as strings: JavaScript numbers can't hold them exactly.
    FieldProto.TYPE_INT64: {"type": "string", "format": "int64", "pattern": _INT64_PATTERN},
    FieldProto.TYPE_SINT64: {"type": "string", "format": "int64", "pattern": _INT64_PATTERN},
    FieldProto.TYPE_SFIXED64: {"type": "string", "format": "int64", "pattern": _INT64_PATTERN},
    FieldProto.TYPE_UINT64: {"type": "string", "format": "uint64", "pattern": _UINT64_PATTERN},
    FieldProto.TYPE_FIXED64: {"type": "string", "format": "uint64", "pattern": _UINT64_PATTERN},
    FieldProto.TYPE_INT32: {"type": "integer", "format": "int32"},
    FieldProto.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FieldProto.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    FieldProto.TYPE_UINT32: {"type": "integer", "format": "int64", "minimum": 0, "maximum": 4294967295},
    FieldProto.TYPE_FIXED32: {"type": "integer", "format": "int64", "minimum": 0, "maximum": 4294967295},
    FieldProto.TYPE_BOOL: {"type": "boolean"},
    FieldProto.TYPE_STRING: {"type": "string"},
    FieldProto.TYPE_BYTES: {"type": "string", "format": "byte"},
}

# Well-known types have their own proto3 JSON form, so they are inlined rather than described as messages.
_WELL_KNOWN: dict[str, Schema] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]{1,9})?s$", "example": "1.5s"},
    "google.protobuf.FieldMask": {"type": "string", "description": "Comma-separated field paths."},
    "google.protobuf.Empty": {"type": "object"},
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array", "items": {}},
    "google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "required": ["@type"],
        "additionalProperties": True,
    },
    "google.protobuf.DoubleValue": _SCALARS[FieldProto.TYPE_DOUBLE],
    "google.protobuf.FloatValue": _SCALARS[FieldProto.TYPE_FLOAT],
    "google.protobuf.Int64Value": _SCALARS[FieldProto.TYPE_INT64],
    "google.protobuf.UInt64Value": _SCALARS[FieldProto.TYPE_UINT64],
    "google.protobuf.Int32Value": _SCALARS[FieldProto.TYPE_INT32],
    "google.protobuf.UInt32Value": _SCALARS[FieldProto.TYPE_UINT32],
    "google.protobuf.BoolValue": _SCALARS[FieldProto.TYPE_BOOL],
    "google.protobuf.StringValue": _SCALARS[FieldProto.TYPE_STRING],
    "google.protobuf.BytesValue": _SCALARS[FieldProto.TYPE_BYTES],
}


def _decimal_pattern(low: int, high: int) -> str:
    """A pattern for the decimal strings low..high (low 0 or 1, high a power of ten): how proto3 JSON writes a
    bounded int64, which JSON Schema's minimum/maximum can't constrain because it is a string."""
    digits = len(str(high)) - 1
    if low not in (0, 1) or high != 10**digits:
        raise ValueError(f"no pattern for {low}..{high}")
    smaller = f"[1-9][0-9]{{0,{digits - 1}}}"
    return f"^({'0|' if low == 0 else ''}{smaller}|{high})$"


def _int64_range(low: int, high: int) -> Schema:
    return {"pattern": _decimal_pattern(low, high), "x-minimum": low, "x-maximum": high}


def _one_of(values: tuple[str, ...]) -> Schema:
    return {"type": "string", "enum": list(values)}


# Voucher codes are case-insensitive (stored upper-case).
_CODE = {"pattern": vouchers.CODE_PATTERN.pattern.replace("A-Z", "A-Za-z")}

# Bounds and patterns the server's validation enforces, by (message, field); "*" matches every message. Values
# come from the server's own constants, so the document can't drift from what it refuses.
_ANY = "*"
FIELD_CONSTRAINTS: dict[tuple[str, str], Schema] = {
    # Larger page sizes are not refused but served as MAX_PAGE_SIZE; the document promises no more than that.
    (_ANY, "page_size"): {"minimum": 0, "maximum": pagination.MAX_PAGE_SIZE},
    (_ANY, "request_id"): {"maxLength": idempotency.MAX_KEY_LENGTH},
    ("vauchflow.v1.Order", "amount"): _int64_range(0, vouchers.MAX_AMOUNT),
    # A pattern, not an enum of the server's ISO 4217 list: generated clients would turn 180 codes into an enum
    # class to import for every order. A well-formed unknown code is a 400 INVALID_ARGUMENT.
    ("vauchflow.v1.Order", "currency"): {"pattern": "^[A-Z]{3}$"},
    ("vauchflow.v1.Order", "id"): {"maxLength": redemption_rules.MAX_ORDER_ID_LENGTH},
    ("vauchflow.v1.Discount", "percent_off"): {"minimum": 1, "maximum": 100},
    ("vauchflow.v1.Discount", "amount_off"): _int64_range(1, vouchers.MAX_AMOUNT),
    ("vauchflow.v1.Voucher", "code"): _CODE,
    ("vauchflow.v1.GetVoucherRequest", "code"): _CODE,
    ("vauchflow.v1.DisableVoucherRequest", "code"): _CODE,
    ("vauchflow.v1.ValidateVoucherRequest", "code"): _CODE,
    ("vauchflow.v1.RedeemVoucherRequest", "code"): _CODE,
    # Empty: no currency (a percent discount without a minimum order needs none).
    ("vauchflow.v1.Voucher", "currency"): {"pattern": "^([A-Z]{3})?$"},
    ("vauchflow.v1.Voucher", "max_redemptions"): _int64_range(1, vouchers.MAX_REDEMPTIONS_LIMIT),
    ("vauchflow.v1.Voucher", "per_customer_limit"): _int64_range(1, vouchers.MAX_REDEMPTIONS_LIMIT),
    ("vauchflow.v1.Voucher", "min_order_amount"): _int64_range(0, vouchers.MAX_AMOUNT),
    ("vauchflow.v1.Voucher", "metadata"): {"maxProperties": vouchers.MAX_METADATA_KEYS},
    ("vauchflow.v1.RedeemVoucherRequest", "customer_id"): {"maxLength": redemption_rules.MAX_CUSTOMER_ID_LENGTH},
    ("vauchflow.v1.ValidateVoucherRequest", "customer_id"): {"maxLength": redemption_rules.MAX_CUSTOMER_ID_LENGTH},
    ("vauchflow.v1.RedeemVoucherRequest", "metadata"): {"maxProperties": vouchers.MAX_METADATA_KEYS},
    ("vauchflow.v1.RollbackRedemptionRequest", "reason"): {"maxLength": redemption_engine.MAX_ROLLBACK_REASON_LENGTH},
    ("vauchflow.v1.CreateTenantRequest", "name"): {"minLength": 1, "maxLength": tenant_admin.MAX_NAME_LENGTH},
    ("vauchflow.v1.Tenant", "name"): {"maxLength": tenant_admin.MAX_NAME_LENGTH},
    ("vauchflow.v1.TenantLimits", "requests_per_second"): {"minimum": 1, "maximum": plans.MAX_REQUESTS_PER_SECOND},
    ("vauchflow.v1.TenantLimits", "burst"): {"minimum": 1, "maximum": plans.MAX_BURST},
    ("vauchflow.v1.TenantLimits", "max_vouchers"): _int64_range(0, plans.MAX_VOUCHERS),
    ("vauchflow.v1.TenantLimits", "max_webhook_endpoints"): {"minimum": 0, "maximum": plans.MAX_WEBHOOK_ENDPOINTS},
    ("vauchflow.v1.CreateApiKeyRequest", "name"): {"minLength": 1, "maxLength": api_key_admin.MAX_NAME_LENGTH},
    ("vauchflow.v1.CreateApiKeyRequest", "permissions"): {"minItems": 1, "items": _one_of(ALL_PERMISSIONS)},
    ("vauchflow.v1.ListEventsRequest", "types"): {"items": _one_of(events.EVENT_TYPES)},
    ("vauchflow.v1.SubscribeEventsRequest", "event_types"): {"items": _one_of(events.EVENT_TYPES)},
    ("vauchflow.v1.WebhookEndpoint", "event_types"): {"items": _one_of(webhook_endpoints.SUBSCRIBABLE_EVENT_TYPES)},
    ("vauchflow.v1.WebhookEndpoint", "url"): {"maxLength": webhook_endpoints.MAX_URL_LENGTH},
    ("vauchflow.v1.WebhookEndpoint", "description"): {"maxLength": webhook_endpoints.MAX_DESCRIPTION_LENGTH},
}
# Rules on a whole message, by message name.
MESSAGE_CONSTRAINTS: dict[str, Schema] = {
    # Both fields are the oneof `value`, and the server wants exactly one of them.
    "vauchflow.v1.Discount": {"minProperties": 1, "maxProperties": 1},
}

# The REST error body: the transcoder's convert_grpc_status turns grpc-status-details-bin into this JSON.
STATUS_MESSAGE = "google.rpc.Status"
# The details the server attaches (see docs/api.md, Errors), each tagged with its Any `@type`.
ERROR_DETAILS = ("google.rpc.ErrorInfo", "google.rpc.BadRequest", "google.rpc.QuotaFailure", "google.rpc.RetryInfo")

# (HTTP status, response name, description): the gRPC codes the transcoder maps to each HTTP status.
ERROR_RESPONSES = (
    (
        "400",
        "InvalidRequest",
        "INVALID_ARGUMENT (with google.rpc.BadRequest field violations) or FAILED_PRECONDITION "
        "(a refused redemption, e.g. VOUCHER_EXHAUSTED, VOUCHER_EXPIRED); malformed JSON or an unknown "
        "query parameter.",
    ),
    ("401", "Unauthenticated", "UNAUTHENTICATED: a missing, malformed, unknown or revoked key (API_KEY_INVALID)."),
    (
        "403",
        "PermissionDenied",
        "PERMISSION_DENIED (PERMISSION_MISSING): ErrorInfo metadata `permission` names the one needed.",
    ),
    ("404", "NotFound", "NOT_FOUND, e.g. VOUCHER_NOT_FOUND; also an unknown path."),
    (
        "409",
        "Conflict",
        "ALREADY_EXISTS (VOUCHER_CODE_TAKEN, IDEMPOTENCY_KEY_REUSED) or ABORTED (CONCURRENT_UPDATE, retry).",
    ),
    (
        "429",
        "ResourceExhausted",
        "RESOURCE_EXHAUSTED: over the plan's request rate (RATE_LIMITED, with google.rpc.RetryInfo) or a quota "
        "(PLAN_QUOTA_EXCEEDED).",
    ),
    ("503", "Unavailable", "UNAVAILABLE: the database or every API server replica is unreachable; retry."),
)
# (gRPC code, reason, message) of each error response's example.
ERROR_EXAMPLES = {
    "InvalidRequest": (3, "INVALID_ARGUMENT", "the request has invalid fields"),
    "Unauthenticated": (16, "API_KEY_INVALID", "missing or invalid API key"),
    "PermissionDenied": (7, "PERMISSION_MISSING", "this API key lacks the permission vouchers:write"),
    "NotFound": (5, "VOUCHER_NOT_FOUND", "voucher not found"),
    "Conflict": (6, "VOUCHER_CODE_TAKEN", "a voucher with this code exists"),
    "ResourceExhausted": (8, "RATE_LIMITED", "too many requests; retry after the delay"),
    "Unavailable": (14, "UNAVAILABLE", "the service is unavailable; retry"),
    "Error": (13, "INTERNAL", "internal error; the request may not have been applied"),
}
REQUEST_ID_HEADER = "x-request-id"
RETRY_AFTER_HEADER = "Retry-After"
# What a client-sent x-request-id must look like to be kept (the gateway and the server check the same).
REQUEST_ID_MAX_LENGTH = request_ids.MAX_LENGTH
REQUEST_ID_PATTERN = request_ids.PATTERN.pattern
_EXAMPLE_REQUEST_ID = "3f2b8c1e-9d4a-4e6b-8f7a-1c2d3e4f5a6b"


def _error_example(code: int, reason: str, message: str) -> Schema:
    info = {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "vauchflow.com",
        "metadata": {"request_id": _EXAMPLE_REQUEST_ID},
    }
    return {"code": code, "message": message, "details": [info]}


# Responses that need no credentials can't be refused for them.
_AUTH_RESPONSES = {"401", "403"}
DEFAULT_RESPONSE = ("Error", "Any other error, e.g. INTERNAL (500) with a generic message.")

# Health answers 503 with its own body ("status": "DOWN" and the failing component), not a google.rpc.Status.
_SERVICES_ANSWERING_503_WITH_THEIR_BODY = {"vauchflow.v1.HealthService"}


# Example values, by field name (then by type): realistic enough that an example request is one the server accepts.
_EXAMPLE_ID = "0b9c7c3e-5d1a-4f7e-9a51-2f6c4c1e8a10"
_EXAMPLE_STRINGS = {
    "code": "SUMMER-25",
    "voucher_code": "SUMMER-25",
    "currency": "EUR",
    "customer_id": "cus_4711",
    "name": "Acme Shop GmbH",
    "url": "https://hooks.example.com/vauchflow",
    "description": "Order system",
    "request_id": "order-4711-redeem-1",
    "reason": "order cancelled",
    "rollback_reason": "order cancelled",
    "permissions": "vouchers:read",
    "event_types": "voucher.created",
    "types": "voucher.created",
    "type": "voucher.created",
    "event_type": "voucher.created",
    "status": "UP",
    "secret_prefix": "vf_sk_3Fq9",
    "response_body": "OK",
}
_EXAMPLE_STRINGS_IN: dict[tuple[str, str], str] = {
    ("vauchflow.v1.Order", "id"): "order-4711",
    ("vauchflow.v1.Event", "id"): "evt_5f0c6d3a9b1e4c7d8a2f6e0b1c3d5a7f",
    ("vauchflow.v1.Event", "cursor"): "MTIzNDU2OjQy",
    ("vauchflow.v1.CreateTenantResponse", "secret"): "vf_sk_3Fq9...",
    ("vauchflow.v1.CreateApiKeyResponse", "secret"): "vf_sk_8Kd2...",
    ("vauchflow.v1.CreateWebhookEndpointResponse", "secret"): "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    ("vauchflow.v1.RotateSecretResponse", "secret"): "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
}
_EXAMPLE_INT64 = {
    "amount": "4999",
    "amount_off": "500",
    "discount_amount": "500",
    "min_order_amount": "2000",
    "max_redemptions": "100",
    "per_customer_limit": "1",
    "redemption_count": "1",
    "max_vouchers": "10000",
}
_EXAMPLE_INT32 = {
    "page_size": 20,
    "percent_off": 10,
    "requests_per_second": 50,
    "burst": 100,
    "max_webhook_endpoints": 10,
    "http_status": 200,
    "latency_ms": 87,
    "requeued_count": 3,
}
_EXAMPLE_TIMES = {
    "valid_from": "2026-06-01T00:00:00Z",
    "valid_until": "2026-06-30T23:59:59Z",
    "start_time": "2026-05-01T00:00:00Z",
    "end_time": "2026-05-02T00:00:00Z",
}
_EXAMPLE_TIME = "2026-05-04T09:30:00Z"
_EXAMPLE_WELL_KNOWN: dict[str, Any] = {
    "google.protobuf.Duration": "1.5s",
    "google.protobuf.FieldMask": "valid_until",
    "google.protobuf.Struct": {"code": "SUMMER-25"},
    "google.protobuf.Empty": {},
}
# Fields that would only make a request example longer, not clearer.
_EXAMPLE_SKIPPED_IN_REQUESTS = {"page_token", "flash_sale"}


def example_scalar(name: str, field: FieldProto, constraints: Schema, message: str = "") -> Any:
    """An example value of a scalar field, inside its constraints."""
    if field.type == FieldProto.TYPE_STRING:
        if (message, name) in _EXAMPLE_STRINGS_IN:
            return _EXAMPLE_STRINGS_IN[(message, name)]
        if name in _EXAMPLE_STRINGS:
            return _EXAMPLE_STRINGS[name]
        return _EXAMPLE_ID if name == "id" or name.endswith("_id") else ""
    if field.type == FieldProto.TYPE_BOOL:
        return name in ("valid", "enabled")
    if field.type in _SIXTY_FOUR_BIT:
        return _EXAMPLE_INT64.get(name, "1")
    if field.type in (FieldProto.TYPE_DOUBLE, FieldProto.TYPE_FLOAT):
        return 1.5
    if field.type == FieldProto.TYPE_BYTES:
        return ""
    value = _EXAMPLE_INT32.get(name, 1)
    return min(max(value, constraints.get("minimum", value)), constraints.get("maximum", value))


_SIXTY_FOUR_BIT = {
    FieldProto.TYPE_INT64,
    FieldProto.TYPE_SINT64,
    FieldProto.TYPE_SFIXED64,
    FieldProto.TYPE_UINT64,
    FieldProto.TYPE_FIXED64,
}


def load_descriptor_set(path: Path) -> descriptor_pb2.FileDescriptorSet:
    descriptor_set = descriptor_pb2.FileDescriptorSet()
    descriptor_set.ParseFromString(path.read_bytes())
    return descriptor_set


def http_bindings(method: descriptor_pb2.MethodDescriptorProto) -> list[tuple[str, str, str]]:
    """(HTTP method, path template, body) of the method's google.api.http rule and its additional bindings."""
    if not method.options.HasExtension(annotations_pb2.http):
        return []
    rule = method.options.Extensions[annotations_pb2.http]
    return [_binding(rule)] + [_binding(extra) for extra in rule.additional_bindings]


def _binding(rule: http_pb2.HttpRule) -> tuple[str, str, str]:
    pattern = rule.WhichOneof("pattern")
    if pattern == "custom":
        return rule.custom.kind.lower(), rule.custom.path, rule.body
    if pattern not in HTTP_METHODS:
        raise ValueError(f"HttpRule without a route: {rule}")
    return pattern, getattr(rule, pattern), rule.body


_TEMPLATE_VARIABLE = re.compile(r"\{([^}=]+)(?:=([^}]*))?\}")


def path_variables(template: str) -> list[tuple[str, str]]:
    """(field path, segment pattern or "") of each variable in a google.api.http path template, in order."""
    return [(match.group(1), match.group(2) or "") for match in _TEMPLATE_VARIABLE.finditer(template)]


def parameter_name(field_path: str) -> str:
    """The OpenAPI name of a path variable: its last field name (`voucher.code` is `code`)."""
    return field_path.rsplit(".", 1)[-1]


def openapi_path(template: str) -> str:
    """The OpenAPI path for a template: `{name=shops/*}` becomes `{name}`, `{voucher.code}` becomes `{code}`;
    custom verbs (`:redeem`) stay. A resource-name pattern of literal segments, ending in at most one wildcard,
    keeps its literals in the path, because Envoy matches them as segments (an encoded slash in one parameter
    would not match): `{name=operations/**}` becomes `operations/{name}`, `{name=operations}` just `operations`."""
    names = [parameter_name(field_path) for field_path, _ in path_variables(template)]
    if len(set(names)) != len(names):
        raise ValueError(f"{template}: two path variables would share the parameter name of their last field")

    def variable(match: re.Match[str]) -> str:
        literals, wildcard = literal_prefix(match.group(2) or "")
        parameter = "{" + parameter_name(match.group(1)) + "}"
        if literals is None:
            return parameter
        return "/".join([*literals, parameter] if wildcard else literals)

    return _TEMPLATE_VARIABLE.sub(variable, template)


_EXAMPLE_RESOURCE_ID = "0b7c5e2a-8f4d-4f8e-9a51-3c2d1e0f9a87"


def literal_prefix(pattern: str) -> tuple[list[str] | None, bool]:
    """(its literal segments, whether a wildcard ends it) for a pattern like `operations/**` or `operations`;
    (None, True) for a bare wildcard or one with wildcards inside (`shops/*/items/*`), which stays one parameter."""
    segments = pattern.split("/") if pattern else []
    literal = [segment for segment in segments if segment not in ("*", "**")]
    if not literal:
        return None, True
    if segments[: len(literal)] != literal or len(segments) - len(literal) > 1:
        return None, True
    return literal, len(segments) > len(literal)


def field_behaviors(field: FieldProto) -> set[int]:
    return set(field.options.Extensions[field_behavior_pb2.field_behavior])


HTTP_BODY = ".google.api.HttpBody"


def _clean_comment(text: str) -> str:
    lines = [line[1:] if line.startswith(" ") else line for line in text.splitlines()]
    # buf's lint exceptions are for buf, not for readers of the API.
    return "\n".join(line.rstrip() for line in lines if not line.startswith("buf:lint:")).strip()


def _summary(comment: str, method_name: str) -> str:
    if not comment:
        words = re.findall(r"[A-Z][a-z0-9]*|[a-z0-9]+", method_name)
        return " ".join([words[0]] + [word.lower() for word in words[1:]]) if words else method_name
    paragraph = " ".join(comment.split("\n\n")[0].split())
    sentence = re.split(r"(?<=\.)\s", paragraph, maxsplit=1)[0]
    return sentence


class _Walker:
    def __init__(self, descriptor_set: descriptor_pb2.FileDescriptorSet, permissions: Mapping[str, str]) -> None:
        self.permissions = permissions
        self.messages: dict[str, descriptor_pb2.DescriptorProto] = {}
        self.enums: dict[str, descriptor_pb2.EnumDescriptorProto] = {}
        self.comments: dict[tuple[str, tuple[int, ...]], str] = {}
        # Full name -> (file name, location path), to find an element's comment.
        self.locations: dict[str, tuple[str, tuple[int, ...]]] = {}
        self.files = list(descriptor_set.file)
        for file in self.files:
            for location in file.source_code_info.location:
                comment = location.leading_comments or location.trailing_comments
                if comment.strip():
                    self.comments[(file.name, tuple(location.path))] = _clean_comment(comment)
            prefix = f"{file.package}." if file.package else ""
            for index, message in enumerate(file.message_type):
                self._index_message(file.name, prefix + message.name, message, (_FILE_MESSAGE, index))
            for index, enum in enumerate(file.enum_type):
                self._index_enum(file.name, prefix + enum.name, enum, (_FILE_ENUM, index))
        self.pending: list[str] = []
        self.schemas: dict[str, Schema] = {}

    def _index_message(
        self, file: str, name: str, message: descriptor_pb2.DescriptorProto, path: tuple[int, ...]
    ) -> None:
        self.messages[name] = message
        self.locations[name] = (file, path)
        for index, nested in enumerate(message.nested_type):
            self._index_message(file, f"{name}.{nested.name}", nested, (*path, _MESSAGE_NESTED, index))
        for index, enum in enumerate(message.enum_type):
            self._index_enum(file, f"{name}.{enum.name}", enum, (*path, _MESSAGE_ENUM, index))

    def _index_enum(
        self, file: str, name: str, enum: descriptor_pb2.EnumDescriptorProto, path: tuple[int, ...]
    ) -> None:
        self.enums[name] = enum
        self.locations[name] = (file, path)

    def comment(self, name: str, *subpath: int) -> str:
        file, path = self.locations[name]
        return self.comments.get((file, (*path, *subpath)), "")

    def field_comment(self, message_name: str, field: FieldProto) -> str:
        index = list(self.messages[message_name].field).index(field)
        return self.comment(message_name, _MESSAGE_FIELD, index)

    # ---- schemas ----

    def ref(self, type_name: str) -> Schema:
        name = type_name.lstrip(".")
        if name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[name])
        if name.removesuffix(PATCH_SUFFIX) not in self.messages and name not in self.enums:
            raise KeyError(f"{name} is not in the descriptor set (was it built with --include_imports?)")
        if name not in self.schemas and name not in self.pending:
            self.pending.append(name)
        return {"$ref": SCHEMA_REF + name}

    def value_schema(self, field: FieldProto) -> Schema:
        """The schema of one value of the field (an element, if it is repeated)."""
        if field.type in (FieldProto.TYPE_MESSAGE, FieldProto.TYPE_ENUM):
            return self.ref(field.type_name)
        return dict(_SCALARS[field.type])

    def map_entry(self, field: FieldProto) -> descriptor_pb2.DescriptorProto | None:
        if field.type != FieldProto.TYPE_MESSAGE or field.label != FieldProto.LABEL_REPEATED:
            return None
        entry = self.messages.get(field.type_name.lstrip("."))
        return entry if entry is not None and entry.options.map_entry else None

    def field_schema(self, message_name: str, field: FieldProto) -> Schema:
        entry = self.map_entry(field)
        if entry is not None:
            schema: Schema = {"type": "object", "additionalProperties": self.value_schema(entry.field[1])}
        elif field.label == FieldProto.LABEL_REPEATED:
            schema = {"type": "array", "items": self.value_schema(field)}
        else:
            schema = self.value_schema(field)
        constraints = FIELD_CONSTRAINTS.get((message_name, field.name)) or FIELD_CONSTRAINTS.get((_ANY, field.name))
        if constraints:
            schema = _constrained(schema, constraints)
        behaviors = field_behaviors(field)
        if field_behavior_pb2.OUTPUT_ONLY in behaviors:
            schema = {**schema, "readOnly": True} if "$ref" not in schema else {"allOf": [schema], "readOnly": True}
        notes = [self.field_comment(message_name, field)]
        if field_behavior_pb2.OUTPUT_ONLY in behaviors:
            notes.append("Output only: set by Vauchflow, ignored in requests.")
        if field_behavior_pb2.IMMUTABLE in behaviors:
            notes.append("Immutable: set on create, never changed afterwards.")
        message = self.messages[message_name]
        if field.HasField("oneof_index") and not field.proto3_optional:
            oneof = message.oneof_decl[field.oneof_index].name
            members = [f"`{other.name}`" for other in message.field if _in_oneof(other, field.oneof_index)]
            notes.append(f"Member of oneof `{oneof}`: set at most one of {', '.join(members)}.")
        if field.proto3_optional:
            notes.append("Optional: absent and zero are different.")
        return _describe(schema, "\n\n".join(note for note in notes if note))

    def required_fields(self, message_name: str, leave_out: set[str] = frozenset()) -> list[str]:
        return [
            field.name
            for field in self.messages[message_name].field
            if field_behavior_pb2.REQUIRED in field_behaviors(field) and field.name not in leave_out
        ]

    def message_schema(self, name: str) -> Schema:
        patch = name.endswith(PATCH_SUFFIX)
        message_name = name.removesuffix(PATCH_SUFFIX)
        message = self.messages[message_name]
        properties = {field.name: self.field_schema(message_name, field) for field in message.field}
        if message_name == STATUS_MESSAGE:
            details = properties["details"]
            properties["details"] = {**details, "items": self.error_detail_schema()}
        schema: Schema = {"type": "object", "properties": properties, **MESSAGE_CONSTRAINTS.get(message_name, {})}
        required = [] if patch else self.required_fields(message_name)
        if required:
            schema["required"] = required
        oneofs = [
            (index, oneof.name)
            for index, oneof in enumerate(message.oneof_decl)
            if not any(f.proto3_optional for f in message.field if _in_oneof(f, index))
        ]
        if oneofs:
            schema["x-oneof"] = {
                oneof: [f.name for f in message.field if _in_oneof(f, index)] for index, oneof in oneofs
            }
        description = self.comment(message_name)
        if patch:
            description = "\n\n".join(
                part
                for part in (description, f"`{message_name}` as an update's body: only the fields to change.")
                if part
            )
        return _describe(schema, description)

    def enum_schema(self, name: str) -> Schema:
        enum = self.enums[name]
        lines = [self.comment(name)] if self.comment(name) else []
        for index, value in enumerate(enum.value):
            value_comment = self.comment(name, _ENUM_VALUE, index)
            if value_comment:
                lines.append(f"- `{value.name}`: {' '.join(value_comment.split())}")
        schema: Schema = {"type": "string", "enum": [value.name for value in enum.value]}
        return _describe(schema, "\n".join(lines))

    def error_detail_schema(self) -> Schema:
        variants = []
        for name in ERROR_DETAILS:
            tag = {
                "type": "object",
                "required": ["@type"],
                "properties": {"@type": {"type": "string", "enum": [f"type.googleapis.com/{name}"]}},
            }
            variants.append({"allOf": [tag, self.ref(name)]})
        return {"oneOf": variants}

    def drain(self) -> None:
        while self.pending:
            name = self.pending.pop(0)
            if name.removesuffix(PATCH_SUFFIX) in self.messages:
                self.schemas[name] = self.message_schema(name)
            else:
                self.schemas[name] = self.enum_schema(name)

    # ---- examples ----

    def example(self, message_name: str, *, for_request: bool, leave_out: set[str] = frozenset(), depth: int = 0):
        """An example JSON object of the message: the first member of each oneof, no output-only field in a
        request."""
        message = self.messages[message_name]
        result: dict[str, Any] = {}
        chosen_oneofs: set[int] = set()
        for field in message.field:
            if field.name in leave_out:
                continue
            if for_request and (
                field_behavior_pb2.OUTPUT_ONLY in field_behaviors(field) or field.name in _EXAMPLE_SKIPPED_IN_REQUESTS
            ):
                continue
            if field.HasField("oneof_index") and not field.proto3_optional:
                if field.oneof_index in chosen_oneofs:
                    continue
                chosen_oneofs.add(field.oneof_index)
            value = self.field_example(message_name, field, for_request=for_request, depth=depth + 1)
            if value is not None:
                result[field.name] = value
        return result

    def field_example(self, message_name: str, field: FieldProto, *, for_request: bool, depth: int):
        entry = self.map_entry(field)
        if entry is not None:
            value = self.value_example(message_name, entry.field[1], for_request=for_request, depth=depth)
            key = "db" if entry.field[1].type == FieldProto.TYPE_MESSAGE else "campaign"
            return None if value is None else {key: value if value != "" else "spring-sale"}
        value = self.value_example(message_name, field, for_request=for_request, depth=depth)
        if field.label == FieldProto.LABEL_REPEATED:
            return None if value is None else [value]
        return value

    def value_example(self, message_name: str, field: FieldProto, *, for_request: bool, depth: int):
        type_name = field.type_name.lstrip(".")
        if field.type == FieldProto.TYPE_ENUM:
            values = [value.name for value in self.enums[type_name].value]
            return values[1] if len(values) > 1 else values[0]
        if field.type == FieldProto.TYPE_MESSAGE:
            if type_name == "google.protobuf.Timestamp":
                return _EXAMPLE_TIMES.get(field.name, _EXAMPLE_TIME)
            if type_name in _EXAMPLE_WELL_KNOWN:
                return _EXAMPLE_WELL_KNOWN[type_name]
            if type_name in _WELL_KNOWN or depth > 4:
                return None
            return self.example(type_name, for_request=for_request, depth=depth)
        constraints = FIELD_CONSTRAINTS.get((message_name, field.name)) or FIELD_CONSTRAINTS.get((_ANY, field.name))
        return example_scalar(field.name, field, constraints or {}, message_name)

    # ---- operations ----

    def resolve(self, message_name: str, field_path: str) -> tuple[str, FieldProto]:
        """The message holding the last field of a dotted path, and that field."""
        parts = field_path.split(".")
        for depth, part in enumerate(parts):
            message = self.messages[message_name]
            field = next((f for f in message.field if f.name == part), None)
            if field is None:
                raise ValueError(f"{field_path!r} is not a field path of {message_name}")
            if depth == len(parts) - 1:
                return message_name, field
            if field.type != FieldProto.TYPE_MESSAGE or field.label == FieldProto.LABEL_REPEATED:
                raise ValueError(f"{field_path!r}: {part} is not a singular message field")
            message_name = field.type_name.lstrip(".")
        raise AssertionError("unreachable")

    def query_fields(
        self, message_name: str, prefix: str, bound: set[str], seen: tuple[str, ...]
    ) -> Iterator[tuple[str, str, FieldProto]]:
        """(dotted name, containing message, field) of every field the transcoder accepts as a query parameter:
        scalars, enums and repeated scalars, nested messages as dotted names; maps and repeated messages can't be."""
        for field in self.messages[message_name].field:
            name = prefix + field.name
            if name in bound:
                continue
            is_message = field.type == FieldProto.TYPE_MESSAGE
            well_known = field.type_name.lstrip(".") in _WELL_KNOWN
            if is_message and not well_known:
                child = field.type_name.lstrip(".")
                if field.label == FieldProto.LABEL_REPEATED or child in seen:
                    continue
                yield from self.query_fields(child, name + ".", bound, (*seen, child))
            elif not (is_message and field.label == FieldProto.LABEL_REPEATED):
                yield name, message_name, field

    def operation(
        self,
        service_name: str,
        method: descriptor_pb2.MethodDescriptorProto,
        method_path: tuple[int, ...],
        verb: str,
        template: str,
        body: str,
        operation_id: str,
    ) -> Schema:
        request = method.input_type.lstrip(".")
        full_method = f"/{service_name}/{method.name}"
        permission = self.permissions.get(full_method)
        comment = self.comment(service_name, *method_path)

        parameters = []
        variables = path_variables(template)
        for field_path, pattern in variables:
            holder, field = self.resolve(request, field_path)
            literals, wildcard = literal_prefix(pattern)
            if not wildcard:
                continue  # all literal: the path names the field's one value, there is nothing to fill in
            notes = [self.field_comment(holder, field)]
            if "." in field_path:
                notes.append(f"The request field `{field_path}`, taken from the path.")
            if literals is not None:
                name = parameter_name(field_path)
                notes.append(
                    f"The last segment only: the request field `{field_path}` is `{'/'.join(literals)}/{{{name}}}`."
                )
            elif pattern and pattern != "*":
                notes.append(f"Matches the path pattern `{pattern}`.")
            schema = self.value_schema(field)
            constraints = FIELD_CONSTRAINTS.get((holder, field.name)) or FIELD_CONSTRAINTS.get((_ANY, field.name))
            if constraints:
                schema = _constrained(schema, constraints)
            if literals is not None:
                # The id a resource name ends in: ours are UUIDs (operation names are "operations/<uuid>").
                schema, example = {"type": "string", "format": "uuid"}, _EXAMPLE_RESOURCE_ID
            else:
                example = example_scalar(field.name, field, constraints or {}, holder)
            parameter: Schema = {"name": parameter_name(field_path), "in": "path", "required": True, "schema": schema}
            parameter["example"] = example
            parameters.append(_describe(parameter, "\n\n".join(note for note in notes if note)))
        path_bound = {field_path for field_path, _ in variables}
        if body != "*":
            bound = path_bound | ({body} if body else set())
            for name, holder, field in self.query_fields(request, "", bound, (request,)):
                parameters.append(_query_parameter(name, self.field_schema(holder, field)))

        result: Schema = {
            "operationId": operation_id,
            "tags": [service_name.rsplit(".", 1)[-1]],
            "summary": _summary(comment, method.name),
            "description": _operation_description(comment, permission, method),
            "responses": self.responses(method, full_method, permission),
        }
        if permission is not None:
            result["x-required-permission"] = permission
        if permission == PUBLIC:
            result["security"] = []
        if parameters:
            result["parameters"] = parameters
        if body:
            result["requestBody"] = self.request_body(request, body, path_bound)
        return result

    def request_body(self, request: str, body: str, path_bound: set[str]) -> Schema:
        if body == "*":
            message = self.messages[request]
            if not any(field.name in path_bound for field in message.field):
                schema = self.ref(request)
            else:
                properties = {
                    field.name: self.field_schema(request, field)
                    for field in message.field
                    if field.name not in path_bound
                }
                schema = {"type": "object", "properties": properties}
                required = self.required_fields(request, path_bound)
                if required:
                    schema["required"] = required
                schema = _describe(schema, f"`{request}` without the fields taken from the path.")
            example = self.example(request, for_request=True, leave_out=path_bound)
            # A body that may be empty ({}) is still a body: the transcoder wants JSON or nothing.
            required_body = bool(self.required_fields(request, path_bound))
        else:
            holder, field = self.resolve(request, body)
            if field.type_name == HTTP_BODY:
                # A raw body (the CSV import): streamed to the server as it arrives, not JSON.
                # Declared as octet-stream (any body goes through; generators such as openapi-python-client
                # make it a file upload, which they can't for text/csv); the body is the CSV file itself.
                example = "code\r\nSPRING-0001\r\nSPRING-0002\r\n"
                schema = {"type": "string", "format": "binary", "description": "The CSV file (text/csv), as is."}
                return {
                    "required": True,
                    "content": {"application/octet-stream": {"schema": schema, "example": example}},
                }
            schema, required_body = self.field_schema(holder, field), True
            is_update = any(f.name == "update_mask" for f in self.messages[request].field)
            if is_update and field.type == FieldProto.TYPE_MESSAGE:
                # An update names the fields it changes (update_mask), so what create requires may be left out.
                patch = self.ref(field.type_name + PATCH_SUFFIX)
                schema = {**schema, "allOf": [patch]} if "allOf" in schema else patch
            from_path = sorted(f"`{name}`" for name in path_bound if name.startswith(body + "."))
            if from_path:
                schema = _describe(schema, f"The request field `{body}`; {', '.join(from_path)} comes from the path.")
            example = self.field_example(holder, field, for_request=True, depth=0)
            if is_update and isinstance(example, dict):
                nested = {name.removeprefix(body + ".") for name in path_bound}
                example = {key: value for key, value in example.items() if key not in nested}
        content = {"schema": schema, "example": example}
        return {"required": required_body, "content": {"application/json": content}}

    def responses(
        self, method: descriptor_pb2.MethodDescriptorProto, full_method: str, permission: str | None
    ) -> Schema:
        if method.output_type == HTTP_BODY:
            return self.raw_responses(permission)
        response = self.ref(method.output_type)
        description = "OK"
        if method.server_streaming:
            description = "OK: a stream of these messages, one JSON object per line."
        example = self.example(method.output_type.lstrip("."), for_request=False)
        result: Schema = {
            "200": {
                "description": description,
                "headers": {REQUEST_ID_HEADER: {"$ref": HEADER_REF + REQUEST_ID_HEADER}},
                "content": {"application/json": {"schema": response, "example": example}},
            }
        }
        for status, name, _ in ERROR_RESPONSES:
            if permission == PUBLIC and status in _AUTH_RESPONSES:
                continue
            result[status] = {"$ref": RESPONSE_REF + name}
        if full_method.split("/")[1] in _SERVICES_ANSWERING_503_WITH_THEIR_BODY:
            result["503"] = {
                "description": "Down: the same body with `status` DOWN (and the failing component, if any).",
                "headers": {REQUEST_ID_HEADER: {"$ref": HEADER_REF + REQUEST_ID_HEADER}},
                "content": {"application/json": {"schema": response}},
            }
        result["default"] = {"$ref": RESPONSE_REF + DEFAULT_RESPONSE[0]}
        return result

    def raw_responses(self, permission: str | None) -> Schema:
        """A stream of google.api.HttpBody (a CSV export): the body is the file itself, sent as it is read."""
        result: Schema = {
            "200": {
                "description": "OK: the CSV file (RFC 4180, CRLF, header row first), streamed as it is read.",
                "headers": {REQUEST_ID_HEADER: {"$ref": HEADER_REF + REQUEST_ID_HEADER}},
                "content": {"text/csv": {"schema": {"type": "string"}, "example": "id,create_time,status\r\n"}},
            }
        }
        for status, name, _ in ERROR_RESPONSES:
            if permission == PUBLIC and status in _AUTH_RESPONSES:
                continue
            result[status] = {"$ref": RESPONSE_REF + name}
        result["default"] = {"$ref": RESPONSE_REF + DEFAULT_RESPONSE[0]}
        return result


def _constrained(schema: Schema, constraints: Schema) -> Schema:
    if "$ref" in schema:
        return {"allOf": [schema], **constraints}
    return {**schema, **constraints}


def _in_oneof(field: FieldProto, index: int) -> bool:
    return field.HasField("oneof_index") and field.oneof_index == index


def _query_parameter(name: str, schema: Schema) -> Schema:
    """A query parameter, with the field's description beside it rather than inside its schema."""
    description = schema.get("description", "")
    schema = {key: value for key, value in schema.items() if key != "description"}
    if list(schema) == ["allOf"]:
        schema = schema["allOf"][0]
    return _describe({"name": name, "in": "query", "schema": schema}, description)


def _describe(schema: Schema, description: str) -> Schema:
    if not description:
        return schema
    if "$ref" in schema:
        # OpenAPI 3.0 ignores siblings of $ref; allOf keeps the description.
        return {"allOf": [schema], "description": description}
    if "description" in schema:
        description = f"{description}\n\n{schema['description']}"
    return {**schema, "description": description}


def _operation_description(comment: str, permission: str | None, method: descriptor_pb2.MethodDescriptorProto) -> str:
    parts = [comment] if comment else []
    if permission == OPERATOR:
        parts.append("Authorised by the platform operator token (`VAUCHFLOW_ADMIN_TOKEN`), not a tenant API key.")
    elif permission == PUBLIC:
        parts.append("Needs no credentials.")
    elif permission == ANY_KEY:
        parts.append("Any valid API key may call it, whatever its permissions.")
    elif permission is not None:
        parts.append(f"Requires an API key with the `{permission}` permission.")
    parts.append(f"gRPC: `{method.name}`.")
    return "\n\n".join(parts)


def build_document(descriptor_set: descriptor_pb2.FileDescriptorSet, permissions: Mapping[str, str]) -> Schema:
    """The OpenAPI document for every HTTP-annotated RPC in the descriptor set.

    permissions maps a full gRPC method name ("/pkg.Service/Method") to the permission it needs, or to
    OPERATOR / PUBLIC.
    """
    walker = _Walker(descriptor_set, permissions)
    paths: dict[str, dict[str, Schema]] = {}
    tags: dict[str, Schema] = {}
    for file in walker.files:
        prefix = f"{file.package}." if file.package else ""
        for service_index, service in enumerate(file.service):
            service_name = prefix + service.name
            walker.locations[service_name] = (file.name, (_FILE_SERVICE, service_index))
            for method_index, method in enumerate(service.method):
                bindings = http_bindings(method)
                for binding_index, (verb, template, body) in enumerate(bindings):
                    operation_id = f"{service.name}_{method.name}"
                    if binding_index:
                        operation_id += str(binding_index + 1)
                    path = openapi_path(template)
                    if verb in paths.get(path, {}):
                        raise ValueError(f"{verb.upper()} {path} is bound to two RPCs")
                    paths.setdefault(path, {})[verb] = walker.operation(
                        service_name,
                        method,
                        (_SERVICE_METHOD, method_index),
                        verb,
                        template,
                        body,
                        operation_id,
                    )
                if bindings:
                    tags[service.name] = _describe({"name": service.name}, walker.comment(service_name))
    if STATUS_MESSAGE not in walker.messages:
        raise KeyError(f"{STATUS_MESSAGE} is not in the descriptor set; include google/rpc/status.proto")
    error = walker.ref(STATUS_MESSAGE)
    walker.drain()

    request_id_header = {REQUEST_ID_HEADER: {"$ref": HEADER_REF + REQUEST_ID_HEADER}}
    responses = {}
    for status, name, description in (*ERROR_RESPONSES, (None, *DEFAULT_RESPONSE)):
        headers = dict(request_id_header)
        if status == "429":
            headers[RETRY_AFTER_HEADER] = {"$ref": HEADER_REF + RETRY_AFTER_HEADER}
        responses[name] = {
            "description": f"{description} Body: `google.rpc.Status`.",
            "headers": headers,
            "content": {"application/json": {"schema": error, "example": _error_example(*ERROR_EXAMPLES[name])}},
        }
    headers = {
        REQUEST_ID_HEADER: {
            "description": (
                "The request's id, on every response (errors too): the one the client sent in `x-request-id` when "
                f"it is 1-{REQUEST_ID_MAX_LENGTH} characters of letters, digits and `-_.:`, otherwise one the "
                "gateway made. Error bodies repeat it in ErrorInfo metadata `request_id`; quote it to support."
            ),
            # The gateway sets it on every response, so a response without it breaks the contract.
            "required": True,
            "schema": {"type": "string", "pattern": REQUEST_ID_PATTERN},
            "example": _EXAMPLE_REQUEST_ID,
        },
        RETRY_AFTER_HEADER: {
            "description": "Whole seconds to wait before retrying (with RATE_LIMITED; absent for a quota).",
            "schema": {"type": "integer", "minimum": 0},
            "example": 1,
        },
    }
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Vauchflow API",
            "version": "v1",
            "description": (
                "REST/JSON transcoded by the Envoy gateway from the gRPC API (`protos/vauchflow/v1`). "
                "Field names are the proto names (snake_case), enums are sent by name, 64-bit integers as "
                "strings, timestamps as RFC 3339. Every error body is a JSON `google.rpc.Status` with a "
                "`google.rpc.ErrorInfo` detail (domain `vauchflow.com`). Guide: docs/api.md. "
                "Generated from the protos by `make generate`; do not edit."
            ),
        },
        "servers": [{"url": "http://127.0.0.1:8080", "description": "local dev stack (Envoy)"}],
        "tags": [tags[name] for name in sorted(tags)],
        "security": [{SECURITY_SCHEME: []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "vf_sk_...",
                    "description": (
                        "`Authorization: Bearer vf_sk_...`: a tenant API key, or for TenantService the platform "
                        "operator token (`VAUCHFLOW_ADMIN_TOKEN`)."
                    ),
                }
            },
            "headers": headers,
            "responses": responses,
            "schemas": walker.schemas,
        },
    }


def render(document: Schema) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_document(descriptor_set_path: Path, out: Path) -> None:
    """Writes the OpenAPI document for the descriptor set, with the server's permission table."""
    document = build_document(load_descriptor_set(descriptor_set_path), REQUIRED_PERMISSION)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(document), encoding="utf-8")
