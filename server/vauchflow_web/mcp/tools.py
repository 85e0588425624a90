"""The MCP tools, written as data: each one's name, the API permission it needs, its input and output JSON
Schemas, its behaviour hints, and the one API call it makes through the caller's client.

Tools call the API and nothing else, so permissions, tenant boundaries, idempotency and refusals are the API's;
the permission listed here only decides what `tools/list` shows a key.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import mcp_types as types

import vauchflow
from vauchflow.v1 import redemption_service_pb2, voucher_service_pb2, webhook_service_pb2
from vauchflow_web.mcp.views import (
    BOOLEAN,
    CAMPAIGN_SCHEMA,
    DELIVERY_SCHEMA,
    EVENT_SCHEMA,
    INTEGER,
    OPERATION_SCHEMA,
    OPTIONAL_STRING,
    REDEMPTION_SCHEMA,
    STRING_MAP,
    VOUCHER_SCHEMA,
    WEBHOOK_ENDPOINT_SCHEMA,
    Json,
    campaign_view,
    delivery_view,
    event_view,
    obj,
    operation_view,
    redemption_view,
    voucher_view,
    webhook_endpoint_view,
)

Arguments = Mapping[str, Any]
Run = Callable[[vauchflow.AsyncClient, Arguments], Awaitable[Json]]

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class FieldProblem:
    """One argument that does not fit the tool's input schema."""

    field: str
    description: str


@dataclass(frozen=True)
class Tool:
    name: str
    title: str
    description: str
    permission: str
    input_schema: Json
    output_schema: Json
    read_only: bool
    destructive: bool
    idempotent: bool
    run: Run
    _validator: jsonschema.protocols.Validator = field(init=False, repr=False, compare=False)
    _fits: Check | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        jsonschema.Draft202012Validator.check_schema(self.input_schema)
        validator = jsonschema.Draft202012Validator(
            self.input_schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        )
        object.__setattr__(self, "_validator", validator)
        object.__setattr__(self, "_fits", quick_check(self.input_schema))

    def descriptor(self) -> types.Tool:
        return types.Tool(
            name=self.name,
            title=self.title,
            description=self.description,
            input_schema=self.input_schema,
            output_schema=self.output_schema,
            annotations=types.ToolAnnotations(
                title=self.title,
                read_only_hint=self.read_only,
                destructive_hint=self.destructive,
                idempotent_hint=self.idempotent,
                # Vauchflow is a closed world: a tool touches the caller's tenant and nothing else.
                open_world_hint=False,
            ),
        )

    def problems(self, arguments: Arguments) -> list[FieldProblem]:
        """Every way the arguments miss the input schema, each naming its argument."""
        if self._fits is not None and self._fits(arguments):
            return []  # the common case, without jsonschema's cost (a twentieth of a tool call's CPU)
        return [_problem(error) for error in self._validator.iter_errors(dict(arguments))]


Check = Callable[[Any], bool]

# The keywords quick_check understands; a schema with any other (e.g. "format") is left to jsonschema alone.
_QUICK_KEYWORDS = frozenset(
    {"type", "description", "properties", "required", "additionalProperties", "minLength", "maxLength",
     "minimum", "maximum", "pattern", "enum", "default", "maxProperties"}
)  # fmt: skip
_QUICK_TYPES: Mapping[str, Callable[[Any], bool]] = {
    "object": lambda value: isinstance(value, dict),
    "string": lambda value: isinstance(value, str),
    "integer": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "boolean": lambda value: isinstance(value, bool),
}


