"""The tenant's pages: overview, vouchers, redemptions, webhooks, events and API keys.

Each handler calls the API with the signed-in key and renders a template. Write actions are offered only when the
key holds the permission, and the API refuses them anyway when it does not. A page that shows a secret (a new API
key, a webhook signing secret) is the answer to the POST that made it, never a URL to come back to.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

import vauchflow
from vauchflow_core import permissions
from vauchflow_web.dashboard.page_guard import Caller
from vauchflow_web.dashboard.rendering import FORM_NEEDS_ATTENTION, Renderer
from vauchflow_web.dashboard.voucher_form import metadata_text, read_voucher_form, violations_to_errors

# A list page holds 100 rows (the `dashboard_list_100` row of `make bench` times exactly this page).
PAGE_SIZE = 100
# The statuses the API filters on; a row still says "exhausted" or "expired" when that is what it is.
VOUCHER_STATUSES = ("active", "disabled")
REDEMPTION_STATUSES = ("succeeded", "rolled_back")


def _see(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def _client(caller: Caller) -> vauchflow.AsyncClient:
    assert caller.client is not None  # tenant pages always have one
    return caller.client


async def _first_page(pager: Any) -> Any:
    async for page in pager.pages():
        return page
    return None


class TenantPages:
    def __init__(self, renderer: Renderer) -> None:
        self._render = renderer

    # Overview

    async def overview(self, request: Request, caller: Caller) -> Response:
        """Every figure from GetUsageSummary (one call); a key without redemptions:read sees its plan only."""
        summary = None
        hours: list[dict[str, Any]] = []
        if caller.can(permissions.REDEMPTIONS_READ):
            summary = await _client(caller).redemptions.usage_summary()
            top = max((h.redemptions for h in summary.hours), default=0) or 1
            for hour in summary.hours:
                start = hour.start_time.ToDatetime(tzinfo=UTC)
                hours.append(
                    {
                        "label": start.strftime("%H:00"),
                        "count": hour.redemptions,
                        "rollbacks": hour.rollbacks,
                        "refusals": hour.refusals,
                        "height": round(100 * hour.redemptions / top),
                    }
                )
        context = {"title": "Overview", "summary": summary, "hours": hours, "whoami": caller.whoami}
        return self._render.page(request, caller, "overview.html", context)

    # Vouchers

    async def vouchers(self, request: Request, caller: Caller) -> Response:
        """Search and status filter run in the API (ListVouchers' code_prefix and status); the next page's link
        carries them, as its token only continues the list it came from."""
        prefix = request.query_params.get("q", "").strip()
        status = request.query_params.get("status", "")
        status = status if status in VOUCHER_STATUSES else ""
        token = request.query_params.get("page_token", "")
        list_request = vauchflow.v1.voucher_service_pb2.ListVouchersRequest(page_size=PAGE_SIZE, page_token=token)
        problem = ""
        try:
            page = await _first_page(
                _client(caller).vouchers.list(request=list_request, code_prefix=prefix or None, status=status or None)
            )
        except vauchflow.InvalidRequestError as error:
            page, problem = None, _problem_text(error)
        context = {
            "title": "Vouchers",
            "vouchers": list(page.vouchers) if page else [],
            "q": prefix,
            "status": status,
            "statuses": VOUCHER_STATUSES,
            "problem": problem,
            "next_page_token": page.next_page_token if page else "",
            "status_of": _voucher_status,
        }
        return self._render.page(request, caller, "vouchers.html", context)

    async def new_voucher(self, request: Request, caller: Caller) -> Response:
        form = read_voucher_form({"currency": "EUR", "discount_kind": "percent_off"}, creating=False)
        return self._render.page(request, caller, "voucher_form.html", {"title": "New voucher", "form": form})

    async def create_voucher(self, request: Request, caller: Caller) -> Response:
        form = read_voucher_form(await request.form(), creating=True)
        if form.valid:
            try:
                voucher = await _client(caller).vouchers.create(**form.arguments)
            except vauchflow.InvalidRequestError as error:
                form.errors.update(violations_to_errors(error.field_violations) or {"": error.message})
            except vauchflow.VoucherCodeTaken:
                form.errors["code"] = "A voucher with this code exists already."
            except vauchflow.QuotaExceededError as error:
                form.errors[""] = error.message
            else:
                return _see(f"/vouchers/{quote(voucher.code, safe='')}")
        context = {"title": "New voucher", "form": form}
        return self._render.page(request, caller, "voucher_form.html", context, status_code=FORM_NEEDS_ATTENTION)

    async def voucher(self, request: Request, caller: Caller) -> Response:
        code = request.path_params["code"]
        client = _client(caller)
        voucher = await client.vouchers.get(code)
        redemptions: list[Any] = []
        if caller.can(permissions.REDEMPTIONS_READ):
            page = await _first_page(client.redemptions.list(voucher_code=code, page_size=PAGE_SIZE))
            redemptions = list(page.redemptions) if page else []
        context = {
            "title": f"Voucher {voucher.code}",
            "voucher": voucher,
            "status": _voucher_status(voucher),
            "redemptions": redemptions,
        }
        return self._render.page(request, caller, "voucher.html", context)

    async def edit_voucher(self, request: Request, caller: Caller) -> Response:
        voucher = await _client(caller).vouchers.get(request.path_params["code"])
        form = read_voucher_form(_voucher_values(voucher), creating=False)
        context = {"title": f"Edit {voucher.code}", "form": form, "voucher": voucher}
        return self._render.page(request, caller, "voucher_form.html", context)

    async def update_voucher(self, request: Request, caller: Caller) -> Response:
        code = request.path_params["code"]
        client = _client(caller)
        form = read_voucher_form(await request.form(), creating=False)
        if form.valid:
            try:
                await client.vouchers.update(code, **form.arguments)
            except vauchflow.InvalidRequestError as error:
                form.errors.update(violations_to_errors(error.field_violations) or {"": error.message})
            else:
                return _see(f"/vouchers/{quote(code, safe='')}")
        voucher = await client.vouchers.get(code)
        context = {"title": f"Edit {voucher.code}", "form": form, "voucher": voucher}
        return self._render.page(request, caller, "voucher_form.html", context, status_code=FORM_NEEDS_ATTENTION)

    async def disable_voucher(self, request: Request, caller: Caller) -> Response:
        code = request.path_params["code"]
        await _client(caller).vouchers.disable(code)
        return _see(f"/vouchers/{quote(code, safe='')}")

    # Redemptions

    async def redemptions(self, request: Request, caller: Caller) -> Response:
        """Filters by voucher, customer, status and day range, all run in the API; newest first."""
        query = request.query_params
        filters = {
            name: query.get(name, "").strip() for name in ("voucher_code", "customer_id", "status", "from", "to")
        }
        if filters["status"] not in REDEMPTION_STATUSES:
            filters["status"] = ""
        token = query.get("page_token", "")
        list_request = vauchflow.v1.redemption_service_pb2.ListRedemptionsRequest(page_size=PAGE_SIZE, page_token=token)
        problem = ""
        page = None
        try:
            start, end = _day(filters["from"], "from"), _day(filters["to"], "to")
            page = await _first_page(
                _client(caller).redemptions.list(
                    request=list_request,
                    voucher_code=filters["voucher_code"] or None,
                    customer_id=filters["customer_id"] or None,
                    status=filters["status"] or None,
                    start_time=start,
                    end_time=end + timedelta(days=1) if end else None,
                    order_by="create_time desc",
                )
            )
        except ValueError as error:
            problem = str(error)
        except vauchflow.InvalidRequestError as error:
            problem = _problem_text(error)
        except vauchflow.NotFoundError:
            problem = f"No voucher with the code {filters['voucher_code']}."
        context = {
            "title": "Redemptions",
            "redemptions": list(page.redemptions) if page else [],
            "filters": filters,
            "voucher_code": filters["voucher_code"],
            "statuses": REDEMPTION_STATUSES,
            "problem": problem,
            "next_page_token": page.next_page_token if page else "",
            "filter_query": urlencode({k: v for k, v in filters.items() if v}),
        }
        return self._render.page(request, caller, "redemptions.html", context)

    async def confirm_rollback(self, request: Request, caller: Caller) -> Response:
        redemption = await _client(caller).redemptions.get(request.path_params["redemption_id"])
        context = {"title": "Roll back redemption", "redemption": redemption}
        return self._render.page(request, caller, "rollback.html", context)

    async def rollback(self, request: Request, caller: Caller) -> Response:
        form = await request.form()
        reason = str(form.get("reason", "")).strip() or "rolled back in the dashboard"
        redemption = await _client(caller).redemptions.rollback(request.path_params["redemption_id"], reason=reason)
        return _see(f"/vouchers/{quote(redemption.voucher_code, safe='')}")

    # Webhooks

    async def webhooks(self, request: Request, caller: Caller) -> Response:
        page = await _first_page(_client(caller).webhook_endpoints.list(page_size=PAGE_SIZE))
        context = {"title": "Webhooks", "endpoints": list(page.webhook_endpoints) if page else []}
        return self._render.page(request, caller, "webhooks.html", context)

    async def create_endpoint(self, request: Request, caller: Caller) -> Response:
        form = await request.form()
        url = str(form.get("url", "")).strip()
        description = str(form.get("description", "")).strip()
        try:
            created = await _client(caller).webhook_endpoints.create(url, description=description or None)
        except vauchflow.InvalidRequestError as error:
            errors = {v.field: v.description for v in error.field_violations} or {"": error.message}
            page = await _first_page(_client(caller).webhook_endpoints.list(page_size=PAGE_SIZE))
            context = {
                "title": "Webhooks",
                "endpoints": list(page.webhook_endpoints) if page else [],
                "errors": errors,
                "url": url,
                "description": description,
            }
            return self._render.page(request, caller, "webhooks.html", context, status_code=FORM_NEEDS_ATTENTION)
        shown: dict[str, Any] = {
            "title": "Signing secret",
            "endpoint": created.webhook_endpoint,
            "secret": created.secret,
        }
        return self._render.page(request, caller, "endpoint_secret.html", shown)

    async def endpoint(self, request: Request, caller: Caller) -> Response:
        client = _client(caller)
        endpoint = await client.webhook_endpoints.get(request.path_params["endpoint_id"])
        page = await _first_page(client.webhook_endpoints.list_deliveries(endpoint.id, page_size=PAGE_SIZE))
        now = datetime.now(UTC).replace(microsecond=0)
        context = {
            "title": "Webhook endpoint",
            "endpoint": endpoint,
            "deliveries": list(page.deliveries) if page else [],
            "recover_from": (now - timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M"),
            "recover_until": now.strftime("%Y-%m-%dT%H:%M"),
            "requeued": request.query_params.get("requeued"),
        }
        return self._render.page(request, caller, "endpoint.html", context)

    async def update_endpoint(self, request: Request, caller: Caller) -> Response:
        endpoint_id = request.path_params["endpoint_id"]
        form = await request.form()
        changes: dict[str, Any] = {}
        if "url" in form:
            changes["url"] = str(form["url"]).strip()
            changes["description"] = str(form.get("description", "")).strip()
        if "enabled" in form:
            changes["enabled"] = form["enabled"] == "true"
        await _client(caller).webhook_endpoints.update(endpoint_id, **changes)
        return _see(f"/webhooks/{quote(endpoint_id, safe='')}")

    async def rotate_secret(self, request: Request, caller: Caller) -> Response:
        client = _client(caller)
        rotated = await client.webhook_endpoints.rotate_secret(request.path_params["endpoint_id"])
        endpoint = await client.webhook_endpoints.get(request.path_params["endpoint_id"])
        context = {"title": "Signing secret", "endpoint": endpoint, "secret": rotated.secret, "rotated": True}
        return self._render.page(request, caller, "endpoint_secret.html", context)

    async def send_test_event(self, request: Request, caller: Caller) -> Response:
        endpoint_id = request.path_params["endpoint_id"]
        await _client(caller).webhook_endpoints.send_test_event(endpoint_id)
        return _see(f"/webhooks/{quote(endpoint_id, safe='')}")

    async def recover(self, request: Request, caller: Caller) -> Response:
        endpoint_id = request.path_params["endpoint_id"]
        form = await request.form()
        try:
            start = datetime.fromisoformat(str(form.get("start_time", ""))).replace(tzinfo=UTC)
            end = datetime.fromisoformat(str(form.get("end_time", ""))).replace(tzinfo=UTC)
        except ValueError:
            context = {"title": "That did not work", "text": "Enter both ends of the window as date and time."}
            return self._render.page(request, caller, "message.html", context, status_code=FORM_NEEDS_ATTENTION)
        count = await _client(caller).webhook_endpoints.recover(endpoint_id, start_time=start, end_time=end)
        return _see(f"/webhooks/{quote(endpoint_id, safe='')}?requeued={int(count)}")

    async def redeliver(self, request: Request, caller: Caller) -> Response:
        form = await request.form()
        endpoint_id = str(form.get("endpoint_id", ""))
        await _client(caller).events.redeliver(request.path_params["event_id"], endpoint_id=endpoint_id or None)
        return _see(f"/webhooks/{quote(endpoint_id, safe='')}" if endpoint_id else "/webhooks")

    # Events

    async def events(self, request: Request, caller: Caller) -> Response:
        events: list[Any] = []
        cursor = ""
        # The newest hour's events, then the page keeps itself current from the live stream after the last one.
        since = datetime.now(UTC) - timedelta(hours=1)
        async for event in _client(caller).events.list(start_time=since, page_size=200):
            events.append(event)
            cursor = event.cursor
        events = events[-100:]
        events.reverse()
        context = {"title": "Live events", "events": events, "cursor": cursor}
        return self._render.page(request, caller, "events.html", context)

    # API keys

    async def api_keys(self, request: Request, caller: Caller) -> Response:
        return await self._api_keys_page(request, caller)

    async def _api_keys_page(
        self, request: Request, caller: Caller, extra: dict[str, Any] | None = None, status_code: int = 200
    ) -> Response:
        keys: list[Any] = []
        if caller.can(permissions.API_KEYS_WRITE):
            page = await _first_page(_client(caller).api_keys.list(page_size=100))
            keys = list(page.api_keys) if page else []
        context = {
            "title": "API keys",
            "keys": keys,
            "all_permissions": permissions.ALL_PERMISSIONS,
            **(extra or {}),
        }
        return self._render.page(request, caller, "api_keys.html", context, status_code=status_code)

    async def create_api_key(self, request: Request, caller: Caller) -> Response:
        form = await request.form()
        name = str(form.get("name", "")).strip()
        chosen = [str(value) for value in form.getlist("permissions")]
        try:
            created = await _client(caller).api_keys.create(name, permissions=chosen)
        except vauchflow.InvalidRequestError as error:
            message = "; ".join(v.description for v in error.field_violations) or error.message
            return await self._api_keys_page(request, caller, {"error": message, "name": name}, FORM_NEEDS_ATTENTION)
        except vauchflow.QuotaExceededError as error:
            return await self._api_keys_page(
                request, caller, {"error": error.message, "name": name}, FORM_NEEDS_ATTENTION
            )
        return await self._api_keys_page(request, caller, {"created": created.api_key, "secret": created.secret})

    async def revoke_api_key(self, request: Request, caller: Caller) -> Response:
        await _client(caller).api_keys.revoke(request.path_params["key_id"])
        return _see("/api-keys")


# The overview reads at most this many endpoints' deliveries (GetUsageSummary is meant to replace the walk).
OVERVIEW_ENDPOINTS = 20


def _problem_text(error: vauchflow.InvalidRequestError) -> str:
    """The API's field violations as a sentence for the filter form."""
    if error.field_violations:
        return "; ".join(f"{v.field}: {v.description}" for v in error.field_violations)
    return error.message


def _day(value: str, name: str) -> datetime | None:
    """A date field (YYYY-MM-DD) as the start of that day in UTC."""
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"{name}: not a date (YYYY-MM-DD)") from None


