"""The MCP server proper, on the official SDK's low-level `Server`: tools (tools.py), resources (each voucher as
`vauchflow://vouchers/{code}`, and the API reference), one prompt, and metrics for every MCP call.

Handlers find the caller (client and permissions) that the HTTP boundary authenticated on the request; they keep
no state between requests, so any replica answers any call.
"""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path
from typing import Any

import mcp_types as types
from mcp.server import Server, ServerRequestContext
from mcp.server.context import CallNext, HandlerResult
from mcp.shared.exceptions import MCPError

import vauchflow
from vauchflow.v1 import voucher_service_pb2
from vauchflow_web.mcp import refusals
from vauchflow_web.mcp.caller import Caller, caller_of
from vauchflow_web.mcp.tools import TOOLS_BY_NAME, tools_for
from vauchflow_web.mcp.views import voucher_view
from vauchflow_web.metrics import WebMetrics

log = logging.getLogger(__name__)

SERVER_NAME = "vauchflow"
API_REFERENCE_URI = "vauchflow://docs/api"
VOUCHER_URI_TEMPLATE = "vauchflow://vouchers/{code}"
_VOUCHER_URI = re.compile(r"^vauchflow://vouchers/(?P<code>[^/?#]{1,64})$")
# JSON-RPC error code the MCP specification gives an unknown resource.
RESOURCE_NOT_FOUND = -32002
VOUCHERS_PER_RESOURCE_PAGE = 100
# docs/api.md of this repository; an installation without it serves no API reference resource.
DEFAULT_API_REFERENCE = Path(__file__).resolve().parents[3] / "docs" / "api.md"

PROMPT_NAME = "check_voucher_for_order"

INSTRUCTIONS = (
    "Vauchflow validates and redeems vouchers (coupon codes) for a merchant's orders. Amounts are integers in "
    "minor units (cents). Before redeeming, call validate_voucher; redeem_voucher needs a request_id derived "
    "from the order, and a retry with the same request_id never redeems twice. A refused call returns isError "
    "with a reason (VOUCHER_EXHAUSTED, VOUCHER_EXPIRED, CUSTOMER_LIMIT_REACHED, ...) and a next step. "
    + refusals.REFUSAL_SCHEMA_NOTE
)

# Bounded metric label values: anything else is counted as "other".
_METHODS = frozenset(
    {
        "initialize",
        "ping",
        "server/discover",
        "tools/list",
        "tools/call",
        "resources/list",
        "resources/templates/list",
        "resources/read",
        "prompts/list",
        "prompts/get",
    }
)


class McpCallMetrics:
    """Server middleware: counts every MCP request by method, tool and outcome, and times it by method."""

    def __init__(self, metrics: WebMetrics):
        self._metrics = metrics

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.request_id is None:  # a notification: nothing to answer, nothing to count
            return await call_next(ctx)
        method = ctx.method if ctx.method in _METHODS else "other"
        tool = ""
        if method == "tools/call":
            name = (ctx.params or {}).get("name")
            tool = name if isinstance(name, str) and name in TOOLS_BY_NAME else "unknown"
        started = time.perf_counter()
        outcome, reason = "error", ""
        try:
            result = await call_next(ctx)
            outcome = "ok"
            if isinstance(result, dict) and result.get("isError"):
                outcome = "tool_error"
                error = (result.get("structuredContent") or {}).get("error") or {}
                reason = str(error.get("reason", ""))
            return result
        except MCPError as failure:
            outcome, reason = "protocol_error", str(failure.error.code)
            raise
        finally:
            self._metrics.mcp_duration.labels(method).observe(time.perf_counter() - started)
            self._metrics.mcp_calls.labels(method, tool, outcome, reason).inc()


def _caller(ctx: ServerRequestContext[Any, Any]) -> Caller:
    return caller_of(ctx.request)


async def _list_tools(
    ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
) -> types.ListToolsResult:
    return types.ListToolsResult(tools=tools_for(_caller(ctx).permissions))


