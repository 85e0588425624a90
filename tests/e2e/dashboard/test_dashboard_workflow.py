"""The merchant dashboard in a real browser against the real stack: sign in, the voucher and redemption workflow,
webhooks, API keys and the operator's tenants, with what a session must refuse."""

from __future__ import annotations

import importlib.util
import re
import secrets
import sys
import urllib.error
import urllib.request
from pathlib import Path
from types import ModuleType

from playwright.sync_api import BrowserContext, Page, expect

import vauchflow
from support.polling import wait_for

from .conftest import DashboardStack, screenshot, sign_in


def test_root_without_a_session_is_the_sign_in_page(dashboard_stack: DashboardStack) -> None:
    # The status page's probe: GET / → 200, with no cookie.
    with urllib.request.urlopen(f"{dashboard_stack.url}/", timeout=10) as response:
        body = response.read().decode()
        assert response.status == 200
        policy = response.headers["content-security-policy"]
    assert 'name="secret"' in body and "Sign in" in body
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy


def test_voucher_workflow_from_sign_in_to_rollback_and_sign_out(
    dashboard_stack: DashboardStack, page: Page, context: BrowserContext
) -> None:
    secret = dashboard_stack.new_tenant("Browser Shoes")
    sign_in(page, dashboard_stack.url, secret)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    # The browser holds only an opaque, HttpOnly, SameSite=Strict cookie: never the key.
    cookies = context.cookies()
    session = next(cookie for cookie in cookies if cookie["name"] == "vf_session")
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert all(secret not in cookie["value"] for cookie in cookies)
    assert secret not in page.content()
    assert secret not in str(page.evaluate("JSON.stringify(localStorage) + JSON.stringify(sessionStorage)"))

    # The form shows the API's own field violations beside the field.
    code = "SPRING" + secrets.token_hex(3).upper()
    page.get_by_role("link", name="Vouchers").click()
    page.get_by_role("link", name="New voucher").click()
    page.fill("#code", code)
    page.fill("#discount_value", "150")
    page.fill("#max_redemptions", "5")
    page.click("text=Create voucher")
    expect(page.locator("#discount_value-error")).to_be_visible()
    page.fill("#discount_value", "15")
    page.click("text=Create voucher")
    expect(page.get_by_role("heading", name=f"Voucher {code}")).to_be_visible()
    expect(page.locator("#usage")).to_have_text("0 / 5")

    # Found in the list by its prefix.
    page.goto(f"{dashboard_stack.url}/vouchers?q={code[:8]}")
    expect(page.get_by_role("link", name=code)).to_be_visible()
    screenshot(page, "vouchers")

    # A checkout redeems it through the API; the voucher's page shows the count change.
    with dashboard_stack.tenant_client(secret) as checkout:
        checkout.redemptions.redeem(code, customer_id="cus_1", amount=5000, currency="EUR", order_id="order-1")
    page.goto(f"{dashboard_stack.url}/vouchers/{code}")
    expect(page.locator("#usage")).to_have_text("1 / 5")
    screenshot(page, "voucher")

    # Rolled back from the UI, after a confirmation.
    page.get_by_role("link", name="Roll back").click()
    expect(page.get_by_role("heading", name="Roll back redemption")).to_be_visible()
    page.click("text=Yes, roll it back")
    expect(page.locator("#usage")).to_have_text("0 / 5")
    expect(page.get_by_text("rolled back", exact=True)).to_be_visible()

    page.goto(f"{dashboard_stack.url}/redemptions")
    expect(page.get_by_role("link", name=code).first).to_be_visible()
    screenshot(page, "redemptions")
    page.goto(f"{dashboard_stack.url}/")
    expect(page.get_by_text("Redemptions per hour, last 24 hours")).to_be_visible()
    screenshot(page, "overview")

    page.click("text=Sign out")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    page.goto(f"{dashboard_stack.url}/vouchers")
    assert page.url.endswith("/sign-in")


def test_webhook_endpoint_test_event_shows_its_delivery_and_attempt(
    dashboard_stack: DashboardStack, page: Page
) -> None:
    secret = dashboard_stack.new_tenant("Hooked Browser")
    sign_in(page, dashboard_stack.url, secret)
    page.goto(f"{dashboard_stack.url}/webhooks")
    page.fill("#url", dashboard_stack.receiver.url())
    page.fill("#description", "local receiver")
    page.click("text=Add endpoint")
    # The signing secret, shown once.
    signing_secret = page.locator("#secret").input_value()
    assert signing_secret.startswith("whsec_")
    page.click("text=Done")
    endpoint_url = page.url
    page.click("text=Send test event")

    def attempt_shown() -> bool:
        page.goto(endpoint_url)
        return page.locator("tr.attempt").count() > 0

    wait_for(attempt_shown, what="the test event's attempt on the endpoint page", timeout=30, interval=0.5)
    expect(page.locator("tr.attempt").first).to_contain_text("200")
    expect(page.get_by_text("webhook.test")).to_be_visible()
    assert signing_secret not in page.content()
    screenshot(page, "webhook-endpoint")
    # The overview counts it among the last 24 hours' deliveries (too fresh to judge against the hour).
    page.goto(f"{dashboard_stack.url}/")
    expect(page.locator("#deliveries-24h")).to_have_text("1")