def _voucher_status(voucher: Any) -> str:
    """What a merchant calls it: disabled, exhausted (every redemption used), expired, or active."""
    if voucher.status == vauchflow.v1.voucher_pb2.VOUCHER_STATUS_DISABLED:
        return "disabled"
    if voucher.HasField("max_redemptions") and voucher.redemption_count >= voucher.max_redemptions:
        return "exhausted"
    if voucher.HasField("valid_until") and voucher.valid_until.ToDatetime(tzinfo=UTC) < datetime.now(UTC):
        return "expired"
    return "active"


def _voucher_values(voucher: Any) -> dict[str, str]:
    discount_kind = voucher.discount.WhichOneof("value") or "percent_off"
    valid_until = ""
    if voucher.HasField("valid_until"):
        valid_until = voucher.valid_until.ToDatetime().strftime("%Y-%m-%dT%H:%M")
    return {
        "code": voucher.code,
        "discount_kind": discount_kind,
        "discount_value": str(getattr(voucher.discount, discount_kind)),
        "currency": voucher.currency,
        "max_redemptions": str(voucher.max_redemptions) if voucher.HasField("max_redemptions") else "",
        "per_customer_limit": str(voucher.per_customer_limit) if voucher.HasField("per_customer_limit") else "",
        "min_order_amount": str(voucher.min_order_amount) if voucher.HasField("min_order_amount") else "",
        "valid_until": valid_until,
        "metadata": metadata_text(voucher.metadata),
    }