async def _call_tool(ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams) -> types.CallToolResult:
    tool = TOOLS_BY_NAME.get(params.name)
    if tool is None:
        # The specification's answer to an unknown tool is a protocol error, not a tool result.
        raise MCPError(code=types.INVALID_PARAMS, message=f"Unknown tool: {params.name[:100]}")
    caller = _caller(ctx)
    arguments = params.arguments or {}
    problems = tool.problems(arguments)
    if problems:
        return refusals.invalid_arguments(problems, caller.request_id)
    try:
        structured = await tool.run(caller.client, arguments)
    except vauchflow.VauchflowError as error:
        caller.verdict.record(error)
        return refusals.refusal(error)
    caller.verdict.record(None)
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=refusals.as_text(structured))],
        structured_content=structured,
    )


class Resources:
    """The API reference (a file read once) and every voucher the key may read."""

    def __init__(self, api_reference: str | None):
        self._api_reference = api_reference

    def _reference_resource(self) -> list[types.Resource]:
        if self._api_reference is None:
            return []
        return [
            types.Resource(
                uri=API_REFERENCE_URI,
                name="api-reference",
                title="Vauchflow API reference",
                description="Every RPC and REST route, its permission, errors and reasons.",
                mime_type="text/markdown",
            )
        ]

    async def list(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        caller = _caller(ctx)
        cursor = params.cursor if params is not None else None
        resources = [] if cursor else self._reference_resource()
        if "vouchers:read" not in caller.permissions:
            return types.ListResourcesResult(resources=resources)
        # The resource list pages with the voucher list: its cursor is the API's page token.
        request = voucher_service_pb2.ListVouchersRequest(page_size=VOUCHERS_PER_RESOURCE_PAGE, page_token=cursor or "")
        try:
            async for page in caller.client.vouchers.list(request=request).pages():
                resources.extend(_voucher_resource(voucher.code) for voucher in page.vouchers)
                return types.ListResourcesResult(resources=resources, next_cursor=page.next_page_token or None)
        except vauchflow.VauchflowError as error:
            raise _resource_error(error) from None
        return types.ListResourcesResult(resources=resources)

    async def templates(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(
            resource_templates=[
                types.ResourceTemplate(
                    uri_template=VOUCHER_URI_TEMPLATE,
                    name="voucher",
                    title="A voucher",
                    description="One voucher by code, as JSON (needs vouchers:read).",
                    mime_type="application/json",
                )
            ]
        )

    async def read(
        self, ctx: ServerRequestContext[Any, Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        uri = str(params.uri)
        if uri == API_REFERENCE_URI and self._api_reference is not None:
            _caller(ctx)  # authenticated like everything else
            return types.ReadResourceResult(
                contents=[types.TextResourceContents(uri=uri, mime_type="text/markdown", text=self._api_reference)]
            )
        match = _VOUCHER_URI.match(uri)
        if match is None:
            raise MCPError(code=RESOURCE_NOT_FOUND, message="Resource not found", data={"uri": uri[:200]})
        try:
            voucher = await _caller(ctx).client.vouchers.get(match["code"])
        except vauchflow.VauchflowError as error:
            raise _resource_error(error) from None
        text = json.dumps(voucher_view(voucher), separators=(",", ":"), ensure_ascii=False)
        return types.ReadResourceResult(
            contents=[types.TextResourceContents(uri=uri, mime_type="application/json", text=text)]
        )


def _voucher_resource(code: str) -> types.Resource:
    return types.Resource(
        uri=VOUCHER_URI_TEMPLATE.format(code=code), name=code, title=f"Voucher {code}", mime_type="application/json"
    )


def _resource_error(error: vauchflow.VauchflowError) -> MCPError:
    """A refused resource read: not found is the specification's -32002; the rest carry the API's reason too."""
    reason = refusals.reason_of(error)
    code = RESOURCE_NOT_FOUND if error.grpc_code.name == "NOT_FOUND" else types.INVALID_REQUEST
    data = {"reason": reason, "next_step": refusals.NEXT_STEP.get(reason, ""), "request_id": error.request_id}
    return MCPError(code=code, message=f"{reason}: {refusals.NEXT_STEP.get(reason, 'refused')}", data=data)


_PROMPT = types.Prompt(
    name=PROMPT_NAME,
    title="Check a voucher for an order, then redeem it",
    description="Walks through validating a customer's voucher code for an order before redeeming it exactly once.",
    arguments=[
        types.PromptArgument(name="code", description="the voucher code the customer entered", required=True),
        types.PromptArgument(name="order_id", description="the merchant's order id", required=True),
        types.PromptArgument(name="amount", description="order total in minor units, e.g. 4990", required=True),
        types.PromptArgument(name="currency", description="ISO 4217, e.g. EUR", required=True),
        types.PromptArgument(name="customer_id", description="the customer's id, if known", required=False),
    ],
)


async def _list_prompts(
    ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
) -> types.ListPromptsResult:
    return types.ListPromptsResult(prompts=[_PROMPT])


async def _get_prompt(
    ctx: ServerRequestContext[Any, Any], params: types.GetPromptRequestParams
) -> types.GetPromptResult:
    if params.name != PROMPT_NAME:
        raise MCPError(code=types.INVALID_PARAMS, message=f"Unknown prompt: {params.name[:100]}")
    arguments = params.arguments or {}
    missing = [a.name for a in _PROMPT.arguments or () if a.required and not arguments.get(a.name)]
    if missing:
        raise MCPError(code=types.INVALID_PARAMS, message=f"Missing prompt arguments: {', '.join(missing)}")
    code, order_id = arguments["code"], arguments["order_id"]
    amount, currency = arguments["amount"], arguments["currency"]
    customer = arguments.get("customer_id")
    customer_part = f', "customer_id": "{customer}"' if customer else ""
    order = f'"code": "{code}", "amount": {amount}, "currency": "{currency}", "order_id": "{order_id}"{customer_part}'
    text = f"""A customer entered the voucher code {code} for order {order_id} ({amount} minor units of {currency}).
Apply it correctly, and at most once:

1. Call validate_voucher with {{{order}}}. It changes nothing.
2. If valid is false, stop: tell the customer why, using reason (for example VOUCHER_EXPIRED, ORDER_BELOW_MINIMUM,
   CURRENCY_MISMATCH, CUSTOMER_LIMIT_REACHED) in plain words. Do not redeem.
3. If valid is true, tell the customer the discount (discount_amount, in minor units) and, once the order is
   confirmed, call redeem_voucher with {{{order}, "request_id": "redeem-{order_id}"}}.
   The request_id belongs to this order: if the call fails or times out, call again with the same request_id;
   it returns the same redemption and never redeems twice.
4. The voucher can still run out between the check and the redemption: if redeem_voucher is refused with
   VOUCHER_EXHAUSTED (or any other reason), do not apply the discount; tell the customer what the reason means.
5. Keep the redemption id. If the order is later cancelled, call rollback_redemption with it, once."""
    return types.GetPromptResult(
        description=f"Check voucher {code} for order {order_id}, then redeem it once",
        messages=[types.PromptMessage(role="user", content=types.TextContent(type="text", text=text))],
    )


def load_api_reference(path: Path = DEFAULT_API_REFERENCE) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        log.warning("no API reference to serve", extra={"action": "mcp_api_reference_missing", "path": str(path)})
        return None


def _input_schema(name: str) -> dict[str, Any] | None:
    tool = TOOLS_BY_NAME.get(name)
    return tool.input_schema if tool is not None else None


def build_server(metrics: WebMetrics, api_reference: str | None) -> Server[Any]:
    resources = Resources(api_reference)
    server: Server[Any] = Server(
        SERVER_NAME,
        version=vauchflow.__version__,
        title="Vauchflow",
        description="Validate, redeem and manage vouchers through the Vauchflow API.",
        instructions=INSTRUCTIONS,
        # The 2026-07-28 transport checks Mcp-Param-* headers against the called tool's schema: from the table,
        # rather than by running tools/list for every call.
        get_tool_input_schema=_input_schema,
        on_list_tools=_list_tools,
        on_call_tool=_call_tool,
        on_list_resources=resources.list,
        on_list_resource_templates=resources.templates,
        on_read_resource=resources.read,
        on_list_prompts=_list_prompts,
        on_get_prompt=_get_prompt,
    )
    server.middleware.insert(0, McpCallMetrics(metrics))
    return server
