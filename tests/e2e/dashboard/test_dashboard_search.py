"""Searching in the dashboard and its overview, in Chromium through Envoy: the vouchers list searches by code
prefix and filters by status in the API, its next page keeps the filters; the redemptions list filters by
customer and status; the overview shows the last 24 hours from GetUsageSummary, a refusal counted by reason."""

from __future__ import annotations

import secrets

from playwright.sync_api import Page, expect

import vauchflow

from .conftest import DashboardStack, screenshot, sign_in


def test_voucher_search_and_status_filter_page_through_the_api(dashboard_stack: DashboardStack, page: Page) -> None:
    secret = dashboard_stack.new_tenant("Search & Find")
    stem = "FIND" + secrets.token_hex(3).upper()
    with dashboard_stack.tenant_client(secret) as client:
        # More than a page (100 rows) under one prefix, so the second page must keep the search to be right.
        for i in range(103):
            client.vouchers.create(f"{stem}-{i:03d}", percent_off=10)
        client.vouchers.create("OTHER" + secrets.token_hex(3).upper(), percent_off=10)
        client.vouchers.disable(f"{stem}-007")
    sign_in(page, dashboard_stack.url, secret)

    page.goto(f"{dashboard_stack.url}/vouchers")
    page.fill("#q", stem.lower())  # codes are case-insensitive
    page.click("form[role=search] button[type=submit]")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(100)
    expect(page.get_by_role("link", name=f"{stem}-000")).to_be_visible()
    page.get_by_role("link", name="Next page").click()
    # The rest of the search, and nothing that does not match it.
    expect(rows).to_have_count(3)
    assert [rows.nth(i).locator("a").inner_text() for i in range(3)] == [f"{stem}-{i}" for i in (100, 101, 102)]
    assert "q=" + stem.lower() in page.url

    page.select_option("#status", "disabled")
    page.click("form[role=search] button[type=submit]")
    expect(rows).to_have_count(1)
    expect(page.get_by_role("link", name=f"{stem}-007")).to_be_visible()
    expect(page.locator("#status")).to_have_value("disabled")
    expect(page.locator("#q")).to_have_value(stem.lower())
    screenshot(page, "vouchers-search")

    page.goto(f"{dashboard_stack.url}/vouchers?q=no+spaces+in+codes")
    expect(page.locator("#filter-problem")).to_contain_text("code_prefix")


def test_redemption_filters_and_the_overview_from_the_usage_summary(
    dashboard_stack: DashboardStack, page: Page
) -> None:
    secret = dashboard_stack.new_tenant("Overview Outfitters")
    code = "OVER" + secrets.token_hex(3).upper()
    with dashboard_stack.tenant_client(secret) as client:
        client.vouchers.create(code, percent_off=10, max_redemptions=2)
        first = client.redemptions.redeem(code, customer_id="ann", amount=5000, currency="EUR").redemption
        client.redemptions.redeem(code, customer_id="bo", amount=5000, currency="EUR")
        for _ in range(2):
            try:
                client.redemptions.redeem(code, customer_id="cy", amount=5000, currency="EUR")
            except vauchflow.VoucherExhausted:
                pass
            else:
                raise AssertionError("the third redeem of a voucher for two must be refused")
        client.redemptions.rollback(first.id)
    sign_in(page, dashboard_stack.url, secret)

    page.goto(f"{dashboard_stack.url}/redemptions")
    page.fill("#customer_id", "ann")
    page.click("form[role=search] button[type=submit]")
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody .status")).to_have_text("rolled back")
    page.fill("#customer_id", "")
    page.select_option("#status", "succeeded")
    page.click("form[role=search] button[type=submit]")
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody")).to_contain_text("bo")
    screenshot(page, "redemptions-filtered")

    page.goto(f"{dashboard_stack.url}/")
    expect(page.locator("#redeemed-24h")).to_have_text("2")
    expect(page.locator("#rolled-back-24h")).to_have_text("1")
    expect(page.locator("#refusals")).to_contain_text("VOUCHER_EXHAUSTED")
    expect(page.locator("#refusals tbody tr")).to_have_count(1)
    expect(page.locator("#refusals tbody td").nth(1)).to_have_text("2")
    expect(page.locator("#rate-limit")).not_to_be_empty()  # the plan's rate, or "unlimited"
    expect(page.locator("svg.chart rect.bar")).to_have_count(24)
    screenshot(page, "overview")