def test_a_bad_key_gets_a_clear_error(dashboard_stack: DashboardStack, page: Page) -> None:
    sign_in(page, dashboard_stack.url, "vf_sk_this_is_not_a_key")
    expect(page.get_by_role("alert")).to_contain_text("That key was not accepted")
    assert "vf_sk_this_is_not_a_key" not in page.content()
    screenshot(page, "sign-in-refused")


def test_a_form_without_its_csrf_token_is_refused(dashboard_stack: DashboardStack, page: Page) -> None:
    secret = dashboard_stack.new_tenant("Forged Forms")
    sign_in(page, dashboard_stack.url, secret)
    # Same cookies as the signed-in page, no token: what a forged cross-site form would send.
    response = page.request.post(
        f"{dashboard_stack.url}/vouchers", form={"code": "FORGED", "discount_value": "10"}, max_redirects=0
    )
    assert response.status == 403
    wrong = page.request.post(
        f"{dashboard_stack.url}/vouchers",
        form={"code": "FORGED", "discount_value": "10", "csrf_token": "guess"},
        max_redirects=0,
    )
    assert wrong.status == 403
    with dashboard_stack.tenant_client(secret) as client:
        try:
            client.vouchers.get("FORGED")
            raise AssertionError("the forged form created a voucher")
        except vauchflow.NotFoundError:
            pass


def test_script_in_metadata_renders_as_text(dashboard_stack: DashboardStack, page: Page) -> None:
    secret = dashboard_stack.new_tenant("Escaping")
    hostile = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'
    with dashboard_stack.tenant_client(secret) as client:
        client.vouchers.create("HOSTILE", percent_off=5, metadata={"note": hostile})
    sign_in(page, dashboard_stack.url, secret)
    page.goto(f"{dashboard_stack.url}/vouchers/HOSTILE")
    expect(page.locator(".metadata dd")).to_have_text(hostile)
    assert page.evaluate("window.pwned") is None
    assert page.locator(".metadata script, .metadata img").count() == 0


def test_a_revoked_keys_session_ends_at_its_next_request(dashboard_stack: DashboardStack, page: Page) -> None:
    first = dashboard_stack.new_tenant("Revoking")
    with dashboard_stack.tenant_client(first) as client:
        staff = client.api_keys.create("staff", permissions=["vouchers:read"])
        sign_in(page, dashboard_stack.url, staff.secret)
        page.goto(f"{dashboard_stack.url}/vouchers")
        expect(page.get_by_role("heading", name="Vouchers")).to_be_visible()
        client.api_keys.revoke(staff.api_key.id)
    page.goto(f"{dashboard_stack.url}/vouchers")
    assert "/sign-in" in page.url
    expect(page.get_by_role("status")).to_contain_text("Your session ended")


def test_a_read_only_key_sees_no_write_actions_and_is_refused_anyway(
    dashboard_stack: DashboardStack, page: Page
) -> None:
    owner = dashboard_stack.new_tenant("Read Only")
    with dashboard_stack.tenant_client(owner) as client:
        client.vouchers.create("LOOKONLY", percent_off=10, max_redemptions=3)
        client.redemptions.redeem("LOOKONLY", customer_id="c", amount=1000, currency="EUR", order_id="o-1")
        viewer = client.api_keys.create("viewer", permissions=["vouchers:read", "redemptions:read"])
    sign_in(page, dashboard_stack.url, viewer.secret)
    page.goto(f"{dashboard_stack.url}/vouchers")
    expect(page.get_by_role("link", name="LOOKONLY")).to_be_visible()
    assert page.get_by_role("link", name="New voucher").count() == 0
    page.goto(f"{dashboard_stack.url}/vouchers/LOOKONLY")
    expect(page.locator("#usage")).to_have_text("1 / 3")
    for action in ("Edit", "Disable", "Roll back"):
        assert page.get_by_text(action, exact=True).count() == 0, action
    assert page.get_by_role("link", name="Webhooks").count() == 0
    assert page.get_by_role("link", name="API keys").count() == 0
    # The server refuses anyway, with a valid CSRF token.
    token = page.locator("input[name=csrf_token]").first.input_value()
    response = page.request.post(
        f"{dashboard_stack.url}/vouchers/LOOKONLY/disable", form={"csrf_token": token}, max_redirects=0
    )
    assert response.status == 403
    page.goto(f"{dashboard_stack.url}/vouchers/LOOKONLY")
    expect(page.get_by_text("active", exact=True)).to_be_visible()