def quick_check(schema: Json) -> Check | None:
    """A check that says True only for a value the schema (JSON Schema 2020-12) accepts; False means "ask
    jsonschema", which then names every problem. None when the schema uses more than this understands.

    Covers what the tools' input schemas use: one type of object, string, integer or boolean; properties, required,
    additionalProperties and maxProperties; string lengths (in code points), string enums, numeric bounds and
    patterns (re.search, as jsonschema does); a property it does not cover leaves only the calls that use it to
    jsonschema. An integral float (1.0), which the schema accepts as an integer, is left to jsonschema."""
    if not isinstance(schema, dict) or not set(schema) <= _QUICK_KEYWORDS:
        return None
    kind = schema.get("type")
    is_type = _QUICK_TYPES.get(kind) if isinstance(kind, str) else None
    if is_type is None:
        return None
    checks: list[Check] = [is_type]
    if "minLength" in schema or "maxLength" in schema or "pattern" in schema:
        if schema["type"] != "string":
            return None
        low, high = schema.get("minLength", 0), schema.get("maxLength")
        checks.append(lambda value: low <= len(value) and (high is None or len(value) <= high))
        if "pattern" in schema:
            pattern = re.compile(schema["pattern"])
            checks.append(lambda value: pattern.search(value) is not None)
    if "enum" in schema:
        allowed = schema["enum"]
        if schema["type"] != "string" or not all(isinstance(choice, str) for choice in allowed):
            return None
        choices = frozenset(allowed)
        checks.append(lambda value: value in choices)
    if "minimum" in schema or "maximum" in schema:
        if schema["type"] != "integer":
            return None
        minimum, maximum = schema.get("minimum"), schema.get("maximum")
        checks.append(lambda value: (minimum is None or value >= minimum) and (maximum is None or value <= maximum))
    if "maxProperties" in schema:
        if schema["type"] != "object":
            return None
        most = schema["maxProperties"]
        checks.append(lambda value: len(value) <= most)
    if {"properties", "required", "additionalProperties"} & set(schema):
        if schema["type"] != "object":
            return None
        object_check = _quick_object_check(schema)
        if object_check is None:
            return None
        checks.append(object_check)
    return lambda value: all(check(value) for check in checks)


def _ask_jsonschema(value: Any) -> bool:
    return False


def _quick_object_check(schema: Json) -> Check | None:
    properties: dict[str, Check] = {}
    for name, property_schema in schema.get("properties", {}).items():
        # A property this does not understand sends only the calls that use it to jsonschema.
        properties[name] = quick_check(property_schema) or _ask_jsonschema
    required = tuple(schema.get("required", ()))
    additional = schema.get("additionalProperties", True)
    other: Check | None
    if additional is True:
        other = lambda value: True  # noqa: E731
    elif additional is False:
        other = None  # no other property may appear
    else:
        other = quick_check(additional)
        if other is None:
            return None

    def fits(value: dict[str, Any]) -> bool:
        if not all(name in value for name in required):
            return False
        for name, item in value.items():
            check = properties.get(name, other)
            if check is None or not check(item):
                return False
        return True

    return fits


