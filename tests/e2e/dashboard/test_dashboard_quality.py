"""Every main page of the dashboard: no console errors (CSP enforced), no serious or critical axe-core violations
(in a context that bypasses the CSP for axe's injected script), and no horizontal scrolling 375 px wide."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page

import vauchflow

from .conftest import DashboardStack, screenshot, sign_in

PHONE = {"width": 375, "height": 812}


@pytest.fixture(scope="module")
def tenant_paths(dashboard_stack: DashboardStack) -> Iterator[tuple[str, list[str]]]:
    """A tenant with a voucher, a redemption and an endpoint, and the path of every main page that shows them."""
    secret = dashboard_stack.new_tenant("Quality Checked & <Co>")
    with dashboard_stack.tenant_client(secret) as client:
        client.vouchers.create("QUALITY-CHECKED-WITH-A-LONG-CODE", percent_off=20, max_redemptions=10,
                               metadata={"campaign": "a-very-long-metadata-value-" * 4})  # fmt: skip
        redeemed = client.redemptions.redeem("QUALITY-CHECKED-WITH-A-LONG-CODE", customer_id="customer-1",
                                             amount=4200, currency="EUR", order_id="order-42")  # fmt: skip
        endpoint = client.webhook_endpoints.create(dashboard_stack.receiver.url("/a/rather/long/path"))
        with pytest.raises(vauchflow.VauchflowError):  # a refusal, so the overview lists refusals by reason
            client.redemptions.redeem("NO-SUCH-VOUCHER-AT-ALL", amount=4200, currency="EUR")
    paths = [
        "/",
        "/vouchers",
        "/vouchers?q=quality-checked&status=active",
        "/vouchers/new",
        "/vouchers/QUALITY-CHECKED-WITH-A-LONG-CODE",
        "/vouchers/QUALITY-CHECKED-WITH-A-LONG-CODE/edit",
        "/redemptions",
        "/redemptions?voucher_code=QUALITY-CHECKED-WITH-A-LONG-CODE&customer_id=customer-1&status=succeeded"
        "&from=2026-01-01&to=2099-12-31",
        f"/redemptions/{redeemed.redemption.id}/rollback",
        "/webhooks",
        f"/webhooks/{endpoint.webhook_endpoint.id}",
        "/events",
        "/api-keys",
    ]
    yield secret, paths


def _serious(results: dict[str, object]) -> list[str]:
    violations = results["violations"]
    assert isinstance(violations, list)
    return [
        f"{violation['id']}: {violation['help']} ({len(violation['nodes'])} nodes)"
        for violation in violations
        if violation["impact"] in ("serious", "critical")
    ]


_WIDER_THAN_THE_SCREEN = """() => {
  const root = document.documentElement;
  if (root.scrollWidth <= root.clientWidth) return [];
  return [...document.querySelectorAll("body *")]
    .filter(e => e.getBoundingClientRect().right > root.clientWidth && !e.closest(".table-wrap table"))
    .map(e => `${e.tagName.toLowerCase()}.${e.className} right=${Math.round(e.getBoundingClientRect().right)}`)
    .concat([`scrollWidth=${root.scrollWidth} clientWidth=${root.clientWidth}`]);
}"""


def _scrolls_sideways(page: Page) -> list[str]:
    """What sticks out past the right edge (tables scroll inside their own box, which is allowed)."""
    return list(page.evaluate(_WIDER_THAN_THE_SCREEN))


def test_tenant_pages_are_clean_accessible_and_fit_a_phone(
    dashboard_stack: DashboardStack, tenant_paths: tuple[str, list[str]], page: Page, browser: Browser
) -> None:
    secret, paths = tenant_paths
    sign_in(page, dashboard_stack.url, secret)
    axe = Axe()
    axe_context = browser.new_context(bypass_csp=True)
    try:
        axe_page = axe_context.new_page()
        sign_in(axe_page, dashboard_stack.url, secret)
        problems: dict[str, list[str]] = {}
        for path in paths:
            page.set_viewport_size(PHONE)
            response = page.goto(dashboard_stack.url + path)
            assert response is not None and response.status == 200, path
            wide = _scrolls_sideways(page)
            if wide:
                problems.setdefault(path, []).append(f"scrolls sideways at 375 px: {wide}")
            axe_page.goto(dashboard_stack.url + path)
            serious = _serious(axe.run(axe_page).response)
            if serious:
                problems.setdefault(path, []).extend(serious)
        page.goto(dashboard_stack.url + "/vouchers")
        screenshot(page, "vouchers-phone")
        page.goto(dashboard_stack.url + "/events")
        screenshot(page, "events-phone")
    finally:
        axe_context.close()
    assert not problems, problems
    # Console errors (CSP refusals included) fail the test in the page fixture's teardown.


def test_sign_in_and_operator_pages_are_clean_accessible_and_fit_a_phone(
    dashboard_stack: DashboardStack, page: Page, browser: Browser
) -> None:
    axe = Axe()
    axe_context = browser.new_context(bypass_csp=True, viewport=PHONE)
    try:
        axe_page = axe_context.new_page()
        problems: dict[str, list[str]] = {}
        page.set_viewport_size(PHONE)
        for who in ("nobody", "operator"):
            if who == "operator":
                sign_in(page, dashboard_stack.url, dashboard_stack.admin_token)
                sign_in(axe_page, dashboard_stack.url, dashboard_stack.admin_token)
                path = "/operator/tenants"
            else:
                path = "/sign-in"
            page.goto(dashboard_stack.url + path)
            wide = _scrolls_sideways(page)
            if wide:
                problems.setdefault(path, []).append(f"scrolls sideways at 375 px: {wide}")
            axe_page.goto(dashboard_stack.url + path)
            serious = _serious(axe.run(axe_page).response)
            if serious:
                problems.setdefault(path, []).extend(serious)
            if who == "nobody":
                screenshot(page, "sign-in-phone")
    finally:
        axe_context.close()
    assert not problems, problems