def test_api_keys_are_created_with_chosen_permissions_shown_once_and_revoked(
    dashboard_stack: DashboardStack, page: Page
) -> None:
    sign_in(page, dashboard_stack.url, dashboard_stack.new_tenant("Key Makers"))
    page.goto(f"{dashboard_stack.url}/api-keys")
    page.fill("#name", "checkout")
    page.check("input[value='redemptions:write']")
    page.click("text=Create key")
    new_secret = page.locator("#new-secret").input_value()
    assert new_secret.startswith("vf_sk_")
    screenshot(page, "api-keys")
    with dashboard_stack.tenant_client(new_secret) as client:
        assert list(client.whoami().api_key.permissions) == ["redemptions:write"]
    page.goto(f"{dashboard_stack.url}/api-keys")
    assert new_secret not in page.content()
    page.get_by_role("button", name="Revoke checkout").click()
    expect(page.get_by_role("row", name=re.compile("checkout"))).to_contain_text("revoked")


def test_the_operator_creates_a_tenant_and_changes_its_plan(dashboard_stack: DashboardStack, page: Page) -> None:
    sign_in(page, dashboard_stack.url, dashboard_stack.admin_token)
    expect(page.get_by_role("heading", name="Tenants")).to_be_visible()
    name = "Operator Made " + secrets.token_hex(3)
    page.fill("#name", name)
    page.select_option("#plan", "STARTER")
    page.click("text=Create tenant")
    assert page.locator("#new-secret").input_value().startswith("vf_sk_")
    row = page.get_by_role("row", name=re.compile(name))
    row.get_by_role("combobox").select_option("GROWTH")
    row.get_by_role("button", name="Change plan").click()
    expect(page.get_by_role("row", name=re.compile(name)).get_by_role("combobox")).to_have_value("GROWTH")
    screenshot(page, "operator-tenants")


def test_pages_refuse_a_browser_without_a_session(dashboard_stack: DashboardStack) -> None:
    request = urllib.request.Request(f"{dashboard_stack.url}/vouchers", method="GET")

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(request, timeout=10)
        raise AssertionError("a page answered without a session")
    except urllib.error.HTTPError as error:
        assert error.code == 303 and error.headers["location"] == "/sign-in"


def test_live_events_arrive_in_place_within_the_free_plans_two_streams(
    dashboard_stack: DashboardStack, page: Page, context: BrowserContext
) -> None:
    with dashboard_stack.operator() as operator:
        secret = operator.tenants.create("Live on FREE", plan="FREE").secret
    sign_in(page, dashboard_stack.url, secret)
    page.goto(f"{dashboard_stack.url}/events")
    expect(page.locator("#live-state")).to_contain_text("Live")
    # Navigating away and back (a merchant's usual day) must not leak streams: FREE holds at most 2 open.
    for _ in range(3):
        page.goto(f"{dashboard_stack.url}/vouchers")
        page.goto(f"{dashboard_stack.url}/events")
        expect(page.locator("#live-state")).to_contain_text("Live")
    with dashboard_stack.tenant_client(secret) as client:
        client.vouchers.create("LIVE-ONE", percent_off=5)
    row = page.locator("#events tbody tr.fresh").filter(has_text="LIVE-ONE")
    expect(row).to_contain_text("voucher.created", timeout=15000)
    screenshot(page, "events")


def _dashboard_bench() -> ModuleType:
    path = Path(__file__).resolve().parents[3] / "bench" / "dashboard_bench.py"
    spec = importlib.util.spec_from_file_location("dashboard_bench", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


def test_a_list_page_holds_100_vouchers_and_links_the_next(dashboard_stack: DashboardStack, page: Page) -> None:
    # What `make bench` times (dashboard_list_100), checked for content here; its speed is never asserted.
    secret = dashboard_stack.new_tenant("Hundred Vouchers")
    with dashboard_stack.tenant_client(secret) as client:
        for number in range(101):
            client.vouchers.create(f"HUNDRED-{number:03d}", percent_off=5)
    figures = _dashboard_bench().measure(dashboard_stack.url, secret, requests=3, warmup=1)
    assert figures.errors == 0
    sign_in(page, dashboard_stack.url, secret)
    page.goto(f"{dashboard_stack.url}/vouchers")
    assert page.locator("tbody tr").count() == 100
    page.get_by_role("link", name="Next page").click()
    expect(page.locator("tbody tr")).to_have_count(1)
