"""The operator's incident pages in a real Chromium, through Envoy, against the real API: open an incident, post
updates through the workflow the API enforces (only the allowed next states are offered), resolve it with a
catch-up window; the overdue flag; CSRF; and the pages — with the public status page (/status) — are free of
console errors and serious axe findings and fit a 375 px phone."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import secrets
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import asyncpg
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from .conftest import DashboardStack, screenshot, sign_in
from .test_dashboard_quality import PHONE, _scrolls_sideways, _serious


def _as_owner(dsn: str, sql: str, *args: Any) -> None:
    """One statement as the database owner, on a thread of its own (Playwright's sync API holds this one's loop)."""

    async def run() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(sql, *args)
        finally:
            await conn.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


def _open_incident(page: Page, base_url: str, title: str) -> str:
    page.goto(f"{base_url}/operator/incidents")
    page.fill("#title", title)
    page.get_by_label("Webhook delivery").check()
    page.get_by_label("SCALE").check()
    page.fill("#message", "Deliveries are delayed; we are looking into it.")
    page.click("text=Open incident")
    page.wait_for_url(re.compile(r"/operator/incidents/[0-9a-f-]{36}$"))
    return page.url.rsplit("/", 1)[1]


def _options(page: Page) -> list[str]:
    return [o.get_attribute("value") or "" for o in page.locator("#state option").all()]


def test_the_operator_runs_an_incident_from_open_to_resolved(dashboard_stack: DashboardStack, page: Page) -> None:
    base = dashboard_stack.url
    sign_in(page, base, dashboard_stack.admin_token)
    page.get_by_role("link", name="Incidents").click()
    expect(page.get_by_role("heading", name="Incidents")).to_be_visible()
    title = "Webhooks delayed " + secrets.token_hex(3)
    incident_id = _open_incident(page, base, title)
    expect(page.locator("#incident-state")).to_have_text("Investigating")
    assert "Deliveries are delayed" in page.locator("#history").inner_text()
    assert _options(page) == ["INVESTIGATING", "IDENTIFIED", "MONITORING", "RESOLVED"]

    page.select_option("#state", "IDENTIFIED")
    page.fill("#message", "The relay lost its database connection.")
    page.fill("#affected_endpoints", "webhook deliveries, GET /v1/events:stream")
    page.fill("#workaround", "Use GET /v1/events to catch up.")
    page.fill("#expected_resolution_time", "2031-01-02T03:04")
    page.click("text=Post update")
    expect(page.locator("#incident-state")).to_have_text("Identified")
    # Back to Investigating is not a step the API allows, so the page does not offer it.
    assert _options(page) == ["IDENTIFIED", "MONITORING", "RESOLVED"]
    history = page.locator("#history").inner_text()
    assert "Use GET /v1/events to catch up." in history and "2031-01-02 03:04:00 UTC" in history

    page.select_option("#state", "RESOLVED")
    page.fill("#message", "Relay restarted; queued deliveries are going out.")
    page.fill("#catch_up_window", "30 minutes")
    page.click("text=Post update")
    expect(page.locator("#incident-state")).to_have_text("Resolved")
    expect(page.locator("#state")).to_have_count(0)  # Resolved is final: no more updates
    assert "Catch-up window: 30 minutes" in page.locator("#history").inner_text()
    screenshot(page, "operator-incident-resolved")

    with dashboard_stack.operator() as operator:
        stored = operator.incidents.get(incident_id)
    assert stored.updates[0].message == "Relay restarted; queued deliveries are going out."
    assert stored.updates[0].catch_up_window == "30 minutes" and len(stored.updates) == 3
    page.goto(f"{base}/operator/incidents")
    expect(page.locator(f"#incident-{incident_id}")).to_contain_text("Resolved")


def test_an_incident_without_an_update_for_30_minutes_is_flagged_overdue(
    dashboard_stack: DashboardStack, page: Page
) -> None:
    base = dashboard_stack.url
    sign_in(page, base, dashboard_stack.admin_token)
    incident_id = _open_incident(page, base, "Quiet incident " + secrets.token_hex(3))
    expect(page.locator("#overdue")).to_have_count(0)
    # Seeded history: its only update 31 minutes old (the cadence is 30 minutes).
    _as_owner(
        dashboard_stack.owner_dsn,
        "UPDATE status_incident_updates SET create_time = $2 WHERE incident_id = $1::uuid",
        incident_id,
        dt.datetime.now(dt.UTC) - dt.timedelta(minutes=31),
    )
    page.goto(f"{base}/operator/incidents")
    expect(page.locator(f"#incident-{incident_id}")).to_contain_text("update overdue")
    page.goto(f"{base}/operator/incidents/{incident_id}")
    expect(page.locator("#overdue")).to_be_visible()
    page.select_option("#state", "INVESTIGATING")
    page.fill("#message", "Still investigating.")
    page.click("text=Post update")
    expect(page.locator("#overdue")).to_have_count(0)  # the cadence update clears it


def test_incident_forms_without_the_csrf_token_are_refused(dashboard_stack: DashboardStack, page: Page) -> None:
    base = dashboard_stack.url
    sign_in(page, base, dashboard_stack.admin_token)
    title = "Forged " + secrets.token_hex(3)
    forged = page.request.post(f"{base}/operator/incidents", form={"title": title, "components": "API"},
                               max_redirects=0)  # fmt: skip
    assert forged.status == 403
    with dashboard_stack.operator() as operator:
        assert title not in [i.title for i in operator.incidents.list(page_size=100)]


def test_incident_pages_and_the_status_page_are_clean_accessible_and_fit_a_phone(
    dashboard_stack: DashboardStack, page: Page, browser: Browser
) -> None:
    base = dashboard_stack.url
    sign_in(page, base, dashboard_stack.admin_token)
    incident_id = _open_incident(page, base, "A rather long incident title that must wrap on a phone " * 2)
    axe = Axe()
    axe_context = browser.new_context(bypass_csp=True, viewport=PHONE)
    problems: dict[str, list[str]] = {}
    try:
        axe_page = axe_context.new_page()
        sign_in(axe_page, base, dashboard_stack.admin_token)
        page.set_viewport_size(PHONE)
        for path in ("/operator/incidents", f"/operator/incidents/{incident_id}", "/status"):
            page.goto(base + path)
            wide = _scrolls_sideways(page)
            if wide:
                problems.setdefault(path, []).append(f"scrolls sideways at 375 px: {wide}")
            axe_page.goto(base + path)
            serious = _serious(axe.run(axe_page).response)
            if serious:
                problems.setdefault(path, []).extend(serious)
        # The status page shows the open incident and its subscribe form (its CSP forbids any script).
        page.goto(base + "/status")
        expect(page.locator("#open-incidents")).to_contain_text("A rather long incident title")
        expect(page.get_by_label("Email address")).to_be_visible()
        screenshot(page, "status-page-phone")
        page.set_viewport_size({"width": 1280, "height": 900})
        screenshot(page, "status-page-desktop")
    finally:
        axe_context.close()
    assert not problems, problems