def _problem(error: jsonschema.ValidationError) -> FieldProblem:
    path = ".".join(str(part) for part in error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [name for name in error.validator_value if name not in error.instance]
        name = ".".join(filter(None, [path, missing[0] if missing else ""]))
        return FieldProblem(name, "is required")
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        unknown = sorted(name for name in error.instance if name not in allowed)
        name = ".".join(filter(None, [path, unknown[0] if unknown else ""]))
        return FieldProblem(name, f"is not an argument of this tool (it takes: {', '.join(sorted(allowed))})")
    # jsonschema's own sentence names the offending value; a value can be long, so it is cut short.
    message = error.message if len(error.message) <= 200 else error.message[:197] + "..."
    return FieldProblem(path or "(arguments)", message)


# Input building blocks.

CODE = {"type": "string", "minLength": 1, "maxLength": 64, "description": "the voucher code, e.g. WELCOME10"}
AMOUNT = {"type": "integer", "minimum": 0, "description": "the order total in minor units (cents): 49.90 EUR is 4990"}
CURRENCY = {"type": "string", "pattern": "^[A-Z]{3}$", "description": "ISO 4217 code, e.g. EUR"}
ORDER_ID = {"type": "string", "maxLength": 128, "description": "the merchant's order id"}
CUSTOMER_ID = {
    "type": "string",
    "maxLength": 128,
    "description": "the merchant's customer id (needed for per-customer limits)",
}
REQUEST_ID = {
    "type": "string",
    "minLength": 1,
    "maxLength": 128,
    "description": "idempotency key: a retry with the same request_id returns the first result and changes nothing. "
    "Derive it from the order (e.g. 'redeem-order-1001'), never make a new one for a retry.",
}
PAGE_SIZE = {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "description": "items per page (default 50)"}
CURSOR = {"type": "string", "description": "next_cursor from the previous page; omit for the first page"}
ORDER = {"type": "string", "enum": ["oldest_first", "newest_first"], "description": "by creation time"}
REDEMPTION_ID = {"type": "string", "minLength": 1, "description": "a redemption id, as redeem_voucher returned it"}
ENDPOINT_ID = {"type": "string", "minLength": 1, "description": "a webhook endpoint id"}
CAMPAIGN_ID = {"type": "string", "minLength": 1, "description": "a campaign id, as create_campaign returned it"}
METADATA = {**STRING_MAP, "description": "string keys and values kept with the record"}
TIME_ARG = {"type": "string", "format": "date-time", "description": "RFC 3339, e.g. 2026-12-31T23:59:59Z"}

VOUCHER_FIELDS: Json = {
    "percent_off": {"type": "integer", "minimum": 1, "maximum": 100, "description": "percentage discount"},
    "amount_off": {"type": "integer", "minimum": 1, "description": "fixed discount in minor units of currency"},
    "currency": CURRENCY,
    "max_redemptions": {"type": "integer", "minimum": 1, "description": "how often it may be redeemed in total"},
    "per_customer_limit": {"type": "integer", "minimum": 1, "description": "how often one customer may redeem it"},
    "min_order_amount": {"type": "integer", "minimum": 0, "description": "smallest order total, minor units"},
    "valid_from": TIME_ARG,
    "valid_until": TIME_ARG,
    "metadata": METADATA,
}


def arguments_schema(properties: Json, required: tuple[str, ...] = ()) -> Json:
    """An input schema: only the named arguments, so a misspelt one is reported rather than ignored."""
    return {**obj(properties, required), "additionalProperties": False}


def page_of(items_key: str, item_schema: Json) -> Json:
    return obj({items_key: {"type": "array", "items": item_schema}, "next_cursor": OPTIONAL_STRING})


def _page_size(arguments: Arguments) -> int:
    return int(arguments.get("page_size", DEFAULT_PAGE_SIZE))


async def _first_page(pager: vauchflow.AsyncPager[Any]) -> Any:
    """One page of a list (the client's pager would walk them all)."""
    async for page in pager.pages():
        return page
    raise RuntimeError("a list call returned no page")


def _cursor(page: Any) -> str | None:
    return page.next_page_token or None


_ORDER_BY = {"oldest_first": "create_time", "newest_first": "create_time desc"}


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


# Redemptions


async def validate_voucher(client: vauchflow.AsyncClient, a: Arguments) -> Json:
    checked = await client.redemptions.validate(
        a["code"], amount=a["amount"], currency=a["currency"], order_id=a.get("order_id"),
        customer_id=a.get("customer_id"),
    )  # fmt: skip
    return {
        "valid": checked.valid,
        "reason": checked.reason or None,
        "discount_amount": checked.discount_amount,
        "voucher": voucher_view(checked.voucher) if checked.HasField("voucher") else None,
    }


async def redeem_voucher(client: vauchflow.AsyncClient, a: Arguments) -> Json:
    redeemed = await client.redemptions.redeem(
        a["code"], amount=a["amount"], currency=a["currency"], order_id=a.get("order_id"),
        customer_id=a.get("customer_id"), metadata=a.get("metadata"), request_id=a["request_id"],
    )  # fmt: skip
    return {"redemption": redemption_view(redeemed.redemption), "voucher": voucher_view(redeemed.voucher)}


async def rollback_redemption(client: vauchflow.AsyncClient, a: Arguments) -> Json:
    rolled_back = await client.redemptions.rollback(a["redemption_id"], reason=a.get("reason"))
    return {"redemption": redemption_view(rolled_back)}


async def get_redemption(client: vauchflow.AsyncClient, a: Arguments) -> Json:
    return {"redemption": redemption_view(await client.redemptions.get(a["redemption_id"]))}


async def list_redemptions(client: vauchflow.AsyncClient, a: Arguments) -> Json:
    request = redemption_service_pb2.ListRedemptionsRequest(page_size=_page_size(a), page_token=a.get("cursor", ""))
    pager = client.redemptions.list(
        request=request, voucher_code=a.get("voucher_code"), customer_id=a.get("customer_id"),
        status=a.get("status"), start_time=_time(a.get("start_time")), end_time=_time(a.get("end_time")),
        order_by=_ORDER_BY[a.get("order", "newest_first")], campaign_id=a.get("campaign_id"),
    )  # fmt: skip
    page = await _first_page(pager)
    return {"redemptions": [redemption_view(r) for r in page.redemptions], "next_cursor": _cursor(page)}


# Vouchers


async def get_voucher(client: vauchflow.AsyncClient, a: Arguments) -> Json:
    return {"voucher": voucher_view(await client.vouchers.get(a["code"]))}


async def list_vouchers(client: vauchflow.AsyncClient, a: Arguments) -> Json:
    request = voucher_service_pb2.ListVouchersRequest(page_size=_page_size(a), page_token=a.get("cursor", ""))
    # One pair at most: the input schema says so (maxProperties) and is checked before a tool runs.
    (key, value), *_ = list((a.get("metadata") or {}).items()) or [(None, None)]
    pager = client.vouchers.list(
        request=request, status=a.get("status"), code_prefix=a.get("code_prefix"), metadata_key=key,
        metadata_value=value, order_by=_ORDER_BY[a.get("order", "oldest_first")], campaign_id=a.get("campaign_id"),
    )  # fmt: skip
    page = await _first_page(pager)
    return {"vouchers": [voucher_view(v) for v in page.vouchers], "next_cursor": _cursor(page)}


def _voucher_changes(a: Arguments) -> dict[str, Any]:
    return {
        "percent_off": a.get("percent_off"),
        "amount_off": a.get("amount_off"),
        "currency": a.get("currency"),
        "max_redemptions": a.get("max_redemptions"),
        "per_customer_limit": a.get("per_customer_limit"),
        "min_order_amount": a.get("min_order_amount"),
        "valid_from": _time(a.get("valid_from")),
        "valid_until": _time(a.get("valid_until")),
        "metadata": a.get("metadata"),
    }


async def create_voucher(client: vauchflow.AsyncClient, a: Arguments) -> Json:
    created = await client.vouchers.create(
        a.get("code"), flash_sale=a.get("flash_sale"), request_id=a["request_id"], **_voucher_changes(a)
    )
    return {"voucher": voucher_view(created)}


async def update_voucher(client: vauchflow.AsyncClient, a: Arguments) -> Json:
    return {"voucher": voucher_view(await client.vouchers.update(a["code"], **_voucher_changes(a)))}


async def disable_voucher(client: vauchflow.AsyncClient, a: Arguments) -> Json:
    return {"voucher": voucher_view(await client.vouchers.disable(a["code"]))}


# Campaigns


async def create_campaign(client: vauchflow.AsyncClient, a: Arguments) -> Json:
    created = await client.campaigns.create(
        a["name"],
        percent_off=a.get("percent_off"),
        amount_off=a.get("amount_off"),
        currency=a.get("currency"),
        min_order_amount=a.get("min_order_amount"),
        code_redemption_limit=a.get("code_redemption_limit"),
        max_redemptions=a.get("max_redemptions"),
        per_customer_limit=a.get("per_customer_limit"),
        valid_from=_time(a.get("valid_from")),
        valid_until=_time(a.get("valid_until")),
        metadata=a.get("metadata"),
        request_id=a["request_id"],
    )
    return {"campaign": campaign_view(created)}


async def get_campaign(client: vauchflow.AsyncClient, a: Arguments) -> Json:
    return {"campaign": campaign_view(await client.campaigns.get(a["campaign_id"]))}


async def generate_campaign_codes(client: vauchflow.AsyncClient, a: Arguments) -> Json:
    operation = await client.campaigns.generate_codes(
        a["campaign_id"],
        a["count"],
        pattern=a.get("pattern"),
        charset=a.get("charset"),
        prefix=a.get("prefix"),
        suffix=a.get("suffix"),
        request_id=a["request_id"],
    )
    return {"operation": operation_view(operation)}


async def get_operation(client: vauchflow.AsyncClient, a: Arguments) -> Json:
    return {"operation": operation_view(await client.operations.get(a["name"]))}


# Webhooks


async def list_webhook_endpoints(client: vauchflow.AsyncClient, a: Arguments) -> Json:
    request = webhook_service_pb2.ListWebhookEndpointsRequest(page_size=_page_size(a), page_token=a.get("cursor", ""))
    page = await _first_page(client.webhook_endpoints.list(request=request))
    return {
        "webhook_endpoints": [webhook_endpoint_view(e) for e in page.webhook_endpoints],
        "next_cursor": _cursor(page),
    }


async def list_deliveries(client: vauchflow.AsyncClient, a: Arguments) -> Json:
    request = webhook_service_pb2.ListDeliveriesRequest(
        endpoint_id=a["endpoint_id"], page_size=_page_size(a), page_token=a.get("cursor", "")
    )
    page = await _first_page(client.webhook_endpoints.list_deliveries(a["endpoint_id"], request=request))
    return {"deliveries": [delivery_view(d) for d in page.deliveries], "next_cursor": _cursor(page)}


async def redeliver_event(client: vauchflow.AsyncClient, a: Arguments) -> Json:
    deliveries = await client.events.redeliver(a["event_id"], endpoint_id=a.get("endpoint_id"))
    return {"deliveries": [delivery_view(d) for d in deliveries]}


async def send_test_event(client: vauchflow.AsyncClient, a: Arguments) -> Json:
    return {"event": event_view(await client.webhook_endpoints.send_test_event(a["endpoint_id"]))}


ORDER_ARGUMENTS: Json = {
    "code": CODE,
    "amount": AMOUNT,
    "currency": CURRENCY,
    "order_id": ORDER_ID,
    "customer_id": CUSTOMER_ID,
}

TOOLS: tuple[Tool, ...] = (
    Tool(
        name="validate_voucher",
        title="Check a voucher for an order",
        description="Would this voucher apply to this order now, and for how much? No side effects: nothing is "
        "redeemed. Call it before redeem_voucher; when valid is false, reason says why (VOUCHER_EXPIRED, "
        "ORDER_BELOW_MINIMUM, ...).",
        permission="redemptions:read",
        input_schema=arguments_schema(ORDER_ARGUMENTS, ("code", "amount", "currency")),
        output_schema=obj(
            {
                "valid": BOOLEAN,
                "reason": OPTIONAL_STRING,
                "discount_amount": INTEGER,
                "voucher": {"anyOf": [VOUCHER_SCHEMA, {"type": "null"}]},
            }
        ),
        read_only=True,
        destructive=False,
        idempotent=True,
        run=validate_voucher,
    ),
    Tool(
        name="redeem_voucher",
        title="Redeem a voucher for an order",
        description="Uses the voucher once for the order and returns the redemption and its discount. Safe to "
        "retry: the same request_id returns the same redemption and never redeems twice. A refusal (isError) "
        "carries a reason: VOUCHER_EXHAUSTED, VOUCHER_EXPIRED, CUSTOMER_LIMIT_REACHED, ORDER_BELOW_MINIMUM, ...",
        permission="redemptions:write",
        input_schema=arguments_schema(
            {**ORDER_ARGUMENTS, "metadata": METADATA, "request_id": REQUEST_ID},
            ("code", "amount", "currency", "request_id"),
        ),
        output_schema=obj({"redemption": REDEMPTION_SCHEMA, "voucher": VOUCHER_SCHEMA}),
        read_only=False,
        destructive=False,
        idempotent=True,
        run=redeem_voucher,
    ),
    Tool(
        name="rollback_redemption",
        title="Give a redemption back",
        description="Rolls a redemption back (the order was cancelled or refunded): the voucher can be used again. "
        "Happens at most once; a second rollback is refused with REDEMPTION_ALREADY_ROLLED_BACK.",
        permission="redemptions:write",
        input_schema=arguments_schema(
            {"redemption_id": REDEMPTION_ID, "reason": {"type": "string", "maxLength": 500}}, ("redemption_id",)
        ),
        output_schema=obj({"redemption": REDEMPTION_SCHEMA}),
        read_only=False,
        destructive=True,
        idempotent=False,
        run=rollback_redemption,
    ),
    Tool(
        name="get_redemption",
        title="Look up a redemption",
        description="One redemption by id: its order, discount and status (SUCCEEDED or ROLLED_BACK).",
        permission="redemptions:read",
        input_schema=arguments_schema({"redemption_id": REDEMPTION_ID}, ("redemption_id",)),
        output_schema=obj({"redemption": REDEMPTION_SCHEMA}),
        read_only=True,
        destructive=False,
        idempotent=True,
        run=get_redemption,
    ),
    Tool(
        name="list_redemptions",
        title="List redemptions",
        description="Redemptions, newest first unless order says otherwise, one page at a time; every filter "
        "given must match (voucher_code, customer_id, status, created in [start_time, end_time), campaign_id). "
        "Pass next_cursor back as cursor, with the same filters, for the next page; it is null on the last page.",
        permission="redemptions:read",
        input_schema=arguments_schema(
            {
                "voucher_code": CODE,
                "customer_id": CUSTOMER_ID,
                "status": {"type": "string", "enum": ["SUCCEEDED", "ROLLED_BACK"]},
                "start_time": {**TIME_ARG, "description": "only redemptions made at or after this (RFC 3339)"},
                "end_time": {**TIME_ARG, "description": "only redemptions made before this (RFC 3339)"},
                "campaign_id": CAMPAIGN_ID,
                "order": {**ORDER, "default": "newest_first"},
                "page_size": PAGE_SIZE,
                "cursor": CURSOR,
            }
        ),
        output_schema=page_of("redemptions", REDEMPTION_SCHEMA),
        read_only=True,
        destructive=False,
        idempotent=True,
        run=list_redemptions,
    ),
    Tool(
        name="get_voucher",
        title="Look up a voucher",
        description="One voucher by code: its discount, limits, validity window, status and how often it was used.",
        permission="vouchers:read",
        input_schema=arguments_schema({"code": CODE}, ("code",)),
        output_schema=obj({"voucher": VOUCHER_SCHEMA}),
        read_only=True,
        destructive=False,
        idempotent=True,
        run=get_voucher,
    ),
    Tool(
        name="list_vouchers",
        title="List vouchers",
        description="The tenant's vouchers, oldest first unless order says otherwise, one page at a time; every "
        "filter given must match (status, code_prefix, one metadata key with its value, campaign_id). Pass "
        "next_cursor back as cursor, with the same filters, for the next page; it is null on the last page.",
        permission="vouchers:read",
        input_schema=arguments_schema(
            {
                "status": {"type": "string", "enum": ["ACTIVE", "DISABLED"]},
                "code_prefix": {
                    "type": "string",
                    "maxLength": 64,
                    "description": "codes starting with this, case-insensitive, e.g. SUMMER",
                },
                "metadata": {
                    **STRING_MAP,
                    "maxProperties": 1,
                    "description": "one metadata key and the exact value it must hold",
                },
                "campaign_id": CAMPAIGN_ID,
                "order": {**ORDER, "default": "oldest_first"},
                "page_size": PAGE_SIZE,
                "cursor": CURSOR,
            }
        ),
        output_schema=page_of("vouchers", VOUCHER_SCHEMA),
        read_only=True,
        destructive=False,
        idempotent=True,
        run=list_vouchers,
    ),
    Tool(
        name="create_voucher",
        title="Create a voucher",
        description="Creates a voucher with either percent_off or amount_off (amounts in minor units of currency). "
        "A code is generated when none is given. Safe to retry with the same request_id: the first voucher is "
        "returned and no second one is made.",
        permission="vouchers:write",
        input_schema=arguments_schema(
            {"code": CODE, **VOUCHER_FIELDS, "flash_sale": BOOLEAN, "request_id": REQUEST_ID}, ("request_id",)
        ),
        output_schema=obj({"voucher": VOUCHER_SCHEMA}),
        read_only=False,
        destructive=False,
        idempotent=True,
        run=create_voucher,
    ),
    Tool(
        name="update_voucher",
        title="Change a voucher",
        description="Changes exactly the fields given (the others stay as they are) and returns the voucher.",
        permission="vouchers:write",
        input_schema=arguments_schema({"code": CODE, **VOUCHER_FIELDS}, ("code",)),
        output_schema=obj({"voucher": VOUCHER_SCHEMA}),
        read_only=False,
        destructive=True,
        idempotent=True,
        run=update_voucher,
    ),
    Tool(
        name="disable_voucher",
        title="Disable a voucher",
        description="Stops the voucher from being redeemed (redemptions made so far stay). Further redeems are "
        "refused with VOUCHER_DISABLED.",
        permission="vouchers:write",
        input_schema=arguments_schema({"code": CODE}, ("code",)),
        output_schema=obj({"voucher": VOUCHER_SCHEMA}),
        read_only=False,
        destructive=True,
        idempotent=True,
        run=disable_voucher,
    ),
    Tool(
        name="create_campaign",
        title="Create a campaign",
        description="Creates a campaign: the terms its codes inherit (percent_off or amount_off; each code "
        "single-use unless code_redemption_limit says otherwise), optionally max_redemptions across all its codes "
        "and per_customer_limit across them. Then generate its codes with generate_campaign_codes. Safe to retry "
        "with the same request_id.",
        permission="vouchers:write",
        input_schema=arguments_schema(
            {
                "name": {"type": "string", "minLength": 1, "maxLength": 200},
                **VOUCHER_FIELDS,
                "code_redemption_limit": {"type": "integer", "minimum": 1, "description": "uses per code (1)"},
                "request_id": REQUEST_ID,
            },
            ("name", "request_id"),
        ),
        output_schema=obj({"campaign": CAMPAIGN_SCHEMA}),
        read_only=False,
        destructive=False,
        idempotent=True,
        run=create_campaign,
    ),
    Tool(
        name="get_campaign",
        title="Look up a campaign",
        description="One campaign by id: its terms, limits, status, and how many codes it has and how often they "
        "were redeemed.",
        permission="vouchers:read",
        input_schema=arguments_schema({"campaign_id": CAMPAIGN_ID}, ("campaign_id",)),
        output_schema=obj({"campaign": CAMPAIGN_SCHEMA}),
        read_only=True,
        destructive=False,
        idempotent=True,
        run=get_campaign,
    ),
    Tool(
        name="generate_campaign_codes",
        title="Generate a campaign's codes",
        description="Starts generating count codes (up to 1,000,000) into a campaign from prefix + pattern + suffix, "
        "where '#' is a digit and '?' a character of charset (default pattern '????-????'). The pattern must allow "
        "ten times count codes. Returns an operation at once: poll get_operation until done. Safe to retry with the "
        "same request_id.",
        permission="vouchers:write",
        input_schema=arguments_schema(
            {
                "campaign_id": CAMPAIGN_ID,
                "count": {"type": "integer", "minimum": 1, "maximum": 1_000_000},
                "pattern": {"type": "string", "maxLength": 64, "description": "e.g. SUMMER-####-????"},
                "charset": {"type": "string", "maxLength": 36, "description": "characters '?' draws from"},
                "prefix": {"type": "string", "maxLength": 64},
                "suffix": {"type": "string", "maxLength": 64},
                "request_id": REQUEST_ID,
            },
            ("campaign_id", "count", "request_id"),
        ),
        output_schema=obj({"operation": OPERATION_SCHEMA}),
        read_only=False,
        destructive=False,
        idempotent=True,
        run=generate_campaign_codes,
    ),
    Tool(
        name="get_operation",
        title="Check a code generation",
        description="A code generation's progress (generated_count of requested_count); done is true when it "
        "ended, with error set when it ended without its result (cancelled, or its server stopped).",
        permission="vouchers:read",
        input_schema=arguments_schema(
            {"name": {"type": "string", "minLength": 1, "description": "operations/{id}, as returned"}}, ("name",)
        ),
        output_schema=obj({"operation": OPERATION_SCHEMA}),
        read_only=True,
        destructive=False,
        idempotent=True,
        run=get_operation,
    ),
    Tool(
        name="list_webhook_endpoints",
        title="List webhook endpoints",
        description="The tenant's webhook endpoints (URL, event types, enabled or why disabled), one page at a time.",
        permission="webhooks:read",
        input_schema=arguments_schema({"page_size": PAGE_SIZE, "cursor": CURSOR}),
        output_schema=page_of("webhook_endpoints", WEBHOOK_ENDPOINT_SCHEMA),
        read_only=True,
        destructive=False,
        idempotent=True,
        run=list_webhook_endpoints,
    ),
    Tool(
        name="list_deliveries",
        title="List webhook deliveries",
        description="Deliveries to one webhook endpoint, newest first, with every attempt's HTTP status and "
        "latency: use it to see why a merchant system missed an event.",
        permission="webhooks:read",
        input_schema=arguments_schema(
            {"endpoint_id": ENDPOINT_ID, "page_size": PAGE_SIZE, "cursor": CURSOR}, ("endpoint_id",)
        ),
        output_schema=page_of("deliveries", DELIVERY_SCHEMA),
        read_only=True,
        destructive=False,
        idempotent=True,
        run=list_deliveries,
    ),
    Tool(
        name="redeliver_event",
        title="Deliver an event again",
        description="Queues an event again for one endpoint (every matching enabled endpoint when endpoint_id is "
        "omitted). Each call queues another delivery.",
        permission="webhooks:write",
        input_schema=arguments_schema(
            {"event_id": {"type": "string", "minLength": 1}, "endpoint_id": ENDPOINT_ID}, ("event_id",)
        ),
        output_schema=obj({"deliveries": {"type": "array", "items": DELIVERY_SCHEMA}}),
        read_only=False,
        destructive=False,
        idempotent=False,
        run=redeliver_event,
    ),
    Tool(
        name="send_test_event",
        title="Send a test webhook",
        description="Sends a webhook.test event to one endpoint only, to check that the merchant's receiver works.",
        permission="webhooks:write",
        input_schema=arguments_schema({"endpoint_id": ENDPOINT_ID}, ("endpoint_id",)),
        output_schema=obj({"event": EVENT_SCHEMA}),
        read_only=False,
        destructive=False,
        idempotent=False,
        run=send_test_event,
    ),
)

TOOLS_BY_NAME: Mapping[str, Tool] = {tool.name: tool for tool in TOOLS}
# Built once: tools/list runs on every agent's every session.
_DESCRIPTORS: tuple[tuple[str, types.Tool], ...] = tuple((tool.permission, tool.descriptor()) for tool in TOOLS)


def tools_for(permissions: frozenset[str]) -> list[types.Tool]:
    """The descriptors of the tools a key with these permissions may call."""
    return [descriptor for permission, descriptor in _DESCRIPTORS if permission in permissions]
